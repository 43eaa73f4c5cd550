//! Maintained attendance tallies: the `latest_slot` and `tally` columns of `registers`, written
//! with the marks they count (`store/registers.rs`; the domain side is `domain/tally.rs`).

use std::borrow::Cow;
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::registers as register_rows;
use super::DbConnection;
use crate::domain::attendance::{IllnessRun, MeasureCounts};
use crate::domain::calendar::AcademicYear;
use crate::domain::codes::{AttendanceCode, Session};
use crate::domain::tally::{MarkedDays, PupilTally, YearTally};

/// The `tally` column: everything of a [`YearTally`] that SQL does not need, as a JSON array
/// kept small because every pupil's row is rewritten every night: the code counts as pairs, the
/// marked days as base64 bytes, and sessions as slots (2 x days since 1 September of the
/// tally's year, +1 for the afternoon; a run carried in from July has negative ones).
#[derive(Serialize, Deserialize)]
struct TallyState<'a>(
    #[serde(borrow)] Vec<(Cow<'a, str>, u32)>,
    Cow<'a, str>,
    Option<(i32, i32, u32)>,
    Option<(i32, i32, u32)>,
    Option<i32>,
);

use super::registers::{slot_number, slot_of};

fn run_out(year: AcademicYear, run: Option<IllnessRun>) -> Option<(i32, i32, u32)> {
    run.map(|r| {
        (
            slot_number(year, r.first),
            slot_number(year, r.last),
            r.sessions,
        )
    })
}

fn run_in(year: AcademicYear, run: Option<(i32, i32, u32)>) -> QueryResult<Option<IllnessRun>> {
    run.map(|(first, last, sessions)| {
        Ok(IllnessRun {
            first: slot_of(year, first)?,
            last: slot_of(year, last)?,
            sessions,
        })
    })
    .transpose()
}

/// The tally columns of a `registers` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = register_rows)]
struct TallyRow {
    school_urn: i32,
    academic_year: i32,
    upn: String,
    latest_slot: i32,
    #[diesel(column_name = tally)]
    state: String,
}

/// A tally as its two columns: the latest slot and the encoded state.
pub(crate) fn tally_to_parts(
    school_urn: i32,
    upn: &str,
    tally: &YearTally,
) -> QueryResult<(i32, String)> {
    let year = tally.year;
    let state = TallyState(
        tally
            .counts
            .iter()
            .map(|(code, n)| (Cow::Borrowed(code.as_str()), n))
            .collect(),
        Cow::Owned(URL_SAFE_NO_PAD.encode(tally.marked_days.to_bytes())),
        run_out(year, tally.open_run),
        run_out(year, tally.longest_run),
        tally
            .sickness_return_reached
            .map(|slot| slot_number(year, slot)),
    );
    // A tally exists only once a mark is counted, so it always has a latest session.
    let latest = tally.latest.ok_or_else(|| {
        diesel::result::Error::SerializationError(
            format!("attendance tally of {upn} at {school_urn} counts no session").into(),
        )
    })?;
    Ok((
        slot_number(year, latest),
        serde_json::to_string(&state)
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
    ))
}

fn from_row(row: &TallyRow) -> QueryResult<YearTally> {
    tally_from_parts(
        row.school_urn,
        &row.upn,
        AcademicYear::new(row.academic_year),
        row.latest_slot,
        &row.state,
    )
}

/// A tally from its two columns.
pub(crate) fn tally_from_parts(
    school_urn: i32,
    upn: &str,
    year: AcademicYear,
    latest_slot: i32,
    state: &str,
) -> QueryResult<YearTally> {
    let broken = |e: String| diesel::result::Error::DeserializationError(e.into());
    let state: TallyState = serde_json::from_str(state).map_err(|e| {
        broken(format!(
            "attendance tally of {upn} at {school_urn} for {} is unreadable ({e}); run `esma-api recompute`",
            year.start_year()
        ))
    })?;
    let mut counts = MeasureCounts::new();
    for (code, n) in &state.0 {
        let code = AttendanceCode::parse(code).map_err(|e| broken(e.to_string()))?;
        counts.add_many(code, *n);
    }
    let marked_days = URL_SAFE_NO_PAD
        .decode(state.1.as_bytes())
        .ok()
        .as_deref()
        .and_then(MarkedDays::from_bytes)
        .ok_or_else(|| {
            broken(format!(
                "marked days of {upn} at {school_urn} are unreadable"
            ))
        })?;
    Ok(YearTally {
        year,
        counts,
        latest: Some(slot_of(year, latest_slot)?),
        marked_days,
        open_run: run_in(year, state.2)?,
        longest_run: run_in(year, state.3)?,
        sickness_return_reached: state.4.map(|n| slot_of(year, n)).transpose()?,
    })
}

