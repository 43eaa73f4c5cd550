//! `PUT/GET /api/v1/schools/{urn}`, `GET /api/v1/schools`.

use actix_web::{get, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use super::extract::{decode_cursor, encode_cursor, page_limit, ValidJson};
use super::problem::{
    BadRequest, Forbidden, InvalidQuery, LaOnly, PayloadTooLarge, ReadFailures, Unauthorized,
    UnsupportedMediaType, PROBLEM_JSON,
};
use super::Page;
use crate::domain::school::{check_urn, Phase};
use crate::error::{ApiError, Problem};
use crate::service::schools::{self, School, SchoolInput};
use crate::service::{Actor, AppState};

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchoolBody {
    #[validate(custom(function = "name_rule"))]
    #[schema(min_length = 1, max_length = 200, example = "Oakfield Primary School")]
    pub name: String,
    /// 7 digits: this LA's number, then the establishment number.
    #[validate(custom(function = "laestab_rule"))]
    #[schema(pattern = "^[0-9]{7}$", example = "9192000")]
    pub laestab: String,
    pub phase: Phase,
}

fn name_rule(name: &str) -> Result<(), ValidationError> {
    let len = name.trim().chars().count();
    if (1..=200).contains(&len) {
        Ok(())
    } else {
        Err(ValidationError::new("length")
            .with_message("name should be 1 to 200 characters, not blank".into()))
    }
}

fn laestab_rule(laestab: &str) -> Result<(), ValidationError> {
    if laestab.len() == 7 && laestab.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ValidationError::new("laestab").with_message(
            format!(
                "LAESTAB should be 7 digits, not '{}'",
                crate::domain::text::clip(laestab, crate::domain::text::ECHO_CHARS)
            )
            .into(),
        ))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchoolView {
    #[schema(example = 117001)]
    pub urn: i32,
    pub name: String,
    #[schema(example = "9192000")]
    pub laestab: String,
    pub phase: Phase,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<School> for SchoolView {
    fn from(s: School) -> Self {
        SchoolView {
            urn: s.urn,
            name: s.name,
            laestab: s.laestab,
            phase: s.phase,
            created_at: s.created_at.and_utc(),
            updated_at: s.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn path_urn(urn: i64) -> Result<i32, ApiError> {
    check_urn(urn).map_err(ApiError::bad_request)
}

/// Create or replace a school.
///
/// Who: `la` only. What it changes: stores the school (name, LAESTAB, phase ...). Audited
/// (`create` or `update`).
#[utoipa::path(
    tag = "schools",
    params(("urn" = i64, Path, description = "The school's URN (6 digits)", minimum = 100000, maximum = 999999)),
    request_body = SchoolBody,
    responses(
        (status = 200, description = "Updated (or unchanged)", body = SchoolView),
        (status = 201, description = "Created", body = SchoolView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = LaOnly),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[put("/schools/{urn}")]
pub async fn put_school(
    state: web::Data<AppState>,
    actor: Actor,
    urn: web::Path<i64>,
    body: ValidJson<SchoolBody>,
) -> Result<HttpResponse, ApiError> {
    let urn = path_urn(urn.into_inner())?;
    let body = body.0;
    let input = SchoolInput {
        name: body.name,
        laestab: body.laestab,
        phase: body.phase,
    };
    let (school, created) = schools::put(&state, &actor, urn, input).await?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(SchoolView::from(school)))
}

/// One school.
///
/// Who: `la`, or a `school` for its own (another school is 404). Changes nothing.
#[utoipa::path(
    tag = "schools",
    params(("urn" = i64, Path, description = "The school's URN (6 digits)", minimum = 100000, maximum = 999999)),
    responses(
        (status = 200, description = "The school", body = SchoolView),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/schools/{urn}")]
pub async fn get_school(
    state: web::Data<AppState>,
    actor: Actor,
    urn: web::Path<i64>,
) -> Result<web::Json<SchoolView>, ApiError> {
    let urn = path_urn(urn.into_inner())?;
    Ok(web::Json(schools::get(&state, &actor, urn).await?.into()))
}

/// Schools in URN order, cursor-paginated.
///
/// Who: `la` (all schools) or `school` (its own). Changes nothing.
#[utoipa::path(
    tag = "schools",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of schools", body = Page<SchoolView>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidQuery),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/schools")]
pub async fn list_schools(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<SchoolView>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = decode_cursor("urn", query.cursor.as_deref())?.map(|u| u as i32);
    let (items, more) = schools::list(&state, &actor, after, limit).await?;
    let next_cursor = if more {
        items.last().map(|s| encode_cursor("urn", s.urn as i64))
    } else {
        None
    };
    Ok(web::Json(Page {
        items: items.into_iter().map(SchoolView::from).collect(),
        next_cursor,
    }))
}
