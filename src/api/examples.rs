//! The spec's request examples: one function per request body, of the day they are for, so that
//! each succeeds against a fresh demo (`serve --demo`) on any day of its calendar, and one
//! function, [`apply`], that puts them into the generated document.
//!
//! The committed `openapi/openapi.json` carries the examples of a fixed reference day
//! ([`ExampleDay::reference`], 2026-11-23), so it stays deterministic; the spec the server serves
//! (`GET /api-docs/openapi.json`, [`served_spec`]) carries those of the server's own today (its
//! clock, so `--today` applies) under the calendar it has loaded.
//!
//! They name the demo's data (`crate::demo`): its schools, its pupils, and the ids a fresh demo
//! has. In Swagger UI's order of use: push the roll and the register (`school`), refer Hillside's
//! pupil 1 (free to refer: referral 4 on a fresh demo), supply what it lacks, reassess and accept
//! it, then work on the demo's case 1 (add and move a review, record evidence, exit), withdraw
//! referral 2, subscribe a webhook, reload the calendar and a school as they are (`la`).

use actix_web::{web, HttpResponse};
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime};
use serde_json::{json, Value};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr};

use crate::demo::{demo_upn, DemoDates, DEMO_SCHOOLS};
use crate::domain::calendar::{hertfordshire_2026_27, AcademicYear, LaCalendar, SchoolCalendar};
use crate::domain::referral::{AssessmentTrigger, ReferralForm};
use crate::service::AppState;

/// A fresh demo's ids, as seeded by `demo::seed`: Oakfield's pupil 1's referral (1, accepted)
/// and case (1, with reviews 1 to 10 planned), Hillside's pupil 2's referral (2, undecided), and,
/// once the year has the school days for the story (`demo::support`), Hillside's pupil 4's
/// referral (3) and case (2, four weeks into support). The referral the referral example makes
/// comes next ([`ExampleDay::example_referral`]).
const DEMO_CASE: i64 = 1;
const DEMO_CASE_REVIEW: i64 = 1;
const DEMO_ACCEPTED_REFERRAL: i64 = 1;
const DEMO_AWAITING_REFERRAL: i64 = 2;
/// The demo's first register push (Oakfield's).
const DEMO_IMPORT: i64 = 1;
/// An alert a fresh demo raises from its register and keeps open (the first one raised).
const DEMO_ALERT: i64 = 1;
/// The subscription the webhook example creates on a fresh demo.
const EXAMPLE_WEBHOOK: i64 = 1;
const OAKFIELD: i32 = DEMO_SCHOOLS[0].0;

/// The day the examples are for, and the calendar their school days come from.
pub struct ExampleDay {
    pub today: NaiveDate,
    pub calendar: SchoolCalendar,
}

impl ExampleDay {
    /// The committed spec's day: Monday 23 November 2026 under the demo's 2026-27 calendar.
    pub fn reference() -> ExampleDay {
        ExampleDay {
            today: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default(),
            calendar: SchoolCalendar::new(vec![hertfordshire_2026_27()]),
        }
    }

    /// The latest school day up to today: the day a register push is for.
    pub fn register_day(&self) -> NaiveDate {
        self.calendar.previous_school_day_on_or_before(self.today)
    }

    /// The first school day after today: what a case accepted today may start on (R10.2).
    pub fn next_school_day(&self) -> NaiveDate {
        self.calendar.school_day_after(self.today, 1)
    }

    /// The first school day `days` calendar days or more from today.
    fn school_day_from(&self, days: u64) -> NaiveDate {
        let from = self
            .today
            .checked_add_days(Days::new(days))
            .unwrap_or(self.today);
        self.calendar.next_school_day_on_or_after(from)
    }

    /// The demo's case four weeks into support, once the year has the school days for it;
    /// before then its lessons examples use case 1 (which starts the next school day, so the
    /// lesson is reported `before_case_start`).
    fn support_case(&self) -> i64 {
        if self.demo().support.is_some() {
            2
        } else {
            DEMO_CASE
        }
    }

