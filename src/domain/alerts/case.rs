//! The alerts of an active case (RULES.md R11.4, R11.5, R12.1, R12.2): given what is known of
//! the case as of a day, which should be open. One function per kind, each listed in the
//! registry ([`super::AlertKind::rule`]).

use chrono::{Days, NaiveDate};

use super::{case_subject, AlertKey, AlertKind, WantedAlert};
use crate::domain::attendance::SessionMark;
use crate::domain::calendar::{AcademicYear, SchoolCalendar};
use crate::domain::codes::AttendanceCode;
use crate::domain::lessons::{self, Lesson};
use crate::domain::policy::Policy;
use crate::domain::schedule::evidence_clock;

/// The register codes the case rules read: `C` (R12.1) and the unauthorised codes (R12.2).
pub const CASE_REGISTER_CODES: [AttendanceCode; 5] = [
    AttendanceCode::C,
    AttendanceCode::G,
    AttendanceCode::N,
    AttendanceCode::O,
    AttendanceCode::U,
];

/// What the case rules know of one active case.
#[derive(Debug, Clone, Copy)]
pub struct CaseFacts<'a> {
    pub case_id: i64,
    pub school_urn: i32,
    pub upn: &'a str,
    pub start_date: NaiveDate,
    /// Its scheduled reviews not held whose day is before today: (review id, scheduled for).
    pub reviews_past: &'a [(i64, NaiveDate)],
    /// The dates of the medical evidence stating the pupil is unable to attend: the
    /// referral's and what came after.
    pub evidence_dates: &'a [NaiveDate],
    /// The pupil's sessions at the case's school coded with one of [`CASE_REGISTER_CODES`], in
    /// register order, from the case start or earlier up to today.
    pub marks: &'a [SessionMark],
    /// Its ESMA lessons (R14.5), in any order.
    pub lessons: &'a [Lesson],
}

/// The day the case rules are applied on, and what they count with.
#[derive(Debug, Clone, Copy)]
pub struct CaseClock<'a> {
    pub today: NaiveDate,
    pub calendar: &'a SchoolCalendar,
    pub policy: &'a Policy,
    /// R12.2: the first of the last `non_engagement_school_days` school days up to today.
    non_engagement_from: NaiveDate,
}

impl<'a> CaseClock<'a> {
    pub fn new(today: NaiveDate, calendar: &'a SchoolCalendar, policy: &'a Policy) -> Self {
        let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
        CaseClock {
            today,
            calendar,
            policy,
            non_engagement_from: calendar
                .school_day_before(tomorrow, policy.support.non_engagement_school_days),
        }
    }
}

fn wanted(case: &CaseFacts<'_>, kind: AlertKind, rest: &str, since: NaiveDate) -> WantedAlert {
    WantedAlert {
        key: AlertKey {
            kind,
            school_urn: case.school_urn,
            upn: case.upn.to_owned(),
            subject: case_subject(case.case_id, rest),
        },
        year: AcademicYear::containing(since),
        since,
    }
}

/// The case's sessions from its start.
fn marks_since_start<'a>(case: &CaseFacts<'a>) -> impl Iterator<Item = &'a SessionMark> {
    let start = case.start_date;
    case.marks.iter().filter(move |m| m.date >= start)
}

/// R11.5: each review past its day and not held, overdue from the day after it.
pub fn review_overdue(case: &CaseFacts<'_>, _clock: &CaseClock<'_>) -> Vec<WantedAlert> {
    case.reviews_past
        .iter()
        .map(|(review_id, scheduled_for)| {
            wanted(
                case,
                AlertKind::ReviewOverdue,
                &format!("review {review_id} {scheduled_for}"),
                scheduled_for.succ_opt().unwrap_or(*scheduled_for),
            )
        })
        .collect()
}

/// R11.4: each evidence gate near or passed with no evidence that counts for it, from the day
/// it is due.
pub fn medical_evidence_due(case: &CaseFacts<'_>, clock: &CaseClock<'_>) -> Vec<WantedAlert> {
    evidence_clock(
        case.start_date,
        case.evidence_dates,
        clock.calendar,
        &clock.policy.schedule,
        clock.today,
    )
    .iter()
    .filter(|gate| gate.evidence_due)
    .map(|gate| {
        wanted(
            case,
            AlertKind::MedicalEvidenceDue,
            &format!("gate {} {}", gate.school_weeks, gate.gate_on),
            gate.evidence_due_from,
        )
    })
    .collect()
}

/// R12.1: a session coded `C` since the start (it should be the support code), from the first.
pub fn register_code_mismatch(case: &CaseFacts<'_>, _clock: &CaseClock<'_>) -> Vec<WantedAlert> {
    marks_since_start(case)
        .find(|m| m.code == AttendanceCode::C)
        .map(|first| wanted(case, AlertKind::RegisterCodeMismatch, "", first.date))
        .into_iter()
        .collect()
}

/// R12.2: `non_engagement_sessions` or more unauthorised sessions since the start within the
/// last `non_engagement_school_days` school days, from the first of them.
pub fn support_non_engagement(case: &CaseFacts<'_>, clock: &CaseClock<'_>) -> Vec<WantedAlert> {
    let unauthorised: Vec<&SessionMark> = marks_since_start(case)
        .filter(|m| m.code != AttendanceCode::C && m.date >= clock.non_engagement_from)
        .collect();
    let enough =
        usize::try_from(clock.policy.support.non_engagement_sessions).unwrap_or(usize::MAX);
    if unauthorised.len() < enough {
        return Vec::new();
    }
    vec![wanted(
        case,
        AlertKind::SupportNonEngagement,
        "",
        unauthorised[0].date,
    )]
}

