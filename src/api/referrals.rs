//! `/api/v1/referrals`: intake, assessment, decision, withdrawal (API.md "Referrals").

use actix_web::middleware::from_fn;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body::{media_type, SmallBody};
use super::extract::{
    decode_cursor, encode_cursor, page_limit, parse_json, query_upn, valid_from_value, QueryWords,
    ValidJson,
};
use super::idempotency::{retry_safe, IdempotencyKeyHeader};
use super::problem::{
    BadRequest, LaOnly, ListFailures, NotFound, PayloadTooLarge, ReadFailures, Unauthorized,
    UnsupportedMediaType, PROBLEM_JSON,
};
use super::Page;
use crate::domain::case::CaseStatus;
use crate::domain::decision::{Decision, DecisionOutcome, ProvisionItem};
use crate::domain::eligibility::{EligibilityAssessment, Outcome};
use crate::domain::referral::{
    AssessmentTrigger, ReferralForm, ReferralId, ReferralStatus, StoredAssessment,
};
use crate::error::{ApiError, Problem, ProblemKind};
use crate::service::referrals::{self, ReferralQuery, ReferralRecord};
use crate::service::{Actor, AppState};

/// One assessment: the outcome, every criterion with its reason, the missing items and the
/// facts, under the policy named (RULES.md R8, R9).
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentView {
    pub id: i64,
    pub evaluated_at: DateTime<Utc>,
    pub trigger: AssessmentTrigger,
    #[serde(flatten)]
    pub result: EligibilityAssessment,
}

impl From<StoredAssessment> for AssessmentView {
    fn from(a: StoredAssessment) -> Self {
        AssessmentView {
            id: a.id,
            evaluated_at: a.evaluated_at.and_utc(),
            trigger: a.trigger,
            result: a.assessment,
        }
    }
}

/// An earlier assessment, in brief.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentSummary {
    pub id: i64,
    pub evaluated_at: DateTime<Utc>,
    pub trigger: AssessmentTrigger,
    pub outcome: Outcome,
    #[schema(example = "Hertfordshire ESMA 2026-09")]
    pub policy: String,
    /// The missing items then.
    pub missing: Vec<String>,
}

/// The LA's decision as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    pub decided_at: DateTime<Utc>,
    pub outcome: DecisionOutcome,
    pub reasons: Vec<String>,
    pub start_date: Option<NaiveDate>,
    pub provision: Vec<ProvisionItem>,
    pub risk_assessment_completed: Option<bool>,
    pub override_reason: Option<String>,
    pub decided_by: String,
}

/// The support episode an accepted referral opened (the cases issue adds its schedule).
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: i64,
    pub referral_id: i64,
    pub school_urn: i32,
    pub upn: String,
    pub status: CaseStatus,
    pub start_date: NaiveDate,
    pub provision: Vec<ProvisionItem>,
    pub opened_at: DateTime<Utc>,
}

/// A referral (API.md "Referrals").
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralView {
    pub id: i64,
    pub status: ReferralStatus,
    #[schema(example = 117001)]
    pub school_urn: i32,
    #[schema(example = "H801200001001")]
    pub upn: String,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Received date + 15 school days (RULES.md R10.3).
    pub assessment_due_by: NaiveDate,
    /// Undecided after `assessment_due_by`.
    pub assessment_overdue: bool,
    /// The latest assessment.
    pub assessment: AssessmentView,
    /// Every assessment, oldest first (one referral read; empty in lists).
    pub assessment_history: Vec<AssessmentSummary>,
    /// The criteria not met, offered as reasons when declining (RULES.md R10.2).
    pub decline_reasons_offered: Vec<String>,
    pub decision: Option<DecisionView>,
    pub case: Option<CaseSummary>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawal_reason: Option<String>,
    /// The service request as it stands (submitted, then patched).
    pub request: ReferralForm,
}

pub(crate) fn view(r: ReferralRecord) -> ReferralView {
    let case = r.case.map(|c| CaseSummary {
        id: c.id.get(),
        referral_id: c.referral_id.get(),
        school_urn: c.school_urn,
        upn: c.upn,
        status: c.status,
        start_date: c.start_date,
        provision: c.provision,
        opened_at: c.opened_at.and_utc(),
    });
    ReferralView {
        id: r.id.get(),
        status: r.status,
        school_urn: r.school_urn,
        upn: r.upn,
        received_at: r.received_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
        assessment_due_by: r.assessment_due_by,
        assessment_overdue: r.assessment_overdue,
        decline_reasons_offered: if r.status.is_undecided() {
            r.assessment.assessment.failed_reasons()
        } else {
            Vec::new()
        },
        assessment: r.assessment.into(),
        assessment_history: r
            .history
            .into_iter()
            .map(|a| AssessmentSummary {
                id: a.id,
                evaluated_at: a.evaluated_at.and_utc(),
                trigger: a.trigger,
                outcome: a.assessment.outcome,
                policy: format!(
                    "{} {}",
                    a.assessment.policy.name, a.assessment.policy.version
                ),
                missing: a
                    .assessment
                    .missing
                    .iter()
                    .map(|m| {
                        serde_json::to_value(m.item)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    })
                    .collect(),
            })
            .collect(),
        decision: r.decision.zip(r.decided_at).map(|(d, at)| DecisionView {
            decided_at: at.and_utc(),
            outcome: d.outcome,
            reasons: d.reasons,
            start_date: d.start_date,
            provision: d.provision,
            risk_assessment_completed: d.risk_assessment_completed,
            override_reason: d.override_reason,
            decided_by: d.decided_by,
        }),
        case,
        withdrawn_at: r.withdrawn_at.map(|t| t.and_utc()),
        withdrawal_reason: r.withdrawal_reason,
        request: r.form,
    }
}