    /// The referral the referral example makes: after the demo's two, or three with the support
    /// story.
    fn example_referral(&self) -> i64 {
        3 + i64::from(self.demo().support.is_some())
    }

    /// The part-time timetable the example agreement makes: after the demo's, when it has one.
    fn example_part_time(&self) -> i64 {
        1 + i64::from(self.demo().part_time.is_some())
    }

    /// The demo's dates for this day (the illness the referral example reports).
    fn demo(&self) -> DemoDates {
        DemoDates::on(self.today, &self.calendar)
    }

    /// The academic year of today and its calendar: the one loaded, else the demo's.
    fn calendar_of_year(&self) -> LaCalendar {
        let year = AcademicYear::containing(self.today);
        self.calendar
            .calendar_for(year)
            .cloned()
            .unwrap_or_else(hertfordshire_2026_27)
    }
}

/// `PUT /schools/{urn}/pupils`: a pupil joining Oakfield (school 117001) this year.
pub fn roll(day: &ExampleDay) -> Value {
    let joined = day
        .calendar
        .next_school_day_on_or_after(AcademicYear::containing(day.today).first_day());
    json!({"pupils": [{
        "upn": demo_upn(0, 25), "legal_forename": "Amara", "legal_surname": "Okafor",
        "date_of_birth": "2016-03-02", "postcode": "SG1 2AB", "home_la_code": 919,
        "ehcp": false, "sen_support": true, "pupil_premium": false,
        "on_roll_from": joined.min(day.today)
    }]})
}

/// `POST /schools/{urn}/registers` (JSON): Oakfield's pupil 4 late (`L`, 12 minutes) in the
/// morning and present (`\`) in the afternoon of the latest school day.
pub fn register(day: &ExampleDay) -> Value {
    let upn = demo_upn(0, 4);
    let date = day.register_day();
    json!({"marks": [
        {"upn": upn, "date": date, "session": "AM", "code": "L", "minutes_late": 12},
        {"upn": upn, "date": date, "session": "PM", "code": "\\"}
    ]})
}

/// `POST /schools/{urn}/registers` (CSV): the same marks.
pub fn register_csv(day: &ExampleDay) -> String {
    let upn = demo_upn(0, 4);
    let date = day.register_day();
    format!("upn,date,session,code,minutes_late\n{upn},{date},AM,L,12\n{upn},{date},PM,\\,\n")
}

/// `POST /referrals`: Hillside's pupil 1, off ill like Oakfield's but never referred
/// (`examples/referral.json`, dated from the demo's illness). It lacks an APDR record, so it is
/// assessed `incomplete`; the patch example supplies it.
pub fn referral(day: &ExampleDay) -> Value {
    let dates = day.demo();
    let mut form: Value =
        serde_json::from_str(include_str!("../../examples/referral.json")).unwrap_or_default();
    let issued = dates.after(dates.ill_since, 3);
    form["absence"]["first_day"] = json!(dates.ill_since);
    form["medical"]["evidence"][0]["issued_on"] = json!(issued);
    form["consent"]["signed_on"] = json!(dates.after(issued, 1));
    form
}

/// `PATCH /referrals/{id}`: the missing APDR record, so the referral becomes `eligible`.
pub fn referral_patch() -> Value {
    json!({"support": {"apdr_attached": true}})
}

/// `POST /referrals/{id}/decision`: accepted, starting the next school day.
pub fn decision(day: &ExampleDay) -> Value {
    json!({
        "outcome": "accepted", "start_date": day.next_school_day(),
        "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
        "reasons": [], "risk_assessment_completed": false, "decided_by": "J. Smith, ESMA panel"
    })
}

/// `POST /referrals/{id}/withdraw`.
pub fn withdrawal() -> Value {
    json!({"reason": "The family moved out of the county"})
}

/// `POST /alerts/{id}/acknowledge` (R16.3): what the officer did.
pub fn acknowledgement() -> Value {
    json!({"note": "Spoke to the school: the return was sent and the family is being supported"})
}

