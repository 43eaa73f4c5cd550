//! Two instances on one PostgreSQL (issue 25 item 3): how users outgrow one machine. Two real
//! `esma-api serve` processes start at once on one fresh database and share the work of an LA's
//! night and day: roll and register pushes, referral submits and decisions go to one or the
//! other (a school's weeks to different instances at the same moment), the LA tails the change
//! feed through both, and both deliver webhooks to one real receiver. Then:
//! - every pushed mark is stored once, as sent, and counted once in the pupil's tally (read back
//!   through the other instance); every push is one import;
//! - every referral exists once, and two submits for one pupil at the same moment, one to each
//!   instance, open one referral;
//! - every event in the outbox reached the receiver exactly once (by `webhook-id`), each
//!   delivery with one attempt, and the attempts counted by the two instances add up (the
//!   `FOR UPDATE SKIP LOCKED` claim: no delivery sent by both);
//! - the change feed, tailed while the work ran, alternating instances, missed nothing: what it
//!   read is exactly the feed read afterwards from the start, in strictly increasing versions,
//!   and that is every row of the feed's table. This is what the feed promises
//!   (`store/changes.rs`): a change that appears after a read has a larger version than
//!   everything that read returned. Versions are not promised contiguous (a rolled-back
//!   transaction leaves its sequence value unused), so holes are counted, not refused;
//! - an `Idempotency-Key` request answered by one instance is replayed by the other, and the same
//!   key sent to both at once creates one referral (and one import, for a push);
//! - both start although they migrate the empty database at the same moment (they did not,
//!   before the migration lock in `store::run_migrations`), and neither logs a warning (a failed
//!   scan or delivery round).
//!
//! PostgreSQL only (two processes on one SQLite file is not how it is deployed): ignored without
//! `ESMA_TEST_DATABASE_URL`, failed under `CI=true` without it.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use common::receiver::{free_port, Receiver};
use common::{calendar, date, pupil, short_referral, upn, OwnPgDatabase};
use diesel::prelude::*;
use esma_api::domain::access::Role;
use esma_api::service::{clients, Actor};
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt, StreamExt};
use serde_json::{json, Value};

const SCHOOLS: u32 = 20;
const PUPILS_PER_SCHOOL: u32 = 30;
/// The register weeks pushed: Monday 2, 9 and 16 November 2026, each a push of its own.
const WEEKS: [&str; 3] = ["2026-11-02", "2026-11-09", "2026-11-16"];
/// Pupils referred per school (the first of each ten).
const REFERRED_PER_SCHOOL: u32 = 3;
const EVENTS: [&str; 6] = [
    "referral.received",
    "referral.assessed",
    "referral.decided",
    "attendance.sickness_return_due",
    "attendance.unexplained_absence_overdue",
    "attendance.unauthorised_absence_10_days",
];

fn urn(school: u32) -> i64 {
    117_101 + i64::from(school)
}

/// Pupil serials 1..=600, thirty per school.
fn pupils_of(school: u32) -> std::ops::RangeInclusive<u32> {
    school * PUPILS_PER_SCHOOL + 1..=(school + 1) * PUPILS_PER_SCHOOL
}

/// A pupil's code on a day: a fifth ill throughout (sickness returns due), some with an `N`
/// in the first week (overdue by today) or unauthorised throughout (the 10-day notice).
fn code(n: u32, day: NaiveDate) -> &'static str {
    match n % 10 {
        0 | 5 => "I",
        3 if day < date("2026-11-09") => "N",
        7 => "O",
        _ => "/",
    }
}

/// Pupil `n`'s marks of the week from `monday`: (date, session, code).
fn pupil_week(n: u32, monday: &str) -> Vec<(String, &'static str, &'static str)> {
    let monday = date(monday);
    let mut marks = Vec::new();
    for offset in 0..5 {
        let day = monday + Days::new(offset);
        assert!(!matches!(day.weekday(), Weekday::Sat | Weekday::Sun));
        for session in ["AM", "PM"] {
            marks.push((day.to_string(), session, code(n, day)));
        }
    }
    marks
}

