//! Attendance register codes, their categories, and which code set applies on a date
//! (RULES.md R1; seed 003 Appendix 3).
//!
//! Pure domain logic: no I/O. Codes are taken exactly as written in the register (R1.1), so nothing
//! here trims, upper-cases or unescapes input; problems come back as values with messages a school
//! administrator can act on.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The School Attendance (Pupil Registration) (England) Regulations 2024 came into force on this
/// date: from it the 2024 code set applies, before it the 2006 set (RULES.md R1.2).
pub const CODES_2024_IN_FORCE: NaiveDate = ymd(2024, 8, 19);

/// A session without a mark in a stored year's register ([`AttendanceCode::register_char`]).
pub const NO_MARK_CHAR: u8 = b'-';

/// Code `F` (agreed extended family holiday) could not be used from this date (RULES.md R1.2).
pub const CODE_F_WITHDRAWN: NaiveDate = ymd(2013, 9, 1);

const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        // Only reachable with a mistyped constant above, and then it fails the build, not a request.
        None => panic!("invalid constant date"),
    }
}

/// What a register code means for attendance statistics (RULES.md R1 table, R2.1).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CodeCategory {
    Present,
    ApprovedEducationalActivity,
    AuthorisedAbsence,
    UnauthorisedAbsence,
    /// Not a possible attendance: the session is left out of the statistics.
    NotPossible,
    /// Administrative codes that are not collected (pupil not on roll, planned closure).
    NotCollected,
}

impl CodeCategory {
    /// Every category, in the order of the RULES.md R1 table.
    pub const ALL: [CodeCategory; 6] = [
        CodeCategory::Present,
        CodeCategory::ApprovedEducationalActivity,
        CodeCategory::AuthorisedAbsence,
        CodeCategory::UnauthorisedAbsence,
        CodeCategory::NotPossible,
        CodeCategory::NotCollected,
    ];

    /// Whether a session in this category is a possible session: the first four rows of the
    /// RULES.md R1 table (R2.1).
    pub const fn counts_as_possible(&self) -> bool {
        matches!(
            self,
            CodeCategory::Present
                | CodeCategory::ApprovedEducationalActivity
                | CodeCategory::AuthorisedAbsence
                | CodeCategory::UnauthorisedAbsence
        )
    }

    /// Attendance = present + approved educational activity (RULES.md R2.1).
    pub const fn counts_as_attendance(&self) -> bool {
        matches!(
            self,
            CodeCategory::Present | CodeCategory::ApprovedEducationalActivity
        )
    }

    /// Absence = authorised + unauthorised (RULES.md R2.1).
    pub const fn counts_as_absence(&self) -> bool {
        matches!(
            self,
            CodeCategory::AuthorisedAbsence | CodeCategory::UnauthorisedAbsence
        )
    }

    /// The category's name as used in the API (`snake_case`).
    pub const fn as_str(&self) -> &'static str {
        match self {
            CodeCategory::Present => "present",
            CodeCategory::ApprovedEducationalActivity => "approved_educational_activity",
            CodeCategory::AuthorisedAbsence => "authorised_absence",
            CodeCategory::UnauthorisedAbsence => "unauthorised_absence",
            CodeCategory::NotPossible => "not_possible",
            CodeCategory::NotCollected => "not_collected",
        }
    }
}

impl fmt::Display for CodeCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A register code from either the 2024 set or the legacy 2006 set (RULES.md R1, R1.2).
///
/// Variants are named by the code itself, as schools and the guidance name them ("code C2"); the
/// three symbol codes get words. Serialised as the code string, e.g. `"/"`, `"\\"`, `"C2"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttendanceCode {
    /// `/` present in the morning session.
    PresentAm,
    /// `\` present in the afternoon session.
    PresentPm,
    L,
    K,
    V,
    P,
    W,
    B,
    C,
    C1,
    C2,
    E,
    I,
    M,
    J1,
    R,
    S,
    T,
    G,
    N,
    O,
    U,
    D,
    X,
    Q,
    Y1,
    Y2,
    Y3,
    Y4,
    Y5,
    Y6,
    Y7,
    Z,
    /// `#` planned whole-school closure.
    PlannedClosure,
    /// Legacy 2006 code: holiday authorised by the school.
    H,
    /// Legacy 2006 code: interview.
    J,
    /// Legacy 2006 code: unable to attend due to exceptional circumstances.
    Y,
    /// Legacy 2006 code: agreed extended family holiday (withdrawn 2013-09-01).
    F,
}

