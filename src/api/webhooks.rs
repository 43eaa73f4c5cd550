//! `/api/v1/webhooks`: subscriptions to signed event deliveries, and what was delivered
//! (API.md "Webhooks").

use actix_web::middleware::from_fn;
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{decode_cursor, encode_cursor, page_limit, ValidJson};
use super::idempotency::{retry_safe, IdempotencyKeyHeader};
use super::problem::{
    BadRequest, Forbidden, IdempotencyConflict, InvalidQuery, ListFailures, NotFound,
    PayloadTooLarge, ReadFailures, Unauthorized, UnsupportedMediaType, PROBLEM_JSON,
};
use super::Page;
use crate::domain::events::{EventType, SubscriptionStatus};
use crate::error::{ApiError, Problem};
use crate::service::webhooks::{self, SubscriptionRequest};
use crate::service::{Actor, AppState};

const ID: &str = "Subscription id";
const DELIVERY_ID: &str = "Delivery id (from the subscription's deliveries)";

/// What to be told, and where.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// Where events are POSTed: https only (plain http to a loopback address when the server
    /// runs with `ESMA_ALLOW_INSECURE_WEBHOOKS=1`).
    #[validate(length(min = 1, max = 2048, message = "should be 1 to 2048 characters"))]
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^https?://",
        example = "https://mis.example.org/esma/events"
    )]
    pub url: String,
    /// Event types: `referral.received`, `referral.assessed`, `referral.decided`,
    /// `case.review_due`, `case.review_overdue`, `case.medical_evidence_due`, `case.closed`,
    /// `case.lesson_non_engagement`, `attendance.sickness_return_due`,
    /// `attendance.unexplained_absence_overdue`, `attendance.unauthorised_absence_10_days`,
    /// `attendance.c2_without_agreement`, `attendance.part_time_timetable_overrun`,
    /// `attendance.part_time_review_overdue`, `attendance.part_time_timetable_prolonged`,
    /// `part_time_timetable.agreed`, `part_time_timetable.extended`,
    /// `part_time_timetable.reviewed`.
    #[validate(length(min = 1, max = 20, message = "should name 1 to 20 event types"))]
    #[schema(value_type = Vec<EventType>, min_items = 1, max_items = 20,
             example = json!(["referral.decided", "case.closed"]))]
    pub events: Vec<String>,
    #[validate(length(max = 200, message = "should be at most 200 characters"))]
    #[schema(max_length = 200, example = "Arbor sync for Oakfield")]
    pub description: Option<String>,
}

/// Subscriptions, deliveries and attempts as the API shows them.
pub use crate::service::webhooks::{
    Attempt as AttemptView, Delivery as DeliveryView, Replay as ReplayView,
    Subscription as WebhookView,
};

/// A new subscription with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookView {
    pub id: i64,
    pub url: String,
    #[schema(value_type = Vec<EventType>)]
    pub events: Vec<String>,
    pub description: Option<String>,
    pub status: SubscriptionStatus,
    pub schools: Vec<i32>,
    pub created_at: DateTime<Utc>,
    /// The Standard Webhooks secret: verify `webhook-signature` with it. Shown only here.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// Subscribe to events.
