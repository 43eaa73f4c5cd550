//! `/api/v1/cases` and `/api/v1/reviews`: support episodes, their schedule, evidence and exit
//! (API.md "Cases"; RULES.md R11-R13).

use actix_web::middleware::from_fn;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{decode_cursor, encode_cursor, page_limit, query_upn, QueryWord, ValidJson};
use super::idempotency::{retry_safe, IdempotencyKeyHeader};
use super::plans::{progress_view, record_view, PlanView, ProgressView};
use super::problem::{
    BadRequest, LaOnly, ListFailures, NotFound, ReadFailures, Unauthorized, UnsupportedMediaType,
    PROBLEM_JSON,
};
use super::Page;
use crate::domain::alerts::AlertKind;
use crate::domain::case::{CaseId, CaseStatus, Review, ReviewId, ReviewOutcome, ReviewStatus};
use crate::domain::codes::AttendanceCode;
use crate::domain::decision::ProvisionItem;
use crate::domain::exit::{ExitRequest, ReReferral, RegisterFacts};
use crate::domain::lessons::CaseLessonMeasures;
use crate::domain::referral::EvidenceItem;
use crate::domain::schedule::{GateState, ReviewKind};
use crate::error::{ApiError, Problem};
use crate::service::cases::{self, CaseQuery, CaseRecord, ReviewChange, ReviewState};
use crate::service::{Actor, AppState};

/// One review of a case (RULES.md R11).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    pub id: i64,
    pub case_id: i64,
    pub kind: ReviewKind,
    #[schema(example = "review meeting 1")]
    pub label: String,
    pub due_on: NaiveDate,
    /// Equals `due_on` until rescheduled.
    pub scheduled_for: NaiveDate,
    pub status: ReviewStatus,
    pub held_on: Option<NaiveDate>,
    pub outcome: Option<ReviewOutcome>,
    /// Why it moved, was cancelled, or what satisfied it.
    pub note: Option<String>,
}

pub(crate) fn review_view(r: Review) -> ReviewView {
    ReviewView {
        id: r.id.get(),
        case_id: r.case_id.get(),
        kind: r.kind,
        label: r.label,
        due_on: r.due_on,
        scheduled_for: r.scheduled_for,
        status: r.status,
        held_on: r.held_on,
        outcome: r.outcome,
        note: r.note,
    }
}

/// Medical evidence received during the case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseEvidenceView {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub evidence: EvidenceItem,
}

/// An open alert about the case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseAlertView {
    pub id: i64,
    pub kind: AlertKind,
    pub since: NaiveDate,
    #[schema(example = "case 1 review 3 2026-12-14")]
    pub subject: String,
}

/// A support episode (API.md "Cases").
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub id: i64,
    pub referral_id: i64,
    #[schema(example = 117001)]
    pub school_urn: i32,
    pub upn: String,
    pub status: CaseStatus,
    pub start_date: NaiveDate,
    pub provision: Vec<ProvisionItem>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// While the case is active, the register code the school records the sessions ESMA provides
    /// with (the policy's first support code; RULES.md R12.1, R12.3); `null` once the case is
    /// closed. As data, so an MIS can set it without reading `register_code_now`.
    #[schema(value_type = Option<String>, example = "C2")]
    pub support_register_code: Option<AttendanceCode>,
    /// The register code the school should use now, in a sentence (RULES.md R12.1, R12.3, R13.1).
    pub register_code_now: String,
    /// The review schedule, by date (RULES.md R11).
    pub schedule: Vec<ReviewView>,
    /// The 12- and 24-school-week evidence gates (RULES.md R11.4).
    pub evidence_clock: Vec<GateState>,
    pub medical_evidence: Vec<CaseEvidenceView>,
    pub open_alerts: Vec<CaseAlertView>,
    pub exit: Option<ExitRequest>,
    /// A non_attendance exit: the register facts it was decided on, stored with it (RULES.md
    /// R13).
    pub exit_register_facts: Option<RegisterFacts>,
    /// After an exit: whether the pupil can be referred again (RULES.md R13).
    pub re_referral: Option<ReReferral>,
    /// ESMA lesson measures, overall and by subject, each also over the last 10 planned lessons
    /// (RULES.md R14.4).
    pub lessons: CaseLessonMeasures,
}

