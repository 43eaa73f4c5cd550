//! Support episodes, their reviews and the medical evidence received during them (`cases`,
//! `reviews`, `case_evidence`). The rules are in `domain/schedule.rs` and `domain/exit.rs`; the
//! rows are read into the domain's [`Case`], [`Review`] and [`Evidence`] here.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromStaticSqlRow, Queryable};
use diesel::prelude::*;

use super::columns::{json, json_opt, to_json, word};
use super::schema::{case_evidence, cases, reviews};
use super::{DbConnection, StoreError, StoreResult};
use crate::domain::case::{
    Case, CaseId, CaseStatus, Evidence, Review, ReviewId, ReviewOutcome, ReviewStatus,
};
use crate::domain::decision::ProvisionItem;
use crate::domain::exit::{ExitRequest, RegisterFacts};
use crate::domain::referral::{EvidenceItem, ReferralId};
use crate::domain::schedule::ReviewKind;

/// The columns of `cases`, in the schema's order.
type CaseColumns = (
    i64,
    i64,
    i32,
    String,
    String,
    NaiveDate,
    String,
    NaiveDateTime,
    String,
    Option<NaiveDateTime>,
    Option<String>,
    Option<NaiveDate>,
    Option<String>,
);

impl<ST, DB> Queryable<ST, DB> for Case
where
    DB: Backend,
    CaseColumns: FromStaticSqlRow<ST, DB>,
{
    type Row = CaseColumns;

    fn build(
        (
            id,
            referral_id,
            school_urn,
            upn,
            status,
            start_date,
            provision,
            opened_at,
            opened_by,
            closed_at,
            exit,
            exit_effective_date,
            facts,
        ): CaseColumns,
    ) -> deserialize::Result<Case> {
        Ok(Case {
            id: CaseId::from(id),
            referral_id: ReferralId::from(referral_id),
            school_urn,
            upn,
            status: word(&status)?,
            start_date,
            provision: json("provision of case", id, &provision)?,
            opened_at,
            opened_by,
            closed_at,
            exit: json_opt("exit of case", id, exit.as_deref())?,
            exit_effective_date,
            exit_register_facts: json_opt("register facts of case", id, facts.as_deref())?,
        })
    }
}

/// The columns of `reviews`, in the schema's order.
type ReviewColumns = (
    i64,
    i64,
    String,
    String,
    NaiveDate,
    NaiveDate,
    String,
    Option<NaiveDate>,
    Option<String>,
    Option<String>,
    NaiveDateTime,
);

impl<ST, DB> Queryable<ST, DB> for Review
where
    DB: Backend,
    ReviewColumns: FromStaticSqlRow<ST, DB>,
{
    type Row = ReviewColumns;

    fn build(
        (
            id,
            case_id,
            kind,
            label,
            due_on,
            scheduled_for,
            status,
            held_on,
            outcome,
            note,
            updated_at,
        ): ReviewColumns,
    ) -> deserialize::Result<Review> {
        Ok(Review {
            id: ReviewId::from(id),
            case_id: CaseId::from(case_id),
            kind: word(&kind)?,
            label,
            due_on,
            scheduled_for,
            status: word(&status)?,
            held_on,
            outcome: json_opt("review", id, outcome.as_deref())?,
            note,
            updated_at,
        })
    }
}

/// The columns of `case_evidence`, in the schema's order.
type EvidenceColumns = (i64, i64, NaiveDate, NaiveDateTime, String, String);

impl<ST, DB> Queryable<ST, DB> for Evidence
where
    DB: Backend,
    EvidenceColumns: FromStaticSqlRow<ST, DB>,
{
    type Row = EvidenceColumns;

    fn build(
        (id, case_id, issued_on, received_at, item, recorded_by): EvidenceColumns,
    ) -> deserialize::Result<Evidence> {
        Ok(Evidence {
            id,
            case_id: CaseId::from(case_id),
            issued_on,
            received_at,
            item: json("evidence", id, &item)?,
            recorded_by,
        })
    }
}

fn raw<T: Copy + Into<i64>>(ids: &[T]) -> Vec<i64> {
    ids.iter().map(|&id| id.into()).collect()
}

/// A case to open (R10.2): it is active from the start.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub referral_id: ReferralId,
    pub school_urn: i32,
    pub upn: String,
    pub start_date: NaiveDate,
    pub provision: Vec<ProvisionItem>,
    pub opened_at: NaiveDateTime,
    pub opened_by: String,
}

