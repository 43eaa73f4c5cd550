//! `/api/v1/cases/{id}/plan`: the Holistic Reintegration Plan of a case and its versions (API.md
//! "Support delivery"; RULES.md R14.1, R14.2).

use actix_web::{get, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::ValidJson;
use super::problem::{
    BadRequest, NotFound, ReadFailures, Unauthorized, UnsupportedMediaType, PROBLEM_JSON,
};
use crate::domain::case::CaseId;
use crate::domain::plan::{
    Baseline, PlanBody, PlanStatus, Progress, ReintegrationStep, TargetOwner,
};
use crate::domain::plan::{PlanVersion, RecordedProgress};
use crate::error::{ApiError, Problem};
use crate::service::plans::{self, PlanRecord};
use crate::service::{Actor, AppState};

/// Progress on a target recorded at a review (RULES.md R14.2).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressView {
    pub review_id: i64,
    pub held_on: NaiveDate,
    #[schema(example = 1)]
    pub target_id: i64,
    pub progress: Progress,
    pub note: Option<String>,
    /// The plan version the target was reviewed in.
    pub plan_version: i32,
}

pub fn progress_view(p: &RecordedProgress) -> ProgressView {
    ProgressView {
        review_id: p.review_id.get(),
        held_on: p.held_on,
        target_id: p.target_id,
        progress: p.progress,
        note: p.note.clone(),
        plan_version: p.plan_version,
    }
}

/// A target of the plan, with the latest progress a review recorded on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    /// Kept across versions while the target is sent back with it.
    #[schema(example = 1)]
    pub id: i64,
    pub description: String,
    pub owner: TargetOwner,
    pub measure: String,
    pub by: Option<NaiveDate>,
    pub latest_progress: Option<ProgressView>,
}

/// One version of a case's plan (RULES.md R14.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub case_id: i64,
    #[schema(example = 1)]
    pub version: i32,
    pub status: PlanStatus,
    pub created_at: DateTime<Utc>,
    /// The client that wrote this version.
    pub created_by: String,
    /// The review that agreed this revision, if one did (RULES.md R14.2).
    pub review_id: Option<i64>,
    pub baseline: Baseline,
    pub targets: Vec<TargetView>,
    pub pupil_voice: Option<String>,
    pub parent_voice: Option<String>,
    pub reintegration_steps: Vec<ReintegrationStep>,
    pub funding_statement: Option<String>,
}

fn plan_view(v: PlanVersion, progress: &[RecordedProgress]) -> PlanView {
    let body = v.body;
    PlanView {
        case_id: v.case_id.get(),
        version: v.version,
        status: v.status,
        created_at: v.created_at.and_utc(),
        created_by: v.created_by,
        review_id: v.review_id.map(|r| r.get()),
        baseline: body.baseline,
        targets: body
            .targets
            .into_iter()
            .map(|t| {
                let id = t.id.unwrap_or_default();
                TargetView {
                    id,
                    description: t.description,
                    owner: t.owner,
                    measure: t.measure,
                    by: t.by,
                    // Progress is read oldest review first: the last one is the latest.
                    latest_progress: progress
                        .iter()
                        .rev()
                        .find(|p| p.target_id == id)
                        .map(progress_view),
                }
            })
            .collect(),
        pupil_voice: body.pupil_voice,
        parent_voice: body.parent_voice,
        reintegration_steps: body.reintegration_steps,
        funding_statement: body.funding_statement,
    }
}

pub fn record_view(r: PlanRecord) -> PlanView {
    plan_view(r.version, &r.progress)
}

const ID: &str = "Case id";

/// The case's plan: the version in force.
///
/// Who: `la`, or the case's school (another school's case is 404). Changes nothing; the read is
/// audited (a read of the case), and so is a 404.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID)),
    responses(
        (status = 200, description = "The latest version, with each target's latest progress", body = PlanView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "A role that may not read cases", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such case that you can see, or no plan yet", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/cases/{id}/plan")]
pub async fn get_plan(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<PlanView>, ApiError> {
    Ok(web::Json(record_view(
        plans::get(&state, &actor, CaseId::from(*id)).await?,
    )))
}

/// Write the case's plan: a new version of the whole plan.
///
/// Who: `la`, or the case's school (another school's case is 404). What it changes: stores a new
/// version (earlier ones stay readable); targets sent without `id` get one, targets sent with
/// their `id` keep it. The plan in force sent again unchanged stores nothing. `agreed` needs
/// everything RULES.md R14.1 lists (each missing item a 422 with its pointer). Audited (an update
/// of the case); the change feed shows the case `plan_updated`.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID)),
    request_body = PlanBody,
    responses(
        (status = 200, description = "The plan as it now stands", body = PlanView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "A role that may not write plans", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, response = NotFound),
        (status = 409, description = "The case is closed", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "An agreed plan lacks an item R14.1 needs, or a target id the plan never had", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[put("/cases/{id}/plan")]
pub async fn put_plan(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<PlanBody>,
) -> Result<web::Json<PlanView>, ApiError> {
    Ok(web::Json(record_view(
        plans::put(&state, &actor, CaseId::from(*id), body.0).await?,
    )))
}

/// Every version of the case's plan, oldest first.
///
/// Who: `la`, or the case's school (another school's case is 404). Changes nothing; the read is
/// audited. Each version's targets show their latest progress.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID)),
    responses(
        (status = 200, description = "The versions (empty before the first)", body = Vec<PlanView>),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/cases/{id}/plan/versions")]
pub async fn list_plan_versions(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<PlanView>>, ApiError> {
    let versions = plans::versions(&state, &actor, CaseId::from(*id)).await?;
    // Versions alone: progress is shown on the version in force and on a single version.
    Ok(web::Json(
        versions.into_iter().map(|v| plan_view(v, &[])).collect(),
    ))
}

/// One version of the case's plan.
///
/// Who: `la`, or the case's school (another school's case is 404). Changes nothing; the read is
/// audited.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID), ("n" = i32, Path, description = "Version number, from 1")),
    responses(
        (status = 200, description = "The version", body = PlanView),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/cases/{id}/plan/versions/{n}")]
pub async fn get_plan_version(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(i64, i32)>,
) -> Result<web::Json<PlanView>, ApiError> {
    let (id, n) = path.into_inner();
    Ok(web::Json(record_view(
        plans::version(&state, &actor, CaseId::from(id), n).await?,
    )))
}
