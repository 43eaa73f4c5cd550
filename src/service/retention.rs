//! Pruning what is kept no longer (issue 20), run by the clock-driven upkeep (`server::run_upkeep`).
//! Each batch is its own short transaction, so pushes are not kept waiting on SQLite's writer;
//! a round stops after `MAX_BATCHES` per kind and the next scan goes on.

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use super::AppState;
use crate::domain::retention::RetentionPolicy;
use crate::error::ApiError;
use crate::store::{retention as store, DbConnection, StoreResult};

/// Rows removed per statement.
pub const BATCH: i64 = 1_000;
/// Batches per kind in one round.
const MAX_BATCHES: usize = 50;

/// What one round removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub audit_events: usize,
    pub events: usize,
    pub webhook_attempts: usize,
    pub changes: usize,
}

impl PruneReport {
    pub fn total(&self) -> usize {
        self.audit_events + self.events + self.webhook_attempts + self.changes
    }
}

type Prune = fn(&mut DbConnection, NaiveDateTime, i64) -> StoreResult<usize>;

/// Prunes every kind older than its retention, as of the service's clock.
pub async fn prune(state: &AppState, policy: &RetentionPolicy) -> Result<PruneReport, ApiError> {
    let now = state.clock.now_naive();
    let cutoff = |days: u32| (days > 0).then(|| now - Duration::days(i64::from(days)));
    let mut report = PruneReport::default();
    // Attempts before events: an event's removal takes its attempts with it anyway.
    let kinds: [(Option<NaiveDateTime>, Prune, &mut usize); 4] = [
        (
            cutoff(policy.attempts_days),
            store::prune_attempts,
            &mut report.webhook_attempts,
        ),
        (
            cutoff(policy.events_days),
            store::prune_events,
            &mut report.events,
        ),
        (
            cutoff(policy.changes_days),
            store::prune_changes,
            &mut report.changes,
        ),
        (
            cutoff(policy.audit_days),
            store::prune_audit,
            &mut report.audit_events,
        ),
    ];
    for (cutoff, prune, removed) in kinds {
        let Some(cutoff) = cutoff else { continue };
        for _ in 0..MAX_BATCHES {
            let n = state
                .db
                .write(move |conn| Ok(prune(conn, cutoff, BATCH)?))
                .await?;
            *removed += n;
            if (n as i64) < BATCH {
                break;
            }
        }
    }
    Ok(report)
}
