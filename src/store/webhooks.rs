//! Webhook subscriptions, the outbox of events and their deliveries (`webhook_subscriptions`,
//! `events`, `webhook_deliveries`, `webhook_attempts`; issue 7).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::columns::StoredWord;
use super::schema::{
    api_clients, cases, events, reviews, webhook_attempts, webhook_deliveries,
    webhook_subscriptions,
};
use super::{DbConnection, StoreResult};
use crate::domain::case::{CaseStatus, ReviewStatus};
use crate::domain::events::{DeliveryStatus, SubscriptionStatus};

/// A subscription to make: active from the start.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_subscriptions)]
pub struct NewSubscription {
    pub client_id: String,
    pub role: String,
    pub schools: String,
    pub url: String,
    pub events: String,
    pub description: Option<String>,
    pub secret: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct SubscriptionRow {
    pub id: i64,
    pub client_id: String,
    pub role: String,
    pub schools: String,
    pub url: String,
    pub events: String,
    pub description: Option<String>,
    pub secret: String,
    #[diesel(deserialize_as = StoredWord)]
    pub status: SubscriptionStatus,
    pub status_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewEvent {
    pub message_id: String,
    pub event_type: String,
    pub school_urn: i32,
    pub occurred_at: NaiveDateTime,
    pub payload: String,
    pub dedupe_key: Option<String>,
    pub alert_id: Option<i64>,
}

/// One event to deliver to one subscription: pending from the start.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery {
    pub subscription_id: i64,
    pub event_id: i64,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct DeliveryRow {
    pub id: i64,
    pub subscription_id: i64,
    pub event_id: i64,
    #[diesel(deserialize_as = StoredWord)]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// The attempt count when the current retry schedule began: 0, or where a requeue found it.
    pub retry_schedule_from: i32,
}

#[derive(Debug, Clone, Insertable, Queryable)]
#[diesel(table_name = webhook_attempts)]
pub struct NewAttempt {
    pub delivery_id: i64,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Queryable)]
pub struct AttemptRow {
    pub id: i64,
    pub delivery_id: i64,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// A delivery claimed for sending, with what it takes to send it.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery_id: i64,
    pub attempts: i32,
    pub retry_schedule_from: i32,
    pub subscription_id: i64,
    pub url: String,
    pub secret: String,
    pub message_id: String,
    pub payload: String,
}

/// A delivery as its subscriber lists it.
#[derive(Debug, Clone)]
pub struct DeliveryListing {
    pub delivery: DeliveryRow,
    pub message_id: String,
    pub event_type: String,
    pub occurred_at: NaiveDateTime,
}

pub fn insert_subscription(conn: &mut DbConnection, new: &NewSubscription) -> StoreResult<i64> {
    let active = webhook_subscriptions::status.eq(SubscriptionStatus::Active.as_str());
    Ok(diesel::insert_into(webhook_subscriptions::table)
        .values((new, active))
        .returning(webhook_subscriptions::id)
        .get_result(conn)?)
}

pub fn find_subscription(conn: &mut DbConnection, id: i64) -> StoreResult<Option<SubscriptionRow>> {
    Ok(webhook_subscriptions::table
        .find(id)
        .filter(webhook_subscriptions::status.ne(SubscriptionStatus::Deleted.as_str()))
        .first(conn)
        .optional()?)
}

/// Subscriptions not deleted, oldest first: a client's own, or (`None`) everyone's.
pub fn list_subscriptions(
    conn: &mut DbConnection,
    client_id: Option<&str>,
    after_id: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<SubscriptionRow>> {
    let mut query = webhook_subscriptions::table
        .filter(webhook_subscriptions::status.ne(SubscriptionStatus::Deleted.as_str()))
        .order(webhook_subscriptions::id)
        .into_boxed();
    if let Some(client) = client_id {
        query = query.filter(webhook_subscriptions::client_id.eq(client.to_string()));
    }
    if let Some(after) = after_id {
        query = query.filter(webhook_subscriptions::id.gt(after));
    }
    Ok(query.limit(limit).load(conn)?)
}

/// The subscriptions that receive events now: active, of a client that is not revoked.
pub fn receiving_subscriptions(conn: &mut DbConnection) -> StoreResult<Vec<SubscriptionRow>> {
    Ok(webhook_subscriptions::table
        .inner_join(api_clients::table)
        .filter(webhook_subscriptions::status.eq(SubscriptionStatus::Active.as_str()))
        .filter(api_clients::revoked_at.is_null())
        .select(webhook_subscriptions::all_columns)
        .order(webhook_subscriptions::id)
        .load(conn)?)
}

/// Disables or deletes a subscription and cancels what it still had pending.
pub fn end_subscription(
    conn: &mut DbConnection,
    id: i64,
    status: SubscriptionStatus,
    reason: &str,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    let values = (
        webhook_subscriptions::status.eq(status.as_str()),
        webhook_subscriptions::status_reason.eq(Some(reason)),
        webhook_subscriptions::updated_at.eq(now),
    );
    // Deleting ends an active or disabled subscription; disabling only an active one.
    let changed = if status == SubscriptionStatus::Deleted {
        diesel::update(
            webhook_subscriptions::table
                .find(id)
                .filter(webhook_subscriptions::status.ne(SubscriptionStatus::Deleted.as_str())),
        )
        .set(values)
        .execute(conn)?
    } else {
        diesel::update(
            webhook_subscriptions::table
                .find(id)
                .filter(webhook_subscriptions::status.eq(SubscriptionStatus::Active.as_str())),
        )
        .set(values)
        .execute(conn)?
    };
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::subscription_id.eq(id))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str())),
    )
    .set((
        webhook_deliveries::status.eq(DeliveryStatus::Cancelled.as_str()),
        webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
        webhook_deliveries::last_error.eq(Some(reason)),
    ))
    .execute(conn)?;
    Ok(changed)
}

