//! Referral intake, assessment, decision and withdrawal (RULES.md R8-R10; API.md "Referrals").
//! Every read and write of a referral is audited in its own transaction; a school client sees
//! only the referrals of its schools (404 otherwise, as for any other school's data).

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

use super::attendance::{to_session_marks, year_to_date};
use super::{alerts, page_of, webhooks, Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::audit::AuditOutcome;
use crate::domain::calendar::SchoolCalendar;
use crate::domain::case::Case;
use crate::domain::changes::{Change, ChangeAction};
use crate::domain::decision::{decision_problems, Decision, DecisionOutcome};
use crate::domain::eligibility::{
    assess, assessment_due_by, EligibilityAssessment, PartTimeAgreementFact, RegisterEvidence,
};
use crate::domain::events::EventType;
use crate::domain::exit::ExitReason;
use crate::domain::policy::Policy;
use crate::domain::referral::{Referral, ReferralForm, ReferralId, ReferralStatus};
use crate::domain::register::covers;
use crate::error::ApiError;
use crate::store::cases::{self as case_store, NewCase};
use crate::store::referrals::{self as store, NewAssessment, NewReferral, ReferralFilter};

pub use crate::domain::referral::StoredAssessment;
use crate::store::{audit, calendars, changes, marks, pupils, DbConnection};

pub use crate::domain::referral::AssessmentTrigger;

/// A referral as the API shows it.
#[derive(Debug, Clone)]
pub struct ReferralRecord {
    pub id: ReferralId,
    pub status: ReferralStatus,
    pub school_urn: i32,
    pub upn: String,
    pub received_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub assessment_due_by: NaiveDate,
    pub assessment_overdue: bool,
    pub form: ReferralForm,
    pub assessment: StoredAssessment,
    /// Every assessment, oldest first (only when one referral is read).
    pub history: Vec<StoredAssessment>,
    pub decision: Option<Decision>,
    pub decided_at: Option<NaiveDateTime>,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub withdrawal_reason: Option<String>,
    pub case: Option<Case>,
}

impl ReferralRecord {
    /// A referral as it stands when it is received: its first assessment, made as it arrived,
    /// and nothing decided yet.
    pub fn received(
        id: ReferralId,
        form: ReferralForm,
        assessment: StoredAssessment,
        assessment_due_by: NaiveDate,
        today: NaiveDate,
    ) -> ReferralRecord {
        let status = ReferralStatus::after_assessment(assessment.assessment.outcome);
        let at = assessment.evaluated_at;
        ReferralRecord {
            id,
            status,
            school_urn: form.school_urn,
            upn: form.pupil.upn.clone(),
            received_at: at,
            updated_at: at,
            assessment_due_by,
            assessment_overdue: status.is_undecided() && assessment_due_by < today,
            form,
            assessment: assessment.clone(),
            history: vec![assessment],
            decision: None,
            decided_at: None,
            withdrawn_at: None,
            withdrawal_reason: None,
            case: None,
        }
    }
}

fn corrupt(id: ReferralId, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("stored referral {id} cannot be read: {e}"))
}

fn record(
    row: Referral,
    assessment: StoredAssessment,
    history: Vec<StoredAssessment>,
    case: Option<Case>,
    today: NaiveDate,
) -> ReferralRecord {
    ReferralRecord {
        id: row.id,
        status: row.status,
        school_urn: row.school_urn,
        upn: row.upn,
        received_at: row.received_at,
        updated_at: row.updated_at,
        assessment_due_by: row.assessment_due_by,
        assessment_overdue: row.status.is_undecided() && row.assessment_due_by < today,
        form: row.form,
        assessment,
        history,
        decision: row.decision,
        decided_at: row.decided_at,
        withdrawn_at: row.withdrawn_at,
        withdrawal_reason: row.withdrawal_reason,
        case,
    }
}

