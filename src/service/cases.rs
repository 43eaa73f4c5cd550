//! Support episodes (RULES.md R11-R13; API.md "Cases"): the schedule planned when a case opens,
//! reviews held and moved, medical evidence, the alerts of active cases and the exit. The LA
//! writes; a school reads its own cases and records review outcomes for them (404 for another
//! school's, as for any of its data). Every read and write is audited.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::alerts;
use super::attendance::to_session_marks;
use super::webhooks::Outgoing;
use super::{page_of, Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::alerts::Alert;
use crate::domain::audit::AuditOutcome;
use crate::domain::calendar::{AcademicYear, SchoolCalendar};
use crate::domain::case::{
    Case, CaseId, CaseStatus, Evidence, Review, ReviewId, ReviewOutcome, ReviewStatus,
};
use crate::domain::changes::{Change, ChangeAction};
use crate::domain::codes::AttendanceCode;
use crate::domain::eligibility::long_date;
use crate::domain::events::EventType;
use crate::domain::exit::{
    exit_problems, non_attendance_facts, non_attendance_warning, re_referral,
    register_code_guidance, with_lessons, CaseFacts, ExitReason, ExitRequest, ReReferral,
    RegisterFacts,
};
use crate::domain::lessons::LessonFilter;
use crate::domain::lessons::{case_measures, CaseLessonMeasures, Lesson};
use crate::domain::plan::RecordedProgress;
use crate::domain::plan::{PlanBody, TargetProgress};
use crate::domain::policy::Policy;
use crate::domain::referral::EvidenceItem;
use crate::domain::schedule::{evidence_clock, plan, GateState, ReviewKind};
use crate::error::ApiError;
use crate::store::cases::{self as store, CaseFilter, NewEvidence, NewReview, ReviewFilter};
use crate::store::lessons as lesson_store;
use crate::store::plans;
use crate::store::{audit, calendars, changes, marks, pupils, referrals, DbConnection};

/// A case as the API shows it: the case with its schedule, evidence, evidence clock, the
/// register code to use now and its open alerts.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub case: Case,
    pub reviews: Vec<Review>,
    pub evidence: Vec<Evidence>,
    pub evidence_clock: Vec<GateState>,
    /// While the case is active, the code the school records supported sessions with (R12.3).
    pub support_register_code: Option<AttendanceCode>,
    pub register_code_now: String,
    pub open_alerts: Vec<Alert>,
    pub re_referral: Option<ReReferral>,
    /// R14.4, worked out from the case's lessons as it is read (one indexed query: a case has a
    /// few hundred lessons a year at most).
    pub lessons: CaseLessonMeasures,
}

pub(crate) fn not_found(id: CaseId) -> ApiError {
    ApiError::not_found(format!("no case {id} that you can see"))
}

/// R11: plans the reviews of a case that opens on `start` (called when a referral is accepted);
/// returns their ids.
pub(crate) fn plan_reviews(
    conn: &mut DbConnection,
    case_id: CaseId,
    start: NaiveDate,
    policy: &Policy,
    now: NaiveDateTime,
) -> Result<Vec<ReviewId>, ApiError> {
    let calendar = SchoolCalendar::new(calendars::all(conn)?);
    let rows: Vec<NewReview> = plan(start, &calendar, &policy.schedule)
        .into_iter()
        .map(|r| NewReview {
            case_id,
            kind: r.kind,
            label: r.label,
            due_on: r.due_on,
            updated_at: now,
        })
        .collect();
    Ok(store::insert_reviews(conn, &rows)?)
}

/// Every date of medical evidence known for a case: the referral's and what came after.
fn evidence_dates(
    conn: &mut DbConnection,
    case: &Case,
    received: &[Evidence],
) -> Result<Vec<NaiveDate>, ApiError> {
    let mut dates: Vec<NaiveDate> = received
        .iter()
        .filter(|e| e.item.states_unable_to_attend)
        .map(|e| e.issued_on)
        .collect();
    if let Some(referral) = referrals::find(conn, case.referral_id)? {
        dates.extend(referral.form.dates_unable_to_attend());
    }
    Ok(dates)
}

