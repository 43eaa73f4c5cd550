//! The demo's support story (issue 23, API.md "Support delivery"): Hillside's pupil 4, Ella
//! Nowak (Year 9, pupil premium), off ill with post-viral fatigue, referred and accepted four
//! school weeks before today. Her Holistic Reintegration Plan was agreed on the first day of
//! support (R14.1); ESMA has taught her maths, English and science since (R14.3), and science
//! is slipping: fewer lessons attended, lower engagement, then refusals. At a review after the
//! first fortnight progress was recorded on each target and the plan revised with a science
//! target (R14.2). From that review she is in school two mornings a week, on `C2` otherwise
//! (R12.1).
//!
//! Everything is written through the services the API uses, with the clock of the day it
//! happened, so the records carry the dates a real case would.

use chrono::{Datelike, NaiveDate, Weekday};

use super::{demo_upn, DemoDates, FORENAMES, SURNAMES};
use crate::clock::Clock;
use crate::domain::access::Role;
use crate::domain::calendar::SchoolCalendar;
use crate::domain::case::{CaseId, ReviewId, ReviewStatus};
use crate::domain::codes::AttendanceCode;
use crate::domain::decision::Decision;
use crate::domain::lessons::{LessonIn, NumberIn};
use crate::domain::plan::PlanBody;
use crate::domain::policy::Policy;
use crate::domain::referral::{EvidenceItem, ReferralForm};
use crate::domain::schedule::ReviewKind;
use crate::error::ApiError;
use crate::service::cases::{self as case_service, ReviewChange};
use crate::service::imports::PushMode;
use crate::service::lessons::{self, LessonPush};
use crate::service::plans;
use crate::service::referrals::{decide_now, submit_in};
use crate::service::{Actor, AppState};
use crate::store::{calendars, cases as case_store, referrals as referral_store};

/// Hillside Academy's pupil 4 (school index 1).
pub const PUPIL: (usize, usize) = (1, 4);

/// School days of support before today: four school weeks.
const SUPPORT_SCHOOL_DAYS: usize = 20;
/// School days off ill before the referral: past the 15 of R8.1.
const ILL_SCHOOL_DAYS: usize = 18;

/// The story's days, counted back over the school days before today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportDates {
    /// The illness began.
    pub ill_from: NaiveDate,
    /// The consultant's letter.
    pub evidence_issued: NaiveDate,
    /// The referral was received and accepted.
    pub referred_on: NaiveDate,
    /// Support began (the next school day, R10.2), the plan agreed and the first lesson taught.
    pub start: NaiveDate,
    /// The review after the first fortnight; two mornings a week in school from then.
    pub review_on: NaiveDate,
    /// The last day of lessons: the school day before today.
    pub last_lesson: NaiveDate,
}

impl SupportDates {
    /// `None` until the year has enough school days before today (about eight weeks).
    pub fn new(today: NaiveDate, school_days: &[NaiveDate]) -> Option<SupportDates> {
        let past: Vec<NaiveDate> = school_days.iter().copied().filter(|d| *d < today).collect();
        let m = past.len();
        let first_ill = m.checked_sub(SUPPORT_SCHOOL_DAYS + 1 + ILL_SCHOOL_DAYS)?;
        Some(SupportDates {
            ill_from: past[first_ill],
            evidence_issued: past[m - SUPPORT_SCHOOL_DAYS - 6],
            referred_on: past[m - SUPPORT_SCHOOL_DAYS - 1],
            start: past[m - SUPPORT_SCHOOL_DAYS],
            review_on: past[m - SUPPORT_SCHOOL_DAYS / 2],
            last_lesson: past[m - 1],
        })
    }

    /// Her register: `I` from the illness to the referral, then `C2` (R12.1), with Tuesday and
    /// Thursday mornings in school from the review. `None` before the illness.
    pub fn register_code(&self, day: NaiveDate, pm: bool) -> Option<AttendanceCode> {
        if day < self.ill_from {
            return None;
        }
        if day < self.start {
            return Some(AttendanceCode::I);
        }
        let in_school =
            day >= self.review_on && !pm && matches!(day.weekday(), Weekday::Tue | Weekday::Thu);
        Some(if in_school {
            AttendanceCode::PresentAm
        } else {
            AttendanceCode::C2
        })
    }
}