/// The referral with its whole history, or None.
fn load(
    conn: &mut DbConnection,
    id: ReferralId,
    today: NaiveDate,
) -> Result<Option<ReferralRecord>, ApiError> {
    let Some(row) = store::find(conn, id)? else {
        return Ok(None);
    };
    let history = store::assessments_of(conn, id)?;
    // The latest is shown in full as `assessment`; the history stays complete all the same.
    let latest = history
        .last()
        .cloned()
        .ok_or_else(|| corrupt(id, "it has no assessment"))?;
    let case = case_store::of_referral(conn, id)?;
    Ok(Some(record(row, latest, history, case, today)))
}

/// What the register says about the pupil, at every school whose register holds them (R4, R8.3),
/// and the pupil's part-time timetables at the referring school still in force (R15).
fn register_evidence(
    conn: &mut DbConnection,
    school_urn: i32,
    upn: &str,
    first_day: NaiveDate,
    today: NaiveDate,
    policy: &Policy,
    calendar: &SchoolCalendar,
) -> Result<RegisterEvidence, ApiError> {
    let mut schools: Vec<i32> = pupils::enrolments_of(conn, upn)?
        .into_iter()
        .map(|e| e.school_urn)
        .collect();
    schools.sort_unstable();
    schools.dedup();
    let year = year_to_date(
        conn,
        upn,
        schools.clone(),
        today,
        &policy.attendance,
        calendar,
    )?;
    let period_marks = if first_day <= today {
        to_session_marks(&marks::of_pupil(conn, upn, &schools, first_day, today)?)?
    } else {
        Vec::new()
    };
    Ok(RegisterEvidence {
        schools,
        illness_days_cumulative: year.illness_days_cumulative,
        longest_run: year.longest_streak,
        current_run: year.current_streak,
        absence_period_marks: period_marks,
        part_time: crate::store::part_time::of_pupil(conn, school_urn, upn)?
            .into_iter()
            .filter(|t| t.terms.end_date >= today)
            .map(|t| PartTimeAgreementFact {
                part_time_timetable_id: t.id.get(),
                start_date: t.terms.start_date,
                end_date: t.terms.end_date,
                plan: t
                    .terms
                    .case_id
                    .map(|c| format!("case {c}"))
                    .or(t.terms.plan_reference),
            })
            .collect(),
    })
}

