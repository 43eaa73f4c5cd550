//! Register marks and their change history (RULES.md R1.4), stored as one row per school,
//! academic year and pupil (`store/registers.rs`). A push is applied in memory to the school's
//! registers as loaded: new, unchanged and changed sessions are told apart there, and every
//! changed code goes into `mark_history`; only the rows that changed are written back.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::registers::{self, SchoolRegisters, YearRegister};
use super::schema::{attendance_tallies, mark_history, marks};
use super::{DbConnection, StoreResult};
use crate::domain::calendar::AcademicYear;
use crate::domain::codes::{AttendanceCode, Session};

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

pub use crate::domain::register::IncomingMark;

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
    pub session: Session,
    pub old_code: Option<AttendanceCode>,
    pub new_code: AttendanceCode,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteCounts {
    pub inserted: usize,
    pub updated: usize,
    /// Every new or changed session (a change of minutes late only is not listed: it moves no
    /// count).
    pub changes: Vec<MarkChange>,
}

/// A changed session's entry for `mark_history`, worked out before the import that records it
/// is opened (see [`apply`]).
#[derive(Debug, Clone)]
pub struct PendingHistory {
    upn: String,
    mark_date: NaiveDate,
    session: Session,
    old_code: AttendanceCode,
    new_code: AttendanceCode,
    old_minutes_late: Option<i32>,
    new_minutes_late: Option<i32>,
}

/// Applies a school's checked marks (no two with the same upn, date and session) to its
/// `registers` as loaded by the caller, who saves them afterwards (with the tallies brought up
/// to date) and records the returned history with [`record_history`]. Nothing changes for an
/// unchanged session.
pub fn apply(
    registers: &mut SchoolRegisters,
    rows: &[IncomingMark],
) -> StoreResult<(WriteCounts, Vec<PendingHistory>)> {
    let mut counts = WriteCounts::default();
    let mut history: Vec<PendingHistory> = Vec::new();
    for r in rows {
        let (session, code) = (r.session, r.code);
        let year = registers.year_mut(&r.upn, AcademicYear::containing(r.mark_date));
        match year.get(r.mark_date, session) {
            None => {
                year.set(r.mark_date, session, code, r.minutes_late);
                counts.inserted += 1;
                counts.changes.push(MarkChange {
                    upn: r.upn.to_string(),
                    mark_date: r.mark_date,
                    session,
                    old_code: None,
                    new_code: code,
                });
            }
            Some((old, minutes)) if old == code && minutes == r.minutes_late => {}
            Some((old, minutes)) => {
                year.set(r.mark_date, session, code, r.minutes_late);
                counts.updated += 1;
                history.push(PendingHistory {
                    upn: r.upn.to_string(),
                    mark_date: r.mark_date,
                    session,
                    old_code: old,
                    new_code: code,
                    old_minutes_late: minutes,
                    new_minutes_late: r.minutes_late,
                });
                if old != code {
                    counts.changes.push(MarkChange {
                        upn: r.upn.to_string(),
                        mark_date: r.mark_date,
                        session,
                        old_code: Some(old),
                        new_code: code,
                    });
                }
            }
        }
    }
    Ok((counts, history))
}

/// Keeps every changed code and minutes late of a push in `mark_history` (R1.4), against the
/// import that made the change.
pub fn record_history(
    conn: &mut DbConnection,
    school_urn: i32,
    history: &[PendingHistory],
    import_id: i64,
    now: NaiveDateTime,
) -> StoreResult<()> {
    let rows: Vec<NewHistory> = history
        .iter()
        .map(|h| NewHistory {
            school_urn,
            upn: &h.upn,
            mark_date: h.mark_date,
            session: h.session.as_str(),
            old_code: h.old_code.as_str(),
            new_code: h.new_code.as_str(),
            old_minutes_late: h.old_minutes_late,
            new_minutes_late: h.new_minutes_late,
            import_id,
            changed_at: now,
        })
        .collect();
    // Multi-row inserts are per backend: diesel's MultiBackend has no batch insert.
    for chunk in rows.chunks(500) {
        match conn {
            DbConnection::Postgresql(pg) => diesel::insert_into(mark_history::table)
                .values(chunk)
                .execute(pg)?,
            DbConnection::Sqlite(lite) => diesel::insert_into(mark_history::table)
                .values(chunk)
                .execute(lite)?,
        };
    }
    Ok(())
}

fn stored_marks<'y>(
    school_urn: i32,
    upn: &str,
    year: &'y YearRegister,
) -> impl Iterator<Item = StoredMark> + 'y {
    let upn = upn.to_owned();
    year.marks()
        .map(move |(mark_date, session, code, minutes_late)| StoredMark {
            school_urn,
            upn: upn.clone(),
            mark_date,
            session: session.as_str().to_owned(),
            code: code.as_str().to_owned(),
            minutes_late,
        })
}

