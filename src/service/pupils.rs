//! Reading a pupil and their marks. Every read of pupil-level data is audited, including refused
//! ones; a school sees only pupils currently on its roll, and only its own marks.

use chrono::NaiveDate;

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::audit::AuditOutcome;
use crate::domain::calendar::AcademicYear;
use crate::domain::identifiers::Upn;
use crate::domain::register::covers;
use crate::domain::roll::{conflicts_between, DetailConflict, PupilDetails};
use crate::error::ApiError;
use crate::store::marks::{self, HistoryRow, StoredMark};
use crate::store::pupils::{self, EnrolmentRow};
use crate::store::{audit, DbConnection};

/// A pupil as the caller may see them: the schools' own records (API.md "Pupils": personal
/// details are held per school).
pub struct PupilRecord {
    pub upn: String,
    /// The enrolments the caller may see, each with that school's record of the pupil (a school:
    /// its own), by URN.
    pub enrolments: Vec<EnrolmentRow>,
    /// Where the visible schools' records disagree (the LA sees every school's; a school only its
    /// own, so never a conflict).
    pub conflicts: Vec<DetailConflict>,
}

impl PupilRecord {
    /// The record shown as the pupil's details: the most recently pushed of the visible ones.
    pub fn latest(&self) -> Option<&EnrolmentRow> {
        self.enrolments
            .iter()
            .max_by_key(|e| (e.updated_at, std::cmp::Reverse(e.school_urn)))
    }
}

pub struct PupilMarks {
    pub upn: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub marks: Vec<StoredMark>,
    pub changes: Vec<HistoryRow>,
}

pub(super) fn parse_upn(upn: &str) -> Result<String, ApiError> {
    Upn::parse(upn)
        .map(Upn::into_string)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The pupil and the enrolments this actor may see, or None (recorded as a refused read).
pub(super) fn visible(
    conn: &mut DbConnection,
    actor: &Actor,
    upn: &str,
    today: NaiveDate,
) -> Result<Option<PupilRecord>, ApiError> {
    let all = pupils::enrolments_of(conn, upn)?;
    if all.is_empty() {
        return Ok(None);
    }
    let enrolments: Vec<EnrolmentRow> = match actor.role {
        Role::La => all,
        _ => all
            .into_iter()
            .filter(|e| {
                actor.schools.contains(&e.school_urn)
                    && covers(e.on_roll_from, e.on_roll_until, today)
            })
            .collect(),
    };
    if actor.role != Role::La && enrolments.is_empty() {
        return Ok(None);
    }
    let details: Vec<(i32, PupilDetails)> = enrolments
        .iter()
        .map(|e| (e.school_urn, e.details()))
        .collect();
    let conflicts =
        conflicts_between(&details.iter().map(|(urn, d)| (*urn, d)).collect::<Vec<_>>());
    Ok(Some(PupilRecord {
        upn: upn.to_string(),
        enrolments,
        conflicts,
    }))
}

/// Runs a read and writes its audit row (success or not_found) in the same transaction.
pub(super) async fn audited_read<T, F>(
    state: &AppState,
    actor: &Actor,
    upn: String,
    resource: &'static str,
    read: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection, &Actor, &str) -> Result<Option<(T, Option<i32>)>, ApiError>
        + Send
        + 'static,
{
    let actor = actor.clone();
    let now = state.clock.now_naive();
    state
        .db
        .write(move |conn| {
            let found = read(conn, &actor, &upn)?;
            let mut event = actor.audit(
                now,
                "read",
                AuditSubject::new(resource, upn.clone()).pupil(upn.clone()),
            );
            event.school_urn = found.as_ref().and_then(|(_, school)| *school);
            event.outcome = if found.is_some() {
                AuditOutcome::Success
            } else {
                AuditOutcome::NotFound
            }
            .as_str()
            .to_string();
            audit::append(conn, &[event])?;
            Ok(found)
        })
        .await?
        .map(|(t, _)| t)
        .ok_or_else(|| ApiError::not_found("no pupil with that UPN on a roll you can see"))
}

/// `GET /api/v1/pupils/{upn}`.
pub async fn get(state: &AppState, actor: &Actor, upn: &str) -> Result<PupilRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let upn = parse_upn(upn)?;
    let today = state.clock.today();
    audited_read(state, actor, upn, "pupil", move |conn, actor, upn| {
        Ok(visible(conn, actor, upn, today)?.map(|r| {
            let school = (actor.role == Role::School)
                .then(|| r.enrolments.first().map(|e| e.school_urn))
                .flatten();
            (r, school)
        }))
    })
    .await
}

/// The `from`/`to` of a pupil read: by default the academic year of `to` (today when not given)
/// up to `to`; 422 when `from` is after `to`.
pub(super) fn date_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| AcademicYear::containing(to).first_day());
    if from > to {
        return Err(ApiError::invalid_field(
            "/query/from",
            format!("from ({from}) is after to ({to})"),
        ));
    }
    Ok((from, to))
}

/// `GET /api/v1/pupils/{upn}/marks?from=&to=`: default the academic year to date.
pub async fn marks(
    state: &AppState,
    actor: &Actor,
    upn: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<PupilMarks, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let upn = parse_upn(upn)?;
    let today = state.clock.today();
    let (from, to) = date_range(from, to, today)?;
    audited_read(state, actor, upn, "marks", move |conn, actor, upn| {
        let Some(record) = visible(conn, actor, upn, today)? else {
            return Ok(None);
        };
        let schools: Vec<i32> = record.enrolments.iter().map(|e| e.school_urn).collect();
        let found = marks::of_pupil(conn, upn, &schools, from, to)?;
        let changes = marks::history_of_pupil(conn, upn, &schools, from, to)?;
        let school = (actor.role == Role::School)
            .then(|| schools.first().copied())
            .flatten();
        Ok(Some((
            PupilMarks {
                upn: upn.to_string(),
                from,
                to,
                marks: found,
                changes,
            },
            school,
        )))
    })
    .await
}
