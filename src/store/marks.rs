//! Register marks and their change history (RULES.md R1.4). The write path is set-based per
//! backend: PostgreSQL copies the push into a staging table and upserts it in one statement that
//! also records every changed code; SQLite diffs the push against the school's stored marks in
//! memory and writes only what changed, in batches, inside one transaction.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

use super::schema::{incoming_marks, mark_history, marks};
use super::DbConnection;

/// A mark as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StoredMark {
    pub school_urn: i32,
    pub upn: String,
    pub mark_date: NaiveDate,
    pub session: String,
    pub code: String,
    pub minutes_late: Option<i32>,
}

/// A checked mark to write for one school.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = incoming_marks)]
#[diesel(treat_none_as_default_value = false)]
pub struct IncomingMark {
    pub upn: String,
    pub mark_date: NaiveDate,
    pub session: String,
    pub code: String,
    pub minutes_late: Option<i32>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = marks)]
#[diesel(treat_none_as_default_value = false)]
struct NewMark<'a> {
    school_urn: i32,
    upn: &'a str,
    mark_date: NaiveDate,
    session: &'a str,
    code: &'a str,
    minutes_late: Option<i32>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = mark_history)]
#[diesel(treat_none_as_default_value = false)]
struct NewHistory<'a> {
    school_urn: i32,
    upn: &'a str,
    mark_date: NaiveDate,
    session: &'a str,
    old_code: &'a str,
    new_code: &'a str,
    old_minutes_late: Option<i32>,
    new_minutes_late: Option<i32>,
    import_id: i64,
    changed_at: NaiveDateTime,
}

/// A session whose code a push set: `old` is `None` for a new session. What the attendance
/// tallies and alerts are maintained from (`service/attendance.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkChange {
    pub upn: String,
    pub mark_date: NaiveDate,
    pub session: String,
    pub old_code: Option<String>,
    pub new_code: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteCounts {
    pub inserted: usize,
    pub updated: usize,
    /// Every new or changed session (a change of minutes late only is not listed: it moves no
    /// count).
    pub changes: Vec<MarkChange>,
}

fn new_sessions(rows: &[IncomingMark]) -> Vec<MarkChange> {
    rows.iter()
        .map(|r| MarkChange {
            upn: r.upn.clone(),
            mark_date: r.mark_date,
            session: r.session.clone(),
            old_code: None,
            new_code: r.code.clone(),
        })
        .collect()
}

/// Upserts a school's marks (no two with the same upn, date and session); changed codes are
/// kept in `mark_history` against `import_id`.
///
/// `all_new` is the caller's word that no row's session is stored yet (the attendance tallies
/// know each pupil's latest session): the rows are then inserted without first reading the
/// school's stored marks. Should the word be wrong, the insert meets a stored mark, is rolled
/// back to its savepoint and the push takes the diff, so nothing is lost or double-counted.
pub fn write(
    conn: &mut DbConnection,
    school_urn: i32,
    rows: &[IncomingMark],
    import_id: i64,
    now: NaiveDateTime,
    all_new: bool,
) -> QueryResult<WriteCounts> {
    if rows.is_empty() {
        return Ok(WriteCounts::default());
    }
    match conn {
        DbConnection::Postgresql(pg) => {
            write_postgres(pg, school_urn, rows, import_id, now, all_new)
        }
        DbConnection::Sqlite(lite) => {
            if all_new {
                let inserted = lite.transaction(|lite| {
                    let new: Vec<NewMark> = rows.iter().map(|r| r.as_new(school_urn)).collect();
                    insert_new_sqlite(lite, &new)
                });
                match inserted {
                    Ok(()) => {
                        return Ok(WriteCounts {
                            inserted: rows.len(),
                            updated: 0,
                            changes: new_sessions(rows),
                        })
                    }
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => {}
                    Err(other) => return Err(other),
                }
            }
            write_sqlite(lite, school_urn, rows, import_id, now)
        }
    }
}

impl IncomingMark {
    fn as_new(&self, school_urn: i32) -> NewMark<'_> {
        NewMark {
            school_urn,
            upn: &self.upn,
            mark_date: self.mark_date,
            session: &self.session,
            code: &self.code,
            minutes_late: self.minutes_late,
        }
    }
}

