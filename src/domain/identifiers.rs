//! Pupil and school identifiers: UPN, URN, LAESTAB (RULES.md R6).
//!
//! Pure domain logic: no I/O at run time (the LA number list is compiled in). Identifiers are
//! checked exactly as given, with no trimming or case folding, so a stored identifier is always
//! the one the school sent; problems come back with messages saying exactly what is wrong.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Hertfordshire's LA number (RULES.md R6.2); also the default policy `la_code` (R8.4).
pub const HERTFORDSHIRE_LA: u16 = 919;

/// The LA numbers that may appear in UPN characters 2-4 (RULES.md R6.1), compiled in so the
/// service never reads it at run time. Path relative to `src/domain/` of the crate.
const LA_NUMBERS_FILE: &str = include_str!("la-numbers.txt");

static LA_NUMBERS: LazyLock<Vec<u16>> = LazyLock::new(|| parse_la_numbers(LA_NUMBERS_FILE));

/// The list file: whitespace-separated 3-digit numbers; `#` starts a comment.
fn parse_la_numbers(text: &str) -> Vec<u16> {
    let mut numbers: Vec<u16> = text
        .lines()
        .filter_map(|line| line.split('#').next())
        .flat_map(str::split_whitespace)
        .filter_map(three_digit_number)
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

fn three_digit_number(token: &str) -> Option<u16> {
    match token.as_bytes() {
        [a, b, c] if token.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digit(*a) * 100 + digit(*b) * 10 + digit(*c))
        }
        _ => None,
    }
}

/// Value of an ASCII digit byte (callers have checked it is one).
fn digit(b: u8) -> u16 {
    u16::from(b.wrapping_sub(b'0'))
}

/// Whether `n` is an English LA number that may appear in a UPN (RULES.md R6.1).
pub fn is_la_number(n: u16) -> bool {
    LA_NUMBERS.binary_search(&n).is_ok()
}

/// Every LA number of the list, ascending.
pub fn la_numbers() -> &'static [u16] {
    &LA_NUMBERS
}

/// Check letters (RULES.md R6.1): I, O and S are left out as too like 1, 0 and 5.
const CHECK_LETTERS: [char; 23] = [
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N', 'P', 'Q', 'R', 'T', 'U', 'V',
    'W', 'X', 'Y', 'Z',
];

const UPN_LENGTH: usize = 13;

fn check_letter_index(c: char) -> Option<u32> {
    CHECK_LETTERS
        .iter()
        .position(|&letter| letter == c)
        .and_then(|i| u32::try_from(i).ok())
}

/// The check letter for UPN characters 2-13 (RULES.md R6.1): the sum of character n times n,
/// mod 23, indexed into [`CHECK_LETTERS`]. `None` unless characters 2-12 are digits and character
/// 13 a digit or check-alphabet letter.
fn check_letter(rest: &[char; UPN_LENGTH - 1]) -> Option<char> {
    let mut sum: u32 = 0;
    for (weight, &c) in (2u32..).zip(rest.iter()) {
        let value = match c.to_digit(10) {
            Some(value) if c.is_ascii_digit() => value,
            // Only the final character may be a letter: a temporary UPN (R6.1).
            _ if weight == 13 => check_letter_index(c)?,
            _ => return None,
        };
        sum += value * weight;
    }
    CHECK_LETTERS.get(usize::try_from(sum % 23).ok()?).copied()
}

/// The check letter for a UPN whose characters 2-13 are `twelve_chars`, for building valid UPNs
/// (tests, benchmarks, fixtures). `None` if `twelve_chars` is not 11 digits followed by a digit or
/// a check-alphabet letter. Does not check the LA number.
pub fn check_letter_for(twelve_chars: &str) -> Option<char> {
    let mut rest = ['\0'; UPN_LENGTH - 1];
    let mut count = 0;
    for c in twelve_chars.chars() {
        *rest.get_mut(count)? = c;
        count += 1;
    }
    if count != rest.len() {
        return None;
    }
    check_letter(&rest)
}

/// A unique pupil number, valid per RULES.md R6.1. Holds the 13 characters exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upn(String);

