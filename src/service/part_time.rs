//! Part-time timetable agreements (RULES.md R15.1, R15.2; API.md "Part-time timetables"): the
//! school records them for its pupils and the LA reads and writes all of them. Every read and
//! write is audited; writes go on the change feed and out as webhooks.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use validator::Validate;

use super::alerts;
use super::webhooks::{self, Outgoing};
use super::{page_of, Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::audit::AuditOutcome;
use crate::domain::calendar::SchoolCalendar;
use crate::domain::case::CaseId;
use crate::domain::changes::{Change, ChangeAction};
use crate::domain::events::EventType;
use crate::domain::part_time::{
    check_review, check_terms, AgreementContext, AgreementStatus, AgreementTerms, Attendee,
    PartTimeReason, PartTimeTimetable, PartTimeTimetableId, WeeklyPattern,
};
use crate::domain::policy::Policy;
use crate::error::ApiError;
use crate::store::part_time::{self as store, TimetableFilter};
use crate::store::{audit, calendars, cases, changes, pupils, DbConnection};

/// `POST /api/v1/schools/{urn}/part-time-timetables`: an agreement as the school made it (R15.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartTimeTimetable {
    #[validate(length(max = 13, message = "a UPN has 13 characters"))]
    #[schema(example = "D919100100040", max_length = 13)]
    pub upn: String,
    /// A school day.
    #[schema(example = "2026-11-30")]
    pub start_date: NaiveDate,
    /// The proposed end date, a school day after the start: required ("clear when it will end").
    #[schema(example = "2027-02-12")]
    pub end_date: Option<NaiveDate>,
    /// The sessions the pupil attends school each week; the rest are `C2`. At least one session
    /// of the week is off, else it is not part time.
    pub pattern: WeeklyPattern,
    /// `behaviour` is refused: "A part-time timetable should not be used to manage a student's
    /// behaviour".
    pub reason: PartTimeReason,
    /// When the parent the pupil normally lives with agreed: required, on or before the start,
    /// not in the future.
    #[schema(example = "2026-11-27")]
    pub parent_agreed_on: Option<NaiveDate>,
    /// What it is for ("a clear ambition"): required.
    #[serde(default)]
    #[validate(length(max = 2000, message = "should be at most 2000 characters"))]
    #[schema(max_length = 2000, example = "Full time by February half term")]
    pub ambition: String,
    /// The ESMA case it belongs to, or else `plan_reference`.
    #[schema(example = 2)]
    pub case_id: Option<i64>,
    /// The support, health care or reintegration plan it belongs to, when not an ESMA case.
    #[validate(length(max = 200, message = "should be at most 200 characters"))]
    #[schema(max_length = 200, example = "IHCP reviewed 27 November 2026")]
    pub plan_reference: Option<String>,
    /// At least one; the first within 30 school days of the start, each next within 30 of the
    /// one before, the last on or before the end date (policy `part_time.review_school_days`).
    #[serde(default)]
    #[validate(length(max = 40, message = "give at most 40 review dates"))]
    #[schema(max_items = 40, example = json!(["2026-12-14", "2027-01-29"]))]
    pub review_dates: Vec<NaiveDate>,
    /// Required for a pupil with an EHCP: when the school discussed it with the LA.
    pub la_informed_on: Option<NaiveDate>,
    #[serde(default)]
    pub has_social_worker: bool,
    /// Must be true when `has_social_worker`.
    #[serde(default)]
    pub social_worker_informed: bool,
}

/// `PATCH /api/v1/part-time-timetables/{id}`: extend (or bring forward) the end date, add
/// review dates, record that the LA or the social worker was told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartTimeTimetableChange {
    /// A new end date (kept in `end_dates`, R15.2).
    #[schema(example = "2027-03-26")]
    pub end_date: Option<NaiveDate>,
    /// Review dates to add (the whole list must still keep R15.1's cadence).
    #[serde(default)]
    #[validate(length(max = 40, message = "give at most 40 review dates"))]
    #[schema(max_items = 40, example = json!(["2027-03-12"]))]
    pub add_review_dates: Vec<NaiveDate>,
    pub la_informed_on: Option<NaiveDate>,
    pub has_social_worker: Option<bool>,
    pub social_worker_informed: Option<bool>,
}