/// Assesses and stores the assessment; returns the outcome's status for an undecided referral.
#[allow(clippy::too_many_arguments)]
fn assess_and_store(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    form: &ReferralForm,
    policy: &Policy,
    trigger: AssessmentTrigger,
    actor: &Actor,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<ReferralStatus, ApiError> {
    let calendar = SchoolCalendar::new(calendars::all(conn)?);
    let assessment = assess_on_register(conn, form, policy, &calendar, today)?;
    let status = ReferralStatus::after_assessment(assessment.outcome);
    store_assessment(conn, referral_id, assessment, policy, trigger, actor, now)?;
    Ok(status)
}

/// The referral assessed against the pupil's register as it stands (R8, R9).
fn assess_on_register(
    conn: &mut DbConnection,
    form: &ReferralForm,
    policy: &Policy,
    calendar: &SchoolCalendar,
    today: NaiveDate,
) -> Result<EligibilityAssessment, ApiError> {
    let evidence = register_evidence(
        conn,
        form.school_urn,
        &form.pupil.upn,
        form.absence.first_day,
        today,
        policy,
        calendar,
    )?;
    Ok(assess(form, &evidence, policy, calendar, today))
}

/// Keeps an assessment in the referral's history; the history entry it became.
fn store_assessment(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    assessment: EligibilityAssessment,
    policy: &Policy,
    trigger: AssessmentTrigger,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<StoredAssessment, ApiError> {
    let new = NewAssessment {
        referral_id,
        evaluated_at: now,
        trigger: trigger.as_str(),
        requested_by: actor.client_id.clone(),
        policy_name: policy.name.clone(),
        policy_version: policy.version.clone(),
        assessment,
    };
    let id = store::insert_assessment(conn, &new)?;
    let NewAssessment { assessment, .. } = new;
    Ok(StoredAssessment {
        id,
        evaluated_at: now,
        trigger,
        assessment,
    })
}

/// Shape checks that need the date or the roll, beyond the form's own rules.
fn check_against_roll(
    conn: &mut DbConnection,
    form: &ReferralForm,
    today: NaiveDate,
) -> Result<(), ApiError> {
    if form.pupil.date_of_birth > today {
        return Err(ApiError::invalid_field(
            "/pupil/date_of_birth",
            format!(
                "date of birth {} is in the future",
                form.pupil.date_of_birth
            ),
        ));
    }
    if form.absence.first_day < form.pupil.date_of_birth {
        return Err(ApiError::invalid_field(
            "/absence/first_day",
            "the absence cannot begin before the pupil was born",
        ));
    }
    let urn = form.school_urn;
    let upn = &form.pupil.upn;
    // The referring school's own record of the pupil: another school's MIS may hold other
    // details for a dual-registered pupil (API.md "Pupils").
    let record = pupils::record_at(conn, urn, upn)?
        .filter(|e| covers(e.on_roll_from, e.on_roll_until, today));
    let Some(record) = record else {
        return Err(ApiError::invalid_field(
            "/pupil/upn",
            format!(
                "pupil {upn} is not on the roll of school {urn} today; a referral comes from the pupil's school: push the roll first (PUT /api/v1/schools/{urn}/pupils)"
            ),
        ));
    };
    if record.date_of_birth != form.pupil.date_of_birth {
        return Err(ApiError::invalid_field(
            "/pupil/date_of_birth",
            format!(
                "school {urn}'s roll gives {} as the date of birth of pupil {upn}; correct the referral or the roll",
                record.date_of_birth
            ),
        ));
    }
    Ok(())
}

fn subject(id: ReferralId, urn: i32, upn: &str) -> AuditSubject {
    AuditSubject::new("referral", id.to_string())
        .school(urn)
        .pupil(upn)
}

/// R10.4: 409 while the pupil has an undecided referral or an active case.
///
/// A message never names another school's referral or case (issue 20): a dual-registered
/// pupil's other school is told only that one exists, and who to ask.
fn refuse_duplicate(
    conn: &mut DbConnection,
    actor: &Actor,
    form: &ReferralForm,
    policy: &Policy,
) -> Result<(), ApiError> {
    let upn = form.pupil.upn.as_str();
    if let Some((open, school)) = store::open_of_pupil(conn, upn)? {
        return Err(ApiError::conflict(if actor.sees_school(school) {
            format!("pupil {upn} already has an open referral ({open}); update it with PATCH /api/v1/referrals/{open} or withdraw it first")
        } else {
            format!("pupil {upn} already has an open referral from another school; the LA's ESMA team can tell you more")
        }));
    }
    if let Some((case, school)) = case_store::active_of_pupil(conn, upn)? {
        return Err(ApiError::conflict(if actor.sees_school(school) {
            format!("pupil {upn} already has an active ESMA case ({case}); a new referral is possible after its exit")
        } else {
            format!("pupil {upn} already has an active ESMA case through another school; the LA's ESMA team can tell you more")
        }));
    }
    // R13: re-referral after an exit.
    if let Some(closed) = case_store::last_closed_of_pupil(conn, upn)? {
        let case = if actor.sees_school(closed.school_urn) {
            format!("ESMA case {}", closed.id)
        } else {
            "an ESMA case through another school".to_string()
        };
        match closed.exit.as_ref().map(|e| e.reason) {
            Some(ExitReason::NoLongerCompulsorySchoolAge) => {
                return Err(ApiError::conflict(format!(
                    "pupil {upn} left {case} as no longer of compulsory school age; there is no re-referral"
                )))
            }
            Some(ExitReason::MovedOutOfArea) if form.pupil.home_la_code != Some(policy.la_code) => {
                return Err(ApiError::conflict(format!(
                    "pupil {upn} left {case} on moving out of the area; a new referral needs home_la_code {} (back in the area)",
                    policy.la_code
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `POST /api/v1/referrals`.
pub async fn submit(
    state: &AppState,
    actor: &Actor,
    form: ReferralForm,
) -> Result<ReferralRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    actor.may_write_school(form.school_urn)?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.policy.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| submit_in(conn, &actor, form, &policy, today, now))
        .await
}

/// Receives, assesses and stores a referral in the caller's transaction (also the demo seed).
pub(crate) fn submit_in(
    conn: &mut DbConnection,
    actor: &Actor,
    form: ReferralForm,
    policy: &Policy,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<ReferralRecord, ApiError> {
    check_against_roll(conn, &form, today)?;
    refuse_duplicate(conn, actor, &form, policy)?;
    let calendar = SchoolCalendar::new(calendars::all(conn)?);
    let due_by = assessment_due_by(today, policy, &calendar);
    // Assessed first, so the referral is stored once with the status its assessment gives, and
    // the answer is what was written, not read back (issue 25: a submit's server CPU).
    let assessment = assess_on_register(conn, &form, policy, &calendar, today)?;
    let status = ReferralStatus::after_assessment(assessment.outcome);
    let id = store::insert(
        conn,
        &NewReferral {
            school_urn: form.school_urn,
            upn: form.pupil.upn.clone(),
            form: &form,
            status,
            received_at: now,
            assessment_due_by: due_by,
            created_by: actor.client_id.clone(),
        },
    )
    .map_err(|e| {
        if e.is_unique_violation() {
            ApiError::conflict(format!(
                "pupil {} already has an open referral",
                form.pupil.upn
            ))
        } else {
            e.into()
        }
    })?;
    let stored = store_assessment(
        conn,
        id,
        assessment,
        policy,
        AssessmentTrigger::Submitted,
        actor,
        now,
    )?;
    audit::append(
        conn,
        &[actor.audit(now, "create", subject(id, form.school_urn, &form.pupil.upn))],
    )?;
    changes::record_at(
        conn,
        now,
        &[Change::referral(id, form.school_urn, ChangeAction::Created)],
    )?;
    let record = ReferralRecord::received(id, form, stored, due_by, today);
    announce(conn, now, &record, EventType::ReferralReceived)?;
    Ok(record)
}

/// Writes the referral's event to the outbox, in the transaction of the change (issue 7).
fn announce(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    record: &ReferralRecord,
    event_type: EventType,
) -> Result<(), ApiError> {
    let extra = serde_json::json!({
        "status": record.status.as_str(),
        "assessment_outcome": record.assessment.assessment.outcome.as_str(),
        "assessment_due_by": record.assessment_due_by,
        "decision_outcome": record.decision.as_ref().map(|d| d.outcome),
        "case_id": record.case.as_ref().map(|c| c.id),
    });
    webhooks::emit(
        conn,
        now,
        &[webhooks::referral_event(
            event_type,
            record.id,
            record.school_urn,
            &record.upn,
            extra,
        )],
    )?;
    Ok(())
}

/// Loads a referral the actor may see, or 404 (audited as `not_found` either way).
fn visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ReferralId,
    today: NaiveDate,
) -> Result<Option<ReferralRecord>, ApiError> {
    let found = load(conn, id, today)?;
    Ok(found.filter(|r| actor.role == Role::La || actor.schools.contains(&r.school_urn)))
}

fn not_found(id: ReferralId) -> ApiError {
    ApiError::not_found(format!("no referral {id} that you can see"))
}

/// A refused read or write of a referral, audited as such.
fn audit_refusal(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    id: ReferralId,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let mut event = actor.audit(now, action, AuditSubject::new("referral", id.to_string()));
    event.outcome = AuditOutcome::NotFound.as_str().to_string();
    audit::append(conn, &[event])?;
    Ok(())
}

/// `GET /api/v1/referrals/{id}`.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    id: ReferralId,
) -> Result<ReferralRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| match visible(conn, &actor, id, today)? {
            Some(found) => {
                audit::append(
                    conn,
                    &[actor.audit(now, "read", subject(id, found.school_urn, &found.upn))],
                )?;
                Ok(Ok(found))
            }
            None => {
                audit_refusal(conn, &actor, "read", id, now)?;
                Ok(Err(not_found(id)))
            }
        })
        .await?
}

/// What a referral list asks for (already parsed).
#[derive(Debug, Clone, Default)]
pub struct ReferralQuery {
    pub statuses: Option<Vec<ReferralStatus>>,
    pub school_urn: Option<i32>,
    pub upn: Option<String>,
    /// Only undecided referrals past their assessment deadline.
    pub overdue: bool,
    pub after_id: Option<i64>,
    pub limit: i64,
}

pub struct ReferralPage {
    pub referrals: Vec<ReferralRecord>,
    pub next_after_id: Option<i64>,
}

/// `GET /api/v1/referrals`: oldest first; one audit row per page.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    query: ReferralQuery,
) -> Result<ReferralPage, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let schools = actor.schools_to_list(query.school_urn)?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let filter = ReferralFilter {
                statuses: query.statuses.clone(),
                schools,
                upn: query.upn.clone(),
                due_before: query.overdue.then_some(today),
                after_id: query.after_id,
            };
            let rows = store::page(conn, &filter, query.limit + 1)?;
            let (rows, next_after_id) = page_of(rows, query.limit, |r| r.id.get());
            let ids: Vec<ReferralId> = rows.iter().map(|r| r.id).collect();
            let mut latest = store::latest_assessments(conn, &ids)?;
            let mut referrals = Vec::with_capacity(rows.len());
            for row in rows {
                let id = row.id;
                let assessment = latest
                    .remove(&id)
                    .ok_or_else(|| corrupt(id, "it has no assessment"))?;
                let case = case_store::of_referral(conn, id)?;
                referrals.push(record(row, assessment, Vec::new(), case, today));
            }
            let subject = AuditSubject::list("referrals", "list", query.school_urn, query.upn);
            audit::append(conn, &[actor.audit(now, "read", subject)])?;
            Ok(ReferralPage {
                referrals,
                next_after_id,
            })
        })
        .await
}

