//! Webhook subscriptions and the outbox (API.md "Webhooks"; issue 7). Events are written by
//! [`emit`] in the transaction of the change that causes them, each with one delivery row per
//! subscription that receives it; the dispatcher (`notify/`) sends them. Clock-driven events come
//! from [`scan`], which may run any number of times: each is emitted once.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::{alerts, page_of, Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::alerts::Alert;
use crate::domain::alerts::AlertKind;
use crate::domain::calendar::SchoolCalendar;
use crate::domain::events::{
    receives, requeue_refusal, url_problem, DeliveryStatus, EventType, SubscriptionStatus,
};
use crate::domain::referral::ReferralId;
use crate::error::ApiError;
use crate::signing::{WebhookKeys, WebhookSecret};
use crate::store::webhooks::{
    self as store, AttemptRow, DeliveryListing, NewDelivery, NewEvent, NewSubscription,
    SubscriptionRow,
};
use crate::store::{audit, calendars, changes, Db, DbConnection};
use crate::telemetry::WebhookQueue;

/// An event about to be written to the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub event_type: EventType,
    pub school_urn: i32,
    pub data: Value,
    /// Clock-driven events: what makes this one the same as one emitted before.
    pub dedupe_key: Option<String>,
    pub alert_id: Option<i64>,
}

impl Outgoing {
    pub fn new(event_type: EventType, school_urn: i32, data: Value) -> Outgoing {
        Outgoing {
            event_type,
            school_urn,
            data,
            dedupe_key: None,
            alert_id: None,
        }
    }
}

/// The body every receiver gets (the Standard Webhooks payload shape).
#[derive(Debug, Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a Value,
}

/// Writes events and their deliveries in the caller's transaction; returns how many events
/// were new (a clock-driven one seen before is skipped).
pub fn emit(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    events: &[Outgoing],
) -> Result<usize, ApiError> {
    if events.is_empty() {
        return Ok(0);
    }
    let subscriptions: Vec<(SubscriptionRow, Role, Vec<i32>, Vec<EventType>)> =
        store::receiving_subscriptions(conn)?
            .into_iter()
            .filter_map(|s| {
                let role: Role = s.role.parse().ok()?;
                let schools: Vec<i32> = serde_json::from_str(&s.schools).ok()?;
                let wanted: Vec<String> = serde_json::from_str(&s.events).ok()?;
                let wanted = wanted.iter().filter_map(|w| EventType::parse(w)).collect();
                Some((s, role, schools, wanted))
            })
            .collect();
    // The payload's `timestamp` is when the event happened by the real clock, the clock of the
    // `webhook-timestamp` header (the time of each attempt, which receivers check against their
    // own clock): with a fixed ESMA_TODAY the two would otherwise be days apart. The statutory
    // day stays in the records (`occurred_at`) and in the data's dates.
    let wall = crate::clock::wall_naive();
    let timestamp = wall
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let body = serde_json::to_string(&Payload {
            event_type: event.event_type.as_str(),
            timestamp: timestamp.clone(),
            data: &event.data,
        })
        .map_err(|e| ApiError::internal(format!("event not serialisable: {e}")))?;
        rows.push(NewEvent {
            message_id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
            event_type: event.event_type.as_str().to_string(),
            school_urn: event.school_urn,
            occurred_at: now,
            payload: body,
            dedupe_key: event.dedupe_key.clone(),
            alert_id: event.alert_id,
        });
    }
    // Written in a few multi-row statements: a scan after a night of pushes announces thousands
    // of alerts, and a statement each would hold SQLite's writer for as many round trips.
    let written: HashMap<String, i64> = store::insert_events(conn, &rows)?.into_iter().collect();
    let mut deliveries = Vec::new();
    // Deliveries are paced by the real time, whatever day the statutory clock says it is.
    for (event, row) in events.iter().zip(&rows) {
        let Some(&event_id) = written.get(&row.message_id) else {
            continue;
        };
        for (sub, role, schools, wanted) in &subscriptions {
            if receives(*role, schools, wanted, event.event_type, event.school_urn) {
                deliveries.push(NewDelivery {
                    subscription_id: sub.id,
                    event_id,
                    attempts: 0,
                    next_attempt_at: Some(wall),
                    created_at: wall,
                });
            }
        }
    }
    store::insert_deliveries(conn, &deliveries)?;
    Ok(written.len())
}

