//! Pruning old rows, one bounded batch per call (the caller commits each batch on its own, so
//! SQLite's writer is never held for long). What may go is decided in SQL here; how long each
//! kind is kept is `domain::retention`.

use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::schema::{
    alerts, audit_events, changes, events, retention_horizons, webhook_attempts, webhook_deliveries,
};
use super::{DbConnection, StoreResult};
use crate::domain::events::DeliveryStatus;

/// The horizon row of the change feed.
const CHANGES: &str = "changes";

/// Removes up to `batch` audit rows older than `cutoff`; the database itself refuses to remove
/// one younger than six years (the retention migration's trigger).
pub fn prune_audit(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    batch: i64,
) -> StoreResult<usize> {
    let ids: Vec<i64> = audit_events::table
        .filter(audit_events::occurred_at.lt(cutoff))
        .order(audit_events::id)
        .select(audit_events::id)
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&ids))).execute(conn)?)
}

/// Removes up to `batch` webhook attempts of deliveries that are over (delivered, failed or
/// cancelled) and whose last attempt was before `cutoff`. A pending delivery keeps its history.
pub fn prune_attempts(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    batch: i64,
) -> StoreResult<usize> {
    let ids: Vec<i64> = webhook_attempts::table
        .inner_join(webhook_deliveries::table)
        .filter(webhook_deliveries::status.ne(DeliveryStatus::Pending.as_str()))
        .filter(webhook_deliveries::last_attempt_at.lt(cutoff))
        .order(webhook_attempts::id)
        .select(webhook_attempts::id)
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::delete(webhook_attempts::table.filter(webhook_attempts::id.eq_any(&ids)))
            .execute(conn)?,
    )
}

/// Removes up to `batch` events that occurred before `cutoff`, with their deliveries and
/// attempts, when every delivery is over and none was attempted since `cutoff`. Never an event
/// still to be delivered, nor one announcing an alert that is still open: the scan announces an
/// open alert that no event names, so removing it would announce the alert again.
pub fn prune_events(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    batch: i64,
) -> StoreResult<usize> {
    let ids: Vec<i64> = events::table
        .filter(events::occurred_at.lt(cutoff))
        .filter(not(exists(
            webhook_deliveries::table
                .filter(webhook_deliveries::event_id.eq(events::id))
                .filter(
                    webhook_deliveries::status
                        .eq(DeliveryStatus::Pending.as_str())
                        .or(webhook_deliveries::last_attempt_at.ge(cutoff)),
                ),
        )))
        .filter(not(exists(
            alerts::table
                .filter(alerts::id.nullable().eq(events::alert_id))
                .filter(alerts::resolved_on.is_null()),
        )))
        .order(events::id)
        .select(events::id)
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    let deliveries = webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq_any(&ids))
        .select(webhook_deliveries::id);
    diesel::delete(
        webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries)),
    )
    .execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::event_id.eq_any(&ids)))
        .execute(conn)?;
    Ok(diesel::delete(events::table.filter(events::id.eq_any(&ids))).execute(conn)?)
}

/// Removes up to `batch` of the oldest changes, as long as each was made before `cutoff`: the
/// feed loses a prefix, never a change in the middle, and the horizon records the last version
/// removed.
pub fn prune_changes(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    batch: i64,
) -> StoreResult<usize> {
    let oldest: Vec<(i64, NaiveDateTime)> = changes::table
        .order(changes::version)
        .select((changes::version, changes::changed_at))
        .limit(batch)
        .load(conn)?;
    let Some(last) = oldest
        .iter()
        .take_while(|(_, at)| *at < cutoff)
        .map(|(version, _)| *version)
        .last()
    else {
        return Ok(0);
    };
    let removed = diesel::delete(changes::table.filter(changes::version.le(last))).execute(conn)?;
    diesel::update(
        retention_horizons::table
            .find(CHANGES)
            .filter(retention_horizons::pruned_through.lt(last)),
    )
    .set(retention_horizons::pruned_through.eq(last))
    .execute(conn)?;
    Ok(removed)
}

/// The last version removed from the change feed (0: none).
pub fn changes_pruned_through(conn: &mut DbConnection) -> StoreResult<i64> {
    Ok(retention_horizons::table
        .find(CHANGES)
        .select(retention_horizons::pruned_through)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}