/// `POST /api/v1/part-time-timetables/{id}/reviews`: a review held (R15.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartTimeReview {
    #[schema(example = "2026-12-14")]
    pub held_on: NaiveDate,
    /// The pupil and a parent must be among them.
    #[validate(length(min = 1, max = 20, message = "give 1 to 20 attendees"))]
    #[schema(min_items = 1, max_items = 20)]
    pub attendees: Vec<Attendee>,
    #[validate(length(max = 10000, message = "should be at most 10000 characters"))]
    #[schema(
        max_length = 10000,
        example = "Mornings going well; add Wednesday afternoons"
    )]
    pub notes: Option<String>,
    /// Extend the agreement at this review (kept in `end_dates`).
    #[schema(example = "2027-03-26")]
    pub new_end_date: Option<NaiveDate>,
    /// Review dates to add for the extended period.
    #[serde(default)]
    #[validate(length(max = 40, message = "give at most 40 review dates"))]
    #[schema(max_items = 40)]
    pub add_review_dates: Vec<NaiveDate>,
}

/// An agreement as read, with what follows from it on the day it is read.
#[derive(Debug, Clone)]
pub struct PartTimeRecord {
    pub timetable: PartTimeTimetable,
    pub status: AgreementStatus,
    pub span_school_days: u32,
    pub prolonged: bool,
    pub next_review_date: Option<NaiveDate>,
    pub reviews_overdue: Vec<NaiveDate>,
}

fn record(
    timetable: PartTimeTimetable,
    calendar: &SchoolCalendar,
    policy: &Policy,
    today: NaiveDate,
) -> PartTimeRecord {
    PartTimeRecord {
        status: AgreementStatus::on(&timetable.terms, today),
        span_school_days: timetable.span_school_days(calendar),
        prolonged: timetable.is_prolonged(calendar, &policy.part_time),
        next_review_date: timetable.next_review_date(),
        reviews_overdue: timetable.reviews_overdue(today),
        timetable,
    }
}

fn subject(t: &PartTimeTimetable) -> AuditSubject {
    AuditSubject::new("part_time_timetable", t.id.to_string())
        .school(t.school_urn)
        .pupil(t.upn.clone())
}

fn not_found(id: PartTimeTimetableId) -> ApiError {
    ApiError::not_found(format!("no part-time timetable {id}"))
}

/// A webhook to the school's and the LA's subscribers.
fn announce(event_type: EventType, t: &PartTimeTimetable, extra: serde_json::Value) -> Outgoing {
    let mut data = json!({
        "part_time_timetable_id": t.id, "school_urn": t.school_urn, "upn": t.upn,
        "start_date": t.terms.start_date, "end_date": t.terms.end_date,
        "href": format!("/api/v1/part-time-timetables/{}", t.id),
    });
    if let (Some(map), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
        map.extend(more);
    }
    Outgoing::new(event_type, t.school_urn, data)
}

/// R15.1 against what is stored: the pupil at the school, the linked case, the pupil's other
/// agreements (not `except` itself).
#[allow(clippy::too_many_arguments)]
fn check(
    conn: &mut DbConnection,
    urn: i32,
    upn: &str,
    terms: &AgreementTerms,
    except: Option<PartTimeTimetableId>,
    calendar: &SchoolCalendar,
    policy: &Policy,
    today: NaiveDate,
) -> Result<Vec<(String, String)>, ApiError> {
    let enrolment = pupils::enrolments_of(conn, upn)?
        .into_iter()
        .find(|e| e.school_urn == urn);
    let on_roll: Vec<(NaiveDate, Option<NaiveDate>)> = enrolment
        .iter()
        .map(|e| (e.on_roll_from, e.on_roll_until))
        .collect();
    let case_found = match terms.case_id {
        Some(id) => {
            Some(cases::find(conn, id)?.is_some_and(|c| c.upn == upn && c.school_urn == urn))
        }
        None => None,
    };
    let others: Vec<PartTimeTimetable> = store::of_pupil(conn, urn, upn)?
        .into_iter()
        .filter(|o| Some(o.id) != except)
        .collect();
    Ok(check_terms(
        terms,
        &AgreementContext {
            calendar,
            policy: &policy.part_time,
            today,
            on_roll: &on_roll,
            date_of_birth: enrolment.as_ref().map(|e| e.date_of_birth),
            ehcp: enrolment.as_ref().is_some_and(|e| e.ehcp),
            case_found,
            others: &others,
        },
    ))
}

