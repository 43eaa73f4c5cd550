//! bench-ingest: one local-authority night of roll and register pushes against the real server,
//! compared with the raw rate of writing the same rows straight into the same database
//! (issue 3, section 6 "Benchmark" and "Targets").
//!
//! The rolls are pushed once. The register rounds (first push, the same push unchanged, then
//! with 1% of codes changed) run `--http-runs` times (default 3), each time for another school
//! day (2026-11-18, 19 and 20 by default, so every first push is a genuine one); the raw
//! baseline (the same rows in one transaction per round) runs `--raw-runs` times (default 3) on
//! a fresh table. HTTP and raw runs alternate, so a change in the machine's other load weighs on
//! both. Each round is reported as the median HTTP rate against the median raw rate, with the
//! ratios of the slowest and the fastest HTTP run beside it: single runs on a shared machine
//! vary too much to judge a target by. Per-run times go to stderr.
//!
//! ```sh
//! cargo build --release --bin esma-api --bin bench-ingest   # the server it starts, too
//! cargo run --release --bin bench-ingest -- --pupils 190000 --schools 500
//! cargo run --release --bin bench-ingest -- --pupils 190000 --schools 500 \
//!     --database-url postgres://postgres@127.0.0.1:5432/esma_bench --fresh
//! ```
//!
//! Each run needs an empty database: the default is a new SQLite file in a temporary directory;
//! a given database is refused if it has tables, unless `--fresh` wipes it first.
//!
//! Progress goes to stderr, the results table to stdout. Exit status 1 when anything fails,
//! including a report whose counts do not match what was sent; unmet targets are reported in the
//! table but do not fail the run (it is a measurement, not a test).

use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDate;
use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Date, Integer, Nullable, Text};
use esma_api::domain::calendar::hertfordshire_2026_27;
use esma_api::domain::identifiers::{check_letter_for, Upn};
use esma_api::store::DatabaseUrl;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[path = "bench_support/harness.rs"]
mod harness;
#[path = "bench_support/year_to_date.rs"]
mod year_to_date;

#[path = "bench_support/memory.rs"]
mod memory;
#[path = "bench_support/part_time.rs"]
mod part_time;

use harness::{
    add_client, esma, finish, http_client, log_tail, machine_load, main_with, median, prepare,
    server_cpu_secs, start_server, token, truncate, wait_healthy, NewClient, Prepared, Server,
    Target,
};
use memory::rss_mib;

/// The name messages start with (the harness's too).
const PROGRAM: &str = "bench-ingest";

#[derive(Debug, Parser)]
#[command(
    name = "bench-ingest",
    about = "Benchmark one LA night of roll and register pushes"
)]
struct Args {
    /// Pupils in the LA, spread evenly over the schools.
    #[arg(long, default_value_t = 190_000)]
    pupils: usize,
    /// Schools (URNs 200001.., LAESTAB 9192001..).
    #[arg(long, default_value_t = 500)]
    schools: usize,
    #[command(flatten)]
    target: Target,
    /// Concurrent HTTP requests (one per school push).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Raw baseline runs (fresh table each); the table shows the median per round.
    #[arg(long, default_value_t = 3)]
    raw_runs: usize,
    /// HTTP runs: the three register rounds are pushed for this many consecutive school days
    /// ending on 2026-11-20 (a new day is a genuine first push); the table shows the median per
    /// round.
    #[arg(long, default_value_t = 3)]
    http_runs: usize,
    /// Year to date (issue 4): push this many school days before the HTTP runs first, one day
    /// at a time with the attendance tallies maintained, then time the LA's alert worklist and
    /// pupil summaries. 0: the nightly rounds only. 17 with the default --http-runs makes 20
    /// school days of registers.
    #[arg(long, default_value_t = 0)]
    year_to_date_days: usize,
    /// Pupil summaries timed after the year to date.
    #[arg(long, default_value_t = 200)]
    summary_samples: usize,
    /// Pupils on a part-time timetable (RULES.md R15): each has an agreement recorded through
    /// the API before the registers, and `C2` every afternoon from its start (issue 24: 2%).
    #[arg(long, default_value_t = 0.02)]
    part_time_share: f64,
    /// Pupils with `C2` every afternoon and no agreement (R15.3 `c2_without_agreement`).
    #[arg(long, default_value_t = 0.001)]
    c2_without_agreement_share: f64,
    /// The last night the register rounds are pushed for, and the date of the raw baseline's
    /// rows: by default a Friday in the autumn term (day 20 of the year with
    /// `--year-to-date-days 17`); 2027-07-16 is day 190 (issue 25, "the year end", with
    /// `--year-to-date-days 187`). The server's today is the next school day (or the next day,
    /// after the year's last).
    #[arg(long, default_value = "2026-11-20")]
    last_night: NaiveDate,
    /// Seed of the generated night (same seed, same data).
    #[arg(long, default_value_t = 20261120)]
    seed: u64,
    /// How often the server runs its clock-driven event scan (`ESMA_EVENT_SCAN_SECS`). The
    /// benchmark pushes 17 school days in half a minute; at the server's default of 60 s its
    /// first scan then announces every alert of those days at once, charged to whichever timed
    /// round it falls in (docs/performance.md). Every 5 s, each scan
    /// announces the alerts of the last few seconds' pushes, as a production night's scans each
    /// announce the last minute's. 0 turns the scan off.
    #[arg(long, default_value_t = 5)]
    event_scan_secs: u64,
}

const ON_ROLL_FROM: &str = "2026-09-03";
const FIRST_URN: usize = 200_001;
const LA: u16 = 919;
const RAW_BATCH: usize = 500;

