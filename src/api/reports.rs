//! `GET /api/v1/cases/{id}/report`: the stakeholder progress report, as JSON or as a printable
//! HTML page (issue 23 item 5; API.md "Support delivery").

use std::collections::BTreeMap;

use actix_web::http::header::{self, ContentType};
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cases::{case_view, review_view, CaseView, ReviewView};
use super::extract::QueryWord;
use super::plans::{record_view, PlanView};
use super::problem::{InvalidQuery, ReadFailures};
use super::report_page;
use crate::domain::case::{CaseId, ReviewStatus};
use crate::domain::lessons::{LessonMeasuresWithRecent, Subject};
use crate::domain::plan::Baseline;
use crate::domain::report::{LessonWeek, RegisterBeforeAndDuring, RegisterWeek};
use crate::error::ApiError;
use crate::service::reports::{self, CaseReport};
use crate::service::{Actor, AppState};

/// The pupil and school a report is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportSubject {
    #[schema(example = "F919100000010")]
    pub upn: String,
    /// As the case's school records it.
    #[schema(example = "Amara Okafor")]
    pub pupil_name: Option<String>,
    #[schema(example = 117001)]
    pub school_urn: i32,
    #[schema(example = "Oakfield Primary School")]
    pub school_name: Option<String>,
}

/// The school register over the report's span, split at the case start, and week by week.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRegister {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub split: RegisterBeforeAndDuring,
    pub weeks: Vec<RegisterWeek>,
}

/// A case's progress report for its stakeholders (parents, the school's SENDCo, health).
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseReportView {
    pub generated_on: NaiveDate,
    pub subject: ReportSubject,
    /// School days of support so far (from the start to today or the exit).
    pub school_days_of_support: u32,
    pub register: ReportRegister,
    /// The reviews held, oldest first.
    pub reviews_held: Vec<ReviewView>,
    /// The next three reviews still scheduled.
    pub next_reviews: Vec<ReviewView>,
    /// ESMA's lessons: measures overall and by subject (as on the case) and week by week.
    pub lessons: ReportLessons,
    /// Attainment, engagement and wellbeing where the plan started and as it stands now.
    pub attainment: Option<ReportAttainment>,
    /// The Holistic Reintegration Plan in force, each target with its latest progress; absent
    /// before the first version (RULES.md R14.1, R14.2).
    pub plan: Option<PlanView>,
    /// The case as `GET /api/v1/cases/{id}` shows it: provision, schedule, evidence clock, the
    /// register code to use, open alerts, exit.
    pub case: CaseView,
}

/// ESMA's lessons in the report (RULES.md R14.4).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportLessons {
    pub overall: LessonMeasuresWithRecent,
    pub by_subject: BTreeMap<Subject, LessonMeasuresWithRecent>,
    pub weeks: Vec<LessonWeek>,
}

/// The plan's baseline, first and latest (RULES.md R14.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportAttainment {
    /// The baseline of the plan's first version.
    pub baseline: Baseline,
    /// The baseline of the version in force, as the latest review revised it.
    pub latest: Baseline,
}

/// How the report is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Json,
    Html,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` or `html`; without it the `Accept` header decides (`text/html` for the page).
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<QueryWord<ReportFormat>>,
}

fn view(report: CaseReport) -> CaseReportView {
    let CaseReport {
        generated_on,
        case,
        school_name,
        pupil_name,
        register_from,
        register_to,
        register,
        register_weeks,
        school_days_of_support,
        plan,
        first_baseline,
        lesson_weeks,
    } = report;
    let attainment = match (&first_baseline, &plan) {
        (Some(baseline), Some(record)) => Some(ReportAttainment {
            baseline: baseline.clone(),
            latest: record.version.body.baseline.clone(),
        }),
        _ => None,
    };
    let mut held: Vec<ReviewView> = Vec::new();
    let mut next: Vec<ReviewView> = Vec::new();
    let mut reviews = case.reviews.clone();
    reviews.sort_by_key(|r| (r.held_on.unwrap_or(r.scheduled_for), r.id.get()));
    for review in reviews {
        match review.status {
            ReviewStatus::Held => held.push(review_view(review)),
            ReviewStatus::Scheduled if next.len() < 3 => next.push(review_view(review)),
            _ => {}
        }
    }
    CaseReportView {
        generated_on,
        subject: ReportSubject {
            upn: case.case.upn.clone(),
            pupil_name,
            school_urn: case.case.school_urn,
            school_name,
        },
        school_days_of_support,
        register: ReportRegister {
            from: register_from,
            to: register_to,
            split: register,
            weeks: register_weeks,
        },
        reviews_held: held,
        next_reviews: next,
        lessons: ReportLessons {
            overall: case.lessons.overall,
            by_subject: case.lessons.by_subject.clone(),
            weeks: lesson_weeks,
        },
        attainment,
        plan: plan.map(record_view),
        case: case_view(case),
    }
}

fn wants_html(req: &HttpRequest, format: Option<ReportFormat>) -> bool {
    match format {
        Some(format) => format == ReportFormat::Html,
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| {
                let html = accept.find("text/html");
                let json = accept.find("application/json");
                matches!((html, json), (Some(h), Some(j)) if h < j)
                    || (html.is_some() && json.is_none())
            }),
    }
}

/// A case's progress report, for parents, the school and health: JSON, or a printable page.
///
/// The support so far, the register code the school should use, the school register before and
/// during support (and week by week, as a chart on the page), the Holistic Reintegration Plan's
/// targets with their progress and its baseline against the latest, the reviews held and the
/// next ones.
/// As JSON by default; as an HTML page that prints on A4 (no script, nothing loaded from
/// elsewhere) with `?format=html` or `Accept: text/html`.
///
/// Who: `la`, or the case's school (another school's case is 404). Changes nothing; the read is
/// audited (`read_report`), and so is a 404.
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = "The case's id"), ReportQuery),
    responses(
        (status = 200, description = "The report", content(
            (CaseReportView = "application/json"),
            (String = "text/html"),
        )),
        ReadFailures,
        (status = 422, response = InvalidQuery),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/cases/{id}/report")]
pub async fn get_case_report(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = match query.into_inner().format {
        Some(word) => Some(word.known("format", "json or html")?),
        None => None,
    };
    let html = wants_html(&req, format);
    let report = view(reports::case_report(&state, &actor, CaseId::from(*id)).await?);
    if html {
        Ok(HttpResponse::Ok()
            .content_type(ContentType::html())
            .body(report_page::render(&report)))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}
