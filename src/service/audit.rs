//! Reading the audit trail (`admin`).

use chrono::{DateTime, Utc};

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::error::ApiError;
use crate::store::audit::{self, AuditRow};

/// The outcome of a write refused with 403.
pub const FORBIDDEN: &str = "forbidden";

pub use crate::domain::audit::AuditFilter;

/// One audit event: who read or changed which pupil's data, when, how, with what outcome.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub school_urn: Option<i32>,
    pub upn: Option<String>,
    pub endpoint: String,
    pub outcome: String,
    pub correlation_id: Option<String>,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            occurred_at: r.occurred_at.and_utc(),
            actor: r.actor,
            actor_role: r.actor_role,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            school_urn: r.school_urn,
            upn: r.upn,
            endpoint: r.endpoint,
            outcome: r.outcome,
            correlation_id: r.correlation_id,
        }
    }
}

/// A page of the trail, newest first, and whether there is more.
pub async fn page(
    state: &AppState,
    actor: &Actor,
    filter: AuditFilter,
    limit: i64,
) -> Result<(Vec<AuditEvent>, bool), ApiError> {
    actor.require(&[Role::Admin])?;
    let mut rows = state
        .db
        .read(move |conn| Ok(audit::page(conn, &filter, limit + 1)?))
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows.into_iter().map(AuditEvent::from).collect(), more))
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