/// Everything but present (`/` `\`), `I` and `C2`: the remaining ~5% of marks, drawn uniformly.
/// `C2` (a part-time timetable) only where the scenario puts it: the afternoons of the pupils on
/// one, and of a few without an agreement (`part_time::PartTime`).
const OTHER_CODES: [&str; 21] = [
    "L", "U", "C", "M", "E", "R", "O", "G", "N", "B", "K", "V", "P", "W", "T", "S", "J1", "C1",
    "D", "X", "Y1",
];
const FORENAMES: [&str; 12] = [
    "Olivia", "Amelia", "Isla", "Ava", "Noah", "Oliver", "George", "Arthur", "Muhammad", "Leo",
    "Freya", "Harry",
];
const SURNAMES: [&str; 12] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson",
];

// ---------------------------------------------------------------- the generated night

/// A roll entry, serialised exactly as the `PUT .../pupils` body wants it.
#[derive(Serialize)]
struct Pupil {
    upn: String,
    legal_forename: &'static str,
    legal_surname: &'static str,
    date_of_birth: NaiveDate,
    postcode: String,
    home_la_code: u16,
    ehcp: bool,
    sen_support: bool,
    pupil_premium: bool,
    on_roll_from: &'static str,
    on_roll_until: Option<&'static str>,
    /// Not part of the roll: whether the pupil is on a part-time timetable.
    #[serde(skip)]
    part_time: part_time::PartTime,
}

#[derive(Clone)]
struct Mark {
    pupil: usize, // index into the school's pupils, so marks carry no string copies
    session: &'static str,
    code: &'static str,
    minutes_late: Option<i32>,
}

struct School {
    urn: i32,
    laestab: String,
    pupils: Vec<Pupil>,
    marks: Vec<Mark>,
    /// The same marks with ~1% of codes changed, and how many changed in this school.
    changed: Vec<Mark>,
    changed_count: usize,
}

fn present(session: &str) -> &'static str {
    if session == "AM" {
        "/"
    } else {
        "\\"
    }
}

/// Minutes late exist only for L and U (RULES.md R1.3).
fn minutes_for(code: &str, rng: &mut StdRng) -> Option<i32> {
    match code {
        "L" => Some(rng.random_range(5..=30)),
        "U" => Some(rng.random_range(40..=120)),
        _ => None,
    }
}

fn draw_code(session: &str, rng: &mut StdRng) -> &'static str {
    let r: f64 = rng.random();
    if r < 0.92 {
        present(session)
    } else if r < 0.95 {
        "I"
    } else {
        OTHER_CODES[rng.random_range(0..OTHER_CODES.len())]
    }
}

fn generate(args: &Args) -> Result<Vec<School>, String> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let oldest = NaiveDate::from_ymd_opt(2010, 11, 21).ok_or("bad date")?; // 15 on the mark date
    let span = (NaiveDate::from_ymd_opt(2021, 11, 20).ok_or("bad date")? - oldest).num_days(); // 5
    let (from, to) = part_time::of_age_born();
    let of_age_share = (to - from.max(oldest)).num_days() as f64 / span as f64;
    let letters = b"ABDEFGHJLNPQRSTUWXYZ"; // letters used in postcode inward codes
    let areas = ["SG", "AL", "WD", "EN", "HP", "CM"];
    let mut schools = Vec::with_capacity(args.schools);
    for s in 0..args.schools {
        // Spread evenly: the first `pupils % schools` schools take one extra pupil.
        let n = args.pupils / args.schools + usize::from(s < args.pupils % args.schools);
        let estab = 2001 + s;
        let mut pupils = Vec::with_capacity(n);
        let mut marks = Vec::with_capacity(2 * n);
        for p in 0..n {
            // Characters 2-13 as real UPNs build them: LA, establishment, then a serial.
            let twelve = format!("{LA}{estab:04}{p:05}");
            let letter =
                check_letter_for(&twelve).ok_or_else(|| format!("no check letter for {twelve}"))?;
            let pick = |rng: &mut StdRng| letters[rng.random_range(0..letters.len())] as char;
            let postcode = format!(
                "{}{} {}{}{}",
                areas[rng.random_range(0..areas.len())],
                rng.random_range(1..=23),
                rng.random_range(1..=9),
                pick(&mut rng),
                pick(&mut rng)
            );
            let date_of_birth = oldest + chrono::Duration::days(rng.random_range(0..=span));
            let part_time = part_time::PartTime::of(s, p, date_of_birth, of_age_share, args);
            pupils.push(Pupil {
                upn: format!("{letter}{twelve}"),
                legal_forename: FORENAMES[rng.random_range(0..FORENAMES.len())],
                legal_surname: SURNAMES[rng.random_range(0..SURNAMES.len())],
                date_of_birth,
                postcode,
                home_la_code: LA,
                ehcp: rng.random_bool(0.03),
                sen_support: rng.random_bool(0.05),
                pupil_premium: rng.random_bool(0.04),
                on_roll_from: ON_ROLL_FROM,
                on_roll_until: None,
                part_time,
            });
            for session in ["AM", "PM"] {
                let mut code = draw_code(session, &mut rng);
                let mut minutes_late = minutes_for(code, &mut rng);
                if part_time.c2_in(session) {
                    (code, minutes_late) = ("C2", None);
                }
                marks.push(Mark {
                    pupil: p,
                    session,
                    code,
                    minutes_late,
                });
            }
        }
        schools.push(School {
            urn: i32::try_from(FIRST_URN + s).map_err(|e| e.to_string())?,
            laestab: format!("{LA}{estab:04}"),
            changed: marks.clone(),
            pupils,
            marks,
            changed_count: 0,
        });
    }
    // Exactly 1% of all marks (at least one) get another valid code, chosen across the whole LA.
    let all: Vec<(usize, usize)> = schools
        .iter()
        .enumerate()
        .flat_map(|(s, school)| (0..school.marks.len()).map(move |m| (s, m)))
        .collect();
    for i in rand::seq::index::sample(&mut rng, all.len(), (all.len() / 100).max(1)) {
        let (s, m) = all[i];
        let mark = &mut schools[s].changed[m];
        let candidates: Vec<&'static str> = [present(mark.session), "I"]
            .into_iter()
            .chain(OTHER_CODES)
            .collect();
        let mut code = mark.code;
        while code == mark.code {
            code = candidates[rng.random_range(0..candidates.len())];
        }
        mark.code = code;
        mark.minutes_late = minutes_for(code, &mut rng);
        schools[s].changed_count += 1;
    }
    // Every UPN must be one the server accepts, or the comparison is meaningless.
    for school in &schools {
        for pupil in &school.pupils {
            Upn::parse(&pupil.upn)
                .map_err(|e| format!("generated UPN {} is invalid: {e}", pupil.upn))?;
        }
    }
    Ok(schools)
}

