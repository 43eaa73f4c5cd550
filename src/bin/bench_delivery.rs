//! bench-delivery: issue 23's two benchmark targets against the real server. A term of an LA's
//! ESMA lessons pushed in one request to `POST /api/v1/lessons`, then the same push again (it
//! must write nothing); and the progress report of a case with a year of lessons,
//! `GET /api/v1/cases/{id}/report` as JSON and as the HTML page, timed over sequential requests.
//!
//! Everything is set up through the HTTP API as an integrator would: the LA calendar (if the
//! server has none), schools, rolls, referrals and the decisions accepting them, a plan, lessons,
//! the register and a held review. The server's "today" moves as the school year does, by
//! restarting it with another `ESMA_TODAY` on the same database: decisions must start after the
//! referral (R10.2) and lessons may not be in the future (R14.3).
//!
//! 1. Today 2026-09-07: calendar, schools, rolls; the year case referred and accepted from
//!    2026-09-08, with an agreed plan.
//! 2. Today 2027-01-05: `--cases` referrals accepted from 2027-01-06.
//! 3. Today 2027-03-29: the spring term's lessons of those cases (`--lessons-per-case` each) in
//!    one push, timed; the same push again, timed (every row `unchanged`).
//! 4. Today 2027-07-22: the year case's lessons (`--lessons-per-day` each school day), its school
//!    register and two held reviews with progress; then its report, `--warm-up` requests and
//!    `--requests` timed ones each as JSON and as HTML, one at a time.
//!
//! ```sh
//! cargo build --release --bin esma-api --bin bench-delivery   # the server it starts, too
//! cargo run --release --bin bench-delivery
//! cargo run --release --bin bench-delivery -- \
//!     --database-url postgres://postgres@127.0.0.1:5432/esma_bench_delivery --fresh
//! ```
//!
//! Each run needs an empty database: the default is a new SQLite file in a temporary directory;
//! a given database is refused if it has tables, unless `--fresh` wipes it first. Progress goes
//! to stderr, the results table to stdout. Exit status 1 when anything fails, including a push
//! report whose counts are not what was sent; unmet targets are reported in the table but do not
//! fail the run (it is a measurement, not a test).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use clap::Parser;
use esma_api::domain::calendar::{hertfordshire_2026_27, LaCalendar};
use esma_api::domain::identifiers::check_letter_for;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

#[path = "bench_support/harness.rs"]
mod harness;

#[path = "bench_support/memory.rs"]
mod memory;
#[path = "bench_support/steps.rs"]
mod steps;

use harness::{
    add_client, esma, finish, machine_load, main_with, median, prepare, server_cpu_secs, truncate,
    Prepared, Target,
};
use memory::rss_mib;
use steps::{start_step, Setup, Step};

/// The name messages start with (the harness's too).
const PROGRAM: &str = "bench-delivery";

#[derive(Debug, Parser)]
#[command(
    name = "bench-delivery",
    about = "Benchmark a term's ESMA lesson push and a year's progress report (issue 23)"
)]
struct Args {
    /// Cases whose spring-term lessons make the timed push.
    #[arg(long, default_value_t = 200)]
    cases: usize,
    /// Lessons of each case in the push (at most one a school day: 1 to 53).
    #[arg(long, default_value_t = 50)]
    lessons_per_case: usize,
    /// Lessons each school day for the year case (its report is timed).
    #[arg(long, default_value_t = 3)]
    lessons_per_day: usize,
    /// Timed report requests, each format, one at a time.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Untimed report requests first, each format.
    #[arg(long, default_value_t = 20)]
    warm_up: usize,
    #[command(flatten)]
    target: Target,
    /// Seed of the generated lessons (same seed, same data).
    #[arg(long, default_value_t = 20270329)]
    seed: u64,
    /// How often the server runs its clock-driven event scan (`ESMA_EVENT_SCAN_SECS`; the
    /// server's default is 60). 0 turns it off.
    #[arg(long, default_value_t = 60)]
    event_scan_secs: u64,
}

