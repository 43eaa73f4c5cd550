//! Which statutory alerts a change to the register raises or resolves (RULES.md R2.2, R4.4,
//! R5.1; API.md "Attendance" `GET /alerts`). Pure: the caller stores the result.
//!
//! An alert is identified by its kind, school, pupil and `subject` (the academic year for the
//! yearly kinds, the session for an `N`), so the same duty is never raised twice while it is
//! open; when its cause goes (the `N` was replaced, a correction took illness below the
//! threshold) it is resolved, with the date and the reason.

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

use super::attendance::AttendancePolicy;
use super::calendar::{AcademicYear, SchoolCalendar};
use super::codes::{AttendanceCode, Session};
use super::tally::YearTally;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// R4.4: cumulative illness in the year reached the sickness-return threshold (15 days).
    SicknessReturnDue,
    /// R5.1: an `N` still unexplained more than 5 school days after its session.
    UnexplainedAbsenceOverdue,
    /// R2.2: absence of 10% or more of possible sessions in the year to date.
    PersistentAbsence,
    /// R2.2: absence of 50% or more of possible sessions in the year to date.
    SevereAbsence,
    /// R10.3: a referral still undecided after its assessment deadline.
    AssessmentOverdue,
    /// R11.5: a review past its date and not held.
    ReviewOverdue,
    /// R11.4: an evidence gate is near and no evidence counts for it.
    MedicalEvidenceDue,
    /// R12.1: `C` recorded for a pupil whose case is active (should be `C2`).
    RegisterCodeMismatch,
    /// R12.2: 6 or more unauthorised sessions in the last 10 school days of an active case.
    SupportNonEngagement,
}

impl AlertKind {
    pub const ALL: [AlertKind; 9] = [
        AlertKind::SicknessReturnDue,
        AlertKind::UnexplainedAbsenceOverdue,
        AlertKind::PersistentAbsence,
        AlertKind::SevereAbsence,
        AlertKind::AssessmentOverdue,
        AlertKind::ReviewOverdue,
        AlertKind::MedicalEvidenceDue,
        AlertKind::RegisterCodeMismatch,
        AlertKind::SupportNonEngagement,
    ];

    /// The kinds computed from the register (what `esma-api recompute` reconciles).
    pub const FROM_REGISTER: [AlertKind; 4] = [
        AlertKind::SicknessReturnDue,
        AlertKind::UnexplainedAbsenceOverdue,
        AlertKind::PersistentAbsence,
        AlertKind::SevereAbsence,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::SicknessReturnDue => "sickness_return_due",
            AlertKind::UnexplainedAbsenceOverdue => "unexplained_absence_overdue",
            AlertKind::PersistentAbsence => "persistent_absence",
            AlertKind::SevereAbsence => "severe_absence",
            AlertKind::AssessmentOverdue => "assessment_overdue",
            AlertKind::ReviewOverdue => "review_overdue",
            AlertKind::MedicalEvidenceDue => "medical_evidence_due",
            AlertKind::RegisterCodeMismatch => "register_code_mismatch",
            AlertKind::SupportNonEngagement => "support_non_engagement",
        }
    }

    pub fn parse(text: &str) -> Option<AlertKind> {
        AlertKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do to the stored alerts of one pupil at one school.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    Raise {
        kind: AlertKind,
        year: AcademicYear,
        subject: String,
        since: NaiveDate,
    },
    Resolve {
        kind: AlertKind,
        subject: String,
        resolution: String,
    },
    /// The cause is still there but began on another day (a corrected older mark).
    MoveSince {
        kind: AlertKind,
        subject: String,
        since: NaiveDate,
    },
}

/// The subject of an alert about a pupil's academic year.
pub fn year_subject(year: AcademicYear) -> String {
    year.to_string()
}

/// The subject of an alert about one session.
pub fn session_subject(date: NaiveDate, session: Session) -> String {
    format!("{date} {session}")
}

/// Parses a session subject back (`2026-11-13 AM`).
pub fn parse_session_subject(subject: &str) -> Option<(NaiveDate, Session)> {
    let (date, session) = subject.split_once(' ')?;
    Some((
        NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?,
        Session::parse(session).ok()?,
    ))
}

/// The subject of an alert about a referral (R10.3 `assessment_overdue`).
pub fn referral_subject_of(referral_id: i64) -> String {
    format!("referral {referral_id}")
}

/// Parses a referral subject back.
pub fn referral_subject(subject: &str) -> Option<i64> {
    subject.strip_prefix("referral ")?.parse().ok()
}