#[derive(QueryableByName)]
struct ChangedRow {
    #[diesel(sql_type = Text)]
    upn: String,
    #[diesel(sql_type = Date)]
    mark_date: NaiveDate,
    #[diesel(sql_type = Text)]
    session: String,
    #[diesel(sql_type = Nullable<Text>)]
    old_code: Option<String>,
    #[diesel(sql_type = Text)]
    code: String,
}

fn write_postgres(
    pg: &mut diesel::PgConnection,
    school_urn: i32,
    rows: &[IncomingMark],
    import_id: i64,
    now: NaiveDateTime,
    all_new: bool,
) -> QueryResult<WriteCounts> {
    // One push per school at a time, so the diff below (taken from this statement's snapshot)
    // is exact: a concurrent push for the same school waits here instead of racing.
    // ON COMMIT DELETE ROWS empties the staging table cheaply at commit (no new file, unlike
    // TRUNCATE); the DELETE covers several schools written in one transaction, and costs next
    // to nothing otherwise: at the start of a push the table is normally already empty, whereas
    // emptying it after the write deleted every row just before the commit truncated the table
    // anyway (~0.6 ms a push). One round trip for the three (the URN is an integer, so it is
    // safe to write into the text).
    pg.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(7001, {school_urn}); \
         CREATE TEMP TABLE IF NOT EXISTS incoming_marks (upn text NOT NULL, mark_date date NOT NULL, \
         session text NOT NULL, code text NOT NULL, minutes_late integer) ON COMMIT DELETE ROWS; \
         DELETE FROM incoming_marks"
    ))?;
    diesel::copy_from(incoming_marks::table)
        .from_insertable(rows)
        .execute(pg)?;
    // One statement. `diff` keeps only new or changed marks (an index probe per row, no lock and
    // no write for an unchanged one, so a nightly re-push costs reads only) and carries the old
    // code for the history; the upsert still guards against a row that appeared meanwhile.
    // A school's first push for its dates (the nightly case) has nothing to compare with, so it
    // is inserted straight from the staging table, skipping the diff's per-row probe. Whether
    // that is the case is told by one primary-key lookup of the first mark (independent of how
    // much history the school has). A push that turns out to meet stored marks anyway rolls the
    // plain insert back to its savepoint and takes the diff.
    let probe = &rows[0];
    let seen_before: bool = !all_new
        && diesel::select(diesel::dsl::exists(marks::table.find((
            school_urn,
            &probe.upn,
            probe.mark_date,
            &probe.session,
        ))))
        .get_result(pg)?;
    let plain_insert = |pg: &mut diesel::PgConnection| {
        pg.transaction(|pg| {
            diesel::sql_query(
                "INSERT INTO marks (school_urn, upn, mark_date, session, code, minutes_late) \
                 SELECT $1, upn, mark_date, session, code, minutes_late FROM incoming_marks",
            )
            .bind::<Integer, _>(school_urn)
            .execute(pg)
        })
    };
    let counts = if seen_before {
        upsert_changed(pg, school_urn, import_id, now)?
    } else {
        match plain_insert(pg) {
            Ok(inserted) => WriteCounts {
                inserted,
                updated: 0,
                changes: new_sessions(rows),
            },
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => upsert_changed(pg, school_urn, import_id, now)?,
            Err(other) => return Err(other),
        }
    };
    Ok(counts)
}

