//! The append-only audit trail (who read or changed which pupil's data, when, how, with what
//! outcome). Rows are written in the same transaction as the change they record.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::columns::word;
use super::schema::audit_events;
use super::{DbConnection, StoreError, StoreResult};
use crate::domain::audit::{AuditEvent, AuditFilter};

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    pub occurred_at: NaiveDateTime,
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

#[derive(Debug, Clone, Queryable)]
struct AuditRow {
    pub id: i64,
    pub occurred_at: NaiveDateTime,
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

impl AuditRow {
    fn into_event(self) -> StoreResult<AuditEvent> {
        let unreadable = |e: Box<dyn std::error::Error + Send + Sync>| {
            StoreError::unreadable(format!("audit event {}: {e}", self.id))
        };
        Ok(AuditEvent {
            id: self.id,
            occurred_at: self.occurred_at.and_utc(),
            actor: self.actor,
            actor_role: word(&self.actor_role).map_err(unreadable)?,
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            school_urn: self.school_urn,
            upn: self.upn,
            endpoint: self.endpoint,
            outcome: word(&self.outcome).map_err(unreadable)?,
            correlation_id: self.correlation_id,
        })
    }
}

pub fn append(conn: &mut DbConnection, events: &[NewAuditEvent]) -> StoreResult<()> {
    // One statement per chunk: reads of many pupils may log many rows at once.
    // Multi-row inserts are per backend: diesel's MultiBackend has no batch insert.
    for chunk in events.chunks(500) {
        match conn {
            DbConnection::Sqlite(c) => diesel::insert_into(audit_events::table)
                .values(chunk)
                .execute(c)?,
            DbConnection::Postgresql(c) => diesel::insert_into(audit_events::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(())
}

/// Newest first.
pub fn page(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    limit: i64,
) -> StoreResult<Vec<AuditEvent>> {
    let mut query = audit_events::table
        .select(audit_events::all_columns)
        .order(audit_events::id.desc())
        .into_boxed();
    if let Some(upn) = &filter.upn {
        query = query.filter(audit_events::upn.eq(upn.clone()));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_events::actor.eq(actor.clone()));
    }
    if let Some(urn) = filter.school_urn {
        query = query.filter(audit_events::school_urn.eq(urn));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::occurred_at.lt(to));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(audit_events::id.lt(before));
    }
    let rows: Vec<AuditRow> = query.limit(limit).load(conn)?;
    rows.into_iter().map(AuditRow::into_event).collect()
}