/// Writes events, skipping any with the same `dedupe_key` (or for the same alert) as one written
/// before or earlier in `new`, so a clock-driven event is emitted once however often the scan
/// runs. Returns the message id and event id of each one written.
pub fn insert_events(conn: &mut DbConnection, new: &[NewEvent]) -> StoreResult<Vec<(String, i64)>> {
    let mut written = Vec::with_capacity(new.len());
    // 7 values a row: 500 rows stay far below either backend's limit on bound values.
    for chunk in new.chunks(500) {
        let rows: Vec<(String, i64)> = match conn {
            DbConnection::Postgresql(pg) => diesel::insert_into(events::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning((events::message_id, events::id))
                .get_results(pg)?,
            DbConnection::Sqlite(lite) => diesel::insert_into(events::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning((events::message_id, events::id))
                .get_results(lite)?,
        };
        written.extend(rows);
    }
    Ok(written)
}

pub fn insert_deliveries(conn: &mut DbConnection, new: &[NewDelivery]) -> StoreResult<usize> {
    let mut n = 0;
    // Multi-row inserts go through the backend's own connection (not the MultiConnection).
    for chunk in new.chunks(500) {
        let pending = webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str());
        let chunk: Vec<_> = chunk.iter().map(|d| (d, pending)).collect();
        n += match conn {
            DbConnection::Postgresql(pg) => diesel::insert_into(webhook_deliveries::table)
                .values(chunk)
                .execute(pg)?,
            DbConnection::Sqlite(lite) => diesel::insert_into(webhook_deliveries::table)
                .values(chunk)
                .execute(lite)?,
        };
    }
    Ok(n)
}

/// The subscriptions whose pending deliveries are sent: active ones of a client not revoked (a
/// revoked client's receive nothing more, whatever was already queued; a disabled one's pending
/// deliveries were cancelled, and one requeued as it was being disabled waits for it to be
/// enabled again).
#[diesel::dsl::auto_type]
fn sending_subscriptions() -> _ {
    let active: &'static str = SubscriptionStatus::Active.as_str();
    webhook_subscriptions::table
        .inner_join(api_clients::table)
        .filter(api_clients::revoked_at.is_null())
        .filter(webhook_subscriptions::status.eq(active))
        .select(webhook_subscriptions::id)
}

/// Claims up to `limit` pending deliveries due by `now`: their `next_attempt_at` moves to
/// `lease_until`, so a crash mid-attempt leaves them due again once the lease runs out (at
/// least once), and a second dispatcher does not take them meanwhile.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> StoreResult<Vec<DeliveryJob>> {
    let due = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(webhook_deliveries::subscription_id.eq_any(sending_subscriptions()))
        .order(webhook_deliveries::next_attempt_at)
        .select(webhook_deliveries::id)
        .limit(limit);
    let ids: Vec<i64> = match conn {
        // Two instances of the service skip each other's rows instead of sending twice.
        DbConnection::Postgresql(pg) => due.for_update().skip_locked().load(pg)?,
        DbConnection::Sqlite(lite) => due.load(lite)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
        .set(webhook_deliveries::next_attempt_at.eq(Some(lease_until)))
        .execute(conn)?;
    type Job = (i64, i32, i32, i64, String, String, String, String);
    let rows: Vec<Job> = webhook_deliveries::table
        .inner_join(webhook_subscriptions::table)
        .inner_join(events::table)
        .filter(webhook_deliveries::id.eq_any(&ids))
        .order(webhook_deliveries::id)
        .select((
            webhook_deliveries::id,
            webhook_deliveries::attempts,
            webhook_deliveries::retry_schedule_from,
            webhook_subscriptions::id,
            webhook_subscriptions::url,
            webhook_subscriptions::secret,
            events::message_id,
            events::payload,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                delivery_id,
                attempts,
                retry_schedule_from,
                subscription_id,
                url,
                secret,
                message_id,
                payload,
            )| {
                DeliveryJob {
                    delivery_id,
                    attempts,
                    retry_schedule_from,
                    subscription_id,
                    url,
                    secret,
                    message_id,
                    payload,
                }
            },
        )
        .collect())
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub enum AttemptResult {
    Delivered,
    /// Try again at this time.
    Retry(NaiveDateTime),
    /// Retries exhausted.
    Failed,
    /// The receiver said 410 Gone: the subscription is disabled.
    Gone,
}

/// Records an attempt and its consequence for the delivery (and, for 410, the subscription).
pub fn record_attempt(
    conn: &mut DbConnection,
    job: &DeliveryJob,
    attempt: &NewAttempt,
    result: &AttemptResult,
) -> StoreResult<()> {
    diesel::insert_into(webhook_attempts::table)
        .values(attempt)
        .execute(conn)?;
    let (status, next, delivered) = match result {
        AttemptResult::Delivered => (DeliveryStatus::Delivered, None, Some(attempt.attempted_at)),
        AttemptResult::Retry(at) => (DeliveryStatus::Pending, Some(*at), None),
        AttemptResult::Failed | AttemptResult::Gone => (DeliveryStatus::Failed, None, None),
    };
    diesel::update(
        webhook_deliveries::table
            .find(job.delivery_id)
            // A delivery cancelled meanwhile (the subscription deleted) stays cancelled.
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str())),
    )
    .set((
        webhook_deliveries::status.eq(status.as_str()),
        webhook_deliveries::attempts.eq(job.attempts + 1),
        webhook_deliveries::next_attempt_at.eq(next),
        webhook_deliveries::last_attempt_at.eq(Some(attempt.attempted_at)),
        webhook_deliveries::last_status_code.eq(attempt.status_code),
        webhook_deliveries::last_error.eq(attempt.error.as_deref()),
        webhook_deliveries::delivered_at.eq(delivered),
    ))
    .execute(conn)?;
    if let AttemptResult::Gone = result {
        end_subscription(
            conn,
            job.subscription_id,
            SubscriptionStatus::Disabled,
            "the receiver answered 410 Gone",
            attempt.attempted_at,
        )?;
    }
    Ok(())
}