/// `POST /cases/{id}/reviews`: an extra meeting a week or so ahead.
pub fn new_review(day: &ExampleDay) -> Value {
    json!({"scheduled_for": day.school_day_from(7), "label": "review after hospital stay"})
}

/// `PATCH /cases/{id}/reviews/{review_id}`: moved to a school day two weeks ahead. (Recording
/// an outcome needs a `held_on` from the case start to today, and a fresh demo's case starts
/// the next school day: no day on which it is seeded has one.)
pub fn review_change(day: &ExampleDay) -> Value {
    json!({"scheduled_for": day.school_day_from(14)})
}

/// `PUT /cases/{id}/plan`: an agreed plan with everything R14.1 asks for (a funding statement
/// too, so it agrees whatever funding the demo pupil has), the return phased from two weeks on.
pub fn plan(day: &ExampleDay) -> Value {
    json!({
        "status": "agreed",
        "baseline": {
            "scale": "national curriculum: WTS / EXS / GDS", "english": "WTS", "maths": "WTS",
            "science": "EXS", "engagement": "joins online lessons two days in three",
            "emotional_wellbeing": "anxious about returning; sleeping better"
        },
        "targets": [
            {"description": "attend two mornings a week in school", "owner": "school",
             "measure": "register marks, half-termly", "by": day.school_day_from(30)},
            {"description": "complete weekly maths tasks online", "owner": "pupil",
             "measure": "tasks completed out of those set"}
        ],
        "pupil_voice": "I want to be back with my friends for science",
        "parent_voice": "mornings are hardest; start with afternoons",
        "reintegration_steps": [{"from": day.school_day_from(14), "sessions_per_week": 2}],
        "funding_statement": "pupil premium funds the AV1 robot for lessons missed"
    })
}

/// `POST /cases/{id}/medical-evidence`: a consultant's letter issued today.
pub fn evidence(day: &ExampleDay) -> Value {
    json!({
        "source": "consultant", "professional_name": "Ms R. Shah, Lister Hospital",
        "contact": "01438 314333", "issued_on": day.today, "states_unable_to_attend": true,
        "likely_duration_school_days": 20
    })
}

/// `POST /cases/{id}/exit`: back at school from the next school day.
pub fn exit(day: &ExampleDay) -> Value {
    json!({"reason": "reintegrated", "effective_date": day.next_school_day(),
           "decided_by": "J. Smith, ESMA panel"})
}

/// `POST /lessons`: an English lesson of the demo's case 2 (four weeks into support) on the
/// register day, after the demo's own lessons of that day.
pub fn lessons(day: &ExampleDay) -> Value {
    json!({"lessons": [
        {"case_id": day.support_case(), "date": day.register_day(), "start_time": "15:00",
         "subject": "english", "mode": "online_one_to_one", "planned_minutes": 45,
         "attendance": "attended", "engagement": 3, "teacher": "M. Hale"}
    ]})
}

/// `POST /lessons` as CSV: the demo's case 2's science lesson on the register day, moved to a
/// 1:1 slot (the target its review agreed), late by 5 minutes.
pub fn lessons_csv(day: &ExampleDay) -> String {
    format!(
        "case_id,date,start_time,subject,mode,planned_minutes,attendance,minutes_late,engagement,teacher,note\n\
         {},{},15:45,science,online_one_to_one,45,late,5,3,R. Okoro,first 1:1 slot\n",
        day.support_case(),
        day.register_day()
    )
}

/// `POST /schools/{urn}/part-time-timetables`: Oakfield's pupil 5 in school every morning and
/// two afternoons from the register day (agreed with the parent that day), for 40 school days,
/// reviewed after 20 and before the end (R15.1).
pub fn part_time_timetable(day: &ExampleDay) -> Value {
    let start = day.register_day();
    let cal = &day.calendar;
    json!({
        "upn": demo_upn(0, 5), "start_date": start, "end_date": cal.school_day_after(start, 40),
        "pattern": {"monday": ["AM"], "tuesday": ["AM", "PM"], "wednesday": ["AM"],
                    "thursday": ["AM", "PM"], "friday": ["AM"]},
        "reason": "health", "parent_agreed_on": start,
        "ambition": "Full time again after the fatigue clinic's review",
        "plan_reference": "Individual healthcare plan (IHCP), agreed with the school nurse",
        "review_dates": [cal.school_day_after(start, 20), cal.school_day_after(start, 39)]
    })
}

