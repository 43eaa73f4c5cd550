//! What the database actually is: whether it answers (the health check), and what it contains,
//! so a test can prove both backends' migrations agree.

use std::collections::BTreeSet;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::{DbConnection, StoreResult};

/// Runs the smallest statement there is: Ok when the database answers.
pub fn answers(conn: &mut DbConnection) -> StoreResult<()> {
    Ok(conn.batch_execute("SELECT 1")?)
}

#[derive(QueryableByName)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

/// (table, column, nullable) for every application table (migration bookkeeping excluded).
pub fn columns(conn: &mut DbConnection) -> StoreResult<BTreeSet<(String, String, bool)>> {
    let rows: Vec<ColumnInfo> = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, (p.\"notnull\" = 0) AS nullable \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '__diesel_schema_migrations'",
        )
        .load(c)?,
        DbConnection::Postgresql(c) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             (is_nullable = 'YES') AS nullable FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '__diesel_schema_migrations'",
        )
        .load(c)?,
    };
    Ok(rows
        .into_iter()
        .map(|r| (r.table_name, r.column_name, r.nullable))
        .collect())
}

#[derive(QueryableByName)]
struct TableChanges {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    live_rows: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    modified_since_analyze: i64,
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Any number: it only has to be the same in every instance of the service.
const STATISTICS_LOCK: i64 = 0x6573_6d61_0025;

/// Whether the database is PostgreSQL with its autovacuum off: then nothing refreshes the
/// planner's statistics unless the service does ([`analyse_changed_tables`]).
pub fn autovacuum_off(conn: &mut DbConnection) -> StoreResult<bool> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(false);
    };
    let setting: Setting =
        diesel::sql_query("SELECT current_setting('autovacuum') AS value").get_result(pg)?;
    Ok(setting.value != "on")
}

/// PostgreSQL with autovacuum off: analyses the tables changed by more rows than autovacuum
/// would let them (50 and a tenth of the table, its default thresholds); returns their names.
/// Without statistics the planner guesses, and its guesses for the prepared statements of a
/// night's pushes were sequential scans of the whole `alerts` table (issue 25). Only `ANALYZE`,
/// which samples a table in well under a second: reclaiming dead rows (`VACUUM`) stays the
/// server's, as `VACUUM` on the service's own schedule slowed the night's pushes it ran beside
/// (docs/performance.md, "The year end"). One instance at a time (an advisory lock for the
/// transaction): another that finds it taken does nothing.
pub fn analyse_changed_tables(conn: &mut DbConnection) -> StoreResult<Vec<String>> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(Vec::new());
    };
    pg.transaction::<_, super::StoreError, _>(|pg| {
        let lock: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
            .bind::<diesel::sql_types::BigInt, _>(STATISTICS_LOCK)
            .get_result(pg)?;
        if !lock.locked {
            return Ok(Vec::new());
        }
        let tables: Vec<TableChanges> = diesel::sql_query(
            "SELECT relname::text AS table_name, n_live_tup AS live_rows, \
             n_mod_since_analyze AS modified_since_analyze FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname <> '__diesel_schema_migrations'",
        )
        .load(pg)?;
        let mut analysed = Vec::new();
        for table in tables {
            if table.modified_since_analyze as f64 <= 50.0 + 0.1 * table.live_rows as f64 {
                continue;
            }
            // The name comes from the catalogue; quoted all the same.
            let quoted = table.table_name.replace('"', "\"\"");
            pg.batch_execute(&format!("ANALYZE \"{quoted}\""))?;
            analysed.push(table.table_name);
        }
        Ok(analysed)
    })
}