/// The LA's ESMA team, as the demo's writer.
fn esma_team() -> Actor {
    Actor {
        client_id: "demo ESMA team".to_string(),
        role: Role::La,
        schools: Vec::new(),
        endpoint: "cli serve --demo".to_string(),
        correlation_id: None,
    }
}

/// The state as it was on `day`: what the services stamp and check "today" against.
fn on_day(state: &AppState, day: NaiveDate) -> AppState {
    let mut then = state.clone();
    then.clock = Clock::fixed(day);
    then
}

fn json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::internal(format!("demo {what}: {e}")))
}

/// Seeds the story (after `super::seed`): skipped when there are not enough school days yet,
/// or when Ella has already been referred (a restart changes nothing). The case's id, if any.
pub async fn seed(state: &AppState, dates: &DemoDates) -> Result<Option<CaseId>, ApiError> {
    let Some(story) = dates.support else {
        return Ok(None);
    };
    let upn = demo_upn(PUPIL.0, PUPIL.1);
    let actor = esma_team();
    let policy = state.policy.clone();
    let referred = {
        let upn = upn.clone();
        let actor = actor.clone();
        state
            .db
            .write(move |conn| refer_and_accept(conn, &actor, &policy, &upn, &story))
            .await?
    };
    let Some(case_id) = referred else {
        return Ok(None);
    };
    // The plan, agreed on the first day.
    let agreed = plans::put(
        &on_day(state, story.start),
        &actor,
        case_id,
        first_plan(&story)?,
    )
    .await?;
    // The meetings due in the four weeks are held (the first one revises the plan with a
    // science target); with none due, an extra review after the first fortnight.
    let held = meetings_to_hold(state, &actor, case_id, &story).await?;
    let first_held = held.first().map_or(story.review_on, |(_, on)| *on);
    // The lessons before the first meeting, pushed the evening before it.
    let days = lesson_days(state, &story).await?;
    let (before, after): (Vec<_>, Vec<_>) = lessons_of(case_id, &days)
        .into_iter()
        .partition(|(day, _)| *day < first_held);
    push_lessons(state, &actor, before, days_before(&days, first_held)).await?;
    // The fatigue clinic's letter with her pacing plan, brought to the first meeting: the
    // term's medical evidence update (R11.3).
    let letter: EvidenceItem = json(
        serde_json::json!({"source": "consultant", "professional_name": "Dr K. Adams, fatigue clinic, Lister Hospital",
                           "issued_on": first_held, "states_unable_to_attend": true,
                           "likely_duration_school_days": 40}),
        "evidence",
    )?;
    case_service::add_evidence(&on_day(state, first_held), &actor, case_id, letter).await?;
    let mut plan = agreed.version.body;
    for (i, (review_id, on)) in held.into_iter().enumerate() {
        let change = review_at(&story, &plan, on, i == 0)?;
        let changed =
            case_service::change_review(&on_day(state, on), &actor, case_id, review_id, change)
                .await?;
        if let Some(now) = changed.at_review.plan {
            plan = now.version.body;
        }
    }
    // The rest, pushed last night.
    push_lessons(state, &actor, after, story.last_lesson).await?;
    Ok(Some(case_id))
}

