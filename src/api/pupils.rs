//! `PUT /api/v1/schools/{urn}/pupils` (roll sync), `GET /api/v1/pupils/{upn}` and
//! `GET /api/v1/pupils/{upn}/marks`.

use actix_web::{get, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::parse_push_json;
use super::problem::{
    IdempotencyConflict, ReadFailures, Unauthorized, UnsupportedMediaType, PROBLEM_JSON,
};
use super::registers::{
    check_rows, parse_off_worker, receive_push, report_response, BulkPush, PushQuery,
};
use crate::domain::codes::{AttendanceCode, CodeCategory, Session};
use crate::error::{ApiError, Problem};
use crate::service::imports::ImportReport;
use crate::service::roll::{self, PupilIn, RollPush};
use crate::service::{pupils, Actor, AppState};

/// One pupil on the school's roll. Each field's value is checked per row: a row that fails is
/// refused and reported in the import report (`errors[]` with its `reason`, counted in
/// `rejected_by_reason`) while the other rows are stored; the push is not refused with 422
/// (except with `?mode=all_or_nothing`). So the rules below are written here, not as schema
/// constraints.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PupilBody {
    /// A UPN (13 characters: a letter, 11 digits, a digit or letter, with a valid check
    /// letter); otherwise the row is refused (`invalid_upn`).
    #[schema(example = "H801200001001")]
    pub upn: String,
    /// 1 to 100 printable characters (`invalid_name`).
    #[schema(example = "Amara")]
    pub legal_forename: String,
    /// 1 to 100 printable characters (`invalid_name`).
    #[schema(example = "Okafor")]
    pub legal_surname: String,
    /// An ISO date, `YYYY-MM-DD` (`invalid_date`), not after today (`date_in_future`) nor
    /// before 1990 (`invalid_date`). Not typed `format: date` in this spec: a row with another
    /// date is reported, not refused.
    #[schema(example = "2014-03-02")]
    pub date_of_birth: String,
    /// A UK postcode (`invalid_postcode`).
    #[schema(example = "SG1 2AB")]
    pub postcode: Option<String>,
    /// The LA of the pupil's home: a 3-digit English LA number (`invalid_la_code`).
    #[schema(example = 919)]
    pub home_la_code: Option<i64>,
    #[serde(default)]
    pub ehcp: bool,
    #[serde(default)]
    pub sen_support: bool,
    #[serde(default)]
    pub pupil_premium: bool,
    /// First day on the roll: an ISO date, `YYYY-MM-DD` (`invalid_date`).
    #[schema(example = "2026-09-03")]
    pub on_roll_from: String,
    /// Last day on the roll, for a leaver: an ISO date not before `on_roll_from`
    /// (`invalid_date`).
    pub on_roll_until: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollBody {
    pub pupils: Vec<PupilBody>,
}

/// Sync pupils onto the school's roll (a school's own URNs).
///
/// Upserts each pupil's enrolment at this school with the personal details this school's MIS
/// gives; pupils not sent are left as they are (send a leaver with `on_roll_until`). Details are
/// held per school: a push changes only this school's record of a pupil, never what another
/// school's MIS said of a dual-registered pupil. Invalid rows are reported, valid ones committed in one
/// transaction; `?mode=all_or_nothing` and `Idempotency-Key` work as for registers. JSON, optionally
/// gzip-encoded.
///
/// Who: `school`, for its own URNs (`la` and other schools get 403). What it changes: the
/// school's record of each valid pupil, and the stored import report. Audited (`import`, outcome
/// `committed` or `rejected`). Per-row checks are reported in the report (`errors[]`,
/// `rejected_by_reason`), not refused with 422.
#[utoipa::path(
    tag = "pupils",
    params(
        ("urn" = i64, Path, description = "The school's URN (6 digits)", minimum = 100000, maximum = 999999, example = 117001),
        PushQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: 1-255 visible ASCII characters"),
    ),
    request_body = RollBody,
    responses(
        (status = 200, description = "The import report (invalid rows listed)", body = ImportReport),
        (status = 400, description = "Malformed body or gzip", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not a `school` client for this URN", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "The LA has not registered this school", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, response = IdempotencyConflict),
        (status = 413, description = "Body or row count over the limit", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Body of the wrong shape, or all_or_nothing with an invalid row", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[put("/schools/{urn}/pupils")]
pub async fn push_roll(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    urn: web::Path<i64>,
    query: web::Query<PushQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let BulkPush {
        urn,
        body,
        mode,
        idempotency: idem,
        ..
    } = receive_push(
        &req,
        &actor,
        urn.into_inner(),
        &query,
        payload,
        &["application/json"],
        "roll",
    )
    .await?;
    let parsed: RollBody = parse_off_worker(move || parse_push_json(&body)).await?;
    check_rows(&req, parsed.pupils.len(), "pupils")?;
    let pupils = parsed
        .pupils
        .into_iter()
        .map(|p| PupilIn {
            upn: p.upn,
            legal_forename: p.legal_forename,
            legal_surname: p.legal_surname,
            date_of_birth: p.date_of_birth,
            postcode: p.postcode,
            home_la_code: p.home_la_code,
            ehcp: p.ehcp,
            sen_support: p.sen_support,
            pupil_premium: p.pupil_premium,
            on_roll_from: p.on_roll_from,
            on_roll_until: p.on_roll_until,
        })
        .collect();
    let outcome = roll::push(
        &state,
        &actor,
        urn,
        RollPush {
            pupils,
            mode,
            idempotency: idem,
        },
    )
    .await?;
    Ok(report_response(outcome))
}

/// A school's roll entry for the pupil, with the personal details that school's MIS gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentView {
    pub school_urn: i32,
    pub on_roll_from: NaiveDate,
    pub on_roll_until: Option<NaiveDate>,
    pub legal_forename: String,
    pub legal_surname: String,
    pub date_of_birth: NaiveDate,
    pub postcode: Option<String>,
    pub home_la_code: Option<i32>,
    pub ehcp: bool,
    pub sen_support: bool,
    pub pupil_premium: bool,
    /// When this school's MIS last changed this record.
    pub updated_at: DateTime<Utc>,
}

/// One school's value of a field the schools' records disagree on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictValueView {
    pub school_urn: i32,
    /// The value as text (`null` when that school's record has none).
    pub value: Option<String>,
}

/// A field on which two or more schools' records of the pupil disagree.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetailConflictView {
    #[schema(example = "date_of_birth")]
    pub field: String,
    pub values: Vec<ConflictValueView>,
}

/// A pupil. Personal details are held per school, as each school's MIS gives them: the top-level
/// fields are the most recently pushed record the caller may see (a school: its own), and
/// `enrolments` has each visible school's record.
#[derive(Debug, Serialize, ToSchema)]
pub struct PupilView {
    pub upn: String,
    pub legal_forename: String,
    pub legal_surname: String,
    pub date_of_birth: NaiveDate,
    pub postcode: Option<String>,
    pub home_la_code: Option<i32>,
    pub ehcp: bool,
    pub sen_support: bool,
    pub pupil_premium: bool,
    /// The rolls the pupil is on, each with that school's record (a school client sees its own).
    pub enrolments: Vec<EnrolmentView>,
    /// Fields the schools' records disagree on, with each school's value: for the LA to resolve
    /// with the schools (always empty for a school client, which sees only its own record).
    pub conflicts: Vec<DetailConflictView>,
    /// When the record shown at the top level was last changed.
    pub updated_at: DateTime<Utc>,
}

const UPN_PARAM: &str = "The pupil's UPN";

/// One pupil (`la`: any; `school`: pupils currently on its roll, 404 otherwise). Audited.
///
/// A school reads only its own record of the pupil. The LA reads every school's record in
/// `enrolments`, and `conflicts` lists the fields the schools' records disagree on (two dates of
/// birth, say), with each school's value.
///
/// Who: `la`, or a `school` for pupils on its roll. Changes nothing; the read is audited, and
/// so is a 404.
#[utoipa::path(
    tag = "pupils",
    params(("upn" = String, Path, description = UPN_PARAM, example = "H801200001001")),
    responses(
        (status = 200, description = "The pupil", body = PupilView),
        ReadFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/pupils/{upn}")]
pub async fn get_pupil(
    state: web::Data<AppState>,
    actor: Actor,
    upn: web::Path<String>,
) -> Result<web::Json<PupilView>, ApiError> {
    let record = pupils::get(&state, &actor, &upn).await?;
    let latest = record
        .latest()
        .cloned()
        .ok_or_else(|| ApiError::not_found("no pupil with that UPN on a roll you can see"))?;
    Ok(web::Json(PupilView {
        upn: record.upn,
        legal_forename: latest.legal_forename,
        legal_surname: latest.legal_surname,
        date_of_birth: latest.date_of_birth,
        postcode: latest.postcode,
        home_la_code: latest.home_la_code,
        ehcp: latest.ehcp,
        sen_support: latest.sen_support,
        pupil_premium: latest.pupil_premium,
        updated_at: latest.updated_at.and_utc(),
        enrolments: record
            .enrolments
            .into_iter()
            .map(|e| EnrolmentView {
                school_urn: e.school_urn,
                on_roll_from: e.on_roll_from,
                on_roll_until: e.on_roll_until,
                legal_forename: e.legal_forename,
                legal_surname: e.legal_surname,
                date_of_birth: e.date_of_birth,
                postcode: e.postcode,
                home_la_code: e.home_la_code,
                ehcp: e.ehcp,
                sen_support: e.sen_support,
                pupil_premium: e.pupil_premium,
                updated_at: e.updated_at.and_utc(),
            })
            .collect(),
        conflicts: record
            .conflicts
            .into_iter()
            .map(|c| DetailConflictView {
                field: c.field.to_string(),
                values: c
                    .values
                    .into_iter()
                    .map(|(school_urn, value)| ConflictValueView { school_urn, value })
                    .collect(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First date (default: 1 September of the academic year of `to`).
    pub from: Option<NaiveDate>,
    /// Last date (default: today).
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkView {
    pub date: NaiveDate,
    // The stored text, written from a `Session`: always `AM` or `PM`.
    #[schema(value_type = Session)]
    pub session: String,
    #[schema(example = "I")]
    pub code: String,
    /// The DfE statistical category of the code.
    pub category: Option<CodeCategory>,
    pub minutes_late: Option<i32>,
    pub school_urn: i32,
}

/// A change to a mark (RULES.md R1.4: register changes are never lost).
#[derive(Debug, Serialize, ToSchema)]
pub struct MarkChangeView {
    pub date: NaiveDate,
    #[schema(value_type = Session)]
    pub session: String,
    pub school_urn: i32,
    pub old_code: String,
    pub new_code: String,
    pub old_minutes_late: Option<i32>,
    pub new_minutes_late: Option<i32>,
    pub import_id: i64,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PupilMarksView {
    pub upn: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub marks: Vec<MarkView>,
    /// Changed codes in the range, oldest first.
    pub changes: Vec<MarkChangeView>,
}

/// A pupil's marks and their changes.
///
/// Who: `la` (all schools) or `school` (its own register). Changes nothing; the read is audited.
#[utoipa::path(
    tag = "pupils",
    params(("upn" = String, Path, description = UPN_PARAM, example = "H801200001001"), RangeQuery),
    responses(
        (status = 200, description = "Marks in date and session order, with their changes", body = PupilMarksView),
        ReadFailures,
        (status = 422, description = "from after to", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/pupils/{upn}/marks")]
pub async fn get_marks(
    state: web::Data<AppState>,
    actor: Actor,
    upn: web::Path<String>,
    range: web::Query<RangeQuery>,
) -> Result<web::Json<PupilMarksView>, ApiError> {
    let found = pupils::marks(&state, &actor, &upn, range.from, range.to).await?;
    Ok(web::Json(PupilMarksView {
        upn: found.upn,
        from: found.from,
        to: found.to,
        marks: found
            .marks
            .into_iter()
            .map(|m| MarkView {
                category: AttendanceCode::parse(&m.code)
                    .ok()
                    .map(AttendanceCode::category),
                date: m.mark_date,
                session: m.session,
                code: m.code,
                minutes_late: m.minutes_late,
                school_urn: m.school_urn,
            })
            .collect(),
        changes: found
            .changes
            .into_iter()
            .map(|c| MarkChangeView {
                date: c.mark_date,
                session: c.session,
                school_urn: c.school_urn,
                old_code: c.old_code,
                new_code: c.new_code,
                old_minutes_late: c.old_minutes_late,
                new_minutes_late: c.new_minutes_late,
                import_id: c.import_id,
                changed_at: c.changed_at.and_utc(),
            })
            .collect(),
    }))
}