const LA: u16 = 919;
const FIRST_URN: i32 = 200_001;
/// Pupils on each school's roll; the cases are spread over as many schools as they need.
const PUPILS_PER_SCHOOL: usize = 20;
const ON_ROLL_FROM: &str = "2026-09-03";
/// The server's today in each step (see the module comment).
const TODAY_AUTUMN: &str = "2026-09-07";
const TODAY_SPRING: &str = "2027-01-05";
const TODAY_EASTER: &str = "2027-03-29";
const TODAY_SUMMER: &str = "2027-07-22";
const YEAR_CASE_START: &str = "2026-09-08";
const TERM_CASES_START: &str = "2027-01-06";
const SPRING_ENDS: &str = "2027-03-26";
const SUMMER_ENDS: &str = "2027-07-21";

const FORENAMES: [&str; 12] = [
    "Olivia", "Amelia", "Isla", "Ava", "Noah", "Oliver", "George", "Arthur", "Muhammad", "Leo",
    "Freya", "Harry",
];
const SURNAMES: [&str; 12] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson",
];
const TEACHERS: [&str; 6] = [
    "A. Khan",
    "B. Okafor",
    "C. Doyle",
    "D. Evans",
    "E. Novak",
    "F. Hughes",
];
const START_TIMES: [&str; 6] = ["09:00", "09:30", "10:30", "11:15", "13:30", "14:15"];

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a constant date")
}

/// The LA calendar's school days from `from` to `to`, both included.
fn school_days(calendar: &LaCalendar, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| calendar.is_school_day(*d))
        .collect()
}

// ---------------------------------------------------------------- the generated LA

/// A pupil on a roll: the year case's is pupil 0 of school 0, the term cases' the next ones.
struct Pupil {
    urn: i32,
    upn: String,
    forename: &'static str,
    surname: &'static str,
    date_of_birth: NaiveDate,
}

fn pupils(count: usize, rng: &mut StdRng) -> Result<Vec<Pupil>, String> {
    // Years 3 to 10 all year: of compulsory school age (R7).
    let oldest = day("2011-09-01");
    let span = (day("2018-08-31") - oldest).num_days();
    (0..count)
        .map(|i| {
            let (school, serial) = (i / PUPILS_PER_SCHOOL, i % PUPILS_PER_SCHOOL);
            let twelve = format!("{LA}{:04}{serial:05}", 2001 + school);
            let letter =
                check_letter_for(&twelve).ok_or_else(|| format!("no check letter for {twelve}"))?;
            Ok(Pupil {
                urn: FIRST_URN + school as i32,
                upn: format!("{letter}{twelve}"),
                forename: FORENAMES[rng.random_range(0..FORENAMES.len())],
                surname: SURNAMES[rng.random_range(0..SURNAMES.len())],
                date_of_birth: oldest + chrono::Duration::days(rng.random_range(0..=span)),
            })
        })
        .collect()
}

/// Subjects as ESMA teaches them: mostly the core subjects.
fn subject(rng: &mut StdRng) -> &'static str {
    match rng.random_range(0..100) {
        0..30 => "maths",
        30..60 => "english",
        60..85 => "science",
        _ => "other",
    }
}

/// How a case's pupil takes to the lessons: most engage, some are often ill, a few refuse
/// (R14.5 raises `lesson_non_engagement` for those).
#[derive(Clone, Copy)]
enum Engagement {
    Usual,
    OftenIll,
    Refusing,
}

