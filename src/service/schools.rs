//! Schools of the LA (API.md "Schools and the calendar").

use chrono::NaiveDateTime;

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::school::{check_laestab, Phase};
use crate::error::{ApiError, FieldProblem};
use crate::store::{audit, schools};

#[derive(Debug, Clone)]
pub struct School {
    pub urn: i32,
    pub name: String,
    pub laestab: String,
    pub phase: Phase,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl School {
    fn from_row(row: schools::SchoolRow) -> Result<School, ApiError> {
        let phase = Phase::parse(&row.phase).ok_or_else(|| {
            ApiError::internal(format!("stored phase '{}' is unknown", row.phase))
        })?;
        Ok(School {
            urn: row.urn,
            name: row.name,
            laestab: row.laestab,
            phase,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub struct SchoolInput {
    pub name: String,
    pub laestab: String,
    pub phase: Phase,
}

/// Creates or replaces a school (`la`). Returns the school and whether it was created.
pub async fn put(
    state: &AppState,
    actor: &Actor,
    urn: i32,
    input: SchoolInput,
) -> Result<(School, bool), ApiError> {
    actor.require(&[Role::La])?;
    check_laestab(&input.laestab, state.la_code)
        .map_err(|m| ApiError::validation(m.clone(), vec![FieldProblem::new("/laestab", m)]))?;
    let now = state.clock.now_naive();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let (row, created) = schools::upsert(
                conn,
                urn,
                input.name.trim(),
                &input.laestab,
                input.phase.as_str(),
                now,
            )?;
            let action = if created { "create" } else { "update" };
            audit::append(
                conn,
                &[actor.audit(
                    now,
                    action,
                    AuditSubject::new("school", urn.to_string()).school(urn),
                )],
            )?;
            Ok((School::from_row(row)?, created))
        })
        .await
}

/// One school: `la` any, `school` its own (404 for others).
pub async fn get(state: &AppState, actor: &Actor, urn: i32) -> Result<School, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    actor.may_read_school(urn)?;
    let found = state
        .db
        .read(move |conn| Ok(schools::find(conn, urn)?))
        .await?;
    School::from_row(found.ok_or_else(|| ApiError::not_found(format!("no school with URN {urn}")))?)
}

/// A page of schools in URN order: `la` all, `school` its own.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    after_urn: Option<i32>,
    limit: i64,
) -> Result<(Vec<School>, bool), ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let only = (actor.role == Role::School).then(|| actor.schools.clone());
    let rows = state
        .db
        .read(move |conn| Ok(schools::page(conn, after_urn, only.as_deref(), limit + 1)?))
        .await?;
    let more = rows.len() as i64 > limit;
    let schools = rows
        .into_iter()
        .take(limit as usize)
        .map(School::from_row)
        .collect::<Result<_, _>>()?;
    Ok((schools, more))
}