/// The R2.2 and R4.4 alerts that follow from a pupil's tally for one year going from `before` to
/// `after` (either may be missing: no marks that year).
pub fn year_alert_changes(
    year: AcademicYear,
    before: Option<&YearTally>,
    after: Option<&YearTally>,
    policy: &AttendancePolicy,
) -> Vec<AlertChange> {
    let mut changes = Vec::new();
    // Most pushes change no alert: the subject is only written out when one does.

    // R4.4: raised once a year, at the session that reached the threshold.
    let reached_before = before.and_then(|t| t.sickness_return_reached);
    let reached_after = after.and_then(|t| t.sickness_return_reached);
    match (reached_before, reached_after) {
        (None, Some((date, _))) => changes.push(AlertChange::Raise {
            kind: AlertKind::SicknessReturnDue,
            year,
            subject: year_subject(year),
            since: date,
        }),
        (Some(_), None) => {
            let days = after.map_or(0.0, |t| t.illness_days(policy));
            changes.push(AlertChange::Resolve {
                kind: AlertKind::SicknessReturnDue,
                subject: year_subject(year),
                resolution: format!(
                    "a register correction left {days} illness days in {year}, below the {} that \
                     make a sickness return due",
                    policy.sickness_return_days
                ),
            });
        }
        (Some((was, _)), Some((now, _))) if was != now => changes.push(AlertChange::MoveSince {
            kind: AlertKind::SicknessReturnDue,
            subject: year_subject(year),
            since: now,
        }),
        _ => {}
    }

    // R2.2: the flags over the year to date, raised from the latest session that set them.
    let min = policy.min_possible_sessions_for_flags;
    let flags_before = before.map_or((false, false), |t| t.counts.absence_flags(min));
    let flags_after = after.map_or((false, false), |t| t.counts.absence_flags(min));
    let latest_after = after.and_then(|t| t.latest).map(|(date, _)| date);
    for (kind, threshold, was, is) in [
        (
            AlertKind::PersistentAbsence,
            10,
            flags_before.0,
            flags_after.0,
        ),
        (AlertKind::SevereAbsence, 50, flags_before.1, flags_after.1),
    ] {
        match (was, is, latest_after) {
            (false, true, Some(since)) => changes.push(AlertChange::Raise {
                kind,
                year,
                subject: year_subject(year),
                since,
            }),
            (true, false, _) => {
                let rate = after.map_or(0.0, |t| t.measures(policy).absence_rate);
                changes.push(AlertChange::Resolve {
                    kind,
                    subject: year_subject(year),
                    resolution: format!(
                        "absence in {year} is now {rate}% of possible sessions, below {threshold}%"
                    ),
                });
            }
            _ => {}
        }
    }
    changes
}

/// R5.1: the alert change for one mark going from `old` (none: a new session) to `new`. An `N`
/// is recorded at once and listed from the day it is overdue; replacing it resolves it.
pub fn unexplained_change(
    date: NaiveDate,
    session: Session,
    old: Option<AttendanceCode>,
    new: AttendanceCode,
) -> Option<AlertChange> {
    match (old == Some(AttendanceCode::N), new == AttendanceCode::N) {
        (false, true) => Some(AlertChange::Raise {
            kind: AlertKind::UnexplainedAbsenceOverdue,
            year: AcademicYear::containing(date),
            subject: session_subject(date, session),
            since: date,
        }),
        (true, false) => Some(AlertChange::Resolve {
            kind: AlertKind::UnexplainedAbsenceOverdue,
            subject: session_subject(date, session),
            resolution: format!("the N was replaced by {}", new.as_str()),
        }),
        _ => None,
    }
}