/// A subscription's deliveries, newest first.
pub fn deliveries_of(
    conn: &mut DbConnection,
    subscription_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<DeliveryListing>> {
    let mut query = webhook_deliveries::table
        .inner_join(events::table)
        .filter(webhook_deliveries::subscription_id.eq(subscription_id))
        .order(webhook_deliveries::id.desc())
        .select((
            webhook_deliveries::all_columns,
            events::message_id,
            events::event_type,
            events::occurred_at,
        ))
        .into_boxed();
    if let Some(before) = before_id {
        query = query.filter(webhook_deliveries::id.lt(before));
    }
    let rows: Vec<(DeliveryRow, String, String, NaiveDateTime)> = query.limit(limit).load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(delivery, message_id, event_type, occurred_at)| DeliveryListing {
                delivery,
                message_id,
                event_type,
                occurred_at,
            },
        )
        .collect())
}

pub fn attempts_of(conn: &mut DbConnection, delivery_ids: &[i64]) -> StoreResult<Vec<AttemptRow>> {
    Ok(webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(delivery_ids))
        .order(webhook_attempts::id)
        .load(conn)?)
}

/// A review due: (review id, case id, school, pupil, kind, label).
pub type ReviewDue = (i64, i64, i32, String, String, String);

/// Scheduled reviews of active cases whose day is `day`: (review id, case id, school, pupil,
/// kind, label).
pub fn reviews_due_on(conn: &mut DbConnection, day: NaiveDate) -> StoreResult<Vec<ReviewDue>> {
    Ok(reviews::table
        .inner_join(cases::table)
        .filter(reviews::status.eq(ReviewStatus::Scheduled.as_str()))
        .filter(reviews::scheduled_for.eq(day))
        .filter(cases::status.eq(CaseStatus::Active.as_str()))
        .order(reviews::id)
        .select((
            reviews::id,
            cases::id,
            cases::school_urn,
            cases::upn,
            reviews::kind,
            reviews::label,
        ))
        .load(conn)?)
}

