//! `GET /api/v1/pupils/{upn}/attendance` and `GET /api/v1/alerts` (API.md "Attendance").

use std::collections::BTreeMap;

use actix_web::{get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extract::{comma_list, decode_cursor, encode_cursor, page_limit, query_upn, ValidJson};
use super::problem::{
    BadRequest, ListFailures, NotFound, PayloadTooLarge, ReadFailures, Unauthorized,
    UnsupportedMediaType, PROBLEM_JSON,
};
use super::pupils::RangeQuery;
use super::Page;
use crate::domain::alerts::{AlertKind, AlertState};
use crate::domain::attendance::IllnessRun;
use crate::domain::codes::Session;
use crate::error::{ApiError, Problem};
use crate::service::alerts::{self, AlertQuery, AlertView};
use crate::service::attendance::{self, PupilAttendance, SummarySource};
use crate::service::{Actor, AppState};

/// Illness days (RULES.md R4): half days count.
#[derive(Debug, Serialize, ToSchema)]
pub struct IllnessView {
    /// Illness days in the range (the academic year to date by default; R4.2).
    #[schema(example = 12.5)]
    pub days_cumulative: f64,
    /// The run containing the pupil's latest possible session; 0 when that session is not
    /// illness (R4.3).
    #[schema(example = 4.0)]
    pub current_streak_days: f64,
    /// The longest run (R4.3).
    #[schema(example = 6.5)]
    pub longest_streak_days: f64,
}

/// A run of illness sessions, first to last.
#[derive(Debug, Serialize, ToSchema)]
pub struct IllnessRunView {
    pub first_date: NaiveDate,
    pub first_session: Session,
    pub last_date: NaiveDate,
    pub last_session: Session,
    pub sessions: u32,
    pub days: f64,
}

impl From<IllnessRun> for IllnessRunView {
    fn from(run: IllnessRun) -> Self {
        IllnessRunView {
            first_date: run.first.0,
            first_session: run.first.1,
            last_date: run.last.0,
            last_session: run.last.1,
            sessions: run.sessions,
            days: run.days(),
        }
    }
}

/// What the numbers rest on.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttendanceFactsView {
    /// `maintained`: the tallies kept up to date on every register push (the default range);
    /// `register`: the marks of the range asked for, counted when asked.
    pub source: SummarySource,
    /// The schools whose registers are counted (a school client: its own).
    pub schools: Vec<i32>,
    pub first_marked_day: Option<NaiveDate>,
    pub last_marked_day: Option<NaiveDate>,
    /// School days between the first and last marked day with no mark at all: skipped by the
    /// illness runs (R4.3).
    pub days_without_marks: u32,
    pub longest_illness_streak: Option<IllnessRunView>,
    pub current_illness_streak: Option<IllnessRunView>,
    /// When cumulative illness reached the sickness-return threshold (R4.4), if it has.
    pub sickness_return_reached_on: Option<NaiveDate>,
}

/// A pupil's attendance (RULES.md R2, R4; API.md "Attendance").
#[derive(Debug, Serialize, ToSchema)]
pub struct AttendanceView {
    pub upn: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Sessions in the four possible categories (R2.1).
    pub possible_sessions: u32,
    pub present: u32,
    pub approved_educational_activity: u32,
    pub authorised_absence: u32,
    pub unauthorised_absence: u32,
    /// Sessions not possible or not collected (R2.1).
    pub not_possible: u32,
    /// Percent, one decimal.
    #[schema(example = 91.3)]
    pub attendance_rate: f64,
    /// Percent, one decimal.
    #[schema(example = 8.7)]
    pub absence_rate: f64,
    /// Absence of 10% or more (R2.2; never with fewer than 20 possible sessions).
    pub persistent_absence: bool,
    /// Absence of 50% or more (R2.2).
    pub severe_absence: bool,
    pub illness: IllnessView,
    /// Sessions per register code.
    #[schema(example = json!({"/": 70, "\\": 69, "I": 12}))]
    pub by_code: BTreeMap<String, u32>,
    pub facts: AttendanceFactsView,
}

