//! Retries and abuse (issue 20, defects 7, 9, 10 and 12): Idempotency-Key on every POST that
//! creates or decides something, concurrent pushes with one key, throttled token requests, and
//! Ctrl-C draining requests in flight. On both backends.

mod common;

use std::net::SocketAddr;

use actix_web::test::TestRequest;
use common::{basic, calendar, setup, short_referral, Reply, TestApp, OAKFIELD};
use diesel::prelude::*;
use esma_api::clock::Clock;
use esma_api::domain::access::Role;
use esma_api::service::throttle::{ThrottleSettings, TokenThrottle};
use serde_json::{json, Value};

/// POST `body` as JSON (or nothing) with a bearer token and, when given, an Idempotency-Key.
async fn post_keyed(
    app: &TestApp,
    token: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    app.send(keyed_request(token, uri, key, body)).await
}

fn keyed_request(token: &str, uri: &str, key: Option<&str>, body: Option<&Value>) -> TestRequest {
    let mut req = TestRequest::post()
        .uri(uri)
        .insert_header(("authorization", format!("Bearer {token}")));
    if let Some(key) = key {
        req = req.insert_header(("idempotency-key", key));
    }
    if let Some(body) = body {
        req = req.set_json(body);
    }
    req
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &'static str) -> i64 {
    use esma_api::store::DbConnection;
    let mut conn = app.db().conn().unwrap();
    let found = match &mut *conn {
        DbConnection::Sqlite(c) => diesel::sql_query(sql).get_result::<Count>(c),
        DbConnection::Postgresql(c) => diesel::sql_query(sql).get_result::<Count>(c),
    };
    found.unwrap().n
}

/// A 409 that says the same key is still being worked on: a problem with Retry-After.
fn assert_in_progress(r: &Reply) {
    let body = r.problem(409);
    assert_eq!(
        body["type"], "urn:esma:problem:idempotency-key-in-progress",
        "{body}"
    );
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
}

/// The second answer is the first one, replayed.
fn assert_replayed(first: &Reply, again: &Reply) {
    assert_eq!(again.status, first.status, "{}", again.text());
    assert_eq!(
        again.header("idempotent-replayed").as_deref(),
        Some("true"),
        "{}",
        again.text()
    );
    assert_eq!(again.json(), first.json());
    assert_eq!(again.header("location"), first.header("location"));
}

on_both_backends!(
    concurrent_identical_pushes_with_one_key_record_one_import,
    |app| {
        let s = setup(&app).await;
        let marks: Vec<Value> = (1..=5)
        .flat_map(|n| {
            ["AM", "PM"].map(|session| {
                json!({"upn": common::upn(n), "date": "2026-11-20", "session": session, "code": "I"})
            })
        })
        .collect();
        let body = json!({ "marks": marks });
        let requests = (0..8).map(|_| {
            app.send(keyed_request(
                &s.oakfield,
                "/api/v1/schools/117001/registers",
                Some("night-push-1"),
                Some(&body),
            ))
        });
        let replies = futures_util::future::join_all(requests).await;
        let mut import_ids = Vec::new();
        for r in &replies {
            assert!(
                !r.text().contains("duplicate key") && !r.text().contains("UNIQUE constraint"),
                "a raw database message: {}",
                r.text()
            );
            if r.status == 200 {
                import_ids.push(r.json()["import_id"].as_i64().unwrap());
            } else {
                assert_in_progress(r);
            }
        }
        assert!(!import_ids.is_empty(), "no push answered with its report");
        import_ids.dedup();
        assert_eq!(import_ids.len(), 1, "one report for all: {import_ids:?}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM imports WHERE kind = 'register'"
            ),
            1
        );
    }
);

