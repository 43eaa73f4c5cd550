//! Which alerts should be open (RULES.md R2.2, R4.4, R5.1, R10.3, R11.4, R11.5, R12.1, R12.2, R15.2, R15.3, R16.1;
//! API.md "Attendance" `GET /alerts`). Pure: `service::alerts` compares what the rules want with
//! the stored alerts and writes the difference.
//!
//! An alert is identified by its kind, school, pupil and `subject` (the academic year for the
//! yearly kinds, the session for an `N`, the referral, the case and its review or gate), so the
//! same duty is never raised twice while it is open; when its cause goes (the `N` was replaced, a
//! correction took illness below the threshold, the review was held) it is resolved, with the
//! date and the reason.
//!
//! Every kind has one entry in the registry ([`AlertKind::rule`]): where its facts come from
//! ([`AlertScope`]) and its rule. A new kind is a variant, its rule over the facts of its scope,
//! and its line in the registry.

use std::cmp::Ordering;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;
use utoipa::ToSchema;

use super::attendance::{AttendancePolicy, SessionMark, UNAUTHORISED_NOTICE_SESSIONS};
use super::calendar::{AcademicYear, SchoolCalendar};
use super::codes::{AttendanceCode, Session};
use super::tally::{PupilTally, YearTally};

mod case;
mod part_time;
mod referral;

pub use case::{
    lesson_non_engagement, medical_evidence_due, register_code_mismatch, review_overdue,
    support_non_engagement, CaseClock, CaseFacts, CASE_REGISTER_CODES,
};
pub use part_time::{
    c2_alerts, part_time_review_overdue, part_time_timetable_prolonged, AgreementClock,
    AgreementSpan, C2Cover, C2Finding,
};
pub use referral::{assessment_overdue, ReferralFacts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
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
    /// R14.5: 3 consecutive ESMA lessons missed unauthorised, or lesson attendance below the
    /// policy's percentage over the last 10.
    LessonNonEngagement,
    /// R16.1: 20 unauthorised sessions in the academic year, or 20 in a row (10 school days).
    #[serde(rename = "unauthorised_absence_10_days")]
    UnauthorisedAbsence10Days,
    /// R15.3: `C2` sessions in the academic year that no agreement or case covers.
    #[serde(rename = "c2_without_agreement")]
    C2WithoutAgreement,
    /// R15.3: `C2` sessions after the (extended) end date of an agreement.
    PartTimeTimetableOverrun,
    /// R15.3: an agreement's review date passed with no review recorded.
    PartTimeReviewOverdue,
    /// R15.2: an agreement whose span with extensions exceeds the policy's school days.
    PartTimeTimetableProlonged,
}

impl AlertKind {
    pub const ALL: [AlertKind; 15] = [
        AlertKind::SicknessReturnDue,
        AlertKind::UnexplainedAbsenceOverdue,
        AlertKind::PersistentAbsence,
        AlertKind::SevereAbsence,
        AlertKind::AssessmentOverdue,
        AlertKind::ReviewOverdue,
        AlertKind::MedicalEvidenceDue,
        AlertKind::RegisterCodeMismatch,
        AlertKind::SupportNonEngagement,
        AlertKind::LessonNonEngagement,
        AlertKind::UnauthorisedAbsence10Days,
        AlertKind::C2WithoutAgreement,
        AlertKind::PartTimeTimetableOverrun,
        AlertKind::PartTimeReviewOverdue,
        AlertKind::PartTimeTimetableProlonged,
    ];

    /// The kinds computed from the register (what `esma-api recompute` reconciles).
    pub const FROM_REGISTER: [AlertKind; 7] = [
        AlertKind::SicknessReturnDue,
        AlertKind::UnexplainedAbsenceOverdue,
        AlertKind::PersistentAbsence,
        AlertKind::SevereAbsence,
        AlertKind::UnauthorisedAbsence10Days,
        AlertKind::C2WithoutAgreement,
        AlertKind::PartTimeTimetableOverrun,
    ];