/// A school's push of one week.
fn week_marks(school: u32, monday: &str) -> Vec<Value> {
    pupils_of(school)
        .flat_map(|n| {
            pupil_week(n, monday).into_iter().map(move |(day, session, code)| {
                json!({"upn": upn(n), "date": day, "session": session, "code": code})
            })
        })
        .collect()
}

// ------------------------------------------------------------------------ the two servers

const JWT_SECRET: &str = "two-instances-test-secret-0123456789abcdef0123";
/// Both instances seal and open webhook secrets and stored answers with the same key.
const WEBHOOK_KEY: &str = "dHdvLWluc3RhbmNlcy13ZWJob29rLWtleS0wMTIzNDU=";

struct Server {
    base: String,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(db_url: &str, log: PathBuf) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_esma-api"))
            .args([
                "--database-url",
                db_url,
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("DATABASE_URL")
            .env("ESMA_JWT_SECRET", JWT_SECRET)
            .env("ESMA_WEBHOOK_KEY", WEBHOOK_KEY)
            .env("ESMA_TODAY", "2026-11-23")
            .env("ESMA_ALLOW_INSECURE_WEBHOOKS", "1")
            // Every attempt is expected to succeed at once; a retry would show as 2 attempts.
            .env("ESMA_WEBHOOK_RETRY_SECS", "1,1,1,1,1")
            .env("ESMA_WEBHOOK_POLL_MS", "50")
            .env("ESMA_WEBHOOK_TIMEOUT_SECS", "5")
            // Both scan (clock-driven alerts and events) every second, often at the same time.
            .env("ESMA_EVENT_SCAN_SECS", "1")
            .env("ESMA_WORKERS", "2")
            .env("ESMA_DB_POOL", "6")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a server log file"))
            .spawn()
            .expect("start esma-api serve");
        Server {
            base: format!("http://127.0.0.1:{port}"),
            child,
            log,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_healthy(http: &reqwest::Client, server: &mut Server) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "the server at {} exited ({status}) while starting:\n{}",
                server.base,
                server.log_text()
            );
        }
        if let Ok(r) = http.get(format!("{}/health", server.base)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server at {} did not become healthy", server.base);
}

/// An answer: status, headers that matter here, body.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    replayed: bool,
    location: Option<String>,
    body: Value,
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut req = http.request(method, &url).bearer_auth(token);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let replayed = header("idempotent-replayed").as_deref() == Some("true");
    let location = header("location");
    let text = res.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        replayed,
        location,
        body,
    }
}

async fn get(http: &reqwest::Client, url: String, token: &str) -> Value {
    let a = send(http, reqwest::Method::GET, url.clone(), token, None, None).await;
    assert_eq!(a.status, 200, "GET {url}: {}", a.body);
    a.body
}

async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let r: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {r}"))
        .to_string()
}

/// `esma_webhook_attempts_total{outcome="..."}` of one instance.
async fn attempts_counted(http: &reqwest::Client, base: &str, outcome: &str) -> u64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let wanted = format!("esma_webhook_attempts_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&wanted))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or_else(|| panic!("no {wanted} in /metrics"))
}

// ------------------------------------------------------------------------ the database

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

#[derive(QueryableByName, Debug)]
struct Outboxed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    message_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    event_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    attempt_rows: i64,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    version: i64,
}

/// What must stop moving before the outcome is judged: events, feed, the queue, the receiver.
fn progress(conn: &mut PgConnection, receiver: &Receiver) -> (i64, i64, i64, i64, usize) {
    (
        count(conn, "SELECT COUNT(*) AS n FROM events"),
        count(conn, "SELECT COALESCE(MAX(version), 0) AS n FROM changes"),
        count(
            conn,
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'pending'",
        ),
        count(
            conn,
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'delivered'",
        ),
        receiver.received().len(),
    )
}

// ------------------------------------------------------------------------ the change feed tail

