//! `POST /api/v1/schools/{urn}/registers` and `GET /api/v1/imports/{import_id}`.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use compact_str::CompactString;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::body::{media_type, read_bounded};
use super::extract::{parse_push_json, BodyLimit};
use super::problem::{IdempotencyConflict, ReadFailures, Unauthorized, PROBLEM_JSON};
use crate::domain::school::check_urn;
use crate::error::{ApiError, Problem, ProblemKind};
use crate::service::imports::{Idempotency, ImportReport, PushMode, PushOutcome};
use crate::service::registers::{self, MarkIn, RegisterPush};
use crate::service::{imports, Actor, AppState};

/// One AM or PM mark. Each field's value is checked per row: a row that fails is refused and
/// reported in the import report (`errors[]` with its `reason`, counted in
/// `rejected_by_reason`) while the other rows are stored; the push is not refused with 422
/// (except with `?mode=all_or_nothing`). So the rules below are written here, not as schema
/// constraints.
// The text fields are compact strings: a valid mark's fit inline, so a night's marks are read
// without a heap allocation per field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkBody {
    /// A UPN (13 characters: a letter, 11 digits, a digit or letter, with a valid check
    /// letter); otherwise the row is refused (`invalid_upn`).
    #[schema(value_type = String, example = "H801200001001")]
    pub upn: CompactString,
    /// An ISO date, `YYYY-MM-DD` (`invalid_date`), not after today (`date_in_future`), a
    /// weekday (`not_a_school_day`). Not typed `format: date` in this spec: a row with another
    /// date is reported, not refused.
    #[schema(value_type = String, example = "2026-11-20")]
    pub date: CompactString,
    /// `AM` or `PM`, upper case; anything else refuses the row (`invalid_session`).
    #[schema(value_type = String, example = "AM")]
    pub session: CompactString,
    /// A DfE register code (2024 set; the 2006 set for dates before 2024-08-19), case-sensitive;
    /// otherwise the row is refused (`unknown_code`, `legacy_code`).
    #[schema(value_type = String, example = "I")]
    pub code: CompactString,
    /// Only with `L` or `U`: 0 to 300; otherwise the row is refused (`invalid_minutes_late`).
    pub minutes_late: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub marks: Vec<MarkBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PushQuery {
    /// `partial` (default): valid rows are stored and invalid ones reported.
    /// `all_or_nothing`: any invalid row refuses the whole push with 422 and stores nothing.
    #[param(inline)]
    pub mode: Option<ModeParam>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModeParam {
    Partial,
    AllOrNothing,
}

impl From<Option<ModeParam>> for PushMode {
    fn from(m: Option<ModeParam>) -> Self {
        match m {
            Some(ModeParam::AllOrNothing) => PushMode::AllOrNothing,
            _ => PushMode::Partial,
        }
    }
}

/// The largest push, in rows, before it is refused with 413.
#[derive(Debug, Clone, Copy)]
pub struct MaxPushRows(pub usize);

pub fn check_rows(req: &HttpRequest, rows: usize, what: &str) -> Result<(), ApiError> {
    let max = req
        .app_data::<MaxPushRows>()
        .map(|m| m.0)
        .unwrap_or(500_000);
    if rows > max {
        return Err(ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!("this push has {rows} {what}; at most {max} are taken in one push, so split it (for example by date range)"),
        ));
    }
    Ok(())
}

pub fn idempotency(req: &HttpRequest, parts: &[&[u8]]) -> Result<Option<Idempotency>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let key = v
                .to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key should be visible ASCII"))?;
            Idempotency::new(key, parts).map(Some)
        }
    }
}

/// Parses a push's body on a blocking thread: a body of many MiB would hold an actix worker.
pub async fn parse_off_worker<T: Send + 'static>(
    parse: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(parse)
        .await
        .map_err(|e| ApiError::internal(format!("parse task failed: {e}")))?
}

pub fn report_response(outcome: PushOutcome) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((
        "content-location",
        format!("/api/v1/imports/{}", outcome.report.import_id),
    ));
    if outcome.replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    res.json(outcome.report)
}

/// What every bulk push shares, checked in this order: URN, role and school (before the body is
/// read, so a refused push costs nothing), media type, the body under the limit (gunzipped),
/// the mode and the Idempotency-Key (hashed with everything that makes the request what it is).
pub struct BulkPush {
    pub urn: i32,
    pub media: String,
    pub body: Vec<u8>,
    pub mode: PushMode,
    pub idempotency: Option<Idempotency>,
}

pub async fn receive_push(
    req: &HttpRequest,
    actor: &Actor,
    urn: i64,
    query: &PushQuery,
    payload: web::Payload,
    accepted_media: &[&str],
    kind: &str,
) -> Result<BulkPush, ApiError> {
    let urn = check_urn(urn).map_err(ApiError::bad_request)?;
    actor.require(&[crate::domain::access::Role::School])?;
    actor.may_write_school(urn)?;
    let media = media_type(req);
    if !accepted_media.contains(&media.as_str()) {
        return Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            format!("send the {kind} as {}", accepted_media.join(" or ")),
        ));
    }
    let limit = req.app_data::<BodyLimit>().map(|l| l.0).unwrap_or(64 << 20);
    let body = read_bounded(req, payload, limit).await?;
    let mode: PushMode = query.mode.into();
    let parts: [&[u8]; 5] = [
        kind.as_bytes(),
        &urn.to_be_bytes(),
        mode.as_str().as_bytes(),
        media.as_bytes(),
        &body,
    ];
    let idempotency = idempotency(req, &parts)?;
    Ok(BulkPush {
        urn,
        media,
        body,
        mode,
        idempotency,
    })
}