    /// The register kinds of part-time timetables (R15.3), kept per pupil from the `C2`
    /// sessions rather than from the tally.
    pub const C2_KINDS: [AlertKind; 2] = [
        AlertKind::C2WithoutAgreement,
        AlertKind::PartTimeTimetableOverrun,
    ];

    /// The kinds about one agreement (R15.2, R15.3).
    pub const AGREEMENT_KINDS: [AlertKind; 2] = [
        AlertKind::PartTimeReviewOverdue,
        AlertKind::PartTimeTimetableProlonged,
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
            AlertKind::LessonNonEngagement => "lesson_non_engagement",
            AlertKind::UnauthorisedAbsence10Days => "unauthorised_absence_10_days",
            AlertKind::C2WithoutAgreement => "c2_without_agreement",
            AlertKind::PartTimeTimetableOverrun => "part_time_timetable_overrun",
            AlertKind::PartTimeReviewOverdue => "part_time_review_overdue",
            AlertKind::PartTimeTimetableProlonged => "part_time_timetable_prolonged",
        }
    }

    pub fn parse(text: &str) -> Option<AlertKind> {
        AlertKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// An attendance alert, computed from a school's register: the kinds a school may
    /// acknowledge for its own pupils (R16.3; the others, the agreement kinds among them, are
    /// the LA's to acknowledge).
    pub fn is_attendance(self) -> bool {
        AlertKind::FROM_REGISTER.contains(&self)
    }
}

/// Whose facts a kind of alert follows from, and so what keeps it up to date.
#[derive(Debug, Clone, Copy)]
pub enum AlertScope {
    /// A pupil's register at a school: every push applies the change its tally went through
    /// ([`pupil_alert_changes`], [`unexplained_change`]), per pupil, without reading the year
    /// again; `esma-api recompute` reconciles a school with [`register_alerts`].
    Register,
    /// An undecided referral: reconciled by the clock; its decision or withdrawal resolves it.
    Referral(fn(&ReferralFacts<'_>, NaiveDate) -> Option<WantedAlert>),
    /// An active case: reconciled by the clock and whenever the case is read; its exit
    /// resolves what is open.
    Case(fn(&CaseFacts<'_>, &CaseClock<'_>) -> Vec<WantedAlert>),
    /// A part-time timetable agreement: reconciled on every write of it (create, extend,
    /// review), and by the clock for the date-driven kinds (`part_time_review_overdue`).
    Agreement(
        fn(
            &crate::domain::part_time::PartTimeTimetable,
            &AgreementClock<'_>,
        ) -> Option<WantedAlert>,
    ),
}

/// How one kind of alert is kept.
#[derive(Debug, Clone, Copy)]
pub struct AlertRule {
    pub scope: AlertScope,
    /// When the cause is found to have begun on another day (a corrected older mark), the open
    /// alert's `since` moves with it; otherwise it stays as raised.
    pub since_follows_cause: bool,
    /// What a reconciliation records when the rule no longer wants an open alert; `None`: only
    /// the writes of its scope resolve it.
    pub when_gone: Option<&'static str>,
}

impl AlertKind {
    /// The registry: each kind's scope and rule.
    pub fn rule(self) -> AlertRule {
        const RECOMPUTED: &str = "not supported by the register when recomputed";
        let register = |since_follows_cause| AlertRule {
            scope: AlertScope::Register,
            since_follows_cause,
            when_gone: Some(RECOMPUTED),
        };
        let case = |rule, when_gone| AlertRule {
            scope: AlertScope::Case(rule),
            since_follows_cause: false,
            when_gone: Some(when_gone),
        };
        match self {
            AlertKind::SicknessReturnDue => register(true),
            AlertKind::UnexplainedAbsenceOverdue => register(false),
            AlertKind::PersistentAbsence => register(false),
            AlertKind::SevereAbsence => register(false),
            AlertKind::UnauthorisedAbsence10Days => register(true),
            // R15.3: kept on push for the pupils whose C2 sessions changed, and on every write
            // of their agreements; the first uncovered session is `since`.
            AlertKind::C2WithoutAgreement | AlertKind::PartTimeTimetableOverrun => AlertRule {
                scope: AlertScope::Register,
                since_follows_cause: true,
                when_gone: Some(
                    "every C2 session is covered by a part-time timetable or a case, or was corrected",
                ),
            },
            AlertKind::PartTimeReviewOverdue => AlertRule {
                scope: AlertScope::Agreement(part_time_review_overdue),
                since_follows_cause: true,
                when_gone: Some("the reviews were recorded"),
            },
            AlertKind::PartTimeTimetableProlonged => AlertRule {
                scope: AlertScope::Agreement(part_time_timetable_prolonged),
                since_follows_cause: false,
                when_gone: Some("the end date was brought within the policy's school days"),
            },
            AlertKind::AssessmentOverdue => AlertRule {
                scope: AlertScope::Referral(assessment_overdue),
                since_follows_cause: false,
                when_gone: None,
            },
            AlertKind::ReviewOverdue => {
                case(review_overdue, "the review was held, moved or cancelled")
            }
            AlertKind::MedicalEvidenceDue => {
                case(medical_evidence_due, "medical evidence was received")
            }
            AlertKind::RegisterCodeMismatch => {
                case(register_code_mismatch, "the C marks were corrected")
            }
            AlertKind::SupportNonEngagement => case(
                support_non_engagement,
                "fewer unauthorised sessions in the recent school days",
            ),
            AlertKind::LessonNonEngagement => case(
                lesson_non_engagement,
                "later lessons attended, or the lessons corrected",
            ),
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an alert's cause still holds, as the worklist shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Open,
    Resolved,
}

/// An alert as raised, and resolved if it has been.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: i64,
    pub kind: AlertKind,
    pub school_urn: i32,
    pub upn: String,
    pub academic_year: i32,
    pub subject: String,
    pub since: NaiveDate,
    pub raised_on: NaiveDate,
    pub resolved_on: Option<NaiveDate>,
    pub resolution: Option<String>,
    /// R16.3: who acknowledged it, when, with what note.
    pub acknowledgement: Option<Acknowledgement>,
}

/// An officer's acknowledgement of an alert (R16.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The client that acknowledged it.
    pub by: String,
    pub at: NaiveDateTime,
    pub note: String,
}

/// What acknowledging an alert does (R16.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledging {
    /// Recorded: the alert leaves the default worklist while it stays open.
    Record,
    /// Already acknowledged: the first acknowledgement stands (who, when and note unchanged), so
    /// a retried request is harmless.
    AlreadyAcknowledged,
    /// A resolved alert has nothing left to acknowledge (409); a re-raise is a new alert.
    Resolved,
}

impl Alert {
    pub fn state(&self) -> AlertState {
        match self.resolved_on {
            None => AlertState::Open,
            Some(_) => AlertState::Resolved,
        }
    }

