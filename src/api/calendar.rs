//! `PUT/GET /api/v1/calendar/{academic_year}`: the LA's term dates (RULES.md R3).

use actix_web::{get, put, web, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::extract::ValidJson;
use super::problem::{
    BadRequest, Forbidden, LaOnly, PayloadTooLarge, Unauthorized, UnsupportedMediaType,
    PROBLEM_JSON,
};
use crate::domain::calendar::{AcademicYear, HalfTerm, LaCalendar, Term};
use crate::error::{ApiError, Problem};
use crate::service::{calendar, Actor, AppState};

#[derive(Debug, Clone, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HalfTermBody {
    #[schema(example = "2026-10-26")]
    pub starts: NaiveDate,
    #[schema(example = "2026-10-30")]
    pub ends: NaiveDate,
}

#[derive(Debug, Clone, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermBody {
    #[validate(custom(function = "term_name_rule"))]
    #[schema(min_length = 1, max_length = 50, example = "autumn")]
    pub name: String,
    /// First day of the term (its half term included).
    #[schema(example = "2026-09-03")]
    pub starts: NaiveDate,
    /// Last day of the term.
    #[schema(example = "2026-12-18")]
    pub ends: NaiveDate,
    pub half_term: Option<HalfTermBody>,
}

fn term_name_rule(name: &str) -> Result<(), ValidationError> {
    let len = name.trim().chars().count();
    if (1..=50).contains(&len) {
        Ok(())
    } else {
        Err(ValidationError::new("length")
            .with_message("term name should be 1 to 50 characters, not blank".into()))
    }
}

/// A year's term dates. School days are the weekdays inside terms, outside half terms and closures.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarBody {
    #[validate(length(min = 1, max = 6, message = "give 1 to 6 terms"), nested)]
    #[schema(min_items = 1, max_items = 6)]
    pub terms: Vec<TermBody>,
    /// Extra days the LA's schools are closed (bank holidays in term, INSET days ...).
    #[serde(default)]
    #[validate(length(max = 60, message = "give at most 60 closures"))]
    #[schema(max_items = 60, example = json!(["2027-05-03"]))]
    pub closures: Vec<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TermView {
    pub name: String,
    pub starts: NaiveDate,
    pub ends: NaiveDate,
    pub half_term: Option<HalfTermBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarView {
    #[schema(example = "2026-27")]
    pub academic_year: String,
    pub terms: Vec<TermView>,
    pub closures: Vec<NaiveDate>,
    /// School days in the year under this calendar, to check the dates at a glance.
    #[schema(example = 193)]
    pub school_days: u32,
    pub updated_at: DateTime<Utc>,
}

fn view(calendar: LaCalendar, updated_at: NaiveDateTime) -> CalendarView {
    CalendarView {
        academic_year: calendar.academic_year.to_string(),
        school_days: calendar.count_school_days(),
        terms: calendar
            .terms
            .into_iter()
            .map(|t| TermView {
                name: t.name,
                starts: t.starts,
                ends: t.ends,
                half_term: t.half_term.map(|h| HalfTermBody {
                    starts: h.starts,
                    ends: h.ends,
                }),
            })
            .collect(),
        closures: calendar.closures,
        updated_at: updated_at.and_utc(),
    }
}

fn path_year(text: &str) -> Result<AcademicYear, ApiError> {
    AcademicYear::parse(text).map_err(ApiError::bad_request)
}

/// Load or replace the LA calendar of an academic year.
///
/// Who: `la` only. What it changes: stores the year's terms, half terms and closures (every
/// statutory clock counts these school days); reviews of active cases that no longer fall on a
/// school day move to the next one (each audited as `reschedule`, and on the change feed as
/// `rescheduled`). Audited (`create` or `update`).
#[utoipa::path(
    tag = "calendar",
    params(("academic_year" = String, Path, description = "Academic year, e.g. 2026-27", pattern = "^[0-9]{4}-[0-9]{2}$", example = "2026-27")),
    request_body = CalendarBody,
    responses(
        (status = 200, description = "Replaced", body = CalendarView),
        (status = 201, description = "Created", body = CalendarView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = LaOnly),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Dates out of order or outside the year", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[put("/calendar/{academic_year}")]
pub async fn put_calendar(
    state: web::Data<AppState>,
    actor: Actor,
    year: web::Path<String>,
    body: ValidJson<CalendarBody>,
) -> Result<HttpResponse, ApiError> {
    let year = path_year(&year)?;
    let body = body.0;
    let calendar = LaCalendar {
        academic_year: year,
        terms: body
            .terms
            .into_iter()
            .map(|t| Term {
                name: t.name.trim().to_string(),
                starts: t.starts,
                ends: t.ends,
                half_term: t.half_term.map(|h| HalfTerm {
                    starts: h.starts,
                    ends: h.ends,
                }),
            })
            .collect(),
        closures: body.closures,
    };
    let (calendar, updated_at, created) = calendar::put(&state, &actor, calendar).await?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(view(calendar, updated_at)))
}

/// The LA calendar of an academic year.
///
/// Who: `la` and `school`. Changes nothing.
#[utoipa::path(
    tag = "calendar",
    params(("academic_year" = String, Path, description = "Academic year, e.g. 2026-27", pattern = "^[0-9]{4}-[0-9]{2}$", example = "2026-27")),
    responses(
        (status = 200, description = "The calendar", body = CalendarView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No calendar loaded for that year", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/calendar/{academic_year}")]
pub async fn get_calendar(
    state: web::Data<AppState>,
    actor: Actor,
    year: web::Path<String>,
) -> Result<web::Json<CalendarView>, ApiError> {
    let year = path_year(&year)?;
    let (calendar, updated_at) = calendar::get(&state, &actor, year).await?;
    Ok(web::Json(view(calendar, updated_at)))
}