/// Tails the feed as an LA system would, alternating instances, until `done` is set and a read
/// after it found nothing more; returns every item read, in order, and how many reads it made.
async fn tail_feed(
    http: &reqwest::Client,
    bases: &[String; 2],
    la: &str,
    done: &std::cell::Cell<bool>,
) -> (Vec<Value>, usize) {
    let mut since = 0i64;
    let mut seen = Vec::new();
    let mut reads = 0usize;
    loop {
        let finished = done.get();
        let base = &bases[reads % 2];
        let page = get(
            http,
            format!("{base}/api/v1/changes?since={since}&limit=40"),
            la,
        )
        .await;
        reads += 1;
        for item in page["items"].as_array().unwrap() {
            let version = item["version"].as_i64().unwrap();
            assert!(
                version > since,
                "the feed went back: {version} after {since} (from {base})"
            );
            since = version;
            seen.push(item.clone());
        }
        assert_eq!(page["next_since"].as_i64().unwrap(), since, "{page}");
        if page["has_more"] == true {
            continue;
        }
        if finished {
            return (seen, reads);
        }
        actix_web::rt::time::sleep(Duration::from_millis(30)).await;
    }
}

/// The whole feed from the start, in pages of 1000.
async fn whole_feed(http: &reqwest::Client, base: &str, la: &str) -> Vec<Value> {
    let (mut since, mut all) = (0i64, Vec::new());
    loop {
        let page = get(
            http,
            format!("{base}/api/v1/changes?since={since}&limit=1000"),
            la,
        )
        .await;
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        since = page["next_since"].as_i64().unwrap();
        if page["has_more"] != true {
            return all;
        }
    }
}

fn feed_key(item: &Value) -> (i64, String, i64, String) {
    (
        item["version"].as_i64().unwrap(),
        item["resource_type"].as_str().unwrap().to_string(),
        item["resource_id"].as_i64().unwrap(),
        item["action"].as_str().unwrap().to_string(),
    )
}

// ------------------------------------------------------------------------ the test

