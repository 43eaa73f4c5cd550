//! Support episodes, their reviews and the medical evidence received during them (`cases`,
//! `reviews`, `case_evidence`). The rules are in `domain/schedule.rs` and `domain/exit.rs`.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{case_evidence, cases, reviews};
use super::DbConnection;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = cases)]
pub struct NewCase {
    pub referral_id: i64,
    pub school_urn: i32,
    pub upn: String,
    pub status: String,
    pub start_date: NaiveDate,
    pub provision: String,
    pub opened_at: NaiveDateTime,
    pub opened_by: String,
}

#[derive(Debug, Clone, Queryable)]
pub struct CaseRow {
    pub id: i64,
    pub referral_id: i64,
    pub school_urn: i32,
    pub upn: String,
    pub status: String,
    pub start_date: NaiveDate,
    pub provision: String,
    pub opened_at: NaiveDateTime,
    pub opened_by: String,
    pub closed_at: Option<NaiveDateTime>,
    pub exit_decision: Option<String>,
    pub exit_effective_date: Option<NaiveDate>,
    /// JSON: the register facts a non_attendance exit was decided on (RULES.md R13).
    pub exit_register_facts: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = reviews)]
pub struct NewReview {
    pub case_id: i64,
    pub kind: String,
    pub label: String,
    pub due_on: NaiveDate,
    pub scheduled_for: NaiveDate,
    pub status: String,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct ReviewRow {
    pub id: i64,
    pub case_id: i64,
    pub kind: String,
    pub label: String,
    pub due_on: NaiveDate,
    pub scheduled_for: NaiveDate,
    pub status: String,
    pub held_on: Option<NaiveDate>,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = case_evidence)]
pub struct NewEvidence {
    pub case_id: i64,
    pub issued_on: NaiveDate,
    pub received_at: NaiveDateTime,
    pub item: String,
    pub recorded_by: String,
}

#[derive(Debug, Clone, Queryable)]
pub struct EvidenceRow {
    pub id: i64,
    pub case_id: i64,
    pub issued_on: NaiveDate,
    pub received_at: NaiveDateTime,
    pub item: String,
    pub recorded_by: String,
}

pub fn insert(conn: &mut DbConnection, new: &NewCase) -> QueryResult<i64> {
    diesel::insert_into(cases::table)
        .values(new)
        .returning(cases::id)
        .get_result(conn)
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<CaseRow>> {
    cases::table
        .filter(cases::id.eq(id))
        .select(cases::all_columns)
        .first(conn)
        .optional()
}

/// The cases with these ids (one query for a page of alerts).
pub fn of_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<CaseRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    cases::table
        .filter(cases::id.eq_any(ids))
        .select(cases::all_columns)
        .load(conn)
}

pub fn of_referral(conn: &mut DbConnection, referral_id: i64) -> QueryResult<Option<CaseRow>> {
    cases::table
        .filter(cases::referral_id.eq(referral_id))
        .select(cases::all_columns)
        .first(conn)
        .optional()
}

/// The pupil's active case, if any (R10.4): its id and the school's URN.
pub fn active_of_pupil(conn: &mut DbConnection, upn: &str) -> QueryResult<Option<(i64, i32)>> {
    cases::table
        .filter(cases::upn.eq(upn))
        .filter(cases::status.eq("active"))
        .select((cases::id, cases::school_urn))
        .first(conn)
        .optional()
}

/// The pupil's most recently closed case, if any (re-referral rules, R13).
pub fn last_closed_of_pupil(conn: &mut DbConnection, upn: &str) -> QueryResult<Option<CaseRow>> {
    cases::table
        .filter(cases::upn.eq(upn))
        .filter(cases::status.eq("closed"))
        .order(cases::id.desc())
        .select(cases::all_columns)
        .first(conn)
        .optional()
}

