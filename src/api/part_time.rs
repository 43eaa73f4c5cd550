//! Part-time timetable agreements (API.md "Part-time timetables"; RULES.md R15.1, R15.2).

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{decode_cursor, encode_cursor, page_limit, QueryWord, ValidJson};
use super::problem::{
    BadRequest, ListFailures, NotFound, ReadFailures, Unauthorized, UnsupportedMediaType,
    PROBLEM_JSON,
};
use super::Page;
use crate::domain::part_time::{
    AgreementStatus, Attendee, EndDateChange, PartTimeReason, PartTimeReview, PartTimeTimetableId,
    WeeklyPattern,
};
use crate::error::{ApiError, Problem};
use crate::service::part_time::{
    self, NewPartTimeReview, NewPartTimeTimetable, PartTimeRecord, PartTimeTimetableChange,
    TimetableQuery,
};
use crate::service::{Actor, AppState};

/// One end date the agreement has had (RULES.md R15.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndDateView {
    pub end_date: NaiveDate,
    pub set_at: DateTime<Utc>,
    /// The client that set it.
    pub set_by: String,
    /// The review that set it, if a review did.
    pub review_id: Option<i64>,
}

impl From<EndDateChange> for EndDateView {
    fn from(e: EndDateChange) -> Self {
        EndDateView {
            end_date: e.end_date,
            set_at: e.set_at.and_utc(),
            set_by: e.set_by,
            review_id: e.review_id.map(|r| r.get()),
        }
    }
}

/// A review of the agreement (RULES.md R15.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct PartTimeReviewView {
    #[schema(example = 1)]
    pub id: i64,
    pub held_on: NaiveDate,
    pub attendees: Vec<Attendee>,
    pub notes: Option<String>,
    /// The end date this review set, if it did.
    pub new_end_date: Option<NaiveDate>,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

impl From<PartTimeReview> for PartTimeReviewView {
    fn from(r: PartTimeReview) -> Self {
        PartTimeReviewView {
            id: r.id.get(),
            held_on: r.held_on,
            attendees: r.attendees,
            notes: r.notes,
            new_end_date: r.new_end_date,
            recorded_at: r.recorded_at.and_utc(),
            recorded_by: r.recorded_by,
        }
    }
}

/// A part-time timetable agreement and where it stands today (RULES.md R15).
#[derive(Debug, Serialize, ToSchema)]
pub struct PartTimeTimetableView {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = 117002)]
    pub school_urn: i32,
    #[schema(example = "D919100100040")]
    pub upn: String,
    pub status: AgreementStatus,
    pub start_date: NaiveDate,
    /// The end date in force (after any extension).
    pub end_date: NaiveDate,
    pub pattern: WeeklyPattern,
    /// Sessions a week in school under `pattern` (of 10).
    #[schema(example = 4)]
    pub sessions_in_school_per_week: usize,
    pub reason: PartTimeReason,
    pub parent_agreed_on: NaiveDate,
    pub ambition: String,
    pub case_id: Option<i64>,
    pub plan_reference: Option<String>,
    pub review_dates: Vec<NaiveDate>,
    /// The first review date no review has met yet.
    pub next_review_date: Option<NaiveDate>,
    /// Review dates passed with no review held for them (R15.3 `part_time_review_overdue`).
    pub reviews_overdue: Vec<NaiveDate>,
    pub la_informed_on: Option<NaiveDate>,
    pub has_social_worker: bool,
    pub social_worker_informed: bool,
    /// School days from the start to the end in force, both counted.
    #[schema(example = 45)]
    pub span_school_days: u32,
    /// Longer than policy `part_time.prolonged_school_days` (60): flagged for the LA (R15.2).
    pub prolonged: bool,
    /// Every end date it has had, the first when it was agreed (R15.2).
    pub end_dates: Vec<EndDateView>,
    pub reviews: Vec<PartTimeReviewView>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

fn view(r: PartTimeRecord) -> PartTimeTimetableView {
    let t = r.timetable;
    PartTimeTimetableView {
        id: t.id.get(),
        school_urn: t.school_urn,
        upn: t.upn,
        status: r.status,
        start_date: t.terms.start_date,
        end_date: t.terms.end_date,
        sessions_in_school_per_week: t.terms.pattern.sessions_in_school(),
        pattern: t.terms.pattern,
        reason: t.terms.reason,
        parent_agreed_on: t.terms.parent_agreed_on,
        ambition: t.terms.ambition,
        case_id: t.terms.case_id.map(|c| c.get()),
        plan_reference: t.terms.plan_reference,
        review_dates: t.terms.review_dates,
        next_review_date: r.next_review_date,
        reviews_overdue: r.reviews_overdue,
        la_informed_on: t.terms.la_informed_on,
        has_social_worker: t.terms.has_social_worker,
        social_worker_informed: t.terms.social_worker_informed,
        span_school_days: r.span_school_days,
        prolonged: r.prolonged,
        end_dates: t.end_dates.into_iter().map(EndDateView::from).collect(),
        reviews: t
            .reviews
            .into_iter()
            .map(PartTimeReviewView::from)
            .collect(),
        created_at: t.created_at.and_utc(),
        created_by: t.created_by,
    }
}

const URN: &str = "The school's URN";
const ID: &str = "Part-time timetable id";