/// `PATCH /part-time-timetables/{id}`: extended by 15 school days with a review before the new
/// end.
pub fn part_time_change(day: &ExampleDay) -> Value {
    let start = day.register_day();
    let cal = &day.calendar;
    json!({"end_date": cal.school_day_after(start, 55),
           "add_review_dates": [cal.school_day_after(start, 54)]})
}

/// `POST /part-time-timetables/{id}/reviews`: held on its first day with the pupil and a parent.
pub fn part_time_review(day: &ExampleDay) -> Value {
    json!({"held_on": day.register_day(),
           "attendees": [{"role": "pupil"}, {"role": "parent", "name": "Mr Okafor"},
                         {"role": "school", "name": "SENDCo"}],
           "notes": "Mornings first; afternoons added as energy allows"})
}

/// `POST /webhooks`.
pub fn webhook() -> Value {
    json!({"url": "https://portal.example.org/esma/events",
           "events": ["referral.decided", "case.closed"], "description": "LA portal"})
}

/// `POST /webhooks/{id}/deliveries/retry`: requeue what failed since the start of today (on a
/// fresh demo nothing has failed, so it answers `requeued: 0`).
pub fn replay(day: &ExampleDay) -> Value {
    json!({"since": day.today.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()})
}

/// `PUT /calendar/{academic_year}`: this year's calendar as loaded (a no-op, safe to try).
pub fn calendar(day: &ExampleDay) -> (String, Value) {
    let calendar = day.calendar_of_year();
    let terms: Vec<Value> = calendar
        .terms
        .iter()
        .map(|t| {
            let mut term = json!({"name": t.name, "starts": t.starts, "ends": t.ends});
            if let Some(h) = &t.half_term {
                term["half_term"] = json!({"starts": h.starts, "ends": h.ends});
            }
            term
        })
        .collect();
    (
        calendar.academic_year.to_string(),
        json!({"terms": terms, "closures": calendar.closures}),
    )
}

/// `PUT /schools/{urn}`: Oakfield as the demo has it.
pub fn school() -> Value {
    let (_, name, laestab, phase) = DEMO_SCHOOLS[0];
    json!({"name": name, "laestab": laestab, "phase": phase})
}

/// `POST /oauth/token` (with the client id and secret as HTTP Basic).
pub fn token() -> Value {
    json!({"grant_type": "client_credentials"})
}

/// The `201` answer to the referral example on the reference day: the real assessment of the
/// form against the demo's register (Hillside's pupil 1 off ill since the illness began).
fn referral_response(day: &ExampleDay, request: &Value) -> Option<Value> {
    use crate::domain::attendance::{IllnessRun, SessionMark};
    use crate::domain::codes::{AttendanceCode, Session};
    use crate::domain::eligibility::{assess, assessment_due_by, RegisterEvidence};
    use crate::domain::policy::Policy;
    use crate::domain::referral::{ReferralId, StoredAssessment};
    use crate::service::referrals::ReferralRecord;

    let form: ReferralForm = serde_json::from_value(request.clone()).ok()?;
    let today = day.today;
    let ill_since = day.demo().ill_since;
    let days: Vec<NaiveDate> = ill_since
        .iter_days()
        .take_while(|d| *d <= today)
        .filter(|d| day.calendar.is_school_day(*d))
        .collect();
    let marks: Vec<SessionMark> = days
        .iter()
        .flat_map(|d| {
            [Session::Am, Session::Pm].map(|s| SessionMark::new(*d, s, AttendanceCode::I))
        })
        .collect();
    let run = IllnessRun {
        first: (*days.first()?, Session::Am),
        last: (*days.last()?, Session::Pm),
        sessions: u32::try_from(marks.len()).ok()?,
    };
    let policy = Policy::hertfordshire();
    let evidence = RegisterEvidence {
        schools: vec![form.school_urn],
        illness_days_cumulative: run.days(),
        longest_run: Some(run),
        current_run: Some(run),
        absence_period_marks: marks,
        part_time: vec![],
    };
    let at: NaiveDateTime = today.and_hms_opt(16, 5, 0)?;
    let assessment = assess(&form, &evidence, &policy, &day.calendar, today);
    let stored = StoredAssessment {
        id: day.example_referral(),
        evaluated_at: at,
        trigger: AssessmentTrigger::Submitted,
        assessment,
    };
    let record = ReferralRecord::received(
        ReferralId::from(day.example_referral()),
        form,
        stored,
        assessment_due_by(today, &policy, &day.calendar),
        today,
    );
    serde_json::to_value(super::referrals::view(record)).ok()
}

