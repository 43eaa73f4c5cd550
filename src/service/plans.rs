//! The Holistic Reintegration Plan of a case and progress against it at reviews (RULES.md
//! R14.1, R14.2; API.md "Support delivery"). Who may read and write is the case's rule: `la`,
//! and the case's school (another school's case is 404). Every read and write is audited as a
//! read or update of the case.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};

use super::cases::{active_or_conflict, with_case, CaseRecord};
use super::{Actor, AppState};
use crate::domain::access::Role;
use crate::domain::case::{Case, CaseId, ReviewId};
use crate::domain::changes::{Change, ChangeAction};
use crate::domain::plan::{
    assign_target_ids, check_agreement, check_progress, check_targets, target_ids, PlanBody,
    PlanStatus, TargetProgress,
};
use crate::domain::plan::{PlanVersion, RecordedProgress};
use crate::error::ApiError;
use crate::store::plans as store;
use crate::store::{pupils, referrals, DbConnection};

/// A version of the plan with the progress recorded so far against its targets.
#[derive(Debug, Clone)]
pub struct PlanRecord {
    pub version: PlanVersion,
    pub progress: Vec<RecordedProgress>,
}

fn no_plan(id: CaseId) -> ApiError {
    ApiError::not_found(format!("case {id} has no plan yet; PUT one to start it"))
}

/// The version in force (the latest) with the case's progress, if there is one.
pub(crate) fn in_force(
    conn: &mut DbConnection,
    id: CaseId,
) -> Result<Option<PlanRecord>, ApiError> {
    let Some(version) = store::versions(conn, id)?.pop() else {
        return Ok(None);
    };
    Ok(Some(PlanRecord {
        version,
        progress: store::progress_of_case(conn, id)?,
    }))
}

/// R14.1: whether the pupil has an EHCP, local high-needs funding or pupil premium, as the
/// referral says or the school's roll records.
fn funded(conn: &mut DbConnection, case: &Case) -> Result<bool, ApiError> {
    let by_referral = referrals::find(conn, case.referral_id)?.is_some_and(|r| {
        let f = &r.form.funding;
        f.ehcp || f.local_high_needs_funding || f.pupil_premium
    });
    let by_roll = pupils::record_at(conn, case.school_urn, &case.upn)?
        .is_some_and(|p| p.ehcp || p.pupil_premium);
    Ok(by_referral || by_roll)
}

/// R14.1: checks a whole plan as a new version of the case's plan (`prefix`: where it sits in
/// the request) and gives its new targets their ids. The problems, or the body to store.
fn prepare(
    conn: &mut DbConnection,
    case: &Case,
    versions: &[PlanVersion],
    mut body: PlanBody,
    prefix: &str,
) -> Result<Result<PlanBody, Vec<(String, String)>>, ApiError> {
    let known: BTreeSet<i64> = versions.iter().flat_map(|v| target_ids(&v.body)).collect();
    let mut problems = check_targets(&body, &known, prefix);
    if body.status == PlanStatus::Agreed {
        problems.extend(check_agreement(&body, funded(conn, case)?, prefix));
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    assign_target_ids(&mut body, &known);
    Ok(Ok(body))
}

fn store_version(
    conn: &mut DbConnection,
    actor: &Actor,
    case: &Case,
    body: &PlanBody,
    review: Option<ReviewId>,
    now: NaiveDateTime,
    changed: &mut Vec<Change>,
) -> Result<(), ApiError> {
    store::insert(conn, case.id, body, review, now, &actor.client_id)?;
    changed.push(Change::case(
        case.id,
        case.school_urn,
        ChangeAction::PlanUpdated,
    ));
    Ok(())
}

/// `GET /api/v1/cases/{id}/plan`: the version in force.
pub async fn get(state: &AppState, actor: &Actor, id: CaseId) -> Result<PlanRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(state, actor, id, "read", move |conn, _, _, _, _, _, _| {
        in_force(conn, id)
    })
    .await?
    .ok_or_else(|| no_plan(id))
}

/// `PUT /api/v1/cases/{id}/plan`: a new version (R14.1). The plan as it stands sent again
/// writes nothing, so a retried PUT does not add a version.
pub async fn put(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
    body: PlanBody,
) -> Result<PlanRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(
        state,
        actor,
        id,
        "update",
        move |conn, actor, found: CaseRecord, _, _, now, changed| {
            active_or_conflict(&found, "given a plan")?;
            let versions = store::versions(conn, id)?;
            let body = prepare(conn, &found.case, &versions, body, "")?
                .map_err(ApiError::from_problems)?;
            if versions.last().is_none_or(|v| v.body != body) {
                store_version(conn, actor, &found.case, &body, None, now, changed)?;
            }
            in_force(conn, id)?.ok_or_else(|| no_plan(id))
        },
    )
    .await
}

/// `GET /api/v1/cases/{id}/plan/versions`, oldest first.
pub async fn versions(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
) -> Result<Vec<PlanVersion>, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(state, actor, id, "read", move |conn, _, _, _, _, _, _| {
        Ok(store::versions(conn, id)?)
    })
    .await
}

/// `GET /api/v1/cases/{id}/plan/versions/{n}` with the case's progress.
pub async fn version(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
    n: i32,
) -> Result<PlanRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(state, actor, id, "read", move |conn, _, _, _, _, _, _| {
        let Some(version) = store::versions(conn, id)?
            .into_iter()
            .find(|v| v.version == n)
        else {
            return Ok(None);
        };
        Ok(Some(PlanRecord {
            version,
            progress: store::progress_of_case(conn, id)?,
        }))
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("case {id} has no plan version {n}")))
}

/// What a review outcome recorded against the plan (R14.2).
#[derive(Debug, Clone, Default)]
pub struct AtReview {
    pub progress: Vec<RecordedProgress>,
    pub plan: Option<PlanRecord>,
}

/// R14.2, inside the review's transaction: progress for every target of the agreed version in
/// force (the latest agreed one), and a revised plan as a new version linked to the review.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_at_review(
    conn: &mut DbConnection,
    actor: &Actor,
    case: &Case,
    review_id: ReviewId,
    held_on: NaiveDate,
    given: &[TargetProgress],
    revised: Option<PlanBody>,
    now: NaiveDateTime,
    changed: &mut Vec<Change>,
) -> Result<AtReview, ApiError> {
    let versions = store::versions(conn, case.id)?;
    let agreed = versions
        .iter()
        .rev()
        .find(|v| v.status == PlanStatus::Agreed);
    let targets: Vec<i64> = agreed
        .map(|v| target_ids(&v.body).collect())
        .unwrap_or_default();
    let mut problems = check_progress(&targets, given);
    let revised = match revised {
        Some(body) => match prepare(conn, case, &versions, body, "/revised_plan")? {
            Ok(body) => Some(body),
            Err(more) => {
                problems.extend(more);
                None
            }
        },
        None => None,
    };
    if !problems.is_empty() {
        return Err(ApiError::from_problems(problems));
    }
    let progress: Vec<RecordedProgress> = match agreed {
        Some(v) => given
            .iter()
            .map(|p| RecordedProgress {
                review_id,
                target_id: p.target_id,
                plan_version: v.version,
                progress: p.progress,
                note: p.note.clone().filter(|n| !n.trim().is_empty()),
                held_on,
            })
            .collect(),
        None => Vec::new(),
    };
    store::insert_progress(conn, case.id, &progress)?;
    if let Some(body) = revised {
        store_version(conn, actor, case, &body, Some(review_id), now, changed)?;
    }
    Ok(AtReview {
        progress,
        plan: in_force(conn, case.id)?,
    })
}
