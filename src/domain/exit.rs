//! Exit decisions (RULES.md R13; seed 004 "The ESMA Teaching Service Exit Criteria"): what each
//! reason needs, whether re-referral is open afterwards, and the register code to use from then.

use crate::domain::lessons::{self, Lesson, LessonAttendance, Subject};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::age::CompulsorySchoolAge;
use super::attendance::SessionMark;
use super::codes::{AttendanceCode, Session};
use super::eligibility::long_date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Reintegrated,
    TransferredSchool,
    TooUnwell,
    NonAttendance,
    RefusesHealthServices,
    MovedOutOfArea,
    UnsafeBehaviour,
    NoLongerCompulsorySchoolAge,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Reintegrated => "reintegrated",
            ExitReason::TransferredSchool => "transferred_school",
            ExitReason::TooUnwell => "too_unwell",
            ExitReason::NonAttendance => "non_attendance",
            ExitReason::RefusesHealthServices => "refuses_health_services",
            ExitReason::MovedOutOfArea => "moved_out_of_area",
            ExitReason::UnsafeBehaviour => "unsafe_behaviour",
            ExitReason::NoLongerCompulsorySchoolAge => "no_longer_compulsory_school_age",
        }
    }

    pub fn parse(text: &str) -> Option<ExitReason> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    fn needs_notes(self) -> bool {
        matches!(
            self,
            ExitReason::TooUnwell
                | ExitReason::NonAttendance
                | ExitReason::RefusesHealthServices
                | ExitReason::UnsafeBehaviour
        )
    }
}

/// `POST /api/v1/cases/{id}/exit` (API.md "Cases").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExitRequest {
    pub reason: ExitReason,
    #[schema(example = "2027-02-12")]
    pub effective_date: NaiveDate,
    /// Needed for too_unwell, non_attendance, refuses_health_services, unsafe_behaviour.
    #[validate(length(max = 5000, message = "should be at most 5000 characters"))]
    #[schema(max_length = 5000)]
    pub notes: Option<String>,
    /// transferred_school: the new school (6 digits, not the current one).
    #[schema(minimum = 100000, maximum = 999999)]
    pub new_school_urn: Option<i32>,
    /// moved_out_of_area: the new LA (not this one).
    #[schema(minimum = 100, maximum = 999)]
    pub new_la_code: Option<u16>,
    #[validate(length(min = 1, max = 200, message = "say who decided (1 to 200 characters)"))]
    #[schema(min_length = 1, max_length = 200, example = "J. Smith, ESMA panel")]
    pub decided_by: String,
}

/// What the case needs to be checked against.
pub struct CaseFacts {
    pub start_date: NaiveDate,
    pub school_urn: i32,
    pub date_of_birth: NaiveDate,
    pub la_code: u16,
}

/// RULES.md R13: the problems with an exit, as JSON Pointers and messages (empty: it can be
/// recorded).
pub fn exit_problems(exit: &ExitRequest, case: &CaseFacts) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut problem =
        |pointer: &str, message: String| problems.push((pointer.to_string(), message));
    if exit.decided_by.trim().is_empty() {
        problem("/decided_by", "say who decided".to_string());
    }
    if exit.effective_date < case.start_date {
        problem(
            "/effective_date",
            format!(
                "the exit cannot take effect before the case started ({})",
                case.start_date
            ),
        );
    }
    let reason = exit.reason.as_str();
    if exit.reason.needs_notes() && exit.notes.as_deref().is_none_or(|n| n.trim().is_empty()) {
        problem(
            "/notes",
            format!("an exit for {reason} needs notes saying why"),
        );
    }
    match exit.reason {
        ExitReason::TransferredSchool => match exit.new_school_urn {
            None => problem("/new_school_urn", "give the new school's URN".to_string()),
            Some(urn) if !(100_000..=999_999).contains(&urn) => {
                problem("/new_school_urn", format!("{urn} is not a six-digit URN"))
            }
            Some(urn) if urn == case.school_urn => problem(
                "/new_school_urn",
                format!("{urn} is the school the pupil is already at"),
            ),
            Some(_) => {}
        },
        ExitReason::MovedOutOfArea => match exit.new_la_code {
            None => problem(
                "/new_la_code",
                "give the LA the family moved to".to_string(),
            ),
            Some(code) if !(100..=999).contains(&code) => problem(
                "/new_la_code",
                format!("{code} is not a three-digit LA number"),
            ),
            Some(code) if code == case.la_code => problem(
                "/new_la_code",
                format!("{code} is this LA; moving within it is not moving out of area"),
            ),
            Some(_) => {}
        },
        ExitReason::NoLongerCompulsorySchoolAge => {
            // R13: on or after the end of compulsory school age (R7.1: its last Friday in June).
            let ends = CompulsorySchoolAge::of(case.date_of_birth).ends;
            if exit.effective_date < ends {
                problem(
                    "/effective_date",
                    format!(
                        "the pupil's compulsory school age ends on {} ({}); the exit can take effect on or after that day",
                        long_date(ends),
                        ends
                    ),
                );
            }
        }
        _ => {}
    }
    if exit.reason != ExitReason::TransferredSchool && exit.new_school_urn.is_some() {
        problem(
            "/new_school_urn",
            format!("only a transfer has a new school, not {reason}"),
        );
    }
    if exit.reason != ExitReason::MovedOutOfArea && exit.new_la_code.is_some() {
        problem(
            "/new_la_code",
            format!("only a move out of area has a new LA, not {reason}"),
        );
    }
    problems
}

