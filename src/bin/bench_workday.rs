//! bench-workday: a working day's reads and writes against a year-end LA (issue 25, item 4).
//!
//! The nightly pushes are bench-ingest's; this is the day between them. Five operations, each
//! with one client and then with many at once, against a database that already holds an LA's
//! year of registers (made by `bench-ingest --year-to-date-days 187 --last-night 2027-07-16
//! --keep`):
//!
//! - pupil summary: `GET /api/v1/pupils/{upn}/attendance` (`la`), a random pupil each time;
//! - alert worklist page: `GET /api/v1/alerts?limit=100`, in turn unfiltered, one kind, one school;
//! - case read: `GET /api/v1/cases/{id}` (`la`), a random one of the run's cases;
//! - referral submit: `POST /api/v1/referrals` (`school`), a pupil with no referral yet each
//!   time, assessed against the pupil's year of registers;
//! - review outcome: `PATCH /api/v1/cases/{id}/reviews/{review_id}` (`school`) recording a held
//!   review, each time another scheduled one.
//!
//! Set-up, through the API: the server is started with "today" `--setup-school-days` before
//! `--today`, `--cases` pupils are referred and accepted from the next school day, and each case
//! gets enough extra reviews, on school days before `--today`, for every review outcome the run
//! records. Then the server is restarted on `--today` with its clock-driven event scan off, so
//! that the server's CPU per request is the requests' own.
//!
//! Printed for each operation and client count: requests, throughput, p50 and p99 latency (as
//! the client saw it), and the server's CPU time (user + system, from /proc) per request, with,
//! on PostgreSQL, the CPU time of the PostgreSQL processes beside it (SQLite's work is the
//! server's own). The program itself runs on the same machine: its own CPU per request is
//! printed too.
//!
//! ```sh
//! cargo build --release --bin esma-api --bin bench-ingest --bin bench-workday
//! target/release/bench-ingest --year-to-date-days 187 --last-night 2027-07-16 --keep \
//!     --database-url postgres://postgres@127.0.0.1:5432/esma_bench_year --fresh
//! target/release/bench-workday --database-url postgres://postgres@127.0.0.1:5432/esma_bench_year
//! ```
//!
//! Every run adds its own referrals, cases and held reviews to the database, so runs can be
//! repeated (before and after a change, interleaved) on the same year-end LA until its pupils
//! without a referral run out. `--perf-record DIR` records a `perf` profile of the server
//! during each operation's one-client phase (`perf report -i DIR/OP.data`).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::time::Instant;

use chrono::NaiveDate;
use clap::Parser;
use diesel::prelude::*;
use diesel::sql_types::{Date, Integer, Text};
use esma_api::domain::calendar::{hertfordshire_2026_27, SchoolCalendar};
use esma_api::store::DatabaseUrl;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use reqwest::Method;
use serde_json::{json, Value};

// What bench-ingest and bench-delivery need to make their own database is not used here.
#[allow(dead_code)]
#[path = "bench_support/harness.rs"]
mod harness;
#[path = "bench_support/steps.rs"]
mod steps;

use harness::{
    add_client, cpu_secs_of, esma, machine_load, main_with, server_binary, truncate, NewClient,
};
use steps::{start_step, Setup, Step};

/// The name messages start with (the harness's too).
const PROGRAM: &str = "bench-workday";

#[derive(Debug, Parser)]
#[command(
    name = "bench-workday",
    about = "Benchmark a working day's reads and writes against a year-end LA (issue 25)"
)]
struct Args {
    /// The year-end LA: sqlite://PATH or postgres://... (made by bench-ingest --keep). Not
    /// wiped: the run adds referrals, cases and reviews to it.
    #[arg(long)]
    database_url: String,
    /// The esma-api binary (default: the one next to this binary).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The server's today during the timed requests: by default the school day after
    /// bench-ingest's year end (2027-07-16, day 190).
    #[arg(long, default_value = "2027-07-19")]
    today: NaiveDate,
    /// School days before --today on which the cases are referred (they start the next one).
    #[arg(long, default_value_t = 30)]
    setup_school_days: u32,
    /// Concurrent clients, one run of every operation each (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 50])]
    clients: Vec<usize>,
    /// Timed requests of each operation with one client.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Timed requests of each operation with more than one client.
    #[arg(long, default_value_t = 3000)]
    concurrent_requests: usize,
    /// Untimed requests of each operation before its timed ones (each client count).
    #[arg(long, default_value_t = 20)]
    warm_up: usize,
    /// Cases opened in the set-up: the case reads' cases and the reviews' cases.
    #[arg(long, default_value_t = 300)]
    cases: usize,
    /// Seed of the random choices (pupils, cases).
    #[arg(long, default_value_t = 20270719)]
    seed: u64,
    /// Record a `perf record -g` profile of the server during each operation's one-client
    /// phase into this directory (`OP.data`).
    #[arg(long)]
    perf_record: Option<PathBuf>,
}