impl Upn {
    /// Checks a UPN exactly as given (RULES.md R6.1). No trimming or upper-casing: a UPN is stored
    /// and matched as the school holds it, so a near miss is reported rather than repaired.
    pub fn parse(upn: &str) -> Result<Upn, UpnProblem> {
        Upn::check(upn).map(|()| Upn(upn.to_owned()))
    }

    /// [`Upn::parse`] without keeping the UPN: for a register push, which checks every row of a
    /// night's pushes and already holds each one's text.
    pub fn check(upn: &str) -> Result<(), UpnProblem> {
        // Count characters, not bytes, so multi-byte input gets an honest length and can't
        // split a character.
        let length = upn.chars().count();
        if length != UPN_LENGTH {
            return Err(UpnProblem::Length {
                found: length,
                surrounding_whitespace: upn.trim() != upn,
            });
        }
        let mut chars = ['\0'; UPN_LENGTH];
        for (slot, c) in chars.iter_mut().zip(upn.chars()) {
            *slot = c;
        }
        let [first, rest @ ..] = chars;

        if first.is_ascii_lowercase() {
            return Err(UpnProblem::LowerCase {
                position: 1,
                found: first,
            });
        }
        if !first.is_ascii_uppercase() {
            return Err(UpnProblem::NotACheckLetter { found: first });
        }
        for (position, &c) in (2..UPN_LENGTH).zip(rest.iter()) {
            if !c.is_ascii_digit() {
                return Err(UpnProblem::NotADigit { position, found: c });
            }
        }
        let la = la_number_of(upn.as_bytes());
        if !is_la_number(la) {
            return Err(UpnProblem::LaNumber { found: la });
        }
        let last = chars[UPN_LENGTH - 1];
        if !last.is_ascii_digit() && check_letter_index(last).is_none() {
            if check_letter_index(last.to_ascii_uppercase()).is_some() {
                return Err(UpnProblem::LowerCase {
                    position: UPN_LENGTH,
                    found: last,
                });
            }
            return Err(UpnProblem::FinalCharacter { found: last });
        }
        match check_letter(&rest) {
            Some(expected) if expected == first => Ok(()),
            Some(expected) => Err(UpnProblem::CheckLetter {
                expected,
                found: first,
            }),
            // Unreachable: characters 2-13 were checked above. Reported, not panicked on.
            None => Err(UpnProblem::FinalCharacter { found: last }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// A temporary UPN ends in a letter rather than a digit (RULES.md R6.1).
    pub fn is_temporary(&self) -> bool {
        self.0
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_uppercase())
    }

    /// The LA that issued the UPN (characters 2-4, RULES.md R6.1); not necessarily the pupil's LA
    /// now.
    pub fn la_number(&self) -> u16 {
        la_number_of(self.0.as_bytes())
    }
}

/// Characters 2-4 as a number; callers have checked they are ASCII digits.
fn la_number_of(upn: &[u8]) -> u16 {
    match upn {
        [_, a, b, c, ..] => digit(*a) * 100 + digit(*b) * 10 + digit(*c),
        _ => 0,
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Upn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Upn {
    type Err = UpnProblem;

    fn from_str(upn: &str) -> Result<Self, Self::Err> {
        Upn::parse(upn)
    }
}

impl TryFrom<String> for Upn {
    type Error = UpnProblem;

    fn try_from(upn: String) -> Result<Self, Self::Error> {
        Upn::parse(&upn)
    }
}

impl Serialize for Upn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Upn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let upn = String::deserialize(deserializer)?;
        Upn::parse(&upn).map_err(de::Error::custom)
    }
}

/// Why a UPN was refused (RULES.md R6.1). Positions count characters from 1, as the rule does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpnProblem {
    #[error(
        "UPN should be 13 characters, not {found}{}",
        if *surrounding_whitespace { " (it has spaces around it)" } else { "" }
    )]
    Length {
        found: usize,
        surrounding_whitespace: bool,
    },
    #[error("UPN letters are upper case, but character {position} is '{found}'")]
    LowerCase { position: usize, found: char },
    #[error(
        "UPN character 1 should be a check letter (A-Z), not '{}'",
        shown(found)
    )]
    NotACheckLetter { found: char },
    #[error("UPN character {position} should be a digit, not '{}'", shown(found))]
    NotADigit { position: usize, found: char },
    #[error("UPN characters 2-4 should be an English LA number; {found} is not one")]
    LaNumber { found: u16 },
    #[error(
        "UPN character 13 should be a digit, or for a temporary UPN a letter other than I, O \
         or S, not '{}'",
        shown(found)
    )]
    FinalCharacter { found: char },
    #[error("UPN check letter should be {expected}, not {found}")]
    CheckLetter { expected: char, found: char },
}