/// Stored secrets (sealed, or in clear from before sealing) of subscriptions after `after_id`,
/// every status (a disabled one may be enabled again), oldest first.
pub fn secrets_after(
    conn: &mut DbConnection,
    after_id: i64,
    limit: i64,
) -> StoreResult<Vec<(i64, String)>> {
    Ok(webhook_subscriptions::table
        .filter(webhook_subscriptions::id.gt(after_id))
        .order(webhook_subscriptions::id)
        .select((webhook_subscriptions::id, webhook_subscriptions::secret))
        .limit(limit)
        .load(conn)?)
}

pub fn set_secret(conn: &mut DbConnection, id: i64, stored: &str) -> StoreResult<usize> {
    Ok(diesel::update(webhook_subscriptions::table.find(id))
        .set(webhook_subscriptions::secret.eq(stored))
        .execute(conn)?)
}

/// Pending deliveries (for tools and tests).
pub fn pending_count(conn: &mut DbConnection) -> StoreResult<i64> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
        .count()
        .get_result(conn)?)
}

/// One delivery of a subscription, as its subscriber lists it.
pub fn delivery_of(
    conn: &mut DbConnection,
    subscription_id: i64,
    delivery_id: i64,
) -> StoreResult<Option<DeliveryListing>> {
    let row: Option<(DeliveryRow, String, String, NaiveDateTime)> = webhook_deliveries::table
        .inner_join(events::table)
        .filter(webhook_deliveries::id.eq(delivery_id))
        .filter(webhook_deliveries::subscription_id.eq(subscription_id))
        .select((
            webhook_deliveries::all_columns,
            events::message_id,
            events::event_type,
            events::occurred_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(delivery, message_id, event_type, occurred_at)| DeliveryListing {
            delivery,
            message_id,
            event_type,
            occurred_at,
        },
    ))
}

/// The delivery states a requeue takes (`DeliveryStatus::may_be_requeued`).
fn requeueable() -> Vec<&'static str> {
    DeliveryStatus::ALL
        .into_iter()
        .filter(|s| s.may_be_requeued())
        .map(DeliveryStatus::as_str)
        .collect()
}

/// Puts these deliveries back in the queue, due at `now`, if they are still failed or cancelled:
/// their attempts so far are kept and the retry schedule starts again from here. Returns how
/// many were requeued.
pub fn requeue(conn: &mut DbConnection, ids: &[i64], now: NaiveDateTime) -> StoreResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq_any(ids))
            .filter(webhook_deliveries::status.eq_any(requeueable())),
    )
    .set((
        webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
        webhook_deliveries::next_attempt_at.eq(Some(now)),
        webhook_deliveries::retry_schedule_from.eq(webhook_deliveries::attempts),
    ))
    .execute(conn)?)
}

/// Up to `limit` of a subscription's failed or cancelled deliveries after `after_id` whose last
/// attempt (or, never attempted, whose creation) is at or after `since`, oldest first.
pub fn undelivered_since(
    conn: &mut DbConnection,
    subscription_id: i64,
    since: NaiveDateTime,
    after_id: i64,
    limit: i64,
) -> StoreResult<Vec<i64>> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::subscription_id.eq(subscription_id))
        .filter(webhook_deliveries::id.gt(after_id))
        .filter(webhook_deliveries::status.eq_any(requeueable()))
        .filter(
            webhook_deliveries::last_attempt_at
                .ge(since)
                .or(webhook_deliveries::last_attempt_at
                    .is_null()
                    .and(webhook_deliveries::created_at.ge(since))),
        )
        .order(webhook_deliveries::id)
        .select(webhook_deliveries::id)
        .limit(limit)
        .load(conn)?)
}

/// Makes a disabled subscription active again; false when it was not disabled.
pub fn enable_subscription(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let changed = diesel::update(
        webhook_subscriptions::table
            .find(id)
            .filter(webhook_subscriptions::status.eq(SubscriptionStatus::Disabled.as_str())),
    )
    .set((
        webhook_subscriptions::status.eq(SubscriptionStatus::Active.as_str()),
        webhook_subscriptions::status_reason.eq(None::<String>),
        webhook_subscriptions::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// The queue the dispatcher works through: how many deliveries are pending (due now, waiting for
/// a retry, or under way) and the earliest time one of them is due. One query over the partial
/// index of pending deliveries (`webhook_deliveries_due`), counting only what would be sent.
pub fn queue_state(conn: &mut DbConnection) -> StoreResult<(i64, Option<NaiveDateTime>)> {
    use diesel::dsl::{count_star, min};
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_deliveries::subscription_id.eq_any(sending_subscriptions()))
        .select((count_star(), min(webhook_deliveries::next_attempt_at)))
        .first(conn)?)
}
