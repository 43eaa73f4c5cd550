//! The stakeholder progress report of a case (issue 23 item 5; API.md "Support delivery"): what
//! the case record holds, with the pupil's and school's names and the school register before and
//! during support, week by week.

use chrono::NaiveDate;

use super::attendance::to_session_marks;
use super::cases::{with_case, CaseRecord};
use super::plans::{self, PlanRecord};
use super::{Actor, AppState};
use crate::domain::access::Role;
use crate::domain::calendar::{AcademicYear, SchoolCalendar};
use crate::domain::case::CaseId;
use crate::domain::plan::Baseline;
use crate::domain::report::{
    before_and_during, lesson_weeks, weekly, LessonWeek, RegisterBeforeAndDuring, RegisterWeek,
};
use crate::error::ApiError;
use crate::store::lessons as lesson_store;
use crate::store::plans as plan_store;
use crate::store::{calendars, marks, pupils, schools};

/// Everything a report shows, as of `generated_on`.
#[derive(Debug, Clone)]
pub struct CaseReport {
    pub generated_on: NaiveDate,
    pub case: CaseRecord,
    pub school_name: Option<String>,
    /// The pupil's name as the case's school records it.
    pub pupil_name: Option<String>,
    /// From this day (1 September of the year support started in) ...
    pub register_from: NaiveDate,
    /// ... to this day (today, or the exit's effective date).
    pub register_to: NaiveDate,
    pub register: RegisterBeforeAndDuring,
    /// School days from the case start to `register_to`, both counted.
    pub school_days_of_support: u32,
    pub register_weeks: Vec<RegisterWeek>,
    /// The Holistic Reintegration Plan in force, with the progress reviews recorded (R14.1-R14.2).
    pub plan: Option<PlanRecord>,
    /// The baseline of the first version of the plan: where the pupil started (R14.1).
    pub first_baseline: Option<Baseline>,
    /// The case's ESMA lessons week by week (R14.4).
    pub lesson_weeks: Vec<LessonWeek>,
}

/// `GET /api/v1/cases/{id}/report`: `la`, or the case's school (another school's case is 404).
/// Audited as a read of the case (`read_report`).
pub async fn case_report(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
) -> Result<CaseReport, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(
        state,
        actor,
        id,
        "read_report",
        move |conn, _, found, policy, today, _, _| {
            let case = &found.case;
            let school_name = schools::find(conn, case.school_urn)?.map(|s| s.name);
            let pupil_name = pupils::enrolments_of(conn, &case.upn)?
                .into_iter()
                .find(|e| e.school_urn == case.school_urn)
                .map(|e| format!("{} {}", e.legal_forename, e.legal_surname));
            let register_from = AcademicYear::containing(case.start_date).first_day();
            let register_to = case.exit_effective_date.unwrap_or(today).min(today);
            let stored = marks::of_pupil(
                conn,
                &case.upn,
                &[case.school_urn],
                register_from,
                register_to,
            )?;
            let marks = to_session_marks(&stored)?;
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            let first_baseline = plan_store::versions(conn, case.id)?
                .into_iter()
                .next()
                .map(|v| v.body.baseline);
            let plan = plans::in_force(conn, case.id)?;
            let lesson_weeks = lesson_weeks(&lesson_store::of_case(conn, case.id)?);
            let school_days_of_support = match case.start_date.pred_opt() {
                Some(before) if case.start_date <= register_to => {
                    calendar.school_days_between(before, register_to)
                }
                _ => 0,
            };
            Ok(CaseReport {
                generated_on: today,
                register: before_and_during(
                    &marks,
                    case.start_date,
                    policy.attendance.min_possible_sessions_for_flags,
                ),
                register_weeks: weekly(&marks, case.start_date),
                school_days_of_support,
                plan,
                first_baseline,
                lesson_weeks,
                register_from,
                register_to,
                school_name,
                pupil_name,
                case: found,
            })
        },
    )
    .await
}
