//! `GET /api/v1/changes` (`la`; API.md "Change feed"): what changed after a version, in version
//! order, so an LA system syncs by asking for what came after the last version it saw. The
//! writes that put changes on the feed are in the other services (`store::changes::record`).

use chrono::NaiveDateTime;

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::audit::AuditOutcome;
use crate::domain::changes::{ChangeAction, ChangedResource};
use crate::error::{ApiError, ProblemKind};
use crate::store::changes::{self as store, ChangeRow};
use crate::store::{alerts, audit, cases, retention};

/// Where the changed resource is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Referral(i64),
    Case(i64),
    PartTimeTimetable(i64),
    /// A review is read with the other reviews of its case.
    ReviewsOfCase(i64),
    /// Alerts are read from the worklist, narrowed to the pupil, school and kind.
    Alerts {
        upn: String,
        school_urn: i32,
        kind: String,
    },
    /// The review or alert is no longer stored (never expected): its school's worklist.
    ReviewsOfSchool(i32),
    AlertsOfSchool(i32),
}

/// One change on the feed.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub version: i64,
    pub resource: ChangedResource,
    pub resource_id: i64,
    pub school_urn: i32,
    pub action: ChangeAction,
    pub changed_at: NaiveDateTime,
    pub location: Location,
}

pub struct FeedPage {
    pub entries: Vec<FeedEntry>,
    pub has_more: bool,
}

fn corrupt(row: &ChangeRow, what: &str) -> ApiError {
    ApiError::internal(format!(
        "stored change {} has {what} {} / {}",
        row.version, row.resource_type, row.action
    ))
}

/// Up to `limit` changes after version `since`, oldest first; one audit row per page.
pub async fn page(
    state: &AppState,
    actor: &Actor,
    since: i64,
    limit: i64,
) -> Result<FeedPage, ApiError> {
    actor.require(&[Role::La])?;
    let now = state.clock.now_naive();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let mut rows = store::page(conn, since, limit + 1)?;
            // Read after the page: a prune that commits meanwhile is seen here, so a page with
            // a hole is never returned (at worst a complete one is refused).
            let pruned_through = retention::changes_pruned_through(conn)?;
            if since < pruned_through {
                let mut event = actor.audit(now, "read", AuditSubject::new("changes", "feed"));
                event.outcome = AuditOutcome::Gone.as_str().to_string();
                audit::append(conn, &[event])?;
                return Ok(Err(feed_pruned(since, pruned_through)));
            }
            let has_more = rows.len() as i64 > limit;
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            // Reviews and alerts are found through their case and pupil: one query each per page.
            let of_type = |kind: ChangedResource| -> Vec<i64> {
                rows.iter()
                    .filter(|r| r.resource_type == kind.as_str())
                    .map(|r| r.resource_id)
                    .collect()
            };
            let review_cases = cases::cases_of_reviews(conn, &of_type(ChangedResource::Review))?;
            let alert_places = alerts::locations(conn, &of_type(ChangedResource::Alert))?;
            let entries = rows
                .iter()
                .map(|row| {
                    let resource = ChangedResource::parse(&row.resource_type)
                        .ok_or_else(|| corrupt(row, "resource type"))?;
                    let action =
                        ChangeAction::parse(&row.action).ok_or_else(|| corrupt(row, "action"))?;
                    let id = row.resource_id;
                    let location = match resource {
                        ChangedResource::Referral => Location::Referral(id),
                        ChangedResource::Case => Location::Case(id),
                        ChangedResource::PartTimeTimetable => Location::PartTimeTimetable(id),
                        ChangedResource::Review => review_cases
                            .get(&id)
                            .map_or(Location::ReviewsOfSchool(row.school_urn), |case| {
                                Location::ReviewsOfCase(*case)
                            }),
                        ChangedResource::Alert => alert_places.get(&id).map_or(
                            Location::AlertsOfSchool(row.school_urn),
                            |(upn, school_urn, kind)| Location::Alerts {
                                upn: upn.clone(),
                                school_urn: *school_urn,
                                kind: kind.clone(),
                            },
                        ),
                    };
                    Ok(FeedEntry {
                        version: row.version,
                        resource,
                        resource_id: id,
                        school_urn: row.school_urn,
                        action,
                        changed_at: row.changed_at,
                        location,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            audit::append(
                conn,
                &[actor.audit(now, "read", AuditSubject::new("changes", "feed"))],
            )?;
            Ok(Ok(FeedPage { entries, has_more }))
        })
        .await?
}

/// 410: the changes after `since` are no longer all kept (retention); the caller resyncs from
/// the lists and continues from `pruned_through`.
fn feed_pruned(since: i64, pruned_through: i64) -> ApiError {
    ApiError::new(
        ProblemKind::Gone,
        format!(
            "changes up to version {pruned_through} are no longer kept (retention), so those after              {since} cannot all be listed: read the current state from the lists (referrals,              cases, reviews, alerts), then continue with since={pruned_through}"
        ),
    )
    .with_header(RESUME_HEADER, pruned_through.to_string())
}

/// On a 410 from the feed: the `since` to continue with after a resync.
pub const RESUME_HEADER: &str = "esma-resume-since";
