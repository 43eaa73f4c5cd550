//! Part-time timetable agreements, their reviews and the history of their end dates
//! (`part_time_timetables`, `part_time_reviews`, `part_time_end_dates`; RULES.md R15). The rules
//! are in `domain/part_time.rs`.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::columns::{json, to_json};
use super::schema::{part_time_end_dates, part_time_reviews, part_time_timetables};
use super::{DbConnection, StoreResult};
use crate::domain::part_time::{
    AgreementTerms, Attendee, EndDateChange, PartTimeReview, PartTimeReviewId, PartTimeTimetable,
    PartTimeTimetableId,
};

type Row = (
    i64,
    i32,
    String,
    NaiveDate,
    NaiveDate,
    String,
    NaiveDateTime,
    String,
    NaiveDateTime,
);

type RowColumns = (
    part_time_timetables::id,
    part_time_timetables::school_urn,
    part_time_timetables::upn,
    part_time_timetables::start_date,
    part_time_timetables::end_date,
    part_time_timetables::terms,
    part_time_timetables::created_at,
    part_time_timetables::created_by,
    part_time_timetables::updated_at,
);

/// The columns of [`Row`] (not `next_review_date`, which only the clock's query reads).
const ROW_COLUMNS: RowColumns = (
    part_time_timetables::id,
    part_time_timetables::school_urn,
    part_time_timetables::upn,
    part_time_timetables::start_date,
    part_time_timetables::end_date,
    part_time_timetables::terms,
    part_time_timetables::created_at,
    part_time_timetables::created_by,
    part_time_timetables::updated_at,
);

type ReviewRow = (
    i64,
    i64,
    NaiveDate,
    String,
    Option<String>,
    Option<NaiveDate>,
    NaiveDateTime,
    String,
);

type EndDateRow = (i64, i64, NaiveDate, NaiveDateTime, String, Option<i64>);

fn unreadable(e: Box<dyn std::error::Error + Send + Sync>) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(e)
}

/// Rows with their reviews and end dates, read in two more queries for any number of rows.
fn assemble(conn: &mut DbConnection, rows: Vec<Row>) -> StoreResult<Vec<PartTimeTimetable>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut reviews: HashMap<i64, Vec<PartTimeReview>> = HashMap::new();
    let mut end_dates: HashMap<i64, Vec<EndDateChange>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let review_rows: Vec<ReviewRow> = part_time_reviews::table
            .filter(part_time_reviews::timetable_id.eq_any(chunk))
            .order(part_time_reviews::id)
            .select(part_time_reviews::all_columns)
            .load(conn)?;
        for (id, timetable_id, held_on, attendees, notes, new_end_date, at, by) in review_rows {
            let attendees: Vec<Attendee> =
                json("review attendees", id, &attendees).map_err(unreadable)?;
            reviews
                .entry(timetable_id)
                .or_default()
                .push(PartTimeReview {
                    id: PartTimeReviewId::from(id),
                    held_on,
                    attendees,
                    notes,
                    new_end_date,
                    recorded_at: at,
                    recorded_by: by,
                });
        }
        let date_rows: Vec<EndDateRow> = part_time_end_dates::table
            .filter(part_time_end_dates::timetable_id.eq_any(chunk))
            .order(part_time_end_dates::id)
            .select(part_time_end_dates::all_columns)
            .load(conn)?;
        for (_, timetable_id, end_date, set_at, set_by, review_id) in date_rows {
            end_dates
                .entry(timetable_id)
                .or_default()
                .push(EndDateChange {
                    end_date,
                    set_at,
                    set_by,
                    review_id: review_id.map(PartTimeReviewId::from),
                });
        }
    }
    rows.into_iter()
        .map(
            |(id, school_urn, upn, _, _, terms, created_at, created_by, _)| {
                Ok(PartTimeTimetable {
                    id: PartTimeTimetableId::from(id),
                    school_urn,
                    upn,
                    terms: json::<AgreementTerms>("part-time timetable", id, &terms)
                        .map_err(unreadable)?,
                    end_dates: end_dates.remove(&id).unwrap_or_default(),
                    reviews: reviews.remove(&id).unwrap_or_default(),
                    created_at,
                    created_by,
                })
            },
        )
        .collect()
}