/// The unauthorised codes of R12.2 (`G`, `N`, `O`, `U`): the register's evidence of
/// non-attendance during support.
pub const UNAUTHORISED_DURING_SUPPORT: [AttendanceCode; 4] = [
    AttendanceCode::G,
    AttendanceCode::N,
    AttendanceCode::O,
    AttendanceCode::U,
];

/// One session of the register behind an exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterSession {
    #[schema(example = "2027-02-08")]
    pub date: NaiveDate,
    pub session: Session,
    #[schema(example = "O")]
    pub code: String,
}

/// R13 `non_attendance` ("register facts attached"): what the case's school's register shows
/// from the case start to the effective date, stored with the exit decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterFacts {
    /// The case start.
    pub from: NaiveDate,
    /// The effective date (or the day of the decision, if that is earlier).
    pub to: NaiveDate,
    /// Sessions the school recorded in that period, with any code.
    pub marked_sessions: usize,
    /// How many of them were unauthorised absence (G, N, O, U; RULES.md R12.2).
    pub unauthorised_sessions: usize,
    /// Those sessions, by date.
    pub unauthorised: Vec<RegisterSession>,
    /// The ESMA lessons of the case `absent_unauthorised` in that period (R13.2 as amended by
    /// R14: ESMA's own evidence beside the school's register), by date and start time. Absent
    /// from facts stored before lessons were recorded.
    #[serde(default)]
    pub unauthorised_lessons: Vec<LessonFact>,
}

/// An ESMA lesson missed unauthorised, as evidence for a `non_attendance` exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LessonFact {
    pub date: NaiveDate,
    #[schema(example = "10:30")]
    pub start_time: String,
    pub subject: Subject,
}

/// R13.2 as amended: the case's lessons `absent_unauthorised` between the facts' dates, attached.
pub fn with_lessons(mut facts: RegisterFacts, lessons: &[Lesson]) -> RegisterFacts {
    facts.unauthorised_lessons = lessons::in_order(lessons)
        .into_iter()
        .filter(|l| {
            l.attendance == LessonAttendance::AbsentUnauthorised
                && facts.from <= l.date
                && l.date <= facts.to
        })
        .map(|l| LessonFact {
            date: l.date,
            start_time: l.start_time.clone(),
            subject: l.subject,
        })
        .collect();
    facts
}

/// R13: the register facts of a `non_attendance` exit from the marks of `from..=to`.
pub fn non_attendance_facts(
    marks: &[SessionMark],
    from: NaiveDate,
    to: NaiveDate,
) -> RegisterFacts {
    let in_range: Vec<&SessionMark> = marks
        .iter()
        .filter(|m| from <= m.date && m.date <= to)
        .collect();
    let mut unauthorised: Vec<RegisterSession> = in_range
        .iter()
        .filter(|m| UNAUTHORISED_DURING_SUPPORT.contains(&m.code))
        .map(|m| RegisterSession {
            date: m.date,
            session: m.session,
            code: m.code.as_str().to_string(),
        })
        .collect();
    unauthorised.sort_by(|a, b| (a.date, &a.session).cmp(&(b.date, &b.session)));
    RegisterFacts {
        from,
        to,
        marked_sessions: in_range.len(),
        unauthorised_sessions: unauthorised.len(),
        unauthorised,
        unauthorised_lessons: Vec::new(),
    }
}