/// The review meetings (R11.1, R11.2) scheduled from the start to the last lesson, with their
/// days; or, when none falls in the four weeks, an extra one added after the first fortnight.
async fn meetings_to_hold(
    state: &AppState,
    actor: &Actor,
    case_id: CaseId,
    story: &SupportDates,
) -> Result<Vec<(ReviewId, NaiveDate)>, ApiError> {
    let case = case_service::get(&on_day(state, story.start), actor, case_id).await?;
    let due: Vec<(ReviewId, NaiveDate)> = case
        .reviews
        .iter()
        .filter(|r| {
            r.status == ReviewStatus::Scheduled
                && matches!(
                    r.kind,
                    ReviewKind::ReviewMeeting | ReviewKind::HalfTermlyReview
                )
                && r.scheduled_for <= story.last_lesson
        })
        .map(|r| (r.id, r.scheduled_for))
        .collect();
    if !due.is_empty() {
        return Ok(due);
    }
    let added = case_service::add_review(
        &on_day(state, story.review_on),
        actor,
        case_id,
        story.review_on,
        Some("HRP review after the first fortnight".to_string()),
    )
    .await?;
    Ok(added
        .reviews
        .iter()
        .filter(|r| r.status == ReviewStatus::Scheduled && r.scheduled_for == story.review_on)
        .map(|r| (r.id, r.scheduled_for))
        .take(1)
        .collect())
}

/// Refers Ella (received on `referred_on`) and accepts her from the next school day; `None` when
/// she has been referred before.
fn refer_and_accept(
    conn: &mut crate::store::DbConnection,
    actor: &Actor,
    policy: &Policy,
    upn: &str,
    story: &SupportDates,
) -> Result<Option<CaseId>, ApiError> {
    if referral_store::open_of_pupil(conn, upn)?.is_some()
        || case_store::active_of_pupil(conn, upn)?.is_some()
        || case_store::last_closed_of_pupil(conn, upn)?.is_some()
    {
        return Ok(None);
    }
    let now = Clock::fixed(story.referred_on).now_naive();
    let form: ReferralForm = json(referral(upn, story), "referral")?;
    let record = submit_in(conn, actor, form, policy, story.referred_on, now)?;
    let decision: Decision = json(
        serde_json::json!({
            "outcome": "accepted", "start_date": story.start,
            "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 4, "venue": "home"},
                          {"kind": "group_teaching", "hours_per_week": 2, "venue": "online"},
                          {"kind": "telepresence_robot", "hours_per_week": 4, "venue": "online"}],
            "risk_assessment_completed": true, "decided_by": "ESMA panel (demo)"}),
        "decision",
    )?;
    decide_now(
        conn,
        actor,
        record.id,
        &decision,
        policy,
        story.referred_on,
        now,
    )?;
    Ok(case_store::active_of_pupil(conn, upn)?.map(|(id, _)| id))
}

fn referral(upn: &str, story: &SupportDates) -> serde_json::Value {
    let (_, n) = PUPIL;
    serde_json::json!({
        "school_urn": 117002,
        "pupil": {"upn": upn, "legal_forename": FORENAMES[n % FORENAMES.len()],
                  "legal_surname": SURNAMES[n % SURNAMES.len()], "date_of_birth": "2012-05-05",
                  "postcode": "SG5 4AB", "home_la_code": 919, "elective_home_education": false},
        "absence": {"first_day": story.ill_from, "authorised_by_school": true, "reduced_timetable": false},
        "medical": {"condition_category": "chronic", "condition": "Post-viral fatigue after glandular fever",
                    "long_term_or_recurrent": true, "hospital_inpatient": false,
                    "evidence": [{"source": "consultant", "professional_name": "Dr K. Adams, consultant paediatrician, Lister Hospital",
                                  "contact": "01438 314333", "issued_on": story.evidence_issued,
                                  "states_unable_to_attend": true, "likely_duration_school_days": 60}],
                    "treatment_plan_attached": true, "named_medical_contact": "Dr K. Adams, fatigue clinic"},
        "consent": {"parental_consent_signed": true, "signed_on": story.evidence_issued, "signatory": "Parent of Ella"},
        "support": {"apdr_attached": true, "current_support_plan": "Work set on the learning platform; form tutor calls weekly",
                    "reintegration_plan_attached": false, "ihcp": true},
        "funding": {"ehcp": false, "local_high_needs_funding": false, "pupil_premium": true,
                    "statement": "Pupil premium funds a key adult for check-ins"},
        "baseline": {"attainment": "Expected in English and science, working towards in maths",
                     "engagement": "Keen, tires after half an hour", "wellbeing": "Low; misses her friends"},
        "pupil_voice": "I want to get back for science practicals and see my friends at lunch",
        "referrer": {"name": "Pat Lee", "role": "Head of Year 9", "email": "pastoral@hillside.example.org"}
    })
}

