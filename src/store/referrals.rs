//! Referrals, their assessment history and the cases accepted referrals open (`referrals`,
//! `referral_assessments`, `cases`). The rules are in `domain/referral.rs` and
//! `domain/eligibility.rs`; this is storage only.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{referral_assessments, referrals};
use super::DbConnection;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = referrals)]
pub struct NewReferral {
    pub school_urn: i32,
    pub upn: String,
    pub status: String,
    pub form: String,
    pub received_at: NaiveDateTime,
    pub assessment_due_by: NaiveDate,
    pub created_by: String,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct ReferralRow {
    pub id: i64,
    pub school_urn: i32,
    pub upn: String,
    pub status: String,
    pub form: String,
    pub received_at: NaiveDateTime,
    pub assessment_due_by: NaiveDate,
    pub created_by: String,
    pub updated_at: NaiveDateTime,
    pub decision: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub withdrawal_reason: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = referral_assessments)]
pub struct NewAssessment {
    pub referral_id: i64,
    pub evaluated_at: NaiveDateTime,
    pub trigger: String,
    pub requested_by: String,
    pub outcome: String,
    pub policy_name: String,
    pub policy_version: String,
    pub body: String,
}

#[derive(Debug, Clone, Queryable)]
pub struct AssessmentRow {
    pub id: i64,
    pub referral_id: i64,
    pub evaluated_at: NaiveDateTime,
    pub trigger: String,
    pub requested_by: String,
    pub outcome: String,
    pub policy_name: String,
    pub policy_version: String,
    pub body: String,
}

/// The undecided states (RULES.md R10.1), as stored.
const UNDECIDED: [&str; 2] = ["submitted", "incomplete"];

pub fn insert(conn: &mut DbConnection, new: &NewReferral) -> QueryResult<i64> {
    diesel::insert_into(referrals::table)
        .values(new)
        .returning(referrals::id)
        .get_result(conn)
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<ReferralRow>> {
    referrals::table
        .filter(referrals::id.eq(id))
        .select(referrals::all_columns)
        .first(conn)
        .optional()
}

/// The pupil's undecided referral, if any (R10.4): its id and the referring school's URN.
pub fn open_of_pupil(conn: &mut DbConnection, upn: &str) -> QueryResult<Option<(i64, i32)>> {
    referrals::table
        .filter(referrals::upn.eq(upn))
        .filter(referrals::status.eq_any(UNDECIDED))
        .select((referrals::id, referrals::school_urn))
        .first(conn)
        .optional()
}

/// Saves a patched form and the status its new assessment gives.
pub fn update_form(
    conn: &mut DbConnection,
    id: i64,
    form: &str,
    status: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(referrals::table.filter(referrals::id.eq(id)))
        .set((
            referrals::form.eq(form),
            referrals::status.eq(status),
            referrals::updated_at.eq(now),
        ))
        .execute(conn)
}

pub fn set_status(
    conn: &mut DbConnection,
    id: i64,
    status: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(referrals::table.filter(referrals::id.eq(id)))
        .set((referrals::status.eq(status), referrals::updated_at.eq(now)))
        .execute(conn)
}

/// Records the LA's decision; only an undecided referral changes (the caller checked, this
/// guards against a concurrent decision).
pub fn decide(
    conn: &mut DbConnection,
    id: i64,
    status: &str,
    decision: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        referrals::table
            .filter(referrals::id.eq(id))
            .filter(referrals::status.eq_any(UNDECIDED)),
    )
    .set((
        referrals::status.eq(status),
        referrals::decision.eq(Some(decision)),
        referrals::decided_at.eq(Some(now)),
        referrals::updated_at.eq(now),
    ))
    .execute(conn)
}

pub fn withdraw(
    conn: &mut DbConnection,
    id: i64,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        referrals::table
            .filter(referrals::id.eq(id))
            .filter(referrals::status.eq_any(UNDECIDED)),
    )
    .set((
        referrals::status.eq("withdrawn"),
        referrals::withdrawn_at.eq(Some(now)),
        referrals::withdrawal_reason.eq(reason),
        referrals::updated_at.eq(now),
    ))
    .execute(conn)
}

/// Which referrals a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ReferralFilter {
    pub statuses: Option<Vec<String>>,
    /// `None`: every school (the LA).
    pub schools: Option<Vec<i32>>,
    pub upn: Option<String>,
    /// Only those still undecided after this date (`assessment_due_by < date`).
    pub due_before: Option<NaiveDate>,
    pub after_id: Option<i64>,
}

/// A page in the order received.
pub fn page(
    conn: &mut DbConnection,
    filter: &ReferralFilter,
    limit: i64,
) -> QueryResult<Vec<ReferralRow>> {
    let mut query = referrals::table
        .select(referrals::all_columns)
        .order(referrals::id)
        .into_boxed();
    if let Some(statuses) = &filter.statuses {
        query = query.filter(referrals::status.eq_any(statuses.clone()));
    }
    if let Some(schools) = &filter.schools {
        query = query.filter(referrals::school_urn.eq_any(schools.clone()));
    }
    if let Some(upn) = &filter.upn {
        query = query.filter(referrals::upn.eq(upn.clone()));
    }
    if let Some(before) = filter.due_before {
        query = query
            .filter(referrals::status.eq_any(UNDECIDED))
            .filter(referrals::assessment_due_by.lt(before));
    }
    if let Some(after) = filter.after_id {
        query = query.filter(referrals::id.gt(after));
    }
    query.limit(limit).load(conn)
}

/// Undecided referrals whose assessment deadline has passed by `today` (R10.3).
pub fn overdue(conn: &mut DbConnection, today: NaiveDate) -> QueryResult<Vec<ReferralRow>> {
    referrals::table
        .filter(referrals::status.eq_any(UNDECIDED))
        .filter(referrals::assessment_due_by.lt(today))
        .select(referrals::all_columns)
        .order(referrals::id)
        .load(conn)
}

/// The referrals with these ids (for an alert page's facts).
pub fn of_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<HashMap<i64, ReferralRow>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ReferralRow> = referrals::table
        .filter(referrals::id.eq_any(ids))
        .select(referrals::all_columns)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

pub fn insert_assessment(conn: &mut DbConnection, new: &NewAssessment) -> QueryResult<i64> {
    diesel::insert_into(referral_assessments::table)
        .values(new)
        .returning(referral_assessments::id)
        .get_result(conn)
}

/// Every assessment of a referral, oldest first.
pub fn assessments_of(
    conn: &mut DbConnection,
    referral_id: i64,
) -> QueryResult<Vec<AssessmentRow>> {
    referral_assessments::table
        .filter(referral_assessments::referral_id.eq(referral_id))
        .order(referral_assessments::id)
        .load(conn)
}

/// The latest assessment of each of these referrals.
pub fn latest_assessments(
    conn: &mut DbConnection,
    referral_ids: &[i64],
) -> QueryResult<HashMap<i64, AssessmentRow>> {
    if referral_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<AssessmentRow> = referral_assessments::table
        .filter(referral_assessments::referral_id.eq_any(referral_ids))
        .order(referral_assessments::id)
        .load(conn)?;
    // Ordered by id, so the last one per referral wins.
    Ok(rows.into_iter().map(|r| (r.referral_id, r)).collect())
}