impl AttendanceCode {
    /// Every code of both sets: the 2024 set in RULES.md R1 table order, then `H J Y F`.
    pub const ALL: [AttendanceCode; 38] = [
        AttendanceCode::PresentAm,
        AttendanceCode::PresentPm,
        AttendanceCode::L,
        AttendanceCode::K,
        AttendanceCode::V,
        AttendanceCode::P,
        AttendanceCode::W,
        AttendanceCode::B,
        AttendanceCode::C,
        AttendanceCode::C1,
        AttendanceCode::C2,
        AttendanceCode::E,
        AttendanceCode::I,
        AttendanceCode::M,
        AttendanceCode::J1,
        AttendanceCode::R,
        AttendanceCode::S,
        AttendanceCode::T,
        AttendanceCode::G,
        AttendanceCode::N,
        AttendanceCode::O,
        AttendanceCode::U,
        AttendanceCode::D,
        AttendanceCode::X,
        AttendanceCode::Q,
        AttendanceCode::Y1,
        AttendanceCode::Y2,
        AttendanceCode::Y3,
        AttendanceCode::Y4,
        AttendanceCode::Y5,
        AttendanceCode::Y6,
        AttendanceCode::Y7,
        AttendanceCode::Z,
        AttendanceCode::PlannedClosure,
        AttendanceCode::H,
        AttendanceCode::J,
        AttendanceCode::Y,
        AttendanceCode::F,
    ];