impl From<PupilAttendance> for AttendanceView {
    fn from(a: PupilAttendance) -> Self {
        let m = a.measures;
        AttendanceView {
            upn: a.upn,
            from: a.from,
            to: a.to,
            possible_sessions: m.possible_sessions,
            present: m.present,
            approved_educational_activity: m.approved_educational_activity,
            authorised_absence: m.authorised_absence,
            unauthorised_absence: m.unauthorised_absence,
            not_possible: m.not_possible,
            attendance_rate: m.attendance_rate,
            absence_rate: m.absence_rate,
            persistent_absence: m.persistent_absence,
            severe_absence: m.severe_absence,
            illness: IllnessView {
                days_cumulative: a.illness_days_cumulative,
                current_streak_days: a.current_streak.map_or(0.0, |r| r.days()),
                longest_streak_days: a.longest_streak.map_or(0.0, |r| r.days()),
            },
            by_code: m.by_code,
            facts: AttendanceFactsView {
                source: a.source,
                schools: a.schools,
                first_marked_day: a.first_marked_day,
                last_marked_day: a.last_marked_day,
                days_without_marks: a.days_without_marks,
                longest_illness_streak: a.longest_streak.map(IllnessRunView::from),
                current_illness_streak: a.current_streak.map(IllnessRunView::from),
                sickness_return_reached_on: a.sickness_return_reached.map(|r| r.0),
            },
        }
    }
}