/// R14.5: the case's lessons show non-engagement (`domain::lessons::lesson_non_engagement`).
pub fn lesson_non_engagement(case: &CaseFacts<'_>, clock: &CaseClock<'_>) -> Vec<WantedAlert> {
    let percent = clock.policy.support.lesson_attendance_alert_percent;
    lessons::lesson_non_engagement(case.lessons, f64::from(percent))
        .map(|since| wanted(case, AlertKind::LessonNonEngagement, "", since))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::codes::Session;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn mark(day: &str, session: Session, code: AttendanceCode) -> SessionMark {
        SessionMark::new(date(day), session, code)
    }

    fn case<'a>(
        reviews: &'a [(i64, NaiveDate)],
        evidence: &'a [NaiveDate],
        marks: &'a [SessionMark],
    ) -> CaseFacts<'a> {
        CaseFacts {
            case_id: 7,
            school_urn: 117001,
            upn: "H801200001001",
            start_date: date("2026-11-02"),
            reviews_past: reviews,
            evidence_dates: evidence,
            marks,
            lessons: &[],
        }
    }

    fn subjects(wanted: &[WantedAlert]) -> Vec<(&str, NaiveDate)> {
        wanted
            .iter()
            .map(|w| (w.key.subject.as_str(), w.since))
            .collect()
    }

    #[test]
    fn r11_5_a_review_not_held_is_overdue_from_the_day_after() {
        let policy = Policy::hertfordshire();
        let calendar = SchoolCalendar::empty();
        let clock = CaseClock::new(date("2026-12-20"), &calendar, &policy);
        let reviews = [(31, date("2026-12-14"))];
        let wanted = review_overdue(&case(&reviews, &[], &[]), &clock);
        assert_eq!(
            subjects(&wanted),
            [("case 7 review 31 2026-12-14", date("2026-12-15"))]
        );
        assert_eq!(wanted[0].key.kind, AlertKind::ReviewOverdue);
        assert_eq!(wanted[0].year, AcademicYear::new(2026));
        assert!(review_overdue(&case(&[], &[], &[]), &clock).is_empty());
    }

    #[test]
    fn r11_4_evidence_is_due_before_the_twelve_week_gate_unless_it_came_after_the_start() {
        let policy = Policy::hertfordshire();
        let calendar = SchoolCalendar::empty();
        // With no calendar the 12-week gate of a case started Monday 2 November 2026 is Monday
        // 25 January 2027, and evidence is due from 10 school days before it.
        let clock = CaseClock::new(date("2027-01-20"), &calendar, &policy);
        let wanted = medical_evidence_due(&case(&[], &[date("2026-10-01")], &[]), &clock);
        assert_eq!(wanted.len(), 1, "{wanted:?}");
        assert!(wanted[0].key.subject.starts_with("case 7 gate 12 "));
        assert!(medical_evidence_due(&case(&[], &[date("2026-11-20")], &[]), &clock).is_empty());
        // Long before the gate nothing is due.
        let early = CaseClock::new(date("2026-11-10"), &calendar, &policy);
        assert!(medical_evidence_due(&case(&[], &[], &[]), &early).is_empty());
    }

    #[test]
    fn r12_1_a_c_after_the_start_raises_a_mismatch_from_the_first() {
        let policy = Policy::hertfordshire();
        let calendar = SchoolCalendar::empty();
        let clock = CaseClock::new(date("2026-11-20"), &calendar, &policy);
        let marks = [
            mark("2026-10-30", Session::Am, AttendanceCode::C),
            mark("2026-11-04", Session::Pm, AttendanceCode::C),
            mark("2026-11-05", Session::Am, AttendanceCode::C),
        ];
        assert_eq!(
            subjects(&register_code_mismatch(&case(&[], &[], &marks), &clock)),
            [("case 7", date("2026-11-04"))]
        );
        // A C before the start is not the case's.
        assert!(register_code_mismatch(&case(&[], &[], &marks[..1]), &clock).is_empty());
    }

    #[test]
    fn r12_2_six_unauthorised_sessions_in_the_last_ten_school_days_raise_non_engagement() {
        let policy = Policy::hertfordshire();
        let calendar = SchoolCalendar::empty();
        // Friday 20 November: the last 10 school days are 9 to 20 November.
        let clock = CaseClock::new(date("2026-11-20"), &calendar, &policy);
        let mut marks = vec![
            mark("2026-11-06", Session::Am, AttendanceCode::O),
            mark("2026-11-10", Session::Am, AttendanceCode::C),
        ];
        for day in ["2026-11-16", "2026-11-17", "2026-11-18"] {
            marks.push(mark(day, Session::Am, AttendanceCode::O));
            marks.push(mark(day, Session::Pm, AttendanceCode::U));
        }
        assert_eq!(
            subjects(&support_non_engagement(&case(&[], &[], &marks), &clock)),
            [("case 7", date("2026-11-16"))]
        );
        // Five are not enough (the O of 6 November is outside the window; C does not count).
        assert!(support_non_engagement(&case(&[], &[], &marks[..7]), &clock).is_empty());
    }
}