/// Submit a service request; it is assessed at once.
///
/// Who: `school` for its own schools, `la` for any. The pupil must be on the referring school's
/// roll. What it changes: stores the referral and its first assessment against the entry criteria
/// and the checklist (the register is the evidence; the answer explains every outcome). Audited
/// (`create`); the change feed shows the referral `created`; webhook `referral.received`.
#[utoipa::path(
    tag = "referrals",
    params(IdempotencyKeyHeader),
    request_body = ReferralForm,
    responses(
        (status = 201, description = "Received and assessed", body = ReferralView,
            headers(("location" = String, description = "The new referral"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not your school, or a role that cannot refer", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The pupil already has an open referral or an active case; or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields, or the pupil is not on the school's roll", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/referrals", wrap = "from_fn(retry_safe)")]
pub async fn submit_referral(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<ReferralForm>,
) -> Result<HttpResponse, ApiError> {
    let created = referrals::submit(&state, &actor, body.0).await?;
    let location = format!("/api/v1/referrals/{}", created.id);
    Ok(HttpResponse::Created()
        .insert_header(("location", location))
        .json(view(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferralsQuery {
    /// Only these states, comma-separated: `submitted`, `incomplete`, `accepted`, `declined`,
    /// `guidance_only`, `withdrawn`.
    #[param(value_type = Option<Vec<ReferralStatus>>, style = Form, explode = false,
            example = json!(["submitted", "incomplete"]))]
    pub status: Option<QueryWords<ReferralStatus>>,
    /// Only this school (a school client: one of its own).
    pub school_urn: Option<i32>,
    /// Only this pupil.
    pub upn: Option<String>,
    /// `true`: only undecided referrals past their assessment deadline.
    pub overdue: Option<bool>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Referrals, oldest first.
///
/// Who: `la` (every school) or `school` (its own schools' referrals). Changes nothing; the read is
/// audited (one row per page).
#[utoipa::path(
    tag = "referrals",
    params(ReferralsQuery),
    responses(
        (status = 200, description = "A page of referrals", body = Page<ReferralView>),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/referrals")]
pub async fn list_referrals(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<ReferralsQuery>,
) -> Result<web::Json<Page<ReferralView>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let statuses = q
        .status
        .map(|s| s.known("status", &ReferralStatus::ALL.map(ReferralStatus::as_str)))
        .transpose()?;
    let upn = q.upn.as_deref().map(query_upn).transpose()?;
    let page = referrals::list(
        &state,
        &actor,
        ReferralQuery {
            statuses,
            school_urn: q.school_urn,
            upn,
            overdue: q.overdue.unwrap_or(false),
            after_id: decode_cursor("referrals", q.cursor.as_deref())?,
            limit,
        },
    )
    .await?;
    Ok(web::Json(Page {
        next_cursor: page.next_after_id.map(|id| encode_cursor("referrals", id)),
        items: page.referrals.into_iter().map(view).collect(),
    }))
}

/// One referral: its latest assessment in full and the history of assessments.
///
/// Who: `la`, or the referring school (another school's referral is 404). Changes nothing; the
/// read is audited, and so is a 404.
#[utoipa::path(
    tag = "referrals",
    params(("id" = i64, Path, description = "Referral id")),
    responses(
        (status = 200, description = "The referral", body = ReferralView),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/referrals/{id}")]
pub async fn get_referral(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<ReferralView>, ApiError> {
    let id = ReferralId::from(*id);
    Ok(web::Json(view(referrals::get(&state, &actor, id).await?)))
}

/// Supply missing information while the referral is undecided (JSON merge patch).
///
/// The body is a JSON merge patch (RFC 7396) of the service request, e.g.
/// `{"consent": {"parental_consent_signed": true}}`; `null` removes an optional field; the school
/// and the pupil cannot change.
///
/// Who: `la`, or the referring school. What it changes: the stored request, assessed again at once
/// (a new assessment in the history). Audited (`update`); the change feed shows the referral
/// `updated`; webhook `referral.assessed`. A decided or withdrawn referral is 409.
#[utoipa::path(
    tag = "referrals",
    params(("id" = i64, Path, description = "Referral id")),
    request_body(content = Object, content_type = "application/merge-patch+json",
        example = json!({"consent": {"parental_consent_signed": true, "signed_on": "2026-11-20", "signatory": "Grace Okafor"}})),
    responses(
        (status = 200, description = "Patched and re-assessed", body = ReferralView),
        ReadFailures,
        (status = 409, description = "Already decided or withdrawn", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The patched request is invalid", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[patch("/referrals/{id}")]
pub async fn patch_referral(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    req: HttpRequest,
    body: SmallBody,
) -> Result<web::Json<ReferralView>, ApiError> {
    let media = media_type(&req);
    if media != "application/merge-patch+json" && media != "application/json" {
        return Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "send the patch as application/merge-patch+json (or application/json)",
        ));
    }
    let patch: serde_json::Value = parse_json(&body)?;
    let id = ReferralId::from(*id);
    let patched =
        referrals::patch(&state, &actor, id, patch, valid_from_value::<ReferralForm>).await?;
    Ok(web::Json(view(patched)))
}

/// Assess again on current data (new marks, a new calendar or policy).
///
/// Who: `la`, or the referring school. What it changes: stores a new assessment (the earlier ones
/// stay in the history) and the status it implies. Audited (`assess`); the change feed shows the
/// referral `assessed`; webhook `referral.assessed`. A decided or withdrawn referral is 409.
#[utoipa::path(
    tag = "referrals",
    params(("id" = i64, Path, description = "Referral id"), IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Re-assessed", body = ReferralView),
        ReadFailures,
        (status = 409, description = "Already decided or withdrawn; or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/referrals/{id}/assessment", wrap = "from_fn(retry_safe)")]
pub async fn reassess_referral(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<ReferralView>, ApiError> {
    let id = ReferralId::from(*id);
    Ok(web::Json(view(
        referrals::reassess(&state, &actor, id).await?,
    )))
}

/// The LA's decision on a referral (RULES.md R10.2).
///
/// Accepting a referral that is not `eligible` needs an `override_reason`; declining needs reasons
/// (the failed criteria are offered in `decline_reasons_offered`); accepting needs provision and a
/// start date on a school day, and teaching at home a completed risk assessment.
///
/// Who: `la` only. What it changes: stores the decision; accepting opens a case with its review
/// schedule; an `assessment_overdue` alert is resolved. Audited (`decide`); the change feed shows
/// the referral `decided` (and the case `opened`, its reviews `planned`); webhook
/// `referral.decided`.
#[utoipa::path(
    tag = "referrals",
    params(("id" = i64, Path, description = "Referral id"), IdempotencyKeyHeader),
    request_body(content = Decision, example = json!({
        "outcome": "accepted", "reasons": [], "start_date": "2026-12-01",
        "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
        "risk_assessment_completed": false, "decided_by": "J. Smith, ESMA panel"})),
    responses(
        (status = 200, description = "Decided", body = ReferralView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = LaOnly),
        (status = 404, response = NotFound),
        (status = 409, description = "Already decided or withdrawn; or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The decision lacks what its outcome needs", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/referrals/{id}/decision", wrap = "from_fn(retry_safe)")]
pub async fn decide_referral(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<Decision>,
) -> Result<web::Json<ReferralView>, ApiError> {
    let id = ReferralId::from(*id);
    Ok(web::Json(view(
        referrals::decide(&state, &actor, id, body.0).await?,
    )))
}

/// Why a referral is withdrawn (optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    #[schema(max_length = 2000, example = "The family moved out of the county")]
    pub reason: Option<String>,
}

/// Withdraw an undecided referral. The body is optional.
///
/// Who: `la`, or the referring school. What it changes: the referral becomes `withdrawn` with the
/// reason given; an `assessment_overdue` alert is resolved. Audited (`withdraw`); the change feed
/// shows the referral `withdrawn`. A decided or withdrawn referral is 409.
#[utoipa::path(
    tag = "referrals",
    params(("id" = i64, Path, description = "Referral id"), IdempotencyKeyHeader),
    request_body(content = Option<WithdrawBody>),
    responses(
        (status = 200, description = "Withdrawn", body = ReferralView),
        ReadFailures,
        (status = 409, description = "Already decided or withdrawn; or the Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid reason", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/referrals/{id}/withdraw", wrap = "from_fn(retry_safe)")]
pub async fn withdraw_referral(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    req: HttpRequest,
    body: SmallBody,
) -> Result<web::Json<ReferralView>, ApiError> {
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let media = media_type(&req);
        if media != "application/json" {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                "send the body as application/json, or no body",
            ));
        }
        let parsed: Option<WithdrawBody> = parse_json(&body)?;
        match parsed.and_then(|p| p.reason) {
            Some(r) if r.chars().count() > 2000 => {
                return Err(ApiError::invalid_field(
                    "/reason",
                    "should be at most 2000 characters",
                ))
            }
            Some(r) if r.trim().is_empty() => None,
            other => other,
        }
    };
    let id = ReferralId::from(*id);
    Ok(web::Json(view(
        referrals::withdraw(&state, &actor, id, reason).await?,
    )))
}