/// A pupil's attendance measures and illness facts.
///
/// Who: `la` (all schools' registers) or `school` (its own register).
/// Without `from`/`to`, the academic year to date from the tallies maintained on ingest; with
/// either, counted from the marks of that range. Changes nothing; the read is audited.
#[utoipa::path(
    tag = "attendance",
    params(("upn" = String, Path, description = "The pupil's UPN", example = "H801200001001"), RangeQuery),
    responses(
        (status = 200, description = "The pupil's attendance", body = AttendanceView),
        ReadFailures,
        (status = 422, description = "from after to", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/pupils/{upn}/attendance")]
pub async fn get_attendance(
    state: web::Data<AppState>,
    actor: Actor,
    upn: web::Path<String>,
    range: web::Query<RangeQuery>,
) -> Result<web::Json<AttendanceView>, ApiError> {
    let found = attendance::summary(&state, &actor, &upn, range.from, range.to).await?;
    Ok(web::Json(found.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only these kinds, comma-separated: from the register `sickness_return_due`,
    /// `unexplained_absence_overdue`, `persistent_absence`, `severe_absence`,
    /// `unauthorised_absence_10_days`, `c2_without_agreement`, `part_time_timetable_overrun`;
    /// from referrals `assessment_overdue`; from cases `review_overdue`,
    /// `medical_evidence_due`, `register_code_mismatch`, `support_non_engagement`,
    /// `lesson_non_engagement`; from part-time timetables `part_time_review_overdue`,
    /// `part_time_timetable_prolonged`.
    #[param(example = "sickness_return_due,unexplained_absence_overdue")]
    pub kind: Option<String>,
    /// Only this school (a school client: one of its own).
    pub school_urn: Option<i32>,
    /// Only this pupil.
    pub upn: Option<String>,
    /// `open` (default), `resolved` or `all`.
    // Read as text and parsed by `AlertStateFilter::parse`: a value it does not know is a 422
    // naming the field, as it always was.
    #[param(value_type = Option<AlertStateFilter>, inline, example = "open")]
    pub state: Option<String>,
    /// `false` (default): alerts nobody has acknowledged, the worklist still to act on;
    /// `true`: only acknowledged ones; `all`: both (RULES.md R16.3).
    #[param(value_type = Option<AcknowledgedFilter>, inline, example = "false")]
    pub acknowledged: Option<String>,
    /// Only alerts whose `since` is on or after this date.
    pub from: Option<NaiveDate>,
    /// Only alerts whose `since` is on or before this date.
    pub to: Option<NaiveDate>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Which alerts the worklist lists by their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStateFilter {
    /// Those whose cause still holds.
    #[default]
    Open,
    Resolved,
    All,
}

impl AlertStateFilter {
    /// The `state` of a query (default `open`). The answer to a value it does not know is the
    /// worklist's own 422 on `/query/state`, not the 400 a query that fails to deserialize gets.
    fn parse(text: Option<&str>) -> Result<AlertStateFilter, ApiError> {
        use serde::de::value::{Error, StrDeserializer};
        let Some(text) = text else {
            return Ok(AlertStateFilter::default());
        };
        AlertStateFilter::deserialize(StrDeserializer::<Error>::new(text)).map_err(|_| {
            ApiError::invalid_field(
                "/query/state",
                format!(
                    "state should be open, resolved or all, not '{}'",
                    text.chars().take(60).collect::<String>()
                ),
            )
        })
    }

    /// The alerts in which state; `None`: both.
    fn state(self) -> Option<AlertState> {
        match self {
            AlertStateFilter::Open => Some(AlertState::Open),
            AlertStateFilter::Resolved => Some(AlertState::Resolved),
            AlertStateFilter::All => None,
        }
    }
}

/// Which alerts the worklist lists by their acknowledgement (RULES.md R16.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AcknowledgedFilter {
    /// Not acknowledged: the default worklist.
    #[default]
    False,
    True,
    All,
}

impl AcknowledgedFilter {
    /// The `acknowledged` of a query (default `false`); another value is a 422 on
    /// `/query/acknowledged`.
    fn parse(text: Option<&str>) -> Result<AcknowledgedFilter, ApiError> {
        use serde::de::value::{Error, StrDeserializer};
        let Some(text) = text else {
            return Ok(AcknowledgedFilter::default());
        };
        AcknowledgedFilter::deserialize(StrDeserializer::<Error>::new(text)).map_err(|_| {
            ApiError::invalid_field(
                "/query/acknowledged",
                format!(
                    "acknowledged should be false, true or all, not '{}'",
                    text.chars().take(60).collect::<String>()
                ),
            )
        })
    }

    fn acknowledged(self) -> Option<bool> {
        match self {
            AcknowledgedFilter::False => Some(false),
            AcknowledgedFilter::True => Some(true),
            AcknowledgedFilter::All => None,
        }
    }
}

/// Who acknowledged an alert, when, and their note (RULES.md R16.3).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AlertAcknowledgement)]
pub struct AcknowledgementView {
    /// The client that acknowledged it.
    #[schema(example = "la-officer-1")]
    pub by: String,
    pub at: DateTime<Utc>,
    #[schema(example = "Spoke to the school: return sent on 20 November")]
    pub note: String,
}

/// A duty someone must act on: computed from the register, a referral's deadline or a case.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertItem {
    pub id: i64,
    pub kind: AlertKind,
    pub upn: String,
    pub school_urn: i32,
    #[schema(example = "2026-27")]
    pub academic_year: String,
    /// When the cause began: the session that reached 15 illness days or 10 days of
    /// unauthorised absence, the date of the `N`, the latest session when an absence flag was
    /// set.
    pub since: NaiveDate,
    /// The last day to act: for an `N`, the 5th school day after it (R5.1); a sickness return is
    /// due at once (`since`); null where no rule sets a deadline (persistent and severe absence).
    pub due_by: Option<NaiveDate>,
    /// `open` or `resolved`.
    pub state: AlertState,
    pub raised_on: NaiveDate,
    pub resolved_on: Option<NaiveDate>,
    /// Why it was resolved.
    pub resolution: Option<String>,
    /// Who acknowledged it, when and why; null while nobody has (R16.3). An acknowledged alert
    /// stays open while its cause holds but leaves the default worklist.
    pub acknowledgement: Option<AcknowledgementView>,
    /// The numbers behind it, as they are now.
    #[schema(value_type = Object, example = json!({"illness_days_cumulative": 15.5, "threshold_days": 15.0, "reached_on": "2026-11-12", "reached_session": "PM", "current_streak_days": 9.0, "longest_streak_days": 9.0}))]
    pub facts: serde_json::Value,
}

impl From<AlertView> for AlertItem {
    fn from(a: AlertView) -> Self {
        AlertItem {
            id: a.id,
            kind: a.kind,
            upn: a.upn,
            school_urn: a.school_urn,
            academic_year: a.academic_year.to_string(),
            since: a.since,
            due_by: a.due_by,
            state: a.state,
            raised_on: a.raised_on,
            resolved_on: a.resolved_on,
            resolution: a.resolution,
            acknowledgement: a.acknowledgement.map(|k| AcknowledgementView {
                by: k.by,
                at: k.at.and_utc(),
                note: k.note,
            }),
            facts: a.facts,
        }
    }
}

/// The worklist of alerts, oldest first.
///
/// Who: `la` (every school) or `school` (its own schools). It lists the statutory alerts computed
/// from the register, overdue referral assessments and the alerts of active cases; an `N` is listed
/// from the day it is overdue; resolved alerts with `state=resolved` or `all`. Acknowledged
/// alerts (RULES.md R16.3) leave the default list (`acknowledged=false`): ask for them with
/// `acknowledged=true` or `all`.
/// What it changes: the alerts of active cases are brought up to date as the list is read, and any
/// alert raised or resolved so appears on the change feed. The read is audited (one row per page).
#[utoipa::path(
    tag = "attendance",
    params(AlertsQuery),
    responses(
        (status = 200, description = "A page of alerts", body = Page<AlertItem>),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/alerts")]
pub async fn list_alerts(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<AlertsQuery>,
) -> Result<web::Json<Page<AlertItem>>, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let kinds = q
        .kind
        .as_deref()
        .map(|k| comma_list("kind", k, &AlertKind::ALL, AlertKind::as_str))
        .transpose()?;
    let state_filter = AlertStateFilter::parse(q.state.as_deref())?;
    let acknowledged = AcknowledgedFilter::parse(q.acknowledged.as_deref())?;
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from > to {
            return Err(ApiError::invalid_field(
                "/query/from",
                format!("from ({from}) is after to ({to})"),
            ));
        }
    }
    let upn = q.upn.as_deref().map(query_upn).transpose()?;
    let page = alerts::list(
        &state,
        &actor,
        AlertQuery {
            kinds,
            school_urn: q.school_urn,
            upn,
            state: state_filter.state(),
            acknowledged: acknowledged.acknowledged(),
            since_from: q.from,
            since_to: q.to,
            after_id: decode_cursor("alerts", q.cursor.as_deref())?,
            limit,
        },
    )
    .await?;
    Ok(web::Json(Page {
        next_cursor: page.next_after_id.map(|id| encode_cursor("alerts", id)),
        items: page.alerts.into_iter().map(AlertItem::from).collect(),
    }))
}

/// What an officer says on acknowledging an alert (RULES.md R16.3).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeBody {
    /// Why the alert needs no more action for now, or what was done.
    #[validate(length(min = 1, max = 2000, message = "should be 1 to 2000 characters"))]
    #[schema(
        min_length = 1,
        max_length = 2000,
        example = "Sickness return received from the school on 23 November"
    )]
    pub note: String,
}