fn targets(story: &SupportDates) -> serde_json::Value {
    serde_json::json!([
        {"description": "Attend at least four in five ESMA lessons", "owner": "pupil",
         "measure": "ESMA lesson attendance on the progress report", "by": story.last_lesson},
        {"description": "Close the gap in fractions and ratio", "owner": "esma",
         "measure": "maths assessment at the end of term"},
        {"description": "Back in school two mornings a week", "owner": "school",
         "measure": "present AM sessions in the register", "by": story.review_on},
        {"description": "A written pacing plan from the fatigue clinic", "owner": "health",
         "measure": "clinic letter shared with school and ESMA"}
    ])
}

fn plan_json(story: &SupportDates, targets: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "status": "agreed",
        "baseline": {"scale": "national curriculum: WTS / EXS / GDS", "english": "EXS", "maths": "WTS",
                     "science": "EXS", "engagement": "keen, tires after half an hour online",
                     "emotional_wellbeing": "low; misses her friends, worried about falling behind"},
        "targets": targets,
        "pupil_voice": "I want to get back for science practicals and see my friends at lunch",
        "parent_voice": "Mornings are hardest. Short sessions with breaks work best.",
        "reintegration_steps": [{"from": story.review_on, "sessions_per_week": 2}],
        "funding_statement": "Pupil premium funds the AV1 robot's data plan and a weekly check-in with her form tutor"
    })
}

fn first_plan(story: &SupportDates) -> Result<PlanBody, ApiError> {
    json(plan_json(story, targets(story)), "plan")
}

/// A meeting held on `on`: progress on each target of the plan in force (by the ids the plan
/// gave them); at the first (`revise`), the plan revised with a science target.
fn review_at(
    story: &SupportDates,
    plan: &PlanBody,
    on: NaiveDate,
    revise: bool,
) -> Result<ReviewChange, ApiError> {
    let target_progress: Vec<serde_json::Value> = plan
        .targets
        .iter()
        .filter_map(|t| t.id)
        .enumerate()
        .map(|(i, id)| {
            // The clinic's pacing plan (the fourth target) has come; the rest are under way.
            let progress = if i == 3 { "achieved" } else { "in_progress" };
            serde_json::json!({"target_id": id, "progress": progress})
        })
        .collect();
    let mut change = serde_json::json!({
        "outcome": {"held_on": on,
                    "attendees": ["Ella", "Parent", "Head of Year 9", "ESMA teacher", "Fatigue clinic nurse"],
                    "pupil_voice": "Maths at home is going well. Science online is hard to follow in a group.",
                    "actions": format!("Two mornings a week in school from {}; ESMA to offer a science 1:1 slot",
                                       crate::domain::eligibility::long_date(story.review_on)),
                    "next_steps": "Review the science slot at the next meeting"},
        "target_progress": target_progress
    });
    if revise {
        let mut revised = serde_json::to_value(plan)
            .map_err(|e| ApiError::internal(format!("demo plan: {e}")))?;
        // Where she is now, as the meeting saw it (the report sets it against the start).
        revised["baseline"]["engagement"] =
            serde_json::json!("fully engaged one to one; withdrawn in the online science group");
        revised["baseline"]["emotional_wellbeing"] =
            serde_json::json!("brighter; looking forward to mornings in school");
        if let Some(list) = revised["targets"].as_array_mut() {
            list.push(serde_json::json!({
                "description": "Re-engage with science: a 1:1 slot in place of the group lesson",
                "owner": "esma", "measure": "science lesson attendance and engagement",
                "by": story.last_lesson}));
        }
        change["revised_plan"] = revised;
    }
    json(change, "review")
}

