//! Referrals and their assessment history (`referrals`, `referral_assessments`). The rules are
//! in `domain/referral.rs` and `domain/eligibility.rs`; this is storage only, reading the rows
//! into the domain's [`Referral`] and [`StoredAssessment`].

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromStaticSqlRow, Queryable};
use diesel::prelude::*;

use super::columns::{json, json_opt, to_json, word};
use super::schema::{referral_assessments, referrals};
use super::{DbConnection, StoreResult};
use crate::domain::decision::Decision;
use crate::domain::eligibility::EligibilityAssessment;
use crate::domain::referral::{
    Referral, ReferralForm, ReferralId, ReferralStatus, StoredAssessment,
};

/// The columns of `referrals`, in the schema's order.
type ReferralColumns = (
    i64,
    i32,
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDate,
    String,
    NaiveDateTime,
    Option<String>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<String>,
);

impl<ST, DB> Queryable<ST, DB> for Referral
where
    DB: Backend,
    ReferralColumns: FromStaticSqlRow<ST, DB>,
{
    type Row = ReferralColumns;

    fn build(
        (
            id,
            school_urn,
            upn,
            status,
            form,
            received_at,
            assessment_due_by,
            created_by,
            updated_at,
            decision,
            decided_at,
            withdrawn_at,
            withdrawal_reason,
        ): ReferralColumns,
    ) -> deserialize::Result<Referral> {
        Ok(Referral {
            id: ReferralId::from(id),
            school_urn,
            upn,
            status: word(&status)?,
            form: json("referral", id, &form)?,
            received_at,
            assessment_due_by,
            created_by,
            updated_at,
            decision: json_opt("decision of referral", id, decision.as_deref())?,
            decided_at,
            withdrawn_at,
            withdrawal_reason,
        })
    }
}

/// The columns an assessment is read from: id, evaluated_at, trigger, body.
type AssessmentColumns = (i64, NaiveDateTime, String, String);

impl<ST, DB> Queryable<ST, DB> for StoredAssessment
where
    DB: Backend,
    AssessmentColumns: FromStaticSqlRow<ST, DB>,
{
    type Row = AssessmentColumns;

    fn build(
        (id, evaluated_at, trigger, body): AssessmentColumns,
    ) -> deserialize::Result<StoredAssessment> {
        Ok(StoredAssessment {
            id,
            evaluated_at,
            trigger: word(&trigger)?,
            assessment: json("assessment", id, &body)?,
        })
    }
}

/// The columns [`StoredAssessment`] is read from.
macro_rules! assessment_columns {
    () => {
        (
            referral_assessments::id,
            referral_assessments::evaluated_at,
            referral_assessments::trigger,
            referral_assessments::body,
        )
    };
}

/// The undecided states (RULES.md R10.1), as stored.
const UNDECIDED: [&str; 2] = [
    ReferralStatus::Submitted.as_str(),
    ReferralStatus::Incomplete.as_str(),
];

/// A referral as received: `submitted` until its first assessment says otherwise (R10.1).
#[derive(Debug, Clone)]
pub struct NewReferral<'a> {
    pub school_urn: i32,
    pub upn: String,
    pub form: &'a ReferralForm,
    /// As its first assessment left it.
    pub status: ReferralStatus,
    pub received_at: NaiveDateTime,
    pub assessment_due_by: NaiveDate,
    pub created_by: String,
}

pub fn insert(conn: &mut DbConnection, new: &NewReferral<'_>) -> StoreResult<ReferralId> {
    Ok(diesel::insert_into(referrals::table)
        .values((
            referrals::school_urn.eq(new.school_urn),
            referrals::upn.eq(&new.upn),
            referrals::status.eq(new.status.as_str()),
            referrals::form.eq(to_json(new.form)?),
            referrals::received_at.eq(new.received_at),
            referrals::assessment_due_by.eq(new.assessment_due_by),
            referrals::created_by.eq(&new.created_by),
            referrals::updated_at.eq(new.received_at),
        ))
        .returning(referrals::id)
        .get_result::<i64>(conn)
        .map(ReferralId::from)?)
}

pub fn find(conn: &mut DbConnection, id: ReferralId) -> StoreResult<Option<Referral>> {
    Ok(referrals::table
        .filter(referrals::id.eq(id.get()))
        .select(referrals::all_columns)
        .first(conn)
        .optional()?)
}

/// The pupil's undecided referral, if any (R10.4): its id and the referring school's URN.
pub fn open_of_pupil(conn: &mut DbConnection, upn: &str) -> StoreResult<Option<(ReferralId, i32)>> {
    let found: Option<(i64, i32)> = referrals::table
        .filter(referrals::upn.eq(upn))
        .filter(referrals::status.eq_any(UNDECIDED))
        .select((referrals::id, referrals::school_urn))
        .first(conn)
        .optional()?;
    Ok(found.map(|(id, urn)| (ReferralId::from(id), urn)))
}

/// Saves a patched form and the status its new assessment gives.
pub fn update_form(
    conn: &mut DbConnection,
    id: ReferralId,
    form: &ReferralForm,
    status: ReferralStatus,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    Ok(
        diesel::update(referrals::table.filter(referrals::id.eq(id.get())))
            .set((
                referrals::form.eq(to_json(form)?),
                referrals::status.eq(status.as_str()),
                referrals::updated_at.eq(now),
            ))
            .execute(conn)?,
    )
}

