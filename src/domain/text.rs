//! Text the service accepts and the input it echoes back (issue 20).
//!
//! Every string of a request refuses control characters (Unicode Cc: U+0000-U+001F, DEL and the
//! C1 set U+0080-U+009F): a NUL cannot be stored by PostgreSQL, and none of them belongs in a
//! name, a code or an address. Free text (notes, descriptions of a child's needs) may keep tab
//! and line breaks (LF, CR LF) and nothing else. What is echoed in an error is clipped, so an
//! error can never be much larger than the request that caused it.

/// How a string is read: one line (names, codes, URLs, keys) or free text with line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    SingleLine,
    FreeText,
}

/// The fields written as free text, by name: they may hold tab and line breaks. Every other
/// string of a request body is single-line.
pub const FREE_TEXT_FIELDS: &[&str] = &[
    // the service request (referral) and review outcomes: confidential free text
    "condition",
    "named_medical_contact",
    "current_support_plan",
    "statement",
    "attainment",
    "engagement",
    "wellbeing",
    "pupil_voice",
    "targets",
    "actions",
    "next_steps",
    // decisions, exits and withdrawals
    "override_reason",
    "notes",
    "reason",
];

impl TextKind {
    /// The kind of the field named `name` (the last key of its JSON Pointer).
    pub fn of_field(name: &str) -> TextKind {
        if FREE_TEXT_FIELDS.contains(&name) {
            TextKind::FreeText
        } else {
            TextKind::SingleLine
        }
    }
}

/// A control character where none is allowed: which one, and where (in characters from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlCharacter {
    pub character: char,
    pub position: usize,
}

impl ControlCharacter {
    /// A sentence for the caller; the text itself is not echoed.
    pub fn message(&self, kind: TextKind) -> String {
        let allowed = match kind {
            TextKind::SingleLine => "no control characters are allowed in this field",
            TextKind::FreeText => "only tab and line breaks (LF or CR LF) are allowed in free text",
        };
        format!(
            "contains the control character U+{:04X} at character {}; {allowed}",
            self.character as u32,
            self.position + 1
        )
    }
}

/// Whether `text` could hold a control character at all: a quick test that lets the common case
/// (plain printable text) skip the character walk.
pub fn may_hold_control(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b < 0x20 || b == 0x7f || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| *n < 0xa0))
    })
}

/// The first control character `kind` does not allow in `text`.
pub fn first_control(text: &str, kind: TextKind) -> Option<ControlCharacter> {
    if !may_hold_control(text) {
        return None;
    }
    let mut chars = text.chars().enumerate().peekable();
    while let Some((position, character)) = chars.next() {
        if !character.is_control() {
            continue;
        }
        let allowed = kind == TextKind::FreeText
            && match character {
                '\t' | '\n' => true,
                '\r' => chars.peek().is_some_and(|(_, next)| *next == '\n'),
                _ => false,
            };
        if !allowed {
            return Some(ControlCharacter {
                character,
                position,
            });
        }
    }
    None
}

/// Checks one string: Err with a sentence (not echoing it) when it holds a refused character.
pub fn check(text: &str, kind: TextKind) -> Result<(), String> {
    match first_control(text, kind) {
        None => Ok(()),
        Some(found) => Err(found.message(kind)),
    }
}

/// How much of a piece of input is echoed in an error.
pub const ECHO_CHARS: usize = 64;

/// `text` as echoed in an error: at most `max` characters, then an ellipsis and how long it was
/// ("… (60 MiB, truncated)"); unchanged when short.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({}, truncated)", &text[..cut], size(text.len())),
    }
}

/// A byte count for a person: `812 bytes`, `61 KiB`, `60 MiB`.
pub fn size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// A message with every quoted span (`…` or "…", as serde writes field names and values)
/// clipped to [`ECHO_CHARS`], so the words around the echoed input survive.
pub fn clip_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[open];
        out.push_str(&rest[..=open]);
        let inner = &rest[open + 1..];
        // A backslash escapes the next character inside "…" (Debug formatting of a string).
        let mut end = None;
        let mut escaped = false;
        for (i, b) in inner.bytes().enumerate() {
            if escaped {
                escaped = false;
            } else if b == b'\\' && quote == b'"' {
                escaped = true;
            } else if b == quote {
                end = Some(i);
                break;
            }
        }
        match end {
            Some(end) => {
                out.push_str(&clip(&inner[..end], ECHO_CHARS));
                out.push(quote as char);
                rest = &inner[end + 1..];
            }
            None => {
                out.push_str(&clip(inner, ECHO_CHARS));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_text_refuses_every_control_character() {
        for bad in [
            "a\u{0}b", "a\nb", "a\r\nb", "a\tb", "a\u{7f}", "a\u{85}b", "\u{9f}",
        ] {
            assert!(
                first_control(bad, TextKind::SingleLine).is_some(),
                "{bad:?}"
            );
        }
        for good in [
            "Oakfield Primary",
            "Zoë O'Brien-Smith",
            "日本",
            "a\u{a0}b",
            "",
        ] {
            assert_eq!(first_control(good, TextKind::SingleLine), None, "{good:?}");
        }
    }

    #[test]
    fn free_text_keeps_tab_and_line_breaks_only() {
        for good in ["line 1\nline 2", "a\r\nb", "col\tcol", "plain"] {
            assert_eq!(first_control(good, TextKind::FreeText), None, "{good:?}");
        }
        let nul = first_control("ab\u{0}", TextKind::FreeText).unwrap();
        assert_eq!((nul.character, nul.position), ('\u{0}', 2));
        // A lone CR is not a line break.
        assert!(first_control("a\rb", TextKind::FreeText).is_some());
        assert!(first_control("a\r", TextKind::FreeText).is_some());
        assert!(first_control("a\u{85}", TextKind::FreeText).is_some());
    }

    #[test]
    fn the_message_names_the_character_not_the_text() {
        let m = check("Oak\u{0}field", TextKind::SingleLine).unwrap_err();
        assert!(m.contains("U+0000 at character 4"), "{m}");
        assert!(!m.contains("Oak"), "{m}");
    }

    #[test]
    fn echoes_are_clipped_with_their_size() {
        assert_eq!(clip("short", 64), "short");
        let long = "k".repeat(3 * 1024 * 1024);
        let c = clip(&long, 64);
        assert_eq!(c, format!("{}… (3 MiB, truncated)", "k".repeat(64)));
        assert_eq!(clip("ééé", 2), "éé… (6 bytes, truncated)");
    }

    #[test]
    fn quoted_spans_are_clipped_and_the_words_kept() {
        let key = "x".repeat(10_000);
        let m = clip_quoted(&format!(
            "unknown field `{key}`, expected one of `name`, `laestab`"
        ));
        assert!(
            m.starts_with(&format!("unknown field `{}…", "x".repeat(64))),
            "{m}"
        );
        assert!(m.ends_with("expected one of `name`, `laestab`"), "{m}");
        assert!(m.len() < 200, "{m}");
        let m = clip_quoted(&format!(
            "invalid value: string \"{key}\\\"{key}\", expected a date"
        ));
        assert!(m.ends_with("\", expected a date"), "{m}");
        assert!(m.len() < 200, "{m}");
        let m = clip_quoted(&format!("unterminated `{key}"));
        assert!(m.len() < 200, "{m}");
    }
}