pub fn insert(conn: &mut DbConnection, new: &NewCase) -> StoreResult<CaseId> {
    Ok(diesel::insert_into(cases::table)
        .values((
            cases::referral_id.eq(new.referral_id.get()),
            cases::school_urn.eq(new.school_urn),
            cases::upn.eq(&new.upn),
            cases::status.eq(CaseStatus::Active.as_str()),
            cases::start_date.eq(new.start_date),
            cases::provision.eq(to_json(&new.provision)?),
            cases::opened_at.eq(new.opened_at),
            cases::opened_by.eq(&new.opened_by),
        ))
        .returning(cases::id)
        .get_result::<i64>(conn)
        .map(CaseId::from)?)
}

pub fn find(conn: &mut DbConnection, id: CaseId) -> StoreResult<Option<Case>> {
    Ok(cases::table
        .filter(cases::id.eq(id.get()))
        .select(cases::all_columns)
        .first(conn)
        .optional()?)
}

/// The cases with these ids (one query for a page of alerts).
pub fn of_ids(conn: &mut DbConnection, ids: &[CaseId]) -> StoreResult<Vec<Case>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(cases::table
        .filter(cases::id.eq_any(raw(ids)))
        .select(cases::all_columns)
        .load(conn)?)
}

pub fn of_referral(conn: &mut DbConnection, referral_id: ReferralId) -> StoreResult<Option<Case>> {
    Ok(cases::table
        .filter(cases::referral_id.eq(referral_id.get()))
        .select(cases::all_columns)
        .first(conn)
        .optional()?)
}

/// The pupil's active case, if any (R10.4): its id and the school's URN.
pub fn active_of_pupil(conn: &mut DbConnection, upn: &str) -> StoreResult<Option<(CaseId, i32)>> {
    let found: Option<(i64, i32)> = cases::table
        .filter(cases::upn.eq(upn))
        .filter(cases::status.eq(CaseStatus::Active.as_str()))
        .select((cases::id, cases::school_urn))
        .first(conn)
        .optional()?;
    Ok(found.map(|(id, urn)| (CaseId::from(id), urn)))
}

/// The pupil's most recently closed case, if any (re-referral rules, R13).
pub fn last_closed_of_pupil(conn: &mut DbConnection, upn: &str) -> StoreResult<Option<Case>> {
    Ok(cases::table
        .filter(cases::upn.eq(upn))
        .filter(cases::status.eq(CaseStatus::Closed.as_str()))
        .order(cases::id.desc())
        .select(cases::all_columns)
        .first(conn)
        .optional()?)
}

/// A case's dates as the `C2` check reads them (R15.3): pupil, school, start, and once closed
/// its exit's effective date (the day it closed when none was recorded).
pub type CaseSpan = (String, i32, NaiveDate, Option<NaiveDate>);

type CaseSpanRow = (
    String,
    i32,
    NaiveDate,
    String,
    Option<NaiveDate>,
    Option<NaiveDateTime>,
);

/// The columns of a [`CaseSpanRow`].
#[allow(clippy::type_complexity)]
const SPAN_COLUMNS: (
    cases::upn,
    cases::school_urn,
    cases::start_date,
    cases::status,
    cases::exit_effective_date,
    cases::closed_at,
) = (
    cases::upn,
    cases::school_urn,
    cases::start_date,
    cases::status,
    cases::exit_effective_date,
    cases::closed_at,
);

fn case_span((upn, urn, start, status, effective, closed_at): CaseSpanRow) -> CaseSpan {
    let end = match status.as_str() {
        s if s == CaseStatus::Active.as_str() => None,
        _ => effective.or(closed_at.map(|at| at.date())).or(Some(start)),
    };
    (upn, urn, start, end)
}

/// The dates of these pupils' cases, active and closed (R15.3).
pub fn spans_of_pupils(conn: &mut DbConnection, upns: &[&str]) -> StoreResult<Vec<CaseSpan>> {
    let mut all = Vec::new();
    for chunk in upns.chunks(500) {
        let rows: Vec<CaseSpanRow> = cases::table
            .filter(cases::upn.eq_any(chunk))
            .select(SPAN_COLUMNS)
            .load(conn)?;
        all.extend(rows.into_iter().map(case_span));
    }
    Ok(all)
}

/// The dates of a school's cases (R15.3, `esma-api recompute`).
pub fn spans_of_school(conn: &mut DbConnection, school_urn: i32) -> StoreResult<Vec<CaseSpan>> {
    let rows: Vec<CaseSpanRow> = cases::table
        .filter(cases::school_urn.eq(school_urn))
        .select(SPAN_COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(case_span).collect())
}

pub fn active(conn: &mut DbConnection) -> StoreResult<Vec<Case>> {
    Ok(cases::table
        .filter(cases::status.eq(CaseStatus::Active.as_str()))
        .order(cases::id)
        .select(cases::all_columns)
        .load(conn)?)
}