/// A character echoed in a message, with control characters escaped so the message stays on
/// one line.
fn shown(c: &char) -> String {
    if c.is_control() {
        c.escape_debug().collect()
    } else {
        c.to_string()
    }
}

/// A school's unique reference number: 6 digits, 100000 to 999999 (RULES.md R6.2).
///
/// Serialised as a number, as GIAS publishes it; read from a number or a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Urn(u32);

impl Urn {
    pub const MIN: u32 = 100_000;
    pub const MAX: u32 = 999_999;

    pub fn new(urn: u32) -> Result<Urn, UrnProblem> {
        if (Self::MIN..=Self::MAX).contains(&urn) {
            Ok(Urn(urn))
        } else {
            Err(UrnProblem::OutOfRange {
                found: i64::from(urn),
            })
        }
    }

    /// Exactly 6 ASCII digits, no sign, spaces or leading zero.
    pub fn parse(urn: &str) -> Result<Urn, UrnProblem> {
        let not_six_digits = || UrnProblem::NotSixDigits {
            found: urn.to_owned(),
        };
        if urn.len() != 6 || !urn.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_six_digits());
        }
        match urn.parse::<u32>() {
            Ok(n) if (Self::MIN..=Self::MAX).contains(&n) => Ok(Urn(n)),
            _ => Err(not_six_digits()),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    fn from_i64(urn: i64) -> Result<Urn, UrnProblem> {
        u32::try_from(urn)
            .ok()
            .and_then(|n| Urn::new(n).ok())
            .ok_or(UrnProblem::OutOfRange { found: urn })
    }
}

impl fmt::Display for Urn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Urn {
    type Err = UrnProblem;

    fn from_str(urn: &str) -> Result<Self, Self::Err> {
        Urn::parse(urn)
    }
}

impl TryFrom<u32> for Urn {
    type Error = UrnProblem;

    fn try_from(urn: u32) -> Result<Self, Self::Error> {
        Urn::new(urn)
    }
}

impl From<Urn> for u32 {
    fn from(urn: Urn) -> u32 {
        urn.0
    }
}

impl Serialize for Urn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Urn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UrnVisitor;

        impl Visitor<'_> for UrnVisitor {
            type Value = Urn;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 6-digit URN, as a number or a string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Urn, E> {
                Urn::from_i64(v).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Urn, E> {
                Urn::from_i64(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Urn, E> {
                Urn::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(UrnVisitor)
    }
}

/// Why a URN was refused (RULES.md R6.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrnProblem {
    #[error(
        "URN should be 6 digits (100000 to 999999), not '{}'",
        shown_str(found)
    )]
    NotSixDigits { found: String },
    #[error("URN should be 6 digits (100000 to 999999), not {found}")]
    OutOfRange { found: i64 },
}

/// A school's LAESTAB: 7 digits, the LA number then the 4-digit establishment number
/// (RULES.md R6.2). Held as the 7-digit string; read from a string or a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Laestab(String);