const LA: u16 = 919;

/// The operations, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Operation {
    PupilSummary,
    WorklistPage,
    CaseRead,
    ReferralSubmit,
    ReviewOutcome,
}

const OPERATIONS: [Operation; 5] = [
    Operation::PupilSummary,
    Operation::WorklistPage,
    Operation::CaseRead,
    Operation::ReferralSubmit,
    Operation::ReviewOutcome,
];

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::PupilSummary => "pupil_summary",
            Operation::WorklistPage => "worklist_page",
            Operation::CaseRead => "case_read",
            Operation::ReferralSubmit => "referral_submit",
            Operation::ReviewOutcome => "review_outcome",
        }
    }

    fn is_read(self) -> bool {
        matches!(
            self,
            Operation::PupilSummary | Operation::WorklistPage | Operation::CaseRead
        )
    }
}

/// A pupil on a school's roll, as the referral form gives them.
#[derive(Debug, Clone, QueryableByName)]
struct Pupil {
    #[diesel(sql_type = Integer)]
    urn: i32,
    #[diesel(sql_type = Text)]
    upn: String,
    #[diesel(sql_type = Text)]
    forename: String,
    #[diesel(sql_type = Text)]
    surname: String,
    #[diesel(sql_type = Date)]
    date_of_birth: NaiveDate,
}

/// Every pupil on a roll today without a referral, in UPN order.
fn pupils_without_referral(url: &DatabaseUrl, url_text: &str) -> Result<Vec<Pupil>, String> {
    const SQL: &str = "SELECT e.school_urn AS urn, e.upn, e.legal_forename AS forename, \
         e.legal_surname AS surname, e.date_of_birth FROM enrolments e \
         WHERE e.on_roll_until IS NULL \
         AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.upn = e.upn) ORDER BY e.upn";
    let read = match url {
        DatabaseUrl::Postgres(u) => PgConnection::establish(u)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                diesel::sql_query(SQL)
                    .load(&mut c)
                    .map_err(|e| e.to_string())
            }),
        DatabaseUrl::Sqlite(p) => SqliteConnection::establish(p)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                diesel::sql_query(SQL)
                    .load(&mut c)
                    .map_err(|e| e.to_string())
            }),
    };
    read.map_err(|e| {
        format!(
            "cannot read the pupils of {}: {e}\n  the database must hold a year-end LA: \
             bench-ingest --year-to-date-days 187 --last-night 2027-07-16 --keep",
            esma_api::store::redact(url_text)
        )
    })
}

/// The referral form for a pupil, received today: off ill for four weeks, with a consultant's
/// letter, everything R9 asks for present (the assessment still reads the pupil's register).
fn referral(pupil: &Pupil, today: NaiveDate) -> Value {
    let before = |days: i64| today - chrono::Duration::days(days);
    json!({
        "school_urn": pupil.urn,
        "pupil": {"upn": pupil.upn, "legal_forename": pupil.forename,
                  "legal_surname": pupil.surname, "date_of_birth": pupil.date_of_birth,
                  "postcode": "SG1 2AB", "home_la_code": LA, "elective_home_education": false},
        "absence": {"first_day": before(28), "authorised_by_school": true,
                    "reduced_timetable": false},
        "medical": {"condition_category": "physical", "condition": "Post-operative recovery",
                    "long_term_or_recurrent": true, "hospital_inpatient": false,
                    "evidence": [{"source": "consultant", "professional_name": "Dr A. Shah",
                                  "contact": "01438 314333", "issued_on": before(10),
                                  "states_unable_to_attend": true,
                                  "likely_duration_school_days": 40}],
                    "treatment_plan_attached": true, "named_medical_contact": "Dr A. Shah"},
        "consent": {"parental_consent_signed": true, "signed_on": before(8),
                    "signatory": "Parent"},
        "support": {"apdr_attached": true, "current_support_plan": "Work sent home weekly",
                    "reintegration_plan_attached": false, "ihcp": true},
        "funding": {"ehcp": false, "local_high_needs_funding": false, "pupil_premium": false,
                    "statement": "Funded from the school's notional SEN budget"},
        "baseline": {"attainment": "Expected", "engagement": "Good", "wellbeing": "Low"},
        "referrer": {"name": "Sam Reed", "role": "SENDCo", "email": "sendco@school.example.org"}
    })
}

