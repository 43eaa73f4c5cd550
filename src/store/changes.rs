//! The change feed (`changes`): one row per change to a referral, case, review or alert, numbered
//! by a version that only grows, in the order the changes become visible to readers.
//!
//! Why commit order needs care: on PostgreSQL a `BIGSERIAL` value is taken when the row is
//! inserted but the row becomes visible when its transaction commits. Without more, transaction
//! A could take version 10, transaction B version 11 and commit first; a reader would see 11,
//! ask for "after 11" next time and never see 10. So a writer takes versions only while it holds
//! the feed's transaction-level advisory lock in *shared* mode ([`record`], held until its
//! commit), and a reader reads only once it holds the same lock *exclusively* ([`page`]): the
//! reader is let in when no transaction that has taken a version is still open, so every version
//! below the largest it sees is committed (or was rolled back and never will be). Writers do
//! not wait for each other, only for a reader that is waiting or reading, which holds the lock
//! for one page; PostgreSQL queues a new shared request behind a waiting exclusive one, so a
//! reader is not starved by a stream of pushes. (An exclusive lock for the writers, held across
//! each commit, serialised the end of every push and its commit; at LA scale the nightly pushes
//! spent more time waiting for it than writing.) Services call [`record`] once, after their other
//! writes; only their audit row and import report may follow, which touch no row another
//! transaction writes, so a writer holding the lock never waits for one that wants it and a
//! reader's wait cannot deadlock. SQLite has one writer at a time (the database's write lock,
//! and before it the process's writer lock in `Db::write_now`), so its versions are
//! commit-ordered already.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::changes;
use super::{DbConnection, StoreResult};
use crate::domain::changes::Change;

/// The advisory lock key that orders the feed's versions ("ESMA-CHG" in ASCII).
pub const FEED_LOCK: i64 = 0x4553_4d41_2d43_4847;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = changes)]
pub struct NewChange {
    pub resource_type: &'static str,
    pub resource_id: i64,
    pub school_urn: i32,
    pub action: &'static str,
    pub changed_at: NaiveDateTime,
}

impl NewChange {
    pub fn of(change: &Change, changed_at: NaiveDateTime) -> NewChange {
        NewChange {
            resource_type: change.resource.as_str(),
            resource_id: change.resource_id,
            school_urn: change.school_urn,
            action: change.action.as_str(),
            changed_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ChangeRow {
    pub version: i64,
    pub resource_type: String,
    pub resource_id: i64,
    pub school_urn: i32,
    pub action: String,
    pub changed_at: NaiveDateTime,
}

/// Appends changes to the feed, in the order given, in the caller's transaction. Call it once,
/// at the end of the transaction (see the module comment); nothing to record takes no lock.
/// On PostgreSQL it holds the feed's lock shared until the caller commits.
pub fn record(conn: &mut DbConnection, new: &[NewChange]) -> StoreResult<usize> {
    if new.is_empty() {
        return Ok(0);
    }
    // Multi-row inserts are per backend (the MultiConnection has no batch insert); a register
    // push can raise or resolve thousands of alerts, so a few statements, not one per change.
    let mut n = 0;
    for chunk in new.chunks(500) {
        n += match conn {
            DbConnection::Postgresql(c) => PgRecordChanges::of(chunk).execute(c)?,
            DbConnection::Sqlite(c) => diesel::insert_into(changes::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(n)
}

/// On PostgreSQL, the feed's lock (shared) and the changes in one prepared statement: the
/// changes go as arrays, so the statement is the same whatever their number, and the versions
/// are taken in the order given (`WITH ORDINALITY`), after the lock (the join needs its row).
struct PgRecordChanges<'a> {
    resource_type: Vec<&'a str>,
    resource_id: Vec<i64>,
    school_urn: Vec<i32>,
    action: Vec<&'a str>,
    changed_at: Vec<NaiveDateTime>,
}

impl<'a> PgRecordChanges<'a> {
    fn of(new: &'a [NewChange]) -> PgRecordChanges<'a> {
        PgRecordChanges {
            resource_type: new.iter().map(|c| c.resource_type).collect(),
            resource_id: new.iter().map(|c| c.resource_id).collect(),
            school_urn: new.iter().map(|c| c.school_urn).collect(),
            action: new.iter().map(|c| c.action).collect(),
            changed_at: new.iter().map(|c| c.changed_at).collect(),
        }
    }
}

impl diesel::query_builder::QueryId for PgRecordChanges<'_> {
    type QueryId = PgRecordChanges<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgRecordChanges<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamp};
        out.push_sql(&format!(
            "WITH feed_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({FEED_LOCK})) \
             INSERT INTO changes (resource_type, resource_id, school_urn, action, changed_at) \
             SELECT c.resource_type, c.resource_id, c.school_urn, c.action, c.changed_at \
             FROM feed_lock, unnest("
        ));
        out.push_bind_param::<Array<Text>, _>(&self.resource_type)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.resource_id)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.school_urn)?;
        out.push_sql("::integer[], ");
        out.push_bind_param::<Array<Text>, _>(&self.action)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.changed_at)?;
        out.push_sql(
            "::timestamp[]) WITH ORDINALITY \
             AS c(resource_type, resource_id, school_urn, action, changed_at, n) ORDER BY c.n",
        );
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for PgRecordChanges<'_> {}

/// [`record`] for changes made at one moment (a transaction's `now`).
pub fn record_at(
    conn: &mut DbConnection,
    changed_at: NaiveDateTime,
    changes: &[Change],
) -> StoreResult<usize> {
    let rows: Vec<NewChange> = changes
        .iter()
        .map(|c| NewChange::of(c, changed_at))
        .collect();
    record(conn, &rows)
}

/// Up to `limit` changes after version `since`, oldest first. On PostgreSQL it first waits for
/// the feed's lock exclusively (see the module comment), held until the caller's transaction
/// (or, outside one, its own) ends.
pub fn page(conn: &mut DbConnection, since: i64, limit: i64) -> StoreResult<Vec<ChangeRow>> {
    let read = |conn: &mut DbConnection| {
        changes::table
            .filter(changes::version.gt(since))
            .order(changes::version)
            .limit(limit)
            .load(conn)
    };
    let page = match conn {
        DbConnection::Postgresql(_) => conn.transaction(|conn| {
            if let DbConnection::Postgresql(pg) = conn {
                diesel::sql_query(format!("SELECT pg_advisory_xact_lock({FEED_LOCK})"))
                    .execute(pg)?;
            }
            read(conn)
        }),
        DbConnection::Sqlite(_) => read(conn),
    };
    Ok(page?)
}