/// Record a part-time timetable agreement.
///
/// Who: `school` for its own schools (another school's is 403), `la`. What it checks: everything
/// RULES.md R15.1 asks, each failure a 422 naming the condition in the words of the guidance
/// (seed 003 Appendix 4): the pupil on the roll and of compulsory school age for the whole
/// period, school days, an end date, at least one session off a week, not for behaviour, the
/// parent's agreement, an ambition, the plan it belongs to, review dates every 30 school days
/// at most, the LA told for a pupil with an EHCP, the social worker informed; no overlap with the
/// pupil's other agreements at the school. What it changes: stores the agreement and its first
/// end date; audited; the change feed shows it `created`; webhook
/// `part_time_timetable.agreed`.
#[utoipa::path(
    tag = "part_time",
    params(("urn" = i32, Path, description = URN)),
    request_body = NewPartTimeTimetable,
    responses(
        (status = 201, description = "The agreement as stored", body = PartTimeTimetableView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Another school's pupil, or a role that may not write", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A condition of R15.1 is not met (each with its pointer)", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/schools/{urn}/part-time-timetables")]
pub async fn create_part_time_timetable(
    state: web::Data<AppState>,
    actor: Actor,
    urn: web::Path<i32>,
    body: ValidJson<NewPartTimeTimetable>,
) -> Result<HttpResponse, ApiError> {
    let record = part_time::create(&state, &actor, *urn, body.0).await?;
    let view = view(record);
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/api/v1/part-time-timetables/{}", view.id),
        ))
        .json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimetablesQuery {
    /// One pupil's agreements.
    #[param(example = "D919100100040")]
    pub upn: Option<String>,
    /// `upcoming`, `active` (in force today) or `ended`.
    #[param(value_type = Option<AgreementStatus>)]
    pub status: Option<QueryWord<AgreementStatus>>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A school's part-time timetable agreements.
///
/// Who: `school` for its own schools (another school's reads as 404), `la`. Changes nothing; the
/// read is audited (one row per page).
#[utoipa::path(
    tag = "part_time",
    params(("urn" = i32, Path, description = URN), TimetablesQuery),
    responses(
        (status = 200, description = "A page of agreements, oldest first", body = Page<PartTimeTimetableView>),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/schools/{urn}/part-time-timetables")]
pub async fn list_part_time_timetables(
    state: web::Data<AppState>,
    actor: Actor,
    urn: web::Path<i32>,
    query: web::Query<TimetablesQuery>,
) -> Result<web::Json<Page<PartTimeTimetableView>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let status = q
        .status
        .map(|s| s.known("status", "upcoming, active or ended"))
        .transpose()?;
    let query = TimetableQuery {
        upn: q
            .upn
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty()),
        status,
        after_id: decode_cursor("part_time_timetables", q.cursor.as_deref())?,
        limit,
    };
    let page = part_time::list(&state, &actor, *urn, query).await?;
    Ok(web::Json(Page {
        items: page.timetables.into_iter().map(view).collect(),
        next_cursor: page
            .next_after_id
            .map(|id| encode_cursor("part_time_timetables", id)),
    }))
}

/// One part-time timetable agreement, with its reviews and the history of its end date.
///
/// Who: `school` for its own pupils (another school's reads as 404), `la`. Changes nothing; the
/// read is audited, and so is a 404.
#[utoipa::path(
    tag = "part_time",
    params(("id" = i64, Path, description = ID)),
    responses(
        (status = 200, description = "The agreement", body = PartTimeTimetableView),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/part-time-timetables/{id}")]
pub async fn get_part_time_timetable(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<PartTimeTimetableView>, ApiError> {
    Ok(web::Json(view(
        part_time::get(&state, &actor, PartTimeTimetableId::from(*id)).await?,
    )))
}

/// Extend a part-time timetable or add review dates.
///
/// Who: `school` for its own pupils (another school's is 404), `la`. What it changes: the end
/// date (the old one stays in `end_dates`), more review dates, and whether the LA and the social
/// worker were told; the whole agreement is checked again against RULES.md R15.1 (422 with the
/// pointer). The same values again change nothing. Audited; the change feed shows it `updated`;
/// a new end date sends webhook `part_time_timetable.extended`.
#[utoipa::path(
    tag = "part_time",
    params(("id" = i64, Path, description = ID)),
    request_body = PartTimeTimetableChange,
    responses(
        (status = 200, description = "The agreement as it now stands", body = PartTimeTimetableView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "A role that may not write", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, response = NotFound),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The agreement as changed breaks a condition of R15.1", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[patch("/part-time-timetables/{id}")]
pub async fn change_part_time_timetable(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<PartTimeTimetableChange>,
) -> Result<web::Json<PartTimeTimetableView>, ApiError> {
    Ok(web::Json(view(
        part_time::change(&state, &actor, PartTimeTimetableId::from(*id), body.0).await?,
    )))
}

/// Record a review of a part-time timetable.
///
/// Who: `school` for its own pupils (another school's is 404), `la`. What it checks: the pupil
/// and a parent among the attendees ("regular review dates which include the student and their
/// parents"), a date from the start to today, and, when it extends the agreement, R15.1 again.
/// What it changes: stores the review (it meets the earliest review date not yet met) and any new
/// end date (kept in `end_dates` with the review's id). Audited; the change feed shows the
/// agreement `held`; webhook `part_time_timetable.reviewed`.
#[utoipa::path(
    tag = "part_time",
    params(("id" = i64, Path, description = ID)),
    request_body = NewPartTimeReview,
    responses(
        (status = 201, description = "The agreement with the review", body = PartTimeTimetableView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "A role that may not write", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, response = NotFound),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The review lacks the pupil or a parent, is dated outside the agreement, or its extension breaks R15.1", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/part-time-timetables/{id}/reviews")]
pub async fn review_part_time_timetable(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<NewPartTimeReview>,
) -> Result<HttpResponse, ApiError> {
    let record = part_time::review(&state, &actor, PartTimeTimetableId::from(*id), body.0).await?;
    Ok(HttpResponse::Created().json(view(record)))
}
