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
