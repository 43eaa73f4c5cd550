//! `POST /api/v1/lessons`: ESMA's timetabling system pushes the lessons it delivered (API.md
//! "Support delivery"; RULES.md R14.3), like a register push.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body::{media_type, read_bounded};
use super::extract::{decode_cursor, encode_cursor, page_limit, QueryWord};
use super::extract::{parse_push_json, BodyLimit};
use super::problem::{IdempotencyConflict, ListFailures, Unauthorized, PROBLEM_JSON};
use super::registers::{check_rows, idempotency, parse_off_worker, report_response, PushQuery};
use super::Page;
use crate::domain::access::Role;
use crate::domain::case::CaseId;
use crate::domain::lessons::LessonFilter;
use crate::domain::lessons::{Lesson, LessonAttendance, LessonIn, LessonMode, NumberIn, Subject};
use crate::error::{ApiError, Problem, ProblemKind};
use crate::service::imports::{ImportReport, PushMode};
use crate::service::lessons::{self, LessonPush};
use crate::service::{cases, Actor, AppState};

/// One lesson delivered. Like a register mark, each field is checked per row: a row that fails
/// is refused and reported in the import report (`errors[]` with its `reason`, counted in
/// `rejected_by_reason`) while the other rows are stored, so the rules are written here, not as
/// schema constraints (RULES.md R14.3).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LessonBody {
    /// An accepted case (`unknown_case`).
    #[schema(example = 1)]
    pub case_id: i64,
    /// `YYYY-MM-DD` (`invalid_date`): a school day (`not_a_school_day`), not after today
    /// (`date_in_future`), on or after the case start (`before_case_start`), not after its exit
    /// (`after_case_exit`).
    #[schema(example = "2026-11-20")]
    pub date: String,
    /// `HH:MM`, 24-hour (`invalid_start_time`).
    #[schema(example = "10:30")]
    pub start_time: String,
    /// `english`, `maths`, `science` or `other` (`invalid_subject`).
    #[schema(example = "maths")]
    pub subject: String,
    /// `online_group`, `online_one_to_one`, `base_group`, `base_one_to_one`, `home` or `av1`
    /// (`invalid_mode`); `home` only for a case accepted for teaching at home, which had its
    /// risk assessment (`no_risk_assessment`).
    #[schema(example = "online_one_to_one")]
    pub mode: String,
    /// 1 to 240 (`invalid_planned_minutes`).
    #[schema(example = 60)]
    pub planned_minutes: Option<i64>,
    /// `attended`, `late`, `absent_authorised`, `absent_unauthorised` or `cancelled_by_esma`
    /// (`invalid_attendance`).
    #[schema(example = "attended")]
    pub attendance: String,
    /// Only for `late`, and required there: 1 to less than the lesson (`invalid_minutes_late`).
    pub minutes_late: Option<i64>,
    /// 1 (not engaged) to 4 (fully engaged): required for `attended` and `late`, refused
    /// otherwise (`invalid_engagement`).
    #[schema(example = 3)]
    pub engagement: Option<i64>,
    #[schema(example = "A. Teacher")]
    pub teacher: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LessonsBody {
    pub lessons: Vec<LessonBody>,
}

const COLUMNS: [&str; 11] = [
    "case_id",
    "date",
    "start_time",
    "subject",
    "mode",
    "planned_minutes",
    "attendance",
    "minutes_late",
    "engagement",
    "teacher",
    "note",
];

