//! What roll and register pushes report: the per-row report and its storage, and the answer to
//! a reused Idempotency-Key (API.md "Conventions", "Registers"). The push itself runs through
//! `service::push`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{Actor, AppState};
use crate::domain::access::Role;
use crate::domain::push::Refusals;
pub use crate::domain::push::{ImportOutcome, PushKind, PushMode};
use crate::domain::register::{RowProblem, RowReason};
use crate::error::{ApiError, FieldProblem};
use crate::store::imports::{self, ImportRow};

/// At most this many row errors are listed in a report (all are counted).
pub const MAX_LISTED_ERRORS: usize = 1000;

/// One refused row of a push.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RowError {
    /// Position of the row in the push, from 1 (JSON: `marks[row-1]`; CSV: the data line after the header).
    #[schema(example = 3)]
    pub row: u32,
    /// JSON Pointer to the field (JSON pushes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "/marks/2/code")]
    pub pointer: Option<String>,
    #[schema(example = "H801200001001")]
    pub upn: Option<String>,
    #[schema(example = "code")]
    pub field: String,
    /// Machine-readable (`invalid_text`: a control character in any field refuses the row, not
    /// the push).
    pub reason: RowReason,
    #[schema(example = "'i' is not a register code (codes are case-sensitive; did you mean 'I'?)")]
    pub message: String,
}

/// The outcome of a roll or register push; stored and served at `/api/v1/imports/{import_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub import_id: i64,
    pub kind: PushKind,
    /// The school pushed for; absent for a lesson push (the LA's, across schools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub school_urn: Option<i32>,
    pub received_at: DateTime<Utc>,
    pub mode: PushMode,
    pub outcome: ImportOutcome,
    pub received: u32,
    pub inserted: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub rejected: u32,
    /// Refused rows counted by reason.
    pub rejected_by_reason: BTreeMap<String, u32>,
    /// The refused rows (the first 1000).
    pub errors: Vec<RowError>,
    /// True when more rows were refused than are listed.
    pub errors_truncated: bool,
}

/// Collects refused rows while a push is checked.
#[derive(Debug, Default)]
pub struct Rejections {
    pub errors: Vec<RowError>,
    pub by_reason: BTreeMap<String, u32>,
    pub count: u32,
    /// Prefix of JSON Pointers (`/marks`, `/pupils`) when the push was JSON.
    pub pointer_prefix: Option<&'static str>,
}

impl Rejections {
    pub fn new(pointer_prefix: Option<&'static str>) -> Self {
        Rejections {
            pointer_prefix,
            ..Default::default()
        }
    }

    /// `index` is the 0-based position of the row in the push.
    pub fn reject(&mut self, index: usize, upn: Option<&str>, problem: RowProblem) {
        self.count += 1;
        *self
            .by_reason
            .entry(problem.reason.as_str().to_string())
            .or_default() += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(RowError {
                row: index as u32 + 1,
                pointer: self
                    .pointer_prefix
                    .map(|p| format!("{p}/{index}/{}", problem.field)),
                upn: upn.map(|u| u.chars().take(20).collect()),
                field: problem.field.to_string(),
                reason: problem.reason,
                message: problem.message,
            });
        }
    }
}

impl Refusals for Rejections {
    fn refuse(&mut self, index: usize, upn: &str, problem: RowProblem) {
        self.reject(index, Some(upn), problem);
    }
    fn refuse_row(&mut self, index: usize, problem: RowProblem) {
        self.reject(index, None, problem);
    }
}

/// What a push did, for its report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub received: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// A retried write: the key the client sent and a hash of what it sent with it.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: String,
}

impl Idempotency {
    /// `Idempotency-Key`: 1 to 255 visible ASCII characters.
    pub fn new(key: &str, parts: &[&[u8]]) -> Result<Idempotency, ApiError> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(ApiError::bad_request(
                "Idempotency-Key should be 1 to 255 visible ASCII characters",
            ));
        }
        let mut hash = Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        let request_hash = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Idempotency {
            key: key.to_string(),
            request_hash,
        })
    }
}

/// What a push answers: a report, or (all_or_nothing with invalid rows) a 422 naming them.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub report: ImportReport,
    /// True when this is the stored answer to an earlier request with the same Idempotency-Key.
    pub replayed: bool,
}

impl PushOutcome {
    /// The HTTP answer: 200 with the report, or 422 when all_or_nothing refused the push.
    pub fn into_result(self) -> Result<PushOutcome, ApiError> {
        if self.report.outcome != ImportOutcome::Rejected {
            return Ok(self);
        }
        let r = &self.report;
        let errors = r
            .errors
            .iter()
            .map(|e| {
                FieldProblem::new(
                    e.pointer
                        .clone()
                        .unwrap_or_else(|| format!("/rows/{}/{}", e.row, e.field)),
                    format!("[{}] {}", e.reason.as_str(), e.message),
                )
            })
            .collect();
        Err(ApiError::validation(
            format!(
                "{} of {} rows are invalid, so nothing was stored (mode=all_or_nothing); the full report is at /api/v1/imports/{}",
                r.rejected, r.received, r.import_id
            ),
            errors,
        ))
    }
}

/// The stored answer for a reused Idempotency-Key: replayed when the request is the same,
/// 409 when it differs.
pub fn replay(row: &ImportRow, idem: &Idempotency) -> Result<PushOutcome, ApiError> {
    if row.request_hash.as_deref() != Some(idem.request_hash.as_str()) {
        return Err(ApiError::conflict(format!(
            "Idempotency-Key '{}' was already used for a different request (import {}); use a new key for new data",
            idem.key, row.id
        )));
    }
    if row.outcome.is_none() {
        return Err(ApiError::idempotency_key_in_progress(&idem.key));
    }
    let report: ImportReport = serde_json::from_str(&row.report).map_err(|e| {
        ApiError::internal(format!("stored import report {} unreadable: {e}", row.id))
    })?;
    Ok(PushOutcome {
        report,
        replayed: true,
    })
}

/// `GET /api/v1/imports/{id}`: `la` any; `school` its own schools' (404 otherwise).
pub async fn get(state: &AppState, actor: &Actor, id: i64) -> Result<ImportReport, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let row = state
        .db
        .read(move |conn| Ok(imports::find(conn, id)?))
        .await?;
    let not_found = || ApiError::not_found(format!("no import {id}"));
    let row = row.ok_or_else(not_found)?;
    // A lesson push names no one school: only the LA reads its report.
    match row.school_urn {
        Some(urn) => actor.may_read_school(urn).map_err(|_| not_found())?,
        None => actor.require(&[Role::La]).map_err(|_| not_found())?,
    }
    if row.outcome.is_none() {
        return Err(not_found());
    }
    serde_json::from_str(&row.report)
        .map_err(|e| ApiError::internal(format!("stored import report {id} unreadable: {e}")))
}