fn load(
    conn: &mut DbConnection,
    id: CaseId,
    policy: &Policy,
    today: NaiveDate,
) -> Result<Option<CaseRecord>, ApiError> {
    let Some(case) = store::find(conn, id)? else {
        return Ok(None);
    };
    let calendar = SchoolCalendar::new(calendars::all(conn)?);
    let evidence = store::evidence_of(conn, id)?;
    let active = case.is_active();
    let dates = evidence_dates(conn, &case, &evidence)?;
    let clock = if active {
        evidence_clock(case.start_date, &dates, &calendar, &policy.schedule, today)
    } else {
        Vec::new()
    };
    // R12.3: the first of the policy's support codes is the one to use (validated non-empty).
    let support_code = policy
        .support
        .register_codes
        .first()
        .copied()
        .unwrap_or(AttendanceCode::C2);
    let open_alerts = alerts::open_of_case(conn, id, case.school_urn, &case.upn)?;
    Ok(Some(CaseRecord {
        support_register_code: active.then_some(support_code),
        register_code_now: register_code_guidance(
            active,
            support_code,
            case.exit_effective_date.unwrap_or(today),
        ),
        re_referral: case.exit.as_ref().map(|e| re_referral(e.reason)),
        reviews: store::reviews_of(conn, id)?,
        evidence,
        evidence_clock: clock,
        open_alerts,
        lessons: case_measures(&lesson_store::of_case(conn, id)?),
        case,
    }))
}

/// The case if this actor may see it.
fn visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: CaseId,
    policy: &Policy,
    today: NaiveDate,
) -> Result<Option<CaseRecord>, ApiError> {
    Ok(load(conn, id, policy, today)?
        .filter(|c| actor.role == Role::La || actor.schools.contains(&c.case.school_urn)))
}

fn subject(case: &Case) -> AuditSubject {
    AuditSubject::new("case", case.id.to_string())
        .school(case.school_urn)
        .pupil(case.upn.clone())
}

/// Runs `work` on a case the actor may see (404 otherwise, audited as refused) and audits it;
/// what `work` changed goes on the change feed last, once its other writes are done.
pub(crate) async fn with_case<T, F>(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
    action: &'static str,
    work: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(
            &mut DbConnection,
            &Actor,
            CaseRecord,
            &Policy,
            NaiveDate,
            NaiveDateTime,
            &mut Vec<Change>,
        ) -> Result<T, ApiError>
        + Send
        + 'static,
{
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.policy.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let Some(found) = visible(conn, &actor, id, &policy, today)? else {
                let mut event = actor.audit(now, action, AuditSubject::new("case", id.to_string()));
                event.outcome = AuditOutcome::NotFound.as_str().to_string();
                audit::append(conn, &[event])?;
                return Ok(Err(not_found(id)));
            };
            let event = actor.audit(now, action, subject(&found.case));
            let mut changed = Vec::new();
            let result = work(conn, &actor, found, &policy, today, now, &mut changed)?;
            if action != "read" {
                // What the write changed (a review held or moved, evidence received, the case
                // closed) is reflected in its alerts now: the worklist follows the clock only
                // once a day (`alerts::ClockFollowed`).
                changed.extend(alerts::reconcile_case(conn, &policy, today, id)?);
            }
            audit::append(conn, &[event])?;
            changes::record_at(conn, now, &changed)?;
            Ok(Ok(result))
        })
        .await?
}

/// `GET /api/v1/cases/{id}`.
pub async fn get(state: &AppState, actor: &Actor, id: CaseId) -> Result<CaseRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(
        state,
        actor,
        id,
        "read",
        move |conn, _, found, policy, today, _, changed| {
            // Its alerts as of today, not as of the last time someone read the alert list;
            // loaded again only when that changed them.
            let reconciled = alerts::reconcile_case(conn, policy, today, id)?;
            if reconciled.is_empty() {
                return Ok(found);
            }
            changed.extend(reconciled);
            load(conn, id, policy, today)?.ok_or_else(|| not_found(id))
        },
    )
    .await
}

#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    pub status: Option<CaseStatus>,
    pub school_urn: Option<i32>,
    pub upn: Option<String>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

pub struct CasePage {
    pub cases: Vec<CaseRecord>,
    pub next_after_id: Option<i64>,
}