/// What one scan emitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    pub events: usize,
}

/// The clock-driven events due as of today: reviews whose day has come, and the open alerts
/// that announce something (overdue reviews, evidence due, sickness returns, overdue `N`s) not
/// announced yet. Brings the clock-driven alerts up to date first, as a read of the worklist
/// would, so nobody has to look for them to be raised.
pub async fn scan(state: &AppState) -> Result<ScanReport, ApiError> {
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.policy.clone();
    let attendance = state.attendance.clone();
    state
        .db
        .write(move |conn| {
            let changed = alerts::follow_clock(conn, &policy, today)?;
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            let mut due = Vec::new();
            for (review_id, case_id, school_urn, upn, kind, label) in
                store::reviews_due_on(conn, today)?
            {
                let mut event = Outgoing::new(
                    EventType::CaseReviewDue,
                    school_urn,
                    json!({
                        "case_id": case_id, "review_id": review_id, "school_urn": school_urn,
                        "upn": upn, "kind": kind, "label": label, "scheduled_for": today,
                        "href": format!("/api/v1/cases/{case_id}/reviews"),
                    }),
                );
                // Rescheduled onto another day, it is due again on that day.
                event.dedupe_key = Some(format!("review_due:{review_id}:{today}"));
                due.push(event);
            }
            let mut announced = Vec::new();
            for alert in alerts::to_announce(conn, today, &calendar, &attendance)? {
                if let Some(event) = announcement(&alert, &calendar, &attendance) {
                    announced.push(alert.id);
                    due.push(event);
                }
            }
            let events = emit(conn, now, &due)?;
            alerts::mark_announced(conn, &announced, today)?;
            // The alerts the scan raised or resolved are changes too; recorded last (the feed's
            // lock is held from here to the commit).
            changes::record_at(conn, now, &changed)?;
            Ok(ScanReport { events })
        })
        .await
}

/// The event an open alert announces, with the facts a receiver needs to act.
fn announcement(
    alert: &Alert,
    calendar: &SchoolCalendar,
    attendance: &crate::domain::attendance::AttendancePolicy,
) -> Option<Outgoing> {
    let kind = alert.kind;
    let event_type = EventType::announcing(kind)?;
    let mut data = json!({
        "alert_id": alert.id, "kind": alert.kind, "school_urn": alert.school_urn,
        "upn": alert.upn, "since": alert.since,
        "href": format!("/api/v1/alerts?upn={}&kind={}", alert.upn, alert.kind),
    });
    match kind {
        AlertKind::UnexplainedAbsenceOverdue => {
            data["due_by"] = json!(crate::domain::attendance::unexplained_due_by(
                alert.since,
                calendar,
                attendance.unexplained_after_school_days
            ));
        }
        // R4.4, R16.1: the notice is due from the session that reached the threshold.
        AlertKind::SicknessReturnDue | AlertKind::UnauthorisedAbsence10Days => {
            data["due_by"] = json!(alert.since)
        }
        AlertKind::ReviewOverdue
        | AlertKind::MedicalEvidenceDue
        | AlertKind::LessonNonEngagement => {
            let (due_by, facts) = alerts::case_alert_facts(kind, &alert.subject, alert.since, None);
            data["due_by"] = json!(due_by);
            if let Some(case_id) = facts.get("case_id").and_then(Value::as_i64) {
                data["href"] = json!(format!("/api/v1/cases/{case_id}"));
            }
            data["facts"] = facts;
        }
        // R15.2, R15.3: the agreement the alert is about, when it is about one.
        AlertKind::PartTimeTimetableOverrun
        | AlertKind::PartTimeReviewOverdue
        | AlertKind::PartTimeTimetableProlonged => {
            if let Some(id) = crate::domain::alerts::part_time_subject_id(&alert.subject) {
                data["part_time_timetable_id"] = json!(id);
                data["href"] = json!(format!("/api/v1/part-time-timetables/{id}"));
            }
        }
        _ => {}
    }
    Some(Outgoing {
        event_type,
        school_urn: alert.school_urn,
        data,
        dedupe_key: Some(format!("alert:{}", alert.id)),
        alert_id: Some(alert.id),
    })
}

