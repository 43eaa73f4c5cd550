//! The audit trail's words: which events a reader asks for (API.md "Audit").

use chrono::NaiveDateTime;

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
