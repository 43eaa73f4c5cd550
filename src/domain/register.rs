//! A register push, checked (RULES.md R1 codes, one mark per session, R1.3 minutes late, R6.1
//! UPN): each row on its own ([`check_mark`]), then the push as a whole against the school's roll
//! and itself ([`check_marks`]). Every refusal names the field, a machine-readable reason (API.md
//! "Registers") and a sentence.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Weekday};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::codes::{check_code_for_date, check_minutes_late, AttendanceCode, CodeProblem, Session};
use super::identifiers::Upn;
use super::push::Refusals;
use super::text::{first_control, TextKind};

/// The hasher of a push's per-row maps, as of the store's register maps: fast, and still seeded
/// per process.
type FastHash = foldhash::fast::RandomState;

/// Why a row of a push was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub field: &'static str,
    pub reason: RowReason,
    pub message: String,
}

/// The machine-readable reason a row was refused (API.md "Registers"): the import report's
/// `errors[].reason` and the keys of `rejected_by_reason`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RowReason {
    /// Not a DfE register code (codes are case-sensitive).
    UnknownCode,
    /// A code of the other code set than the date's (2006 set before 2024-08-19, 2024 set after).
    LegacyCode,
    /// Not a valid UPN (R6.1).
    InvalidUpn,
    /// The pupil is not on the school's roll on that date.
    PupilNotOnRoll,
    /// A date after today.
    DateInFuture,
    /// A Saturday or Sunday (a school's own term dates may differ from the LA's).
    NotASchoolDay,
    /// A pupil (roll) or a pupil's session (register) sent more than once in one push, differently.
    DuplicateInPush,
    /// A session other than `AM` or `PM`.
    InvalidSession,
    /// minutes_late out of range, not a whole number, or given for a code that is not late.
    InvalidMinutesLate,
    /// Not an ISO date, or a date that cannot be right.
    InvalidDate,
    /// A name that is empty, too long or not printable.
    InvalidName,
    /// Not a UK postcode.
    InvalidPostcode,
    /// Not an English LA number.
    InvalidLaCode,
    /// A control character in a field.
    InvalidText,
    /// A lesson for no case the LA has (R14.3).
    UnknownCase,
    /// A lesson before its case's start (R14.3).
    BeforeCaseStart,
    /// A lesson after its case's exit (R14.3).
    AfterCaseExit,
    /// A lesson start time that is not `HH:MM`.
    InvalidStartTime,
    /// A lesson subject other than `english`, `maths`, `science`, `other`.
    InvalidSubject,
    /// A lesson mode that is not one of R14.3's.
    InvalidMode,
    /// A lesson attendance that is not one of R14.3's.
    InvalidAttendance,
    /// Planned minutes outside 1-240.
    InvalidPlannedMinutes,
    /// Engagement missing for an attended or late lesson, given for another, or outside 1-4.
    InvalidEngagement,
    /// A `home` lesson for a case with no home-teaching risk assessment (R10.2).
    NoRiskAssessment,
}

impl RowReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            RowReason::UnknownCode => "unknown_code",
            RowReason::LegacyCode => "legacy_code",
            RowReason::InvalidUpn => "invalid_upn",
            RowReason::PupilNotOnRoll => "pupil_not_on_roll",
            RowReason::DateInFuture => "date_in_future",
            RowReason::NotASchoolDay => "not_a_school_day",
            RowReason::DuplicateInPush => "duplicate_in_push",
            RowReason::InvalidSession => "invalid_session",
            RowReason::InvalidMinutesLate => "invalid_minutes_late",
            RowReason::InvalidDate => "invalid_date",
            RowReason::InvalidName => "invalid_name",
            RowReason::InvalidPostcode => "invalid_postcode",
            RowReason::InvalidLaCode => "invalid_la_code",
            RowReason::InvalidText => "invalid_text",
            RowReason::UnknownCase => "unknown_case",
            RowReason::BeforeCaseStart => "before_case_start",
            RowReason::AfterCaseExit => "after_case_exit",
            RowReason::InvalidStartTime => "invalid_start_time",
            RowReason::InvalidSubject => "invalid_subject",
            RowReason::InvalidMode => "invalid_mode",
            RowReason::InvalidAttendance => "invalid_attendance",
            RowReason::InvalidPlannedMinutes => "invalid_planned_minutes",
            RowReason::InvalidEngagement => "invalid_engagement",
            RowReason::NoRiskAssessment => "no_risk_assessment",
        }
    }
}

