//! The stored answers of POSTs sent with an Idempotency-Key (API.md "Conventions").

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotent_responses as t;
use super::{DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable)]
pub struct StoredResponse {
    pub client_id: String,
    pub idempotency_key: String,
    pub method: String,
    pub path: String,
    pub request_hash: String,
    /// None while the first request is being served (a claim).
    pub status: Option<i32>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn find(
    conn: &mut DbConnection,
    client_id: &str,
    key: &str,
) -> StoreResult<Option<StoredResponse>> {
    Ok(t::table
        .find((client_id, key))
        .select(t::all_columns)
        .first(conn)
        .optional()?)
}

/// Claims the key for a request about to be served.
pub fn claim(
    conn: &mut DbConnection,
    client_id: &str,
    key: &str,
    method: &str,
    path: &str,
    request_hash: &str,
    now: NaiveDateTime,
) -> StoreResult<()> {
    Ok(diesel::insert_into(t::table)
        .values((
            t::client_id.eq(client_id),
            t::idempotency_key.eq(key),
            t::method.eq(method),
            t::path.eq(path),
            t::request_hash.eq(request_hash),
            t::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())?)
}

/// Takes over a claim whose request never finished (claimed before `stale_before`); true when
/// this caller has it now.
pub fn reclaim(
    conn: &mut DbConnection,
    client_id: &str,
    key: &str,
    stale_before: NaiveDateTime,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    Ok(diesel::update(
        t::table
            .filter(t::client_id.eq(client_id))
            .filter(t::idempotency_key.eq(key))
            .filter(t::status.is_null())
            .filter(t::created_at.lt(stale_before)),
    )
    .set(t::created_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)?)
}

/// Completes a claim with the answer that was sent.
pub fn complete(
    conn: &mut DbConnection,
    client_id: &str,
    key: &str,
    status: i32,
    content_type: Option<&str>,
    location: Option<&str>,
    body: &str,
) -> StoreResult<()> {
    Ok(diesel::update(t::table.find((client_id, key)))
        .set((
            t::status.eq(Some(status)),
            t::content_type.eq(content_type),
            t::location.eq(location),
            t::body.eq(Some(body)),
        ))
        .execute(conn)
        .map(|_| ())?)
}

/// Gives up a claim (the request was refused, so its retry should be served afresh).
pub fn release(conn: &mut DbConnection, client_id: &str, key: &str) -> StoreResult<()> {
    Ok(diesel::delete(
        t::table
            .filter(t::client_id.eq(client_id))
            .filter(t::idempotency_key.eq(key))
            .filter(t::status.is_null()),
    )
    .execute(conn)
    .map(|_| ())?)
}

/// Forgets answers (and abandoned claims) made before `before`; returns how many.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> StoreResult<usize> {
    Ok(diesel::delete(t::table.filter(t::created_at.lt(before))).execute(conn)?)
}