#[derive(Serialize)]
struct MarkOut<'a> {
    upn: &'a str,
    date: &'a str,
    session: &'static str,
    code: &'static str,
    minutes_late: Option<i32>,
}

fn register_body(school: &School, marks: &[Mark], date: &str) -> Result<Vec<u8>, String> {
    let marks: Vec<MarkOut> = marks
        .iter()
        .map(|m| MarkOut {
            upn: &school.pupils[m.pupil].upn,
            date,
            session: m.session,
            code: m.code,
            minutes_late: m.minutes_late,
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "marks": marks })).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------- HTTP

struct Job {
    school: usize,
    method: reqwest::Method,
    url: String,
    body: Vec<u8>,
}

struct Reply {
    school: usize,
    status: u16,
    body: Vec<u8>,
}

fn next_job(queue: &Mutex<VecDeque<Job>>) -> Option<Job> {
    queue.lock().ok()?.pop_front()
}

/// Sends every job with `clients` requests in flight; returns the replies and the wall time from
/// the first send to the last answer. Bodies are already bytes, so only the HTTP exchange is timed.
async fn send_all(
    http: &reqwest::Client,
    token: &str,
    jobs: Vec<Job>,
    clients: usize,
) -> Result<(Vec<Reply>, f64), String> {
    let queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (http, queue, token) = (http.clone(), queue.clone(), token.to_string());
        workers.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            while let Some(job) = next_job(&queue) {
                let response = http
                    .request(job.method, &job.url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(job.body)
                    .send()
                    .await
                    .map_err(|e| format!("{}: {e}", job.url))?;
                let status = response.status().as_u16();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| format!("{}: {e}", job.url))?
                    .to_vec();
                replies.push(Reply {
                    school: job.school,
                    status,
                    body,
                });
            }
            Ok::<_, String>(replies)
        }));
    }
    let mut replies = Vec::new();
    for worker in workers {
        replies.extend(
            worker
                .await
                .map_err(|e| format!("client task failed: {e}"))??,
        );
    }
    Ok((replies, started.elapsed().as_secs_f64()))
}

/// The import report counts (API.md "Registers"); extra fields are ignored.
#[derive(Debug, Default, Deserialize, PartialEq)]
struct Counts {
    received: u64,
    inserted: u64,
    updated: u64,
    unchanged: u64,
    rejected: u64,
}