    /// The code exactly as written in the register.
    pub const fn as_str(self) -> &'static str {
        use AttendanceCode::*;
        match self {
            PresentAm => "/",
            PresentPm => "\\",
            L => "L",
            K => "K",
            V => "V",
            P => "P",
            W => "W",
            B => "B",
            C => "C",
            C1 => "C1",
            C2 => "C2",
            E => "E",
            I => "I",
            M => "M",
            J1 => "J1",
            R => "R",
            S => "S",
            T => "T",
            G => "G",
            N => "N",
            O => "O",
            U => "U",
            D => "D",
            X => "X",
            Q => "Q",
            Y1 => "Y1",
            Y2 => "Y2",
            Y3 => "Y3",
            Y4 => "Y4",
            Y5 => "Y5",
            Y6 => "Y6",
            Y7 => "Y7",
            Z => "Z",
            PlannedClosure => "#",
            H => "H",
            J => "J",
            Y => "Y",
            F => "F",
        }
    }

    /// The one character that stands for the code in a stored year's register (the `sessions`
    /// column of `registers`, one character per session): the code itself when it is one
    /// character, else a character no code uses (`C1` `c`, `C2` `d`, `J1` `j`, `Y1`..`Y7`
    /// `1`..`7`). [`NO_MARK_CHAR`] is a session without a mark.
    pub const fn register_char(self) -> u8 {
        use AttendanceCode::*;
        match self {
            PresentAm => b'/',
            PresentPm => b'\\',
            L => b'L',
            K => b'K',
            V => b'V',
            P => b'P',
            W => b'W',
            B => b'B',
            C => b'C',
            C1 => b'c',
            C2 => b'd',
            E => b'E',
            I => b'I',
            M => b'M',
            J1 => b'j',
            R => b'R',
            S => b'S',
            T => b'T',
            G => b'G',
            N => b'N',
            O => b'O',
            U => b'U',
            D => b'D',
            X => b'X',
            Q => b'Q',
            Y1 => b'1',
            Y2 => b'2',
            Y3 => b'3',
            Y4 => b'4',
            Y5 => b'5',
            Y6 => b'6',
            Y7 => b'7',
            Z => b'Z',
            PlannedClosure => b'#',
            H => b'H',
            J => b'J',
            Y => b'Y',
            F => b'F',
        }
    }

    /// The code a [`register_char`](Self::register_char) stands for; `None` for
    /// [`NO_MARK_CHAR`] or a character no code uses.
    pub const fn from_register_char(c: u8) -> Option<AttendanceCode> {
        use AttendanceCode::*;
        Some(match c {
            b'/' => PresentAm,
            b'\\' => PresentPm,
            b'L' => L,
            b'K' => K,
            b'V' => V,
            b'P' => P,
            b'W' => W,
            b'B' => B,
            b'C' => C,
            b'c' => C1,
            b'd' => C2,
            b'E' => E,
            b'I' => I,
            b'M' => M,
            b'j' => J1,
            b'R' => R,
            b'S' => S,
            b'T' => T,
            b'G' => G,
            b'N' => N,
            b'O' => O,
            b'U' => U,
            b'D' => D,
            b'X' => X,
            b'Q' => Q,
            b'1' => Y1,
            b'2' => Y2,
            b'3' => Y3,
            b'4' => Y4,
            b'5' => Y5,
            b'6' => Y6,
            b'7' => Y7,
            b'Z' => Z,
            b'#' => PlannedClosure,
            b'H' => H,
            b'J' => J,
            b'Y' => Y,
            b'F' => F,
            _ => return None,
        })
    }

    /// The code's category (RULES.md R1 table; legacy codes per R1.2).
    pub const fn category(self) -> CodeCategory {
        use AttendanceCode::*;
        match self {
            PresentAm | PresentPm | L => CodeCategory::Present,
            K | V | P | W | B | J => CodeCategory::ApprovedEducationalActivity,
            C | C1 | C2 | E | I | M | J1 | R | S | T | H | F => CodeCategory::AuthorisedAbsence,
            G | N | O | U => CodeCategory::UnauthorisedAbsence,
            D | X | Q | Y1 | Y2 | Y3 | Y4 | Y5 | Y6 | Y7 | Y => CodeCategory::NotPossible,
            Z | PlannedClosure => CodeCategory::NotCollected,
        }
    }

    /// The DfE meaning of the code, short (seed 003 Appendix 3, DfE guidance for the legacy codes).
    pub const fn description(self) -> &'static str {
        use AttendanceCode::*;
        match self {
            PresentAm => "present (AM)",
            PresentPm => "present (PM)",
            L => "late before the register closed",
            K => "education arranged by the local authority",
            V => "educational visit or trip",
            P => "approved sporting activity",
            W => "work experience",
            B => "other approved educational activity off site",
            C => "leave of absence for exceptional circumstances",
            C1 => "regulated performance or regulated employment abroad",
            C2 => "part-time timetable",
            E => "suspended or excluded, no alternative provision",
            I => "illness",
            M => "medical or dental appointment",
            J1 => "interview",
            R => "religious observance",
            S => "study leave",
            T => "parent travelling for occupational purposes",
            G => "holiday not agreed by the school",
            N => "no reason yet provided for absence",
            O => "unauthorised absence",
            U => "late after the register closed",
            D => "dual registration, attending another school",
            X => "not of compulsory school age",
            Q => "unable to attend for lack of access arrangements",
            Y1 => "normal school transport not available",
            Y2 => "widespread disruption to travel",
            Y3 => "part of the school closed",
            Y4 => "whole school unexpectedly closed",
            Y5 => "criminal justice detention",
            Y6 => "unable to attend under public health guidance or law",
            Y7 => "unable to attend for any other unavoidable cause",
            Z => "pupil not yet on roll",
            PlannedClosure => "planned whole-school closure",
            H => "holiday authorised by the school",
            J => "interview",
            Y => "unable to attend due to exceptional circumstances",
            F => "agreed extended family holiday",
        }
    }

    /// Parses a code exactly as written: case-sensitive, `\` literal, no trimming (RULES.md R1.1).
    /// Says nothing about dates; use [`check_code_for_date`] for a register mark.
    pub fn parse(code: &str) -> Result<AttendanceCode, CodeProblem> {
        Self::from_register(code).ok_or_else(|| CodeProblem::Unknown {
            code: code.to_owned(),
        })
    }

    fn from_register(code: &str) -> Option<AttendanceCode> {
        use AttendanceCode::*;
        Some(match code {
            "/" => PresentAm,
            "\\" => PresentPm,
            "L" => L,
            "K" => K,
            "V" => V,
            "P" => P,
            "W" => W,
            "B" => B,
            "C" => C,
            "C1" => C1,
            "C2" => C2,
            "E" => E,
            "I" => I,
            "M" => M,
            "J1" => J1,
            "R" => R,
            "S" => S,
            "T" => T,
            "G" => G,
            "N" => N,
            "O" => O,
            "U" => U,
            "D" => D,
            "X" => X,
            "Q" => Q,
            "Y1" => Y1,
            "Y2" => Y2,
            "Y3" => Y3,
            "Y4" => Y4,
            "Y5" => Y5,
            "Y6" => Y6,
            "Y7" => Y7,
            "Z" => Z,
            "#" => PlannedClosure,
            "H" => H,
            "J" => J,
            "Y" => Y,
            "F" => F,
            _ => return None,
        })
    }

    /// Whether the code belongs only to the 2006 set (`H J Y F`, RULES.md R1.2).
    pub const fn is_legacy(self) -> bool {
        use AttendanceCode::*;
        matches!(self, H | J | Y | F)
    }

    /// Whether the code belongs only to the 2024 set (RULES.md R1.2).
    pub const fn is_new_in_2024(self) -> bool {
        use AttendanceCode::*;
        matches!(
            self,
            K | Q | C1 | C2 | J1 | Y1 | Y2 | Y3 | Y4 | Y5 | Y6 | Y7
        )
    }

    /// Whether a register may use this code for a session on `date` (RULES.md R1.2).
    pub fn is_in_force_on(self, date: NaiveDate) -> bool {
        self.set_change_on(date).is_none()
    }

    /// Why the code cannot be used on `date`, if it cannot (RULES.md R1.2).
    fn set_change_on(self, date: NaiveDate) -> Option<CodeSetChange> {
        if self == AttendanceCode::F {
            (date >= CODE_F_WITHDRAWN).then_some(CodeSetChange::WithdrawnOn(CODE_F_WITHDRAWN))
        } else if self.is_legacy() {
            (date >= CODES_2024_IN_FORCE).then_some(CodeSetChange::WithdrawnOn(CODES_2024_IN_FORCE))
        } else if self.is_new_in_2024() {
            (date < CODES_2024_IN_FORCE).then_some(CodeSetChange::InForceFrom(CODES_2024_IN_FORCE))
        } else {
            None
        }
    }

    /// What to record instead when the code is not in force on `date` (advice for the message).
    fn replacement_on(self, date: NaiveDate) -> &'static str {
        use AttendanceCode::*;
        match self {
            // Between 2013 and 2024 agreed holidays were H; from 2024 leave is C.
            F if date < CODES_2024_IN_FORCE => "use H",
            F | H => "use a 2024 code such as C",
            J => "use J1",
            Y => "use the 2024 code that fits, Y1 to Y7",
            C1 | C2 => "use a 2006 code such as C",
            J1 => "use J",
            K => "use a 2006 code such as B",
            Q | Y1 | Y2 | Y3 | Y4 | Y5 | Y6 | Y7 => "use a 2006 code such as Y",
            _ => "use a code in force on that date",
        }
    }
}