fn decision(start: NaiveDate) -> Value {
    json!({"outcome": "accepted", "start_date": start,
           "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
           "reasons": [], "risk_assessment_completed": false,
           "decided_by": "ESMA panel (benchmark)"})
}

fn review_outcome(held_on: NaiveDate) -> Value {
    json!({"outcome": {"held_on": held_on, "attendees": ["Parent", "SENDCo", "ESMA teacher"],
                       "pupil_voice": "Mornings are easier now",
                       "targets": "Two mornings a week in school",
                       "actions": "School to send work weekly",
                       "next_steps": "Review again in six weeks"}})
}

/// A case opened in the set-up and its extra reviews, each recorded once.
struct OpenedCase {
    id: i64,
    reviews: Vec<i64>,
}

/// What the set-up made: the cases, and the pupils left for referral submits.
struct Prepared {
    cases: Vec<OpenedCase>,
}

async fn set_up(
    step: &Step,
    pupils: &mut Vec<Pupil>,
    setup_today: NaiveDate,
    start: NaiveDate,
    review_days: &[NaiveDate],
    cases: usize,
    reviews_per_case: usize,
) -> Result<Prepared, String> {
    let mut opened = Vec::with_capacity(cases);
    let mut overridden = 0;
    for n in 0..cases {
        let pupil = pupils.pop().ok_or("no pupil without a referral is left")?;
        // The pupil's register may not show the absence the form says (an override then): the
        // case is what the run needs.
        let case = steps::open_case(step, &referral(&pupil, setup_today), decision(start)).await?;
        overridden += usize::from(case.overridden.is_some());
        let case_id = case.case_id;
        let mut reviews = Vec::with_capacity(reviews_per_case);
        for r in 0..reviews_per_case {
            let day = review_days[r % review_days.len()];
            let body = json!({"scheduled_for": day, "label": format!("extra review {r}")});
            let case = step
                .la()
                .ok(
                    Method::POST,
                    &format!("/api/v1/cases/{case_id}/reviews"),
                    Some(&body),
                )
                .await?;
            let review = case["schedule"]
                .as_array()
                .and_then(|all| {
                    all.iter()
                        .filter(|v| v["label"] == body["label"])
                        .filter_map(|v| v["id"].as_i64())
                        .max()
                })
                .ok_or_else(|| format!("case {case_id} does not show the review it was given"))?;
            reviews.push(review);
        }
        opened.push(OpenedCase {
            id: case_id,
            reviews,
        });
        if (n + 1) % 50 == 0 {
            eprintln!("{PROGRAM}: {} cases opened", n + 1);
        }
    }
    eprintln!(
        "{PROGRAM}: {overridden} of the {cases} accepted with an override of their assessment"
    );
    Ok(Prepared { cases: opened })
}

// ---------------------------------------------------------------- the load

/// One request of an operation: method, path, body, and the status it must answer.
struct Request {
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    expect: u16,
}

/// What the requests of the run draw from.
struct Work {
    pupils_for_summary: Vec<String>,
    schools: Vec<i32>,
    case_ids: Vec<i64>,
    /// (case, review) not yet recorded, used up in order.
    reviews: Vec<(i64, i64)>,
    /// Pupils without a referral, used up in order.
    referrals: Vec<Pupil>,
    today: NaiveDate,
    held_on: NaiveDate,
    rng: StdRng,
}

const KINDS: [&str; 4] = [
    "sickness_return_due",
    "persistent_absence",
    "unexplained_absence_overdue",
    "severe_absence",
];