impl From<&CodeProblem> for RowReason {
    fn from(problem: &CodeProblem) -> Self {
        match problem {
            CodeProblem::Unknown { .. } => RowReason::UnknownCode,
            CodeProblem::Legacy { .. } => RowReason::LegacyCode,
        }
    }
}

impl RowProblem {
    pub fn new(field: &'static str, reason: RowReason, message: impl Into<String>) -> Self {
        RowProblem {
            field,
            reason,
            message: message.into(),
        }
    }
}

/// A mark as received (JSON or CSV), before any check. The text fields are compact strings: a
/// valid mark's fit inline, so a night's marks are read without a heap allocation per field.
#[derive(Debug, Clone)]
pub struct MarkIn {
    pub upn: CompactString,
    pub date: CompactString,
    pub session: CompactString,
    pub code: CompactString,
    pub minutes_late: Option<i64>,
    /// A CSV `minutes_late` that is not a whole number, kept to report it.
    pub minutes_late_text: Option<String>,
}

/// A mark as sent, before checking.
#[derive(Debug, Clone)]
pub struct MarkRow<'a> {
    pub upn: &'a str,
    pub date: &'a str,
    pub session: &'a str,
    pub code: &'a str,
    pub minutes_late: Option<i64>,
}

/// A mark that passed every check that needs no database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark<'a> {
    /// As received: a UPN passes only exactly as written.
    pub upn: &'a str,
    pub date: NaiveDate,
    pub session: Session,
    pub code: AttendanceCode,
    pub minutes_late: Option<i32>,
}

pub fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, RowProblem> {
    iso_date(text).ok_or_else(|| {
        RowProblem::new(
            field,
            RowReason::InvalidDate,
            format!(
                "{field} should be a date like 2026-11-20, not '{}'",
                clip(text)
            ),
        )
    })
}

/// Exactly `YYYY-MM-DD` (ten characters, a real calendar date). Read directly rather than
/// through chrono's format parser, which walks its format string for every mark of every push.
pub fn iso_date(text: &str) -> Option<NaiveDate> {
    let b: &[u8; 10] = text.as_bytes().try_into().ok()?;
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(&b[0..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..10])?)
}

fn clip(text: &str) -> String {
    text.chars().take(20).collect()
}

/// `invalid_text` for the first of `fields` (name, value) holding a control character: no field
/// of a pushed row is free text.
pub fn control_problem<'t>(
    fields: impl IntoIterator<Item = (&'static str, &'t str)>,
) -> Option<RowProblem> {
    fields.into_iter().find_map(|(field, value)| {
        first_control(value, TextKind::SingleLine).map(|found| {
            RowProblem::new(
                field,
                RowReason::InvalidText,
                format!("{field} {}", found.message(TextKind::SingleLine)),
            )
        })
    })
}

/// Checks a mark against the rules that need only the row and today:
/// UPN (R6.1), date, session, code for that date (R1.1, R1.2), minutes late (R1.3), not in the
/// future, not on a weekend. Being on the school's roll is checked by [`check_marks`].
pub fn check_mark<'a>(row: &MarkRow<'a>, today: NaiveDate) -> Result<Mark<'a>, RowProblem> {
    // Every field of a mark is strict, so a control character always fails a check: it is looked
    // for only then, and a valid mark pays nothing for it.
    check_mark_fields(row, today).map_err(|problem| {
        control_problem([
            ("upn", row.upn),
            ("date", row.date),
            ("session", row.session),
            ("code", row.code),
        ])
        .unwrap_or(problem)
    })
}

