//! Reading the audit trail (`admin`).

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::error::ApiError;
use crate::store::audit::{self, AuditFilter, AuditRow};

/// The outcome of a write refused with 403.
pub const FORBIDDEN: &str = "forbidden";

pub async fn page(
    state: &AppState,
    actor: &Actor,
    filter: AuditFilter,
    limit: i64,
) -> Result<(Vec<AuditRow>, bool), ApiError> {
    actor.require(&[Role::Admin])?;
    let mut rows = state
        .db
        .read(move |conn| Ok(audit::page(conn, &filter, limit + 1)?))
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Records a write refused with 403 (`forbidden`), in a transaction of its own: the refused use
/// case wrote nothing, or rolled back.
pub async fn record_refusal(
    state: &AppState,
    actor: &Actor,
    action: &str,
    subject: AuditSubject,
) -> Result<(), ApiError> {
    let mut event = actor.audit(state.clock.now_naive(), action, subject);
    event.outcome = FORBIDDEN.to_string();
    state
        .db
        .write(move |conn| Ok(audit::append(conn, &[event])?))
        .await
}
