//! The LA calendar (RULES.md R3): the school days every statutory clock counts.

use chrono::NaiveDateTime;

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::calendar::{AcademicYear, LaCalendar, SchoolCalendar};
use crate::error::{ApiError, FieldProblem};
use crate::store::{audit, calendars, changes};

/// Validates and stores a year's calendar (`la`); returns whether the year had none before.
pub async fn put(
    state: &AppState,
    actor: &Actor,
    calendar: LaCalendar,
) -> Result<(LaCalendar, NaiveDateTime, bool), ApiError> {
    actor.require(&[Role::La])?;
    if let Err(problems) = calendar.validate() {
        let n = problems.len();
        return Err(ApiError::validation(
            format!(
                "the calendar has {n} problem{}",
                if n == 1 { "" } else { "s" }
            ),
            problems
                .into_iter()
                .map(|p| FieldProblem::new(p.pointer, p.message))
                .collect(),
        ));
    }
    let now = state.clock.now_naive();
    let today = state.clock.today();
    let actor = actor.clone();
    let policy = state.policy.clone();
    state
        .db
        .write(move |conn| {
            let created = calendars::replace(conn, &calendar, now)?;
            // Issue 6 item 5: reviews that no longer fall on a school day move.
            let mut moved = super::cases::follow_calendar_change(conn, &actor, today, now)?;
            // The clock's rules count school days: they are followed again on the new calendar
            // (a worklist read follows them only once a day, `alerts::ClockFollowed`).
            moved.extend(super::alerts::follow_clock(conn, &policy, today)?);
            let year = calendar.academic_year.to_string();
            let action = if created { "create" } else { "update" };
            audit::append(
                conn,
                &[actor.audit(now, action, AuditSubject::new("calendar", year))],
            )?;
            changes::record_at(conn, now, &moved)?;
            Ok((calendar, now, created))
        })
        .await
}

/// One year's calendar: readable by every role that works with school days.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    year: AcademicYear,
) -> Result<(LaCalendar, NaiveDateTime), ApiError> {
    actor.require(&[Role::La, Role::School])?;
    state
        .db
        .read(move |conn| Ok(calendars::find(conn, year)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no calendar has been loaded for {year}")))
}

/// Every loaded calendar, for counting school days (R3.1 falls back to Monday-Friday).
pub async fn school_calendar(state: &AppState) -> Result<SchoolCalendar, ApiError> {
    let all = state.db.read(|conn| Ok(calendars::all(conn)?)).await?;
    Ok(SchoolCalendar::new(all))
}
