//! Reading the audit trail (`admin`).

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::audit::AuditOutcome;
use crate::error::ApiError;
use crate::store::audit;

pub use crate::domain::audit::{AuditEvent, AuditFilter};

/// A page of the trail, newest first, and whether there is more.
pub async fn page(
    state: &AppState,
    actor: &Actor,
    filter: AuditFilter,
    limit: i64,
) -> Result<(Vec<AuditEvent>, bool), ApiError> {
    actor.require(&[Role::Admin])?;
    let rows = state
        .db
        .read(move |conn| Ok(audit::page(conn, &filter, limit + 1)?))
        .await?;
    let (events, next) = super::page_of(rows, limit, |e| e.id);
    Ok((events, next.is_some()))
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
    event.outcome = AuditOutcome::Forbidden.as_str().to_string();
    state
        .db
        .write(move |conn| Ok(audit::append(conn, &[event])?))
        .await
}