// ------------------------------------------------------------------------ subscriptions

/// A subscription (the secret is shown only when it is created).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookView)]
pub struct Subscription {
    pub id: i64,
    pub url: String,
    // Stored as the names the subscriber sent, each checked against `EventType` on the way in.
    #[schema(value_type = Vec<EventType>, example = json!(["referral.decided", "case.closed"]))]
    pub events: Vec<String>,
    pub description: Option<String>,
    /// `active`, or `disabled` (the receiver answered 410 Gone; nothing more is sent until its
    /// owner enables it again: `POST /api/v1/webhooks/{id}/enable`).
    pub status: SubscriptionStatus,
    pub status_reason: Option<String>,
    /// The schools whose events it receives; empty for an `la` client (every school).
    pub schools: Vec<i32>,
    pub created_at: DateTime<Utc>,
}

fn subscription(row: SubscriptionRow) -> Result<Subscription, ApiError> {
    let unreadable = |e: serde_json::Error| {
        ApiError::internal(format!("stored subscription {} unreadable: {e}", row.id))
    };
    Ok(Subscription {
        events: serde_json::from_str(&row.events).map_err(unreadable)?,
        schools: serde_json::from_str(&row.schools).map_err(unreadable)?,
        id: row.id,
        url: row.url,
        description: row.description,
        status: row.status,
        status_reason: row.status_reason,
        created_at: row.created_at.and_utc(),
    })
}