#[actix_web::test]
#[cfg_attr(
    esma_no_postgres,
    ignore = "set ESMA_TEST_DATABASE_URL to run on PostgreSQL"
)]
async fn two_instances_share_one_postgresql_without_losing_or_repeating_anything() {
    let Some(database) = OwnPgDatabase::create() else {
        return;
    };
    let started = Instant::now();
    let logs = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    // Both start at once on the empty database: both migrate it.
    let mut a = Server::start(&database.url, logs.path().join("a.log"));
    let mut b = Server::start(&database.url, logs.path().join("b.log"));
    wait_healthy(&http, &mut a).await;
    wait_healthy(&http, &mut b).await;
    let bases = [a.base.clone(), b.base.clone()];
    let on = |i: usize| bases[i % 2].as_str();

    // Clients as the CLI makes them; tokens from one instance are taken by the other.
    let db = esma_api::store::Db::open(
        &esma_api::store::DatabaseUrl::parse(&database.url).unwrap(),
        1,
    )
    .expect("open the test database");
    let operator = Actor::operator("test");
    let la_client = clients::add(&db, &operator, "LA portal", Role::La, &[]).unwrap();
    let urns: Vec<i64> = (0..SCHOOLS).map(urn).collect();
    let mis = clients::add(&db, &operator, "MIS", Role::School, &urns).unwrap();
    drop(db);
    let la = token(&http, on(0), &la_client.client_id, &la_client.client_secret).await;
    let school = token(&http, on(1), &mis.client_id, &mis.client_secret).await;
    let mut conn = PgConnection::establish(&database.url).unwrap();

    // The LA's calendar and schools, the schools' rolls, split between the instances.
    let r = send(
        &http,
        reqwest::Method::PUT,
        format!("{}/api/v1/calendar/2026-27", on(0)),
        &la,
        None,
        Some(&calendar(&[])),
    )
    .await;
    assert!(r.status == 200 || r.status == 201, "calendar: {}", r.body);
    let schools = futures_util::future::join_all((0..SCHOOLS).map(|s| {
        let body = json!({"name": format!("School {}", urn(s)), "laestab": format!("919{}", 2001 + s),
                          "phase": "primary"});
        let (http, la, url) = (&http, &la, format!("{}/api/v1/schools/{}", on(s as usize), urn(s)));
        async move { send(http, reqwest::Method::PUT, url, la, None, Some(&body)).await }
    }))
    .await;
    for r in &schools {
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let rolls = futures_util::future::join_all((0..SCHOOLS).map(|s| {
        let body = json!({"pupils": pupils_of(s).map(pupil).collect::<Vec<_>>()});
        let url = format!("{}/api/v1/schools/{}/pupils", on(s as usize + 1), urn(s));
        let (http, school) = (&http, &school);
        async move { send(http, reqwest::Method::PUT, url, school, None, Some(&body)).await }
    }))
    .await;
    for r in &rolls {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["inserted"], PUPILS_PER_SCHOOL, "{}", r.body);
    }

    // One receiver for the LA's subscription, made through B; both instances deliver to it.
    let receiver = Receiver::start(200);
    let sub = send(
        &http,
        reqwest::Method::POST,
        format!("{}/api/v1/webhooks", on(1)),
        &la,
        None,
        Some(&json!({"url": receiver.url(), "events": EVENTS})),
    )
    .await;
    assert_eq!(sub.status, 201, "{}", sub.body);
    let subscription = sub.body["id"].as_i64().unwrap();
    let secret = sub.body["secret"].as_str().unwrap().to_string();

    // The work, at most 8 requests at a time: each school's three weeks of register, its weeks
    // to alternate instances (so one school's pushes meet on the two), and referrals, each
    // decided through the instance that did not take it.
    let done = std::cell::Cell::new(false);
    let tail = tail_feed(&http, &bases, &la, &done);
    type Job<'a> = LocalBoxFuture<'a, (&'static str, Answer)>;
    let mut pushes: Vec<Job> = Vec::new();
    // A school's weeks one after another in the queue, so they are in flight together.
    for s in 0..SCHOOLS {
        for (w, monday) in WEEKS.iter().enumerate() {
            let url = format!("{}/api/v1/schools/{}/registers", on(s as usize + w), urn(s));
            let body = json!({"marks": week_marks(s, monday)});
            let (http, school) = (&http, &school);
            pushes.push(
                async move {
                    let r = send(http, reqwest::Method::POST, url, school, None, Some(&body)).await;
                    ("push", r)
                }
                .boxed_local(),
            );
        }
    }
    let mut referred = Vec::new();
    let mut referrals: Vec<Job> = Vec::new();
    for s in 0..SCHOOLS {
        for k in 0..REFERRED_PER_SCHOOL {
            let n = s * PUPILS_PER_SCHOOL + 1 + k * 10;
            referred.push(n);
            let i = (s + k) as usize;
            let (submit_on, decide_on) = (on(i).to_string(), on(i + 1).to_string());
            let form = short_referral(n, urn(s));
            let key = format!("referral-{n}");
            let (http, school, la) = (&http, &school, &la);
            referrals.push(
                async move {
                    let r = send(
                        http,
                        reqwest::Method::POST,
                        format!("{submit_on}/api/v1/referrals"),
                        school,
                        Some(&key),
                        Some(&form),
                    )
                    .await;
                    assert_eq!(r.status, 201, "referral of {n}: {}", r.body);
                    if k != 1 {
                        let id = r.body["id"].as_i64().unwrap();
                        let decision = json!({"outcome": "accepted", "start_date": "2026-11-30",
                            "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
                            "decided_by": "J. Smith"});
                        let d = send(
                            http,
                            reqwest::Method::POST,
                            format!("{decide_on}/api/v1/referrals/{id}/decision"),
                            la,
                            Some(&format!("decision-{id}")),
                            Some(&decision),
                        )
                        .await;
                        assert_eq!(d.status, 200, "decision on {id}: {}", d.body);
                    }
                    ("referral", r)
                }
                .boxed_local(),
            );
        }
    }
    // Interleave the kinds, so referrals arrive while the pushes run.
    let mut order = Vec::new();
    let mut referrals = referrals.into_iter();
    for push in pushes {
        order.push(push);
        order.extend(referrals.next());
    }
    order.extend(referrals);
    let work = async {
        let answers: Vec<(&'static str, Answer)> = futures_util::stream::iter(order)
            .buffer_unordered(8)
            .collect()
            .await;
        (answers, Instant::now())
    };
    // The tail keeps reading through the quiet period below; it is stopped after it.
    let ((answers, work_done), (tailed, feed_reads)) = futures_util::future::join(
        async {
            let out = work.await;
            idempotency_checks(&http, &bases, &school, &mut conn).await;
            settle(&mut conn, &receiver).await;
            done.set(true);
            out
        },
        tail,
    )
    .await;
    let work_secs = work_done.duration_since(started).as_secs_f64();

    // Every push: one import, its marks all inserted.
    let mut pushed = 0;
    for (kind, r) in &answers {
        match *kind {
            "push" => {
                assert_eq!(r.status, 200, "{}", r.body);
                let marks = PUPILS_PER_SCHOOL as u64 * 10;
                assert_eq!(r.body["received"], marks, "{}", r.body);
                assert_eq!(r.body["inserted"], marks, "{}", r.body);
                assert_eq!(r.body["rejected"], 0, "{}", r.body);
                pushed += 1;
            }
            _ => assert_eq!(r.status, 201, "{}", r.body),
        }
    }
    assert_eq!(pushed, WEEKS.len() * SCHOOLS as usize);
    let import_ids: BTreeSet<i64> = answers
        .iter()
        .filter(|(k, _)| *k == "push")
        .map(|(_, r)| r.body["import_id"].as_i64().unwrap())
        .collect();
    assert_eq!(import_ids.len(), pushed, "one import per push");

    // Every mark once, as sent, read back through the instance that did not take the first
    // week; the tally counts each once.
    let checks =
        futures_util::stream::iter((0..SCHOOLS).flat_map(|s| pupils_of(s).map(move |n| (s, n))))
            .map(|(s, n)| {
                let (http, la, base) = (&http, &la, on(s as usize + 1).to_string());
                async move {
                    let marks = get(
                        http,
                        format!(
                            "{base}/api/v1/pupils/{}/marks?from=2026-11-02&to=2026-11-20",
                            upn(n)
                        ),
                        la,
                    )
                    .await;
                    let attendance = get(
                        http,
                        format!(
                            "{base}/api/v1/pupils/{}/attendance?from=2026-11-02&to=2026-11-20",
                            upn(n)
                        ),
                        la,
                    )
                    .await;
                    (s, n, marks, attendance)
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
    for (s, n, marks, attendance) in &checks {
        let mut expected: Vec<_> = WEEKS.iter().flat_map(|m| pupil_week(*n, m)).collect();
        expected.sort();
        let mut stored: Vec<_> = marks["marks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["school_urn"], urn(*s));
                (
                    m["date"].as_str().unwrap().to_string(),
                    m["session"].as_str().unwrap(),
                    m["code"].as_str().unwrap(),
                )
            })
            .collect();
        stored.sort();
        assert_eq!(stored, expected, "the marks of pupil {n}");
        assert_eq!(marks["changes"], json!([]), "pupil {n}: no mark changed");
        let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
        for (_, _, code) in &expected {
            *by_code.entry(code.to_string()).or_default() += 1;
        }
        assert_eq!(
            attendance["possible_sessions"], 30,
            "pupil {n}: {attendance}"
        );
        assert_eq!(
            attendance["by_code"],
            json!(by_code),
            "pupil {n}: {attendance}"
        );
    }

    // Every referral once, listed by either instance.
    let listed = get(&http, format!("{}/api/v1/referrals?limit=500", on(0)), &la).await;
    let mut listed_upns: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["upn"].as_str().unwrap().to_string())
        .collect();
    listed_upns.sort();
    let mut wanted_upns: Vec<String> = referred
        .iter()
        .copied()
        .chain(IDEMPOTENT_PUPILS)
        .chain([RACED_PUPIL])
        .map(upn)
        .collect();
    wanted_upns.sort();
    assert_eq!(listed_upns, wanted_upns, "one referral per pupil referred");
    assert_eq!(listed["next_cursor"], Value::Null);
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) AS n FROM referrals"),
        wanted_upns.len() as i64
    );

    // The feed: what the tail read while the work ran is the whole feed, in order, and the
    // whole feed is every row of its table.
    let whole = whole_feed(&http, on(1), &la).await;
    let tailed_keys: Vec<_> = tailed.iter().map(feed_key).collect();
    let whole_keys: Vec<_> = whole.iter().map(feed_key).collect();
    assert!(
        whole_keys.windows(2).all(|w| w[0].0 < w[1].0),
        "versions strictly increasing"
    );
    if tailed_keys != whole_keys {
        let tailed_set: BTreeSet<_> = tailed_keys.iter().collect();
        let missed: Vec<_> = whole_keys
            .iter()
            .filter(|k| !tailed_set.contains(k))
            .take(20)
            .collect();
        panic!(
            "the tail read {} changes, the feed has {}; missed by the tail (first 20): {missed:?}",
            tailed_keys.len(),
            whole_keys.len()
        );
    }
    let table: Vec<i64> = diesel::sql_query("SELECT version FROM changes ORDER BY version")
        .load::<Version>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    let versions: Vec<i64> = whole_keys.iter().map(|k| k.0).collect();
    assert_eq!(versions, table, "the feed is every row of its table");
    // Each referral created once on the feed, each decided one decided once.
    let mut created: HashMap<i64, usize> = HashMap::new();
    let mut decided: HashMap<i64, usize> = HashMap::new();
    for (_, resource, id, action) in &whole_keys {
        match (resource.as_str(), action.as_str()) {
            ("referral", "created") => *created.entry(*id).or_default() += 1,
            ("referral", "decided") => *decided.entry(*id).or_default() += 1,
            _ => {}
        }
    }
    assert_eq!(created.len(), wanted_upns.len(), "{created:?}");
    assert!(created.values().all(|n| *n == 1), "{created:?}");
    assert!(decided.values().all(|n| *n == 1), "{decided:?}");
    assert_eq!(
        decided.len() as i64,
        count(
            &mut conn,
            "SELECT COUNT(*) AS n FROM referrals WHERE decided_at IS NOT NULL"
        )
    );
    let holes = versions.last().copied().unwrap_or(0) - versions.len() as i64;

    // Every event in the outbox delivered exactly once, in one attempt, signed.
    let outbox: Vec<Outboxed> = diesel::sql_query(format!(
        "SELECT e.message_id, e.event_type, d.status, d.attempts, \
                (SELECT COUNT(*) FROM webhook_attempts a WHERE a.delivery_id = d.id) AS attempt_rows \
         FROM events e JOIN webhook_deliveries d ON d.event_id = e.id \
         WHERE d.subscription_id = {subscription} ORDER BY e.id"
    ))
    .load(&mut conn)
    .unwrap();
    let subscribed = EVENTS.map(|e| format!("'{e}'")).join(", ");
    assert_eq!(
        count(
            &mut conn,
            &format!("SELECT COUNT(*) AS n FROM events WHERE event_type IN ({subscribed})")
        ) as usize,
        outbox.len(),
        "every event of a type subscribed to has its one delivery"
    );
    for d in &outbox {
        assert_eq!(
            (d.status.as_str(), d.attempts, d.attempt_rows),
            ("delivered", 1, 1),
            "{d:?}"
        );
    }
    let received = receiver.received();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for r in &received {
        *by_id.entry(r.header("webhook-id").to_string()).or_default() += 1;
        r.verify(&secret)
            .unwrap_or_else(|e| panic!("signature: {e}"));
    }
    let repeated: Vec<_> = by_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "delivered more than once: {repeated:?}"
    );
    let sent: BTreeSet<&str> = outbox.iter().map(|d| d.message_id.as_str()).collect();
    let got: BTreeSet<&str> = by_id.keys().map(String::as_str).collect();
    assert_eq!(got, sent, "the receiver got exactly the outbox");
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &outbox {
        *types.entry(d.event_type.as_str()).or_default() += 1;
    }
    for wanted in [
        "referral.received",
        "referral.decided",
        "attendance.sickness_return_due",
        "attendance.unexplained_absence_overdue",
    ] {
        assert!(types.contains_key(wanted), "no {wanted} event: {types:?}");
    }
    // The instances' own counts of the attempts they made add up to one per delivery.
    let by_a = attempts_counted(&http, on(0), "delivered").await;
    let by_b = attempts_counted(&http, on(1), "delivered").await;
    assert_eq!(by_a + by_b, outbox.len() as u64, "A {by_a} + B {by_b}");
    assert!(by_a > 0 && by_b > 0, "both delivered: A {by_a}, B {by_b}");
    for (server, outcome) in [(on(0), "retrying"), (on(1), "retrying")] {
        assert_eq!(attempts_counted(&http, server, outcome).await, 0);
    }

    // Neither instance failed a round of its work (a scan, a delivery round) meanwhile.
    let failures: Vec<String> = [&a, &b]
        .iter()
        .flat_map(|s| {
            s.log_text()
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
                // A server with autovacuum off (this project's CI's) is told so, rightly.
                .filter(|l| !l.contains("autovacuum is off"))
                .map(|l| format!("{}: {l}", s.base))
                .collect::<Vec<_>>()
        })
        .collect();
    eprintln!(
        "two instances: {} marks in {pushed} pushes, {} referrals, {} events delivered \
         (A {by_a}, B {by_b}: {types:?}), {} changes on the feed ({holes} unused versions) \
         tailed in {feed_reads} reads; work done at {work_secs:.1} s, all checked at {:.1} s",
        pushed as u32 * PUPILS_PER_SCHOOL * 10,
        wanted_upns.len(),
        outbox.len(),
        whole_keys.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "the servers logged failures:\n{}",
        failures.join("\n")
    );
    drop(receiver);
    drop((a, b));
}