/// `GET /api/v1/cases`: one audit row per page.
pub async fn list(state: &AppState, actor: &Actor, query: CaseQuery) -> Result<CasePage, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let schools = actor.schools_to_list(query.school_urn)?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.policy.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let filter = CaseFilter {
                status: query.status,
                schools,
                upn: query.upn.clone(),
                after_id: query.after_id,
            };
            let rows = store::page(conn, &filter, query.limit + 1)?;
            let (rows, next_after_id) = page_of(rows, query.limit, |r| r.id.get());
            let mut cases = Vec::with_capacity(rows.len());
            for row in rows {
                if let Some(found) = load(conn, row.id, &policy, today)? {
                    cases.push(found);
                }
            }
            let subject = AuditSubject::list("cases", "list", query.school_urn, query.upn);
            audit::append(conn, &[actor.audit(now, "read", subject)])?;
            Ok(CasePage {
                cases,
                next_after_id,
            })
        })
        .await
}

pub(crate) fn active_or_conflict(found: &CaseRecord, wanted: &str) -> Result<(), ApiError> {
    if found.case.is_active() {
        Ok(())
    } else {
        Err(ApiError::conflict(format!(
            "case {} is closed (exit on {}), so it cannot be {wanted}",
            found.case.id,
            found
                .case
                .exit_effective_date
                .map_or_else(|| "an earlier date".to_string(), |d| d.to_string())
        )))
    }
}

/// R11.5: a review date must be a school day on or after the case start.
fn check_review_date(
    calendar: &SchoolCalendar,
    start: NaiveDate,
    date: NaiveDate,
    pointer: &str,
) -> Result<(), ApiError> {
    if date < start {
        return Err(ApiError::invalid_field(
            pointer,
            format!("{date} is before the case started ({start})"),
        ));
    }
    if !calendar.is_school_day(date) {
        return Err(ApiError::invalid_field(
            pointer,
            format!(
                "{} is not a school day; the next one is {}",
                long_date(date),
                calendar.next_school_day_on_or_after(date)
            ),
        ));
    }
    Ok(())
}

/// `POST /api/v1/cases/{id}/reviews` (`la`): an extra review meeting.
pub async fn add_review(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
    scheduled_for: NaiveDate,
    label: Option<String>,
) -> Result<CaseRecord, ApiError> {
    actor.require(&[Role::La])?;
    with_case(
        state,
        actor,
        id,
        "update",
        move |conn, _, found, policy, today, now, changed| {
            active_or_conflict(&found, "given another review")?;
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            check_review_date(
                &calendar,
                found.case.start_date,
                scheduled_for,
                "/scheduled_for",
            )?;
            let added = store::insert_reviews(
                conn,
                &[NewReview {
                    case_id: id,
                    kind: ReviewKind::ReviewMeeting,
                    label: label
                        .filter(|l| !l.trim().is_empty())
                        .unwrap_or_else(|| "extra review meeting".to_string()),
                    due_on: scheduled_for,
                    updated_at: now,
                }],
            )?;
            let urn = found.case.school_urn;
            changed.extend(
                added
                    .into_iter()
                    .map(|review| Change::review(review, urn, ChangeAction::Added)),
            );
            // The answer shows the alerts as the new review leaves them.
            changed.extend(alerts::reconcile_case(conn, policy, today, id)?);
            load(conn, id, policy, today)?.ok_or_else(|| not_found(id))
        },
    )
    .await
}

/// What a review PATCH asks for: a new date, or the outcome of the meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewChange {
    /// Move the review (`la`): a school day on or after the case start.
    pub scheduled_for: Option<NaiveDate>,
    /// Record that it was held (`la`, or the case's school).
    #[validate(nested)]
    pub outcome: Option<ReviewOutcome>,
    /// With `outcome`, while the case has an agreed plan: progress on every target of the agreed
    /// version in force (RULES.md R14.2).
    #[serde(default)]
    #[validate(
        length(max = 50, message = "give at most 50 targets' progress"),
        nested
    )]
    #[schema(max_items = 50)]
    pub target_progress: Vec<TargetProgress>,
    /// With `outcome`: a revised plan agreed at the review, the whole plan as `PUT .../plan` takes
    /// it; it becomes a new version linked to the review (RULES.md R14.2).
    #[validate(nested)]
    pub revised_plan: Option<PlanBody>,
}

/// A review as a PATCH leaves it, with what it recorded against the plan (R14.2).
pub struct ReviewChanged {
    pub review: Review,
    pub at_review: super::plans::AtReview,
}