fn check_mark_fields<'a>(row: &MarkRow<'a>, today: NaiveDate) -> Result<Mark<'a>, RowProblem> {
    Upn::check(row.upn)
        .map_err(|e| RowProblem::new("upn", RowReason::InvalidUpn, e.to_string()))?;
    let date = parse_date("date", row.date)?;
    let session = Session::parse(row.session)
        .map_err(|e| RowProblem::new("session", RowReason::InvalidSession, e.to_string()))?;
    let code = check_code_for_date(row.code, date)
        .map_err(|e| RowProblem::new("code", RowReason::from(&e), e.to_string()))?;
    let minutes_late = match row.minutes_late {
        None => None,
        Some(m) => Some(i32::try_from(m).map_err(|_| {
            RowProblem::new(
                "minutes_late",
                RowReason::InvalidMinutesLate,
                format!("minutes_late should be 0 to 300, not {m}"),
            )
        })?),
    };
    check_minutes_late(code, minutes_late)
        .map_err(|m| RowProblem::new("minutes_late", RowReason::InvalidMinutesLate, m))?;
    if date > today {
        return Err(RowProblem::new(
            "date",
            RowReason::DateInFuture,
            format!("{date} is after today ({today}); registers record what happened"),
        ));
    }
    // Schools' own term dates differ (academies set theirs), so only weekends are refused here;
    // the LA calendar drives deadline counting (R3), not which marks a school may keep.
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return Err(RowProblem::new(
            "date",
            RowReason::NotASchoolDay,
            format!(
                "{date} is a {}; registers are taken on school days",
                date.weekday()
            ),
        ));
    }
    Ok(Mark {
        upn: row.upn,
        date,
        session,
        code,
        minutes_late,
    })
}

/// Whether an enrolment from `from` until `until` (inclusive; open when None) covers `date`.
pub fn covers(from: NaiveDate, until: Option<NaiveDate>, date: NaiveDate) -> bool {
    date >= from && until.is_none_or(|u| date <= u)
}

/// When a pupil is on a school's roll: all a register push checks its marks against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollPeriod {
    pub on_roll_from: NaiveDate,
    /// Inclusive; None while the pupil is on the roll.
    pub on_roll_until: Option<NaiveDate>,
}

/// A checked mark to write for one school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMark {
    pub upn: CompactString,
    pub mark_date: NaiveDate,
    pub session: Session,
    pub code: AttendanceCode,
    pub minutes_late: Option<i32>,
}

/// What [`check_marks`] lets through: the marks to write, each session once.
#[derive(Debug, Default)]
pub struct CheckedMarks {
    pub marks: Vec<IncomingMark>,
    /// Rows that repeat an accepted one exactly: written once, the repeats counted unchanged.
    pub identical_repeats: usize,
}

/// A session of a pupil, borrowing the UPN from the row as received.
type MarkKey<'a> = (&'a str, NaiveDate, Session);