#[derive(Deserialize)]
struct Report {
    #[serde(flatten)]
    counts: Counts,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// Checks every school's report against what it should say; a mismatch fails the run with the
/// first few offending schools and their first errors.
fn check_reports(
    phase: &str,
    schools: &[School],
    replies: &[Reply],
    expected: impl Fn(&School) -> Counts,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for reply in replies {
        let school = &schools[reply.school];
        let text = String::from_utf8_lossy(&reply.body);
        if reply.status != 200 {
            problems.push(format!(
                "URN {} answered {}: {}",
                school.urn,
                reply.status,
                truncate(&text, 600)
            ));
            continue;
        }
        match serde_json::from_slice::<Report>(&reply.body) {
            Err(e) => problems.push(format!(
                "URN {}: unreadable report ({e}): {}",
                school.urn,
                truncate(&text, 600)
            )),
            Ok(report) if report.counts != expected(school) => {
                let errors: Vec<String> = report
                    .errors
                    .iter()
                    .take(5)
                    .map(|e| e.to_string())
                    .collect();
                problems.push(format!(
                    "URN {}: report {:?}, expected {:?}; first errors: [{}]",
                    school.urn,
                    report.counts,
                    expected(school),
                    errors.join(", ")
                ));
            }
            Ok(_) => {}
        }
    }
    if replies.len() != schools.len() {
        problems.push(format!(
            "{} replies for {} schools",
            replies.len(),
            schools.len()
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let shown: Vec<&String> = problems.iter().take(5).collect();
    Err(format!(
        "{phase}: {} of {} schools wrong:\n  {}",
        problems.len(),
        schools.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

/// The three register rounds, in the order they run and appear in the table.
const ROUNDS: [&str; 3] = [
    "register first push",
    "register unchanged",
    "register 1% changed",
];

/// The server once it is set up: its base URL, the school client's token, and the wall seconds
/// of the roll push.
struct HttpSession {
    base: String,
    token: String,
    roll: f64,
    /// The LA client's token (the year-to-date reads).
    la_token: String,
}

/// The year-to-date part of a run: its school days and how many summaries to time.
struct YearToDatePlan {
    days: Vec<NaiveDate>,
    summary_samples: usize,
    seed: u64,
}

/// What a report must say: `received` rows, none rejected, with these outcomes.
fn expect(received: usize, inserted: usize, updated: usize, unchanged: usize) -> Counts {
    let n = |v: usize| v as u64;
    Counts {
        received: n(received),
        inserted: n(inserted),
        updated: n(updated),
        unchanged: n(unchanged),
        rejected: 0,
    }
}

/// One request per school, bodies serialised now so that only the HTTP exchange is timed later.
fn per_school(
    schools: &[School],
    method: &reqwest::Method,
    url: impl Fn(&School) -> String,
    body: impl Fn(&School) -> Result<Vec<u8>, String>,
) -> Result<Vec<Job>, String> {
    schools
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(Job {
                school: i,
                method: method.clone(),
                url: url(s),
                body: body(s)?,
            })
        })
        .collect()
}

/// Steps 2-4 over HTTP: wait for health, tokens, schools and calendar, rolls.
async fn http_setup(
    server: &mut Server,
    la: &NewClient,
    mis: &NewClient,
    schools: &[School],
    clients: usize,
) -> Result<HttpSession, String> {
    use reqwest::Method;
    let base = server.base.clone();
    let http = http_client(clients)?;
    wait_healthy(server, &http).await?;
    let la_token = token(&http, &base, la).await?;
    let mis_token = token(&http, &base, mis).await?;

    // The LA calendar, so 2026-11-20 is a school day however strictly the server checks it.
    let cal = hertfordshire_2026_27();
    let body = serde_json::json!({
        "terms": cal.terms.iter().map(|t| serde_json::json!({
            "name": t.name, "starts": t.starts, "ends": t.ends,
            "half_term": t.half_term.as_ref().map(|h| serde_json::json!({"starts": h.starts, "ends": h.ends})),
        })).collect::<Vec<_>>(),
        "closures": cal.closures,
    });
    let url = format!("{base}/api/v1/calendar/2026-27");
    let (body, method) = (body.to_string().into_bytes(), Method::PUT);
    let job = Job {
        school: 0,
        method,
        url,
        body,
    };
    let (replies, _) = send_all(&http, &la_token, vec![job], 1).await?;
    let failed = |r: &&Reply| !(200..300).contains(&r.status);
    if let Some(r) = replies.iter().find(failed) {
        let body = String::from_utf8_lossy(&r.body);
        return Err(format!("PUT calendar answered {}: {body}", r.status));
    }

    eprintln!("bench-ingest: creating {} schools", schools.len());
    let jobs = per_school(
        schools,
        &Method::PUT,
        |s| format!("{base}/api/v1/schools/{}", s.urn),
        |s| {
            let name = format!("Bench School {}", s.urn);
            let body = serde_json::json!({"name": name, "laestab": s.laestab, "phase": "primary"});
            Ok(body.to_string().into_bytes())
        },
    )?;
    let (replies, _) = send_all(&http, &la_token, jobs, clients).await?;
    if let Some(r) = replies.iter().find(failed) {
        let (urn, body) = (schools[r.school].urn, String::from_utf8_lossy(&r.body));
        return Err(format!("PUT school {urn} answered {}: {body}", r.status));
    }

    eprintln!("bench-ingest: pushing the rolls");
    let jobs = per_school(
        schools,
        &Method::PUT,
        |s| format!("{base}/api/v1/schools/{}/pupils", s.urn),
        |s| {
            serde_json::to_vec(&serde_json::json!({ "pupils": s.pupils }))
                .map_err(|e| e.to_string())
        },
    )?;
    let (replies, roll) = send_all(&http, &mis_token, jobs, clients).await?;
    check_reports("roll push", schools, &replies, |s| {
        expect(s.pupils.len(), s.pupils.len(), 0, 0)
    })?;

    Ok(HttpSession {
        base,
        token: mis_token,
        roll,
        la_token,
    })
}

/// Step 5 over HTTP for one school day: the three register rounds; their wall seconds. Each day
/// is a night of its own: nothing is stored for it yet, so its first round is a genuine first
/// push, and its later rounds meet only that day's marks.
async fn register_rounds(
    session: &HttpSession,
    schools: &[School],
    clients: usize,
    day: NaiveDate,
) -> Result<[f64; 3], String> {
    let (base, date) = (&session.base, day.format("%Y-%m-%d").to_string());
    // A new client, so no connection the server closed while idle (keep-alive 5 s) is reused:
    // nothing polls this runtime during a raw run, so the old client would not have noticed.
    let http = http_client(clients)?;
    let marks: usize = schools.iter().map(|s| s.marks.len()).sum();
    let mut secs = [0.0; 3];
    for (round, name) in ROUNDS.into_iter().enumerate() {
        let changed = round == 2;
        let jobs = per_school(
            schools,
            &reqwest::Method::POST,
            |s| format!("{base}/api/v1/schools/{}/registers", s.urn),
            |s| register_body(s, if changed { &s.changed } else { &s.marks }, &date),
        )?;
        let cpu_before = server_cpu_secs();
        let (replies, elapsed) = send_all(&http, &session.token, jobs, clients).await?;
        let cpu = server_cpu_secs() - cpu_before;
        check_reports(&format!("{name} {date}"), schools, &replies, |s| {
            let (n, k) = (s.marks.len(), s.changed_count);
            match round {
                0 => expect(n, n, 0, 0),
                1 => expect(n, 0, 0, n),
                _ => expect(n, 0, k, n - k),
            }
        })?;
        let rate = marks as f64 / elapsed;
        eprintln!(
            "bench-ingest:   {name}: {elapsed:.3} s, {rate:.0} marks/s, server CPU {cpu:.2} s ({:.2} cores)",
            cpu / elapsed
        );
        secs[round] = elapsed;
    }
    Ok(secs)
}

/// The last `n` school days up to `last_night` in the LA calendar the benchmark pushes, oldest
/// first.
fn http_days(n: usize, last_night: NaiveDate) -> Result<Vec<NaiveDate>, String> {
    let on_roll_from =
        NaiveDate::parse_from_str(ON_ROLL_FROM, "%Y-%m-%d").map_err(|e| e.to_string())?;
    let calendar = hertfordshire_2026_27();
    if !calendar.is_school_day(last_night) {
        return Err(format!("--last-night: {last_night} is not a school day"));
    }
    let mut day = last_night;
    let mut days = Vec::with_capacity(n);
    while days.len() < n {
        if day < on_roll_from {
            return Err(format!(
                "--http-runs: only {} school days from {ON_ROLL_FROM} to {last_night}",
                days.len()
            ));
        }
        if calendar.is_school_day(day) {
            days.push(day);
        }
        day = day.pred_opt().ok_or("bad date")?;
    }
    days.reverse();
    Ok(days)
}

/// The server's today: the school day after `last_night`, or the next day after the year's last.
fn today_after(last_night: NaiveDate) -> NaiveDate {
    let calendar = hertfordshire_2026_27();
    let next = last_night.succ_opt().unwrap_or(last_night);
    let mut day = next;
    while day <= calendar.academic_year.last_day() {
        if calendar.is_school_day(day) {
            return day;
        }
        day = day.succ_opt().unwrap_or(day);
    }
    next
}

// ---------------------------------------------------------------- raw baseline

diesel::table! {
    raw_incoming (school_urn, upn, mark_date, session) {
        school_urn -> Integer,
        upn -> Text,
        mark_date -> Date,
        session -> Text,
        code -> Text,
        minutes_late -> Nullable<Integer>,
    }
}

/// One mark as a table row; `treat_none_as_default_value = false` because binary COPY has no DEFAULT.
#[derive(Insertable)]
#[diesel(table_name = raw_incoming, treat_none_as_default_value = false)]
struct RawRow<'a> {
    school_urn: i32,
    upn: &'a str,
    mark_date: NaiveDate,
    session: &'a str,
    code: &'a str,
    minutes_late: Option<i32>,
}

fn raw_rows(schools: &[School], changed: bool, date: NaiveDate) -> Result<Vec<RawRow<'_>>, String> {
    Ok(schools
        .iter()
        .flat_map(|s| {
            (if changed { &s.changed } else { &s.marks })
                .iter()
                .map(move |m| RawRow {
                    school_urn: s.urn,
                    upn: &s.pupils[m.pupil].upn,
                    mark_date: date,
                    session: m.session,
                    code: m.code,
                    minutes_late: m.minutes_late,
                })
        })
        .collect())
}

const CREATE_RAW_TABLE: &str =
    "CREATE TABLE bench_raw_marks (school_urn integer NOT NULL, upn text NOT NULL, \
     mark_date date NOT NULL, session text NOT NULL, code text NOT NULL, minutes_late integer, \
     PRIMARY KEY (school_urn, upn, mark_date, session))";

/// The raw baseline's rows: the night as first sent, and with 1% of codes changed.
struct RawRows<'a> {
    same: Vec<RawRow<'a>>,
    changed: Vec<RawRow<'a>>,
    /// How many rows `changed` changes.
    changes: usize,
}

impl<'a> RawRows<'a> {
    fn new(schools: &'a [School], date: NaiveDate) -> Result<RawRows<'a>, String> {
        Ok(RawRows {
            same: raw_rows(schools, false, date)?,
            changed: raw_rows(schools, true, date)?,
            changes: schools.iter().map(|s| s.changed_count).sum(),
        })
    }
}

/// One run of the three raw rounds (new, identical, 1% changed) on a fresh `bench_raw_marks`,
/// each round one transaction timed end to end; their wall seconds. `write` returns the rows the
/// database reports as written, checked against what must change.
fn raw_run<C: SimpleConnection>(
    conn: &mut C,
    rows: &RawRows,
    mut write: impl FnMut(&mut C, &[RawRow]) -> QueryResult<usize>,
) -> Result<[f64; 3], String> {
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS bench_raw_marks; {CREATE_RAW_TABLE}"
    ))
    .map_err(|e| format!("raw baseline: {e}"))?;
    let mut secs = [0.0; 3];
    let rounds = [
        (&rows.same, rows.same.len()),
        (&rows.same, 0),
        (&rows.changed, rows.changes),
    ];
    for (i, (rows, want)) in rounds.into_iter().enumerate() {
        let started = Instant::now();
        let written =
            write(conn, rows).map_err(|e| format!("raw baseline round {}: {e}", i + 1))?;
        secs[i] = started.elapsed().as_secs_f64();
        let rate = rows.len() as f64 / secs[i];
        eprintln!(
            "bench-ingest:   raw round {}: {:.3} s, {rate:.0} rows/s",
            i + 1,
            secs[i]
        );
        if written != want {
            return Err(format!(
                "raw baseline round {}: {written} rows written, expected {want}",
                i + 1
            ));
        }
    }
    Ok(secs)
}

/// A direct connection for the raw baseline, to the database the server uses.
enum RawDb {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl RawDb {
    fn open(url: &DatabaseUrl) -> Result<RawDb, String> {
        let fail = |e: diesel::ConnectionError| format!("raw baseline: {e}");
        match url {
            DatabaseUrl::Postgres(u) => PgConnection::establish(u)
                .map(RawDb::Postgres)
                .map_err(fail),
            DatabaseUrl::Sqlite(p) => {
                let mut conn = SqliteConnection::establish(p).map_err(fail)?;
                // The pragmas the server uses (store::ConnectionOpener), so both write under the
                // same rules.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
                )
                .map_err(|e| format!("raw baseline: {e}"))?;
                Ok(RawDb::Sqlite(conn))
            }
        }
    }