/// One lesson as the push body wants it.
fn lesson(
    case_id: i64,
    date: NaiveDate,
    start_time: &str,
    subject: &str,
    home: bool,
    pupil: Engagement,
    rng: &mut StdRng,
) -> Value {
    let mode = if home && rng.random_bool(0.5) {
        "home"
    } else {
        [
            "online_group",
            "online_one_to_one",
            "base_group",
            "base_one_to_one",
            "av1",
        ][rng.random_range(0..5)]
    };
    let planned: i64 = [30, 45, 60, 60, 90][rng.random_range(0..5)];
    let r: f64 = rng.random();
    let (absent_authorised, absent_unauthorised) = match pupil {
        Engagement::Usual => (0.08, 0.05),
        Engagement::OftenIll => (0.35, 0.05),
        Engagement::Refusing => (0.05, 0.6),
    };
    let attendance = if r < 0.03 {
        "cancelled_by_esma"
    } else if r < 0.03 + absent_authorised {
        "absent_authorised"
    } else if r < 0.03 + absent_authorised + absent_unauthorised {
        "absent_unauthorised"
    } else if rng.random_bool(0.08) {
        "late"
    } else {
        "attended"
    };
    let minutes_late = (attendance == "late").then(|| rng.random_range(1..planned.min(20)));
    let engagement = matches!(attendance, "attended" | "late").then(|| match pupil {
        Engagement::Refusing => rng.random_range(1..=2),
        _ => rng.random_range(2..=4),
    });
    let note = (rng.random_range(0..10) == 0).then_some("Worked through the set tasks");
    json!({
        "case_id": case_id, "date": date, "start_time": start_time, "subject": subject,
        "mode": mode, "planned_minutes": planned, "attendance": attendance,
        "minutes_late": minutes_late, "engagement": engagement,
        "teacher": TEACHERS[rng.random_range(0..TEACHERS.len())], "note": note,
    })
}

/// The term push: `per_case` lessons of each case, one a school day from the cases' start to the
/// end of the spring term, at varied times.
fn term_lessons(
    cases: &[(i64, bool)],
    per_case: usize,
    calendar: &LaCalendar,
    seed: u64,
) -> Vec<Value> {
    let days = school_days(calendar, day(TERM_CASES_START), day(SPRING_ENDS));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut lessons = Vec::with_capacity(cases.len() * per_case);
    for (i, &(case_id, home)) in cases.iter().enumerate() {
        let pupil = match i % 20 {
            0 => Engagement::Refusing,
            1 | 2 => Engagement::OftenIll,
            _ => Engagement::Usual,
        };
        let mut chosen = rand::seq::index::sample(&mut rng, days.len(), per_case).into_vec();
        chosen.sort_unstable();
        for d in chosen {
            let start = START_TIMES[rng.random_range(0..START_TIMES.len())];
            let subject = subject(&mut rng);
            lessons.push(lesson(
                case_id, days[d], start, subject, home, pupil, &mut rng,
            ));
        }
    }
    lessons
}

/// The year case's lessons: `per_day` each school day from its start to the end of the year,
/// a core subject in the morning and more in the afternoon.
fn year_lessons(case_id: i64, per_day: usize, calendar: &LaCalendar, seed: u64) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let subjects = ["maths", "english", "science", "other"];
    let mut lessons = Vec::new();
    for (n, date) in school_days(calendar, day(YEAR_CASE_START), day(SUMMER_ENDS))
        .into_iter()
        .enumerate()
    {
        for slot in 0..per_day {
            let subject = subjects[(n + slot) % subjects.len()];
            let start = START_TIMES[slot % START_TIMES.len()];
            let pupil = if date.month() == 11 {
                Engagement::OftenIll // a bad November
            } else {
                Engagement::Usual
            };
            lessons.push(lesson(case_id, date, start, subject, true, pupil, &mut rng));
        }
    }
    lessons
}

/// The year case's school register: ill before the start, `C2` (taught by ESMA) from it, and
/// back in school on mornings in the summer term (the plan's phased return).
fn year_register(upn: &str, calendar: &LaCalendar) -> Value {
    let marks: Vec<Value> = school_days(calendar, day(ON_ROLL_FROM), day(SUMMER_ENDS))
        .into_iter()
        .flat_map(|date| {
            ["AM", "PM"].map(|session| {
                let code = if date < day(YEAR_CASE_START) {
                    "I"
                } else if date >= day("2027-04-12") && session == "AM" {
                    "/"
                } else {
                    "C2"
                };
                json!({"upn": upn, "date": date, "session": session, "code": code})
            })
        })
        .collect();
    json!({ "marks": marks })
}