impl Work {
    fn next(&mut self, op: Operation, i: usize) -> Result<Request, String> {
        use rand::Rng;
        let get = |path: String| Request {
            method: Method::GET,
            path,
            body: None,
            expect: 200,
        };
        Ok(match op {
            Operation::PupilSummary => {
                let n = self.rng.random_range(0..self.pupils_for_summary.len());
                get(format!(
                    "/api/v1/pupils/{}/attendance",
                    self.pupils_for_summary[n]
                ))
            }
            Operation::WorklistPage => get(match i % 3 {
                0 => "/api/v1/alerts?limit=100".to_string(),
                1 => format!(
                    "/api/v1/alerts?limit=100&kind={}",
                    KINDS[i / 3 % KINDS.len()]
                ),
                _ => {
                    let n = self.rng.random_range(0..self.schools.len());
                    format!("/api/v1/alerts?limit=100&school_urn={}", self.schools[n])
                }
            }),
            Operation::CaseRead => {
                let n = self.rng.random_range(0..self.case_ids.len());
                get(format!("/api/v1/cases/{}", self.case_ids[n]))
            }
            Operation::ReferralSubmit => {
                let pupil = self
                    .referrals
                    .pop()
                    .ok_or("no pupil without a referral is left for the submits")?;
                Request {
                    method: Method::POST,
                    path: "/api/v1/referrals".into(),
                    body: Some(referral(&pupil, self.today).to_string().into_bytes()),
                    expect: 201,
                }
            }
            Operation::ReviewOutcome => {
                let (case, review) = self
                    .reviews
                    .pop()
                    .ok_or("no scheduled review is left (raise --cases)")?;
                Request {
                    method: Method::PATCH,
                    path: format!("/api/v1/cases/{case}/reviews/{review}"),
                    body: Some(review_outcome(self.held_on).to_string().into_bytes()),
                    expect: 200,
                }
            }
        })
    }
}

/// The timed requests of one operation at one client count.
struct Phase {
    op: Operation,
    clients: usize,
    requests: usize,
    seconds: f64,
    /// Latencies, ms, sorted.
    ms: Vec<f64>,
    server_cpu: f64,
    /// PostgreSQL's CPU meanwhile (None on SQLite, which runs in the server).
    database_cpu: Option<f64>,
    own_cpu: f64,
}

impl Phase {
    /// The `q` quantile, nearest rank.
    fn at(&self, q: f64) -> f64 {
        let rank = ((q * self.ms.len() as f64).ceil() as usize).clamp(1, self.ms.len());
        self.ms[rank - 1]
    }
}

/// CPU seconds (user + system) of every PostgreSQL process on the machine (the server's
/// backends do a PostgreSQL-backed request's database work): None when there is none.
fn postgres_cpu_secs() -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim() == "postgres");
        if is_postgres {
            *total.get_or_insert(0.0) += cpu_secs_of(pid);
        }
    }
    total
}