/// `PATCH /api/v1/cases/{id}/reviews/{review_id}`.
pub async fn change_review(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
    review_id: ReviewId,
    change: ReviewChange,
) -> Result<ReviewChanged, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    if change.scheduled_for.is_some() && actor.role != Role::La {
        return Err(ApiError::forbidden(
            "only the LA reschedules reviews; a school records their outcome",
        ));
    }
    if change.scheduled_for.is_none() && change.outcome.is_none() {
        return Err(ApiError::invalid_field(
            "",
            "give scheduled_for (to move the review) or outcome (to record it)",
        ));
    }
    if change.outcome.is_none()
        && (!change.target_progress.is_empty() || change.revised_plan.is_some())
    {
        return Err(ApiError::invalid_field(
            "/outcome",
            "target_progress and revised_plan are recorded with the review's outcome",
        ));
    }
    with_case(
        state,
        actor,
        id,
        "update",
        move |conn, actor, found, _, today, now, changed| {
            active_or_conflict(&found, "changed")?;
            let mut at_review = super::plans::AtReview::default();
            let Some(review) = store::review(conn, id, review_id)? else {
                return Err(ApiError::not_found(format!(
                    "case {id} has no review {review_id}"
                )));
            };
            if review.status != ReviewStatus::Scheduled {
                return Err(ApiError::conflict(format!(
                    "review {review_id} is {}, so it cannot be changed",
                    review.status
                )));
            }
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            if let Some(to) = change.scheduled_for {
                check_review_date(&calendar, found.case.start_date, to, "/scheduled_for")?;
                store::reschedule(
                    conn,
                    review_id,
                    to,
                    &format!("moved from {}", review.scheduled_for),
                    now,
                )?;
                changed.push(Change::review(
                    review_id,
                    found.case.school_urn,
                    ChangeAction::Rescheduled,
                ));
            }
            if let Some(outcome) = &change.outcome {
                if outcome.held_on > today {
                    return Err(ApiError::invalid_field(
                        "/outcome/held_on",
                        format!(
                            "{} is in the future; record the outcome once it is held",
                            outcome.held_on
                        ),
                    ));
                }
                if outcome.held_on < found.case.start_date {
                    return Err(ApiError::invalid_field(
                        "/outcome/held_on",
                        format!(
                            "{} is before the case started ({})",
                            outcome.held_on, found.case.start_date
                        ),
                    ));
                }
                store::hold(conn, review_id, outcome.held_on, Some(outcome), None, now)?;
                changed.push(Change::review(
                    review_id,
                    found.case.school_urn,
                    ChangeAction::Held,
                ));
                at_review = super::plans::record_at_review(
                    conn,
                    actor,
                    &found.case,
                    review_id,
                    outcome.held_on,
                    &change.target_progress,
                    change.revised_plan.clone(),
                    now,
                    changed,
                )?;
            }
            Ok(ReviewChanged {
                review: store::review(conn, id, review_id)?
                    .ok_or_else(|| ApiError::internal("the review vanished"))?,
                at_review,
            })
        },
    )
    .await
}

/// `GET /api/v1/cases/{id}/lessons`: a page of the case's lessons (R14.3), audited like every
/// pupil read; the page's lessons with the id of the last, when more may follow.
pub async fn lessons(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
    filter: LessonFilter,
    limit: i64,
) -> Result<(Vec<Lesson>, Option<i64>), ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(state, actor, id, "read", move |conn, _, _, _, _, _, _| {
        let page = lesson_store::page(conn, id, &filter, limit)?;
        let next = (page.len() as i64 == limit)
            .then(|| page.last().map(|(id, _)| *id))
            .flatten();
        Ok((page.into_iter().map(|(_, l)| l).collect(), next))
    })
    .await
}

/// `GET /api/v1/cases/{id}/reviews`.
/// With the progress each recorded on the plan's targets (R14.2).
pub async fn reviews(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
) -> Result<(Vec<Review>, Vec<RecordedProgress>), ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(
        state,
        actor,
        id,
        "read",
        move |conn, _, found, _, _, _, _| Ok((found.reviews, plans::progress_of_case(conn, id)?)),
    )
    .await
}