/// The ids and pupils of a school's active cases (`cases_school`).
pub fn active_at_school(
    conn: &mut DbConnection,
    school_urn: i32,
) -> StoreResult<Vec<(CaseId, String)>> {
    let rows: Vec<(i64, String)> = cases::table
        .filter(cases::school_urn.eq(school_urn))
        .filter(cases::status.eq(CaseStatus::Active.as_str()))
        .select((cases::id, cases::upn))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, upn)| (CaseId::from(id), upn))
        .collect())
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    /// `None`: every school (the LA).
    pub schools: Option<Vec<i32>>,
    pub upn: Option<String>,
    pub after_id: Option<i64>,
}

pub fn page(conn: &mut DbConnection, filter: &CaseFilter, limit: i64) -> StoreResult<Vec<Case>> {
    let mut query = cases::table
        .select(cases::all_columns)
        .order(cases::id)
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(cases::status.eq(status.as_str()));
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
    Ok(query.limit(limit).load(conn)?)
}

/// Closes an active case (the caller checked; this guards against a concurrent exit), storing
/// the decision and any register facts it was based on.
pub fn close(
    conn: &mut DbConnection,
    id: CaseId,
    exit: &ExitRequest,
    register_facts: Option<&RegisterFacts>,
    effective: NaiveDate,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    let facts = register_facts.map(to_json).transpose()?;
    Ok(diesel::update(
        cases::table
            .filter(cases::id.eq(id.get()))
            .filter(cases::status.eq(CaseStatus::Active.as_str())),
    )
    .set((
        cases::status.eq(CaseStatus::Closed.as_str()),
        cases::closed_at.eq(Some(now)),
        cases::exit_decision.eq(Some(to_json(exit)?)),
        cases::exit_effective_date.eq(Some(effective)),
        cases::exit_register_facts.eq(facts),
    ))
    .execute(conn)?)
}

/// A review to plan: scheduled for its due day.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub case_id: CaseId,
    pub kind: ReviewKind,
    pub label: String,
    pub due_on: NaiveDate,
    pub updated_at: NaiveDateTime,
}

/// Inserts reviews, scheduled for their due day; returns their ids in the order given.
pub fn insert_reviews(conn: &mut DbConnection, new: &[NewReview]) -> StoreResult<Vec<ReviewId>> {
    // A case has a few dozen reviews at most: one statement each is fine (a multi-row insert
    // does not go through a MultiConnection).
    new.iter()
        .map(|row| {
            diesel::insert_into(reviews::table)
                .values((
                    reviews::case_id.eq(row.case_id.get()),
                    reviews::kind.eq(row.kind.as_str()),
                    reviews::label.eq(&row.label),
                    reviews::due_on.eq(row.due_on),
                    reviews::scheduled_for.eq(row.due_on),
                    reviews::status.eq(ReviewStatus::Scheduled.as_str()),
                    reviews::updated_at.eq(row.updated_at),
                ))
                .returning(reviews::id)
                .get_result::<i64>(conn)
                .map(ReviewId::from)
                .map_err(StoreError::from)
        })
        .collect()
}

/// The reviews of a case in the order they are scheduled.
pub fn reviews_of(conn: &mut DbConnection, case_id: CaseId) -> StoreResult<Vec<Review>> {
    Ok(reviews::table
        .filter(reviews::case_id.eq(case_id.get()))
        .order((reviews::scheduled_for, reviews::id))
        .load(conn)?)
}

pub fn review(
    conn: &mut DbConnection,
    case_id: CaseId,
    id: ReviewId,
) -> StoreResult<Option<Review>> {
    Ok(reviews::table
        .filter(reviews::case_id.eq(case_id.get()))
        .filter(reviews::id.eq(id.get()))
        .first(conn)
        .optional()?)
}

pub fn reschedule(
    conn: &mut DbConnection,
    id: ReviewId,
    to: NaiveDate,
    note: &str,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    Ok(
        diesel::update(reviews::table.filter(reviews::id.eq(id.get())))
            .set((
                reviews::scheduled_for.eq(to),
                reviews::note.eq(Some(note)),
                reviews::updated_at.eq(now),
            ))
            .execute(conn)?,
    )
}

/// Marks a review held: with the meeting's outcome, or a note saying what satisfied it.
pub fn hold(
    conn: &mut DbConnection,
    id: ReviewId,
    held_on: NaiveDate,
    outcome: Option<&ReviewOutcome>,
    note: Option<&str>,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    let outcome = outcome.map(to_json).transpose()?;
    Ok(
        diesel::update(reviews::table.filter(reviews::id.eq(id.get())))
            .set((
                reviews::status.eq(ReviewStatus::Held.as_str()),
                reviews::held_on.eq(Some(held_on)),
                reviews::outcome.eq(outcome),
                reviews::note.eq(note),
                reviews::updated_at.eq(now),
            ))
            .execute(conn)?,
    )
}