fn referral(pupil: &Pupil, received: NaiveDate) -> Value {
    let before = |days: i64| received - chrono::Duration::days(days);
    json!({
        "school_urn": pupil.urn,
        "pupil": {"upn": pupil.upn, "legal_forename": pupil.forename,
                  "legal_surname": pupil.surname, "date_of_birth": pupil.date_of_birth,
                  "home_la_code": LA},
        "absence": {"first_day": before(20).max(day(ON_ROLL_FROM)), "authorised_by_school": true},
        "medical": {"condition_category": "physical", "condition": "Post-operative recovery",
                    "evidence": [{"source": "hospital", "issued_on": before(2),
                                  "states_unable_to_attend": true,
                                  "likely_duration_school_days": 60}]},
        "consent": {"parental_consent_signed": true},
        "support": {"apdr_attached": true, "current_support_plan": "Work sent home"},
        "baseline": {"attainment": "Expected", "engagement": "Good", "wellbeing": "Low"},
        "referrer": {"name": "Sam Reed", "email": "sendco@school.example.org"}
    })
}

fn decision(start: &str, home: bool) -> Value {
    let mut provision =
        vec![json!({"kind": "group_teaching", "hours_per_week": 5, "venue": "online"})];
    if home {
        provision.push(json!({"kind": "one_to_one_tuition", "hours_per_week": 3, "venue": "home"}));
    }
    json!({"outcome": "accepted", "start_date": start, "provision": provision,
           "risk_assessment_completed": home, "decided_by": "ESMA panel (benchmark)"})
}

fn plan() -> Value {
    json!({
        "status": "agreed",
        "baseline": {"scale": "WTS/EXS/GDS", "english": "WTS", "maths": "WTS", "science": "EXS",
                     "engagement": "online two days in three", "emotional_wellbeing": "anxious"},
        "targets": [
            {"description": "two mornings a week in school", "owner": "school",
             "measure": "register", "by": "2027-02-12"},
            {"description": "weekly maths tasks", "owner": "pupil", "measure": "tasks done"},
            {"description": "fortnightly check-in with the school nurse", "owner": "health",
             "measure": "check-ins held"}
        ],
        "pupil_voice": "I want to see my friends",
        "parent_voice": "mornings are hard",
        "reintegration_steps": [{"from": "2027-01-11", "sessions_per_week": 2},
                                {"from": "2027-04-12", "sessions_per_week": 5}]
    })
}

/// Refers a pupil and accepts the referral from `start`; the case id.
async fn open_case(
    step: &Step,
    pupil: &Pupil,
    received: NaiveDate,
    start: &str,
    home: bool,
) -> Result<i64, String> {
    let opened = steps::open_case(step, &referral(pupil, received), decision(start, home)).await?;
    if let Some(assessment) = &opened.overridden {
        // Measured all the same; say why so the set-up can be put right.
        eprintln!(
            "{PROGRAM}: case {} opened with an override: assessed {} ({})",
            opened.case_id, assessment["outcome"], assessment["missing"]
        );
    }
    Ok(opened.case_id)
}

/// The import report's counts, checked against what the push must say.
fn check_push(what: &str, status: u16, body: &[u8], want: [u64; 4]) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    if status != 200 {
        return Err(format!(
            "{what} answered {status}: {}",
            truncate(&text, 800)
        ));
    }
    let report: Value =
        serde_json::from_slice(body).map_err(|e| format!("{what}: unreadable report: {e}"))?;
    let got: Vec<u64> = ["inserted", "updated", "unchanged", "rejected"]
        .iter()
        .map(|k| report[k].as_u64().unwrap_or(u64::MAX))
        .collect();
    if got != want {
        return Err(format!(
            "{what}: inserted/updated/unchanged/rejected {got:?}, expected {want:?}; errors: {}",
            truncate(&report["errors"].to_string(), 800)
        ));
    }
    Ok(())
}