/// One event for this subscription, and what became of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DeliveryView)]
pub struct Delivery {
    pub id: i64,
    /// The `webhook-id` header: the same on every retry, so receivers can deduplicate.
    #[schema(example = "msg_5b1f0c8e2d6a4f4f9c3e8a7b6d5c4b3a")]
    pub message_id: String,
    #[schema(value_type = EventType, example = "referral.decided")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// `pending` (sent at `next_attempt_at`), `delivered`, `failed` (retries exhausted, about
    /// three days) or `cancelled` (the subscription was deleted or disabled). A failed or
    /// cancelled one can be put back in the queue (`.../deliveries/{delivery_id}/retry`).
    pub status: DeliveryStatus,
    /// Attempts made, all told (a retried delivery's count continues).
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// One attempt to deliver.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AttemptView)]
pub struct Attempt {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; null when no answer came (refused, timed out).
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

fn delivery(listed: DeliveryListing, attempts: Vec<AttemptRow>) -> Delivery {
    let d = listed.delivery;
    Delivery {
        id: d.id,
        message_id: listed.message_id,
        event_type: listed.event_type,
        occurred_at: listed.occurred_at.and_utc(),
        status: d.status,
        attempt_count: d.attempts,
        next_attempt_at: d.next_attempt_at.map(|t| t.and_utc()),
        delivered_at: d.delivered_at.map(|t| t.and_utc()),
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        attempts: attempts
            .into_iter()
            .map(|a| Attempt {
                attempted_at: a.attempted_at.and_utc(),
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error,
            })
            .collect(),
    }
}

/// What a client asks to be told.
#[derive(Debug, Clone)]
pub struct SubscriptionRequest {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// `POST /api/v1/webhooks`: `la` hears of every school, a school client of its own schools.
/// Returns the subscription and its secret (shown only here).
pub async fn create(
    state: &AppState,
    actor: &Actor,
    request: SubscriptionRequest,
) -> Result<(Subscription, WebhookSecret), ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let mut problems = Vec::new();
    if let Some(why) = url_problem(&request.url, state.allow_insecure_webhooks) {
        problems.push(("/url".to_string(), why));
    }
    if request.events.is_empty() {
        problems.push((
            "/events".to_string(),
            "name at least one event type".to_string(),
        ));
    }
    let mut events: Vec<EventType> = Vec::new();
    for (i, name) in request.events.iter().enumerate() {
        match EventType::parse(name) {
            Some(t) if !events.contains(&t) => events.push(t),
            Some(_) => {}
            None => problems.push((
                format!("/events/{i}"),
                format!(
                    "unknown event type '{}'; known: {}",
                    name.chars().take(60).collect::<String>(),
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::from_problems(problems));
    }
    let secret = WebhookSecret::generate();
    let now = state.clock.now_naive();
    let schools = match actor.role {
        Role::La => Vec::new(),
        _ => actor.schools.clone(),
    };
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    let new = NewSubscription {
        client_id: actor.client_id.clone(),
        role: actor.role.as_str().to_string(),
        schools: json!(schools).to_string(),
        url: request.url,
        events: json!(names).to_string(),
        description: request.description,
        secret: state.webhook_keys.seal(secret.expose()),
        created_at: now,
        updated_at: now,
    };
    let actor = actor.clone();
    let row = state
        .db
        .write(move |conn| {
            let id = store::insert_subscription(conn, &new)?;
            audit::append(
                conn,
                &[actor.audit(now, "create", AuditSubject::new("webhook", id.to_string()))],
            )?;
            store::find_subscription(conn, id)?
                .ok_or_else(|| ApiError::internal("the new subscription vanished"))
        })
        .await?;
    Ok((subscription(row)?, secret))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("no webhook subscription {id} of yours"))
}

/// A client's own subscription, or 404 (another client's reads as absent).
fn own(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<SubscriptionRow, ApiError> {
    store::find_subscription(conn, id)?
        .filter(|s| s.client_id == actor.client_id)
        .ok_or_else(|| not_found(id))
}

/// `GET /api/v1/webhooks`: the caller's own subscriptions, oldest first.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    after_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<Subscription>, Option<i64>), ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let client = actor.client_id.clone();
    let rows = state
        .db
        .read(move |conn| {
            Ok(store::list_subscriptions(
                conn,
                Some(&client),
                after_id,
                limit + 1,
            )?)
        })
        .await?;
    let (rows, next) = page_of(rows, limit, |r| r.id);
    Ok((
        rows.into_iter()
            .map(subscription)
            .collect::<Result<_, _>>()?,
        next,
    ))
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn get(state: &AppState, actor: &Actor, id: i64) -> Result<Subscription, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let actor = actor.clone();
    subscription(state.db.read(move |conn| own(conn, &actor, id)).await?)
}

/// `DELETE /api/v1/webhooks/{id}`: nothing more is sent; pending deliveries are cancelled.
pub async fn delete(state: &AppState, actor: &Actor, id: i64) -> Result<(), ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let now = state.clock.now_naive();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            own(conn, &actor, id)?;
            store::end_subscription(
                conn,
                id,
                SubscriptionStatus::Deleted,
                "deleted by its owner",
                now,
            )?;
            audit::append(
                conn,
                &[actor.audit(now, "delete", AuditSubject::new("webhook", id.to_string()))],
            )?;
            Ok(())
        })
        .await
}

/// `GET /api/v1/webhooks/{id}/deliveries`: newest first, each with its attempts.
pub async fn deliveries(
    state: &AppState,
    actor: &Actor,
    id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<Delivery>, Option<i64>), ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let actor = actor.clone();
    state
        .db
        .read(move |conn| {
            own(conn, &actor, id)?;
            let rows = store::deliveries_of(conn, id, before_id, limit + 1)?;
            let (rows, next) = page_of(rows, limit, |r| r.delivery.id);
            let ids: Vec<i64> = rows.iter().map(|r| r.delivery.id).collect();
            let mut attempts: HashMap<i64, Vec<AttemptRow>> = HashMap::new();
            for attempt in store::attempts_of(conn, &ids)? {
                attempts
                    .entry(attempt.delivery_id)
                    .or_default()
                    .push(attempt);
            }
            let listed = rows
                .into_iter()
                .map(|r| {
                    let of_this = attempts.remove(&r.delivery.id).unwrap_or_default();
                    delivery(r, of_this)
                })
                .collect();
            Ok((listed, next))
        })
        .await
}

// ------------------------------------------------------------------------ operating them