/// What the spec's info says of its examples.
fn info_text(day: &ExampleDay, served: bool) -> String {
    let which = if served {
        format!(
            "for today as this server counts it ({}, {}), under the calendar it has loaded",
            day.today,
            day.today.weekday()
        )
    } else {
        format!(
            "for {} (this file is generated for that day; the server's own \
             `/api-docs/openapi.json` carries them for its today)",
            day.today
        )
    };
    format!(
        "\n\n**Examples** are dated {which}, and name the demo's data: each succeeds against a \
         fresh `esma-api serve --demo` (the `school` token for roll and register pushes, `la` for \
         the rest). Try them in order: roll, register, referral (referral 4), its patch, \
         assessment and decision, then case 1's plan, reviews and evidence, lessons of case 2 \
         (four weeks into support: read its plan, lessons and report), case 1's exit, the \
         withdrawal of referral 2, a webhook (then its replay of what failed since today, and enabling it), \
         the calendar and a school. The demo prints the UPNs, ids and dates to use."
    )
}

/// Puts the examples of `day` into the document: every request body, the path parameters of
/// the operations with one (so Swagger UI's *Try it out* is filled in), the pupils' UPNs, and
/// the referral's `201` answer.
pub fn apply(api: &mut OpenApi, day: &ExampleDay, served: bool) {
    let referral = referral(day);
    let (year, calendar) = calendar(day);
    let upn = demo_upn(0, 1);
    let bodies: Vec<(&str, &str, &str, Value)> = vec![
        (
            "put",
            "/api/v1/schools/{urn}/pupils",
            "application/json",
            roll(day),
        ),
        (
            "post",
            "/api/v1/schools/{urn}/registers",
            "application/json",
            register(day),
        ),
        (
            "post",
            "/api/v1/schools/{urn}/registers",
            "text/csv",
            json!(register_csv(day)),
        ),
        (
            "post",
            "/api/v1/referrals",
            "application/json",
            referral.clone(),
        ),
        (
            "patch",
            "/api/v1/referrals/{id}",
            "application/merge-patch+json",
            referral_patch(),
        ),
        (
            "post",
            "/api/v1/referrals/{id}/decision",
            "application/json",
            decision(day),
        ),
        (
            "post",
            "/api/v1/referrals/{id}/withdraw",
            "application/json",
            withdrawal(),
        ),
        (
            "post",
            "/api/v1/cases/{id}/reviews",
            "application/json",
            new_review(day),
        ),
        (
            "patch",
            "/api/v1/cases/{id}/reviews/{review_id}",
            "application/json",
            review_change(day),
        ),
        (
            "post",
            "/api/v1/cases/{id}/medical-evidence",
            "application/json",
            evidence(day),
        ),
        (
            "put",
            "/api/v1/cases/{id}/plan",
            "application/json",
            plan(day),
        ),
        (
            "post",
            "/api/v1/cases/{id}/exit",
            "application/json",
            exit(day),
        ),
        ("post", "/api/v1/lessons", "application/json", lessons(day)),
        (
            "post",
            "/api/v1/lessons",
            "text/csv",
            json!(lessons_csv(day)),
        ),
        (
            "post",
            "/api/v1/schools/{urn}/part-time-timetables",
            "application/json",
            part_time_timetable(day),
        ),
        (
            "patch",
            "/api/v1/part-time-timetables/{id}",
            "application/json",
            part_time_change(day),
        ),
        (
            "post",
            "/api/v1/part-time-timetables/{id}/reviews",
            "application/json",
            part_time_review(day),
        ),
        ("post", "/api/v1/webhooks", "application/json", webhook()),
        (
            "post",
            "/api/v1/alerts/{id}/acknowledge",
            "application/json",
            acknowledgement(),
        ),
        (
            "put",
            "/api/v1/calendar/{academic_year}",
            "application/json",
            calendar,
        ),
        (
            "post",
            "/api/v1/webhooks/{id}/deliveries/retry",
            "application/json",
            replay(day),
        ),
        ("put", "/api/v1/schools/{urn}", "application/json", school()),
        (
            "post",
            "/oauth/token",
            "application/x-www-form-urlencoded",
            token(),
        ),
    ];
    for (method, path, media, example) in bodies {
        let Some(op) = operation(api, path, method) else {
            continue;
        };
        if let Some(RefOr::T(body)) = op.request_body.as_mut() {
            if let Some(RefOr::T(content)) = body.content.get_mut(media) {
                content.example = Some(example);
            }
        }
    }
    // Path parameters: the ids the examples act on (per operation: the withdrawal is of
    // another referral than the decision), and demo pupils and schools for every read.
    let (example_referral, support_case, example_part_time) = (
        day.example_referral(),
        day.support_case(),
        day.example_part_time(),
    );
    let ids: &[(&str, &str, i64)] = &[
        ("get", "/api/v1/referrals/{id}", DEMO_ACCEPTED_REFERRAL),
        ("patch", "/api/v1/referrals/{id}", example_referral),
        (
            "post",
            "/api/v1/referrals/{id}/assessment",
            example_referral,
        ),
        ("post", "/api/v1/referrals/{id}/decision", example_referral),
        (
            "post",
            "/api/v1/referrals/{id}/withdraw",
            DEMO_AWAITING_REFERRAL,
        ),
        ("get", "/api/v1/cases/{id}", DEMO_CASE),
        ("get", "/api/v1/cases/{id}/reviews", DEMO_CASE),
        ("get", "/api/v1/cases/{id}/report", support_case),
        ("get", "/api/v1/cases/{id}/lessons", support_case),
        ("post", "/api/v1/cases/{id}/reviews", DEMO_CASE),
        ("patch", "/api/v1/cases/{id}/reviews/{review_id}", DEMO_CASE),
        ("post", "/api/v1/cases/{id}/medical-evidence", DEMO_CASE),
        ("put", "/api/v1/cases/{id}/plan", DEMO_CASE),
        ("get", "/api/v1/cases/{id}/plan", support_case),
        ("get", "/api/v1/cases/{id}/plan/versions", support_case),
        ("get", "/api/v1/cases/{id}/plan/versions/{n}", support_case),
        ("post", "/api/v1/cases/{id}/exit", DEMO_CASE),
        (
            "get",
            "/api/v1/part-time-timetables/{id}",
            example_part_time,
        ),
        (
            "patch",
            "/api/v1/part-time-timetables/{id}",
            example_part_time,
        ),
        (
            "post",
            "/api/v1/part-time-timetables/{id}/reviews",
            example_part_time,
        ),
        ("get", "/api/v1/webhooks/{id}", EXAMPLE_WEBHOOK),
        ("delete", "/api/v1/webhooks/{id}", EXAMPLE_WEBHOOK),
        ("get", "/api/v1/webhooks/{id}/deliveries", EXAMPLE_WEBHOOK),
        (
            "post",
            "/api/v1/webhooks/{id}/deliveries/retry",
            EXAMPLE_WEBHOOK,
        ),
        (
            "post",
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            EXAMPLE_WEBHOOK,
        ),
        ("post", "/api/v1/webhooks/{id}/enable", EXAMPLE_WEBHOOK),
        ("post", "/api/v1/alerts/{id}/acknowledge", DEMO_ALERT),
    ];
    for &(method, path, id) in ids {
        set_path_example(api, path, method, "id", json!(id));
    }
    set_path_example(
        api,
        "/api/v1/cases/{id}/reviews/{review_id}",
        "patch",
        "review_id",
        json!(DEMO_CASE_REVIEW),
    );
    // The demo's case 2's first version, agreed when its support began (its second was agreed
    // at its review).
    set_path_example(
        api,
        "/api/v1/cases/{id}/plan/versions/{n}",
        "get",
        "n",
        json!(1),
    );
    // A fresh demo has no failed delivery to retry (its deliveries wait to be sent): the id is
    // the example subscription's first, which answers 409 until it has failed.
    set_path_example(
        api,
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
        "post",
        "delivery_id",
        json!(1),
    );
    set_path_example(
        api,
        "/api/v1/imports/{import_id}",
        "get",
        "import_id",
        json!(DEMO_IMPORT),
    );
    for (path, item) in api.paths.paths.iter_mut() {
        for op in operations(item) {
            for p in op.parameters.iter_mut().flatten() {
                let RefOr::T(param) = p else { continue };
                let value = match param.name.as_str() {
                    "upn" if path.contains("{upn}") => json!(upn),
                    "urn" if path.contains("{urn}") => json!(OAKFIELD),
                    "academic_year" => json!(year),
                    _ => continue,
                };
                *param = ParameterBuilder::from(param.clone())
                    .example(Some(value))
                    .build();
            }
        }
    }
    if let Some(op) = operation(api, "/api/v1/referrals", "post") {
        if let Some(RefOr::T(created)) = op.responses.responses.get_mut("201") {
            if let Some(RefOr::T(content)) = created.content.get_mut("application/json") {
                content.example = referral_response(day, &referral);
            }
        }
    }
    let description = api.info.description.get_or_insert_with(String::new);
    if let Some(at) = description.find("\n\n**Examples**") {
        description.truncate(at);
    }
    description.push_str(&info_text(day, served));
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn operation<'a>(api: &'a mut OpenApi, path: &str, method: &str) -> Option<&'a mut Operation> {
    let item = api.paths.paths.get_mut(path)?;
    match method {
        "get" => item.get.as_mut(),
        "put" => item.put.as_mut(),
        "post" => item.post.as_mut(),
        "patch" => item.patch.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    }
}

fn set_path_example(api: &mut OpenApi, path: &str, method: &str, name: &str, value: Value) {
    let Some(op) = operation(api, path, method) else {
        return;
    };
    for p in op.parameters.iter_mut().flatten() {
        let RefOr::T(param) = p else { continue };
        if param.name == name && param.parameter_in == ParameterIn::Path {
            *param = ParameterBuilder::from(param.clone())
                .example(Some(value.clone()))
                .build();
        }
    }
}

/// `GET /api-docs/openapi.json`: the document with the examples of the server's today under
/// its loaded calendar, made per request so a server running for weeks stays current. Should
/// the calendar not load, the examples count Mondays to Fridays (R3.1) rather than fail the page.
pub async fn served_spec(state: web::Data<AppState>) -> HttpResponse {
    let calendar = match crate::service::calendar::school_calendar(&state).await {
        Ok(calendar) => calendar,
        Err(e) => {
            tracing::warn!(error = %e.detail, "spec examples: the calendar could not be read");
            SchoolCalendar::empty()
        }
    };
    let day = ExampleDay {
        today: state.clock.today(),
        calendar,
    };
    let mut api = super::openapi();
    apply(&mut api, &day, true);
    HttpResponse::Ok().json(api)
}