fn csv_lessons(body: &[u8]) -> Result<Vec<LessonIn>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Fields)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| ApiError::bad_request(format!("CSV header: {e}")))?
        .clone();
    for h in headers.iter() {
        if !COLUMNS.contains(&h) {
            return Err(ApiError::invalid_field(
                "/csv/header",
                format!(
                    "unknown CSV column '{}'; the columns are {}",
                    crate::domain::text::clip(h, crate::domain::text::ECHO_CHARS),
                    COLUMNS.join(",")
                ),
            ));
        }
    }
    let column = |name: &str| headers.iter().position(|h| h == name);
    let required = [
        "case_id",
        "date",
        "start_time",
        "subject",
        "mode",
        "planned_minutes",
        "attendance",
    ];
    if let Some(missing) = required.iter().find(|c| column(c).is_none()) {
        return Err(ApiError::invalid_field(
            "/csv/header",
            format!(
                "the CSV header must name {} (and may name minutes_late, engagement, teacher, note); {missing} is missing",
                required.join(", ")
            ),
        ));
    }
    let at: Vec<Option<usize>> = COLUMNS.iter().map(|c| column(c)).collect();
    let mut lessons = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            ApiError::bad_request(format!("CSV line {line}: {e}"))
        })?;
        let text = |i: usize| at[i].and_then(|i| record.get(i)).unwrap_or("").to_string();
        let number = |i: usize| NumberIn::from_text(&text(i));
        let optional = |i: usize| Some(text(i)).filter(|t| !t.is_empty());
        lessons.push(LessonIn {
            case_id: number(0),
            date: text(1),
            start_time: text(2),
            subject: text(3),
            mode: text(4),
            planned_minutes: number(5),
            attendance: text(6),
            minutes_late: number(7),
            engagement: number(8),
            teacher: optional(9),
            note: optional(10),
        });
    }
    Ok(lessons)
}

/// Push the ESMA lessons delivered (ESMA's timetabling system, nightly).
///
/// Body: JSON `{ "lessons": [...] }` or `text/csv` with the columns
/// `case_id,date,start_time,subject,mode,planned_minutes,attendance,minutes_late,engagement,teacher,note`;
/// either may be sent with `Content-Encoding: gzip`. A lesson is identified by (case, date,
/// start time, subject): a re-push changes nothing (`unchanged`), a changed row updates the
/// lesson (`updated`). Valid rows are committed in one transaction; invalid rows are reported
/// with a machine-readable `reason` (RULES.md R14.3). The report is also stored at
/// `/api/v1/imports/{import_id}` (readable by the LA). With `Idempotency-Key`, a retry with the
/// same body returns the stored report (header `idempotent-replayed: true`); the same key with
/// another body is 409.
///
/// Who: `la` (a `school` gets 403). What it changes: the lessons of the cases named, their
/// lesson measures (R14.4), and the `lesson_non_engagement` alerts (R14.5). Audited (`import`
/// of a `lesson_import`, outcome `committed` or `rejected`).
#[utoipa::path(
    tag = "cases",
    params(
        PushQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: 1-255 visible ASCII characters"),
    ),
    request_body(content(
        (LessonsBody = "application/json"),
        (String = "text/csv", example = "case_id,date,start_time,subject,mode,planned_minutes,attendance,minutes_late,engagement,teacher,note\n2,2026-11-23,15:45,science,online_one_to_one,45,late,5,3,R. Okoro,first 1:1 slot\n"),
    )),
    responses(
        (status = 200, description = "The import report (invalid rows listed)", body = ImportReport),
        (status = 400, description = "Malformed body, CSV or gzip", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not an `la` client", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, response = IdempotencyConflict),
        (status = 413, description = "Body (after decompression) or row count over the limit", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON or CSV, or an unsupported Content-Encoding", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Body of the wrong shape, or mode=all_or_nothing with an invalid row (nothing stored)", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/lessons")]
pub async fn push_lessons(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    query: web::Query<PushQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Who may push is settled before the body is read, so a refused push costs nothing.
    actor.require(&[Role::La])?;
    let media = media_type(&req);
    let accepted = ["application/json", "text/csv"];
    if !accepted.contains(&media.as_str()) {
        return Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "send the lessons as application/json or text/csv",
        ));
    }
    let limit = req.app_data::<BodyLimit>().map(|l| l.0).unwrap_or(64 << 20);
    let body = read_bounded(&req, payload, limit).await?;
    let mode: PushMode = query.mode.into();
    let parts: [&[u8]; 4] = [
        b"lessons",
        mode.as_str().as_bytes(),
        media.as_bytes(),
        &body,
    ];
    let idem = idempotency(&req, &parts)?;
    let (lessons, pointer_prefix) = parse_off_worker(move || {
        if media == "text/csv" {
            Ok((csv_lessons(&body)?, None))
        } else {
            let parsed: LessonsBody = parse_push_json(&body)?;
            let lessons = parsed
                .lessons
                .into_iter()
                .map(|l| LessonIn {
                    case_id: NumberIn::Value(l.case_id),
                    date: l.date,
                    start_time: l.start_time,
                    subject: l.subject,
                    mode: l.mode,
                    planned_minutes: NumberIn::from_option(l.planned_minutes),
                    attendance: l.attendance,
                    minutes_late: NumberIn::from_option(l.minutes_late),
                    engagement: NumberIn::from_option(l.engagement),
                    teacher: l.teacher,
                    note: l.note,
                })
                .collect::<Vec<_>>();
            Ok((lessons, Some("/lessons")))
        }
    })
    .await?;
    check_rows(&req, lessons.len(), "lessons")?;
    let outcome = lessons::push(
        &state,
        &actor,
        LessonPush {
            lessons,
            pointer_prefix,
            mode,
            idempotency: idem,
        },
    )
    .await?;
    Ok(report_response(outcome))
}

/// A lesson delivered (RULES.md R14.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct LessonView {
    pub case_id: i64,
    pub date: NaiveDate,
    #[schema(example = "10:30")]
    pub start_time: String,
    pub subject: Subject,
    pub mode: LessonMode,
    #[schema(example = 60)]
    pub planned_minutes: i32,
    pub attendance: LessonAttendance,
    pub minutes_late: Option<i32>,
    /// 1 (not engaged) to 4 (fully engaged), for a lesson attended or late.
    pub engagement: Option<i32>,
    pub teacher: Option<String>,
    pub note: Option<String>,
}