/// Runs a change on an undecided referral the actor may change: 404 when it may not see it,
/// 409 when it is decided or withdrawn. What `change` says it changed goes on the change feed
/// last, after the audit row.
async fn change_undecided<F>(
    state: &AppState,
    actor: &Actor,
    id: ReferralId,
    action: &'static str,
    wanted: &'static str,
    change: F,
) -> Result<ReferralRecord, ApiError>
where
    F: FnOnce(
            &mut DbConnection,
            &Actor,
            ReferralRecord,
            NaiveDate,
            NaiveDateTime,
        ) -> Result<Vec<Change>, ApiError>
        + Send
        + 'static,
{
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let Some(found) = visible(conn, &actor, id, today)? else {
                audit_refusal(conn, &actor, action, id, now)?;
                return Ok(Err(not_found(id)));
            };
            if !found.status.is_undecided() {
                return Ok(Err(ApiError::conflict(found.status.refusal(wanted))));
            }
            let (urn, upn) = (found.school_urn, found.upn.clone());
            let changed = change(conn, &actor, found, today, now)?;
            audit::append(conn, &[actor.audit(now, action, subject(id, urn, &upn))])?;
            changes::record_at(conn, now, &changed)?;
            let record = load(conn, id, today)?
                .ok_or_else(|| ApiError::internal("the referral vanished"))?;
            // Issue 7: a patch or a re-run is a new assessment; a decision is announced too.
            let event = match action {
                "update" | "assess" => Some(EventType::ReferralAssessed),
                "decide" => Some(EventType::ReferralDecided),
                _ => None,
            };
            if let Some(event) = event {
                announce(conn, now, &record, event)?;
            }
            Ok(Ok(record))
        })
        .await?
}

