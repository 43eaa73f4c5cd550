//! Idempotency-Key on every POST that creates or decides something (API.md "Conventions"): the
//! first request claims the key, is served, and its answer is stored; a retry with the same key
//! and the same request gets that answer back, with another request a 409.
//!
//! The claim is its own transaction, before the write it guards, and the answer is stored in
//! another, after it. The window: should the process die between the write's commit and the
//! answer's, the claim stays open; a retry is told "in progress" (409, Retry-After) until the
//! claim is [`CLAIM_LEASE`] old, and is then served afresh (so it may meet, say, the referral its
//! first attempt opened). A client that hangs up does not open that window: the request is
//! finished and its answer stored whether or not anyone is still listening (api::idempotency).
//! Pushes keep their own mechanism (service::imports), recorded in the push's own transaction.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::{imports::Idempotency, AppState};
use crate::clock::wall_naive;
use crate::error::{ApiError, ProblemKind};
use crate::store::idempotency::{self as store, StoredResponse};

/// How long answers are kept for a retry; older ones are pruned by the clock-driven scan.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// A claim older than this whose request never finished (the process died) may be taken over.
pub const CLAIM_LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// How long a retry waits for the first request with its key before it is told to come back.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(50);

/// A keyed request: who sent it, the key, and what it was.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    pub client_id: String,
    pub method: String,
    /// Path and query.
    pub path: String,
    pub idempotency: Idempotency,
}

/// The answer stored for a key.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: String,
}

pub enum Claim {
    /// This request has the key: serve it, then [`complete`] or [`release`].
    Fresh,
    /// The key's first request was answered: send this again.
    Replay(StoredAnswer),
}

enum Attempt {
    Claimed,
    Answered(StoredAnswer),
    Busy,
}

/// Claims `req`'s key, or finds its stored answer, waiting briefly while another request with
/// the same key is being served.
pub async fn claim(state: &AppState, req: &KeyedRequest) -> Result<Claim, ApiError> {
    let started = Instant::now();
    loop {
        match try_claim(state, req.clone()).await? {
            Attempt::Claimed => return Ok(Claim::Fresh),
            Attempt::Answered(mut answer) => {
                answer.body = state.webhook_keys.open(&answer.body).map_err(|e| {
                    ApiError::internal(format!("the stored answer cannot be opened: {e}"))
                })?;
                return Ok(Claim::Replay(answer));
            }
            Attempt::Busy if started.elapsed() >= WAIT_FOR_FIRST => {
                return Err(ApiError::idempotency_key_in_progress(&req.idempotency.key))
            }
            Attempt::Busy => actix_web::rt::time::sleep(POLL).await,
        }
    }
}

async fn try_claim(state: &AppState, req: KeyedRequest) -> Result<Attempt, ApiError> {
    let attempt = state
        .db
        .write(move |conn| {
            let now = wall_naive();
            let key = &req.idempotency.key;
            match store::find(conn, &req.client_id, key)? {
                Some(row) => judge(conn, &req, row, now),
                None => {
                    let claimed = store::claim(
                        conn,
                        &req.client_id,
                        key,
                        &req.method,
                        &req.path,
                        &req.idempotency.request_hash,
                        now,
                    );
                    match claimed {
                        Ok(()) => Ok(Attempt::Claimed),
                        // PostgreSQL: another request claimed the key after our look-up (this
                        // insert waited for it to commit); it is being served.
                        Err(e) if e.is_unique_violation() => {
                            Err(ApiError::idempotency_key_in_progress(key))
                        }
                        Err(e) => Err(e.into()),
                    }
                }
            }
        })
        .await;
    match attempt {
        Err(e) if e.kind == ProblemKind::IdempotencyKeyInProgress => Ok(Attempt::Busy),
        other => other,
    }
}

fn judge(
    conn: &mut crate::store::DbConnection,
    req: &KeyedRequest,
    row: StoredResponse,
    now: NaiveDateTime,
) -> Result<Attempt, ApiError> {
    if row.request_hash != req.idempotency.request_hash {
        return Err(ApiError::conflict(format!(
            "Idempotency-Key '{}' was already used for a different request ({} {}); use a new key for a new request",
            req.idempotency.key, row.method, row.path
        )));
    }
    match (row.status, row.body) {
        (Some(status), Some(body)) => Ok(Attempt::Answered(StoredAnswer {
            status: u16::try_from(status).unwrap_or(500),
            content_type: row.content_type,
            location: row.location,
            body,
        })),
        _ if store::reclaim(
            conn,
            &req.client_id,
            &req.idempotency.key,
            now - CLAIM_LEASE,
            now,
        )? =>
        {
            Ok(Attempt::Claimed)
        }
        _ => Ok(Attempt::Busy),
    }
}

/// Stores the answer sent for a claimed key.
pub async fn complete(
    state: &AppState,
    req: &KeyedRequest,
    answer: StoredAnswer,
) -> Result<(), ApiError> {
    let (client, key) = (req.client_id.clone(), req.idempotency.key.clone());
    // Sealed like webhook secrets: an answer can hold one (a new subscription's) and a
    // referral's health details, and is kept only to be replayed.
    let body = state.webhook_keys.seal(&answer.body);
    state
        .db
        .write(move |conn| {
            Ok(store::complete(
                conn,
                &client,
                &key,
                i32::from(answer.status),
                answer.content_type.as_deref(),
                answer.location.as_deref(),
                &body,
            )?)
        })
        .await
}

/// Gives up a claimed key: the request was refused (or failed), so nothing is replayed and a
/// retry is served afresh.
pub async fn release(state: &AppState, req: &KeyedRequest) -> Result<(), ApiError> {
    let (client, key) = (req.client_id.clone(), req.idempotency.key.clone());
    state
        .db
        .write(move |conn| Ok(store::release(conn, &client, &key)?))
        .await
}

/// Forgets answers older than [`RETENTION`] (run by the clock-driven scan); returns how many.
pub async fn prune(state: &AppState) -> Result<usize, ApiError> {
    state
        .db
        .write(move |conn| Ok(store::prune(conn, wall_naive() - RETENTION)?))
        .await
}