pub(crate) fn case_view(c: CaseRecord) -> CaseView {
    let case = c.case;
    CaseView {
        id: case.id.get(),
        referral_id: case.referral_id.get(),
        school_urn: case.school_urn,
        upn: case.upn,
        status: case.status,
        start_date: case.start_date,
        provision: case.provision,
        opened_at: case.opened_at.and_utc(),
        closed_at: case.closed_at.map(|t| t.and_utc()),
        support_register_code: c.support_register_code,
        register_code_now: c.register_code_now,
        schedule: c.reviews.into_iter().map(review_view).collect(),
        evidence_clock: c.evidence_clock,
        medical_evidence: c
            .evidence
            .into_iter()
            .map(|e| CaseEvidenceView {
                id: e.id,
                received_at: e.received_at.and_utc(),
                evidence: e.item,
            })
            .collect(),
        open_alerts: c
            .open_alerts
            .into_iter()
            .map(|a| CaseAlertView {
                id: a.id,
                kind: a.kind,
                since: a.since,
                subject: a.subject,
            })
            .collect(),
        exit: case.exit,
        exit_register_facts: case.exit_register_facts,
        lessons: c.lessons,
        re_referral: c.re_referral,
    }
}

const ID: &str = "Case id";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CasesQuery {
    /// `active` or `closed`.
    #[param(value_type = Option<CaseStatus>)]
    pub status: Option<QueryWord<CaseStatus>>,
    /// Only this school (a school client: one of its own).
    pub school_urn: Option<i32>,
    /// Only this pupil.
    pub upn: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Support episodes, oldest first.
///
/// Who: `la` (every school) or `school` (its own schools' cases). Changes nothing; the read is
/// audited (one row per page).
#[utoipa::path(
    tag = "cases",
    params(CasesQuery),
    responses(
        (status = 200, description = "A page of cases", body = Page<CaseView>),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/cases")]
pub async fn list_cases(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<CasesQuery>,
) -> Result<web::Json<Page<CaseView>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let status = q
        .status
        .map(|s| s.known("status", "active or closed"))
        .transpose()?;
    let upn = q.upn.as_deref().map(query_upn).transpose()?;
    let page = cases::list(
        &state,
        &actor,
        CaseQuery {
            status,
            school_urn: q.school_urn,
            upn,
            after_id: decode_cursor("cases", q.cursor.as_deref())?,
            limit,
        },
    )
    .await?;
    Ok(web::Json(Page {
        next_cursor: page.next_after_id.map(|id| encode_cursor("cases", id)),
        items: page.cases.into_iter().map(case_view).collect(),
    }))
}

/// One case: provision, review schedule, evidence clock, register code guidance, open alerts.
///
/// Who: `la`, or the case's school (another school's case is 404). What it changes: the case's
/// alerts are brought up to date as it is read (any raised or resolved appears on the change feed).
/// The read is audited, and so is a 404.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID)),
    responses(
        (status = 200, description = "The case", body = CaseView),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/cases/{id}")]
pub async fn get_case(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<CaseView>, ApiError> {
    let case = cases::get(&state, &actor, CaseId::from(*id)).await?;
    Ok(web::Json(case_view(case)))
}

/// The reviews of a case, by date.
///
/// Who: `la`, or the case's school. Changes nothing; the read is audited.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID)),
    responses(
        (status = 200, description = "The reviews, each with the progress it recorded on the plan's targets", body = Vec<ReviewChangedView>),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/cases/{id}/reviews")]
pub async fn list_case_reviews(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<ReviewChangedView>>, ApiError> {
    let (reviews, progress) = cases::reviews(&state, &actor, CaseId::from(*id)).await?;
    Ok(web::Json(
        reviews
            .into_iter()
            .map(|r| ReviewChangedView {
                target_progress: progress
                    .iter()
                    .filter(|p| p.review_id == r.id)
                    .map(progress_view)
                    .collect(),
                review: review_view(r),
                plan: None,
            })
            .collect(),
    ))
}

/// An extra review meeting (`la`).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReviewBody {
    /// A school day on or after the case start.
    #[schema(example = "2027-01-12")]
    pub scheduled_for: NaiveDate,
    #[validate(length(max = 200, message = "should be at most 200 characters"))]
    #[schema(max_length = 200, example = "review after hospital stay")]
    pub label: Option<String>,
}

/// Add a review meeting to an active case.
///
/// Who: `la` only. What it changes: stores the review on a school day inside the case. Audited;
/// the change feed shows the review `added`.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID), IdempotencyKeyHeader),
    request_body = NewReviewBody,
    responses(
        (status = 201, description = "Added; the case with its schedule", body = CaseView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = LaOnly),
        (status = 404, response = NotFound),
        (status = 409, description = "The case is closed; or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Not a school day in the case", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/cases/{id}/reviews", wrap = "from_fn(retry_safe)")]
pub async fn add_case_review(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<NewReviewBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let id = CaseId::from(*id);
    let case = cases::add_review(&state, &actor, id, body.scheduled_for, body.label).await?;
    Ok(HttpResponse::Created().json(case_view(case)))
}

/// Reschedule a review, or record its outcome.
///
/// Who: rescheduling onto a school day inside the case is `la` only (a school gets 403); recording
/// the outcome is `la` or the case's school. What it changes: the review's date or its outcome
/// (held); with the outcome, progress on every target of the agreed plan (RULES.md R14.2) and a
/// `revised_plan` as a new plan version linked to the review. Audited; the change feed shows the
/// review `rescheduled` or `held` (and the case `plan_updated` for a revised plan).
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID), ("review_id" = i64, Path, description = "Review id")),
    request_body = ReviewChange,
    responses(
        (status = 200, description = "The review as it is now, with the progress it recorded and the plan as it now stands", body = ReviewChangedView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "A school rescheduling, or a role that may not", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, response = NotFound),
        (status = 409, description = "The case is closed or the review already held or cancelled", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Not a school day in the case, or held in the future; progress missing for targets of the agreed plan (named), for an unknown target, or revised/dropped without a note; a revised plan R14.1 refuses", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[patch("/cases/{id}/reviews/{review_id}")]
pub async fn change_case_review(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(i64, i64)>,
    body: ValidJson<ReviewChange>,
) -> Result<web::Json<ReviewChangedView>, ApiError> {
    let (id, review_id) = path.into_inner();
    let (id, review_id) = (CaseId::from(id), ReviewId::from(review_id));
    let done = cases::change_review(&state, &actor, id, review_id, body.0).await?;
    Ok(web::Json(ReviewChangedView {
        review: review_view(done.review),
        target_progress: done.at_review.progress.iter().map(progress_view).collect(),
        plan: done.at_review.plan.map(record_view),
    }))
}

/// A review with the progress it recorded on the plan's targets; after a PATCH, with the plan as
/// it now stands (RULES.md R14.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewChangedView {
    #[serde(flatten)]
    pub review: ReviewView,
    pub target_progress: Vec<ProgressView>,
    /// In a PATCH answer, the plan in force after it (left out when the case has none, and in
    /// the list of a case's reviews).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewsQuery {
    /// `scheduled` (default: every review not yet held), `due` (today or later) or `overdue`
    /// (before today, not held).
    #[param(value_type = Option<ReviewState>, inline)]
    pub state: Option<QueryWord<ReviewState>>,
    /// Only reviews scheduled for before this date.
    pub before: Option<NaiveDate>,
    /// Only this school (a school client: one of its own).
    pub school_urn: Option<i32>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A review on the worklist, with its case.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewWorkItem {
    #[serde(flatten)]
    pub review: ReviewView,
    pub school_urn: i32,
    pub upn: String,
    pub case_start_date: NaiveDate,
}

/// The reviews worklist across active cases.
///
/// Who: `la` (every school) or `school` (its own schools' cases). Changes nothing; the read is
/// audited (one row per page).
#[utoipa::path(
    tag = "cases",
    params(ReviewsQuery),
    responses(
        (status = 200, description = "A page of reviews", body = Page<ReviewWorkItem>),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/reviews")]
pub async fn list_reviews(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<ReviewsQuery>,
) -> Result<web::Json<Page<ReviewWorkItem>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let wanted = match q.state {
        None => ReviewState::Scheduled,
        Some(s) => s.known("state", "scheduled, due or overdue")?,
    };
    let page = cases::worklist(
        &state,
        &actor,
        wanted,
        q.before,
        q.school_urn,
        decode_cursor("reviews", q.cursor.as_deref())?,
        limit,
    )
    .await?;
    Ok(web::Json(Page {
        next_cursor: page.next_after_id.map(|id| encode_cursor("reviews", id)),
        items: page
            .reviews
            .into_iter()
            .map(|(review, case)| ReviewWorkItem {
                review: review_view(review),
                school_urn: case.school_urn,
                upn: case.upn,
                case_start_date: case.start_date,
            })
            .collect(),
    }))
}

/// Record an updated piece of medical evidence for a case.
///
/// Who: `la`, or the case's school. What it changes: stores the evidence, which restarts the
/// evidence clocks (RULES.md R11.4) and satisfies this term's evidence update (R11.3). Audited; the
/// change feed shows the case `evidence_added` (and a review it satisfies as `held`).
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID), IdempotencyKeyHeader),
    request_body = EvidenceItem,
    responses(
        (status = 201, description = "Recorded; the case with its evidence clock", body = CaseView),
        ReadFailures,
        (status = 409, description = "The case is closed; or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid evidence", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/cases/{id}/medical-evidence", wrap = "from_fn(retry_safe)")]
pub async fn add_case_evidence(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<EvidenceItem>,
) -> Result<HttpResponse, ApiError> {
    let case = cases::add_evidence(&state, &actor, CaseId::from(*id), body.0).await?;
    Ok(HttpResponse::Created().json(case_view(case)))
}

/// The exit and what follows from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExitView {
    pub case: CaseView,
    /// The register code guidance from the effective date (RULES.md R13.1).
    pub register_code_guidance: String,
    pub re_referral: ReReferral,
    /// A non_attendance exit: the register facts attached to it (RULES.md R13): the
    /// unauthorised sessions from the case start to the effective date.
    pub register_facts: Option<RegisterFacts>,
    /// Reviews after the effective date, now cancelled.
    pub reviews_cancelled: usize,
    /// A non_attendance exit whose facts show no unauthorised absence, in the register or the
    /// ESMA lessons: recorded all the same (the LA's decision), with this said (RULES.md R13.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Record the exit decision and close the case (RULES.md R13).
///
/// Who: `la` only. What it changes: closes the case, cancels its reviews after the effective date,
/// stores the decision with the register code to use and whether re-referral is open (for
/// `non_attendance`, the register facts). Audited (`exit`); the change feed shows the case
/// `closed` and each cancelled review; webhook `case.closed`.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = ID), IdempotencyKeyHeader),
    request_body = ExitRequest,
    responses(
        (status = 200, description = "Closed", body = ExitView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = LaOnly),
        (status = 404, response = NotFound),
        (status = 409, description = "Already closed; or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The reason lacks the facts it needs", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/cases/{id}/exit", wrap = "from_fn(retry_safe)")]
pub async fn exit_case(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<ExitRequest>,
) -> Result<web::Json<ExitView>, ApiError> {
    let out = cases::exit(&state, &actor, CaseId::from(*id), body.0).await?;
    let re_referral = out
        .case
        .re_referral
        .clone()
        .ok_or_else(|| ApiError::internal("a closed case without its exit"))?;
    let case = case_view(out.case);
    Ok(web::Json(ExitView {
        register_code_guidance: case.register_code_now.clone(),
        register_facts: case.exit_register_facts.clone(),
        re_referral,
        reviews_cancelled: out.reviews_cancelled,
        warning: out.warning,
        case,
    }))
}