/// `PATCH /api/v1/referrals/{id}`: a JSON merge patch (RFC 7396) of the form while undecided;
/// re-assessed at once.
pub async fn patch(
    state: &AppState,
    actor: &Actor,
    id: ReferralId,
    patch: Value,
    parse: fn(Value) -> Result<ReferralForm, ApiError>,
) -> Result<ReferralRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    if !patch.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "a merge patch is a JSON object holding the fields to change",
        ));
    }
    let policy = state.policy.clone();
    change_undecided(state, actor, id, "update", "changed", move |conn, actor, found, today, now| {
        let mut merged = serde_json::to_value(&found.form)
            .map_err(|e| ApiError::internal(format!("form not serialisable: {e}")))?;
        json_patch::merge(&mut merged, &patch);
        // The merged form must pass the same checks as a new one (422 with pointers).
        let form = parse(merged)?;
        if form.school_urn != found.school_urn {
            return Err(ApiError::invalid_field(
                "/school_urn",
                "the referring school cannot be changed; withdraw this referral and refer from the other school",
            ));
        }
        if form.pupil.upn != found.upn {
            return Err(ApiError::invalid_field(
                "/pupil/upn",
                "the pupil cannot be changed; withdraw this referral and make a new one",
            ));
        }
        check_against_roll(conn, &form, today)?;
        let status = assess_and_store(conn, id, &form, &policy, AssessmentTrigger::Patched, actor, today, now)?;
        store::update_form(conn, id, &form, status, now)?;
        Ok(vec![Change::referral(id, found.school_urn, ChangeAction::Updated)])
    })
    .await
}

