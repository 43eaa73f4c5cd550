//! `GET /api/v1/returns/sickness` and `/returns/unauthorised-absence` (RULES.md R16.2; API.md
//! "Notices and returns"): the pupils whose threshold was reached in a month, per school. The
//! rows are the open alerts of the return's kind whose `since` lies in the month, with the
//! pupil's details as the school's roll holds them and the days counted as the register stands.

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::alerts::Alert;
use crate::domain::attendance::AttendancePolicy;
use crate::domain::returns::{Month, ReturnKind, ReturnRow};
use crate::domain::tally::YearTally;
use crate::error::ApiError;
use crate::store::{alerts, attendance as tallies, audit, pupils, schools};

/// The rows of a return for `month`: `la` every school (or `school_urn`), a school its own
/// (another school's URN is 404, as for every list of school data). Audited: one row for the
/// return and one per pupil on it.
pub async fn monthly(
    state: &AppState,
    actor: &Actor,
    kind: ReturnKind,
    month: Month,
    school_urn: Option<i32>,
) -> Result<Vec<ReturnRow>, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let schools = actor.schools_to_list(school_urn)?;
    let now = state.clock.now_naive();
    let policy = state.attendance.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let found = alerts::reached_between(
                conn,
                kind.alert_kind(),
                month.first_day(),
                month.last_day(),
                schools.as_deref(),
            )?;
            let keys: Vec<(i32, &str)> = found
                .iter()
                .map(|a| (a.school_urn, a.upn.as_str()))
                .collect();
            let enrolments = pupils::enrolments_of_keys(conn, &keys)?;
            let mut urns: Vec<i32> = found.iter().map(|a| a.school_urn).collect();
            urns.dedup();
            let school_rows = schools::of_urns(conn, &urns)?;
            let tally_keys: Vec<(i32, i32, &str)> = found
                .iter()
                .map(|a| (a.school_urn, a.academic_year, a.upn.as_str()))
                .collect();
            let tallies = tallies::of_keys(conn, &tally_keys)?;
            let rows: Vec<ReturnRow> = found
                .iter()
                .map(|alert| {
                    let enrolment = enrolments.get(&(alert.school_urn, alert.upn.clone()));
                    let tally =
                        tallies.get(&(alert.school_urn, alert.academic_year, alert.upn.clone()));
                    ReturnRow {
                        school_urn: alert.school_urn,
                        laestab: school_rows
                            .get(&alert.school_urn)
                            .map(|s| s.laestab.clone()),
                        upn: alert.upn.clone(),
                        forename: enrolment.map(|e| e.legal_forename.clone()),
                        surname: enrolment.map(|e| e.legal_surname.clone()),
                        date_of_birth: enrolment.map(|e| e.date_of_birth),
                        reached_on: alert.since,
                        days_counted: days_counted(kind, tally, &policy),
                    }
                })
                .collect();
            let list = format!("{} {month}", kind.as_str());
            let mut events = vec![actor.audit(
                now,
                "read",
                AuditSubject::list("return", &list, school_urn, None),
            )];
            events.extend(
                found
                    .iter()
                    .map(|alert| pupil_read(&actor, now, &list, alert)),
            );
            audit::append(conn, &events)?;
            Ok(rows)
        })
        .await
}

/// The audit row of one pupil on a return: whose data was read.
fn pupil_read(
    actor: &Actor,
    now: chrono::NaiveDateTime,
    list: &str,
    alert: &Alert,
) -> crate::store::audit::NewAuditEvent {
    actor.audit(
        now,
        "read",
        AuditSubject::new("return", list)
            .school(alert.school_urn)
            .pupil(alert.upn.clone()),
    )
}

/// The days behind a row, as the register stands now: illness days (R4.2) or unauthorised
/// absence days (R16.1), half days counting.
fn days_counted(kind: ReturnKind, tally: Option<&YearTally>, policy: &AttendancePolicy) -> f64 {
    match (kind, tally) {
        (ReturnKind::Sickness, Some(t)) => t.illness_days(policy),
        (ReturnKind::UnauthorisedAbsence, Some(t)) => f64::from(t.unauthorised_sessions()) / 2.0,
        (_, None) => 0.0,
    }
}
