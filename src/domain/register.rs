//! One row of a register push, checked (RULES.md R1 codes, R1.3 minutes late, R6.1 UPN). Every
//! refusal names the field, a machine-readable reason (API.md "Registers") and a sentence.

use chrono::{Datelike, NaiveDate, Weekday};

use super::codes::{check_code_for_date, check_minutes_late, AttendanceCode, Session};
use super::identifiers::Upn;
use super::text::{first_control, TextKind};

/// Why a row of a push was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub field: &'static str,
    pub reason: &'static str,
    pub message: String,
}

impl RowProblem {
    pub fn new(field: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        RowProblem {
            field,
            reason,
            message: message.into(),
        }
    }
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
            "invalid_date",
            format!(
                "{field} should be a date like 2026-11-20, not '{}'",
                clip(text)
            ),
        )
    })
}

/// Exactly `YYYY-MM-DD` (ten characters, a real calendar date). Read directly rather than
/// through chrono's format parser, which walks its format string again for every mark of a
/// push.
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
/// of a pushed row is free text (issue 20).
pub fn control_problem<'t>(
    fields: impl IntoIterator<Item = (&'static str, &'t str)>,
) -> Option<RowProblem> {
    fields.into_iter().find_map(|(field, value)| {
        first_control(value, TextKind::SingleLine).map(|found| {
            RowProblem::new(
                field,
                "invalid_text",
                format!("{field} {}", found.message(TextKind::SingleLine)),
            )
        })
    })
}

/// Checks a mark against the rules that need only the row and today:
/// UPN (R6.1), date, session, code for that date (R1.1, R1.2), minutes late (R1.3), not in the
/// future, not on a weekend. Being on the school's roll is checked by [`covers`].
pub fn check_mark<'a>(row: &MarkRow<'a>, today: NaiveDate) -> Result<Mark<'a>, RowProblem> {
    // Every field of a mark is strict, so a control character always fails a check: it is looked
    // for only then, and a valid mark (a night brings hundreds of thousands) pays nothing for it.
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
    Upn::check(row.upn).map_err(|e| RowProblem::new("upn", "invalid_upn", e.to_string()))?;
    let date = parse_date("date", row.date)?;
    let session = Session::parse(row.session)
        .map_err(|e| RowProblem::new("session", "invalid_session", e.to_string()))?;
    let code = check_code_for_date(row.code, date)
        .map_err(|e| RowProblem::new("code", e.reason(), e.to_string()))?;
    let minutes_late = match row.minutes_late {
        None => None,
        Some(m) => Some(i32::try_from(m).map_err(|_| {
            RowProblem::new(
                "minutes_late",
                "invalid_minutes_late",
                format!("minutes_late should be 0 to 300, not {m}"),
            )
        })?),
    };
    check_minutes_late(code, minutes_late)
        .map_err(|m| RowProblem::new("minutes_late", "invalid_minutes_late", m))?;
    if date > today {
        return Err(RowProblem::new(
            "date",
            "date_in_future",
            format!("{date} is after today ({today}); registers record what happened"),
        ));
    }
    // Schools' own term dates differ (academies set theirs), so only weekends are refused here;
    // the LA calendar drives deadline counting (R3), not which marks a school may keep.
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return Err(RowProblem::new(
            "date",
            "not_a_school_day",
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
        check_mark(&r, day(TODAY)).unwrap_err().reason
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
                "invalid_date"
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
}