/// R13.2 (as amended with R14): a `non_attendance` exit is the LA's decision on its own
/// evidence and is never refused for want of register evidence; when neither the register nor
/// the ESMA lessons show unauthorised absence, the answer warns that nothing supports it.
pub fn non_attendance_warning(facts: &RegisterFacts) -> Option<String> {
    (facts.unauthorised_sessions == 0 && facts.unauthorised_lessons.is_empty()).then(|| {
        format!(
            "neither the register ({} sessions recorded) nor the ESMA lessons show unauthorised absence between the case start ({}) and {}; the exit is recorded on the LA's own evidence",
            facts.marked_sessions, facts.from, facts.to
        )
    })
}

/// Whether the pupil can be referred again after this exit (R13 table; R10.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReReferral {
    pub open: bool,
    pub note: String,
}

pub fn re_referral(reason: ExitReason) -> ReReferral {
    let (open, note) = match reason {
        ExitReason::TooUnwell => (true, "Re-referral is open: the school can refer again when the pupil is well enough to engage."),
        ExitReason::MovedOutOfArea => (false, "No re-referral while the family lives outside the LA; the new home LA is responsible."),
        ExitReason::NoLongerCompulsorySchoolAge => (false, "No re-referral: the pupil is past compulsory school age."),
        _ => (true, "A new referral can be made if the pupil's health needs return."),
    };
    ReReferral {
        open,
        note: note.to_string(),
    }
}