/// A subscription whose deliveries may be requeued: active (409 naming why not otherwise).
fn sending(sub: &SubscriptionRow) -> Result<(), ApiError> {
    match requeue_refusal(sub.status) {
        None => Ok(()),
        Some(why) => Err(ApiError::conflict(format!(
            "webhook subscription {} {why}{}: nothing of it is sent, so nothing can be requeued; \
             enable it first (POST /api/v1/webhooks/{}/enable)",
            sub.id,
            sub.status_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            sub.id
        ))),
    }
}

fn one_delivery(
    conn: &mut DbConnection,
    id: i64,
    delivery_id: i64,
) -> Result<DeliveryListing, ApiError> {
    store::delivery_of(conn, id, delivery_id)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no delivery {delivery_id} of webhook subscription {id}"
        ))
    })
}

/// `POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/retry`: a delivery that is over without
/// being delivered (failed, or cancelled when the subscription was disabled) goes back in the
/// queue, due now; its attempts are kept, the next one continues their count, and it gets the
/// whole retry schedule again.
pub async fn retry(
    state: &AppState,
    actor: &Actor,
    id: i64,
    delivery_id: i64,
) -> Result<Delivery, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let now = state.clock.now_naive();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let sub = own(conn, &actor, id)?;
            sending(&sub)?;
            let listed = one_delivery(conn, id, delivery_id)?;
            let status = listed.delivery.status;
            if !status.may_be_requeued() {
                let why = match status {
                    DeliveryStatus::Delivered => "was delivered: there is nothing to retry",
                    _ => "is pending: it is still being tried (see next_attempt_at)",
                };
                return Err(ApiError::conflict(format!(
                    "delivery {delivery_id} {why}; only a failed or cancelled delivery is retried"
                )));
            }
            store::requeue(conn, &[delivery_id], crate::clock::wall_naive())?;
            audit::append(
                conn,
                &[actor.audit(
                    now,
                    "retry_delivery",
                    AuditSubject::new("webhook", id.to_string()),
                )],
            )?;
            let listed = one_delivery(conn, id, delivery_id)?;
            let attempts = store::attempts_of(conn, &[delivery_id])?;
            Ok(delivery(listed, attempts))
        })
        .await
}

/// What a replay put back in the queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ReplayView)]
pub struct Replay {
    /// The deliveries requeued, due now.
    #[schema(example = 42)]
    pub requeued: usize,
    pub since: DateTime<Utc>,
}

/// `POST /api/v1/webhooks/{id}/deliveries/retry`: after a receiver's outage, every delivery of
/// the subscription that is over without being delivered and whose last attempt (or, never
/// attempted, its creation) is at or after `since` is requeued as by [`retry`]. In batches, each
/// its own transaction, in one pass (a delivery that fails again meanwhile is not taken twice).
pub async fn replay(
    state: &AppState,
    actor: &Actor,
    id: i64,
    since: DateTime<Utc>,
) -> Result<Replay, ApiError> {
    const BATCH: i64 = 500;
    actor.require(&[Role::La, Role::School])?;
    let now = state.clock.now_naive();
    let mut requeued = 0;
    let mut after = 0;
    let mut first = true;
    loop {
        let actor = actor.clone();
        let (taken, last) = state
            .db
            .write(move |conn| {
                let sub = own(conn, &actor, id)?;
                if first {
                    sending(&sub)?;
                    // Audited once, with the first batch: who replayed which subscription.
                    audit::append(
                        conn,
                        &[actor.audit(
                            now,
                            "replay_deliveries",
                            AuditSubject::new("webhook", id.to_string()),
                        )],
                    )?;
                } else if sending(&sub).is_err() {
                    // Disabled meanwhile (a 410 again): what was requeued has been cancelled.
                    return Ok((0, None));
                }
                let ids = store::undelivered_since(conn, id, since.naive_utc(), after, BATCH)?;
                let taken = store::requeue(conn, &ids, crate::clock::wall_naive())?;
                let last = (ids.len() as i64 == BATCH)
                    .then(|| ids.last().copied())
                    .flatten();
                Ok((taken, last))
            })
            .await?;
        first = false;
        requeued += taken;
        match last {
            Some(id) => after = id,
            None => return Ok(Replay { requeued, since }),
        }
    }
}