impl From<Lesson> for LessonView {
    fn from(l: Lesson) -> Self {
        LessonView {
            case_id: l.case_id.get(),
            date: l.date,
            start_time: l.start_time,
            subject: l.subject,
            mode: l.mode,
            planned_minutes: l.planned_minutes,
            attendance: l.attendance,
            minutes_late: l.minutes_late,
            engagement: l.engagement,
            teacher: l.teacher,
            note: l.note,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LessonsQuery {
    /// Lessons on or after this date.
    pub from: Option<NaiveDate>,
    /// Lessons on or before this date.
    pub to: Option<NaiveDate>,
    /// `english`, `maths`, `science` or `other`.
    #[param(value_type = Option<Subject>)]
    pub subject: Option<QueryWord<Subject>>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The ESMA lessons of a case, in the order they were first pushed.
///
/// Who: `la`, or the case's school (another school's case is 404). Changes nothing; the read is
/// audited (one row per page), and so is a 404. The lesson measures are on the case
/// (`GET /api/v1/cases/{id}`, `lessons`).
#[utoipa::path(
    tag = "cases",
    params(("id" = i64, Path, description = "Case id", example = 1), LessonsQuery),
    responses(
        (status = 200, description = "A page of lessons", body = Page<LessonView>),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/cases/{id}/lessons")]
pub async fn list_case_lessons(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    query: web::Query<LessonsQuery>,
) -> Result<web::Json<Page<LessonView>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let subject = q
        .subject
        .map(|s| s.known("subject", "english, maths, science or other"))
        .transpose()?;
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from > to {
            return Err(ApiError::invalid_field(
                "/query/to",
                format!("to ({to}) is before from ({from})"),
            ));
        }
    }
    let filter = LessonFilter {
        from: q.from,
        to: q.to,
        subject,
        after_id: decode_cursor("lessons", q.cursor.as_deref())?,
    };
    let (lessons, next) = cases::lessons(&state, &actor, CaseId::from(*id), filter, limit).await?;
    Ok(web::Json(Page {
        items: lessons.into_iter().map(LessonView::from).collect(),
        next_cursor: next.map(|id| encode_cursor("lessons", id)),
    }))
}