/// `POST /api/v1/referrals/{id}/assessment`: assess again on current data (new marks, a new
/// calendar), kept as a new assessment.
pub async fn reassess(
    state: &AppState,
    actor: &Actor,
    id: ReferralId,
) -> Result<ReferralRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let policy = state.policy.clone();
    change_undecided(
        state,
        actor,
        id,
        "assess",
        "re-assessed",
        move |conn, actor, found, today, now| {
            let status = assess_and_store(
                conn,
                id,
                &found.form,
                &policy,
                AssessmentTrigger::Requested,
                actor,
                today,
                now,
            )?;
            store::set_status(conn, id, status, now)?;
            Ok(vec![Change::referral(
                id,
                found.school_urn,
                ChangeAction::Assessed,
            )])
        },
    )
    .await
}

/// Resolves the referral's `assessment_overdue` alert, if it has one open.
fn resolve_overdue(
    conn: &mut DbConnection,
    found: &ReferralRecord,
    today: NaiveDate,
    resolution: &str,
) -> Result<Option<Change>, ApiError> {
    Ok(alerts::resolve_assessment_overdue(
        conn,
        found.id,
        found.school_urn,
        &found.upn,
        today,
        resolution,
    )?)
}

/// `POST /api/v1/referrals/{id}/decision` (`la`; RULES.md R10.2). Accepting opens a case.
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: ReferralId,
    decision: Decision,
) -> Result<ReferralRecord, ApiError> {
    actor.require(&[Role::La])?;
    let policy = state.policy.clone();
    change_undecided(
        state,
        actor,
        id,
        "decide",
        "decided again",
        move |conn, actor, found, today, now| {
            decide_in(conn, actor, &found, &decision, &policy, today, now)
        },
    )
    .await
}