/// The day before which an open `N` is overdue as of `today` (R5.1, R3.3): an `N` on `date` is
/// overdue when more than `after_school_days` school days lie in (`date`, `today`], that is
/// exactly when `date` is before the (`after_school_days` + 1)th school day counted back from
/// `today` (today included when it is a school day). Lets the worklist select overdue marks with
/// one comparison, against the calendar as it is when asked.
pub fn unexplained_overdue_before(
    today: NaiveDate,
    calendar: &SchoolCalendar,
    after_school_days: u32,
) -> NaiveDate {
    let latest = calendar.previous_school_day_on_or_before(today);
    calendar.school_day_before(latest, after_school_days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attendance::{overdue_unexplained, SessionMark};
    use crate::domain::calendar::hertfordshire_2026_27;
    use crate::domain::tally::PupilTally;
    use chrono::Days;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn rules_example_r5_1_overdue_cut_off_with_no_calendar() {
        // Today Monday 2026-11-23: an N of Friday 13 is overdue, one of Monday 16 is not.
        let cut = unexplained_overdue_before(date("2026-11-23"), &SchoolCalendar::empty(), 5);
        assert!(date("2026-11-13") < cut);
        assert!(date("2026-11-16") >= cut);
    }

    #[test]
    fn overdue_cut_off_agrees_with_the_rule_every_day_of_the_year() {
        let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
        let start = date("2026-09-01");
        for today_offset in 0..300u64 {
            let today = start + Days::new(today_offset);
            let cut = unexplained_overdue_before(today, &calendar, 5);
            for mark_offset in 0..=today_offset {
                let day = start + Days::new(mark_offset);
                let mark = SessionMark::new(day, Session::Am, AttendanceCode::N);
                let overdue = !overdue_unexplained(&[mark], today, &calendar, 5).is_empty();
                assert_eq!(day < cut, overdue, "N of {day} as of {today}");
            }
        }
    }

    #[test]
    fn replacing_an_n_resolves_and_a_new_n_raises() {
        let d = date("2026-11-13");
        assert!(matches!(
            unexplained_change(d, Session::Am, None, AttendanceCode::N),
            Some(AlertChange::Raise { .. })
        ));
        match unexplained_change(d, Session::Am, Some(AttendanceCode::N), AttendanceCode::O) {
            Some(AlertChange::Resolve { resolution, .. }) => {
                assert_eq!(resolution, "the N was replaced by O")
            }
            other => panic!("expected a resolution, got {other:?}"),
        }
        assert_eq!(
            unexplained_change(d, Session::Am, Some(AttendanceCode::N), AttendanceCode::N),
            None
        );
        assert_eq!(
            unexplained_change(d, Session::Am, Some(AttendanceCode::I), AttendanceCode::M),
            None
        );
        assert_eq!(
            parse_session_subject(&session_subject(d, Session::Pm)),
            Some((d, Session::Pm))
        );
    }

    fn tally_of(codes: &[&str]) -> YearTally {
        let mut day = date("2026-09-07");
        let mut marks = Vec::new();
        for pair in codes.chunks(2) {
            for (code, session) in pair.iter().zip([Session::Am, Session::Pm]) {
                marks.push(SessionMark::new(
                    day,
                    session,
                    AttendanceCode::parse(code).unwrap(),
                ));
            }
            day = day + Days::new(1);
            while day.format("%a").to_string().starts_with('S') {
                day = day + Days::new(1);
            }
        }
        PupilTally::from_register(&marks, &AttendancePolicy::default()).years[0].clone()
    }

    #[test]
    fn persistent_absence_raised_at_exactly_ten_percent_and_resolved_below() {
        let policy = AttendancePolicy::default();
        let year = AcademicYear::new(2026);
        // 20 possible sessions, 2 absent: exactly 10%.
        let mut codes = vec!["/"; 18];
        codes.extend(["O", "O"]);
        let flagged = tally_of(&codes);
        let changes = year_alert_changes(year, None, Some(&flagged), &policy);
        assert_eq!(changes.len(), 1);
        assert!(matches!(
            &changes[0],
            AlertChange::Raise { kind: AlertKind::PersistentAbsence, since, .. } if *since == flagged.latest.unwrap().0
        ));
        let mut better = codes.clone();
        better.extend(["/", "/"]);
        let below = tally_of(&better);
        let changes = year_alert_changes(year, Some(&flagged), Some(&below), &policy);
        assert!(matches!(
            &changes[..],
            [AlertChange::Resolve { kind: AlertKind::PersistentAbsence, resolution, .. }]
                if resolution == "absence in 2026-27 is now 9.1% of possible sessions, below 10%"
        ));
        // Nothing changes when the flag stays as it was.
        assert!(year_alert_changes(year, Some(&flagged), Some(&flagged), &policy).is_empty());
    }

    #[test]
    fn severe_absence_at_exactly_half_and_no_flags_under_twenty_sessions() {
        let policy = AttendancePolicy::default();
        let year = AcademicYear::new(2026);
        let mut codes = vec!["/"; 10];
        codes.extend(vec!["I"; 10]);
        let kinds: Vec<AlertKind> =
            year_alert_changes(year, None, Some(&tally_of(&codes)), &policy)
                .into_iter()
                .map(|c| match c {
                    AlertChange::Raise { kind, .. } => kind,
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
        assert_eq!(
            kinds,
            vec![AlertKind::PersistentAbsence, AlertKind::SevereAbsence]
        );
        let few = tally_of(&["I"; 18]);
        assert!(year_alert_changes(year, None, Some(&few), &policy).is_empty());
    }

    #[test]
    fn sickness_return_raised_at_exactly_fifteen_days_once() {
        let policy = AttendancePolicy::default();
        let year = AcademicYear::new(2026);
        let fourteen_and_a_half = tally_of(&["I"; 29]);
        assert!(
            year_alert_changes(year, None, Some(&fourteen_and_a_half), &policy)
                .iter()
                .all(|c| !matches!(
                    c,
                    AlertChange::Raise {
                        kind: AlertKind::SicknessReturnDue,
                        ..
                    }
                ))
        );
        let fifteen = tally_of(&["I"; 30]);
        let raised: Vec<_> =
            year_alert_changes(year, Some(&fourteen_and_a_half), Some(&fifteen), &policy)
                .into_iter()
                .filter(|c| {
                    matches!(
                        c,
                        AlertChange::Raise {
                            kind: AlertKind::SicknessReturnDue,
                            ..
                        }
                    )
                })
                .collect();
        assert_eq!(raised.len(), 1);
        let sixteen = tally_of(&["I"; 32]);
        assert!(
            year_alert_changes(year, Some(&fifteen), Some(&sixteen), &policy)
                .iter()
                .all(|c| !matches!(
                    c,
                    AlertChange::Raise {
                        kind: AlertKind::SicknessReturnDue,
                        ..
                    }
                ))
        );
    }
}