/// `POST /api/v1/cases/{id}/medical-evidence`: restarts the evidence clocks (R11.4) and
/// satisfies the termly evidence update of the term it falls in (R11.3).
pub async fn add_evidence(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
    item: EvidenceItem,
) -> Result<CaseRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    with_case(
        state,
        actor,
        id,
        "update",
        move |conn, actor, found, policy, today, now, changed| {
            active_or_conflict(&found, "given evidence")?;
            if item.issued_on > today {
                return Err(ApiError::invalid_field(
                    "/issued_on",
                    format!("{} is in the future", item.issued_on),
                ));
            }
            let note = format!(
                "satisfied by medical evidence ({}) issued on {}",
                item.source.as_str(),
                item.issued_on
            );
            store::insert_evidence(
                conn,
                &NewEvidence {
                    case_id: id,
                    item,
                    received_at: now,
                    recorded_by: actor.client_id.clone(),
                },
            )?;
            let urn = found.case.school_urn;
            changed.push(Change::case(id, urn, ChangeAction::EvidenceAdded));
            // R11.3: evidence received during a term satisfies that term's update.
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            if let Some(term) = calendar
                .calendar_for(AcademicYear::containing(today))
                .and_then(|c| c.terms.iter().find(|t| t.contains(today)).cloned())
            {
                for review in found.reviews.iter().filter(|r| {
                    r.status == ReviewStatus::Scheduled
                        && r.kind == ReviewKind::MedicalEvidenceUpdate
                        && term.contains(r.due_on)
                }) {
                    store::hold(conn, review.id, today, None, Some(&note), now)?;
                    changed.push(Change::review(review.id, urn, ChangeAction::Held));
                }
            }
            // The answer shows the alerts as the evidence leaves them (R11.4).
            changed.extend(alerts::reconcile_case(conn, policy, today, id)?);
            load(conn, id, policy, today)?.ok_or_else(|| not_found(id))
        },
    )
    .await
}

/// The exit and what follows from it.
pub struct ExitOutcome {
    pub case: CaseRecord,
    pub reviews_cancelled: usize,
    /// R13.2: a `non_attendance` exit with no unauthorised absence in the register or lessons.
    pub warning: Option<String>,
}

/// `POST /api/v1/cases/{id}/exit` (`la`; RULES.md R13).
pub async fn exit(
    state: &AppState,
    actor: &Actor,
    id: CaseId,
    request: ExitRequest,
) -> Result<ExitOutcome, ApiError> {
    actor.require(&[Role::La])?;
    with_case(
        state,
        actor,
        id,
        "exit",
        move |conn, _, found, policy, today, now, changed| {
            active_or_conflict(&found, "exited again")?;
            // The case's school's record of the pupil (details are held per school).
            let dob = pupils::record_at(conn, found.case.school_urn, &found.case.upn)?
                .map(|p| p.date_of_birth)
                .ok_or_else(|| {
                    ApiError::internal("the case's pupil is not on its school's roll")
                })?;
            let problems = exit_problems(
                &request,
                &CaseFacts {
                    start_date: found.case.start_date,
                    school_urn: found.case.school_urn,
                    date_of_birth: dob,
                    la_code: policy.la_code,
                },
            );
            let mut register_facts = None;
            let mut warning = None;
            if problems.is_empty() && request.reason == ExitReason::NonAttendance {
                // R13 "register facts attached": the register from the case start to the effective date (or today), stored with the decision.
                let facts =
                    register_during_case(conn, &found.case, request.effective_date.min(today))?;
                // R13.2 as amended: ESMA's own lessons are evidence beside the register.
                let facts = with_lessons(facts, &lesson_store::of_case(conn, id)?);
                warning = non_attendance_warning(&facts);
                register_facts = Some(facts);
            }
            if !problems.is_empty() {
                return Err(ApiError::from_problems(problems));
            }
            if store::close(
                conn,
                id,
                &request,
                register_facts.as_ref(),
                request.effective_date,
                now,
            )? == 0
            {
                return Err(ApiError::conflict("the case was closed meanwhile"));
            }
            let urn = found.case.school_urn;
            changed.push(Change::case(id, urn, ChangeAction::Closed));
            let cancelled = store::cancel_after(
                conn,
                id,
                request.effective_date,
                &format!("cancelled: case exited ({})", request.reason.as_str()),
                now,
            )?;
            changed.extend(
                cancelled
                    .iter()
                    .map(|review| Change::review(*review, urn, ChangeAction::Cancelled)),
            );
            // The case's own open alerts end with it; the pupil's attendance alerts do not.
            changed.extend(alerts::close_case(conn, id, &found.open_alerts, today)?);
            // R15.3: C2 after the effective date is no longer the support code.
            changed.extend(alerts::reconcile_c2_of_pupil(
                conn,
                urn,
                &found.case.upn,
                (request.effective_date, today),
                today,
            )?);
            super::webhooks::emit(
                conn,
                now,
                &[closed_event(&found.case, &request, cancelled.len())],
            )?;
            Ok(ExitOutcome {
                case: load(conn, id, policy, today)?.ok_or_else(|| not_found(id))?,
                reviews_cancelled: cancelled.len(),
                warning,
            })
        },
    )
    .await
}