/// The register code guidance from a date (R12.1, R12.3): during support, the policy's support
/// code with its DfE meaning (`C2` is leave for a part-time timetable, not education off site:
/// that is `K`); after an exit, the normal codes again.
pub fn register_code_guidance(
    active: bool,
    support_code: AttendanceCode,
    from: NaiveDate,
) -> String {
    let code = support_code.as_str();
    if active {
        format!(
            "Record the sessions ESMA provides as {code} ({}), not C: the school amends C to {code} for the time ESMA supports the pupil's education.",
            support_code.description()
        )
    } else {
        format!(
            "From {} record the pupil's sessions with the normal codes again (present, or the reason for absence); {code} no longer applies.",
            long_date(from)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn case() -> CaseFacts {
        CaseFacts {
            start_date: d("2026-11-30"),
            school_urn: 117001,
            date_of_birth: d("2010-08-31"),
            la_code: 919,
        }
    }

    fn exit(reason: ExitReason) -> ExitRequest {
        ExitRequest {
            reason,
            effective_date: d("2027-02-12"),
            notes: None,
            new_school_urn: None,
            new_la_code: None,
            decided_by: "J. Smith".into(),
        }
    }

    fn pointers(e: &ExitRequest) -> Vec<String> {
        exit_problems(e, &case())
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    #[test]
    fn every_reason_with_and_without_its_facts() {
        // Reintegrated: the effective date only.
        assert!(pointers(&exit(ExitReason::Reintegrated)).is_empty());
        for reason in [
            ExitReason::TooUnwell,
            ExitReason::NonAttendance,
            ExitReason::RefusesHealthServices,
            ExitReason::UnsafeBehaviour,
        ] {
            assert_eq!(pointers(&exit(reason)), ["/notes"], "{reason:?}");
            let mut with = exit(reason);
            with.notes = Some("Discussed with family and consultant".into());
            assert!(pointers(&with).is_empty(), "{reason:?}");
        }
        let mut moved = exit(ExitReason::TransferredSchool);
        assert_eq!(pointers(&moved), ["/new_school_urn"]);
        moved.new_school_urn = Some(117001);
        assert_eq!(pointers(&moved), ["/new_school_urn"]);
        moved.new_school_urn = Some(117002);
        assert!(pointers(&moved).is_empty());

        let mut away = exit(ExitReason::MovedOutOfArea);
        assert_eq!(pointers(&away), ["/new_la_code"]);
        away.new_la_code = Some(919);
        assert_eq!(pointers(&away), ["/new_la_code"]);
        away.new_la_code = Some(873);
        assert!(pointers(&away).is_empty());

        // Born 2010-08-31: compulsory school age ends 26 June 2026... before this case; use a
        // younger pupil to see the rule bite.
        let mut young = case();
        young.date_of_birth = d("2011-01-15"); // ends 25 June 2027
        let mut aged_out = exit(ExitReason::NoLongerCompulsorySchoolAge);
        let problems = exit_problems(&aged_out, &young);
        assert_eq!(problems[0].0, "/effective_date");
        assert!(
            problems[0].1.contains("ends on 25 June 2027"),
            "{}",
            problems[0].1
        );
        aged_out.effective_date = d("2027-06-28");
        assert!(exit_problems(&aged_out, &young).is_empty());
    }

    #[test]
    fn the_age_exit_takes_effect_on_or_after_the_last_day_of_compulsory_school_age() {
        // R13 "on or after the end of compulsory school age"; born 2011-01-15, it ends on
        // Friday 25 June 2027 (R7.1).
        let mut young = case();
        young.date_of_birth = d("2011-01-15");
        let mut aged_out = exit(ExitReason::NoLongerCompulsorySchoolAge);
        aged_out.effective_date = d("2027-06-24");
        assert_eq!(
            exit_problems(&aged_out, &young)
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>(),
            ["/effective_date"],
            "the day before the end"
        );
        aged_out.effective_date = d("2027-06-25");
        assert!(
            exit_problems(&aged_out, &young).is_empty(),
            "the last day itself"
        );
    }

    #[test]
    fn non_attendance_facts_list_the_unauthorised_sessions_of_the_case() {
        use crate::domain::codes::Session;
        let mark = |date: &str, session: Session, code: AttendanceCode| {
            SessionMark::new(d(date), session, code)
        };
        let marks = [
            mark("2026-11-27", Session::Am, AttendanceCode::O), // before the start
            mark("2026-11-30", Session::Am, AttendanceCode::C2),
            mark("2026-12-01", Session::Pm, AttendanceCode::N),
            mark("2026-12-01", Session::Am, AttendanceCode::G),
            mark("2026-12-02", Session::Am, AttendanceCode::I),
            mark("2027-02-15", Session::Am, AttendanceCode::U), // after the effective date
        ];
        let facts = non_attendance_facts(&marks, d("2026-11-30"), d("2027-02-12"));
        assert_eq!(facts.marked_sessions, 4);
        assert_eq!(facts.unauthorised_sessions, 2);
        assert_eq!(
            facts
                .unauthorised
                .iter()
                .map(|s| (s.date.to_string(), s.session.as_str(), s.code.as_str()))
                .collect::<Vec<_>>(),
            [
                ("2026-12-01".to_string(), "AM", "G"),
                ("2026-12-01".to_string(), "PM", "N")
            ]
        );
        assert!(non_attendance_warning(&facts).is_none());
        let none = non_attendance_facts(&marks[1..2], d("2026-11-30"), d("2027-02-12"));
        let message = non_attendance_warning(&none).unwrap();
        assert!(
            message.contains("between the case start (2026-11-30) and 2027-02-12"),
            "{message}"
        );
    }

    #[test]
    fn the_effective_date_is_on_or_after_the_start_and_extra_facts_are_refused() {
        let mut early = exit(ExitReason::Reintegrated);
        early.effective_date = d("2026-11-27");
        assert_eq!(pointers(&early), ["/effective_date"]);
        early.effective_date = d("2026-11-30");
        assert!(pointers(&early).is_empty());
        let mut extra = exit(ExitReason::Reintegrated);
        extra.new_la_code = Some(873);
        assert_eq!(pointers(&extra), ["/new_la_code"]);
    }

    #[test]
    fn re_referral_after_each_exit() {
        assert!(re_referral(ExitReason::TooUnwell).open);
        assert!(re_referral(ExitReason::Reintegrated).open);
        assert!(!re_referral(ExitReason::MovedOutOfArea).open);
        assert!(!re_referral(ExitReason::NoLongerCompulsorySchoolAge).open);
        assert_eq!(ExitReason::parse("too_unwell"), Some(ExitReason::TooUnwell));
        assert_eq!(ExitReason::parse("bored"), None);
    }

    #[test]
    fn the_support_code_is_named_with_its_own_meaning() {
        // R12.3: C2 is leave for a part-time timetable; K is LA-arranged education.
        let c2 = register_code_guidance(true, AttendanceCode::C2, d("2026-11-30"));
        assert!(c2.contains("as C2 (part-time timetable), not C"), "{c2}");
        assert!(!c2.contains("off site"), "{c2}");
        let k = register_code_guidance(true, AttendanceCode::K, d("2026-11-30"));
        assert!(
            k.contains("as K (education arranged by the local authority)"),
            "{k}"
        );
        let after = register_code_guidance(false, AttendanceCode::C2, d("2027-02-12"));
        assert!(after.starts_with("From 12 February 2027"), "{after}");
    }
}
