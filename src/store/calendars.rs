//! The LA calendar: terms, half terms and closures per academic year (RULES.md R3).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{calendar_closures, calendar_terms, calendars};
use super::{DbConnection, StoreResult};
use crate::domain::calendar::{AcademicYear, HalfTerm, LaCalendar, Term};

type TermRow = (
    String,
    i32,
    String,
    NaiveDate,
    NaiveDate,
    Option<NaiveDate>,
    Option<NaiveDate>,
);

/// Replaces the calendar of its academic year; returns true when the year had none before.
pub fn replace(
    conn: &mut DbConnection,
    calendar: &LaCalendar,
    now: NaiveDateTime,
) -> StoreResult<bool> {
    let year = calendar.academic_year.to_string();
    let existed = calendars::table
        .find(&year)
        .select(calendars::academic_year)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if existed {
        diesel::delete(calendar_terms::table.filter(calendar_terms::academic_year.eq(&year)))
            .execute(conn)?;
        diesel::delete(calendar_closures::table.filter(calendar_closures::academic_year.eq(&year)))
            .execute(conn)?;
        diesel::update(calendars::table.find(&year))
            .set(calendars::updated_at.eq(now))
            .execute(conn)?;
    } else {
        diesel::insert_into(calendars::table)
            .values((
                calendars::academic_year.eq(&year),
                calendars::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    for (position, term) in calendar.terms.iter().enumerate() {
        diesel::insert_into(calendar_terms::table)
            .values((
                calendar_terms::academic_year.eq(&year),
                calendar_terms::position.eq(position as i32),
                calendar_terms::name.eq(&term.name),
                calendar_terms::starts.eq(term.starts),
                calendar_terms::ends.eq(term.ends),
                calendar_terms::half_term_starts.eq(term.half_term.as_ref().map(|h| h.starts)),
                calendar_terms::half_term_ends.eq(term.half_term.as_ref().map(|h| h.ends)),
            ))
            .execute(conn)?;
    }
    let mut closures = calendar.closures.clone();
    closures.sort();
    closures.dedup();
    for day in closures {
        diesel::insert_into(calendar_closures::table)
            .values((
                calendar_closures::academic_year.eq(&year),
                calendar_closures::closed_on.eq(day),
            ))
            .execute(conn)?;
    }
    Ok(!existed)
}

/// The calendar of one academic year, with when it was last changed.
pub fn find(
    conn: &mut DbConnection,
    year: AcademicYear,
) -> StoreResult<Option<(LaCalendar, NaiveDateTime)>> {
    let key = year.to_string();
    let Some(updated_at) = calendars::table
        .find(&key)
        .select(calendars::updated_at)
        .first::<NaiveDateTime>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let terms: Vec<TermRow> = calendar_terms::table
        .filter(calendar_terms::academic_year.eq(&key))
        .select(calendar_terms::all_columns)
        .order(calendar_terms::position)
        .load(conn)?;
    let closures: Vec<NaiveDate> = calendar_closures::table
        .filter(calendar_closures::academic_year.eq(&key))
        .select(calendar_closures::closed_on)
        .order(calendar_closures::closed_on)
        .load(conn)?;
    Ok(Some((assemble(year, terms, closures), updated_at)))
}

/// Every calendar loaded, for school-day counting across years.
pub fn all(conn: &mut DbConnection) -> StoreResult<Vec<LaCalendar>> {
    let terms: Vec<TermRow> = calendar_terms::table
        .select(calendar_terms::all_columns)
        .order((calendar_terms::academic_year, calendar_terms::position))
        .load(conn)?;
    let closures: Vec<(String, NaiveDate)> = calendar_closures::table
        .select(calendar_closures::all_columns)
        .order((
            calendar_closures::academic_year,
            calendar_closures::closed_on,
        ))
        .load(conn)?;
    let years: Vec<String> = calendars::table
        .select(calendars::academic_year)
        .order(calendars::academic_year)
        .load(conn)?;
    Ok(years
        .into_iter()
        .filter_map(|key| {
            let year = AcademicYear::parse(&key).ok()?;
            let year_terms = terms.iter().filter(|t| t.0 == key).cloned().collect();
            let year_closures = closures
                .iter()
                .filter(|c| c.0 == key)
                .map(|c| c.1)
                .collect();
            Some(assemble(year, year_terms, year_closures))
        })
        .collect())
}

fn assemble(year: AcademicYear, terms: Vec<TermRow>, closures: Vec<NaiveDate>) -> LaCalendar {
    LaCalendar {
        academic_year: year,
        terms: terms
            .into_iter()
            .map(|(_, _, name, starts, ends, hs, he)| Term {
                name,
                starts,
                ends,
                half_term: match (hs, he) {
                    (Some(starts), Some(ends)) => Some(HalfTerm { starts, ends }),
                    _ => None,
                },
            })
            .collect(),
        closures,
    }
}