/// The diff-then-upsert statement for a push that may repeat or correct stored marks.
fn upsert_changed(
    pg: &mut diesel::PgConnection,
    school_urn: i32,
    import_id: i64,
    now: NaiveDateTime,
) -> QueryResult<WriteCounts> {
    let changed: Vec<ChangedRow> = diesel::sql_query(
        "WITH diff AS ( \
           SELECT i.upn, i.mark_date, i.session, i.code, i.minutes_late, \
                  o.code AS old_code, o.minutes_late AS old_minutes_late, (o.upn IS NOT NULL) AS existed \
           FROM incoming_marks i LEFT JOIN marks o ON o.school_urn = $1 AND o.upn = i.upn \
                AND o.mark_date = i.mark_date AND o.session = i.session \
           WHERE o.upn IS NULL OR o.code IS DISTINCT FROM i.code OR o.minutes_late IS DISTINCT FROM i.minutes_late \
         ), changed AS ( \
           INSERT INTO marks AS m (school_urn, upn, mark_date, session, code, minutes_late) \
           SELECT $1, upn, mark_date, session, code, minutes_late FROM diff \
           ON CONFLICT (school_urn, upn, mark_date, session) DO UPDATE \
             SET code = EXCLUDED.code, minutes_late = EXCLUDED.minutes_late \
             WHERE m.code IS DISTINCT FROM EXCLUDED.code OR m.minutes_late IS DISTINCT FROM EXCLUDED.minutes_late \
         ), history AS ( \
           INSERT INTO mark_history (school_urn, upn, mark_date, session, old_code, new_code, \
                                     old_minutes_late, new_minutes_late, import_id, changed_at) \
           SELECT $1, upn, mark_date, session, old_code, code, old_minutes_late, minutes_late, $2, $3 \
           FROM diff WHERE existed \
         ) \
         SELECT upn, mark_date, session, old_code, code FROM diff",
    )
    .bind::<Integer, _>(school_urn)
    .bind::<BigInt, _>(import_id)
    .bind::<Timestamp, _>(now)
    .load(pg)?;
    // The advisory lock keeps other writers of this school out, so `diff` is what was written.
    let updated = changed.iter().filter(|row| row.old_code.is_some()).count();
    Ok(WriteCounts {
        inserted: changed.len() - updated,
        updated,
        changes: changed
            .into_iter()
            .filter(|row| row.old_code.as_deref() != Some(row.code.as_str()))
            .map(|row| MarkChange {
                upn: row.upn,
                mark_date: row.mark_date,
                session: row.session,
                old_code: row.old_code,
                new_code: row.code,
            })
            .collect(),
    })
}

fn write_sqlite(
    lite: &mut diesel::SqliteConnection,
    school_urn: i32,
    rows: &[IncomingMark],
    import_id: i64,
    now: NaiveDateTime,
) -> QueryResult<WriteCounts> {
    let first = rows.iter().map(|r| r.mark_date).min().unwrap_or_default();
    let last = rows.iter().map(|r| r.mark_date).max().unwrap_or_default();
    // The school's stored marks over the push's dates: one range scan of the primary key.
    let stored: Vec<(String, NaiveDate, String, String, Option<i32>)> = marks::table
        .filter(marks::school_urn.eq(school_urn))
        .filter(marks::mark_date.between(first, last))
        .select((
            marks::upn,
            marks::mark_date,
            marks::session,
            marks::code,
            marks::minutes_late,
        ))
        .load(lite)?;
    let stored: HashMap<(&str, NaiveDate, &str), (&str, Option<i32>)> = stored
        .iter()
        .map(|(u, d, s, c, m)| ((u.as_str(), *d, s.as_str()), (c.as_str(), *m)))
        .collect();

    let mut new = Vec::new();
    let mut history = Vec::new();
    for r in rows {
        match stored.get(&(r.upn.as_str(), r.mark_date, r.session.as_str())) {
            None => new.push(r.as_new(school_urn)),
            Some((code, minutes)) if *code == r.code && *minutes == r.minutes_late => {}
            Some((code, minutes)) => history.push(NewHistory {
                school_urn,
                upn: &r.upn,
                mark_date: r.mark_date,
                session: &r.session,
                old_code: code,
                new_code: &r.code,
                old_minutes_late: *minutes,
                new_minutes_late: r.minutes_late,
                import_id,
                changed_at: now,
            }),
        }
    }
    insert_new_sqlite(lite, &new)?;
    for h in &history {
        diesel::update(marks::table.find((school_urn, h.upn, h.mark_date, h.session)))
            .set((
                marks::code.eq(h.new_code),
                marks::minutes_late.eq(h.new_minutes_late),
            ))
            .execute(lite)?;
    }
    for chunk in history.chunks(500) {
        diesel::insert_into(mark_history::table)
            .values(chunk)
            .execute(lite)?;
    }
    let changes = new
        .iter()
        .map(|m| (m.upn, m.mark_date, m.session, None, m.code))
        .chain(
            history
                .iter()
                .filter(|h| h.old_code != h.new_code)
                .map(|h| (h.upn, h.mark_date, h.session, Some(h.old_code), h.new_code)),
        )
        .map(|(upn, mark_date, session, old, new)| MarkChange {
            upn: upn.to_owned(),
            mark_date,
            session: session.to_owned(),
            old_code: old.map(str::to_owned),
            new_code: new.to_owned(),
        })
        .collect();
    Ok(WriteCounts {
        inserted: new.len(),
        updated: history.len(),
        changes,
    })
}