pub fn active(conn: &mut DbConnection) -> QueryResult<Vec<CaseRow>> {
    cases::table
        .filter(cases::status.eq("active"))
        .order(cases::id)
        .select(cases::all_columns)
        .load(conn)
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<String>,
    /// `None`: every school (the LA).
    pub schools: Option<Vec<i32>>,
    pub upn: Option<String>,
    pub after_id: Option<i64>,
}

pub fn page(conn: &mut DbConnection, filter: &CaseFilter, limit: i64) -> QueryResult<Vec<CaseRow>> {
    let mut query = cases::table
        .select(cases::all_columns)
        .order(cases::id)
        .into_boxed();
    if let Some(status) = &filter.status {
        query = query.filter(cases::status.eq(status.clone()));
    }
    if let Some(schools) = &filter.schools {
        query = query.filter(cases::school_urn.eq_any(schools.clone()));
    }
    if let Some(upn) = &filter.upn {
        query = query.filter(cases::upn.eq(upn.clone()));
    }
    if let Some(after) = filter.after_id {
        query = query.filter(cases::id.gt(after));
    }
    query.limit(limit).load(conn)
}

/// Closes an active case (the caller checked; this guards against a concurrent exit), storing
/// the decision and any register facts it was based on.
pub fn close(
    conn: &mut DbConnection,
    id: i64,
    exit: &str,
    register_facts: Option<&str>,
    effective: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        cases::table
            .filter(cases::id.eq(id))
            .filter(cases::status.eq("active")),
    )
    .set((
        cases::status.eq("closed"),
        cases::closed_at.eq(Some(now)),
        cases::exit_decision.eq(Some(exit)),
        cases::exit_effective_date.eq(Some(effective)),
        cases::exit_register_facts.eq(register_facts),
    ))
    .execute(conn)
}

/// Inserts reviews; returns their ids in the order given.
pub fn insert_reviews(conn: &mut DbConnection, new: &[NewReview]) -> QueryResult<Vec<i64>> {
    // A case has a few dozen reviews at most: one statement each is fine (a multi-row insert
    // does not go through a MultiConnection).
    new.iter()
        .map(|row| {
            diesel::insert_into(reviews::table)
                .values(row)
                .returning(reviews::id)
                .get_result(conn)
        })
        .collect()
}

/// The reviews of a case in the order they are scheduled.
pub fn reviews_of(conn: &mut DbConnection, case_id: i64) -> QueryResult<Vec<ReviewRow>> {
    reviews::table
        .filter(reviews::case_id.eq(case_id))
        .order((reviews::scheduled_for, reviews::id))
        .load(conn)
}

pub fn review(conn: &mut DbConnection, case_id: i64, id: i64) -> QueryResult<Option<ReviewRow>> {
    reviews::table
        .filter(reviews::case_id.eq(case_id))
        .filter(reviews::id.eq(id))
        .first(conn)
        .optional()
}