/// A new agreement and its first end date.
pub fn insert(
    conn: &mut DbConnection,
    school_urn: i32,
    upn: &str,
    terms: &AgreementTerms,
    at: NaiveDateTime,
    by: &str,
) -> StoreResult<PartTimeTimetableId> {
    let id: i64 = diesel::insert_into(part_time_timetables::table)
        .values((
            part_time_timetables::school_urn.eq(school_urn),
            part_time_timetables::upn.eq(upn),
            part_time_timetables::start_date.eq(terms.start_date),
            part_time_timetables::end_date.eq(terms.end_date),
            part_time_timetables::terms.eq(to_json(terms)?),
            part_time_timetables::created_at.eq(at),
            part_time_timetables::created_by.eq(by),
            part_time_timetables::updated_at.eq(at),
        ))
        .returning(part_time_timetables::id)
        .get_result(conn)?;
    let id = PartTimeTimetableId::from(id);
    record_end_date(conn, id, terms.end_date, at, by, None)?;
    Ok(id)
}

/// The terms as changed (a new end date, more review dates).
pub fn update_terms(
    conn: &mut DbConnection,
    id: PartTimeTimetableId,
    terms: &AgreementTerms,
    at: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(part_time_timetables::table.filter(part_time_timetables::id.eq(id.get())))
        .set((
            part_time_timetables::start_date.eq(terms.start_date),
            part_time_timetables::end_date.eq(terms.end_date),
            part_time_timetables::terms.eq(to_json(terms)?),
            part_time_timetables::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// One more end date in the agreement's history (R15.2).
pub fn record_end_date(
    conn: &mut DbConnection,
    id: PartTimeTimetableId,
    end_date: NaiveDate,
    at: NaiveDateTime,
    by: &str,
    review: Option<PartTimeReviewId>,
) -> StoreResult<()> {
    diesel::insert_into(part_time_end_dates::table)
        .values((
            part_time_end_dates::timetable_id.eq(id.get()),
            part_time_end_dates::end_date.eq(end_date),
            part_time_end_dates::set_at.eq(at),
            part_time_end_dates::set_by.eq(by),
            part_time_end_dates::review_id.eq(review.map(PartTimeReviewId::get)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A review held (R15.2).
#[allow(clippy::too_many_arguments)]
pub fn insert_review(
    conn: &mut DbConnection,
    id: PartTimeTimetableId,
    held_on: NaiveDate,
    attendees: &[Attendee],
    notes: Option<&str>,
    new_end_date: Option<NaiveDate>,
    at: NaiveDateTime,
    by: &str,
) -> StoreResult<PartTimeReviewId> {
    let review: i64 = diesel::insert_into(part_time_reviews::table)
        .values((
            part_time_reviews::timetable_id.eq(id.get()),
            part_time_reviews::held_on.eq(held_on),
            part_time_reviews::attendees.eq(to_json(&attendees)?),
            part_time_reviews::notes.eq(notes),
            part_time_reviews::new_end_date.eq(new_end_date),
            part_time_reviews::recorded_at.eq(at),
            part_time_reviews::recorded_by.eq(by),
        ))
        .returning(part_time_reviews::id)
        .get_result(conn)?;
    Ok(PartTimeReviewId::from(review))
}

pub fn find(
    conn: &mut DbConnection,
    id: PartTimeTimetableId,
) -> StoreResult<Option<PartTimeTimetable>> {
    let rows: Vec<Row> = part_time_timetables::table
        .filter(part_time_timetables::id.eq(id.get()))
        .select(ROW_COLUMNS)
        .load(conn)?;
    Ok(assemble(conn, rows)?.into_iter().next())
}

/// A pupil's agreements at a school, oldest first.
pub fn of_pupil(
    conn: &mut DbConnection,
    school_urn: i32,
    upn: &str,
) -> StoreResult<Vec<PartTimeTimetable>> {
    let rows: Vec<Row> = part_time_timetables::table
        .filter(part_time_timetables::school_urn.eq(school_urn))
        .filter(part_time_timetables::upn.eq(upn))
        .order(part_time_timetables::start_date)
        .select(ROW_COLUMNS)
        .load(conn)?;
    assemble(conn, rows)
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct TimetableFilter {
    pub school_urn: i32,
    pub upn: Option<String>,
    /// Only agreements in force on this day (`status=active`), starting after it (`upcoming`)
    /// or ended before it (`ended`).
    pub in_force_on: Option<(crate::domain::part_time::AgreementStatus, NaiveDate)>,
    pub after_id: Option<i64>,
}

/// A page of a school's agreements by id.
pub fn page(
    conn: &mut DbConnection,
    filter: &TimetableFilter,
    limit: i64,
) -> StoreResult<Vec<PartTimeTimetable>> {
    use crate::domain::part_time::AgreementStatus;
    let mut query = part_time_timetables::table
        .filter(part_time_timetables::school_urn.eq(filter.school_urn))
        .into_boxed();
    if let Some(upn) = &filter.upn {
        query = query.filter(part_time_timetables::upn.eq(upn.clone()));
    }
    if let Some((status, day)) = filter.in_force_on {
        query = match status {
            AgreementStatus::Upcoming => query.filter(part_time_timetables::start_date.gt(day)),
            AgreementStatus::Ended => query.filter(part_time_timetables::end_date.lt(day)),
            AgreementStatus::Active => query
                .filter(part_time_timetables::start_date.le(day))
                .filter(part_time_timetables::end_date.ge(day)),
        };
    }
    if let Some(after) = filter.after_id {
        query = query.filter(part_time_timetables::id.gt(after));
    }
    let rows: Vec<Row> = query
        .order(part_time_timetables::id)
        .limit(limit)
        .select(ROW_COLUMNS)
        .load(conn)?;
    assemble(conn, rows)
}

/// The agreements with these ids (a page of alerts), with their reviews and end dates.
pub fn of_ids(conn: &mut DbConnection, ids: &[i64]) -> StoreResult<Vec<PartTimeTimetable>> {
    let mut all = Vec::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<Row> = part_time_timetables::table
            .filter(part_time_timetables::id.eq_any(chunk))
            .order(part_time_timetables::id)
            .select(ROW_COLUMNS)
            .load(conn)?;
        all.extend(assemble(conn, rows)?);
    }
    Ok(all)
}

/// R15.3: the first review date not yet met, kept for the clock ([`review_due_before`]).
pub fn set_next_review_date(
    conn: &mut DbConnection,
    id: PartTimeTimetableId,
    next: Option<NaiveDate>,
) -> StoreResult<()> {
    diesel::update(part_time_timetables::table.filter(part_time_timetables::id.eq(id.get())))
        .set(part_time_timetables::next_review_date.eq(next))
        .execute(conn)?;
    Ok(())
}

/// R15.3: the agreements with a review date before `day` not met by a review, the only ones
/// that can have `part_time_review_overdue` (one indexed query, whatever the LA's size).
pub fn review_due_before(
    conn: &mut DbConnection,
    day: NaiveDate,
) -> StoreResult<Vec<PartTimeTimetable>> {
    let rows: Vec<Row> = part_time_timetables::table
        .filter(part_time_timetables::next_review_date.lt(day))
        .order(part_time_timetables::id)
        .select(ROW_COLUMNS)
        .load(conn)?;
    assemble(conn, rows)
}

/// An agreement's dates as the `C2` check reads them: id, school, pupil, start, end in force.
pub type Span = (i64, i32, String, NaiveDate, NaiveDate);

/// The dates of these pupils' agreements at any school (R15.3: one query for a push's pupils
/// with `C2` changes, or a page of alerts).
pub fn spans_of_pupils(conn: &mut DbConnection, upns: &[&str]) -> StoreResult<Vec<Span>> {
    let mut all = Vec::new();
    for chunk in upns.chunks(500) {
        all.extend(
            part_time_timetables::table
                .filter(part_time_timetables::upn.eq_any(chunk))
                .select((
                    part_time_timetables::id,
                    part_time_timetables::school_urn,
                    part_time_timetables::upn,
                    part_time_timetables::start_date,
                    part_time_timetables::end_date,
                ))
                .load::<Span>(conn)?,
        );
    }
    Ok(all)
}

/// The dates of a school's agreements (`esma-api recompute`).
pub fn spans_of_school(conn: &mut DbConnection, school_urn: i32) -> StoreResult<Vec<Span>> {
    Ok(part_time_timetables::table
        .filter(part_time_timetables::school_urn.eq(school_urn))
        .select((
            part_time_timetables::id,
            part_time_timetables::school_urn,
            part_time_timetables::upn,
            part_time_timetables::start_date,
            part_time_timetables::end_date,
        ))
        .load::<Span>(conn)?)
}