pub fn set_status(
    conn: &mut DbConnection,
    id: ReferralId,
    status: ReferralStatus,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    Ok(
        diesel::update(referrals::table.filter(referrals::id.eq(id.get())))
            .set((
                referrals::status.eq(status.as_str()),
                referrals::updated_at.eq(now),
            ))
            .execute(conn)?,
    )
}

/// Records the LA's decision; only an undecided referral changes (the caller checked, this
/// guards against a concurrent decision).
pub fn decide(
    conn: &mut DbConnection,
    id: ReferralId,
    status: ReferralStatus,
    decision: &Decision,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    Ok(diesel::update(
        referrals::table
            .filter(referrals::id.eq(id.get()))
            .filter(referrals::status.eq_any(UNDECIDED)),
    )
    .set((
        referrals::status.eq(status.as_str()),
        referrals::decision.eq(Some(to_json(decision)?)),
        referrals::decided_at.eq(Some(now)),
        referrals::updated_at.eq(now),
    ))
    .execute(conn)?)
}

pub fn withdraw(
    conn: &mut DbConnection,
    id: ReferralId,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> StoreResult<usize> {
    Ok(diesel::update(
        referrals::table
            .filter(referrals::id.eq(id.get()))
            .filter(referrals::status.eq_any(UNDECIDED)),
    )
    .set((
        referrals::status.eq(ReferralStatus::Withdrawn.as_str()),
        referrals::withdrawn_at.eq(Some(now)),
        referrals::withdrawal_reason.eq(reason),
        referrals::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Which referrals a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ReferralFilter {
    pub statuses: Option<Vec<ReferralStatus>>,
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
) -> StoreResult<Vec<Referral>> {
    let mut query = referrals::table
        .select(referrals::all_columns)
        .order(referrals::id)
        .into_boxed();
    if let Some(statuses) = &filter.statuses {
        let words: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        query = query.filter(referrals::status.eq_any(words));
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
    Ok(query.limit(limit).load(conn)?)
}

/// Undecided referrals whose assessment deadline has passed by `today` (R10.3).
pub fn overdue(conn: &mut DbConnection, today: NaiveDate) -> StoreResult<Vec<Referral>> {
    Ok(referrals::table
        .filter(referrals::status.eq_any(UNDECIDED))
        .filter(referrals::assessment_due_by.lt(today))
        .select(referrals::all_columns)
        .order(referrals::id)
        .load(conn)?)
}

/// The referrals with these ids (for an alert page's facts).
pub fn of_ids(
    conn: &mut DbConnection,
    ids: &[ReferralId],
) -> StoreResult<HashMap<ReferralId, Referral>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let raw: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    let rows: Vec<Referral> = referrals::table
        .filter(referrals::id.eq_any(raw))
        .select(referrals::all_columns)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// One assessment to keep, under the policy named.
#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub referral_id: ReferralId,
    pub evaluated_at: NaiveDateTime,
    pub trigger: &'static str,
    pub requested_by: String,
    pub policy_name: String,
    pub policy_version: String,
    pub assessment: EligibilityAssessment,
}

pub fn insert_assessment(conn: &mut DbConnection, new: &NewAssessment) -> StoreResult<i64> {
    Ok(diesel::insert_into(referral_assessments::table)
        .values((
            referral_assessments::referral_id.eq(new.referral_id.get()),
            referral_assessments::evaluated_at.eq(new.evaluated_at),
            referral_assessments::trigger.eq(new.trigger),
            referral_assessments::requested_by.eq(&new.requested_by),
            referral_assessments::outcome.eq(new.assessment.outcome.as_str()),
            referral_assessments::policy_name.eq(&new.policy_name),
            referral_assessments::policy_version.eq(&new.policy_version),
            referral_assessments::body.eq(to_json(&new.assessment)?),
        ))
        .returning(referral_assessments::id)
        .get_result(conn)?)
}

/// Every assessment of a referral, oldest first.
pub fn assessments_of(
    conn: &mut DbConnection,
    referral_id: ReferralId,
) -> StoreResult<Vec<StoredAssessment>> {
    Ok(referral_assessments::table
        .filter(referral_assessments::referral_id.eq(referral_id.get()))
        .order(referral_assessments::id)
        .select(assessment_columns!())
        .load(conn)?)
}

/// The latest assessment of each of these referrals.
pub fn latest_assessments(
    conn: &mut DbConnection,
    referral_ids: &[ReferralId],
) -> StoreResult<HashMap<ReferralId, StoredAssessment>> {
    if referral_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let raw: Vec<i64> = referral_ids.iter().map(|id| id.get()).collect();
    let rows: Vec<(i64, StoredAssessment)> = referral_assessments::table
        .filter(referral_assessments::referral_id.eq_any(raw))
        .order(referral_assessments::id)
        .select((referral_assessments::referral_id, assessment_columns!()))
        .load(conn)?;
    // Ordered by id, so the last one per referral wins.
    Ok(rows
        .into_iter()
        .map(|(referral, a)| (ReferralId::from(referral), a))
        .collect())
}