/// The school days from the start to the last lesson.
async fn lesson_days(state: &AppState, story: &SupportDates) -> Result<Vec<NaiveDate>, ApiError> {
    let calendar = state
        .db
        .read(|conn| Ok(SchoolCalendar::new(calendars::all(conn)?)))
        .await?;
    Ok(story
        .start
        .iter_days()
        .take_while(|d| *d <= story.last_lesson)
        .filter(|d| calendar.is_school_day(*d))
        .collect())
}

fn days_before(days: &[NaiveDate], day: NaiveDate) -> NaiveDate {
    days.iter()
        .rev()
        .find(|d| **d < day)
        .copied()
        .unwrap_or(day)
}

/// A lesson row as the timetabling system sends it.
#[allow(clippy::too_many_arguments)]
fn lesson(
    case_id: CaseId,
    day: NaiveDate,
    start: &str,
    subject: &str,
    mode: &str,
    minutes: i64,
    attendance: &str,
    minutes_late: Option<i64>,
    engagement: Option<i64>,
    note: Option<&str>,
) -> LessonIn {
    LessonIn {
        case_id: NumberIn::Value(case_id.get()),
        date: day.to_string(),
        start_time: start.to_string(),
        subject: subject.to_string(),
        mode: mode.to_string(),
        planned_minutes: NumberIn::Value(minutes),
        attendance: attendance.to_string(),
        minutes_late: NumberIn::from_option(minutes_late),
        engagement: NumberIn::from_option(engagement),
        teacher: Some(
            match subject {
                "science" => "R. Okoro",
                "english" => "M. Hale",
                _ => "J. Patel",
            }
            .to_string(),
        ),
        note: note.map(str::to_string),
    }
}

/// Four weeks of a timetable: maths on Monday, Wednesday and Friday (Friday's at home), English
/// on Tuesday and Thursday through the AV1 robot, science in an online group on Monday and
/// Thursday afternoons. Maths and English go well; science slips from engaged to refused.
fn lessons_of(case_id: CaseId, days: &[NaiveDate]) -> Vec<(NaiveDate, LessonIn)> {
    let (mut maths, mut english, mut science) = (0usize, 0usize, 0usize);
    let mut out = Vec::new();
    for &day in days {
        let weekday = day.weekday();
        if matches!(weekday, Weekday::Mon | Weekday::Wed | Weekday::Fri) {
            let (start, mode) = if weekday == Weekday::Fri {
                ("11:00", "home")
            } else {
                ("10:30", "online_one_to_one")
            };
            let row = match maths {
                4 => lesson(
                    case_id,
                    day,
                    start,
                    "maths",
                    mode,
                    45,
                    "absent_authorised",
                    None,
                    None,
                    Some("fatigue clinic appointment"),
                ),
                9 => lesson(
                    case_id,
                    day,
                    start,
                    "maths",
                    mode,
                    45,
                    "cancelled_by_esma",
                    None,
                    None,
                    Some("teacher ill"),
                ),
                k => lesson(
                    case_id,
                    day,
                    start,
                    "maths",
                    mode,
                    45,
                    "attended",
                    None,
                    Some(3 + (k % 2) as i64),
                    None,
                ),
            };
            out.push((day, row));
            maths += 1;
        }
        if matches!(weekday, Weekday::Tue | Weekday::Thu) {
            let row = match english {
                3 => lesson(
                    case_id,
                    day,
                    "09:30",
                    "english",
                    "av1",
                    60,
                    "late",
                    Some(10),
                    Some(3),
                    Some("robot reconnecting"),
                ),
                k => lesson(
                    case_id,
                    day,
                    "09:30",
                    "english",
                    "av1",
                    60,
                    "attended",
                    None,
                    Some(if k % 3 == 0 { 4 } else { 3 }),
                    None,
                ),
            };
            out.push((day, row));
            english += 1;
        }
        if matches!(weekday, Weekday::Mon | Weekday::Thu) {
            // Engaged, then less so, then refusing (R14.3 "refused to engage": unauthorised).
            let row = match science {
                0 | 1 => lesson(
                    case_id,
                    day,
                    "13:30",
                    "science",
                    "online_group",
                    60,
                    "attended",
                    None,
                    Some(3),
                    None,
                ),
                2 => lesson(
                    case_id,
                    day,
                    "13:30",
                    "science",
                    "online_group",
                    60,
                    "attended",
                    None,
                    Some(2),
                    Some("camera off"),
                ),
                3 => lesson(
                    case_id,
                    day,
                    "13:30",
                    "science",
                    "online_group",
                    60,
                    "late",
                    Some(20),
                    Some(2),
                    None,
                ),
                5 => lesson(
                    case_id,
                    day,
                    "13:30",
                    "science",
                    "online_group",
                    60,
                    "attended",
                    None,
                    Some(1),
                    Some("left after 15 minutes"),
                ),
                _ => lesson(
                    case_id,
                    day,
                    "13:30",
                    "science",
                    "online_group",
                    60,
                    "absent_unauthorised",
                    None,
                    None,
                    Some("did not join"),
                ),
            };
            out.push((day, row));
            science += 1;
        }
    }
    out
}

