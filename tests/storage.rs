//! Both backends' migrations give the same schema; the audit table refuses changes.

mod common;

use common::{fresh_postgres_schema, postgres_url, TestApp};
use diesel::connection::SimpleConnection;
use esma_api::store::{introspection, run_migrations, DatabaseUrl, Db};

#[test]
fn sqlite_and_postgres_migrations_give_the_same_tables_and_columns() {
    let lite = TestApp::sqlite();
    let sqlite_columns = introspection::columns(&mut lite.db().conn().unwrap()).unwrap();
    assert!(sqlite_columns
        .iter()
        .any(|(t, c, _)| t == "audit_events" && c == "correlation_id"));
    assert!(sqlite_columns.len() > 20, "{sqlite_columns:?}");

    let Some(admin) = postgres_url() else { return };
    let (url, schema) = fresh_postgres_schema(&admin);
    let pg = Db::open(&DatabaseUrl::parse(&url).unwrap(), 1).unwrap();
    let pg_columns = introspection::columns(&mut pg.conn().unwrap()).unwrap();
    drop(pg);
    if let Ok(mut c) = <diesel::PgConnection as diesel::Connection>::establish(&admin) {
        let _ = c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
    }
    let only_sqlite: Vec<_> = sqlite_columns.difference(&pg_columns).collect();
    let only_pg: Vec<_> = pg_columns.difference(&sqlite_columns).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "only in SQLite: {only_sqlite:?}\nonly in PostgreSQL: {only_pg:?}"
    );
}

#[test]
fn migrations_are_idempotent() {
    let lite = TestApp::sqlite();
    assert_eq!(
        run_migrations(&mut lite.db().conn().unwrap()).unwrap(),
        0,
        "a second run applies nothing"
    );
}

on_both_backends!(audit_rows_cannot_be_changed_or_deleted, |app| {
    app.client(esma_api::domain::access::Role::La, &[]); // writes an audit row
    let mut conn = app.db().conn().unwrap();
    assert!(conn
        .batch_execute("UPDATE audit_events SET outcome = 'forged'")
        .is_err());
    assert!(conn.batch_execute("DELETE FROM audit_events").is_err());
    drop(conn);
    let mut conn = app.db().conn().unwrap();
    let rows: i64 = {
        use diesel::prelude::*;
        esma_api::store::schema::audit_events::table
            .count()
            .get_result(&mut conn)
            .unwrap()
    };
    assert_eq!(rows, 1);
});

#[test]
fn database_urls_are_understood_or_refused_clearly() {
    assert!(
        matches!(DatabaseUrl::parse("sqlite://esma.db"), Ok(DatabaseUrl::Sqlite(p)) if p == "esma.db")
    );
    assert!(matches!(
        DatabaseUrl::parse("data/esma.db"),
        Ok(DatabaseUrl::Sqlite(_))
    ));
    assert!(matches!(
        DatabaseUrl::parse("postgres://u@h/db"),
        Ok(DatabaseUrl::Postgres(_))
    ));
    assert!(DatabaseUrl::parse("mysql://u@h/db")
        .unwrap_err()
        .contains("neither"));
    // A down PostgreSQL says so, instead of "invalid URL" (STACK.md pitfall).
    let err = Db::open(
        &DatabaseUrl::parse("postgres://nobody@127.0.0.1:1/none").unwrap(),
        1,
    )
    .err()
    .unwrap();
    assert!(
        err.contains("cannot open database") && err.contains("127.0.0.1"),
        "{err}"
    );
    assert!(esma_api::store::redact("postgres://u:secret@h/db").contains("***"));
}