    /// R16.3: what acknowledging this alert does.
    pub fn acknowledging(&self) -> Acknowledging {
        match (self.state(), &self.acknowledgement) {
            (AlertState::Resolved, _) => Acknowledging::Resolved,
            (AlertState::Open, Some(_)) => Acknowledging::AlreadyAcknowledged,
            (AlertState::Open, None) => Acknowledging::Record,
        }
    }

    /// Which alert it is.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            kind: self.kind,
            school_urn: self.school_urn,
            upn: self.upn.clone(),
            subject: self.subject.clone(),
        }
    }
}

/// Which alert: at most one is open for each key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlertKey {
    pub kind: AlertKind,
    pub school_urn: i32,
    pub upn: String,
    pub subject: String,
}

/// By the kind's name, then school, pupil and subject: the order alerts are raised in when a
/// reconciliation raises several, so their ids and the change feed follow it.
impl Ord for AlertKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (
            self.kind.as_str(),
            self.school_urn,
            &self.upn,
            &self.subject,
        )
            .cmp(&(
                other.kind.as_str(),
                other.school_urn,
                &other.upn,
                &other.subject,
            ))
    }
}

impl PartialOrd for AlertKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An alert a rule wants open, with what it is raised with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedAlert {
    pub key: AlertKey,
    pub year: AcademicYear,
    pub since: NaiveDate,
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

/// The subject of an alert about a part-time timetable agreement (R15.2, R15.3).
pub fn part_time_subject(timetable_id: i64) -> String {
    format!("part-time timetable {timetable_id}")
}

/// Parses a part-time timetable subject back.
pub fn part_time_subject_id(subject: &str) -> Option<i64> {
    subject.strip_prefix("part-time timetable ")?.parse().ok()
}

/// The subject of an alert about a referral (R10.3 `assessment_overdue`).
pub fn referral_subject_of(referral_id: i64) -> String {
    format!("referral {referral_id}")
}

/// Parses a referral subject back.
pub fn referral_subject(subject: &str) -> Option<i64> {
    subject.strip_prefix("referral ")?.parse().ok()
}

/// The subjects of case alerts: "case 7", "case 7 review 31", "case 7 gate 12 2027-02-09".
pub fn case_subject(case_id: i64, rest: &str) -> String {
    if rest.is_empty() {
        format!("case {case_id}")
    } else {
        format!("case {case_id} {rest}")
    }
}

/// The case an alert subject is about ("case 7" and "case 7 review 31": 7; "referral 7": none).
pub fn case_of_subject(subject: &str) -> Option<i64> {
    let id = subject
        .strip_prefix("case ")?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    is_about_case(subject, id).then_some(id)
}

/// Whether an alert subject is about case `case_id` ("case 7" covers "case 7" and
/// "case 7 review 31", not "case 70").
pub fn is_about_case(subject: &str, case_id: i64) -> bool {
    let case = case_subject(case_id, "");
    subject == case
        || subject
            .strip_prefix(&case)
            .is_some_and(|rest| rest.starts_with(' '))
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

    // R16.1: raised once a year, at the session that reached 20 unauthorised sessions in the
    // year or in a row; resolved when corrections take it below both.
    let notice_before = before.and_then(|t| t.unauthorised_notice_reached);
    let notice_after = after.and_then(|t| t.unauthorised_notice_reached);
    match (notice_before, notice_after) {
        (None, Some((date, _))) => changes.push(AlertChange::Raise {
            kind: AlertKind::UnauthorisedAbsence10Days,
            year,
            subject: year_subject(year),
            since: date,
        }),
        (Some(_), None) => {
            let sessions = after.map_or(0, |t| t.unauthorised_sessions());
            changes.push(AlertChange::Resolve {
                kind: AlertKind::UnauthorisedAbsence10Days,
                subject: year_subject(year),
                resolution: format!(
                    "a register correction left {sessions} unauthorised sessions in {year} and \
                     no run of {UNAUTHORISED_NOTICE_SESSIONS}, below the 10 days that make the \
                     notice due"
                ),
            });
        }
        (Some((was, _)), Some((now, _))) if was != now => changes.push(AlertChange::MoveSince {
            kind: AlertKind::UnauthorisedAbsence10Days,
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

/// The alert changes of a pupil whose tallies (every year of them) went from `before` to
/// `after`.
pub fn pupil_alert_changes(
    before: &PupilTally,
    after: &PupilTally,
    policy: &AttendancePolicy,
) -> Vec<AlertChange> {
    let years: std::collections::BTreeSet<AcademicYear> = before
        .years
        .iter()
        .chain(&after.years)
        .map(|t| t.year)
        .collect();
    years
        .into_iter()
        .flat_map(|year| year_alert_changes(year, before.year(year), after.year(year), policy))
        .collect()
}

/// The register alerts that should be open for a pupil at a school, from scratch: what the
/// changes from no marks at all to `tally` raise, and an `N` alert for each `N` in `marks` (it
/// is listed from the day it is overdue, R5.1). What a push keeps incrementally equals this.
pub fn register_alerts(
    school_urn: i32,
    upn: &str,
    tally: &PupilTally,
    marks: &[SessionMark],
    policy: &AttendancePolicy,
) -> Vec<WantedAlert> {
    let key = |kind, subject| AlertKey {
        kind,
        school_urn,
        upn: upn.to_owned(),
        subject,
    };
    let mut wanted = Vec::new();
    for change in pupil_alert_changes(&PupilTally::default(), tally, policy) {
        if let AlertChange::Raise {
            kind,
            year,
            subject,
            since,
        } = change
        {
            wanted.push(WantedAlert {
                key: key(kind, subject),
                year,
                since,
            });
        }
    }
    for mark in marks.iter().filter(|m| m.code == AttendanceCode::N) {
        wanted.push(WantedAlert {
            key: key(
                AlertKind::UnexplainedAbsenceOverdue,
                session_subject(mark.date, mark.session),
            ),
            year: AcademicYear::containing(mark.date),
            since: mark.date,
        });
    }
    wanted
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
    fn every_kind_has_its_rule_and_the_register_kinds_are_those_recompute_reconciles() {
        for kind in AlertKind::ALL {
            // The name on the wire is the stored one.
            assert_eq!(serde_json::json!(kind), kind.as_str());
            let rule = kind.rule();
            let from_register = matches!(rule.scope, AlertScope::Register);
            assert_eq!(
                from_register,
                AlertKind::FROM_REGISTER.contains(&kind),
                "{kind}"
            );
            // Only an alert whose writes resolve it may go without a resolution of its own.
            assert_eq!(
                rule.when_gone.is_none(),
                matches!(rule.scope, AlertScope::Referral(_)),
                "{kind}"
            );
        }
        assert!(AlertKind::SicknessReturnDue.rule().since_follows_cause);
        assert!(!AlertKind::PersistentAbsence.rule().since_follows_cause);
    }

    #[test]
    fn keys_order_by_the_kind_name_as_alerts_have_always_been_raised() {
        let key = |kind| AlertKey {
            kind,
            school_urn: 1,
            upn: "A".into(),
            subject: "case 1".into(),
        };
        let mut keys = [
            key(AlertKind::ReviewOverdue),
            key(AlertKind::SupportNonEngagement),
            key(AlertKind::MedicalEvidenceDue),
            key(AlertKind::RegisterCodeMismatch),
        ];
        keys.sort();
        let names: Vec<&str> = keys.iter().map(|k| k.kind.as_str()).collect();
        assert_eq!(
            names,
            [
                "medical_evidence_due",
                "register_code_mismatch",
                "review_overdue",
                "support_non_engagement"
            ]
        );
    }

    #[test]
    fn case_subjects_name_their_case_and_no_other() {
        assert_eq!(case_subject(7, ""), "case 7");
        assert_eq!(
            case_subject(7, "review 31 2026-12-01"),
            "case 7 review 31 2026-12-01"
        );
        assert!(is_about_case("case 7", 7));
        assert!(is_about_case("case 7 review 31 2026-12-01", 7));
        assert!(!is_about_case("case 70", 7));
        assert!(!is_about_case("case 70 gate 12 2027-02-09", 7));
        assert_eq!(case_of_subject("case 7 review 31 2026-12-01"), Some(7));
        assert_eq!(case_of_subject("case 70"), Some(70));
        assert_eq!(case_of_subject("case 7x"), None);
        assert_eq!(case_of_subject("referral 7"), None);
    }

    #[test]
    fn register_alerts_are_what_the_changes_from_nothing_raise_plus_each_n() {
        let policy = AttendancePolicy::default();
        let mut codes = vec!["/"; 18];
        codes.extend(["O", "N"]);
        let tally = tally_of(&codes);
        let marks = vec![
            SessionMark::new(date("2026-10-02"), Session::Pm, AttendanceCode::N),
            SessionMark::new(date("2026-10-02"), Session::Am, AttendanceCode::O),
        ];
        let pupil = PupilTally {
            years: vec![tally.clone()],
        };
        let wanted = register_alerts(117001, "A", &pupil, &marks, &policy);
        let kinds: Vec<(AlertKind, &str)> = wanted
            .iter()
            .map(|w| (w.key.kind, w.key.subject.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (AlertKind::PersistentAbsence, "2026-27"),
                (AlertKind::UnexplainedAbsenceOverdue, "2026-10-02 PM"),
            ]
        );
        assert_eq!(wanted[0].since, tally.latest.unwrap().0);
        assert_eq!(wanted[1].since, date("2026-10-02"));
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
