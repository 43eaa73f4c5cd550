//! Roll and register pushes with their reports, and Idempotency-Key replays. The kind and
//! outcome of an import are text here only.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::imports;
use super::{DbConnection, StoreResult};
use crate::domain::push::{ImportOutcome, PushKind};
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct ImportRow {
    pub id: i64,
    pub kind: PushKind,
    /// None for a lesson push (the LA's, across schools).
    pub school_urn: Option<i32>,
    pub client_id: String,
    pub received_at: NaiveDateTime,
    /// None while the push is being written (`pending`).
    pub outcome: Option<ImportOutcome>,
    pub received: i32,
    pub inserted: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub rejected: i32,
    pub report: String,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
}

/// An `imports` row as stored.
#[derive(Queryable)]
struct StoredImport {
    id: i64,
    kind: String,
    school_urn: Option<i32>,
    client_id: String,
    received_at: NaiveDateTime,
    outcome: String,
    received: i32,
    inserted: i32,
    updated: i32,
    unchanged: i32,
    rejected: i32,
    report: String,
    idempotency_key: Option<String>,
    request_hash: Option<String>,
}

const PENDING: &str = "pending";

fn kind_text(kind: PushKind) -> &'static str {
    match kind {
        PushKind::Roll => "roll",
        PushKind::Register => "register",
        PushKind::Lessons => "lessons",
    }
}

/// An import's outcome as stored (and as its audit row records it).
pub fn outcome_text(outcome: ImportOutcome) -> &'static str {
    match outcome {
        ImportOutcome::Committed => "committed",
        ImportOutcome::Rejected => "rejected",
    }
}

fn unreadable(what: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(what.into())
}

impl TryFrom<StoredImport> for ImportRow {
    type Error = diesel::result::Error;

    fn try_from(row: StoredImport) -> QueryResult<ImportRow> {
        let kind = match row.kind.as_str() {
            "roll" => PushKind::Roll,
            "register" => PushKind::Register,
            "lessons" => PushKind::Lessons,
            other => return Err(unreadable(format!("import {}: kind '{other}'", row.id))),
        };
        let outcome = match row.outcome.as_str() {
            PENDING => None,
            "committed" => Some(ImportOutcome::Committed),
            "rejected" => Some(ImportOutcome::Rejected),
            other => return Err(unreadable(format!("import {}: outcome '{other}'", row.id))),
        };
        Ok(ImportRow {
            id: row.id,
            kind,
            school_urn: row.school_urn,
            client_id: row.client_id,
            received_at: row.received_at,
            outcome,
            received: row.received,
            inserted: row.inserted,
            updated: row.updated,
            unchanged: row.unchanged,
            rejected: row.rejected,
            report: row.report,
            idempotency_key: row.idempotency_key,
            request_hash: row.request_hash,
        })
    }
}

/// Why an import could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The client's Idempotency-Key is another import's (one being written, or just written).
    KeyTaken,
    Store(diesel::result::Error),
}

impl From<diesel::result::Error> for OpenError {
    fn from(e: diesel::result::Error) -> Self {
        OpenError::Store(e)
    }
}

impl From<OpenError> for ApiError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::KeyTaken => {
                ApiError::conflict("the Idempotency-Key is another push's; use a new key")
            }
            OpenError::Store(e) => e.into(),
        }
    }
}

/// Opens an import (counts filled by [`finish`] in the same transaction); returns its id, or
/// [`OpenError::KeyTaken`] when `idempotency` names a key the client has used already (on
/// PostgreSQL after waiting for the transaction that holds it).
pub fn open(
    conn: &mut DbConnection,
    kind: PushKind,
    school_urn: impl Into<Option<i32>>,
    client_id: &str,
    received_at: NaiveDateTime,
    idempotency: Option<(&str, &str)>,
) -> Result<i64, OpenError> {
    use diesel::result::{DatabaseErrorKind, Error};
    let opened = diesel::insert_into(imports::table)
        .values((
            imports::kind.eq(kind_text(kind)),
            imports::school_urn.eq(school_urn.into()),
            imports::client_id.eq(client_id),
            imports::received_at.eq(received_at),
            imports::outcome.eq(PENDING),
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
        .get_result(conn);
    match opened {
        Ok(id) => Ok(id),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
            if idempotency.is_some() =>
        {
            Err(OpenError::KeyTaken)
        }
        Err(e) => Err(OpenError::Store(e)),
    }
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
    outcome: ImportOutcome,
    counts: &Counts,
    report: &str,
) -> StoreResult<()> {
    Ok(diesel::update(imports::table.find(id))
        .set((
            imports::outcome.eq(outcome_text(outcome)),
            imports::received.eq(counts.received),
            imports::inserted.eq(counts.inserted),
            imports::updated.eq(counts.updated),
            imports::unchanged.eq(counts.unchanged),
            imports::rejected.eq(counts.rejected),
            imports::report.eq(report),
        ))
        .execute(conn)
        .map(|_| ())?)
}

pub fn find(conn: &mut DbConnection, id: i64) -> StoreResult<Option<ImportRow>> {
    let row: Option<StoredImport> = imports::table
        .find(id)
        .select(imports::all_columns)
        .first(conn)
        .optional()?;
    Ok(row.map(ImportRow::try_from).transpose()?)
}

pub fn find_by_key(
    conn: &mut DbConnection,
    client_id: &str,
    key: &str,
) -> StoreResult<Option<ImportRow>> {
    let row: Option<StoredImport> = imports::table
        .filter(imports::client_id.eq(client_id))
        .filter(imports::idempotency_key.eq(key))
        .select(imports::all_columns)
        .first(conn)
        .optional()?;
    Ok(row.map(ImportRow::try_from).transpose()?)
}