    /// SQLite: checkpoint the WAL both the server and the baseline write, untimed, so that
    /// neither pays for a checkpoint of the other's pages. Best effort: a busy WAL is left as is.
    fn settle(&mut self) {
        if let RawDb::Sqlite(conn) = self {
            let _ = conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)");
        }
    }

    fn run(&mut self, rows: &RawRows) -> Result<[f64; 3], String> {
        match self {
            RawDb::Postgres(conn) => raw_run(conn, rows, raw_write_postgres),
            RawDb::Sqlite(conn) => raw_run(conn, rows, raw_write_sqlite),
        }
    }

    /// The bytes the database uses (PostgreSQL: `pg_database_size`; SQLite: its pages less the
    /// free ones), for the storage a pupil's year takes (issue 25).
    fn used_bytes(&mut self) -> Result<i64, String> {
        #[derive(QueryableByName)]
        struct Used {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            bytes: i64,
        }
        let used = match self {
            RawDb::Postgres(conn) => {
                diesel::sql_query("SELECT pg_database_size(current_database())::bigint AS bytes")
                    .get_result::<Used>(conn)
            }
            RawDb::Sqlite(conn) => diesel::sql_query(
                "SELECT ((SELECT page_count FROM pragma_page_count()) \
                   - (SELECT freelist_count FROM pragma_freelist_count())) \
                   * (SELECT page_size FROM pragma_page_size()) AS bytes",
            )
            .get_result::<Used>(conn),
        };
        used.map(|u| u.bytes)
            .map_err(|e| format!("database size: {e}"))
    }

