//! The versions of a case's Holistic Reintegration Plan and the progress reviews record against
//! its targets (`plan_versions`, `target_progress`; RULES.md R14.1, R14.2). The rules are in
//! `domain/plan.rs`.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::columns::{json, to_json, word};
use super::schema::{plan_versions, target_progress};
use super::{DbConnection, StoreResult};
use crate::domain::case::{CaseId, ReviewId};
use crate::domain::plan::{PlanBody, PlanVersion, RecordedProgress};

type VersionRow = (
    i64,
    i64,
    i32,
    String,
    String,
    Option<i64>,
    NaiveDateTime,
    String,
);

fn version_of(row: VersionRow) -> StoreResult<PlanVersion> {
    let (id, case_id, version, status, body, review_id, created_at, created_by) = row;
    let read = |e: Box<dyn std::error::Error + Send + Sync>| {
        diesel::result::Error::DeserializationError(e)
    };
    Ok(PlanVersion {
        case_id: CaseId::from(case_id),
        version,
        status: word(&status).map_err(read)?,
        body: json("plan version", id, &body).map_err(read)?,
        review_id: review_id.map(ReviewId::from),
        created_at,
        created_by,
    })
}

/// Every version of the case's plan, oldest first.
pub fn versions(conn: &mut DbConnection, case_id: CaseId) -> StoreResult<Vec<PlanVersion>> {
    let rows: Vec<VersionRow> = plan_versions::table
        .filter(plan_versions::case_id.eq(case_id.get()))
        .order(plan_versions::version)
        .select(plan_versions::all_columns)
        .load(conn)?;
    rows.into_iter().map(version_of).collect()
}

/// A new version, numbered after the last (the unique key refuses a concurrent duplicate).
pub fn insert(
    conn: &mut DbConnection,
    case_id: CaseId,
    body: &PlanBody,
    review_id: Option<ReviewId>,
    created_at: NaiveDateTime,
    created_by: &str,
) -> StoreResult<i32> {
    let last: Option<i32> = plan_versions::table
        .filter(plan_versions::case_id.eq(case_id.get()))
        .select(diesel::dsl::max(plan_versions::version))
        .first(conn)?;
    let version = last.unwrap_or(0) + 1;
    diesel::insert_into(plan_versions::table)
        .values((
            plan_versions::case_id.eq(case_id.get()),
            plan_versions::version.eq(version),
            plan_versions::status.eq(body.status.as_str()),
            plan_versions::body.eq(to_json(body)?),
            plan_versions::review_id.eq(review_id.map(ReviewId::get)),
            plan_versions::created_at.eq(created_at),
            plan_versions::created_by.eq(created_by),
        ))
        .execute(conn)?;
    Ok(version)
}

pub fn insert_progress(
    conn: &mut DbConnection,
    case_id: CaseId,
    rows: &[RecordedProgress],
) -> StoreResult<()> {
    // A plan has at most 50 targets: one statement each (a MultiConnection has no multi-row
    // insert).
    for row in rows {
        diesel::insert_into(target_progress::table)
            .values((
                target_progress::review_id.eq(row.review_id.get()),
                target_progress::target_id.eq(row.target_id),
                target_progress::case_id.eq(case_id.get()),
                target_progress::plan_version.eq(row.plan_version),
                target_progress::progress.eq(row.progress.as_str()),
                target_progress::note.eq(row.note.as_deref()),
                target_progress::held_on.eq(row.held_on),
            ))
            .execute(conn)?;
    }
    Ok(())
}

type ProgressRow = (i64, i64, i64, i32, String, Option<String>, NaiveDate);

/// Every progress value recorded for the case's targets, oldest review first.
pub fn progress_of_case(
    conn: &mut DbConnection,
    case_id: CaseId,
) -> StoreResult<Vec<RecordedProgress>> {
    let rows: Vec<ProgressRow> = target_progress::table
        .filter(target_progress::case_id.eq(case_id.get()))
        .order((
            target_progress::held_on,
            target_progress::review_id,
            target_progress::target_id,
        ))
        .select(target_progress::all_columns)
        .load(conn)?;
    rows.into_iter()
        .map(
            |(review_id, target_id, _, plan_version, progress, note, held_on)| {
                Ok(RecordedProgress {
                    review_id: ReviewId::from(review_id),
                    target_id,
                    plan_version,
                    progress: word(&progress)
                        .map_err(diesel::result::Error::DeserializationError)?,
                    note,
                    held_on,
                })
            },
        )
        .collect()
}