/// Pupils whose referrals the idempotency checks make (the last of each of two schools).
const IDEMPOTENT_PUPILS: [u32; 2] = [PUPILS_PER_SCHOOL, 2 * PUPILS_PER_SCHOOL];
/// The pupil two submits without a key race for.
const RACED_PUPIL: u32 = PUPILS_PER_SCHOOL - 1;

/// An Idempotency-Key answered by one instance is replayed by the other, and the same key sent to
/// both at once makes one referral; the same for a register push; and two submits for one pupil
/// without a key, one to each instance at once, open one referral.
async fn idempotency_checks(
    http: &reqwest::Client,
    bases: &[String; 2],
    school: &str,
    conn: &mut PgConnection,
) {
    let post = || reqwest::Method::POST;
    let [a, b] = bases;
    let same = |first: &Answer, again: &Answer| {
        assert_eq!(again.status, first.status, "{}", again.body);
        assert!(again.replayed, "not marked replayed: {}", again.body);
        assert!(!first.replayed);
        assert_eq!(again.body, first.body);
        assert_eq!(again.location, first.location);
    };

    // A referral through A, its retry through B.
    let n = IDEMPOTENT_PUPILS[0];
    let form = short_referral(n, urn(0));
    let first = send(
        http,
        post(),
        format!("{a}/api/v1/referrals"),
        school,
        Some("cross-1"),
        Some(&form),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = send(
        http,
        post(),
        format!("{b}/api/v1/referrals"),
        school,
        Some("cross-1"),
        Some(&form),
    )
    .await;
    same(&first, &again);

    // One key to both at once: one referral; the one that waited is replayed (or told the first
    // is in progress, and replayed on its retry).
    let n = IDEMPOTENT_PUPILS[1];
    let form = short_referral(n, urn(1));
    let (x, y) = futures_util::future::join(
        send(
            http,
            post(),
            format!("{a}/api/v1/referrals"),
            school,
            Some("both-1"),
            Some(&form),
        ),
        send(
            http,
            post(),
            format!("{b}/api/v1/referrals"),
            school,
            Some("both-1"),
            Some(&form),
        ),
    )
    .await;
    let (created, other) = match (x.replayed, y.replayed, x.status, y.status) {
        (false, _, 201, _) => (x, y),
        (_, false, _, 201) => (y, x),
        _ => panic!("neither made the referral: {x:?} {y:?}"),
    };
    let other = if other.status == 409 {
        assert_eq!(
            other.body["type"], "urn:esma:problem:idempotency-key-in-progress",
            "{}",
            other.body
        );
        send(
            http,
            post(),
            format!("{b}/api/v1/referrals"),
            school,
            Some("both-1"),
            Some(&form),
        )
        .await
    } else {
        other
    };
    same(&created, &other);
    let upn_n = upn(n);
    assert_eq!(
        count(
            conn,
            &format!("SELECT COUNT(*) AS n FROM referrals WHERE upn = '{upn_n}'")
        ),
        1
    );

    // Two submits for one pupil, no key, one to each instance at once: one referral, and the
    // other refused (409), never a second open referral.
    let n = RACED_PUPIL;
    let form = short_referral(n, urn(0));
    let (x, y) = futures_util::future::join(
        send(
            http,
            post(),
            format!("{a}/api/v1/referrals"),
            school,
            None,
            Some(&form),
        ),
        send(
            http,
            post(),
            format!("{b}/api/v1/referrals"),
            school,
            None,
            Some(&form),
        ),
    )
    .await;
    let mut statuses = [x.status, y.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{x:?} {y:?}");
    assert_eq!(
        count(
            conn,
            &format!(
                "SELECT COUNT(*) AS n FROM referrals WHERE upn = '{}'",
                upn(n)
            )
        ),
        1
    );

    // A push through B, its retry through A; then one key to both at once. (The marks are
    // those already stored, so the read-back below still finds each pupil's marks as sent.)
    let marks =
        json!({"marks": [{"upn": upn(1), "date": "2026-11-20", "session": "AM", "code": "/"}]});
    let url = |base: &str| format!("{base}/api/v1/schools/{}/registers", urn(0));
    let first = send(
        http,
        post(),
        url(b),
        school,
        Some("push-cross-1"),
        Some(&marks),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = send(
        http,
        post(),
        url(a),
        school,
        Some("push-cross-1"),
        Some(&marks),
    )
    .await;
    same(&first, &again);
    let marks =
        json!({"marks": [{"upn": upn(2), "date": "2026-11-20", "session": "AM", "code": "/"}]});
    let (x, y) = futures_util::future::join(
        send(
            http,
            post(),
            url(a),
            school,
            Some("push-both-1"),
            Some(&marks),
        ),
        send(
            http,
            post(),
            url(b),
            school,
            Some("push-both-1"),
            Some(&marks),
        ),
    )
    .await;
    for r in [&x, &y] {
        assert!(
            r.status == 200 || r.body["type"] == "urn:esma:problem:idempotency-key-in-progress",
            "{r:?}"
        );
    }
    assert_eq!(
        count(
            conn,
            "SELECT COUNT(*) AS n FROM imports WHERE idempotency_key = 'push-both-1'"
        ),
        1
    );
}

/// Waits until nothing moves any more (events, the feed, the queue, the receiver) for two scan
/// periods, with nothing pending and every delivery received (a delivery received twice is
/// left for the caller to name).
async fn settle(conn: &mut PgConnection, receiver: &Receiver) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = progress(conn, receiver);
    let mut still_since = Instant::now();
    loop {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        let now = progress(conn, receiver);
        let (_, _, pending, delivered, received) = now;
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if pending == 0
            && received >= delivered as usize
            && still_since.elapsed() >= Duration::from_millis(2_500)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not settled in 20 s: (events, feed version, pending, delivered, received) {now:?}"
        );
    }
}