///
/// Each event is POSTed as JSON `{ "type", "timestamp", "data" }`, signed per Standard Webhooks
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), at least
/// once: retried with backoff for about three days until the receiver answers 2xx. A 410 disables
/// the subscription (its owner can enable it again). The payload's `timestamp` is when the event
/// happened and `webhook-timestamp` when the attempt was made, both by the real clock.
///
/// Who: `la` (events of every school) or `school` (events of its own schools). What it changes:
/// stores the subscription with a new signing secret (shown only in this answer, kept encrypted).
/// Audited (`create`).
#[utoipa::path(
    tag = "webhooks",
    params(IdempotencyKeyHeader),
    request_body = NewWebhookBody,
    responses(
        (status = 201, description = "Subscribed; the secret is shown only now", body = CreatedWebhookView,
            headers(("location" = String, description = "The new subscription"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 409, response = IdempotencyConflict),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Not an https URL, or an unknown event type", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/webhooks", wrap = "from_fn(retry_safe)")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewWebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let (v, secret) = webhooks::create(
        &state,
        &actor,
        SubscriptionRequest {
            url: body.url,
            events: body.events,
            description: body.description,
        },
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/api/v1/webhooks/{}", v.id)))
        .json(CreatedWebhookView {
            id: v.id,
            url: v.url,
            events: v.events,
            description: v.description,
            status: v.status,
            schools: v.schools,
            created_at: v.created_at,
            secret: secret.expose().to_string(),
        }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhooksQuery {
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Your subscriptions, oldest first.
///
/// Who: `la` or `school`; a client sees only the subscriptions it created. Changes nothing.
#[utoipa::path(
    tag = "webhooks",
    params(WebhooksQuery),
    responses(
        (status = 200, description = "A page of subscriptions", body = Page<WebhookView>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidQuery),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<WebhooksQuery>,
) -> Result<web::Json<Page<WebhookView>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let after = decode_cursor("webhooks", q.cursor.as_deref())?;
    let (items, next) = webhooks::list(&state, &actor, after, limit).await?;
    Ok(web::Json(Page {
        items,
        next_cursor: next.map(|id| encode_cursor("webhooks", id)),
    }))
}

/// One of your subscriptions.
///
/// Who: the `la` or `school` client that created it (any other subscription is 404). Changes
/// nothing.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = ID)),
    responses(
        (status = 200, description = "The subscription", body = WebhookView),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<WebhookView>, ApiError> {
    Ok(web::Json(webhooks::get(&state, &actor, *id).await?))
}

/// Unsubscribe: nothing more is sent, and deliveries still pending are cancelled.
///
/// Who: the `la` or `school` client that created it (any other subscription is 404). What it
/// changes: the subscription is deleted (kept only for its deliveries' history) and its pending
/// deliveries become `cancelled`. Audited (`delete`).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = ID)),
    responses(
        (status = 204, description = "Deleted"),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    webhooks::delete(&state, &actor, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What was sent to a subscription, newest first, with every attempt.
///
/// Each delivery lists its attempts (status, latency, error).
///
/// Who: the `la` or `school` client that created the subscription (any other is 404). Changes
/// nothing.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = ID), WebhooksQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<DeliveryView>),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    query: web::Query<WebhooksQuery>,
) -> Result<web::Json<Page<DeliveryView>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let before = decode_cursor("deliveries", q.cursor.as_deref())?;
    let (items, next) = webhooks::deliveries(&state, &actor, *id, before, limit).await?;
    Ok(web::Json(Page {
        items,
        next_cursor: next.map(|id| encode_cursor("deliveries", id)),
    }))
}

/// Put one failed or cancelled delivery back in the queue.
///
/// A delivery that is over without being delivered (`failed`: retries exhausted; `cancelled`:
/// pending when the subscription was disabled) becomes `pending`, due now. Its attempts are kept
/// and the next one continues their count; it is retried on the whole schedule again (about
/// three days). A `pending` or `delivered` one is 409. The subscription must be active: enable a
/// disabled one first (409 until then).
///
/// Who: the `la` or `school` client that created the subscription (any other is 404). What it
/// changes: the delivery's status and due time. Audited (`retry_delivery`).
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = i64, Path, description = ID),
        ("delivery_id" = i64, Path, description = DELIVERY_ID),
        IdempotencyKeyHeader,
    ),
    responses(
        (status = 200, description = "Requeued: the delivery, pending and due now, with its attempts so far", body = DeliveryView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such subscription of yours, or no such delivery of it", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The delivery is `pending` (still being tried) or `delivered`; or the subscription is disabled (enable it first); or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post(
    "/webhooks/{id}/deliveries/{delivery_id}/retry",
    wrap = "from_fn(retry_safe)"
)]
pub async fn retry_webhook_delivery(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(i64, i64)>,
) -> Result<web::Json<DeliveryView>, ApiError> {
    let (id, delivery_id) = path.into_inner();
    Ok(web::Json(
        webhooks::retry(&state, &actor, id, delivery_id).await?,
    ))
}

/// Which deliveries to requeue after an outage.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-12-01T08:00:00Z"}))]
pub struct ReplayBody {
    /// The start of the receiver's outage (RFC 3339): every delivery that is over without being
    /// delivered and whose last attempt (or, never attempted, its creation) is at or after this
    /// time is requeued.
    pub since: DateTime<Utc>,
}

/// Requeue everything that failed since a time, after a receiver's outage.
///
/// Every `failed` or `cancelled` delivery of the subscription whose last attempt (or, never
/// attempted, its creation) is at or after `since` is requeued as by the single retry, due now,
/// its attempts kept. Done in batches of 500, each its own transaction; answers how many were
/// requeued. The subscription must be active: enable a disabled one first (409 until then).
///
/// Who: the `la` or `school` client that created the subscription (any other is 404). What it
/// changes: those deliveries' status and due time. Audited (`replay_deliveries`).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = ID), IdempotencyKeyHeader),
    request_body = ReplayBody,
    responses(
        (status = 200, description = "Requeued; how many", body = ReplayView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The subscription is disabled (enable it first); or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`since` is missing or not an RFC 3339 time", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/webhooks/{id}/deliveries/retry", wrap = "from_fn(retry_safe)")]
pub async fn replay_webhook_deliveries(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<ReplayBody>,
) -> Result<web::Json<ReplayView>, ApiError> {
    Ok(web::Json(
        webhooks::replay(&state, &actor, *id, body.0.since).await?,
    ))
}

/// Enable a disabled subscription again.
///
/// A `disabled` subscription (its receiver answered 410 Gone) becomes `active` and receives
/// events from now on, keeping its id, secret and history. Deliveries that failed or were
/// cancelled when it was disabled stay so; requeue them with the retry operations.
///
/// Who: the `la` or `school` client that created the subscription (any other is 404). What it
/// changes: the subscription's status. Audited (`enable`); enabling an active one changes
/// nothing and is not audited.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = ID), IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Active", body = WebhookView),
        ReadFailures,
        (status = 409, response = IdempotencyConflict),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/webhooks/{id}/enable", wrap = "from_fn(retry_safe)")]
pub async fn enable_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<WebhookView>, ApiError> {
    Ok(web::Json(webhooks::enable(&state, &actor, *id).await?))
}
