//! `GET /api/v1/audit` (`admin`): who read or changed which pupil's data, when, how, with what
//! outcome.

use actix_web::{get, web};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{decode_cursor, encode_cursor, page_limit};
use super::problem::{BadRequest, InvalidQuery, Unauthorized, PROBLEM_JSON};
use super::Page;
use crate::error::{ApiError, Problem};
use crate::service::audit::{self, AuditFilter};
use crate::service::{Actor, AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events about this pupil.
    pub upn: Option<String>,
    /// Only events by this client id.
    pub actor: Option<String>,
    /// Only events about this school.
    pub school_urn: Option<i32>,
    /// Only this action (`read`, `create`, `update`, `revoke` ...).
    pub action: Option<String>,
    /// From this date (inclusive, UTC).
    pub from: Option<NaiveDate>,
    /// Up to this date (inclusive, UTC).
    pub to: Option<NaiveDate>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One audit event as the API shows it.
pub use crate::service::audit::AuditEvent as AuditEventView;

/// The audit trail, newest first.
///
/// Who: `admin` only. Changes nothing (reading the trail is not itself audited).
#[utoipa::path(
    tag = "governance",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit events", body = Page<AuditEventView>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not an `admin` client", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, response = InvalidQuery),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditEventView>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from > to {
            return Err(ApiError::invalid_field(
                "/query/from",
                format!("from ({from}) is after to ({to})"),
            ));
        }
    }
    let filter = AuditFilter {
        upn: q.upn,
        actor: q.actor,
        school_urn: q.school_urn,
        action: q.action,
        from: q.from.and_then(|d| d.and_hms_opt(0, 0, 0)),
        to: q
            .to
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
        before_id: decode_cursor("audit", q.cursor.as_deref())?,
    };
    let (rows, more) = audit::page(&state, &actor, filter, limit).await?;
    let next_cursor = if more {
        rows.last().map(|r| encode_cursor("audit", r.id))
    } else {
        None
    };
    Ok(web::Json(Page {
        items: rows,
        next_cursor,
    }))
}