impl fmt::Display for AttendanceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttendanceCode {
    type Err = CodeProblem;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        AttendanceCode::parse(code)
    }
}

impl Serialize for AttendanceCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AttendanceCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        AttendanceCode::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// Which side of a code-set change a date fell on (RULES.md R1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSetChange {
    /// The code could no longer be used from this date.
    WithdrawnOn(NaiveDate),
    /// The code could only be used from this date.
    InForceFrom(NaiveDate),
}

/// Why a register code was refused (RULES.md R1.1, R1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeProblem {
    /// Not a code of either set, as written (R1.1).
    Unknown { code: String },
    /// A real code, but not in force on the session's date (R1.2).
    Legacy {
        code: String,
        date: NaiveDate,
        change: CodeSetChange,
    },
}

impl CodeProblem {
    /// The machine-readable reason (RULES.md R1.1, R1.2).
    pub const fn reason(&self) -> &'static str {
        match self {
            CodeProblem::Unknown { .. } => "unknown_code",
            CodeProblem::Legacy { .. } => "legacy_code",
        }
    }

    /// The code as it was given.
    pub fn code(&self) -> &str {
        match self {
            CodeProblem::Unknown { code } | CodeProblem::Legacy { code, .. } => code,
        }
    }
}

impl fmt::Display for CodeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeProblem::Unknown { code } if code.is_empty() => {
                f.write_str("the register code is empty")
            }
            CodeProblem::Unknown { code } => {
                write!(f, "'{}' is not a register code", shown(code))?;
                match unknown_code_hint(code) {
                    Some(hint) => write!(f, " ({hint})"),
                    None => Ok(()),
                }
            }
            CodeProblem::Legacy { code, date, change } => {
                // A Legacy problem is only built from a parsed code, so this always succeeds.
                let Some(parsed) = AttendanceCode::from_register(code) else {
                    return write!(f, "'{}' is not in force on {date}", shown(code));
                };
                write!(f, "'{}' ({}) ", parsed.as_str(), parsed.description())?;
                match change {
                    CodeSetChange::WithdrawnOn(on) => write!(f, "was withdrawn on {on}")?,
                    CodeSetChange::InForceFrom(from) => write!(f, "did not exist before {from}")?,
                }
                write!(
                    f,
                    " and cannot be used for {date}; {}",
                    parsed.replacement_on(*date)
                )
            }
        }
    }
}

impl std::error::Error for CodeProblem {}

/// Advice for a string that is not a code but is close to one. Never rewrites the input: the
/// register is a legal document, so the school must correct it (RULES.md R1.1, R1.4).
fn unknown_code_hint(code: &str) -> Option<String> {
    let trimmed = code.trim();
    let spaced = trimmed != code;
    if spaced && AttendanceCode::from_register(trimmed).is_some() {
        return Some(format!(
            "it has spaces around it; did you mean '{}'?",
            shown(trimmed)
        ));
    }
    let upper = trimmed.to_uppercase();
    if upper != trimmed && AttendanceCode::from_register(&upper).is_some() {
        let rule = if spaced {
            "codes are case-sensitive and have no spaces"
        } else {
            "codes are case-sensitive"
        };
        return Some(format!("{rule}; did you mean '{upper}'?"));
    }
    if code == "\\\\" {
        // An escaped backslash from a CSV or JSON layer; R1.1 takes `\` literally.
        return Some("codes are taken literally, not escaped; did you mean '\\'?".to_owned());
    }
    if code.chars().count() > 2 {
        return Some("register codes are 1 or 2 characters".to_owned());
    }
    None
}