fn csv_marks(body: &[u8]) -> Result<Vec<MarkIn>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Fields)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| ApiError::bad_request(format!("CSV header: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    for h in headers.iter() {
        if !["upn", "date", "session", "code", "minutes_late"].contains(&h) {
            return Err(ApiError::invalid_field(
                "/csv/header",
                format!(
                    "unknown CSV column '{}'; the header is upn,date,session,code,minutes_late",
                    crate::domain::text::clip(h, crate::domain::text::ECHO_CHARS)
                ),
            ));
        }
    }
    let (Some(upn), Some(date), Some(session), Some(code)) = (
        column("upn"),
        column("date"),
        column("session"),
        column("code"),
    ) else {
        return Err(ApiError::invalid_field(
            "/csv/header",
            "the CSV header must name upn, date, session and code (and may name minutes_late)",
        ));
    };
    let late = column("minutes_late");
    let mut marks = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            ApiError::bad_request(format!("CSV line {line}: {e}"))
        })?;
        let field = |i: usize| CompactString::from(record.get(i).unwrap_or(""));
        let (minutes_late, minutes_late_text) = match late.map(|i| record.get(i).unwrap_or("")) {
            None | Some("") => (None, None),
            Some(text) => match text.parse::<i64>() {
                Ok(n) => (Some(n), None),
                Err(_) => (None, Some(text.chars().take(20).collect())),
            },
        };
        marks.push(MarkIn {
            upn: field(upn),
            date: field(date),
            session: field(session),
            code: field(code),
            minutes_late,
            minutes_late_text,
        });
    }
    Ok(marks)
}

/// Push register marks (a school's own URNs).
///
/// Body: JSON `{ "marks": [...] }` or `text/csv` with the header `upn,date,session,code,minutes_late`;
/// either may be sent with `Content-Encoding: gzip`. Marks are upserted on (upn, date, session) for
/// this school: a re-push changes nothing (`unchanged`), a changed code updates the mark and the
/// old one is kept in the history. Valid rows are committed in one transaction; invalid rows are
/// reported with a machine-readable `reason`. Always answered synchronously with 200 (never 202):
/// a push of a school's whole year takes a few seconds at most. The report is also stored at
/// `/api/v1/imports/{import_id}`. With `Idempotency-Key`, a retry with the same body returns the
/// stored report (header `idempotent-replayed: true`); the same key with another body is 409.
///
/// Who: `school`, for its own URNs (`la` and other schools get 403). What it changes: the
/// marks and their history, the pupils' attendance tallies, and the register alerts (raised or
/// resolved, shown on the change feed); the stored import report. Audited (`import`, outcome
/// `committed` or `rejected`). Per-row checks are reported in the report (`errors[]`,
/// `rejected_by_reason`), not refused with 422 (except with `?mode=all_or_nothing`).
#[utoipa::path(
    tag = "registers",
    params(
        ("urn" = i64, Path, description = "The school's URN (6 digits)", minimum = 100000, maximum = 999999, example = 117001),
        PushQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: 1-255 visible ASCII characters"),
    ),
    request_body(content(
        (RegisterBody = "application/json"),
        (String = "text/csv", example = "upn,date,session,code,minutes_late\nH801200001001,2026-11-20,AM,L,12\nH801200001001,2026-11-20,PM,\\,\n"),
    )),
    responses(
        (status = 200, description = "The import report (invalid rows listed)", body = ImportReport),
        (status = 400, description = "Malformed body, CSV or gzip", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not a `school` client for this URN", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "The LA has not registered this school", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, response = IdempotencyConflict),
        (status = 413, description = "Body (after decompression) or row count over the limit", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON or CSV, or an unsupported Content-Encoding", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Body of the wrong shape, or mode=all_or_nothing with an invalid row (nothing stored)", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/schools/{urn}/registers")]
pub async fn push_register(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    urn: web::Path<i64>,
    query: web::Query<PushQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let BulkPush {
        urn,
        media,
        body,
        mode,
        idempotency: idem,
    } = receive_push(
        &req,
        &actor,
        urn.into_inner(),
        &query,
        payload,
        &["application/json", "text/csv"],
        "register",
    )
    .await?;
    let (marks, pointer_prefix) = parse_off_worker(move || {
        if media == "text/csv" {
            Ok((csv_marks(&body)?, None))
        } else {
            let parsed: RegisterBody = parse_push_json(&body)?;
            let marks = parsed
                .marks
                .into_iter()
                .map(|m| MarkIn {
                    upn: m.upn,
                    date: m.date,
                    session: m.session,
                    code: m.code,
                    minutes_late: m.minutes_late,
                    minutes_late_text: None,
                })
                .collect::<Vec<_>>();
            Ok((marks, Some("/marks")))
        }
    })
    .await?;
    check_rows(&req, marks.len(), "marks")?;
    let outcome = registers::push(
        &state,
        &actor,
        urn,
        RegisterPush {
            marks,
            pointer_prefix,
            mode,
            idempotency: idem,
        },
    )
    .await?;
    Ok(report_response(outcome))
}

/// The stored report of a roll or register push.
///
/// Who: `la`, or a `school` for its own schools (another school's report is 404). Changes nothing.
#[utoipa::path(
    tag = "registers",
    params(("import_id" = i64, Path, description = "From a push's report", minimum = 1)),
    responses(
        (status = 200, description = "The report", body = ImportReport),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/imports/{import_id}")]
pub async fn get_import(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
) -> Result<web::Json<ImportReport>, ApiError> {
    Ok(web::Json(
        imports::get(&state, &actor, id.into_inner()).await?,
    ))
}