/// New marks per multi-row INSERT on SQLite. A throwaway benchmark of 500 schools x 760 new
/// marks (one transaction per school, medians of 6 runs on the 2-core VM) wrote ~1.8 us/row in
/// cached batches of 64 or 128 rows, ~2.3 in batches of 250 or 500, ~4 with one cached
/// single-row INSERT per mark, and 2.1-3.3 with uncached batches (a slice of rows, see below).
const SQLITE_INSERT_BATCH: usize = 128;

/// A new mark as SQLite's batched INSERT binds it. Owned, unlike [`NewMark`]: diesel caches a
/// multi-row INSERT's prepared statement only when the rows come as a fixed-size array
/// (`&[T; N]`, one statement shape per `N`) and `T`'s values are `'static`; a slice of rows is
/// compiled afresh on every execute, which cost about as much as it saved over single rows.
/// Copying three short strings per row is cheap next to that.
#[derive(Debug, Insertable)]
#[diesel(table_name = marks)]
#[diesel(treat_none_as_default_value = false)]
struct SqliteNewMark {
    school_urn: i32,
    upn: String,
    mark_date: SqliteDate,
    session: String,
    code: String,
    minutes_late: Option<i32>,
}

impl From<&NewMark<'_>> for SqliteNewMark {
    fn from(m: &NewMark<'_>) -> Self {
        SqliteNewMark {
            school_urn: m.school_urn,
            upn: m.upn.to_string(),
            mark_date: SqliteDate(m.mark_date),
            session: m.session.to_string(),
            code: m.code.to_string(),
            minutes_late: m.minutes_late,
        }
    }
}

/// A date bound for SQLite as the text diesel's own `ToSql<Date, Sqlite>` writes (`%Y-%m-%d`),
/// but formatted directly: chrono's `format("%F")` interprets the format string anew for every
/// value, and that was about a sixth of the batched insert's time (perf, first push).
#[derive(Debug, Clone, Copy, diesel::AsExpression)]
#[diesel(sql_type = Date)]
struct SqliteDate(NaiveDate);

impl ToSql<Date, Sqlite> for SqliteDate {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        let (year, month, day) = (self.0.year(), self.0.month(), self.0.day());
        if !(0..=9999).contains(&year) {
            // Signs and wider years are chrono's business.
            return <NaiveDate as ToSql<Date, Sqlite>>::to_sql(&self.0, out);
        }
        out.set_value(format!("{year:04}-{month:02}-{day:02}"));
        Ok(IsNull::No)
    }
}

/// Inserts new marks in full batches of [`SQLITE_INSERT_BATCH`], then the remainder in halving
/// sizes (64, 32, ..., 1; each used at most once), so every statement has one of eight shapes
/// that diesel prepares once per connection and then only rebinds.
fn insert_new_sqlite(lite: &mut diesel::SqliteConnection, rows: &[NewMark]) -> QueryResult<()> {
    let rest = insert_batches_of::<SQLITE_INSERT_BATCH>(lite, rows)?;
    let rest = insert_batches_of::<64>(lite, rest)?;
    let rest = insert_batches_of::<32>(lite, rest)?;
    let rest = insert_batches_of::<16>(lite, rest)?;
    let rest = insert_batches_of::<8>(lite, rest)?;
    let rest = insert_batches_of::<4>(lite, rest)?;
    let rest = insert_batches_of::<2>(lite, rest)?;
    insert_batches_of::<1>(lite, rest)?;
    Ok(())
}

