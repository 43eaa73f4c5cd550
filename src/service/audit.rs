//! Reading the audit trail (`admin`).

use super::{Actor, AppState};
use crate::domain::access::Role;
use crate::error::ApiError;
use crate::store::audit::{self, AuditFilter, AuditRow};

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