    fn drop_table(&mut self) -> Result<(), String> {
        let dropped = match self {
            RawDb::Postgres(conn) => conn.batch_execute("DROP TABLE IF EXISTS bench_raw_marks"),
            RawDb::Sqlite(conn) => conn.batch_execute("DROP TABLE IF EXISTS bench_raw_marks"),
        };
        dropped.map_err(|e| format!("raw baseline: {e}"))
    }
}

fn raw_write_postgres(conn: &mut PgConnection, rows: &[RawRow]) -> QueryResult<usize> {
    conn.transaction(|conn| {
        conn.batch_execute(
            "CREATE TEMP TABLE raw_incoming (school_urn int, upn text, mark_date date, session text, \
             code text, minutes_late int) ON COMMIT DROP",
        )?;
        diesel::copy_from(raw_incoming::table).from_insertable(rows).execute(conn)?;
        diesel::sql_query(
            "INSERT INTO bench_raw_marks SELECT * FROM raw_incoming \
             ON CONFLICT (school_urn, upn, mark_date, session) DO UPDATE \
             SET code = EXCLUDED.code, minutes_late = EXCLUDED.minutes_late \
             WHERE bench_raw_marks.code IS DISTINCT FROM EXCLUDED.code \
                OR bench_raw_marks.minutes_late IS DISTINCT FROM EXCLUDED.minutes_late",
        )
        .execute(conn)
    })
}

/// `INSERT ... VALUES (...),(...) ON CONFLICT ...` for `n` rows, as SQLite wants it.
fn sqlite_upsert_sql(n: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?, ?)"; n].join(", ");
    format!(
        "INSERT INTO bench_raw_marks (school_urn, upn, mark_date, session, code, minutes_late) VALUES {values} \
         ON CONFLICT (school_urn, upn, mark_date, session) DO UPDATE \
         SET code = excluded.code, minutes_late = excluded.minutes_late \
         WHERE code IS NOT excluded.code OR minutes_late IS NOT excluded.minutes_late"
    )
}

fn raw_write_sqlite(conn: &mut SqliteConnection, rows: &[RawRow]) -> QueryResult<usize> {
    // Every batch but the last has the same shape, so its text is built once per round. Diesel
    // prepares an upsert afresh on every execute (it never caches ON CONFLICT statements), as it
    // does for the server; a statement prepared once through the C API ran these rounds about
    // 1.5x faster.
    let full_sql = sqlite_upsert_sql(RAW_BATCH);
    conn.immediate_transaction(|conn| {
        let mut written = 0;
        for chunk in rows.chunks(RAW_BATCH) {
            let sql = if chunk.len() == RAW_BATCH {
                full_sql.clone()
            } else {
                sqlite_upsert_sql(chunk.len())
            };
            let mut query = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
            for r in chunk {
                query = query
                    .bind::<Integer, _>(r.school_urn)
                    .bind::<Text, _>(r.upn)
                    .bind::<Date, _>(r.mark_date)
                    .bind::<Text, _>(r.session)
                    .bind::<Text, _>(r.code)
                    .bind::<Nullable<Integer>, _>(r.minutes_late);
            }
            written += query.execute(conn)?;
        }
        Ok(written)
    })
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    let args = Args::parse();
    main_with(|workdir| run(&args, workdir))
}