/// `case.closed` for the outbox (issue 7): what ended and why, not the notes.
fn closed_event(case: &Case, request: &ExitRequest, reviews_cancelled: usize) -> Outgoing {
    Outgoing::new(
        EventType::CaseClosed,
        case.school_urn,
        serde_json::json!({
            "case_id": case.id, "referral_id": case.referral_id, "school_urn": case.school_urn,
            "upn": case.upn, "reason": request.reason.as_str(),
            "effective_date": request.effective_date, "reviews_cancelled": reviews_cancelled,
            "href": format!("/api/v1/cases/{}", case.id),
        }),
    )
}

/// Which scheduled reviews the worklist shows (`la`: every school's; `school`: its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Every scheduled review.
    Scheduled,
    /// Scheduled for today or later (before `before` when given).
    Due,
    /// Scheduled for before today and not held (R11.5).
    Overdue,
}

pub struct ReviewPage {
    pub reviews: Vec<(Review, Case)>,
    pub next_after_id: Option<i64>,
}

/// `GET /api/v1/reviews?state=&before=`.
pub async fn worklist(
    state: &AppState,
    actor: &Actor,
    wanted: ReviewState,
    before: Option<NaiveDate>,
    school_urn: Option<i32>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<ReviewPage, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let schools = actor.schools_to_list(school_urn)?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let (from, before) = match wanted {
                ReviewState::Scheduled => (None, before),
                ReviewState::Due => (Some(today), before),
                ReviewState::Overdue => (None, Some(before.map_or(today, |b| b.min(today)))),
            };
            let filter = ReviewFilter {
                before,
                from,
                schools,
                after_id,
            };
            let rows = store::scheduled_page(conn, &filter, limit + 1)?;
            let (rows, next_after_id) = page_of(rows, limit, |r| r.0.id.get());
            let subject = AuditSubject::list("reviews", "worklist", school_urn, None);
            audit::append(conn, &[actor.audit(now, "read", subject)])?;
            Ok(ReviewPage {
                reviews: rows,
                next_after_id,
            })
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Register facts of an exit (R13) and calendar changes (issue 6 item 5)
// ---------------------------------------------------------------------------------------------

/// R13: what the case's school's register shows from the case start up to `to`.
fn register_during_case(
    conn: &mut DbConnection,
    case: &Case,
    to: NaiveDate,
) -> Result<RegisterFacts, ApiError> {
    let stored = marks::of_pupil(conn, &case.upn, &[case.school_urn], case.start_date, to)?;
    Ok(non_attendance_facts(
        &to_session_marks(&stored)?,
        case.start_date,
        to,
    ))
}

/// Issue 6 item 5: after the LA changes a calendar, future scheduled reviews that no longer fall
/// on a school day move to the next school day; each move is noted on the review and audited.
/// Returns the moves, for the change feed.
pub(crate) fn follow_calendar_change(
    conn: &mut DbConnection,
    actor: &Actor,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<Vec<Change>, ApiError> {
    let calendar = SchoolCalendar::new(calendars::all(conn)?);
    let mut moved = Vec::new();
    let mut events = Vec::new();
    for (review, school_urn) in store::scheduled_from(conn, today)? {
        if calendar.is_school_day(review.scheduled_for) {
            continue;
        }
        let to = calendar.next_school_day_on_or_after(review.scheduled_for);
        store::reschedule(
            conn,
            review.id,
            to,
            &format!(
                "moved from {} to {to}: the calendar changed and {} is no longer a school day",
                review.scheduled_for, review.scheduled_for
            ),
            now,
        )?;
        events.push(actor.audit(
            now,
            "reschedule",
            AuditSubject::new("review", review.id.to_string()),
        ));
        moved.push(Change::review(
            review.id,
            school_urn,
            ChangeAction::Rescheduled,
        ));
    }
    audit::append(conn, &events)?;
    Ok(moved)
}