/// Checks a register push for school `school_urn`: each row ([`check_mark`]; a CSV
/// `minutes_late` that is not a number first), the pupil on the school's roll on the mark's date
/// (`roll`, by UPN as sent), and one mark per pupil and session (R1): an identical repeat is kept
/// once, and two different marks for one session are both refused, since they cannot both be
/// right. Refused rows go to `refusals`, in row order, the duplicates last.
pub fn check_marks(
    rows: &[MarkIn],
    school_urn: i32,
    roll: impl Fn(&str) -> Option<RollPeriod>,
    today: NaiveDate,
    refusals: &mut impl Refusals,
) -> CheckedMarks {
    let mut accepted: Vec<(usize, IncomingMark)> = Vec::with_capacity(rows.len());
    let mut position: HashMap<MarkKey, usize, FastHash> =
        HashMap::with_capacity_and_hasher(rows.len(), FastHash::default());
    let mut conflicted: HashMap<MarkKey, Vec<usize>, FastHash> = HashMap::default();
    let mut identical_repeats = 0usize;
    let mut dropped: Vec<usize> = Vec::new();
    for (index, raw) in rows.iter().enumerate() {
        if let Some(text) = &raw.minutes_late_text {
            refusals.refuse(
                index,
                &raw.upn,
                RowProblem::new(
                    "minutes_late",
                    RowReason::InvalidMinutesLate,
                    format!("minutes_late should be a whole number of minutes, not '{text}'"),
                ),
            );
            continue;
        }
        let row = MarkRow {
            upn: &raw.upn,
            date: &raw.date,
            session: &raw.session,
            code: &raw.code,
            minutes_late: raw.minutes_late,
        };
        let mark = match check_mark(&row, today) {
            Ok(m) => m,
            Err(problem) => {
                refusals.refuse(index, &raw.upn, problem);
                continue;
            }
        };
        if let Some(problem) = off_roll(&mark, roll(mark.upn), school_urn) {
            refusals.refuse(index, &raw.upn, problem);
            continue;
        }
        // `check_mark` accepts a UPN only exactly as written, so the row's text is the key.
        let key = (raw.upn.as_str(), mark.date, mark.session);
        let incoming = IncomingMark {
            upn: raw.upn.clone(),
            mark_date: mark.date,
            session: mark.session,
            code: mark.code,
            minutes_late: mark.minutes_late,
        };
        if let Some(rows) = conflicted.get_mut(&key) {
            rows.push(index);
            continue;
        }
        match position.get(&key) {
            None => {
                position.insert(key, accepted.len());
                accepted.push((index, incoming));
            }
            Some(&at)
                if accepted[at].1.code == incoming.code
                    && accepted[at].1.minutes_late == incoming.minutes_late =>
            {
                identical_repeats += 1;
            }
            Some(&at) => {
                dropped.push(at);
                conflicted.insert(key, vec![accepted[at].0, index]);
            }
        }
    }
    // R1: a pupil has one mark per session; two different ones in a push cannot both be right.
    if !conflicted.is_empty() {
        refuse_conflicts(rows, &conflicted, refusals);
        dropped.sort_unstable();
        let mut position = 0;
        accepted.retain(|_| {
            position += 1;
            dropped.binary_search(&(position - 1)).is_err()
        });
    }
    CheckedMarks {
        marks: accepted.into_iter().map(|(_, m)| m).collect(),
        identical_repeats,
    }
}

/// `pupil_not_on_roll` unless `period` (the pupil's time on the roll of school `urn`, if any)
/// covers the mark's date.
fn off_roll(mark: &Mark<'_>, period: Option<RollPeriod>, urn: i32) -> Option<RowProblem> {
    let message = match period {
        Some(e) if covers(e.on_roll_from, e.on_roll_until, mark.date) => return None,
        Some(e) => {
            let until = e
                .on_roll_until
                .map(|u| format!(" until {u}"))
                .unwrap_or_default();
            format!(
                "{} is on the roll of {urn} from {}{until}, not on {}",
                mark.upn, e.on_roll_from, mark.date
            )
        }
        None => format!(
            "{} is not on the roll of {urn}; push the roll (PUT /api/v1/schools/{urn}/pupils) first",
            mark.upn
        ),
    };
    Some(RowProblem::new("upn", RowReason::PupilNotOnRoll, message))
}