pub fn reschedule(
    conn: &mut DbConnection,
    id: i64,
    to: NaiveDate,
    note: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(reviews::table.filter(reviews::id.eq(id)))
        .set((
            reviews::scheduled_for.eq(to),
            reviews::note.eq(Some(note)),
            reviews::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Marks a review held: with the meeting's outcome (JSON), or a note saying what satisfied it.
pub fn hold(
    conn: &mut DbConnection,
    id: i64,
    held_on: NaiveDate,
    outcome: Option<&str>,
    note: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(reviews::table.filter(reviews::id.eq(id)))
        .set((
            reviews::status.eq("held"),
            reviews::held_on.eq(Some(held_on)),
            reviews::outcome.eq(outcome),
            reviews::note.eq(note),
            reviews::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Cancels the scheduled reviews of a case after `after` (an exit, R11.5); returns their ids.
pub fn cancel_after(
    conn: &mut DbConnection,
    case_id: i64,
    after: NaiveDate,
    note: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    diesel::update(
        reviews::table
            .filter(reviews::case_id.eq(case_id))
            .filter(reviews::status.eq("scheduled"))
            .filter(reviews::scheduled_for.gt(after)),
    )
    .set((
        reviews::status.eq("cancelled"),
        reviews::note.eq(Some(note)),
        reviews::updated_at.eq(now),
    ))
    .returning(reviews::id)
    .get_results(conn)
}

/// Scheduled reviews of active cases on or after `from` (a calendar change may move them),
/// with their case's school.
pub fn scheduled_from(
    conn: &mut DbConnection,
    from: NaiveDate,
) -> QueryResult<Vec<(ReviewRow, i32)>> {
    reviews::table
        .inner_join(cases::table)
        .filter(cases::status.eq("active"))
        .filter(reviews::status.eq("scheduled"))
        .filter(reviews::scheduled_for.ge(from))
        .select((reviews::all_columns, cases::school_urn))
        .order(reviews::id)
        .load(conn)
}

/// Which reviews the LA worklist asks for.
#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    /// Scheduled for before this day.
    pub before: Option<NaiveDate>,
    /// Scheduled for on or after this day.
    pub from: Option<NaiveDate>,
    pub schools: Option<Vec<i32>>,
    pub after_id: Option<i64>,
}

/// Scheduled reviews of active cases, with their case, in id order.
pub fn scheduled_page(
    conn: &mut DbConnection,
    filter: &ReviewFilter,
    limit: i64,
) -> QueryResult<Vec<(ReviewRow, CaseRow)>> {
    let mut query = reviews::table
        .inner_join(cases::table)
        .filter(cases::status.eq("active"))
        .filter(reviews::status.eq("scheduled"))
        .select((reviews::all_columns, cases::all_columns))
        .order(reviews::id)
        .into_boxed();
    if let Some(before) = filter.before {
        query = query.filter(reviews::scheduled_for.lt(before));
    }
    if let Some(from) = filter.from {
        query = query.filter(reviews::scheduled_for.ge(from));
    }
    if let Some(schools) = &filter.schools {
        query = query.filter(cases::school_urn.eq_any(schools.clone()));
    }
    if let Some(after) = filter.after_id {
        query = query.filter(reviews::id.gt(after));
    }
    query.limit(limit).load(conn)
}

pub fn insert_evidence(conn: &mut DbConnection, new: &NewEvidence) -> QueryResult<i64> {
    diesel::insert_into(case_evidence::table)
        .values(new)
        .returning(case_evidence::id)
        .get_result(conn)
}

pub fn evidence_of(conn: &mut DbConnection, case_id: i64) -> QueryResult<Vec<EvidenceRow>> {
    case_evidence::table
        .filter(case_evidence::case_id.eq(case_id))
        .order(case_evidence::id)
        .load(conn)
}

/// Scheduled reviews of these cases dated before `before` (R11.5), oldest first.
pub fn scheduled_before(
    conn: &mut DbConnection,
    case_ids: &[i64],
    before: NaiveDate,
) -> QueryResult<Vec<ReviewRow>> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    reviews::table
        .filter(reviews::case_id.eq_any(case_ids))
        .filter(reviews::status.eq("scheduled"))
        .filter(reviews::scheduled_for.lt(before))
        .order((reviews::scheduled_for, reviews::id))
        .load(conn)
}

/// The evidence received for these cases.
pub fn evidence_of_cases(
    conn: &mut DbConnection,
    case_ids: &[i64],
) -> QueryResult<Vec<EvidenceRow>> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    case_evidence::table
        .filter(case_evidence::case_id.eq_any(case_ids))
        .order(case_evidence::id)
        .load(conn)
}

/// The case of each of these reviews, for the change feed's links.
pub fn cases_of_reviews(
    conn: &mut DbConnection,
    review_ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, i64>> {
    if review_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(i64, i64)> = reviews::table
        .filter(reviews::id.eq_any(review_ids))
        .select((reviews::id, reviews::case_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