/// Cancels the scheduled reviews of a case after `after` (an exit, R11.5); returns their ids.
pub fn cancel_after(
    conn: &mut DbConnection,
    case_id: CaseId,
    after: NaiveDate,
    note: &str,
    now: NaiveDateTime,
) -> StoreResult<Vec<ReviewId>> {
    let cancelled: Vec<i64> = diesel::update(
        reviews::table
            .filter(reviews::case_id.eq(case_id.get()))
            .filter(reviews::status.eq(ReviewStatus::Scheduled.as_str()))
            .filter(reviews::scheduled_for.gt(after)),
    )
    .set((
        reviews::status.eq(ReviewStatus::Cancelled.as_str()),
        reviews::note.eq(Some(note)),
        reviews::updated_at.eq(now),
    ))
    .returning(reviews::id)
    .get_results(conn)?;
    Ok(cancelled.into_iter().map(ReviewId::from).collect())
}

/// Scheduled reviews of active cases on or after `from` (a calendar change may move them),
/// with their case's school.
pub fn scheduled_from(conn: &mut DbConnection, from: NaiveDate) -> StoreResult<Vec<(Review, i32)>> {
    Ok(reviews::table
        .inner_join(cases::table)
        .filter(cases::status.eq(CaseStatus::Active.as_str()))
        .filter(reviews::status.eq(ReviewStatus::Scheduled.as_str()))
        .filter(reviews::scheduled_for.ge(from))
        .select((reviews::all_columns, cases::school_urn))
        .order(reviews::id)
        .load(conn)?)
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
) -> StoreResult<Vec<(Review, Case)>> {
    let mut query = reviews::table
        .inner_join(cases::table)
        .filter(cases::status.eq(CaseStatus::Active.as_str()))
        .filter(reviews::status.eq(ReviewStatus::Scheduled.as_str()))
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
    Ok(query.limit(limit).load(conn)?)
}

/// Medical evidence received for a case, kept as issued (its JSON) with when and by whom.
#[derive(Debug, Clone)]
pub struct NewEvidence {
    pub case_id: CaseId,
    pub item: EvidenceItem,
    pub received_at: NaiveDateTime,
    pub recorded_by: String,
}

pub fn insert_evidence(conn: &mut DbConnection, new: &NewEvidence) -> StoreResult<i64> {
    Ok(diesel::insert_into(case_evidence::table)
        .values((
            case_evidence::case_id.eq(new.case_id.get()),
            case_evidence::issued_on.eq(new.item.issued_on),
            case_evidence::received_at.eq(new.received_at),
            case_evidence::item.eq(to_json(&new.item)?),
            case_evidence::recorded_by.eq(&new.recorded_by),
        ))
        .returning(case_evidence::id)
        .get_result(conn)?)
}

pub fn evidence_of(conn: &mut DbConnection, case_id: CaseId) -> StoreResult<Vec<Evidence>> {
    Ok(case_evidence::table
        .filter(case_evidence::case_id.eq(case_id.get()))
        .order(case_evidence::id)
        .load(conn)?)
}

/// Scheduled reviews of these cases dated before `before` (R11.5), oldest first.
pub fn scheduled_before(
    conn: &mut DbConnection,
    case_ids: &[CaseId],
    before: NaiveDate,
) -> StoreResult<Vec<Review>> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    // By case alone (`reviews_case`), the rest filtered here: with the status and date in the
    // query, SQLite walked every scheduled review of every case (`reviews_open`).
    let mut found: Vec<Review> = reviews::table
        .filter(reviews::case_id.eq_any(raw(case_ids)))
        .load::<Review>(conn)?
        .into_iter()
        .filter(|r| r.status == ReviewStatus::Scheduled && r.scheduled_for < before)
        .collect();
    found.sort_by_key(|r| (r.scheduled_for, r.id));
    Ok(found)
}

/// The evidence received for these cases.
pub fn evidence_of_cases(
    conn: &mut DbConnection,
    case_ids: &[CaseId],
) -> StoreResult<Vec<Evidence>> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(case_evidence::table
        .filter(case_evidence::case_id.eq_any(raw(case_ids)))
        .order(case_evidence::id)
        .load(conn)?)
}

/// The case of each of these reviews, for the change feed's links (the feed's ids are plain).
pub fn cases_of_reviews(
    conn: &mut DbConnection,
    review_ids: &[i64],
) -> StoreResult<std::collections::HashMap<i64, i64>> {
    if review_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(i64, i64)> = reviews::table
        .filter(reviews::id.eq_any(review_ids))
        .select((reviews::id, reviews::case_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