/// Refuses every row of each session sent with different marks (`conflicted`: the rows of
/// each), in row order.
fn refuse_conflicts(
    rows: &[MarkIn],
    conflicted: &HashMap<MarkKey, Vec<usize>, FastHash>,
    refusals: &mut impl Refusals,
) {
    let mut refused: Vec<(usize, &str, NaiveDate, Session)> = Vec::new();
    for (&(upn, date, session), at) in conflicted {
        for &row in at {
            refused.push((row, upn, date, session));
        }
    }
    refused.sort();
    for (row, upn, date, session) in refused {
        let message = format!(
            "{upn} has different marks for {date} {session} in this push (this row: '{}'); send one",
            rows[row].code
        );
        refusals.refuse(
            row,
            upn,
            RowProblem::new("code", RowReason::DuplicateInPush, message),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn row<'a>(
        upn: &'a str,
        date: &'a str,
        session: &'a str,
        code: &'a str,
        late: Option<i64>,
    ) -> MarkRow<'a> {
        MarkRow {
            upn,
            date,
            session,
            code,
            minutes_late: late,
        }
    }

    const TODAY: &str = "2026-11-23";

    fn reason(r: MarkRow<'_>) -> &'static str {
        check_mark(&r, day(TODAY)).unwrap_err().reason.as_str()
    }

    #[test]
    fn dates_are_exactly_year_month_day() {
        assert_eq!(iso_date("2026-11-20"), Some(day("2026-11-20")));
        assert_eq!(iso_date("2024-02-29"), Some(day("2024-02-29")));
        assert_eq!(iso_date("0001-01-01"), Some(day("0001-01-01")));
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-11-31",
            "2026-11-00",
            "2026/11/20",
            "2026-1-020",
            "20261120",
            "2026-11-2",
            " 2026-11-2",
            "2026-11-20 ",
            "+026-11-20",
            "2026-11-2a",
            "２０２６-11-20",
            "",
        ] {
            assert_eq!(iso_date(bad), None, "{bad:?} should not be a date");
            assert_eq!(
                check_mark(&row("H801200001001", bad, "AM", "/", None), day(TODAY))
                    .unwrap_err()
                    .reason,
                RowReason::InvalidDate
            );
        }
    }

    #[test]
    fn a_good_mark_passes() {
        let m = check_mark(
            &row("H801200001001", "2026-11-20", "PM", "\\", None),
            day(TODAY),
        )
        .unwrap();
        assert_eq!(m.code, AttendanceCode::PresentPm);
        assert_eq!(m.session, Session::Pm);
        let late = check_mark(
            &row("H801200001001", "2026-11-20", "AM", "L", Some(12)),
            day(TODAY),
        )
        .unwrap();
        assert_eq!(late.minutes_late, Some(12));
    }

    #[test]
    fn each_rejection_has_its_reason() {
        assert_eq!(
            reason(row("Z801200001001", "2026-11-20", "AM", "/", None)),
            "invalid_upn"
        );
        assert_eq!(
            reason(row("H801200001001", "20/11/2026", "AM", "/", None)),
            "invalid_date"
        );
        assert_eq!(
            reason(row("H801200001001", "2026-02-30", "AM", "/", None)),
            "invalid_date"
        );
        assert_eq!(
            reason(row("H801200001001", "2026-11-20", "am", "/", None)),
            "invalid_session"
        );
        assert_eq!(
            reason(row("H801200001001", "2026-11-20", "AM", "i", None)),
            "unknown_code"
        );
        assert_eq!(
            reason(row("H801200001001", "2026-11-20", "AM", "H", None)),
            "legacy_code"
        );
        assert_eq!(
            reason(row("H801200001001", "2023-11-20", "AM", "C1", None)),
            "legacy_code"
        );
        assert_eq!(
            reason(row("H801200001001", "2026-11-20", "AM", "/", Some(5))),
            "invalid_minutes_late"
        );
        assert_eq!(
            reason(row("H801200001001", "2026-11-20", "AM", "L", Some(301))),
            "invalid_minutes_late"
        );
        assert_eq!(
            reason(row(
                "H801200001001",
                "2026-11-20",
                "AM",
                "L",
                Some(i64::MAX)
            )),
            "invalid_minutes_late"
        );
        assert_eq!(
            reason(row("H801200001001", "2026-11-24", "AM", "/", None)),
            "date_in_future"
        );
        assert_eq!(
            reason(row("H801200001001", "2026-11-21", "AM", "/", None)),
            "not_a_school_day"
        );
    }

    #[test]
    fn today_is_not_the_future_and_old_dates_use_the_old_codes() {
        assert!(check_mark(&row("H801200001001", TODAY, "AM", "/", None), day(TODAY)).is_ok());
        assert!(check_mark(
            &row("H801200001001", "2023-11-20", "AM", "H", None),
            day(TODAY)
        )
        .is_ok());
    }

    #[test]
    fn the_message_says_exactly_what_is_wrong() {
        let p = check_mark(
            &row("Z801200001001", "2026-11-20", "AM", "/", None),
            day(TODAY),
        )
        .unwrap_err();
        assert_eq!(p.field, "upn");
        assert!(p.message.contains("should be H, not Z"), "{}", p.message);
    }

    #[test]
    fn enrolment_covers_its_dates_inclusively() {
        assert!(covers(day("2026-09-03"), None, day("2026-11-20")));
        assert!(covers(
            day("2026-09-03"),
            Some(day("2026-11-20")),
            day("2026-11-20")
        ));
        assert!(!covers(
            day("2026-09-03"),
            Some(day("2026-11-19")),
            day("2026-11-20")
        ));
        assert!(!covers(day("2026-11-21"), None, day("2026-11-20")));
    }

    fn sent(upn: &str, date: &str, session: &str, code: &str) -> MarkIn {
        MarkIn {
            upn: upn.into(),
            date: date.into(),
            session: session.into(),
            code: code.into(),
            minutes_late: None,
            minutes_late_text: None,
        }
    }

    /// A valid UPN, different for each `n`.
    fn upn(n: u32) -> String {
        let tail = format!("919{n:08}0");
        let letter = crate::domain::identifiers::check_letter_for(&tail).unwrap();
        format!("{letter}{tail}")
    }

    /// Pupil 1 on the roll since September, pupil 2 until 2026-11-13; nobody else.
    fn roll(sent: &str) -> Option<RollPeriod> {
        let on_roll_from = day("2026-09-03");
        if sent == upn(1) {
            Some(RollPeriod {
                on_roll_from,
                on_roll_until: None,
            })
        } else if sent == upn(2) {
            Some(RollPeriod {
                on_roll_from,
                on_roll_until: Some(day("2026-11-13")),
            })
        } else {
            None
        }
    }

    fn check(rows: &[MarkIn]) -> (CheckedMarks, Vec<(usize, String, RowProblem)>) {
        let mut refused = Vec::new();
        let checked = check_marks(rows, 117001, roll, day(TODAY), &mut refused);
        (checked, refused)
    }

    fn reasons(refused: &[(usize, String, RowProblem)]) -> Vec<(usize, RowReason)> {
        refused.iter().map(|(i, _, p)| (*i, p.reason)).collect()
    }

    #[test]
    fn good_marks_pass_as_checked_values() {
        let (checked, refused) = check(&[
            sent(&upn(1), "2026-11-20", "AM", "/"),
            sent(&upn(1), "2026-11-20", "PM", "\\"),
        ]);
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(checked.identical_repeats, 0);
        assert_eq!(
            checked.marks[1],
            IncomingMark {
                upn: upn(1).into(),
                mark_date: day("2026-11-20"),
                session: Session::Pm,
                code: AttendanceCode::PresentPm,
                minutes_late: None,
            }
        );
    }

    #[test]
    fn a_mark_outside_the_pupils_time_on_roll_is_refused_saying_when_it_was() {
        let (checked, refused) = check(&[
            sent(&upn(2), "2026-11-13", "AM", "/"),
            sent(&upn(2), "2026-11-16", "AM", "/"),
            sent(&upn(1), "2026-09-02", "AM", "/"),
            sent(&upn(3), "2026-11-20", "AM", "/"),
        ]);
        assert_eq!(checked.marks.len(), 1);
        assert_eq!(
            reasons(&refused),
            [
                (1, RowReason::PupilNotOnRoll),
                (2, RowReason::PupilNotOnRoll),
                (3, RowReason::PupilNotOnRoll)
            ]
        );
        assert_eq!(
            refused[0].2.message,
            format!(
                "{} is on the roll of 117001 from 2026-09-03 until 2026-11-13, not on 2026-11-16",
                upn(2)
            )
        );
        assert_eq!(
            refused[1].2.message,
            format!(
                "{} is on the roll of 117001 from 2026-09-03, not on 2026-09-02",
                upn(1)
            )
        );
        assert_eq!(
            refused[2].2.message,
            format!(
                "{} is not on the roll of 117001; push the roll (PUT /api/v1/schools/117001/pupils) first",
                upn(3)
            )
        );
        assert_eq!(refused[2].1, upn(3));
    }

    #[test]
    fn an_identical_repeat_is_kept_once_and_counted() {
        let (checked, refused) = check(&[
            sent(&upn(1), "2026-11-20", "AM", "/"),
            sent(&upn(1), "2026-11-20", "AM", "/"),
            sent(&upn(1), "2026-11-20", "AM", "/"),
        ]);
        assert!(refused.is_empty());
        assert_eq!((checked.marks.len(), checked.identical_repeats), (1, 2));
    }

    #[test]
    fn two_different_marks_for_one_session_are_both_refused_after_the_other_refusals() {
        // R1: the first of the pair was accepted when it was read; the second takes it back.
        let (checked, refused) = check(&[
            sent(&upn(1), "2026-11-20", "AM", "/"),
            sent(&upn(1), "2026-11-19", "AM", "/"),
            sent(&upn(1), "2026-11-20", "AM", "I"),
            sent(&upn(1), "2026-11-20", "PM", "i"),
            sent(&upn(1), "2026-11-20", "AM", "/"),
        ]);
        assert_eq!(
            reasons(&refused),
            [
                (3, RowReason::UnknownCode),
                (0, RowReason::DuplicateInPush),
                (2, RowReason::DuplicateInPush),
                (4, RowReason::DuplicateInPush)
            ]
        );
        assert_eq!(refused[1].2.field, "code");
        assert_eq!(
            refused[2].2.message,
            format!(
                "{} has different marks for 2026-11-20 AM in this push (this row: 'I'); send one",
                upn(1)
            )
        );
        let kept: Vec<NaiveDate> = checked.marks.iter().map(|m| m.mark_date).collect();
        assert_eq!(kept, [day("2026-11-19")]);
        assert_eq!(checked.identical_repeats, 0);
    }

    #[test]
    fn minutes_late_that_is_not_a_number_is_refused_before_anything_else() {
        let mut row = sent("not a upn", "2026-11-20", "AM", "L");
        row.minutes_late_text = Some("ten".into());
        let (checked, refused) = check(&[row]);
        assert!(checked.marks.is_empty());
        assert_eq!(refused[0].2.field, "minutes_late");
        assert_eq!(refused[0].2.reason, RowReason::InvalidMinutesLate);
        assert_eq!(
            refused[0].2.message,
            "minutes_late should be a whole number of minutes, not 'ten'"
        );
    }

    #[test]
    fn a_control_character_is_named_as_such() {
        let (_, refused) = check(&[sent(&upn(1), "2026-11-20", "A\u{7}M", "/")]);
        assert_eq!(reasons(&refused), [(0, RowReason::InvalidText)]);
        assert_eq!(refused[0].2.field, "session");
    }
}