/// Sends `count` requests of `op` from `clients` concurrent clients; their latencies, ms.
async fn drive(
    http: &reqwest::Client,
    base: &str,
    token_of: impl Fn(Operation) -> String,
    work: &Rc<RefCell<Work>>,
    op: Operation,
    clients: usize,
    count: usize,
) -> Result<Vec<f64>, String> {
    let next = Rc::new(RefCell::new(0usize));
    let token = token_of(op);
    let workers = (0..clients).map(|_| {
        let (next, work, token) = (next.clone(), work.clone(), token.clone());
        async move {
            let mut ms = Vec::new();
            loop {
                let i = {
                    let mut n = next.borrow_mut();
                    if *n >= count {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                let request = work.borrow_mut().next(op, i)?;
                let mut builder = http
                    .request(request.method.clone(), format!("{base}{}", request.path))
                    .bearer_auth(&token);
                if let Some(body) = request.body {
                    builder = builder
                        .header("content-type", "application/json")
                        .body(body);
                }
                let started = Instant::now();
                let response = builder
                    .send()
                    .await
                    .map_err(|e| format!("{} {}: {e}", request.method, request.path))?;
                let status = response.status().as_u16();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| format!("{} {}: {e}", request.method, request.path))?;
                ms.push(started.elapsed().as_secs_f64() * 1000.0);
                if status != request.expect {
                    return Err(format!(
                        "{} {} answered {status}, not {}: {}",
                        request.method,
                        request.path,
                        request.expect,
                        truncate(&String::from_utf8_lossy(&body), 800)
                    ));
                }
            }
            Ok::<_, String>(ms)
        }
    });
    let mut all = Vec::with_capacity(count);
    for result in futures_util::future::join_all(workers).await {
        all.extend(result?);
    }
    Ok(all)
}

/// `perf record` of the server while it runs, stopped (and its file written) on drop.
struct Perf(Child);

impl Perf {
    fn start(dir: &Path, op: Operation, pid: u32) -> Result<Perf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = dir.join(format!("{}.data", op.name()));
        let child = Command::new("perf")
            .args(["record", "-F", "999", "-g", "-o"])
            .arg(&out)
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start perf (is it installed?): {e}"))?;
        // perf needs a moment to attach before the requests it should see.
        std::thread::sleep(std::time::Duration::from_millis(500));
        Ok(Perf(child))
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    let args = Args::parse();
    main_with(|workdir| run(&args, workdir))
}

fn run(args: &Args, workdir: &Path) -> Result<(), String> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        return Err("--clients: give one or more counts, each at least 1".into());
    }
    if args.requests == 0 || args.concurrent_requests == 0 || args.cases == 0 {
        return Err("--requests, --concurrent-requests and --cases must be at least 1".into());
    }
    let server_bin = server_binary(args.server_bin.as_ref())?;
    let url = DatabaseUrl::parse(&args.database_url)?;
    std::fs::create_dir_all(workdir)
        .map_err(|e| format!("cannot create {}: {e}", workdir.display()))?;
    let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
    if !calendar.is_school_day(args.today) {
        return Err(format!("--today {} is not a school day", args.today));
    }
    let setup_today = calendar.school_day_before(args.today, args.setup_school_days);
    let start = calendar.next_school_day_on_or_after(setup_today.succ_opt().unwrap_or(setup_today));
    // The extra reviews: school days after the start, before today.
    let review_days: Vec<NaiveDate> = (1..args.setup_school_days.saturating_sub(1))
        .map(|n| calendar.school_day_before(args.today, n))
        .filter(|d| *d > start)
        .collect();
    if review_days.is_empty() {
        return Err(
            "--setup-school-days must leave school days between the start and today".into(),
        );
    }
    let held_on = calendar.school_day_before(args.today, 1);

    let (load_at_start, cpus) = machine_load();
    eprintln!("{PROGRAM}: reading the pupils without a referral");
    let mut pupils = pupils_without_referral(&url, &args.database_url)?;
    let mut schools: Vec<i32> = pupils.iter().map(|p| p.urn).collect();
    schools.sort_unstable();
    schools.dedup();
    let total_pupils = pupils.len();
    let mut rng = StdRng::seed_from_u64(args.seed);
    pupils.shuffle(&mut rng);
    let timed = |clients: usize| {
        if clients == 1 {
            args.requests
        } else {
            args.concurrent_requests
        }
    };
    let per_op: usize = args.clients.iter().map(|&c| timed(c) + args.warm_up).sum();
    if pupils.len() < per_op + args.cases {
        return Err(format!(
            "{} pupils without a referral are left; the run needs {}",
            pupils.len(),
            per_op + args.cases
        ));
    }
    let reviews_per_case = per_op.div_ceil(args.cases);
    let pupils_for_summary: Vec<String> =
        pupils.iter().take(20_000).map(|p| p.upn.clone()).collect();

    eprintln!(
        "{PROGRAM}: {} pupils in {} schools; migrating {} and adding clients",
        total_pupils,
        schools.len(),
        esma_api::store::redact(&args.database_url)
    );
    esma(&server_bin, &args.database_url, &["migrate".to_string()])?;
    let la: NewClient = add_client(&server_bin, &args.database_url, "la", &[])?;
    let school: NewClient = add_client(&server_bin, &args.database_url, "school", &schools)?;
    let setup = Setup {
        server_bin: &server_bin,
        url: &args.database_url,
        workdir,
        la: &la,
        school: &school,
        event_scan_secs: 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;

    eprintln!(
        "{PROGRAM}: set-up on {setup_today}: {} cases from {start}, {reviews_per_case} extra reviews each",
        args.cases
    );
    let step = runtime.block_on(start_step(&setup, &setup_today.to_string()))?;
    let prepared = runtime.block_on(set_up(
        &step,
        &mut pupils,
        setup_today,
        start,
        &review_days,
        args.cases,
        reviews_per_case,
    ));
    let prepared = step.finish(prepared)?;

    let step = runtime.block_on(start_step(&setup, &args.today.to_string()))?;
    let pid = step.server.child.id();
    let work = Rc::new(RefCell::new(Work {
        pupils_for_summary,
        schools: schools.clone(),
        case_ids: prepared.cases.iter().map(|c| c.id).collect(),
        reviews: prepared
            .cases
            .iter()
            .flat_map(|c| c.reviews.iter().map(|r| (c.id, *r)))
            .collect(),
        referrals: pupils,
        today: args.today,
        held_on,
        rng,
    }));
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);
    let measured = runtime.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(max_clients)
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let base = step.server.base.clone();
        let token_of = |op: Operation| match op {
            Operation::ReferralSubmit | Operation::ReviewOutcome => step.school_token.clone(),
            _ => step.la_token.clone(),
        };
        let own = std::process::id();
        let mut phases = Vec::new();
        for &clients in &args.clients {
            for op in OPERATIONS {
                drive(&http, &base, token_of, &work, op, clients, args.warm_up).await?;
                let count = timed(clients);
                let perf = match (&args.perf_record, clients) {
                    (Some(dir), 1) => Some(Perf::start(dir, op, pid)?),
                    _ => None,
                };
                let postgres = matches!(url, DatabaseUrl::Postgres(_));
                let database_before = postgres.then(postgres_cpu_secs).flatten();
                let (server_before, own_before) = (cpu_secs_of(pid), cpu_secs_of(own));
                let started = Instant::now();
                let mut ms = drive(&http, &base, token_of, &work, op, clients, count).await?;
                let seconds = started.elapsed().as_secs_f64();
                let (server_cpu, own_cpu) = (
                    cpu_secs_of(pid) - server_before,
                    cpu_secs_of(own) - own_before,
                );
                let database_cpu = database_before
                    .and_then(|before| Some(postgres_cpu_secs()? - before));
                drop(perf);
                ms.sort_by(f64::total_cmp);
                let phase = Phase {
                    op,
                    clients,
                    requests: count,
                    seconds,
                    ms,
                    server_cpu,
                    database_cpu,
                    own_cpu,
                };
                eprintln!(
                    "{PROGRAM}: {} x{clients}: {count} in {seconds:.2} s, p50 {:.2} ms, p99 {:.2} ms",
                    op.name(),
                    phase.at(0.5),
                    phase.at(0.99)
                );
                phases.push(phase);
            }
        }
        Ok::<_, String>(phases)
    });
    let phases = step.finish(measured)?;

    println!(
        "esma-api working-day benchmark: {total_pupils} pupils without a referral in {} schools, today {}, backend {}",
        schools.len(),
        args.today,
        url.backend().name()
    );
    println!(
        "{:<16} {:>7} {:>8} {:>8} {:>9} {:>8} {:>8} {:>14} {:>10} {:>13}",
        "operation",
        "clients",
        "requests",
        "seconds",
        "req/s",
        "p50 ms",
        "p99 ms",
        "server CPU ms",
        "db CPU ms",
        "bench CPU ms"
    );
    for p in &phases {
        let database = p.database_cpu.map_or("-".to_string(), |cpu| {
            format!("{:.2}", cpu * 1000.0 / p.requests as f64)
        });
        println!(
            "{:<16} {:>7} {:>8} {:>8.2} {:>9.0} {:>8.2} {:>8.2} {:>14.2} {:>10} {:>13.2}",
            p.op.name(),
            p.clients,
            p.requests,
            p.seconds,
            p.requests as f64 / p.seconds,
            p.at(0.5),
            p.at(0.99),
            p.server_cpu * 1000.0 / p.requests as f64,
            database,
            p.own_cpu * 1000.0 / p.requests as f64,
        );
    }
    println!(
        "server CPU, db CPU (every PostgreSQL process; SQLite runs in the server) and bench CPU: \
         user + system time per request (/proc, 10 ms ticks); the server's event scan was off; {} cases set up with {reviews_per_case} extra reviews each; \
         machine: {cpus} CPUs, load average {load_at_start:.2} before the run{}",
        args.cases,
        if load_at_start >= 0.5 {
            " (other work running: figures are noisy)"
        } else {
            ""
        }
    );
    // Issue 25, item 4 "Targets".
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let mut targets = Vec::new();
    for p in phases.iter().filter(|p| p.clients == 1) {
        if p.op == Operation::ReferralSubmit {
            let cpu = p.server_cpu * 1000.0 / p.requests as f64;
            targets.push(format!(
                "referral submit <= 2 ms server CPU: {cpu:.2} {}",
                verdict(cpu <= 2.0)
            ));
        }
        if p.op.is_read() {
            let p99 = p.at(0.99);
            targets.push(format!(
                "{} p99 < 10 ms (1 client): {p99:.2} {}",
                p.op.name(),
                verdict(p99 < 10.0)
            ));
        }
    }
    println!("targets: {}", targets.join("; "));
    let _ = std::fs::remove_dir_all(workdir);
    Ok(())
}