/// `POST /api/v1/schools/{urn}/part-time-timetables`.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    urn: i32,
    new: NewPartTimeTimetable,
) -> Result<PartTimeRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    actor.may_write_school(urn)?;
    let mut missing = Vec::new();
    if new.end_date.is_none() {
        missing.push((
            "/end_date".to_string(),
            "a part-time timetable should \"have a proposed end date\": give end_date".to_string(),
        ));
    }
    if new.parent_agreed_on.is_none() {
        missing.push((
            "/parent_agreed_on".to_string(),
            "a part-time timetable should \"have the agreement of both the school and the parent the student normally lives with\": give the date the parent agreed".to_string(),
        ));
    }
    if !missing.is_empty() {
        return Err(ApiError::from_problems(missing));
    }
    let terms = AgreementTerms {
        start_date: new.start_date,
        end_date: new.end_date.unwrap_or(new.start_date),
        pattern: new.pattern,
        reason: new.reason,
        parent_agreed_on: new.parent_agreed_on.unwrap_or(new.start_date),
        ambition: new.ambition.trim().to_string(),
        case_id: new.case_id.map(CaseId::from),
        plan_reference: new
            .plan_reference
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        review_dates: new.review_dates,
        la_informed_on: new.la_informed_on,
        has_social_worker: new.has_social_worker,
        social_worker_informed: new.social_worker_informed,
    };
    let upn = new.upn.trim().to_string();
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.policy.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            let problems = check(conn, urn, &upn, &terms, None, &calendar, &policy, today)?;
            if !problems.is_empty() {
                return Err(ApiError::from_problems(problems));
            }
            let id = store::insert(conn, urn, &upn, &terms, now, &actor.client_id)?;
            let stored = store::find(conn, id)?.ok_or_else(|| not_found(id))?;
            audit::append(conn, &[actor.audit(now, "create", subject(&stored))])?;
            // R15.3: the C2 sessions it covers are no longer without agreement.
            let alerts =
                alerts::reconcile_agreement(conn, &policy, &calendar, today, &stored, None)?;
            let mut changed = vec![Change::part_time_timetable(id, urn, ChangeAction::Created)];
            changed.extend(alerts);
            changes::record_at(conn, now, &changed)?;
            webhooks::emit(
                conn,
                now,
                &[announce(
                    EventType::PartTimeTimetableAgreed,
                    &stored,
                    json!({}),
                )],
            )?;
            Ok(record(stored, &calendar, &policy, today))
        })
        .await
}

/// Runs `work` on an agreement the actor may see (404 otherwise, audited as such) and audits it.
async fn with_timetable<T, F>(
    state: &AppState,
    actor: &Actor,
    id: PartTimeTimetableId,
    action: &'static str,
    work: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(
            &mut DbConnection,
            &Actor,
            PartTimeTimetable,
            &SchoolCalendar,
            &Policy,
            NaiveDate,
            NaiveDateTime,
        ) -> Result<T, ApiError>
        + Send
        + 'static,
{
    actor.require(&[Role::La, Role::School])?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.policy.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let found = store::find(conn, id)?.filter(|t| actor.sees_school(t.school_urn));
            let Some(found) = found else {
                let mut event = actor.audit(
                    now,
                    action,
                    AuditSubject::new("part_time_timetable", id.to_string()),
                );
                event.outcome = AuditOutcome::NotFound.as_str().to_string();
                audit::append(conn, &[event])?;
                return Ok(Err(not_found(id)));
            };
            let event = actor.audit(now, action, subject(&found));
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            let result = work(conn, &actor, found, &calendar, &policy, today, now)?;
            audit::append(conn, &[event])?;
            Ok(Ok(result))
        })
        .await?
}

/// `GET /api/v1/part-time-timetables/{id}`.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    id: PartTimeTimetableId,
) -> Result<PartTimeRecord, ApiError> {
    with_timetable(
        state,
        actor,
        id,
        "read",
        |_, _, found, calendar, policy, today, _| Ok(record(found, calendar, policy, today)),
    )
    .await
}

/// Stores changed terms: a new end date goes into the history (R15.2), and R15.1 is checked
/// again on the whole agreement.
#[allow(clippy::too_many_arguments)]
fn store_change(
    conn: &mut DbConnection,
    actor: &Actor,
    found: &PartTimeTimetable,
    terms: AgreementTerms,
    review: Option<crate::domain::part_time::PartTimeReviewId>,
    calendar: &SchoolCalendar,
    policy: &Policy,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    let problems = check(
        conn,
        found.school_urn,
        &found.upn,
        &terms,
        Some(found.id),
        calendar,
        policy,
        today,
    )?;
    if !problems.is_empty() {
        return Err(ApiError::from_problems(problems));
    }
    if terms == found.terms {
        return Ok(false);
    }
    store::update_terms(conn, found.id, &terms, now)?;
    if terms.end_date != found.terms.end_date {
        store::record_end_date(
            conn,
            found.id,
            terms.end_date,
            now,
            &actor.client_id,
            review,
        )?;
    }
    Ok(true)
}