async fn push_lessons(
    state: &AppState,
    actor: &Actor,
    rows: Vec<(NaiveDate, LessonIn)>,
    pushed_on: NaiveDate,
) -> Result<(), ApiError> {
    if rows.is_empty() {
        return Ok(());
    }
    let push = LessonPush {
        lessons: rows.into_iter().map(|(_, l)| l).collect(),
        pointer_prefix: None,
        mode: PushMode::AllOrNothing,
        idempotency: None,
    };
    lessons::push(&on_day(state, pushed_on), actor, push).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: usize) -> Vec<NaiveDate> {
        let first = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap_or_default();
        first
            .iter_days()
            .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
            .take(n)
            .collect()
    }

    #[test]
    fn the_story_needs_eight_weeks_of_school_days_before_today() {
        let d = days(39);
        assert_eq!(SupportDates::new(d[38], &d), None);
        let d = days(40);
        let story = SupportDates::new(d[39], &d).expect("enough days");
        assert_eq!(story.ill_from, d[0]);
        assert_eq!(story.evidence_issued, d[13]);
        assert_eq!(story.referred_on, d[18]);
        assert_eq!(story.start, d[19]);
        assert_eq!(story.review_on, d[29]);
        assert_eq!(story.last_lesson, d[38]);
    }

    #[test]
    fn her_register_is_ill_then_c2_with_two_mornings_in_school_from_the_review() {
        let d = days(60);
        let story = SupportDates::new(d[59], &d).expect("enough days");
        assert_eq!(story.register_code(d[0], false), None);
        assert_eq!(
            story.register_code(story.ill_from, true),
            Some(AttendanceCode::I)
        );
        assert_eq!(
            story.register_code(story.start, false),
            Some(AttendanceCode::C2)
        );
        let tuesday = story
            .review_on
            .iter_days()
            .find(|d| d.weekday() == Weekday::Tue)
            .expect("a Tuesday");
        assert_eq!(
            story.register_code(tuesday, false),
            Some(AttendanceCode::PresentAm)
        );
        assert_eq!(story.register_code(tuesday, true), Some(AttendanceCode::C2));
    }

    #[test]
    fn science_slips_while_maths_and_english_go_well() {
        let d = days(20);
        let all = lessons_of(CaseId::from(2), &d);
        let of = |s: &str| all.iter().filter(|(_, l)| l.subject == s).count();
        assert_eq!((of("maths"), of("english"), of("science")), (12, 8, 8));
        let refused = all
            .iter()
            .filter(|(_, l)| l.attendance == "absent_unauthorised")
            .count();
        assert_eq!(refused, 3);
        assert!(all
            .iter()
            .filter(|(_, l)| l.attendance == "absent_unauthorised")
            .all(|(_, l)| l.subject == "science"));
    }
}