/// One timed push: wall seconds and server CPU seconds.
async fn timed_push(
    step: &Step,
    what: &str,
    body: &[u8],
    want: [u64; 4],
) -> Result<(f64, f64), String> {
    let cpu_before = server_cpu_secs();
    let started = Instant::now();
    let (status, answer) = step
        .la()
        .send(
            reqwest::Method::POST,
            "/api/v1/lessons",
            Some(body.to_vec()),
        )
        .await?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = server_cpu_secs() - cpu_before;
    check_push(what, status, &answer, want)?;
    eprintln!("{PROGRAM}:   {what}: {secs:.3} s, server CPU {cpu:.2} s");
    Ok((secs, cpu))
}

/// Report timings of one format, in milliseconds, sorted; and the size of the answer.
struct Timings {
    ms: Vec<f64>,
    bytes: usize,
}

impl Timings {
    /// The `q` quantile, nearest rank.
    fn at(&self, q: f64) -> f64 {
        let rank = ((q * self.ms.len() as f64).ceil() as usize).clamp(1, self.ms.len());
        self.ms[rank - 1]
    }
}

async fn time_report(
    step: &Step,
    path: &str,
    warm_up: usize,
    requests: usize,
) -> Result<Timings, String> {
    let api = step.la();
    let mut ms = Vec::with_capacity(requests);
    let mut bytes = 0;
    for i in 0..warm_up + requests {
        let started = Instant::now();
        let (status, body) = api.send(reqwest::Method::GET, path, None).await?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            return Err(format!(
                "GET {path} answered {status}: {}",
                truncate(&text, 800)
            ));
        }
        bytes = body.len();
        if i >= warm_up {
            ms.push(elapsed);
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok(Timings { ms, bytes })
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    let args = Args::parse();
    main_with(|workdir| run(&args, workdir))
}

/// What the steps measured.
struct Measured {
    year_case: i64,
    year_lessons: usize,
    first: (f64, f64),
    again: (f64, f64),
    /// Peak and current RSS of the server that took the pushes, after them.
    push_rss: (f64, f64),
    /// Open `lesson_non_engagement` alerts after the pushes.
    raised: usize,
    json: Timings,
    html: Timings,
    peak_rss: f64,
    rss_now: f64,
}

fn run(args: &Args, workdir: &Path) -> Result<(), String> {
    let calendar = hertfordshire_2026_27();
    let spring_days = school_days(&calendar, day(TERM_CASES_START), day(SPRING_ENDS)).len();
    if args.cases == 0 || args.lessons_per_case == 0 || args.lessons_per_case > spring_days {
        return Err(format!(
            "--cases must be at least 1 and --lessons-per-case 1 to {spring_days} (one a school day)"
        ));
    }
    if args.lessons_per_day == 0 || args.lessons_per_day > START_TIMES.len() || args.requests == 0 {
        return Err(format!(
            "--lessons-per-day must be 1 to {} and --requests at least 1",
            START_TIMES.len()
        ));
    }
    let Prepared {
        server_bin,
        url_text,
        url,
    } = prepare(&args.target, workdir)?;
    let backend = url.backend().name();
    let (load_at_start, cpus) = machine_load();

    let mut rng = StdRng::seed_from_u64(args.seed);
    let pupils = pupils(args.cases + 1, &mut rng)?;
    let urns: Vec<i32> = {
        let mut urns: Vec<i32> = pupils.iter().map(|p| p.urn).collect();
        urns.dedup();
        urns
    };
    eprintln!(
        "{PROGRAM}: migrating {} and adding clients",
        esma_api::store::redact(&url_text)
    );
    esma(&server_bin, &url_text, &["migrate".to_string()])?;
    let la = add_client(&server_bin, &url_text, "la", &[])?;
    let school = add_client(&server_bin, &url_text, "school", &urns)?;
    let setup = Setup {
        server_bin: &server_bin,
        url: &url_text,
        workdir,
        la: &la,
        school: &school,
        event_scan_secs: args.event_scan_secs,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let measured = runtime.block_on(steps(args, &setup, &calendar, &pupils, &urns))?;

    // The results table.
    let m = &measured;
    let lessons = args.cases * args.lessons_per_case;
    println!(
        "esma-api delivery benchmark: backend {backend}; {} cases x {} lessons = {lessons} lessons \
         in one push; year case {} with {} lessons",
        args.cases, args.lessons_per_case, m.year_case, m.year_lessons
    );
    println!(
        "{:<26} {:>7} {:>9} {:>10} {:>12}",
        "lesson push", "rows", "seconds", "lessons/s", "server CPU s"
    );
    for (name, (secs, cpu)) in [("first push", m.first), ("re-push (unchanged)", m.again)] {
        println!(
            "{name:<26} {lessons:>7} {secs:>9.3} {:>10.0} {cpu:>12.2}",
            lessons as f64 / secs
        );
    }
    println!(
        "{:<26} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "report (sequential)", "timed", "p50 ms", "p95 ms", "p99 ms", "max ms", "bytes"
    );
    for (name, t) in [("JSON", &m.json), ("HTML ?format=html", &m.html)] {
        println!(
            "{name:<26} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9}",
            t.ms.len(),
            median(&t.ms),
            t.at(0.95),
            t.at(0.99),
            t.at(1.0),
            t.bytes
        );
    }
    println!(
        "lesson_non_engagement alerts open after the pushes: {} (R14.5, raised by the first push)",
        m.raised
    );
    println!(
        "server peak RSS (VmHWM; VmRSS at the end): {:.0} MB ({:.0}) for the pushes, {:.0} MB \
         ({:.0}) for the report",
        m.push_rss.0, m.push_rss.1, m.peak_rss, m.rss_now
    );
    let busy = if load_at_start >= 0.5 {
        " (other work running: figures are noisy)"
    } else {
        ""
    };
    println!(
        "report: {} warm-up then {} timed requests per format; server's event scan every {} s; \
         machine: {cpus} CPUs, load average {load_at_start:.2} before the run{busy}",
        args.warm_up, args.requests, args.event_scan_secs
    );
    // Issue 23 "Acceptance".
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let targets = [
        format!("push < 1 s: {:.3} {}", m.first.0, verdict(m.first.0 < 1.0)),
        format!(
            "re-push writes nothing: unchanged {lessons} in {:.3} s met",
            m.again.0
        ),
        format!(
            "report JSON p95 < 50 ms: {:.1} {}",
            m.json.at(0.95),
            verdict(m.json.at(0.95) < 50.0)
        ),
        format!(
            "report HTML p95 < 50 ms: {:.1} {}",
            m.html.at(0.95),
            verdict(m.html.at(0.95) < 50.0)
        ),
    ];
    println!("targets: {}", targets.join("; "));

    finish(&args.target, workdir);
    Ok(())
}

/// The four steps of the school year (module comment), each on a server started for it.
async fn steps(
    args: &Args,
    setup: &Setup<'_>,
    calendar: &LaCalendar,
    pupils: &[Pupil],
    urns: &[i32],
) -> Result<Measured, String> {
    use reqwest::Method;
    // 1. The start of the year.
    let step = start_step(setup, TODAY_AUTUMN).await?;
    let result = async {
        let la = step.la();
        // The server may hold the LA calendar already (a demo); put it only when it has none.
        let (status, _) = la
            .send(Method::GET, "/api/v1/calendar/2026-27", None)
            .await?;
        if status == 404 {
            let body = json!({
                "terms": calendar.terms.iter().map(|t| json!({
                    "name": t.name, "starts": t.starts, "ends": t.ends,
                    "half_term": t.half_term.as_ref().map(|h| json!({"starts": h.starts, "ends": h.ends})),
                })).collect::<Vec<_>>(),
                "closures": calendar.closures,
            });
            la.ok(Method::PUT, "/api/v1/calendar/2026-27", Some(&body))
                .await?;
        }
        eprintln!("{PROGRAM}: {} schools and their rolls", urns.len());
        for &urn in urns {
            let body = json!({"name": format!("Bench School {urn}"),
                              "laestab": format!("{LA}{}", 2001 + urn - FIRST_URN),
                              "phase": "all_through"});
            la.ok(Method::PUT, &format!("/api/v1/schools/{urn}"), Some(&body))
                .await?;
            let roll: Vec<Value> = pupils
                .iter()
                .filter(|p| p.urn == urn)
                .map(|p| {
                    json!({"upn": p.upn, "legal_forename": p.forename, "legal_surname": p.surname,
                       "date_of_birth": p.date_of_birth, "postcode": "SG1 1AA",
                       "home_la_code": LA, "ehcp": false, "sen_support": false,
                       "pupil_premium": false, "on_roll_from": ON_ROLL_FROM,
                       "on_roll_until": null})
                })
                .collect();
            step.school()
                .ok(
                    Method::PUT,
                    &format!("/api/v1/schools/{urn}/pupils"),
                    Some(&json!({ "pupils": roll })),
                )
                .await?;
        }
        eprintln!("{PROGRAM}: the year case, from {YEAR_CASE_START}, and its plan");
        let year_case = open_case(&step, &pupils[0], day(TODAY_AUTUMN), YEAR_CASE_START, true).await?;
        step.la()
            .ok(Method::PUT, &format!("/api/v1/cases/{year_case}/plan"), Some(&plan()))
            .await?;
        Ok::<_, String>(year_case)
    }
    .await;
    let year_case = step.finish(result)?;

    // 2. The spring term's referrals.
    let step = start_step(setup, TODAY_SPRING).await?;
    let result = async {
        eprintln!(
            "{PROGRAM}: {} referrals accepted from {TERM_CASES_START}",
            args.cases
        );
        let mut cases = Vec::with_capacity(args.cases);
        for (i, pupil) in pupils[1..].iter().enumerate() {
            // One in four is also taught at home (R10.2's risk assessment with the decision).
            let home = i % 4 == 0;
            let id = open_case(&step, pupil, day(TODAY_SPRING), TERM_CASES_START, home).await?;
            cases.push((id, home));
        }
        Ok::<_, String>(cases)
    }
    .await;
    let cases = step.finish(result)?;

    // 3. After the spring term: its lessons in one push, and the same push again.
    let lessons = term_lessons(&cases, args.lessons_per_case, calendar, args.seed);
    let n = lessons.len() as u64;
    let body = serde_json::to_vec(&json!({ "lessons": lessons })).map_err(|e| e.to_string())?;
    let step = start_step(setup, TODAY_EASTER).await?;
    let result = async {
        eprintln!(
            "{PROGRAM}: the spring term's {n} lessons in one push ({} KB)",
            body.len() / 1024
        );
        let first = timed_push(&step, "first push", &body, [n, 0, 0, 0]).await?;
        let again = timed_push(&step, "re-push", &body, [0, 0, n, 0]).await?;
        // Read before the worklist below brings every case's alerts up to date: these are the
        // ones the push itself raised (R14.5).
        let rss = rss_mib(step.server.child.id())?;
        let alerts = step
            .la()
            .ok(
                Method::GET,
                "/api/v1/alerts?kind=lesson_non_engagement&limit=500",
                None,
            )
            .await?;
        let raised = alerts["items"].as_array().map_or(0, Vec::len);
        Ok::<_, String>((first, again, rss, raised))
    }
    .await;
    let (first, again, push_rss, raised) = step.finish(result)?;

    // 4. The end of the year: the year case's lessons, register and reviews; its report timed.
    let step = start_step(setup, TODAY_SUMMER).await?;
    let result = async {
        let lessons = year_lessons(year_case, args.lessons_per_day, calendar, args.seed);
        let year_lessons = lessons.len();
        eprintln!("{PROGRAM}: the year case's {year_lessons} lessons, register and reviews");
        let (status, answer) = step
            .la()
            .send(
                Method::POST,
                "/api/v1/lessons",
                Some(json!({ "lessons": lessons }).to_string().into_bytes()),
            )
            .await?;
        check_push("the year's lessons", status, &answer, [year_lessons as u64, 0, 0, 0])?;
        let year_pupil = &pupils[0];
        let register = step
            .school()
            .ok(
                Method::POST,
                &format!("/api/v1/schools/{}/registers", year_pupil.urn),
                Some(&year_register(&year_pupil.upn, calendar)),
            )
            .await?;
        if register["rejected"] != 0 {
            return Err(format!("the year case's register: {register}"));
        }
        let targets: Vec<i64> = step
            .la()
            .ok(Method::GET, &format!("/api/v1/cases/{year_case}/plan"), None)
            .await?["targets"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["id"].as_i64()).collect())
            .unwrap_or_default();
        let reviews = step
            .la()
            .ok(Method::GET, &format!("/api/v1/cases/{year_case}/reviews"), None)
            .await?;
        let meetings: Vec<(i64, String)> = reviews
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["kind"] == "review_meeting")
            .filter_map(|r| Some((r["id"].as_i64()?, r["scheduled_for"].as_str()?.to_string())))
            .take(2)
            .collect();
        for (n, (review, on)) in meetings.iter().enumerate() {
            let progress = if n == 0 { "in_progress" } else { "achieved" };
            let body = json!({
                "outcome": {"held_on": on, "attendees": ["Parent", "SENDCo", "ESMA teacher"],
                            "pupil_voice": "Maths is going well", "targets": "See the plan",
                            "next_steps": "More mornings in school"},
                "target_progress": targets.iter().map(|t| json!({"target_id": t, "progress": progress}))
                    .collect::<Vec<_>>(),
            });
            step.school()
                .ok(
                    Method::PATCH,
                    &format!("/api/v1/cases/{year_case}/reviews/{review}"),
                    Some(&body),
                )
                .await?;
        }
        let path = format!("/api/v1/cases/{year_case}/report");
        let report = step.la().ok(Method::GET, &path, None).await?;
        let planned = report["lessons"]["overall"]["all"]["planned"].as_u64().unwrap_or(0);
        let held = report["reviews_held"].as_array().map_or(0, Vec::len);
        if planned == 0 || held != meetings.len() || report["plan"].is_null() {
            return Err(format!(
                "the year case's report lacks something: {planned} lessons planned, {held} reviews \
                 held, plan {}",
                if report["plan"].is_null() { "absent" } else { "present" }
            ));
        }
        eprintln!(
            "{PROGRAM}: timing the report, {} + {} requests each as JSON and HTML",
            args.warm_up, args.requests
        );
        let json = time_report(&step, &path, args.warm_up, args.requests).await?;
        let html = time_report(
            &step,
            &format!("{path}?format=html"),
            args.warm_up,
            args.requests,
        )
        .await?;
        Ok::<_, String>((year_lessons, json, html))
    }
    .await;
    // Read before stopping: /proc/<pid> is gone once the server is reaped.
    let rss = rss_mib(step.server.child.id());
    let (year_lessons, json, html) = step.finish(result)?;
    let (peak_rss, rss_now) = rss?;
    Ok(Measured {
        year_case,
        year_lessons,
        first,
        again,
        push_rss,
        raised,
        json,
        html,
        peak_rss,
        rss_now,
    })
}
