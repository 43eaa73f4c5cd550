//! Roll and register pushes with their reports, and Idempotency-Key replays.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::imports;
use super::DbConnection;

#[derive(Debug, Clone, Queryable)]
pub struct ImportRow {
    pub id: i64,
    pub kind: String,
    pub school_urn: i32,
    pub client_id: String,
    pub received_at: NaiveDateTime,
    pub outcome: String,
    pub received: i32,
    pub inserted: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub rejected: i32,
    pub report: String,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
}

/// Opens an import (counts filled by [`finish`] in the same transaction); returns its id.
pub fn open(
    conn: &mut DbConnection,
    kind: &str,
    school_urn: i32,
    client_id: &str,
    received_at: NaiveDateTime,
    idempotency: Option<(&str, &str)>,
) -> QueryResult<i64> {
    diesel::insert_into(imports::table)
        .values((
            imports::kind.eq(kind),
            imports::school_urn.eq(school_urn),
            imports::client_id.eq(client_id),
            imports::received_at.eq(received_at),
            imports::outcome.eq("pending"),
            imports::received.eq(0),
            imports::inserted.eq(0),
            imports::updated.eq(0),
            imports::unchanged.eq(0),
            imports::rejected.eq(0),
            imports::report.eq("{}"),
            imports::idempotency_key.eq(idempotency.map(|(k, _)| k)),
            imports::request_hash.eq(idempotency.map(|(_, h)| h)),
        ))
        .returning(imports::id)
        .get_result(conn)
}

pub struct Counts {
    pub received: i32,
    pub inserted: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub rejected: i32,
}

pub fn finish(
    conn: &mut DbConnection,
    id: i64,
    outcome: &str,
    counts: &Counts,
    report: &str,
) -> QueryResult<()> {
    diesel::update(imports::table.find(id))
        .set((
            imports::outcome.eq(outcome),
            imports::received.eq(counts.received),
            imports::inserted.eq(counts.inserted),
            imports::updated.eq(counts.updated),
            imports::unchanged.eq(counts.unchanged),
            imports::rejected.eq(counts.rejected),
            imports::report.eq(report),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<ImportRow>> {
    imports::table
        .find(id)
        .select(imports::all_columns)
        .first(conn)
        .optional()
}

pub fn find_by_key(
    conn: &mut DbConnection,
    client_id: &str,
    key: &str,
) -> QueryResult<Option<ImportRow>> {
    imports::table
        .filter(imports::client_id.eq(client_id))
        .filter(imports::idempotency_key.eq(key))
        .select(imports::all_columns)
        .first(conn)
        .optional()
}
