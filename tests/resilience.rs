//! Bad clients and a failing database (issue 20): gzip bombs against the inflation budget and the
//! small endpoints' limit, bodies that stall or trickle (408), and a database that does not
//! answer, is locked or kills the connection mid-request (503 with Retry-After, never a hang or
//! a 500, and the next request served again).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::test::{self, TestRequest};
use common::{Reply, TestApp, OAKFIELD};
use esma_api::api::body::{BodyRules, InflateBudget};
use esma_api::api::{self, HttpSettings};
use esma_api::domain::access::Role;
use esma_api::store::DbTimeouts;
use serde_json::json;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Sends `req` through the app built with `settings` (the common harness's limits are fixed).
async fn send_with(app: &TestApp, settings: &HttpSettings, req: TestRequest) -> Reply {
    let service = test::init_service(api::app(
        app.state.clone(),
        app.metrics.clone(),
        settings.clone(),
    ))
    .await;
    let res = test::call_service(&service, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    Reply {
        status,
        headers,
        body: body.to_vec(),
    }
}

fn settings(body_limit: usize, small_limit: usize, budget: usize) -> HttpSettings {
    HttpSettings {
        body_limit,
        max_push_rows: common::MAX_PUSH_ROWS,
        bodies: BodyRules {
            small_limit,
            inflate_budget: InflateBudget::new(budget),
            ..BodyRules::default()
        },
    }
}

fn gzipped_put(token: &str, uri: &str, body: Vec<u8>) -> TestRequest {
    TestRequest::put()
        .uri(uri)
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", "application/json"))
        .insert_header(("content-encoding", "gzip"))
        .set_payload(body)
}

on_both_backends!(a_small_endpoint_has_a_small_limit_of_its_own, |app| {
    let la = app.token(Role::La, &[]).await;
    // Pushes may take 64 MiB; a school record never needs more than 1 MiB.
    let settings = settings(64 << 20, 1 << 20, 128 << 20);
    let school = |name: String| {
        serde_json::to_vec(&json!({"name": name, "laestab": "9192001", "phase": "primary"}))
            .unwrap()
    };
    // 2 MiB once inflated (a bomb of its kind: 2 MiB of one letter in a few KB).
    let bomb = gzip(&school("x".repeat(2 << 20)));
    assert!(bomb.len() < 64 << 10);
    let r = send_with(
        &app,
        &settings,
        gzipped_put(&la, "/api/v1/schools/117001", bomb),
    )
    .await;
    assert!(
        r.problem(413)["detail"]
            .as_str()
            .unwrap()
            .contains("1048576"),
        "{}",
        r.text()
    );
    // The same, uncompressed, is refused on its Content-Length alone.
    let r = send_with(
        &app,
        &settings,
        TestRequest::put()
            .uri("/api/v1/schools/117001")
            .insert_header(("authorization", format!("Bearer {la}")))
            .insert_header(("content-type", "application/json"))
            .set_payload(school("x".repeat(2 << 20))),
    )
    .await;
    r.problem(413);
    // A gzipped body under the limit is taken as before.
    let ok = gzip(&school("Oakfield Primary School".to_string()));
    let r = send_with(
        &app,
        &settings,
        gzipped_put(&la, "/api/v1/schools/117001", ok),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(settings.bodies.inflate_budget.available(), 128 << 20);
});

on_both_backends!(inflation_is_bounded_by_the_shared_budget, |app| {
    let s = common::setup(&app).await;
    // The budget is smaller than what one push may inflate to: a bomb is stopped at the budget
    // (503, retry) instead of growing to the push limit.
    let settings = settings(8 << 20, 1 << 20, 2 << 20);
    let push = |body: Vec<u8>| {
        TestRequest::post()
            .uri("/api/v1/schools/117001/registers")
            .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
            .insert_header(("content-type", "application/json"))
            .insert_header(("content-encoding", "gzip"))
            .set_payload(body)
    };
    let bomb = gzip(&vec![b' '; 6 << 20]);
    let r = send_with(&app, &settings, push(bomb.clone())).await;
    r.problem(503);
    assert!(r.header("retry-after").is_some());
    // Eight at once: none gets past the budget, and all of it is given back afterwards.
    let replies = futures_util::future::join_all(
        (0..8).map(|_| send_with(&app, &settings, push(bomb.clone()))),
    )
    .await;
    for r in &replies {
        r.problem(503);
    }
    assert_eq!(settings.bodies.inflate_budget.available(), 2 << 20);
    // A real push within the budget is taken.
    let marks = json!({"marks": [{"upn": common::upn(1), "date": "2026-11-20", "session": "AM", "code": "/"}]});
    let r = send_with(
        &app,
        &settings,
        push(gzip(&serde_json::to_vec(&marks).unwrap())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
});

// ------------------------------------------------------------------ bodies that do not arrive

/// Serves the app on a real socket (the body timeouts need a real client connection).
fn serve(app: &TestApp, settings: HttpSettings) -> SocketAddr {
    let state = app.state.clone();
    let metrics = app.metrics.clone();
    let server = actix_web::HttpServer::new(move || {
        api::app(state.clone(), metrics.clone(), settings.clone())
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}

/// Writes `head` and `start` to a new connection, then one more byte every `trickle` (if any),
/// until a whole response arrives or `wait` passes; returns the response so far and when it came.
fn exchange(
    addr: SocketAddr,
    head: String,
    start: Vec<u8>,
    trickle: Option<Duration>,
    wait: Duration,
) -> (String, Duration) {
    let began = Instant::now();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&start).unwrap();
    let mut got = Vec::new();
    let mut last_byte = Instant::now();
    let mut buf = [0u8; 4096];
    while began.elapsed() < wait {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if response_complete(&got) {
                    break;
                }
            }
            Err(_) => {}
        }
        if let Some(every) = trickle {
            if last_byte.elapsed() >= every {
                let _ = conn.write_all(b" ");
                last_byte = Instant::now();
            }
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), began.elapsed())
}

fn response_complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    body.len() >= length
}

on_both_backends!(a_body_that_stalls_or_trickles_is_answered_408, |app| {
    let la = app.token(Role::La, &[]).await;
    let school = app.token(Role::School, &[OAKFIELD]).await;
    let addr = serve(
        &app,
        HttpSettings {
            body_limit: 1 << 20,
            max_push_rows: common::MAX_PUSH_ROWS,
            bodies: BodyRules {
                idle_timeout: Duration::from_secs(1),
                total_timeout: Duration::from_secs(3),
                ..BodyRules::default()
            },
        },
    );
    // Half a school record, then nothing: 408 once the body has been idle for a second.
    let head = format!(
        "PUT /api/v1/schools/117001 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {la}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n"
    );
    let (reply, took) = actix_web::rt::task::spawn_blocking(move || {
        exchange(
            addr,
            head,
            b"{\"name\": \"Oak".to_vec(),
            None,
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 408"),
        "after {took:?}: {reply:?}"
    );
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{reply}"
    );
    assert!(reply.contains("\"status\":408"), "{reply}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    // A push that trickles a byte every 300 ms is never idle, but misses the 3 s deadline.
    let head = format!(
        "POST /api/v1/schools/117001/registers HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {school}\r\n\
         content-type: application/json\r\ncontent-length: 100000\r\n\r\n"
    );
    let (reply, took) = actix_web::rt::task::spawn_blocking(move || {
        exchange(
            addr,
            head,
            b"{\"marks\": [".to_vec(),
            Some(Duration::from_millis(300)),
            Duration::from_secs(15),
        )
    })
    .await
    .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 408"),
        "after {took:?}: {reply:?}"
    );
    assert!(reply.contains("did not arrive within 3 s"), "{reply}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // A keyed POST (its body is read before the handler, to hash it): the same 408.
    let head = format!(
        "POST /api/v1/referrals HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {school}\r\n\
         idempotency-key: stalled-1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
    );
    let (reply, took) = actix_web::rt::task::spawn_blocking(move || {
        exchange(
            addr,
            head,
            b"{\"school_urn\": 117".to_vec(),
            None,
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 408"),
        "after {took:?}: {reply:?}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
});

// ------------------------------------------------------------------ a failing database

/// A TCP proxy in front of PostgreSQL that can black-hole: while paused it accepts connections
/// and reads nothing, forwards nothing (a server that hangs, or a network that drops packets),
/// and carries on where it stopped once resumed.
struct Proxy {
    addr: SocketAddr,
    paused: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let paused = Arc::new(AtomicBool::new(false));
        let flag = paused.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let paused = flag.clone();
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    while paused.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        return;
                    };
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let p2 = paused.clone();
                    std::thread::spawn(move || pump(c2, s2, p2));
                    pump(server, client, paused);
                });
            }
        });
        Proxy { addr, paused }
    }

    /// Pausing waits until every pump has seen it: a pump in the middle of a read forwards
    /// what that read returns, and a request whose connection check got through just before
    /// would then hang in its work instead (a database that stops answering mid-request is only
    /// bounded by the keepalives; see docs/operations.md, "Operating it").
    fn black_hole(&self, on: bool) {
        self.paused.store(on, Ordering::Release);
        if on {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// A test that fails while the proxy black-holes must not hang: the threads stuck on its
/// connections (the runtime waits for them on drop) are let go.
impl Drop for Proxy {
    fn drop(&mut self) {
        self.black_hole(false);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, paused: Arc<AtomicBool>) {
    from.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 16384];
    loop {
        if paused.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(std::net::Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

const QUICK: DbTimeouts = DbTimeouts {
    connect: Duration::from_secs(1),
    statement: Some(Duration::from_secs(1)),
};

/// Sends `req`, failing the test instead of hanging when no answer comes within `limit`.
async fn within(app: &TestApp, limit: Duration, req: TestRequest) -> (Reply, Duration) {
    let began = Instant::now();
    let reply = actix_web::rt::time::timeout(limit, app.send(req))
        .await
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"));
    (reply, began.elapsed())
}

fn assert_says_only_unreachable(reply: &Reply, secrets: &[&str]) {
    let body = reply.problem(503);
    assert!(reply.header("retry-after").is_some(), "{}", reply.text());
    let detail = body["detail"].as_str().unwrap();
    for secret in secrets {
        assert!(
            !detail.contains(secret),
            "the detail gives away {secret:?}: {detail}"
        );
    }
    assert!(!detail.contains("FATAL"), "{detail}");
}

mod a_database_that_does_not_answer_is_a_quick_503 {
    use super::*;

    /// Another process holds SQLite's write lock: a write waits the statement timeout (busy
    /// timeout) and is answered 503, not 500; reads go on; the write is taken once it is free.
    #[actix_web::test]
    async fn sqlite() {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let app = TestApp::sqlite_with(QUICK);
        let la = app.token(Role::La, &[]).await;
        let school = json!({"name": "Oakfield", "laestab": "9192001", "phase": "primary"});
        let put = || {
            TestRequest::put()
                .uri("/api/v1/schools/117001")
                .insert_header(("authorization", format!("Bearer {la}")))
                .set_json(&school)
        };
        let path = app.sqlite_file().unwrap();
        let mut other =
            diesel::SqliteConnection::establish(path.to_str().unwrap()).expect("second connection");
        other.batch_execute("BEGIN EXCLUSIVE").unwrap();
        let (r, took) = within(&app, Duration::from_secs(8), put()).await;
        assert_says_only_unreachable(&r, &[path.to_str().unwrap()]);
        assert!(took < Duration::from_secs(6), "took {took:?}");
        let (health, _) = within(
            &app,
            Duration::from_secs(8),
            TestRequest::get().uri("/health"),
        )
        .await;
        assert_eq!(health.status, 200, "{}", health.text());
        other.batch_execute("ROLLBACK").unwrap();
        let (r, _) = within(&app, Duration::from_secs(8), put()).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }

    /// PostgreSQL behind a proxy that black-holes: /health and an API call are 503 within a few
    /// seconds, saying nothing of the host, port or database; once the proxy forwards again the
    /// service recovers by itself.
    #[actix_web::test]
    #[cfg_attr(
        esma_no_postgres,
        ignore = "set ESMA_TEST_DATABASE_URL to run on PostgreSQL"
    )]
    async fn postgres() {
        let Some(admin) = common::postgres_url() else {
            return;
        };
        let parsed = url::Url::parse(&admin).unwrap();
        let upstream = format!(
            "{}:{}",
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port().unwrap_or(5432)
        );
        let database = parsed.path().trim_start_matches('/').to_string();
        let proxy = Proxy::start(upstream.clone());
        let proxied = proxy.addr.to_string();
        let app = TestApp::postgres_with(
            |url| url.replacen(&upstream, &proxied, 1),
            DbTimeouts {
                connect: Duration::from_secs(1),
                statement: Some(Duration::from_secs(5)),
            },
        )
        .unwrap();
        let la = app.token(Role::La, &[]).await;
        let schools = || {
            TestRequest::get()
                .uri("/api/v1/schools")
                .insert_header(("authorization", format!("Bearer {la}")))
        };
        assert_eq!(app.send(schools()).await.status, 200);

        proxy.black_hole(true);
        let secrets = [
            proxied.as_str(),
            &proxy.addr.port().to_string(),
            "127.0.0.1",
            database.as_str(),
        ];
        let (health, took) = within(
            &app,
            Duration::from_secs(15),
            TestRequest::get().uri("/health"),
        )
        .await;
        assert_says_only_unreachable(&health, &secrets);
        assert!(took < Duration::from_secs(6), "took {took:?}");
        let (r, took) = within(&app, Duration::from_secs(15), schools()).await;
        assert_says_only_unreachable(&r, &secrets);
        assert!(took < Duration::from_secs(6), "took {took:?}");

        proxy.black_hole(false);
        let began = Instant::now();
        loop {
            let (r, _) = within(&app, Duration::from_secs(15), schools()).await;
            if r.status == 200 {
                break;
            }
            assert!(
                began.elapsed() < Duration::from_secs(15),
                "not back: {}",
                r.text()
            );
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// PostgreSQL only: SQLite has no server to kill a connection.
mod a_connection_killed_mid_request_is_a_503_and_then_replaced {
    use super::*;

    #[actix_web::test]
    #[cfg_attr(
        esma_no_postgres,
        ignore = "set ESMA_TEST_DATABASE_URL to run on PostgreSQL"
    )]
    async fn postgres() {
        use diesel::connection::SimpleConnection;
        use diesel::{Connection, RunQueryDsl};
        let Some(admin) = common::postgres_url() else {
            return;
        };
        let name = format!("esma_t_{}", uuid::Uuid::new_v4().simple());
        let app = TestApp::postgres_with(
            |url| format!("{url}&application_name={name}"),
            DbTimeouts {
                connect: Duration::from_secs(2),
                statement: Some(Duration::from_secs(20)),
            },
        )
        .unwrap();
        let la = app.token(Role::La, &[]).await;
        let put = |school: &str| {
            TestRequest::put()
                .uri("/api/v1/schools/117001")
                .insert_header(("authorization", format!("Bearer {la}")))
                .set_json(json!({"name": school, "laestab": "9192001", "phase": "primary"}))
        };
        assert_eq!(app.send(put("Oakfield")).await.status, 201);

        // Hold the table so that the next write waits inside its transaction, then kill the
        // app's connections while it does.
        let mut other = diesel::PgConnection::establish(&admin).unwrap();
        let schema = app.pg_schema().unwrap().to_string();
        other
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {schema}.schools IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
        // The app's sessions are chosen first (OFFSET 0 keeps the planner from calling
        // pg_terminate_backend on rows the filter has not yet removed).
        let count = |conn: &mut diesel::PgConnection, what: &str, filter: &str| -> i64 {
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                "(SELECT count({what}) FROM (SELECT pid FROM pg_stat_activity \
                  WHERE application_name = '{name}' {filter} OFFSET 0) AS app)"
            )))
            .get_result(conn)
            .unwrap()
        };
        let kill_all =
            |conn: &mut diesel::PgConnection| count(conn, "pg_terminate_backend(pid)", "");
        let killer = async {
            let began = Instant::now();
            while count(&mut other, "*", "AND wait_event_type = 'Lock'") == 0 {
                assert!(
                    began.elapsed() < Duration::from_secs(10),
                    "the write never waited"
                );
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
            kill_all(&mut other);
            other.batch_execute("ROLLBACK").unwrap();
        };
        let (r, ()) = futures_util::future::join(
            within(&app, Duration::from_secs(15), put("Oakfield Academy")),
            killer,
        )
        .await;
        let (r, _) = r;
        assert_says_only_unreachable(&r, &[]);

        // The next requests get fresh connections, even with every idle one killed as well.
        let r = app.send(put("Oakfield Academy")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        kill_all(&mut other);
        let r = app.send(put("Oakfield Primary")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = app.send(TestRequest::get().uri("/health")).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}
