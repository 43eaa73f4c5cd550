//! `serve --demo`: a 2026-27 Hertfordshire-style calendar; two schools (Oakfield Primary,
//! 117001, and Hillside Academy, 117002) of 24 pupils each with their registers from the start
//! of the autumn term to today (pupil 1 of each off ill for the last 16 school days, pupil 2
//! with scattered unexplained absences, pupil 3 often late); two referrals (Oakfield's pupil 1,
//! accepted: an active case from the next school day; Hillside's pupil 2, ineligible, awaiting
//! the LA), Hillside's pupil 1 left free to refer; Hillside's pupil 4 four weeks into support
//! (referral 3, case 2: an agreed plan, lessons, a review held; [`support`]); and ready
//! credentials (`la`, `school` for Oakfield, `admin`). [`facts`] says which ids and dates that
//! made.
//!
//! Every date the demo invents (the illness, the referrals' evidence and consent) is counted
//! back from today, so it can be seeded on any day of the 2026-27 demo calendar (3 September
//! 2026 to 21 July 2027; `ESMA_TODAY` fixes another). Before term starts there is no register
//! yet and the referrals date from today.

pub mod part_time;
pub mod support;

use std::collections::HashSet;

use chrono::{Days, NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::domain::access::Role;
use crate::domain::calendar::{hertfordshire_2026_27, AcademicYear, SchoolCalendar};
use crate::domain::case::ReviewStatus;
use crate::domain::codes::{AttendanceCode, Session};
use crate::domain::decision::Decision;
use crate::domain::identifiers::check_letter_for;
use crate::domain::policy::Policy;
use crate::domain::referral::ReferralForm;
use crate::error::ApiError;
use crate::service::attendance::{write_marks, MarkWrite};
use crate::service::clients::{self, NewClient};
use crate::service::imports::{PushKind, PushMode, Rejections, Tally};
use crate::service::push::{conclude, open_import, PushContext};
use crate::service::referrals::{decide_now, submit_in};
use crate::service::{Actor, AuditSubject};
use crate::store::audit::NewAuditEvent;
use crate::store::cases as case_store;
use crate::store::marks::{self as marks_store, IncomingMark};
use crate::store::pupils::{self as pupil_store, EnrolmentRow, PupilRow};
use crate::store::referrals as referral_store;
use crate::store::{audit, calendars, schools, Db, DbConnection};

pub const DEMO_SCHOOLS: [(i32, &str, &str, &str); 2] = [
    (117001, "Oakfield Primary School", "9192001", "primary"),
    (117002, "Hillside Academy", "9194001", "secondary"),
];

pub(crate) const FORENAMES: [&str; 10] = [
    "Amara", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Harry", "Isla", "Jack",
];
pub(crate) const SURNAMES: [&str; 6] = ["Okafor", "Smith", "Patel", "Jones", "Nowak", "Brown"];

#[derive(Debug, Serialize)]
pub struct DemoCredentials {
    pub la: NewClient,
    pub school: NewClient,
    pub admin: NewClient,
}

/// The demo pupils' UPNs: LA 919, serials by school.
pub fn demo_upn(school_index: usize, n: usize) -> String {
    let tail = format!("919{:04}{:04}0", 1000 + school_index, n);
    format!("{}{tail}", check_letter_for(&tail).unwrap_or('A'))
}

/// How many school days, up to today, pupil 1 of each school has been off ill: enough to reach
/// the 15-day sickness return (RULES.md R4.4).
pub const ILL_SCHOOL_DAYS: usize = 16;

/// The demo's dates, counted back from today over the school days so far (also what the spec's
/// examples are dated from: `api::examples`).
#[derive(Debug, Clone, Copy)]
pub struct DemoDates {
    pub today: NaiveDate,
    /// Pupil 1's illness began (the last `ILL_SCHOOL_DAYS` school days, or since term began).
    pub ill_since: NaiveDate,
    /// Hillside's pupil 2's absence began (the 8th school day, or the latest so far).
    pub hillside_absence_from: NaiveDate,
    /// Hillside's pupil 4's four weeks of support, once the year has the school days for it.
    pub support: Option<support::SupportDates>,
    /// Hillside's pupil 6's part-time timetable and Oakfield's pupil 6's unagreed `C2`.
    pub part_time: Option<part_time::PartTimeDates>,
}

impl DemoDates {
    /// The dates for `today` under `calendar`: its school days from the start of today's
    /// academic year (at most to the end of the year) up to today.
    pub fn on(today: NaiveDate, calendar: &SchoolCalendar) -> DemoDates {
        let year = AcademicYear::containing(today);
        let school_days: Vec<NaiveDate> = year
            .first_day()
            .iter_days()
            .take_while(|d| *d <= today.min(year.last_day()))
            .filter(|d| calendar.is_school_day(*d))
            .collect();
        DemoDates::new(today, &school_days)
    }

    fn new(today: NaiveDate, school_days: &[NaiveDate]) -> DemoDates {
        let ill_since = school_days
            .len()
            .checked_sub(ILL_SCHOOL_DAYS)
            .and_then(|i| school_days.get(i))
            .or(school_days.first())
            .copied()
            .unwrap_or(today);
        let hillside_absence_from = school_days
            .get(7)
            .or(school_days.last())
            .copied()
            .unwrap_or(today);
        DemoDates {
            today,
            ill_since,
            hillside_absence_from,
            support: support::SupportDates::new(today, school_days),
            part_time: part_time::PartTimeDates::new(today, school_days),
        }
    }

    /// `days` after `from`, but never after today (evidence cannot be future-dated).
    pub fn after(&self, from: NaiveDate, days: u64) -> NaiveDate {
        from.checked_add_days(Days::new(days))
            .unwrap_or(from)
            .min(self.today)
    }

    /// `days` before today, but not before `floor`.
    fn before_today(&self, days: u64, floor: NaiveDate) -> NaiveDate {
        self.today
            .checked_sub_days(Days::new(days))
            .unwrap_or(self.today)
            .max(floor)
            .min(self.today)
    }
}

/// A register pattern that gives the demo something to show: pupil 1 of each school has been
/// off ill (`I`) for the last `ILL_SCHOOL_DAYS` (16) school days (a long illness run), pupil 2 has scattered unexplained absences,
/// pupil 3 is often late; Hillside's pupil 4 was off ill before her support began and is on
/// `C2` since (R12.1), with two mornings a week in school from her first review; everyone else is
/// present.
fn demo_code(
    school_index: usize,
    n: usize,
    day: NaiveDate,
    pm: bool,
    index: usize,
    dates: &DemoDates,
) -> (AttendanceCode, Option<i32>) {
    let ill_since = dates.ill_since;
    if let Some(story) = dates
        .support
        .filter(|_| (school_index, n) == support::PUPIL)
    {
        if let Some(code) = story.register_code(day, pm) {
            return (code, None);
        }
    }
    if let Some(code) = dates
        .part_time
        .and_then(|p| p.register_code((school_index, n), day, pm))
    {
        return (code, None);
    }
    match n {
        1 if day >= ill_since => (AttendanceCode::I, None),
        2 if index % 9 == 4 => (AttendanceCode::N, None),
        2 if index % 9 == 7 => (AttendanceCode::O, None),
        3 if index.is_multiple_of(5) && !pm => (AttendanceCode::L, Some(10)),
        _ if pm => (AttendanceCode::PresentPm, None),
        _ => (AttendanceCode::PresentAm, None),
    }
}

/// Writes demo marks of a school as one register import, the way a push does (tallies and
/// alerts kept); returns its audit row.
fn push_register(
    conn: &mut DbConnection,
    actor: &Actor,
    policy: &Policy,
    urn: i32,
    marks: &[IncomingMark],
    now: NaiveDateTime,
    today: NaiveDate,
) -> Result<NewAuditEvent, ApiError> {
    let push = PushContext {
        kind: PushKind::Register,
        urn: Some(urn),
        mode: PushMode::Partial,
        actor: actor.clone(),
        now,
        today,
    };
    let import_id = open_import(conn, &push, None)?;
    let write = MarkWrite {
        school_urn: urn,
        import_id,
        now,
        today,
        policy: &policy.attendance,
        case_policy: policy,
    };
    let written = write_marks(conn, &write, marks)?;
    let tally = Tally {
        received: marks.len(),
        inserted: written.inserted,
        updated: written.updated,
        unchanged: 0,
    };
    conclude(conn, &push, import_id, tally, Rejections::new(None))?;
    Ok(actor.audit(
        now,
        "import",
        AuditSubject::new("register_import", import_id.to_string()).school(urn),
    ))
}

/// R15.3: a `C2` session that the support case or the part-time timetable covers. [`seed`]
/// leaves these to [`seed_support`], which pushes them once the case and the agreement are
/// recorded, as a school records `C2` under an agreement; pushed before them, each pupil's would
/// raise `c2_without_agreement`, to be resolved by an agreement written with its own earlier
/// date, before the day the alert was raised.
fn covered_c2(pupil: (usize, usize), day: NaiveDate, pm: bool, dates: &DemoDates) -> bool {
    let code = if pupil == support::PUPIL {
        dates.support.and_then(|story| story.register_code(day, pm))
    } else {
        dates
            .part_time
            .filter(|_| pupil == part_time::AGREED)
            .and_then(|p| p.register_code(pupil, day, pm))
    };
    code == Some(AttendanceCode::C2)
}

/// The school days of the demo calendar's year up to `today`.
fn school_days_to(calendar: &SchoolCalendar, today: NaiveDate) -> Vec<NaiveDate> {
    let year = AcademicYear::containing(today);
    year.first_day()
        .iter_days()
        .take_while(|d| *d <= today.min(year.last_day()))
        .filter(|d| calendar.is_school_day(*d))
        .collect()
}

/// Seeds the demo data (idempotent: a second start changes nothing) and creates fresh clients.
pub fn seed(db: &Db, policy: &Policy, today: NaiveDate) -> Result<DemoCredentials, ApiError> {
    let actor = Actor::operator("serve --demo");
    let calendar = hertfordshire_2026_27();
    let school_days = school_days_to(&SchoolCalendar::new(vec![calendar.clone()]), today);
    let dates = DemoDates::new(today, &school_days);
    db.write_now(|conn| {
        let now = crate::clock::Clock::fixed(today).now_naive();
        calendars::replace(conn, &calendar, now)?;
        let mut events = vec![actor.audit(
            now,
            "update",
            AuditSubject::new("calendar", calendar.academic_year.to_string()),
        )];
        for (school_index, (urn, name, laestab, phase)) in DEMO_SCHOOLS.into_iter().enumerate() {
            schools::upsert(conn, urn, name, laestab, phase, now)?;
            events.push(actor.audit(
                now,
                "update",
                AuditSubject::new("school", urn.to_string()).school(urn),
            ));
            let roll = pupil_store::roll_of(conn, urn)?;
            let (mut new_pupils, mut new_enrolments, mut new_marks) =
                (Vec::new(), Vec::new(), Vec::new());
            for n in 1..=24 {
                let upn = demo_upn(school_index, n);
                if roll.contains_key(&upn) {
                    continue;
                }
                let born = NaiveDate::from_ymd_opt(
                    if phase == "primary" { 2016 } else { 2012 },
                    1 + (n as u32 % 12),
                    1 + n as u32,
                )
                .unwrap_or(today);
                new_pupils.push(PupilRow {
                    upn: upn.clone(),
                    created_at: now,
                    updated_at: now,
                });
                new_enrolments.push(EnrolmentRow {
                    school_urn: urn,
                    upn: upn.clone(),
                    on_roll_from: NaiveDate::from_ymd_opt(2026, 9, 3).unwrap_or(today),
                    on_roll_until: None,
                    updated_at: now,
                    legal_forename: FORENAMES[n % FORENAMES.len()].to_string(),
                    legal_surname: SURNAMES[n % SURNAMES.len()].to_string(),
                    date_of_birth: born,
                    postcode: Some(format!("SG{} {}AB", 1 + n % 9, n % 10)),
                    home_la_code: Some(919),
                    ehcp: n % 11 == 0,
                    sen_support: n % 5 == 0,
                    pupil_premium: n % 4 == 0,
                });
                for (index, day) in school_days.iter().enumerate() {
                    for (session, pm) in [(Session::Am, false), (Session::Pm, true)] {
                        if covered_c2((school_index, n), *day, pm, &dates) {
                            continue; // pushed by seed_support, after what covers it
                        }
                        let (code, minutes_late) =
                            demo_code(school_index, n, *day, pm, index, &dates);
                        new_marks.push(IncomingMark {
                            upn: upn.as_str().into(),
                            mark_date: *day,
                            session,
                            code,
                            minutes_late,
                        });
                    }
                }
            }
            if new_pupils.is_empty() {
                continue;
            }
            pupil_store::insert_pupils(conn, &new_pupils)?;
            pupil_store::insert_enrolments(conn, &new_enrolments)?;
            events.push(push_register(
                conn, &actor, policy, urn, &new_marks, now, today,
            )?);
        }
        audit::append(conn, &events)?;
        Ok(())
    })?;
    seed_referrals(db, &actor, policy, dates)?;
    Ok(DemoCredentials {
        la: clients::add(db, &actor, "demo LA portal", Role::La, &[])?,
        school: clients::add(
            db,
            &actor,
            "demo MIS for Oakfield Primary",
            Role::School,
            &[117001],
        )?,
        admin: clients::add(db, &actor, "demo operator", Role::Admin, &[])?,
    })
}

/// The demo's facts an integrator needs to try the API, printed by `serve --demo` beside the
/// credentials (and what the spec's examples rely on: `api::examples`).
#[derive(Debug, Clone, Serialize)]
pub struct DemoFacts {
    pub today: NaiveDate,
    /// Pupil 1 of each school has been off ill (`I`) since this day ...
    pub ill_since: NaiveDate,
    /// ... for this many school days up to today.
    pub ill_school_days: usize,
    /// Hillside's pupil 1: off ill, no referral, no case (`examples/referral.json`, the spec's
    /// referral example).
    pub free_to_refer: String,
    /// Oakfield's pupil 1, referred and accepted: an active case.
    pub case_pupil: String,
    pub case_id: Option<i64>,
    pub case_referral_id: Option<i64>,
    /// Hillside's pupil 2, referred, `ineligible`, awaiting the LA's decision.
    pub awaiting_pupil: String,
    pub awaiting_referral_id: Option<i64>,
    /// The first day a case accepted today may start: the next school day (RULES.md R10.2).
    pub decision_start_date: NaiveDate,
    /// The case's next scheduled review: id, label and the day it is scheduled for.
    pub next_review: Option<(i64, String, NaiveDate)>,
    /// Hillside's pupil 4, four weeks into support: an agreed plan, lessons, a review held
    /// (`support`); none before the year has about eight weeks of school days.
    pub support_pupil: String,
    pub support_case_id: Option<i64>,
    /// Hillside's pupil 6 on a part-time timetable (its id), with a review due; Oakfield's pupil
    /// 6 with `C2` afternoons and no agreement (R15).
    pub part_time_pupil: String,
    pub part_time_timetable_id: Option<i64>,
    pub c2_without_agreement_pupil: String,
}

/// Seeds the support story (`support`) through the services, after [`seed`].
pub async fn seed_support(state: &crate::service::AppState) -> Result<(), ApiError> {
    let today = state.clock.today();
    let calendar = state
        .db
        .read(|conn| Ok(SchoolCalendar::new(calendars::all(conn)?)))
        .await?;
    let dates = DemoDates::on(today, &calendar);
    support::seed(state, &dates).await?;
    part_time::seed(state, dates.part_time).await?;
    // Then the C2 sessions they cover (`covered_c2`), those not stored yet.
    let (policy, now) = (state.policy.clone(), state.clock.now_naive());
    state
        .db
        .write(move |conn| {
            let actor = Actor::operator("serve --demo");
            let school_days = school_days_to(&calendar, today);
            let year = AcademicYear::containing(today);
            let mut events = Vec::new();
            for (school_index, (urn, ..)) in DEMO_SCHOOLS.into_iter().enumerate() {
                let mut marks = Vec::new();
                for pupil in [support::PUPIL, part_time::AGREED] {
                    if pupil.0 != school_index {
                        continue;
                    }
                    let upn = demo_upn(pupil.0, pupil.1);
                    let c2 = AttendanceCode::C2.as_str();
                    let stored: HashSet<(NaiveDate, String)> = marks_store::with_codes_of_pupils(
                        conn,
                        &[upn.as_str()],
                        &[c2],
                        year.first_day(),
                        today,
                    )?
                    .into_iter()
                    .filter(|m| m.school_urn == urn)
                    .map(|m| (m.mark_date, m.session))
                    .collect();
                    for day in &school_days {
                        for (session, pm) in [(Session::Am, false), (Session::Pm, true)] {
                            let key = (*day, session.as_str().to_string());
                            if covered_c2(pupil, *day, pm, &dates) && !stored.contains(&key) {
                                marks.push(IncomingMark {
                                    upn: upn.as_str().into(),
                                    mark_date: *day,
                                    session,
                                    code: AttendanceCode::C2,
                                    minutes_late: None,
                                });
                            }
                        }
                    }
                }
                if !marks.is_empty() {
                    events.push(push_register(
                        conn, &actor, &policy, urn, &marks, now, today,
                    )?);
                }
            }
            audit::append(conn, &events)?;
            Ok(())
        })
        .await
}

/// Reads the demo's facts for `today` (after [`seed`]).
pub fn facts(db: &Db, today: NaiveDate) -> Result<DemoFacts, ApiError> {
    db.write_now(|conn| {
        let calendar = SchoolCalendar::new(calendars::all(conn)?);
        let dates = DemoDates::on(today, &calendar);
        let ill_school_days = calendar
            .school_days_between(dates.ill_since.pred_opt().unwrap_or(dates.ill_since), today)
            as usize;
        let case_pupil = demo_upn(0, 1);
        let awaiting_pupil = demo_upn(1, 2);
        let case = case_store::active_of_pupil(conn, &case_pupil)?.map(|(id, _)| id);
        let (case_referral_id, next_review) = match case {
            Some(id) => {
                let referral = case_store::find(conn, id)?.map(|c| c.referral_id.get());
                let next = case_store::reviews_of(conn, id)?
                    .into_iter()
                    .find(|r| r.status == ReviewStatus::Scheduled && r.scheduled_for >= today)
                    .map(|r| (r.id.get(), r.label, r.scheduled_for));
                (referral, next)
            }
            None => (None, None),
        };
        let awaiting_referral_id =
            referral_store::open_of_pupil(conn, &awaiting_pupil)?.map(|(id, _)| id.get());
        Ok(DemoFacts {
            today,
            ill_since: dates.ill_since,
            ill_school_days,
            free_to_refer: demo_upn(1, 1),
            case_pupil,
            case_id: case.map(|id| id.get()),
            case_referral_id,
            awaiting_pupil,
            awaiting_referral_id,
            decision_start_date: calendar
                .next_school_day_on_or_after(today.succ_opt().unwrap_or(today)),
            next_review,
            support_pupil: demo_upn(support::PUPIL.0, support::PUPIL.1),
            support_case_id: case_store::active_of_pupil(
                conn,
                &demo_upn(support::PUPIL.0, support::PUPIL.1),
            )?
            .map(|(id, _)| id.get()),
            part_time_pupil: demo_upn(part_time::AGREED.0, part_time::AGREED.1),
            part_time_timetable_id: crate::store::part_time::of_pupil(
                conn,
                DEMO_SCHOOLS[part_time::AGREED.0].0,
                &demo_upn(part_time::AGREED.0, part_time::AGREED.1),
            )?
            .first()
            .map(|t| t.id.get()),
            c2_without_agreement_pupil: demo_upn(part_time::UNAGREED.0, part_time::UNAGREED.1),
        })
    })
}

/// Two referrals for the Swagger UI to show: Oakfield's pupil 1 (off ill for 16 school days,
/// consultant's evidence: `eligible`, accepted, an active case) and Hillside's pupil 2
/// (unexplained and unauthorised absences, GP evidence only: `ineligible`, with reasons, awaiting
/// the LA). Skipped when the pupil already has a referral, so a restart changes nothing.
fn seed_referrals(
    db: &Db,
    actor: &Actor,
    policy: &Policy,
    dates: DemoDates,
) -> Result<(), ApiError> {
    let today = dates.today;
    // Oakfield's, dated from the illness.
    let mut oakfield = oakfield_referral();
    let issued = dates.after(dates.ill_since, 2);
    oakfield["absence"]["first_day"] = serde_json::json!(dates.ill_since);
    oakfield["medical"]["evidence"][0]["issued_on"] = serde_json::json!(issued);
    oakfield["consent"]["signed_on"] = serde_json::json!(dates.after(issued, 1));
    let hillside_from = dates.hillside_absence_from;
    let hillside_evidence = dates.before_today(34, hillside_from);
    let forms = [
        oakfield,
        serde_json::json!({
            "school_urn": 117002,
            "pupil": {"upn": demo_upn(1, 2), "legal_forename": FORENAMES[2], "legal_surname": SURNAMES[2],
                      "date_of_birth": "2012-03-03", "postcode": "SG3 2AB", "home_la_code": 919,
                      "elective_home_education": false},
            "absence": {"first_day": hillside_from, "authorised_by_school": true, "reduced_timetable": true},
            "medical": {"condition_category": "emotional", "condition": "Low mood and anxiety about school",
                        "long_term_or_recurrent": false,
                        "evidence": [{"source": "gp", "issued_on": hillside_evidence, "states_unable_to_attend": true,
                                      "likely_duration_school_days": 10}]},
            "consent": {"parental_consent_signed": true, "signed_on": dates.after(hillside_evidence, 1),
                        "signatory": "Parent of Chloe"},
            "support": {"apdr_attached": true, "current_support_plan": "Reduced timetable, mornings only",
                        "reintegration_plan_attached": true, "ihcp": false},
            "baseline": {"attainment": "Below expected in maths", "engagement": "Attends mornings",
                         "wellbeing": "Anxious"},
            "referrer": {"name": "Pat Lee", "role": "Head of Year 9", "email": "pastoral@hillside.example.org"}
        }),
    ];
    // Received on the demo's today, so the case it accepts may start the next school day (R10.2).
    let now = crate::clock::Clock::fixed(today).now_naive();
    db.write_now(|conn| {
        let mut created = Vec::new();
        for form in &forms {
            let form: ReferralForm = serde_json::from_value(form.clone())
                .map_err(|e| ApiError::internal(format!("demo referral: {e}")))?;
            match submit_in(conn, actor, form, policy, today, now) {
                Ok(record) => created.push(record.id),
                // Already referred on an earlier start.
                Err(e) if e.kind == crate::error::ProblemKind::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        // The LA accepts Ben's (eligible) referral from the next school day: an active case
        // whose reviews fill the worklist.
        if let Some(first) = created.first() {
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            let start = calendar.next_school_day_on_or_after(today.succ_opt().unwrap_or(today));
            let decision: Decision = serde_json::from_value(serde_json::json!({
                "outcome": "accepted", "start_date": start,
                "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "home"},
                              {"kind": "telepresence_robot", "hours_per_week": 10, "venue": "online"}],
                "risk_assessment_completed": true, "decided_by": "ESMA panel (demo)"}))
            .map_err(|e| ApiError::internal(format!("demo decision: {e}")))?;
            decide_now(conn, actor, *first, &decision, policy, today, now)?;
        }
        Ok(())
    })
}

/// Oakfield's pupil 1's referral, the demo's first (its dates are moved relative to the day of
/// seeding).
fn oakfield_referral() -> serde_json::Value {
    serde_json::json!({
        "school_urn": 117001,
        "pupil": {"upn": demo_upn(0, 1), "legal_forename": FORENAMES[1], "legal_surname": SURNAMES[1],
                  "date_of_birth": "2016-02-02", "postcode": "SG2 1AB", "home_la_code": 919,
                  "elective_home_education": false},
        "absence": {"first_day": "2026-11-02", "authorised_by_school": true, "reduced_timetable": false},
        "medical": {"condition_category": "physical", "condition": "Post-operative recovery after spinal surgery",
                    "long_term_or_recurrent": false, "hospital_inpatient": false,
                    "evidence": [{"source": "consultant", "professional_name": "Ms R. Shah, Lister Hospital",
                                  "contact": "01438 314333", "issued_on": "2026-11-04",
                                  "states_unable_to_attend": true, "likely_duration_school_days": 30}],
                    "treatment_plan_attached": true},
        "consent": {"parental_consent_signed": true, "signed_on": "2026-11-05", "signatory": "Parent of Ben"},
        "support": {"apdr_attached": true, "current_support_plan": "Work sent home weekly; class teacher calls on Fridays",
                    "reintegration_plan_attached": false, "ihcp": false},
        "funding": {"ehcp": false, "local_high_needs_funding": false, "pupil_premium": false},
        "baseline": {"attainment": "Working at the expected standard", "engagement": "Keen, tires quickly",
                     "wellbeing": "Frustrated at missing friends"},
        "pupil_voice": "I want to be back for the Christmas play",
        "referrer": {"name": "Sam Reed", "role": "SENDCo", "email": "sendco@oakfield.example.org"}
    })
}