/// Records a decision on an undecided referral in the caller's transaction (R10.2); accepting
/// opens the case and plans its reviews. Also used by the demo seed. Returns what changed, for
/// the change feed.
pub(crate) fn decide_in(
    conn: &mut DbConnection,
    actor: &Actor,
    found: &ReferralRecord,
    decision: &Decision,
    policy: &Policy,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<Vec<Change>, ApiError> {
    let id = found.id;
    let urn = found.school_urn;
    let calendar = SchoolCalendar::new(calendars::all(conn)?);
    let failed = found.assessment.assessment.failed_reasons();
    let problems = decision_problems(
        decision,
        found.assessment.assessment.outcome,
        &failed,
        // Received "today" as the service counts days: with a fixed clock (ESMA_TODAY, tests)
        // the wall-clock timestamp can be later than today.
        found.received_at.date().min(today),
        &calendar,
    );
    if !problems.is_empty() {
        return Err(ApiError::from_problems(problems));
    }
    let status = match decision.outcome {
        DecisionOutcome::Accepted => ReferralStatus::Accepted,
        DecisionOutcome::Declined => ReferralStatus::Declined,
        DecisionOutcome::GuidanceOnly => ReferralStatus::GuidanceOnly,
    };
    if store::decide(conn, id, status, decision, now)? == 0 {
        return Err(ApiError::conflict(
            "the referral was decided or withdrawn meanwhile",
        ));
    }
    let mut changed = vec![Change::referral(id, urn, ChangeAction::Decided)];
    if decision.outcome == DecisionOutcome::Accepted {
        if let Some((case, _)) = case_store::active_of_pupil(conn, &found.upn)? {
            return Err(ApiError::conflict(format!(
                "pupil {} already has an active ESMA case ({case})",
                found.upn
            )));
        }
        // decision_problems made sure there is one.
        let start = decision.start_date.unwrap_or(today);
        let case_id = case_store::insert(
            conn,
            &NewCase {
                referral_id: id,
                school_urn: found.school_urn,
                upn: found.upn.clone(),
                start_date: start,
                provision: decision.provision.clone(),
                opened_at: now,
                opened_by: actor.client_id.clone(),
            },
        )?;
        changed.push(Change::case(case_id, urn, ChangeAction::Opened));
        // R12.1, R15.3: from its start C2 is the support code, covered by the case.
        changed.extend(super::alerts::reconcile_c2_of_pupil(
            conn,
            found.school_urn,
            &found.upn,
            (start, today),
            today,
        )?);
        let planned = super::cases::plan_reviews(conn, case_id, start, policy, now)?;
        changed.extend(
            planned
                .into_iter()
                .map(|review| Change::review(review, urn, ChangeAction::Planned)),
        );
        // A case starting before today may have something due already: the worklist follows
        // the clock only once a day (`alerts::ClockFollowed`).
        changed.extend(super::alerts::reconcile_case(conn, policy, today, case_id)?);
    }
    changed.extend(resolve_overdue(
        conn,
        found,
        today,
        &format!("decided: {}", status.as_str()),
    )?);
    Ok(changed)
}

/// The demo seed's way in: decides referral `id` if it is still undecided.
pub(crate) fn decide_now(
    conn: &mut DbConnection,
    actor: &Actor,
    id: ReferralId,
    decision: &Decision,
    policy: &Policy,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    match load(conn, id, today)? {
        Some(found) if found.status.is_undecided() => {
            let changed = decide_in(conn, actor, &found, decision, policy, today, now)?;
            changes::record_at(conn, now, &changed)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `POST /api/v1/referrals/{id}/withdraw` (the referring school or the LA).
pub async fn withdraw(
    state: &AppState,
    actor: &Actor,
    id: ReferralId,
    reason: Option<String>,
) -> Result<ReferralRecord, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    change_undecided(
        state,
        actor,
        id,
        "withdraw",
        "withdrawn",
        move |conn, _actor, found, today, now| {
            if store::withdraw(conn, id, reason.as_deref(), now)? == 0 {
                return Err(ApiError::conflict(
                    "the referral was decided or withdrawn meanwhile",
                ));
            }
            let mut changed = vec![Change::referral(
                id,
                found.school_urn,
                ChangeAction::Withdrawn,
            )];
            changed.extend(resolve_overdue(conn, &found, today, "withdrawn")?);
            Ok(changed)
        },
    )
    .await
}