fn run(args: &Args, workdir: &Path) -> Result<(), String> {
    if args.schools == 0 || args.schools > 7999 {
        return Err("--schools must be 1 to 7999 (LAESTAB 9192001..9199999)".into());
    }
    if args.pupils < args.schools || args.pupils / args.schools >= 99_999 {
        return Err(
            "--pupils must be at least --schools and under 99,999 per school (the UPN serial)"
                .into(),
        );
    }
    if args.clients == 0 || args.raw_runs == 0 || args.http_runs == 0 {
        return Err("--clients, --raw-runs and --http-runs must be at least 1".into());
    }
    let days = http_days(args.http_runs, args.last_night)?;
    let today = today_after(args.last_night);
    let plan = YearToDatePlan {
        days: if args.year_to_date_days == 0 {
            Vec::new()
        } else {
            year_to_date::school_days_before(days[0], args.year_to_date_days)
        },
        summary_samples: args.summary_samples.max(1),
        seed: args.seed,
    };
    if plan
        .days
        .first()
        .is_some_and(|d| d.to_string().as_str() < ON_ROLL_FROM)
    {
        return Err(format!(
            "--year-to-date-days: {} school days before {} start before the pupils join on {ON_ROLL_FROM}",
            args.year_to_date_days, days[0]
        ));
    }
    // Checked before anything touches the database.
    let Prepared {
        server_bin,
        url_text,
        url,
    } = prepare(&args.target, workdir)?;
    let backend = url.backend().name();

    // Other work on the machine (builds, tests) skews every figure; say so in the results.
    let (load_at_start, cpus) = machine_load();

    eprintln!(
        "bench-ingest: generating {} pupils in {} schools (seed {})",
        args.pupils, args.schools, args.seed
    );
    let schools = generate(args)?;
    let marks: usize = schools.iter().map(|s| s.marks.len()).sum();

    eprintln!(
        "bench-ingest: migrating {} and adding clients",
        esma_api::store::redact(&url_text)
    );
    esma(&server_bin, &url_text, &["migrate".to_string()])?;
    let la = add_client(&server_bin, &url_text, "la", &[])?;
    let urns: Vec<i32> = schools.iter().map(|s| s.urn).collect();
    let mis = add_client(&server_bin, &url_text, "school", &urns)?;

    let log = workdir.join("server.log");
    let today_text = today.to_string();
    let mut server = start_server(
        &server_bin,
        &url_text,
        &log,
        &today_text,
        args.event_scan_secs,
    )?;
    eprintln!(
        "bench-ingest: server pid {} at {} (log {})",
        server.child.id(),
        server.base,
        log.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let raw_rows = RawRows::new(&schools, args.last_night)?;
    let mut raw_db = RawDb::open(&url)?;
    // HTTP runs and raw runs alternate (the server idles during a raw run), so that a change in
    // the machine's other load during the benchmark weighs on both sides alike, not on whichever
    // ran at the time.
    let runs = days.len().max(args.raw_runs);
    let measured = runtime
        .block_on(http_setup(&mut server, &la, &mis, &schools, args.clients))
        .and_then(|session| {
            let first_day = plan.days.first().copied().unwrap_or(days[0]);
            let start = part_time::start_date(first_day, today);
            eprintln!("bench-ingest: recording the part-time timetables from {start}");
            let http = http_client(args.clients)?;
            let recorded = part_time::record(
                &http,
                &session.base,
                &session.token,
                &schools,
                start,
                today,
                args.clients,
            );
            let agreements = runtime.block_on(recorded)?;
            let year_to_date = if plan.days.is_empty() {
                None
            } else {
                eprintln!(
                    "bench-ingest: year to date: {} school days from {}",
                    plan.days.len(),
                    plan.days[0]
                );
                let http = http_client(args.clients)?;
                let pushed = year_to_date::push_days(
                    &http,
                    &session.base,
                    &session.token,
                    &schools,
                    &plan.days,
                    args.clients,
                    plan.seed,
                    agreements.start,
                );
                Some(runtime.block_on(pushed)?)
            };
            let (mut http_secs, mut raw_secs) = (Vec::new(), Vec::new());
            for run in 0..runs {
                if let Some(&day) = days.get(run) {
                    eprintln!(
                        "bench-ingest: register rounds for {day} (HTTP run {} of {})",
                        run + 1,
                        days.len()
                    );
                    raw_db.settle();
                    let rounds = register_rounds(&session, &schools, args.clients, day);
                    http_secs.push(runtime.block_on(rounds)?);
                }
                if run < args.raw_runs {
                    eprintln!(
                        "bench-ingest: raw baseline on the same database (run {} of {})",
                        run + 1,
                        args.raw_runs
                    );
                    raw_db.settle();
                    raw_secs.push(raw_db.run(&raw_rows)?);
                }
            }
            let reads = if plan.days.is_empty() {
                None
            } else {
                eprintln!("bench-ingest: timing the alert worklist and pupil summaries");
                let http = http_client(1)?;
                let timed = year_to_date::time_reads(
                    &http,
                    &session.base,
                    &session.la_token,
                    &schools,
                    plan.summary_samples,
                    plan.seed,
                );
                Some(runtime.block_on(timed)?)
            };
            Ok((
                session.roll,
                http_secs,
                raw_secs,
                year_to_date,
                reads,
                agreements,
            ))
        });
    let dropped = raw_db.drop_table();
    let used = raw_db.used_bytes();
    // Read before stopping: /proc/<pid> is gone once the server is reaped.
    let rss = rss_mib(server.child.id());
    let exited = match server.child.try_wait() {
        Ok(Some(status)) => format!(" (the server had exited: {status})"),
        _ => String::new(),
    };
    server.stop();
    let (roll, http_secs, raw_secs, year_to_date, reads, agreements) = measured.map_err(|e| {
        let tail = log_tail(&log);
        format!("{e}{exited}\n  server log: {}{tail}", log.display())
    })?;
    dropped?;
    let (peak, now) = rss?;
    let raw: [f64; 3] =
        std::array::from_fn(|i| median(&raw_secs.iter().map(|r| r[i]).collect::<Vec<_>>()));

    // The results table.
    println!(
        "esma-api ingest benchmark: {} pupils, {} schools, {marks} marks, backend {backend}, {} clients",
        args.pupils, args.schools, args.clients
    );
    // Register rounds: the median of the HTTP runs against the median of the raw runs; the last
    // column is the ratio of the slowest and of the fastest HTTP run, to show the spread.
    println!(
        "{:<22} {:>9} {:>9} {:>10} {:>11} {:>6} {:>11}",
        "phase", "rows", "seconds", "rows/s", "raw rows/s", "ratio", "runs"
    );
    let pupils = args.pupils;
    let rate = pupils as f64 / roll;
    println!(
        "{:<22} {pupils:>9} {roll:>9.3} {rate:>10.0} {:>11} {:>6} {:>11}",
        "roll push", "-", "-", "-"
    );
    let mut ratios = [0.0; 3];
    for (i, name) in ROUNDS.into_iter().enumerate() {
        let runs: Vec<f64> = http_secs.iter().map(|r| r[i]).collect();
        let secs = median(&runs);
        let (rate, raw_rate) = (marks as f64 / secs, marks as f64 / raw[i]);
        ratios[i] = rate / raw_rate;
        let ratio = ratios[i];
        let (slowest, fastest) = runs
            .iter()
            .fold((0.0f64, f64::MAX), |(hi, lo), &s| (hi.max(s), lo.min(s)));
        let spread = format!("{:.2}-{:.2}", raw[i] / slowest, raw[i] / fastest);
        println!(
            "{name:<22} {marks:>9} {secs:>9.3} {rate:>10.0} {raw_rate:>11.0} {ratio:>6.2} {spread:>11}"
        );
    }
    if let Some(ytd) = &year_to_date {
        println!(
            "year to date (tallies maintained): {} school days, {} marks in {:.1} s = {:.0} marks/s \
             (first day {:.0}, last day {:.0}); the rounds above ran on top of it",
            ytd.days,
            ytd.marks,
            ytd.seconds,
            ytd.marks as f64 / ytd.seconds,
            ytd.first_day_rate,
            ytd.last_day_rate
        );
    }
    println!(
        "part-time timetables (R15): {} agreements from {} ({} reviews held), C2 every afternoon \
         of those pupils and of {} without one",
        agreements.agreed, agreements.start, agreements.reviews, agreements.without
    );
    if let Some(reads) = &reads {
        println!(
            "alert worklist (la, {} open alerts): first page of 100 {:.1} ms, one kind {:.1} ms \
             (medians of 21), every page of 500 {:.0} ms",
            reads.open_alerts,
            reads.worklist_first_page_ms,
            reads.worklist_kind_ms,
            reads.worklist_walk_ms
        );
        println!(
            "pupil summary (GET /pupils/{{upn}}/attendance, {} random pupils): median {:.2} ms, p95 {:.2} ms",
            reads.samples, reads.pupil_summary_median_ms, reads.pupil_summary_p95_ms
        );
    }
    // Everything the service stored for these pupils (registers, tallies, alerts, history,
    // imports, audit), without the raw baseline's table.
    let used = used?;
    let school_days = plan.days.len() + days.len();
    println!(
        "database: {:.0} MB used after the runs, {:.0} bytes per pupil for {school_days} school days \
         of registers",
        used as f64 / 1_048_576.0,
        used as f64 / args.pupils as f64
    );
    println!("server peak RSS: {peak:.0} MB (VmHWM; VmRSS at the end {now:.0} MB)");
    let busy = if load_at_start >= 0.5 {
        " (other work running: figures are noisy)"
    } else {
        ""
    };
    let (first, last) = (days[0], days[days.len() - 1]);
    println!(
        "HTTP: median of {} runs (school days {first} to {last}); raw: median of {} runs; \
         server's event scan every {} s; machine: {cpus} CPUs, load average {load_at_start:.2} \
         before the run{busy}",
        days.len(),
        args.raw_runs,
        args.event_scan_secs
    );
    // Issue 3 "Targets": the PostgreSQL ones on PostgreSQL, the SQLite one on SQLite.
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let ratio_targets: &[(&str, usize, f64)] = if backend == "postgres" {
        &[("PG first", 0, 0.75), ("PG unchanged", 1, 0.75)]
    } else {
        &[("SQLite first", 0, 0.60)]
    };
    let mut targets: Vec<String> = ratio_targets
        .iter()
        .map(|&(label, i, min)| {
            let ok = verdict(ratios[i] >= min);
            format!("{label} >= {min:.2} raw: {:.3} {ok}", ratios[i])
        })
        .collect();
    targets.push(format!("RSS < 300 MB: {peak:.0} {}", verdict(peak < 300.0)));
    // Issue 4 "Targets".
    if let Some(reads) = &reads {
        let worst = reads.worklist_first_page_ms.max(reads.worklist_kind_ms);
        targets.push(format!(
            "worklist < 100 ms: {worst:.1} {}",
            verdict(worst < 100.0)
        ));
        targets.push(format!(
            "summary < 5 ms: {:.2} {}",
            reads.pupil_summary_median_ms,
            verdict(reads.pupil_summary_median_ms < 5.0)
        ));
    }
    println!("targets: {}", targets.join("; "));

    finish(&args.target, workdir);
    Ok(())
}