impl Laestab {
    /// Exactly 7 ASCII digits, as R6.2 says. The LA part is not checked against the UPN list:
    /// R6.2 asks only for 7 digits, and refusing a real school's number would stop its imports.
    pub fn parse(laestab: &str) -> Result<Laestab, LaestabProblem> {
        if laestab.len() == 7 && laestab.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Laestab(laestab.to_owned()))
        } else {
            Err(LaestabProblem::NotSevenDigits {
                found: laestab.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 3 digits (RULES.md R6.2).
    pub fn la_number(&self) -> u16 {
        match self.0.as_bytes() {
            [a, b, c, ..] => digit(*a) * 100 + digit(*b) * 10 + digit(*c),
            _ => 0,
        }
    }

    /// The last 4 digits (RULES.md R6.2).
    pub fn establishment_number(&self) -> u16 {
        self.0.bytes().skip(3).fold(0, |n, b| n * 10 + digit(b))
    }

    fn from_u64(laestab: u64) -> Result<Laestab, LaestabProblem> {
        // A number loses leading zeros, so only 1000000..=9999999 is 7 digits.
        if (1_000_000..=9_999_999).contains(&laestab) {
            Ok(Laestab(laestab.to_string()))
        } else {
            Err(LaestabProblem::NotSevenDigits {
                found: laestab.to_string(),
            })
        }
    }
}

impl fmt::Display for Laestab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Laestab {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Laestab {
    type Err = LaestabProblem;

    fn from_str(laestab: &str) -> Result<Self, Self::Err> {
        Laestab::parse(laestab)
    }
}

impl Serialize for Laestab {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Laestab {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LaestabVisitor;

        impl Visitor<'_> for LaestabVisitor {
            type Value = Laestab;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 7-digit LAESTAB, as a string or a number")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Laestab, E> {
                match u64::try_from(v) {
                    Ok(v) => Laestab::from_u64(v).map_err(E::custom),
                    Err(_) => Err(E::custom(LaestabProblem::NotSevenDigits {
                        found: v.to_string(),
                    })),
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Laestab, E> {
                Laestab::from_u64(v).map_err(E::custom)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Laestab, E> {
                Laestab::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(LaestabVisitor)
    }
}

/// Why a LAESTAB was refused (RULES.md R6.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaestabProblem {
    #[error(
        "LAESTAB should be 7 digits (the 3-digit LA number then the 4-digit establishment \
         number), not '{}'",
        shown_str(found)
    )]
    NotSevenDigits { found: String },
}

/// Input echoed in a message: control characters escaped, long input cut short.
fn shown_str(input: &str) -> String {
    const MAX_CHARS: usize = 20;
    let mut out = String::new();
    for (i, c) in input.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        out.push_str(&shown(&c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(upn: &str) -> UpnProblem {
        Upn::parse(upn).unwrap_err()
    }

    /// A valid UPN with the given characters 2-13.
    fn valid_upn(twelve: &str) -> String {
        format!("{}{twelve}", check_letter_for(twelve).unwrap())
    }

    #[test]
    fn the_la_list_file_is_all_three_digit_numbers() {
        // Strict reading of the embedded file, so a malformed token can't be skipped silently.
        let tokens: Vec<&str> = LA_NUMBERS_FILE
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(str::split_whitespace)
            .collect();
        assert!(
            tokens.iter().all(|t| three_digit_number(t).is_some()),
            "{tokens:?}"
        );
        assert_eq!(la_numbers().len(), tokens.len(), "duplicates in the list");
        assert_eq!(la_numbers().len(), 158);
        assert!(la_numbers().windows(2).all(|w| w[0] < w[1]));
        assert_eq!(la_numbers().first(), Some(&201));
        assert_eq!(la_numbers().last(), Some(&943));
    }

    #[test]
    fn la_numbers_from_the_list() {
        assert!(is_la_number(HERTFORDSHIRE_LA));
        assert_eq!(HERTFORDSHIRE_LA, 919);
        for n in [201, 801, 838, 839, 940, 941, 942, 943] {
            assert!(is_la_number(n), "{n}");
        }
        for n in [0, 1, 200, 214, 804, 900, 944, 999, u16::MAX] {
            assert!(!is_la_number(n), "{n}");
        }
    }

    #[test]
    fn la_list_parsing_skips_comments_and_blank_lines() {
        let text =
            "# heading 999\n\n201 202\n  # indented comment 998\n  203\t204 # trailing 997\n";
        assert_eq!(parse_la_numbers(text), [201, 202, 203, 204]);
    }

    #[test]
    fn rules_valid_examples() {
        for s in ["H801200001001", "G80120000101A", "B801200005001"] {
            let upn = Upn::parse(s).unwrap_or_else(|p| panic!("{s}: {p}"));
            assert_eq!(upn.as_str(), s);
            assert_eq!(upn.to_string(), s);
            assert_eq!(upn.la_number(), 801);
        }
        assert!(!Upn::parse("H801200001001").unwrap().is_temporary());
        assert!(Upn::parse("G80120000101A").unwrap().is_temporary());
    }

    #[test]
    fn rules_invalid_example_check_letter() {
        assert_eq!(check_letter_for("801200001001"), Some('H'));
        let p = problem("Z801200001001");
        assert_eq!(
            p,
            UpnProblem::CheckLetter {
                expected: 'H',
                found: 'Z'
            }
        );
        assert_eq!(p.to_string(), "UPN check letter should be H, not Z");
    }

    #[test]
    fn rules_invalid_example_character_13() {
        let p = problem("G80120000101S");
        assert_eq!(p, UpnProblem::FinalCharacter { found: 'S' });
        assert_eq!(
            p.to_string(),
            "UPN character 13 should be a digit, or for a temporary UPN a letter other than I, \
             O or S, not 'S'"
        );
    }

    #[test]
    fn rules_invalid_example_la_number() {
        let p = problem("R900400001001");
        assert_eq!(p, UpnProblem::LaNumber { found: 900 });
        assert_eq!(
            p.to_string(),
            "UPN characters 2-4 should be an English LA number; 900 is not one"
        );
    }

    #[test]
    fn check_letter_worked_by_hand() {
        // 8*2 + 1*4 + 2*5 + 1*10 + 1*12 + A(0)*13 = 52; 52 mod 23 = 6 -> G.
        assert_eq!(check_letter_for("80120000101A"), Some('G'));
        // 8*2 + 1*4 + 2*5 + 5*10 + 1*13 = 93; 93 mod 23 = 1 -> B.
        assert_eq!(check_letter_for("801200005001"), Some('B'));
        // All zeros: 0 -> A.
        assert_eq!(check_letter_for("000000000000"), Some('A'));
        // Z is index 22 as a final letter: 22*13 = 286; 286 mod 23 = 10 -> L.
        assert_eq!(check_letter_for("00000000000Z"), Some('L'));
    }

    #[test]
    fn temporary_upns_for_every_final_letter() {
        for letter in CHECK_LETTERS {
            let s = valid_upn(&format!("91912345678{letter}"));
            let upn = Upn::parse(&s).unwrap_or_else(|p| panic!("{s}: {p}"));
            assert!(upn.is_temporary());
            assert_eq!(upn.la_number(), 919);
            // Any other check letter is refused with the right one named.
            for wrong in CHECK_LETTERS.into_iter().filter(|&c| !s.starts_with(c)) {
                let bad = format!("{wrong}{}", &s[1..]);
                assert!(
                    matches!(problem(&bad), UpnProblem::CheckLetter { found, .. } if found == wrong)
                );
            }
        }
    }

    #[test]
    fn a_valid_upn_for_every_la_number() {
        for &la in la_numbers() {
            let s = valid_upn(&format!("{la}123456780"));
            assert_eq!(Upn::parse(&s).map(|u| u.la_number()), Ok(la), "{s}");
        }
    }

    #[test]
    fn i_o_and_s_anywhere() {
        for letter in ['I', 'O', 'S'] {
            // As the check letter: never correct, and the message names the right one.
            let p = problem(&format!("{letter}801200001001"));
            assert_eq!(
                p.to_string(),
                format!("UPN check letter should be H, not {letter}")
            );
            // In characters 2-12: digits only.
            for position in 2..=12 {
                let mut chars: Vec<char> = "H801200001001".chars().collect();
                chars[position - 1] = letter;
                let s: String = chars.into_iter().collect();
                assert_eq!(
                    problem(&s),
                    UpnProblem::NotADigit {
                        position,
                        found: letter
                    }
                );
            }
            // As the final letter of a temporary UPN.
            assert_eq!(
                problem(&format!("G80120000101{letter}")),
                UpnProblem::FinalCharacter { found: letter }
            );
        }
    }

    #[test]
    fn non_digit_in_the_middle_is_named_by_position() {
        assert_eq!(
            problem("H80120x001001").to_string(),
            "UPN character 7 should be a digit, not 'x'"
        );
        assert_eq!(
            problem("HA01200001001").to_string(),
            "UPN character 2 should be a digit, not 'A'"
        );
        assert_eq!(
            problem("H8012000010 1").to_string(),
            "UPN character 12 should be a digit, not ' '"
        );
    }

    #[test]
    fn first_character_must_be_a_letter() {
        assert_eq!(
            problem("8801200001001").to_string(),
            "UPN character 1 should be a check letter (A-Z), not '8'"
        );
        assert_eq!(
            problem("\t801200001001").to_string(),
            "UPN character 1 should be a check letter (A-Z), not '\\t'"
        );
    }

    #[test]
    fn wrong_length() {
        assert_eq!(
            problem("H80120000100").to_string(),
            "UPN should be 13 characters, not 12"
        );
        assert_eq!(
            problem("H8012000010011").to_string(),
            "UPN should be 13 characters, not 14"
        );
        assert_eq!(
            problem("").to_string(),
            "UPN should be 13 characters, not 0"
        );
        assert_eq!(
            problem("H801200001001 ").to_string(),
            "UPN should be 13 characters, not 14 (it has spaces around it)"
        );
        assert_eq!(
            problem(&"H".repeat(10_000)),
            UpnProblem::Length {
                found: 10_000,
                surrounding_whitespace: false
            }
        );
    }

    #[test]
    fn unicode_input_does_not_panic() {
        // 13 characters but more than 13 bytes: checked by character, never sliced.
        assert_eq!(
            problem("H80120000100é"),
            UpnProblem::FinalCharacter { found: 'é' }
        );
        assert_eq!(
            problem("É801200001001"),
            UpnProblem::NotACheckLetter { found: 'É' }
        );
        assert_eq!(
            problem("H8012000０1001"),
            UpnProblem::NotADigit {
                position: 9,
                found: '０'
            }
        );
        // 12 characters in 13 bytes: the length is counted in characters.
        let twelve_in_13_bytes = "H8012000010é";
        assert_eq!(twelve_in_13_bytes.len(), 13);
        assert_eq!(
            problem(twelve_in_13_bytes).to_string(),
            "UPN should be 13 characters, not 12"
        );
        for odd in [
            "😀😀😀😀😀😀😀😀😀😀😀😀😀",
            "H801200001001\u{301}",
            "\u{0}801200001001",
            "Ⅰ801200001001",
        ] {
            assert!(Upn::parse(odd).is_err(), "{odd}");
            assert!(!problem(odd).to_string().is_empty());
        }
        // Unicode digits are not digits in a UPN, even where to_digit might accept them.
        assert_eq!(check_letter_for("٨01200001001"), None);
        assert_eq!(check_letter_for("80120000100é"), None);
    }

    #[test]
    fn lower_case_is_refused_not_repaired() {
        assert_eq!(
            problem("h801200001001").to_string(),
            "UPN letters are upper case, but character 1 is 'h'"
        );
        assert_eq!(
            problem("G80120000101a").to_string(),
            "UPN letters are upper case, but character 13 is 'a'"
        );
        // A lower-case letter that would be wrong even in upper case gets the real reason.
        assert_eq!(
            problem("G80120000101s"),
            UpnProblem::FinalCharacter { found: 's' }
        );
    }

    #[test]
    fn check_letter_for_refuses_what_is_not_a_upn_tail() {
        assert_eq!(check_letter_for(""), None);
        assert_eq!(check_letter_for("80120000100"), None);
        assert_eq!(check_letter_for("8012000010011"), None);
        assert_eq!(check_letter_for("8012A0001001"), None);
        assert_eq!(check_letter_for("80120000100S"), None);
        assert_eq!(check_letter_for("80120000100a"), None);
        assert_eq!(check_letter_for("801200001001"), Some('H'));
    }

    #[test]
    fn upn_serde_is_the_string_and_validates() {
        let upn = Upn::parse("G80120000101A").unwrap();
        let json = serde_json::to_string(&upn).unwrap();
        assert_eq!(json, r#""G80120000101A""#);
        assert_eq!(serde_json::from_str::<Upn>(&json).unwrap(), upn);
        let err = serde_json::from_str::<Upn>(r#""Z801200001001""#).unwrap_err();
        assert!(
            err.to_string()
                .contains("UPN check letter should be H, not Z"),
            "{err}"
        );
        assert!(serde_json::from_str::<Upn>("8012000010").is_err());
        assert_eq!(
            "H801200001001".parse::<Upn>(),
            Upn::try_from("H801200001001".to_owned())
        );
    }

    #[test]
    fn urn_is_six_digits() {
        assert_eq!(Urn::new(100_000).map(Urn::get), Ok(100_000));
        assert_eq!(Urn::new(999_999).map(u32::from), Ok(999_999));
        assert_eq!(
            Urn::new(99_999).unwrap_err().to_string(),
            "URN should be 6 digits (100000 to 999999), not 99999"
        );
        assert!(Urn::new(1_000_000).is_err());
        assert!(Urn::try_from(0).is_err());
        assert_eq!(
            Urn::parse("117234").map(|u| u.to_string()),
            Ok("117234".to_owned())
        );
        for bad in [
            "",
            "12345",
            "1234567",
            "012345",
            " 117234",
            "117234 ",
            "+17234",
            "11723x",
            "１１７２３４",
            "11723é",
        ] {
            let p = Urn::parse(bad).unwrap_err();
            assert_eq!(
                p,
                UrnProblem::NotSixDigits {
                    found: bad.to_owned()
                }
            );
        }
        assert_eq!(
            Urn::parse("012345").unwrap_err().to_string(),
            "URN should be 6 digits (100000 to 999999), not '012345'"
        );
    }

    #[test]
    fn urn_serde_is_a_number_and_reads_strings_too() {
        let urn = Urn::new(117_234).unwrap();
        assert_eq!(serde_json::to_string(&urn).unwrap(), "117234");
        assert_eq!(serde_json::from_str::<Urn>("117234").unwrap(), urn);
        assert_eq!(serde_json::from_str::<Urn>(r#""117234""#).unwrap(), urn);
        let err = serde_json::from_str::<Urn>("-117234").unwrap_err();
        assert!(err.to_string().contains("not -117234"), "{err}");
        assert!(serde_json::from_str::<Urn>("18446744073709551615").is_err());
        assert!(serde_json::from_str::<Urn>("117234.0").is_err());
        assert!(serde_json::from_str::<Urn>(r#""12345""#).is_err());
    }

    #[test]
    fn laestab_is_seven_digits() {
        let laestab = Laestab::parse("9192001").unwrap();
        assert_eq!(laestab.la_number(), HERTFORDSHIRE_LA);
        assert_eq!(laestab.establishment_number(), 2001);
        assert_eq!(laestab.as_str(), "9192001");
        assert_eq!(Laestab::parse("8010007").unwrap().establishment_number(), 7);
        for bad in [
            "", "919200", "91920011", "919-2001", " 9192001", "91920O1", "919200١",
        ] {
            assert_eq!(
                Laestab::parse(bad),
                Err(LaestabProblem::NotSevenDigits {
                    found: bad.to_owned()
                })
            );
        }
        assert_eq!(
            Laestab::parse("919/2001").unwrap_err().to_string(),
            "LAESTAB should be 7 digits (the 3-digit LA number then the 4-digit establishment \
             number), not '919/2001'"
        );
    }

    #[test]
    fn laestab_serde_is_a_string_and_reads_numbers_too() {
        let laestab = Laestab::parse("9192001").unwrap();
        assert_eq!(serde_json::to_string(&laestab).unwrap(), r#""9192001""#);
        assert_eq!(
            serde_json::from_str::<Laestab>(r#""9192001""#).unwrap(),
            laestab
        );
        assert_eq!(serde_json::from_str::<Laestab>("9192001").unwrap(), laestab);
        assert!(serde_json::from_str::<Laestab>("919200").is_err());
        assert!(serde_json::from_str::<Laestab>("-9192001").is_err());
        assert!(serde_json::from_str::<Laestab>(r#""919 2001""#).is_err());
    }
}