/// A pupil's marks at the given schools between two dates (inclusive), in date and session order.
pub fn of_pupil(
    conn: &mut DbConnection,
    upn: &str,
    schools: &[i32],
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<StoredMark>> {
    if from > to {
        return Ok(Vec::new());
    }
    let years = registers::of_pupils(
        conn,
        &[upn],
        AcademicYear::containing(from),
        AcademicYear::containing(to),
    )?;
    let mut all: Vec<StoredMark> = years
        .iter()
        .filter(|(urn, _, _)| schools.contains(urn))
        .flat_map(|(urn, upn, year)| stored_marks(*urn, upn, year))
        .filter(|m| (from..=to).contains(&m.mark_date))
        .collect();
    all.sort_by(|a, b| {
        (a.mark_date, &a.session, a.school_urn).cmp(&(b.mark_date, &b.session, b.school_urn))
    });
    Ok(all)
}

/// The marks with one of `codes` of the given pupils (at any school) from `from` to `to`:
/// one query per 500 pupils for every supported pupil's register checks (RULES.md R12).
pub fn with_codes_of_pupils(
    conn: &mut DbConnection,
    upns: &[&str],
    codes: &[&str],
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<StoredMark>> {
    if upns.is_empty() || from > to {
        return Ok(Vec::new());
    }
    let years = registers::of_pupils(
        conn,
        upns,
        AcademicYear::containing(from),
        AcademicYear::containing(to),
    )?;
    let mut all: Vec<StoredMark> = years
        .iter()
        .flat_map(|(urn, upn, year)| stored_marks(*urn, upn, year))
        .filter(|m| (from..=to).contains(&m.mark_date) && codes.contains(&m.code.as_str()))
        .collect();
    all.sort_by(|a, b| {
        (&a.upn, a.mark_date, &a.session, a.school_urn).cmp(&(
            &b.upn,
            b.mark_date,
            &b.session,
            b.school_urn,
        ))
    });
    Ok(all)
}

/// Every mark of a school, by pupil, date and session.
pub fn of_school(conn: &mut DbConnection, school_urn: i32) -> StoreResult<Vec<StoredMark>> {
    let school = registers::of_school(conn, school_urn)?;
    let mut all: Vec<StoredMark> = school
        .pupils
        .iter()
        .flat_map(|(upn, years)| {
            years
                .iter()
                .flat_map(move |y| stored_marks(school_urn, upn, y))
        })
        .collect();
    all.sort_by(|a, b| (&a.upn, a.mark_date, &a.session).cmp(&(&b.upn, b.mark_date, &b.session)));
    Ok(all)
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
) -> StoreResult<Vec<HistoryRow>> {
    Ok(mark_history::table
        .filter(mark_history::upn.eq(upn))
        .filter(mark_history::school_urn.eq_any(schools.to_vec()))
        .filter(mark_history::mark_date.between(from, to))
        .select(mark_history::all_columns)
        .order(mark_history::id)
        .load(conn)?)
}

/// Whether any mark is stored.
pub fn any(conn: &mut DbConnection) -> StoreResult<bool> {
    registers::any(conn)
}

/// Whether the `marks` table of the layout before `registers` still holds rows (converted on
/// start-up, service/attendance.rs `convert_old_marks`).
pub fn old_any(conn: &mut DbConnection) -> StoreResult<bool> {
    Ok(marks::table
        .select(marks::school_urn)
        .first::<i32>(conn)
        .optional()
        .map(|found| found.is_some())?)
}

/// The schools with rows in the old `marks` table.
pub fn old_schools(conn: &mut DbConnection) -> StoreResult<Vec<i32>> {
    Ok(marks::table
        .select(marks::school_urn)
        .distinct()
        .order(marks::school_urn)
        .load(conn)?)
}

/// One school's rows of the old `marks` table, by pupil, date and session (a school at a time,
/// so converting an LA's year of marks never holds more than one school's in memory).
pub fn old_of_school(conn: &mut DbConnection, school_urn: i32) -> StoreResult<Vec<StoredMark>> {
    Ok(marks::table
        .filter(marks::school_urn.eq(school_urn))
        .select(marks::all_columns)
        .order((marks::upn, marks::mark_date, marks::session))
        .load(conn)?)
}

/// Empties the old `marks` and `attendance_tallies` tables once their rows are registers.
pub fn old_clear(conn: &mut DbConnection) -> StoreResult<usize> {
    Ok(diesel::delete(marks::table).execute(conn)?
        + diesel::delete(attendance_tallies::table).execute(conn)?)
}