/// Checks a register code for a session on `date`: it must exist as written (RULES.md R1.1) and
/// belong to the code set in force on that date (R1.2).
pub fn check_code_for_date(code: &str, date: NaiveDate) -> Result<AttendanceCode, CodeProblem> {
    let parsed = AttendanceCode::parse(code)?;
    match parsed.set_change_on(date) {
        None => Ok(parsed),
        Some(change) => Err(CodeProblem::Legacy {
            code: code.to_owned(),
            date,
            change,
        }),
    }
}

/// The most minutes late a register may record (RULES.md R1.3).
pub const MAX_MINUTES_LATE: i32 = 300;

/// `minutes_late` is only meaningful with the two late codes, and at most 300 (RULES.md R1.3).
pub fn check_minutes_late(code: AttendanceCode, minutes: Option<i32>) -> Result<(), String> {
    let Some(minutes) = minutes else {
        return Ok(());
    };
    if !matches!(code, AttendanceCode::L | AttendanceCode::U) {
        return Err(format!(
            "minutes_late can only be given with code L (late before the register closed) or U \
             (late after the register closed), not with '{code}'"
        ));
    }
    if !(0..=MAX_MINUTES_LATE).contains(&minutes) {
        return Err(format!(
            "minutes_late should be from 0 to {MAX_MINUTES_LATE}, not {minutes}"
        ));
    }
    Ok(())
}

/// A register session. Morning comes before afternoon, so `Am < Pm` orders a pupil's marks.
///
/// Written `AM` / `PM`, upper case only: registers and MIS exports use upper case, and accepting
/// variants would let two spellings of one session into stored data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(
    rename_all = "UPPERCASE",
    description = "A register session: `AM` or `PM`, upper case."
)]
pub enum Session {
    Am,
    Pm,
}

impl Session {
    pub const fn as_str(self) -> &'static str {
        match self {
            Session::Am => "AM",
            Session::Pm => "PM",
        }
    }

    /// Parses `AM` or `PM` exactly (upper case, no spaces).
    pub fn parse(session: &str) -> Result<Session, SessionProblem> {
        match session {
            "AM" => Ok(Session::Am),
            "PM" => Ok(Session::Pm),
            _ => Err(SessionProblem {
                given: session.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Session {
    type Err = SessionProblem;

    fn from_str(session: &str) -> Result<Self, Self::Err> {
        Session::parse(session)
    }
}

impl Serialize for Session {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Session {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let session = String::deserialize(deserializer)?;
        Session::parse(&session).map_err(serde::de::Error::custom)
    }
}

/// A session that is neither `AM` nor `PM` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProblem {
    pub given: String,
}

impl fmt::Display for SessionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session should be AM or PM, not '{}'",
            shown(&self.given)
        )?;
        if Session::parse(&self.given.to_uppercase()).is_ok() {
            f.write_str(" (sessions are written in upper case)")?;
        }
        Ok(())
    }
}

impl std::error::Error for SessionProblem {}