on_both_backends!(a_retried_referral_is_replayed_with_the_same_id, |app| {
    let s = setup(&app).await;
    let form = short_referral(1, OAKFIELD);
    let first = post_keyed(
        &app,
        &s.oakfield,
        "/api/v1/referrals",
        Some("ref-1"),
        Some(&form),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.header("idempotent-replayed"), None);
    // The first answer was lost; the school sends the same request again.
    let again = post_keyed(
        &app,
        &s.oakfield,
        "/api/v1/referrals",
        Some("ref-1"),
        Some(&form),
    )
    .await;
    assert_replayed(&first, &again);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM referrals"), 1);

    // The same key with another body is a mistake of the client's, said clearly.
    let other = post_keyed(
        &app,
        &s.oakfield,
        "/api/v1/referrals",
        Some("ref-1"),
        Some(&short_referral(2, OAKFIELD)),
    )
    .await;
    let problem = other.problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("different request"),
        "{problem}"
    );
    // So is the same key on another endpoint.
    let elsewhere = post_keyed(
        &app,
        &s.oakfield,
        "/api/v1/referrals/1/withdraw",
        Some("ref-1"),
        None,
    )
    .await;
    elsewhere.problem(409);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM referrals"), 1);

    // Keys are per client: Hillside's "ref-1" is its own.
    let hillside = post_keyed(
        &app,
        &s.hillside,
        "/api/v1/referrals",
        Some("ref-1"),
        Some(&short_referral(6, common::HILLSIDE)),
    )
    .await;
    assert_eq!(hillside.status, 201, "{}", hillside.text());
    assert_eq!(hillside.header("idempotent-replayed"), None);
    assert_ne!(hillside.json()["id"], first.json()["id"]);

    // A malformed key is refused before anything is done.
    let bad = post_keyed(
        &app,
        &s.oakfield,
        "/api/v1/referrals",
        Some(&"k".repeat(256)),
        Some(&form),
    )
    .await;
    bad.problem(400);
});

on_both_backends!(concurrent_retries_of_a_referral_open_one, |app| {
    let s = setup(&app).await;
    let form = short_referral(1, OAKFIELD);
    let requests = (0..6).map(|_| {
        app.send(keyed_request(
            &s.oakfield,
            "/api/v1/referrals",
            Some("ref-c"),
            Some(&form),
        ))
    });
    let replies = futures_util::future::join_all(requests).await;
    let mut ids = Vec::new();
    for r in &replies {
        if r.status == 201 {
            ids.push(r.json()["id"].as_i64().unwrap());
        } else {
            assert_in_progress(r);
        }
    }
    assert!(!ids.is_empty());
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM referrals"), 1);
});