/// Acknowledge an alert: it stays open while its cause holds but leaves the default worklist.
///
/// Who: `la` (any alert) or `school` (its own pupils' attendance alerts: `sickness_return_due`,
/// `unexplained_absence_overdue`, `persistent_absence`, `severe_absence`,
/// `unauthorised_absence_10_days`, `c2_without_agreement`, `part_time_timetable_overrun`;
/// another school's alert is 404, a referral, case or part-time timetable alert 403).
/// What it changes: records who acknowledged it, when, and the note (RULES.md R16.3). The first
/// acknowledgement stands: acknowledging an acknowledged alert answers 200 with it unchanged. A
/// resolved alert cannot be acknowledged (409); if its cause comes back it is raised as a new,
/// unacknowledged alert. Audited (refusals too); the change feed shows the alert `acknowledged`.
#[utoipa::path(
    tag = "attendance",
    params(("id" = i64, Path, description = "The alert's id")),
    request_body = AcknowledgeBody,
    responses(
        (status = 200, description = "The alert, acknowledged", body = AlertItem),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "A school acknowledging a referral or case alert, or a role that may not", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, response = NotFound),
        (status = 409, description = "The alert is resolved", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The note is empty or too long", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[post("/alerts/{id}/acknowledge")]
pub async fn acknowledge_alert(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<i64>,
    body: ValidJson<AcknowledgeBody>,
) -> Result<web::Json<AlertItem>, ApiError> {
    let alert = alerts::acknowledge(&state, &actor, *id, body.0.note).await?;
    Ok(web::Json(alert.into()))
}
