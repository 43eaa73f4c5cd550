//! `GET /api/v1/changes` (`la`): the change feed (API.md "Change feed").

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::{BadRequest, LaOnly, Unauthorized, PROBLEM_JSON};
use crate::domain::changes::{ChangeAction, ChangedResource};
use crate::error::{ApiError, Problem};
use crate::service::changes::{self, FeedEntry, Location};
use crate::service::{Actor, AppState};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Only changes after this version: `next_since` of the previous page (0, the default, is
    /// from the beginning).
    #[param(minimum = 0, example = 0)]
    pub since: Option<i64>,
    /// Changes per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<i64>,
}

/// One change: what changed, how, and where to read it now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeItem {
    /// Grows with every change, in the order changes become visible on the feed.
    #[schema(example = 42)]
    pub version: i64,
    pub resource_type: ChangedResource,
    #[schema(example = 7)]
    pub resource_id: i64,
    #[schema(example = 117001)]
    pub school_urn: i32,
    /// Referrals: `created`, `updated`, `assessed`, `decided`, `withdrawn`; cases: `opened`,
    /// `evidence_added`, `closed`, `plan_updated`; reviews: `planned`, `added`, `rescheduled`, `held`,
    /// `cancelled`; alerts: `raised`, `resolved`, `since_moved`, `acknowledged` (R16.3).
    pub action: ChangeAction,
    pub changed_at: DateTime<Utc>,
    /// Where the resource is read: `/api/v1/referrals/{id}`, `/api/v1/cases/{id}`, a review with
    /// its case's reviews (`/api/v1/cases/{case_id}/reviews`), an alert on the worklist narrowed
    /// to its pupil, school and kind.
    #[schema(example = "/api/v1/referrals/7")]
    pub href: String,
}

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeFeed {
    pub items: Vec<ChangeItem>,
    /// Pass as `since` for the next page: the largest version on this page, or the `since`
    /// asked for when the page is empty.
    #[schema(example = 42)]
    pub next_since: i64,
    /// More changes are there already; ask again at once with `since=next_since`.
    pub has_more: bool,
}

fn href(location: &Location) -> String {
    match location {
        Location::Referral(id) => format!("/api/v1/referrals/{id}"),
        Location::Case(id) => format!("/api/v1/cases/{id}"),
        Location::PartTimeTimetable(id) => format!("/api/v1/part-time-timetables/{id}"),
        Location::ReviewsOfCase(case) => format!("/api/v1/cases/{case}/reviews"),
        Location::Alerts {
            upn,
            school_urn,
            kind,
        } => format!("/api/v1/alerts?upn={upn}&school_urn={school_urn}&kind={kind}&state=all&acknowledged=all"),
        Location::ReviewsOfSchool(urn) => format!("/api/v1/reviews?school_urn={urn}"),
        Location::AlertsOfSchool(urn) => format!("/api/v1/alerts?school_urn={urn}&state=all&acknowledged=all"),
    }
}

fn item(entry: FeedEntry) -> ChangeItem {
    ChangeItem {
        href: href(&entry.location),
        version: entry.version,
        resource_type: entry.resource,
        resource_id: entry.resource_id,
        school_urn: entry.school_urn,
        action: entry.action,
        changed_at: entry.changed_at.and_utc(),
    }
}

/// What changed after a version (`la`): referrals, cases, reviews and alerts, oldest first.
///
/// Versions follow the order in which changes become visible: a change that appears after a read
/// always has a larger version than every change that read returned, so
/// asking again with `since=next_since` never misses one (and a sync that stops half way
/// resumes from the last `next_since` it kept). Each item says what happened and where to read
/// the resource now. Not cursor-paged like the lists: `since` is the position, `limit` is 1 to
/// 1000 (default 100). Audited.
///
/// Changes are kept for `ESMA_RETAIN_CHANGES_DAYS` (400 by default). A `since` older than the
/// oldest change still kept is answered 410 Gone, never a page with changes silently missing:
/// resync from the lists, then continue with the version in the `esma-resume-since` header (also
/// in the problem's `detail`).
///
/// Who: `la` only. Changes nothing; the read is audited (a read from a pruned position too,
/// with outcome `gone`).
#[utoipa::path(
    tag = "changes",
    params(ChangesQuery),
    responses(
        (status = 200, description = "A page of changes", body = ChangeFeed),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = LaOnly),
        (status = 410, description = "Changes after `since` are no longer all kept (retention): resync from the lists, then continue from the version in `esma-resume-since`", body = Problem, content_type = PROBLEM_JSON,
            headers(("esma-resume-since" = i64, description = "The `since` to continue with after the resync"))),
        (status = 422, description = "`since` below 0 or `limit` outside 1-1000", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/changes")]
pub async fn list_changes(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<ChangesQuery>,
) -> Result<web::Json<ChangeFeed>, ApiError> {
    let q = query.into_inner();
    let since = q.since.unwrap_or(0);
    if since < 0 {
        return Err(ApiError::invalid_field(
            "/query/since",
            format!("since should be 0 or a version from next_since, not {since}"),
        ));
    }
    let limit = match q.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::invalid_field(
                "/query/limit",
                format!("limit should be 1 to {MAX_LIMIT}, not {n}"),
            ))
        }
    };
    let page = changes::page(&state, &actor, since, limit).await?;
    let next_since = page.entries.last().map_or(since, |e| e.version);
    Ok(web::Json(ChangeFeed {
        items: page.entries.into_iter().map(item).collect(),
        next_since,
        has_more: page.has_more,
    }))
}
