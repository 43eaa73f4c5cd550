//! The audit trail's words: which events a reader asks for (API.md "Audit").

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::Role;

/// Which audit events a page asks for.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub upn: Option<String>,
    pub actor: Option<String>,
    pub school_urn: Option<i32>,
    pub action: Option<String>,
    pub from: Option<NaiveDateTime>,
    /// Before this time.
    pub to: Option<NaiveDateTime>,
    /// Cursor: only events with a smaller id (newest first).
    pub before_id: Option<i64>,
}

// One audit event: who read or changed which pupil's data, when, how, with what outcome. (A plain
// comment: as `AuditEventView` the spec has always shown it without a description.)
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AuditEventView)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// Client id (or `cli:<user>` for an operator at the command line).
    pub actor: String,
    pub actor_role: Role,
    #[schema(example = "update")]
    pub action: String,
    #[schema(example = "school")]
    pub resource_type: String,
    pub resource_id: String,
    pub school_urn: Option<i32>,
    pub upn: Option<String>,
    #[schema(example = "PUT /api/v1/schools/{urn}")]
    pub endpoint: String,
    pub outcome: AuditOutcome,
    pub correlation_id: Option<String>,
}

/// What became of an audited request: `success`; `not_found` for a read or write of something
/// the caller may not see (answered 404); `forbidden` for a write refused with 403; for a roll
/// or register push (`import`) its outcome, `committed` or `rejected`; `gone` for a change-feed
/// read from a position already pruned (410).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    NotFound,
    Forbidden,
    Committed,
    Rejected,
    Gone,
}

impl AuditOutcome {
    pub const ALL: [AuditOutcome; 6] = [
        AuditOutcome::Success,
        AuditOutcome::NotFound,
        AuditOutcome::Forbidden,
        AuditOutcome::Committed,
        AuditOutcome::Rejected,
        AuditOutcome::Gone,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::NotFound => "not_found",
            AuditOutcome::Forbidden => "forbidden",
            AuditOutcome::Committed => "committed",
            AuditOutcome::Rejected => "rejected",
            AuditOutcome::Gone => "gone",
        }
    }

    pub fn parse(text: &str) -> Option<AuditOutcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}