/// `POST /api/v1/webhooks/{id}/enable`: a disabled subscription (its receiver answered 410 Gone)
/// receives events again from now, its history kept. What was failed or cancelled when it was
/// disabled stays so until its owner retries it. Enabling an active one changes nothing.
pub async fn enable(state: &AppState, actor: &Actor, id: i64) -> Result<Subscription, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let now = state.clock.now_naive();
    let actor = actor.clone();
    let row = state
        .db
        .write(move |conn| {
            let sub = own(conn, &actor, id)?;
            if sub.status == SubscriptionStatus::Active {
                return Ok(sub);
            }
            store::enable_subscription(conn, id, now)?;
            audit::append(
                conn,
                &[actor.audit(now, "enable", AuditSubject::new("webhook", id.to_string()))],
            )?;
            own(conn, &actor, id)
        })
        .await?;
    subscription(row)
}

/// The queue as `/metrics` shows it: read from the database, so every instance on one database
/// shows the same figures.
pub async fn queue(state: &AppState) -> Result<WebhookQueue, ApiError> {
    let (depth, earliest) = state.db.read(|conn| Ok(store::queue_state(conn)?)).await?;
    let now = crate::clock::wall_naive();
    let waited = earliest.map_or(0, |due| (now - due).num_milliseconds().max(0));
    Ok(WebhookQueue {
        depth,
        oldest_due_age_seconds: waited as f64 / 1000.0,
    })
}

/// An event for the referral's school: the ids and outcome a receiver needs, never the health
/// details (those are read, audited, through the API).
pub fn referral_event(
    event_type: EventType,
    referral_id: ReferralId,
    school_urn: i32,
    upn: &str,
    extra: Value,
) -> Outgoing {
    let mut data = json!({
        "referral_id": referral_id, "school_urn": school_urn, "upn": upn,
        "href": format!("/api/v1/referrals/{referral_id}"),
    });
    if let (Some(map), Value::Object(more)) = (data.as_object_mut(), extra) {
        map.extend(more);
    }
    Outgoing::new(event_type, school_urn, data)
}

// ------------------------------------------------------------------------ secrets at rest

/// What sealing the stored secrets again did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RekeyReport {
    /// The key everything is sealed with now.
    pub key_id: String,
    pub examined: usize,
    /// Sealed again: stored in clear before, or under an older key.
    pub resealed: usize,
    /// Sealed under a key not configured: left as they are (their deliveries fail until the
    /// key is given in ESMA_WEBHOOK_PREVIOUS_KEYS).
    pub unreadable: usize,
}

/// Seals every stored webhook secret under the current key (`esma-api webhooks rekey`, and at
/// start-up): secrets stored in clear before sealing existed, and those sealed under a previous
/// key. Batches of 100, each its own transaction.
pub async fn rekey(db: &Db, keys: &Arc<WebhookKeys>) -> Result<RekeyReport, ApiError> {
    const BATCH: i64 = 100;
    let mut report = RekeyReport {
        key_id: keys.current_id().to_string(),
        ..RekeyReport::default()
    };
    let mut after = 0;
    loop {
        let keys = keys.clone();
        let (last, examined, resealed, unreadable) = db
            .write(move |conn| {
                let rows = store::secrets_after(conn, after, BATCH)?;
                let (mut resealed, mut unreadable) = (0, 0);
                for (id, stored) in &rows {
                    if !keys.needs_resealing(stored) {
                        continue;
                    }
                    match keys.open(stored) {
                        Ok(clear) => {
                            store::set_secret(conn, *id, &keys.seal(&clear))?;
                            resealed += 1;
                        }
                        Err(why) => {
                            tracing::error!(subscription = id, error = %why, "webhook secret not resealed");
                            unreadable += 1;
                        }
                    }
                }
                Ok((rows.last().map(|r| r.0), rows.len(), resealed, unreadable))
            })
            .await?;
        report.examined += examined;
        report.resealed += resealed;
        report.unreadable += unreadable;
        match last {
            Some(id) if examined as i64 == BATCH => after = id,
            _ => return Ok(report),
        }
    }
}