/// Input echoed in a message: control characters escaped so a message stays one readable line,
/// and long input cut short (it is not a code anyway).
fn shown(input: &str) -> String {
    const MAX_CHARS: usize = 20;
    let mut out = String::new();
    for (i, c) in input.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_has_its_own_register_char_and_back() {
        let mut seen = std::collections::BTreeSet::new();
        for code in AttendanceCode::ALL {
            let c = code.register_char();
            assert!(c.is_ascii_graphic(), "{code}");
            assert_ne!(c, NO_MARK_CHAR, "{code}");
            assert!(seen.insert(c), "{code} shares its character");
            assert_eq!(AttendanceCode::from_register_char(c), Some(code), "{code}");
        }
        assert_eq!(AttendanceCode::from_register_char(NO_MARK_CHAR), None);
        assert_eq!(AttendanceCode::from_register_char(b'a'), None);
    }

    use super::*;
    use AttendanceCode::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn codes(list: &[&str]) -> Vec<AttendanceCode> {
        list.iter()
            .map(|c| AttendanceCode::parse(c).unwrap())
            .collect()
    }

    fn codes_in(category: CodeCategory) -> Vec<AttendanceCode> {
        AttendanceCode::ALL
            .into_iter()
            .filter(|c| c.category() == category)
            .collect()
    }

    fn unknown_message(code: &str) -> String {
        let problem = AttendanceCode::parse(code).unwrap_err();
        assert_eq!(problem.reason(), "unknown_code");
        problem.to_string()
    }

    #[test]
    fn every_code_round_trips_through_its_register_string() {
        let mut seen = std::collections::HashSet::new();
        for code in AttendanceCode::ALL {
            assert!(seen.insert(code.as_str()), "{code:?} duplicated");
            assert_eq!(AttendanceCode::parse(code.as_str()), Ok(code));
            assert_eq!(code.as_str().parse::<AttendanceCode>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
            assert!(!code.description().is_empty());
        }
        assert_eq!(seen.len(), 38);
    }

    // RULES.md R1 table, row by row, plus the legacy codes of R1.2.
    #[test]
    fn present_codes() {
        assert_eq!(codes_in(CodeCategory::Present), codes(&["/", "\\", "L"]));
    }

    #[test]
    fn approved_educational_activity_codes() {
        assert_eq!(
            codes_in(CodeCategory::ApprovedEducationalActivity),
            codes(&["K", "V", "P", "W", "B", "J"])
        );
    }

    #[test]
    fn authorised_absence_codes() {
        assert_eq!(
            codes_in(CodeCategory::AuthorisedAbsence),
            codes(&["C", "C1", "C2", "E", "I", "M", "J1", "R", "S", "T", "H", "F"])
        );
    }

    #[test]
    fn unauthorised_absence_codes() {
        assert_eq!(
            codes_in(CodeCategory::UnauthorisedAbsence),
            codes(&["G", "N", "O", "U"])
        );
    }

    #[test]
    fn not_possible_codes() {
        assert_eq!(
            codes_in(CodeCategory::NotPossible),
            codes(&["D", "X", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "Y"])
        );
    }

    #[test]
    fn not_collected_codes() {
        assert_eq!(codes_in(CodeCategory::NotCollected), codes(&["Z", "#"]));
    }

    #[test]
    fn only_the_first_four_categories_count_as_possible() {
        let possible: Vec<_> = CodeCategory::ALL
            .into_iter()
            .filter(CodeCategory::counts_as_possible)
            .collect();
        assert_eq!(
            possible,
            [
                CodeCategory::Present,
                CodeCategory::ApprovedEducationalActivity,
                CodeCategory::AuthorisedAbsence,
                CodeCategory::UnauthorisedAbsence
            ]
        );
        for category in CodeCategory::ALL {
            // R2.1: every possible session is either attendance or absence, never both.
            assert_eq!(
                category.counts_as_possible(),
                category.counts_as_attendance() != category.counts_as_absence()
            );
            assert!(!(category.counts_as_attendance() && category.counts_as_absence()));
        }
        assert!(I.category().counts_as_absence());
        assert!(K.category().counts_as_attendance());
        assert!(!PlannedClosure.category().counts_as_possible());
    }

    #[test]
    fn categories_serialise_in_snake_case() {
        for category in CodeCategory::ALL {
            let json = serde_json::to_string(&category).unwrap();
            assert_eq!(json, format!("\"{}\"", category.as_str()));
            assert_eq!(
                serde_json::from_str::<CodeCategory>(&json).unwrap(),
                category
            );
        }
        assert_eq!(
            CodeCategory::ApprovedEducationalActivity.to_string(),
            "approved_educational_activity"
        );
    }

    #[test]
    fn backslash_is_taken_literally() {
        assert_eq!(AttendanceCode::parse("\\"), Ok(PresentPm));
        assert_eq!(AttendanceCode::parse("/"), Ok(PresentAm));
        assert_eq!(AttendanceCode::parse("#"), Ok(PlannedClosure));
        assert_eq!(
            unknown_message("\\\\"),
            "'\\\\' is not a register code (codes are taken literally, not escaped; did you mean '\\'?)"
        );
    }

    #[test]
    fn codes_are_case_sensitive() {
        assert_eq!(
            unknown_message("i"),
            "'i' is not a register code (codes are case-sensitive; did you mean 'I'?)"
        );
        assert_eq!(
            unknown_message("c2"),
            "'c2' is not a register code (codes are case-sensitive; did you mean 'C2'?)"
        );
        assert_eq!(
            unknown_message("y1"),
            "'y1' is not a register code (codes are case-sensitive; did you mean 'Y1'?)"
        );
        // Legacy lower case is still pointed at the real code; the date check then explains it.
        assert_eq!(
            unknown_message("h"),
            "'h' is not a register code (codes are case-sensitive; did you mean 'H'?)"
        );
    }

    #[test]
    fn unknown_codes_say_what_is_wrong() {
        assert_eq!(unknown_message("A"), "'A' is not a register code");
        assert_eq!(unknown_message("Y8"), "'Y8' is not a register code");
        assert_eq!(unknown_message("C3"), "'C3' is not a register code");
        assert_eq!(unknown_message(""), "the register code is empty");
        assert_eq!(
            unknown_message(" I"),
            "' I' is not a register code (it has spaces around it; did you mean 'I'?)"
        );
        assert_eq!(
            unknown_message("c1 "),
            "'c1 ' is not a register code (codes are case-sensitive and have no spaces; did you mean 'C1'?)"
        );
        assert_eq!(
            unknown_message("PRESENT"),
            "'PRESENT' is not a register code (register codes are 1 or 2 characters)"
        );
        assert_eq!(
            unknown_message("I\n"),
            "'I\\n' is not a register code (it has spaces around it; did you mean 'I'?)"
        );
        let long = "X".repeat(1000);
        assert!(unknown_message(&long).len() < 120);
    }

    #[test]
    fn unicode_codes_do_not_panic() {
        for odd in [
            "é",
            "Ⅰ",
            "ı",
            "ß",
            "ﬀ",
            "I\u{301}",
            "😀",
            "\u{0}",
            "Y\u{2460}",
        ] {
            let problem = AttendanceCode::parse(odd).unwrap_err();
            assert_eq!(problem.reason(), "unknown_code");
            assert!(!problem.to_string().is_empty());
            assert!(check_code_for_date(odd, date(2025, 1, 6)).is_err());
        }
    }

    #[test]
    fn codes_deserialise_from_and_serialise_to_the_code_string() {
        for code in AttendanceCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(serde_json::from_str::<AttendanceCode>(&json).unwrap(), code);
        }
        assert_eq!(serde_json::to_string(&PresentPm).unwrap(), r#""\\""#);
        assert_eq!(serde_json::to_string(&C2).unwrap(), r#""C2""#);
        let err = serde_json::from_str::<AttendanceCode>(r#""i""#).unwrap_err();
        assert!(err.to_string().contains("did you mean 'I'?"), "{err}");
    }

    /// The 2006 set (RULES.md R1.2) on the day before the 2024 regulations.
    fn in_2006_set_on_2024_08_18(code: AttendanceCode) -> bool {
        !code.is_new_in_2024() && code != F
    }

    #[test]
    fn every_code_on_the_day_before_and_the_day_the_2024_codes_came_in() {
        let before = date(2024, 8, 18);
        let from = date(2024, 8, 19);
        assert_eq!(from, CODES_2024_IN_FORCE);
        for code in AttendanceCode::ALL {
            let s = code.as_str();
            let old = check_code_for_date(s, before);
            let new = check_code_for_date(s, from);
            assert_eq!(
                old.is_ok(),
                in_2006_set_on_2024_08_18(code),
                "{s} on {before}"
            );
            assert_eq!(new.is_ok(), !code.is_legacy(), "{s} on {from}");
            assert_eq!(code.is_in_force_on(before), old.is_ok());
            assert_eq!(code.is_in_force_on(from), new.is_ok());
            for result in [old, new] {
                match result {
                    Ok(parsed) => assert_eq!(parsed, code),
                    Err(problem) => assert_eq!(problem.reason(), "legacy_code", "{s}"),
                }
            }
        }
    }

    #[test]
    fn the_new_and_withdrawn_codes_are_exactly_those_of_rule_r1_2() {
        let new: Vec<_> = AttendanceCode::ALL
            .into_iter()
            .filter(|c| c.is_new_in_2024())
            .collect();
        assert_eq!(
            new,
            codes(&["K", "C1", "C2", "J1", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7"])
        );
        let legacy: Vec<_> = AttendanceCode::ALL
            .into_iter()
            .filter(|c| c.is_legacy())
            .collect();
        assert_eq!(legacy, codes(&["H", "J", "Y", "F"]));
    }

    #[test]
    fn h_on_2024_08_19_is_a_legacy_code() {
        let problem = check_code_for_date("H", date(2024, 8, 19)).unwrap_err();
        assert_eq!(problem.reason(), "legacy_code");
        assert_eq!(problem.code(), "H");
        assert_eq!(
            problem,
            CodeProblem::Legacy {
                code: "H".to_owned(),
                date: date(2024, 8, 19),
                change: CodeSetChange::WithdrawnOn(CODES_2024_IN_FORCE),
            }
        );
        assert_eq!(
            problem.to_string(),
            "'H' (holiday authorised by the school) was withdrawn on 2024-08-19 and cannot be \
             used for 2024-08-19; use a 2024 code such as C"
        );
        assert_eq!(check_code_for_date("H", date(2024, 8, 18)), Ok(H));
    }

    #[test]
    fn withdrawn_j_and_y_point_to_their_2024_successors() {
        let j = check_code_for_date("J", date(2025, 3, 3)).unwrap_err();
        assert!(j.to_string().ends_with("; use J1"), "{j}");
        let y = check_code_for_date("Y", date(2025, 3, 3)).unwrap_err();
        assert!(
            y.to_string()
                .ends_with("; use the 2024 code that fits, Y1 to Y7"),
            "{y}"
        );
    }

    #[test]
    fn f_was_withdrawn_on_2013_09_01() {
        assert_eq!(CODE_F_WITHDRAWN, date(2013, 9, 1));
        assert_eq!(check_code_for_date("F", date(2013, 8, 31)), Ok(F));
        let problem = check_code_for_date("F", date(2013, 9, 1)).unwrap_err();
        assert_eq!(problem.reason(), "legacy_code");
        assert_eq!(
            problem.to_string(),
            "'F' (agreed extended family holiday) was withdrawn on 2013-09-01 and cannot be \
             used for 2013-09-01; use H"
        );
        let later = check_code_for_date("F", date(2024, 9, 2)).unwrap_err();
        assert_eq!(
            later.to_string(),
            "'F' (agreed extended family holiday) was withdrawn on 2013-09-01 and cannot be \
             used for 2024-09-02; use a 2024 code such as C"
        );
        // The other 2006 codes were still fine on both sides of 2013-09-01.
        assert_eq!(check_code_for_date("H", date(2013, 9, 1)), Ok(H));
    }

    #[test]
    fn a_2024_code_on_an_old_date_says_when_it_started() {
        let problem = check_code_for_date("C1", date(2024, 8, 18)).unwrap_err();
        assert_eq!(problem.reason(), "legacy_code");
        assert_eq!(
            problem.to_string(),
            "'C1' (regulated performance or regulated employment abroad) did not exist before \
             2024-08-19 and cannot be used for 2024-08-18; use a 2006 code such as C"
        );
        let k = check_code_for_date("K", date(2020, 1, 6)).unwrap_err();
        assert!(k.to_string().starts_with(
            "'K' (education arranged by the local authority) did not exist before 2024-08-19"
        ));
        let y3 = check_code_for_date("Y3", date(2020, 1, 6)).unwrap_err();
        assert!(
            y3.to_string().ends_with("use a 2006 code such as Y"),
            "{y3}"
        );
    }

    #[test]
    fn unknown_beats_legacy_whatever_the_date() {
        let problem = check_code_for_date("i", date(2010, 1, 4)).unwrap_err();
        assert_eq!(problem.reason(), "unknown_code");
        assert_eq!(problem.code(), "i");
    }

    #[test]
    fn minutes_late_only_with_l_or_u() {
        for code in AttendanceCode::ALL {
            assert_eq!(check_minutes_late(code, None), Ok(()));
        }
        assert_eq!(check_minutes_late(L, Some(0)), Ok(()));
        assert_eq!(check_minutes_late(L, Some(12)), Ok(()));
        assert_eq!(check_minutes_late(U, Some(300)), Ok(()));
        assert_eq!(
            check_minutes_late(I, Some(5)),
            Err(
                "minutes_late can only be given with code L (late before the register closed) \
                 or U (late after the register closed), not with 'I'"
                    .to_owned()
            )
        );
        assert!(check_minutes_late(PresentAm, Some(0))
            .unwrap_err()
            .ends_with("not with '/'"));
        assert_eq!(
            check_minutes_late(L, Some(301)),
            Err("minutes_late should be from 0 to 300, not 301".to_owned())
        );
        assert_eq!(
            check_minutes_late(U, Some(-1)),
            Err("minutes_late should be from 0 to 300, not -1".to_owned())
        );
        assert!(check_minutes_late(U, Some(i32::MIN)).is_err());
        assert!(check_minutes_late(U, Some(i32::MAX)).is_err());
    }

    #[test]
    fn sessions_are_am_or_pm_in_upper_case() {
        assert_eq!(Session::parse("AM"), Ok(Session::Am));
        assert_eq!("PM".parse::<Session>(), Ok(Session::Pm));
        assert!(Session::Am < Session::Pm);
        assert_eq!(Session::Pm.to_string(), "PM");
        assert_eq!(
            Session::parse("am").unwrap_err().to_string(),
            "session should be AM or PM, not 'am' (sessions are written in upper case)"
        );
        assert_eq!(
            Session::parse("morning").unwrap_err().to_string(),
            "session should be AM or PM, not 'morning'"
        );
        assert_eq!(
            Session::parse("").unwrap_err().to_string(),
            "session should be AM or PM, not ''"
        );
        assert!(Session::parse(" AM").is_err());
        assert!(Session::parse("ÅM").is_err());
    }

    #[test]
    fn sessions_serialise_as_am_and_pm() {
        assert_eq!(serde_json::to_string(&Session::Am).unwrap(), r#""AM""#);
        assert_eq!(
            serde_json::from_str::<Session>(r#""PM""#).unwrap(),
            Session::Pm
        );
        let err = serde_json::from_str::<Session>(r#""pm""#).unwrap_err();
        assert!(
            err.to_string()
                .contains("session should be AM or PM, not 'pm'"),
            "{err}"
        );
    }
}