/// Inserts as many batches of exactly `N` rows as `rows` holds; returns the rows left over.
fn insert_batches_of<'r, 'a, const N: usize>(
    lite: &mut diesel::SqliteConnection,
    mut rows: &'r [NewMark<'a>],
) -> QueryResult<&'r [NewMark<'a>]> {
    while let Some((batch, rest)) = rows.split_first_chunk::<N>() {
        let batch: [SqliteNewMark; N] = std::array::from_fn(|i| SqliteNewMark::from(&batch[i]));
        diesel::insert_into(marks::table)
            .values(&batch)
            .execute(lite)?;
        rows = rest;
    }
    Ok(rows)
}

/// A pupil's marks at the given schools between two dates (inclusive), in date and session order.
pub fn of_pupil(
    conn: &mut DbConnection,
    upn: &str,
    schools: &[i32],
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<StoredMark>> {
    let mut all = Vec::new();
    for urn in schools {
        let rows: Vec<StoredMark> = marks::table
            .filter(marks::school_urn.eq(urn))
            .filter(marks::upn.eq(upn))
            .filter(marks::mark_date.between(from, to))
            .select(marks::all_columns)
            .load(conn)?;
        all.extend(rows);
    }
    all.sort_by(|a, b| {
        (a.mark_date, &a.session, a.school_urn).cmp(&(b.mark_date, &b.session, b.school_urn))
    });
    Ok(all)
}

/// The marks with one of `codes` of the given pupils (at any school) from `from` to `to`:
/// one query for every supported pupil's register checks (RULES.md R12).
pub fn with_codes_of_pupils(
    conn: &mut DbConnection,
    upns: &[&str],
    codes: &[&str],
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<StoredMark>> {
    if upns.is_empty() || from > to {
        return Ok(Vec::new());
    }
    marks::table
        .filter(marks::upn.eq_any(upns))
        .filter(marks::code.eq_any(codes))
        .filter(marks::mark_date.between(from, to))
        .select(marks::all_columns)
        .order((marks::upn, marks::mark_date, marks::session))
        .load(conn)
}

/// Every mark of the given pupils at a school, by pupil, date and session.
pub fn of_pupils_at(
    conn: &mut DbConnection,
    school_urn: i32,
    upns: &[&str],
) -> QueryResult<Vec<StoredMark>> {
    let mut all = Vec::new();
    for chunk in upns.chunks(500) {
        all.extend(
            marks::table
                .filter(marks::school_urn.eq(school_urn))
                .filter(marks::upn.eq_any(chunk))
                .select(marks::all_columns)
                .order((marks::upn, marks::mark_date, marks::session))
                .load::<StoredMark>(conn)?,
        );
    }
    Ok(all)
}

/// Every mark of a school, by pupil, date and session (for `esma-api recompute`).
pub fn of_school(conn: &mut DbConnection, school_urn: i32) -> QueryResult<Vec<StoredMark>> {
    marks::table
        .filter(marks::school_urn.eq(school_urn))
        .select(marks::all_columns)
        .order((marks::upn, marks::mark_date, marks::session))
        .load(conn)
}

#[derive(Debug, Clone, Queryable)]
pub struct HistoryRow {
    pub id: i64,
    pub school_urn: i32,
    pub upn: String,
    pub mark_date: NaiveDate,
    pub session: String,
    pub old_code: String,
    pub new_code: String,
    pub old_minutes_late: Option<i32>,
    pub new_minutes_late: Option<i32>,
    pub import_id: i64,
    pub changed_at: NaiveDateTime,
}

/// A pupil's register changes at the given schools between two dates.
pub fn history_of_pupil(
    conn: &mut DbConnection,
    upn: &str,
    schools: &[i32],
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<HistoryRow>> {
    mark_history::table
        .filter(mark_history::upn.eq(upn))
        .filter(mark_history::school_urn.eq_any(schools.to_vec()))
        .filter(mark_history::mark_date.between(from, to))
        .select(mark_history::all_columns)
        .order(mark_history::id)
        .load(conn)
}

/// Whether any mark is stored.
pub fn any(conn: &mut DbConnection) -> QueryResult<bool> {
    marks::table
        .select(marks::school_urn)
        .first::<i32>(conn)
        .optional()
        .map(|found| found.is_some())
}
