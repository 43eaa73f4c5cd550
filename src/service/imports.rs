//! What roll and register pushes share: the per-row report, its storage, and Idempotency-Key
//! replays (API.md "Conventions", "Registers").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::register::RowProblem;
use crate::error::{ApiError, FieldProblem};
use crate::store::imports::{self, Counts, ImportRow};
use crate::store::{audit, DbConnection};

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
    /// Machine-readable: `unknown_code`, `legacy_code`, `invalid_upn`, `pupil_not_on_roll`,
    /// `date_in_future`, `not_a_school_day`, `duplicate_in_push`, `invalid_session`,
    /// `invalid_minutes_late`, `invalid_date`, `invalid_name`, `invalid_postcode`, `invalid_la_code`,
    /// `invalid_text` (a control character in any field: the row is refused, not the push).
    #[schema(example = "unknown_code")]
    pub reason: String,
    #[schema(example = "'i' is not a register code (codes are case-sensitive; did you mean 'I'?)")]
    pub message: String,
}

/// The outcome of a roll or register push; stored and served at `/api/v1/imports/{import_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub import_id: i64,
    /// `roll` or `register`.
    pub kind: String,
    pub school_urn: i32,
    pub received_at: DateTime<Utc>,
    /// `partial` (valid rows stored, invalid reported) or `all_or_nothing`.
    pub mode: String,
    /// `committed`, or `rejected` (all_or_nothing with an invalid row: nothing stored).
    pub outcome: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    Partial,
    AllOrNothing,
}

impl PushMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PushMode::Partial => "partial",
            PushMode::AllOrNothing => "all_or_nothing",
        }
    }
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
            .entry(problem.reason.to_string())
            .or_default() += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(RowError {
                row: index as u32 + 1,
                pointer: self
                    .pointer_prefix
                    .map(|p| format!("{p}/{index}/{}", problem.field)),
                upn: upn.map(|u| u.chars().take(20).collect()),
                field: problem.field.to_string(),
                reason: problem.reason.to_string(),
                message: problem.message,
            });
        }
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

/// Writes the report of push `import_id` and its audit row, in the caller's transaction (the one
/// that wrote the data), and returns the answer.
#[allow(clippy::too_many_arguments)]
pub fn conclude(
    conn: &mut DbConnection,
    actor: &Actor,
    now: chrono::NaiveDateTime,
    kind: &str,
    import_id: i64,
    school_urn: i32,
    mode: PushMode,
    refused_all: bool,
    tally: Tally,
    rejections: Rejections,
) -> Result<PushOutcome, ApiError> {
    let report = ImportReport {
        import_id,
        kind: kind.to_string(),
        school_urn,
        received_at: now.and_utc(),
        mode: mode.as_str().to_string(),
        outcome: if refused_all { "rejected" } else { "committed" }.to_string(),
        received: tally.received as u32,
        inserted: tally.inserted as u32,
        updated: tally.updated as u32,
        unchanged: tally.unchanged as u32,
        rejected: rejections.count,
        errors_truncated: rejections.errors.len() < rejections.count as usize,
        rejected_by_reason: rejections.by_reason,
        errors: rejections.errors,
    };
    let counts = Counts {
        received: report.received as i32,
        inserted: report.inserted as i32,
        updated: report.updated as i32,
        unchanged: report.unchanged as i32,
        rejected: report.rejected as i32,
    };
    let json =
        serde_json::to_string(&report).map_err(|e| ApiError::internal(format!("report: {e}")))?;
    imports::finish(conn, import_id, &report.outcome, &counts, &json)?;
    let resource = if kind == "roll" {
        "roll_import"
    } else {
        "register_import"
    };
    let mut event = actor.audit(
        now,
        "import",
        AuditSubject::new(resource, import_id.to_string()).school(school_urn),
    );
    event.outcome = report.outcome.clone();
    audit::append(conn, &[event])?;
    Ok(PushOutcome {
        report,
        replayed: false,
    })
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
        if self.report.outcome != "rejected" {
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
                    format!("[{}] {}", e.reason, e.message),
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
    if row.outcome == "pending" {
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

pub async fn find_replay(
    state: &AppState,
    actor: &Actor,
    idem: &Option<Idempotency>,
) -> Result<Option<PushOutcome>, ApiError> {
    let Some(idem) = idem.clone() else {
        return Ok(None);
    };
    let client = actor.client_id.clone();
    let key = idem.key.clone();
    let row = state
        .db
        .read(move |conn| Ok(imports::find_by_key(conn, &client, &key)?))
        .await?;
    row.map(|row| replay(&row, &idem)).transpose()
}

/// Opens the import of a push in the caller's write transaction. Two pushes with one key at the
/// same moment both pass [`find_replay`]; the second's insert then meets the first's key (on
/// PostgreSQL after waiting for the first to commit) and is told the key is in progress, which
/// [`settle_key_race`] turns into the first push's answer.
pub fn open_import(
    conn: &mut DbConnection,
    kind: &str,
    school_urn: i32,
    client_id: &str,
    now: chrono::NaiveDateTime,
    idem: Option<&Idempotency>,
) -> Result<i64, ApiError> {
    use diesel::result::{DatabaseErrorKind, Error};
    let pair = idem.map(|i| (i.key.as_str(), i.request_hash.as_str()));
    match imports::open(conn, kind, school_urn, client_id, now, pair) {
        Ok(id) => Ok(id),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) if idem.is_some() => Err(
            ApiError::idempotency_key_in_progress(&idem.map(|i| i.key.clone()).unwrap_or_default()),
        ),
        Err(e) => Err(e.into()),
    }
}

/// A push that lost the race for its key answers with the winner's stored answer (or, should
/// that not be readable yet, the in-progress 409 with Retry-After).
pub async fn settle_key_race(
    state: &AppState,
    actor: &Actor,
    idem: &Option<Idempotency>,
    result: Result<PushOutcome, ApiError>,
) -> Result<PushOutcome, ApiError> {
    match result {
        Err(e) if e.kind == crate::error::ProblemKind::IdempotencyKeyInProgress => {
            match find_replay(state, actor, idem).await? {
                Some(replayed) => Ok(replayed),
                None => Err(e),
            }
        }
        other => other,
    }
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
    actor
        .may_read_school(row.school_urn)
        .map_err(|_| not_found())?;
    if row.outcome == "pending" {
        return Err(not_found());
    }
    serde_json::from_str(&row.report)
        .map_err(|e| ApiError::internal(format!("stored import report {id} unreadable: {e}")))
}