/// `PATCH /api/v1/part-time-timetables/{id}`.
pub async fn change(
    state: &AppState,
    actor: &Actor,
    id: PartTimeTimetableId,
    patch: PartTimeTimetableChange,
) -> Result<PartTimeRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_timetable(
        state,
        actor,
        id,
        "update",
        move |conn, actor, found, calendar, policy, today, now| {
            let mut terms = found.terms.extended(patch.end_date, patch.add_review_dates);
            if let Some(on) = patch.la_informed_on {
                terms.la_informed_on = Some(on);
            }
            if let Some(has) = patch.has_social_worker {
                terms.has_social_worker = has;
            }
            if let Some(told) = patch.social_worker_informed {
                terms.social_worker_informed = told;
            }
            let extended = terms.end_date != found.terms.end_date;
            let changed = store_change(
                conn, actor, &found, terms, None, calendar, policy, today, now,
            )?;
            let stored = store::find(conn, id)?.ok_or_else(|| not_found(id))?;
            if changed {
                // R15.2, R15.3: an extension may cover an overrun, or prolong the agreement.
                let before = Some((found.terms.start_date, found.terms.end_date));
                let alerts =
                    alerts::reconcile_agreement(conn, policy, calendar, today, &stored, before)?;
                let mut changed = vec![Change::part_time_timetable(
                    id,
                    stored.school_urn,
                    ChangeAction::Updated,
                )];
                changed.extend(alerts);
                changes::record_at(conn, now, &changed)?;
                if extended {
                    webhooks::emit(
                        conn,
                        now,
                        &[announce(
                            EventType::PartTimeTimetableExtended,
                            &stored,
                            json!({"previous_end_date": found.terms.end_date}),
                        )],
                    )?;
                }
            }
            Ok(record(stored, calendar, policy, today))
        },
    )
    .await
}

/// `POST /api/v1/part-time-timetables/{id}/reviews`.
pub async fn review(
    state: &AppState,
    actor: &Actor,
    id: PartTimeTimetableId,
    new: NewPartTimeReview,
) -> Result<PartTimeRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_timetable(
        state,
        actor,
        id,
        "update",
        move |conn, actor, found, calendar, policy, today, now| {
            let problems = check_review(&new.attendees, new.held_on, &found, today);
            if !problems.is_empty() {
                return Err(ApiError::from_problems(problems));
            }
            let notes = new
                .notes
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty());
            let review_id = store::insert_review(
                conn,
                id,
                new.held_on,
                &new.attendees,
                notes,
                new.new_end_date,
                now,
                &actor.client_id,
            )?;
            let terms = found.terms.extended(new.new_end_date, new.add_review_dates);
            let extended = terms.end_date != found.terms.end_date;
            // Problems of the extension are the review's: nothing is kept (one transaction).
            store_change(
                conn,
                actor,
                &found,
                terms,
                Some(review_id),
                calendar,
                policy,
                today,
                now,
            )?;
            let stored = store::find(conn, id)?.ok_or_else(|| not_found(id))?;
            // R15.2, R15.3: the review meets a review date; an extension may cover an overrun
            // or prolong the agreement.
            let before = Some((found.terms.start_date, found.terms.end_date));
            let alerts =
                alerts::reconcile_agreement(conn, policy, calendar, today, &stored, before)?;
            let mut changed = vec![Change::part_time_timetable(
                id,
                stored.school_urn,
                ChangeAction::Held,
            )];
            changed.extend(alerts);
            changes::record_at(conn, now, &changed)?;
            webhooks::emit(
                conn,
                now,
                &[announce(
                    EventType::PartTimeTimetableReviewed,
                    &stored,
                    json!({"review_id": review_id, "held_on": new.held_on,
                           "extended": extended, "previous_end_date": found.terms.end_date}),
                )],
            )?;
            Ok(record(stored, calendar, policy, today))
        },
    )
    .await
}

#[derive(Debug, Clone, Default)]
pub struct TimetableQuery {
    pub upn: Option<String>,
    pub status: Option<AgreementStatus>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

pub struct TimetablePage {
    pub timetables: Vec<PartTimeRecord>,
    pub next_after_id: Option<i64>,
}

/// `GET /api/v1/schools/{urn}/part-time-timetables`.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    urn: i32,
    query: TimetableQuery,
) -> Result<TimetablePage, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    actor.may_read_school(urn)?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.policy.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let filter = TimetableFilter {
                school_urn: urn,
                upn: query.upn.clone(),
                in_force_on: query.status.map(|s| (s, today)),
                after_id: query.after_id,
            };
            let rows = store::page(conn, &filter, query.limit + 1)?;
            let (rows, next_after_id) = page_of(rows, query.limit, |t| t.id.get());
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            let subject = AuditSubject::list("part_time_timetables", "list", Some(urn), query.upn);
            audit::append(conn, &[actor.audit(now, "read", subject)])?;
            Ok(TimetablePage {
                timetables: rows
                    .into_iter()
                    .map(|t| record(t, &calendar, &policy, today))
                    .collect(),
                next_after_id,
            })
        })
        .await
}