on_both_backends!(every_post_that_decides_something_replays_a_retry, |app| {
    let s = setup(&app).await;
    let r = app
        .put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let twice = |token: &str, uri: String, key: &'static str, body: Option<Value>| {
        let app = &app;
        let token = token.to_string();
        async move {
            let first = post_keyed(app, &token, &uri, Some(key), body.as_ref()).await;
            assert!(first.status.is_success(), "{uri}: {}", first.text());
            let again = post_keyed(app, &token, &uri, Some(key), body.as_ref()).await;
            assert_replayed(&first, &again);
            first.json()
        }
    };

    // Withdrawal.
    let second = twice(
        &s.oakfield,
        "/api/v1/referrals".into(),
        "w-ref",
        Some(short_referral(2, OAKFIELD)),
    )
    .await;
    let id2 = second["id"].as_i64().unwrap();
    let withdrawn = twice(
        &s.oakfield,
        format!("/api/v1/referrals/{id2}/withdraw"),
        "w-1",
        Some(json!({"reason": "Back in school"})),
    )
    .await;
    assert_eq!(withdrawn["status"], "withdrawn");

    // Assessment: a replay does not assess again.
    let referral = twice(
        &s.oakfield,
        "/api/v1/referrals".into(),
        "a-ref",
        Some(short_referral(1, OAKFIELD)),
    )
    .await;
    let id = referral["id"].as_i64().unwrap();
    let assessed = twice(
        &s.oakfield,
        format!("/api/v1/referrals/{id}/assessment"),
        "a-1",
        None,
    )
    .await;
    let history = assessed["assessment_history"].as_array().unwrap().len();
    let now = app
        .get(&s.la, &format!("/api/v1/referrals/{id}"))
        .await
        .json();
    assert_eq!(now["assessment_history"].as_array().unwrap().len(), history);

    // Decision.
    let decided = twice(
        &s.la,
        format!("/api/v1/referrals/{id}/decision"),
        "d-1",
        Some(json!({"outcome": "accepted", "start_date": "2026-11-30",
            "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
            "decided_by": "J. Smith"})),
    )
    .await;
    let case_id = decided["case"]["id"].as_i64().unwrap();

    // Review.
    let reviewed = twice(
        &s.la,
        format!("/api/v1/cases/{case_id}/reviews"),
        "r-1",
        Some(json!({"scheduled_for": "2027-02-12", "label": "after the scan"})),
    )
    .await;
    let extra = |case: &Value| {
        case["schedule"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["label"] == "after the scan")
            .count()
    };
    assert_eq!(extra(&reviewed), 1);
    assert_eq!(
        extra(
            &app.get(&s.la, &format!("/api/v1/cases/{case_id}"))
                .await
                .json()
        ),
        1
    );

    // Medical evidence.
    twice(&s.oakfield, format!("/api/v1/cases/{case_id}/medical-evidence"), "e-1",
        Some(json!({"source": "consultant", "issued_on": "2026-11-20", "states_unable_to_attend": true,
            "likely_duration_school_days": 40}))).await;
    let case = app
        .get(&s.la, &format!("/api/v1/cases/{case_id}"))
        .await
        .json();
    assert_eq!(
        case["medical_evidence"].as_array().unwrap().len(),
        1,
        "{case}"
    );

    // Webhook.
    let hook = twice(
        &s.la,
        "/api/v1/webhooks".into(),
        "h-1",
        Some(json!({"url": "http://127.0.0.1:9/hooks", "events": ["referral.decided"]})),
    )
    .await;
    assert!(hook["id"].as_i64().is_some());
    // The kept answer holds the new subscription's secret: it is stored sealed, not in clear.
    let secret = hook["secret"]
        .as_str()
        .unwrap()
        .trim_start_matches("whsec_")
        .to_string();
    let client = app.get(&s.la, "/oauth/token_info").await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let kept = app
        .db()
        .read(move |conn| Ok(esma_api::store::idempotency::find(conn, &client, "h-1")?))
        .await
        .unwrap()
        .expect("the answer is kept");
    let body = kept.body.unwrap();
    assert!(body.starts_with("v1:") && !body.contains(&secret), "{body}");
    let hooks = app.get(&s.la, "/api/v1/webhooks").await.json();
    assert_eq!(hooks["items"].as_array().unwrap().len(), 1, "{hooks}");

    // Exit (a second exit without the key would be refused: the case is closed).
    let mut app = app;
    app.state.clock = Clock::fixed(common::date("2027-02-10"));
    let first = post_keyed(
        &app,
        &s.la,
        &format!("/api/v1/cases/{case_id}/exit"),
        Some("x-1"),
        Some(
            &json!({"reason": "too_unwell", "effective_date": "2027-02-12",
            "notes": "Admitted to hospital", "decided_by": "J. Smith"}),
        ),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let again = post_keyed(
        &app,
        &s.la,
        &format!("/api/v1/cases/{case_id}/exit"),
        Some("x-1"),
        Some(
            &json!({"reason": "too_unwell", "effective_date": "2027-02-12",
            "notes": "Admitted to hospital", "decided_by": "J. Smith"}),
        ),
    )
    .await;
    assert_replayed(&first, &again);
});