/// The latest session of each of the given pupils at a school in academic year `from_year` or
/// later: all a push needs to know whether it holds only sessions after everything stored.
pub fn latest_sessions_since(
    conn: &mut DbConnection,
    school_urn: i32,
    from_year: AcademicYear,
) -> QueryResult<HashMap<String, (NaiveDate, Session)>> {
    let rows: Vec<(String, i32, i32)> = register_rows::table
        .filter(register_rows::school_urn.eq(school_urn))
        .filter(register_rows::academic_year.ge(from_year.start_year()))
        .select((
            register_rows::upn,
            register_rows::academic_year,
            register_rows::latest_slot,
        ))
        .load(conn)?;
    let mut latest: HashMap<String, (NaiveDate, Session)> = HashMap::with_capacity(rows.len());
    for (upn, year, slot) in rows {
        let slot = slot_of(AcademicYear::new(year), slot)?;
        let entry = latest.entry(upn).or_insert(slot);
        if slot > *entry {
            *entry = slot;
        }
    }
    Ok(latest)
}

/// The tallies of a school's pupils from academic year `from_year` on, by pupil.
pub fn of_school_since(
    conn: &mut DbConnection,
    school_urn: i32,
    from_year: AcademicYear,
) -> QueryResult<HashMap<String, PupilTally>> {
    let rows: Vec<TallyRow> = register_rows::table
        .filter(register_rows::school_urn.eq(school_urn))
        .filter(register_rows::academic_year.ge(from_year.start_year()))
        .order((register_rows::academic_year, register_rows::upn))
        .select(TallyRow::as_select())
        .load(conn)?;
    collect(&rows)
}

/// Every tally of the given pupils at a school, by pupil.
pub fn of_pupils(
    conn: &mut DbConnection,
    school_urn: i32,
    upns: &[&str],
) -> QueryResult<HashMap<String, PupilTally>> {
    let mut rows: Vec<TallyRow> = Vec::new();
    for chunk in upns.chunks(500) {
        rows.extend(
            register_rows::table
                .filter(register_rows::school_urn.eq(school_urn))
                .filter(register_rows::upn.eq_any(chunk))
                .order((register_rows::academic_year, register_rows::upn))
                .select(TallyRow::as_select())
                .load::<TallyRow>(conn)?,
        );
    }
    rows.sort_by_key(|row| row.academic_year);
    collect(&rows)
}

fn collect(rows: &[TallyRow]) -> QueryResult<HashMap<String, PupilTally>> {
    let mut by_pupil: HashMap<String, PupilTally> = HashMap::new();
    for row in rows {
        by_pupil
            .entry(row.upn.clone())
            .or_default()
            .years
            .push(from_row(row)?);
    }
    Ok(by_pupil)
}

/// One pupil's tally for one year at one school.
pub fn of_pupil_year(
    conn: &mut DbConnection,
    school_urn: i32,
    upn: &str,
    year: AcademicYear,
) -> QueryResult<Option<YearTally>> {
    let row: Option<TallyRow> = register_rows::table
        .find((school_urn, year.start_year(), upn))
        .select(TallyRow::as_select())
        .first(conn)
        .optional()?;
    row.as_ref().map(from_row).transpose()
}

/// The tallies with the given (school, academic year, pupil) keys, in one query per 500.
pub fn of_keys(
    conn: &mut DbConnection,
    keys: &[(i32, i32, &str)],
) -> QueryResult<HashMap<(i32, i32, String), YearTally>> {
    let mut found = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let upns: Vec<&str> = chunk.iter().map(|k| k.2).collect();
        let schools: Vec<i32> = chunk.iter().map(|k| k.0).collect();
        let rows: Vec<TallyRow> = register_rows::table
            .filter(register_rows::upn.eq_any(&upns))
            .filter(register_rows::school_urn.eq_any(&schools))
            .select(TallyRow::as_select())
            .load(conn)?;
        for row in &rows {
            let key = (row.school_urn, row.academic_year, row.upn.clone());
            if chunk
                .iter()
                .any(|k| (k.0, k.1, k.2) == (key.0, key.1, key.2.as_str()))
            {
                found.insert(key, from_row(row)?);
            }
        }
    }
    Ok(found)
}

/// Every stored tally, ordered by school, year and pupil (for the consistency test and tools).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<(i32, String, YearTally)>> {
    let rows: Vec<TallyRow> = register_rows::table
        .order((
            register_rows::school_urn,
            register_rows::academic_year,
            register_rows::upn,
        ))
        .select(TallyRow::as_select())
        .load(conn)?;
    rows.iter()
        .map(|row| Ok((row.school_urn, row.upn.clone(), from_row(row)?)))
        .collect()
}

/// Whether any tally is stored (every register row has one).
pub fn any(conn: &mut DbConnection) -> QueryResult<bool> {
    register_rows::table
        .select(register_rows::school_urn)
        .first::<i32>(conn)
        .optional()
        .map(|found| found.is_some())
}