on_both_backends!(
    a_refused_request_is_not_stored_so_its_retry_runs_again,
    |app| {
        let s = setup(&app).await;
        // Pupil 9 is on no roll: 422, not kept; the retry after the roll is fixed is served afresh.
        let form = short_referral(9, OAKFIELD);
        let first = post_keyed(
            &app,
            &s.oakfield,
            "/api/v1/referrals",
            Some("late"),
            Some(&form),
        )
        .await;
        first.problem(422);
        let r = app
            .put_json(
                &s.oakfield,
                "/api/v1/schools/117001/pupils",
                &json!({"pupils": (1..=5).chain([9]).map(common::pupil).collect::<Vec<_>>()}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let again = post_keyed(
            &app,
            &s.oakfield,
            "/api/v1/referrals",
            Some("late"),
            Some(&form),
        )
        .await;
        assert_eq!(again.status, 201, "{}", again.text());
        assert_eq!(again.header("idempotent-replayed"), None);
        // That success is kept: a further retry is its replay, not a 409 for an open referral.
        let third = post_keyed(
            &app,
            &s.oakfield,
            "/api/v1/referrals",
            Some("late"),
            Some(&form),
        )
        .await;
        assert_replayed(&again, &third);
    }
);

on_both_backends!(answers_are_forgotten_after_their_retention, |app| {
    let s = setup(&app).await;
    let form = short_referral(1, OAKFIELD);
    let first = post_keyed(
        &app,
        &s.oakfield,
        "/api/v1/referrals",
        Some("old"),
        Some(&form),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(
        esma_api::service::idempotency::prune(&app.state)
            .await
            .unwrap(),
        0,
        "a fresh answer is kept"
    );
    execute(
        &app,
        "UPDATE idempotent_responses SET created_at = created_at - INTERVAL '25 hours'",
        "UPDATE idempotent_responses SET created_at = datetime(created_at, '-25 hours')",
    );
    assert_eq!(
        esma_api::service::idempotency::prune(&app.state)
            .await
            .unwrap(),
        1
    );
    // The key is free again: the request is served afresh (and meets its own referral).
    let late = post_keyed(
        &app,
        &s.oakfield,
        "/api/v1/referrals",
        Some("old"),
        Some(&form),
    )
    .await;
    late.problem(409);
    assert_eq!(late.header("idempotent-replayed"), None);
});

fn execute(app: &TestApp, postgres: &'static str, sqlite: &'static str) {
    use esma_api::store::DbConnection;
    let mut conn = app.db().conn().unwrap();
    match &mut *conn {
        DbConnection::Sqlite(c) => diesel::sql_query(sqlite).execute(c),
        DbConnection::Postgresql(c) => diesel::sql_query(postgres).execute(c),
    }
    .unwrap();
}

// ------------------------------------------------------------------ token throttling

async fn token_from(app: &TestApp, id: &str, secret: &str, from: &str) -> Reply {
    let addr: SocketAddr = from.parse().unwrap();
    app.send(
        TestRequest::post()
            .uri("/oauth/token")
            .peer_addr(addr)
            .insert_header(("authorization", basic(id, secret)))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload("grant_type=client_credentials"),
    )
    .await
}

on_both_backends!(
    failed_token_requests_are_throttled_per_client_and_address,
    |app| {
        // The default limits (10 per client id, 50 per address) over an hour instead of a
        // minute, so that no failure drains away while the test runs on a slow machine.
        let mut app = app;
        app.state.token_throttle = std::sync::Arc::new(TokenThrottle::new(ThrottleSettings {
            period: std::time::Duration::from_secs(3600),
            ..ThrottleSettings::default()
        }));
        let (id, secret) = app.client(Role::La, &[]);
        let (other_id, other_secret) = app.client(Role::La, &[]);
        // Ten wrong secrets for one client, from ten addresses: each a 401.
        for i in 0..10 {
            let r = token_from(&app, &id, "wrong", &format!("10.0.0.{}:5000", i + 1)).await;
            assert_eq!(r.status, 401, "attempt {i}: {}", r.text());
        }
        // The eleventh is refused before the secret is checked, even the right one.
        for secret in ["wrong", secret.as_str()] {
            let r = token_from(&app, &id, secret, "10.0.1.1:5000").await;
            assert_eq!(r.status, 429, "{}", r.text());
            let body = r.json();
            assert_eq!(body["error"], "slow_down", "{body}");
            assert!(
                body["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("too many"),
                "{body}"
            );
            let wait: u64 = r
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .unwrap();
            assert!((1..=360).contains(&wait), "{wait}");
        }
        // Another client is not affected.
        let r = token_from(&app, &other_id, &other_secret, "10.0.2.1:5000").await;
        assert_eq!(r.status, 200, "{}", r.text());

        // Fifty failures from one address, each for another (made-up) client id...
        for i in 0..50 {
            let r = token_from(&app, &format!("nobody-{i}"), "x", "192.0.2.7:4000").await;
            assert_eq!(r.status, 401, "attempt {i}: {}", r.text());
        }
        // ...and that address is refused, whichever client it names; other addresses are not.
        let r = token_from(&app, &other_id, &other_secret, "192.0.2.7:4001").await;
        assert_eq!(r.status, 429, "{}", r.text());
        assert!(r.header("retry-after").is_some());
        let r = token_from(&app, &other_id, &other_secret, "192.0.2.8:4000").await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
);

// ------------------------------------------------------------------ Ctrl-C drains

mod interrupt {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::common::{self, basic, receiver::free_port};
    use esma_api::domain::access::Role;
    use esma_api::service::{clients, Actor};
    use esma_api::store::{DatabaseUrl, Db};

    fn request(port: u16, raw: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.write_all(raw.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }

    /// The real server gets SIGINT (Ctrl-C) while a token request's body is still arriving:
    /// the request is answered, then the process exits 0.
    fn sigint_drains(db_url: &str) {
        let (id, secret) = {
            let db = Db::open(&DatabaseUrl::parse(db_url).unwrap(), 1).unwrap();
            let c = clients::add(&db, &Actor::operator("test"), "drain", Role::La, &[]).unwrap();
            (c.client_id, c.client_secret)
        };
        let port = free_port();
        let mut server = Command::new(env!("CARGO_BIN_EXE_esma-api"))
            .args([
                "--database-url",
                db_url,
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("DATABASE_URL")
            .env(
                "ESMA_JWT_SECRET",
                "drain-test-secret-0123456789abcdef0123456789",
            )
            .env(
                "ESMA_WEBHOOK_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            )
            .env("ESMA_WORKERS", "1")
            .env("ESMA_WEBHOOK_POLL_MS", "100")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start esma-api serve");
        let started = Instant::now();
        while request(
            port,
            "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .is_none_or(|a| !a.starts_with("HTTP/1.1 200"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }

        let body = "grant_type=client_credentials";
        let (first, rest) = body.split_at(10);
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "POST /oauth/token HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{first}",
            basic(&id, &secret),
            body.len()
        )
        .unwrap();
        stream.flush().unwrap();
        // Long enough for the server to have taken the connection and begun the request.
        std::thread::sleep(Duration::from_millis(1000));
        let signalled = Command::new("kill")
            .args(["-INT", &server.id().to_string()])
            .status()
            .unwrap();
        assert!(signalled.success());
        std::thread::sleep(Duration::from_millis(500));
        // The rest of the body arrives after Ctrl-C; the request is still answered.
        let written = stream.write_all(rest.as_bytes());
        let mut answer = String::new();
        let read = stream.read_to_string(&mut answer);
        let exit = {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = server.try_wait().unwrap() {
                    break Some(status);
                }
                if Instant::now() > deadline {
                    let _ = server.kill();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        assert!(
            written.is_ok() && read.is_ok() && answer.starts_with("HTTP/1.1 200"),
            "the request in flight was dropped: {written:?} {read:?} {answer:?}"
        );
        assert!(answer.contains("access_token"), "{answer}");
        let exit = exit.expect("the server did not stop after SIGINT");
        assert!(exit.success(), "exit status after SIGINT: {exit:?}");
    }

    #[test]
    fn sigint_lets_a_request_in_flight_finish_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        sigint_drains(&format!(
            "sqlite://{}",
            dir.path().join("drain.db").display()
        ));
    }

    #[test]
    #[cfg_attr(
        esma_no_postgres,
        ignore = "set ESMA_TEST_DATABASE_URL to run on PostgreSQL"
    )]
    fn sigint_lets_a_request_in_flight_finish_postgres() {
        let Some(admin) = common::postgres_url() else {
            return;
        };
        let (url, schema) = common::fresh_postgres_schema(&admin);
        sigint_drains(&url);
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        if let Ok(mut c) = diesel::PgConnection::establish(&admin) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}
