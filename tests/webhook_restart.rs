//! At least once across a crash (issue 7): the real `esma-api serve` process commits an event,
//! is killed (SIGKILL) before it can deliver it, and a new process on the same database
//! delivers it, signed; the clock-driven scan runs inside the server too.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::receiver::{free_port, Receiver};
use serde_json::{json, Value};

fn start_server(db_url: &str, port: u16, scan_secs: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_esma-api"))
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
            "restart-test-secret-0123456789abcdef0123456789",
        )
        // Both servers seal and open the subscriptions' secrets with the same key.
        .env(
            "ESMA_WEBHOOK_KEY",
            "cmVzdGFydC10ZXN0LXdlYmhvb2sta2V5LTAxMjM0NTY=",
        )
        .env("ESMA_TODAY", "2026-11-23")
        .env("ESMA_ALLOW_INSECURE_WEBHOOKS", "1")
        .env("ESMA_WEBHOOK_RETRY_SECS", "1,1,1,1,1,1,1,1,1,1")
        .env("ESMA_WEBHOOK_POLL_MS", "100")
        .env("ESMA_WEBHOOK_TIMEOUT_SECS", "1")
        .env("ESMA_EVENT_SCAN_SECS", scan_secs)
        .env("ESMA_WORKERS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start esma-api serve")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = http.get(format!("{base}/health")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not become healthy at {base}");
}

#[actix_web::test]
async fn an_event_committed_before_a_crash_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("restart.db").display());
    let creds = {
        let url = esma_api::store::DatabaseUrl::parse(&db_url).unwrap();
        let db = esma_api::store::Db::open(&url, 1).unwrap();
        esma_api::demo::seed(
            &db,
            &esma_api::domain::policy::Policy::hertfordshire(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        )
        .unwrap()
    };
    let http = reqwest::Client::new();
    let receiver_port = free_port();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The first server does not scan, so the demo's open sickness-return alert is first
    // announced by the second one, after the subscription exists.
    let mut first = start_server(&db_url, port, "0");
    wait_healthy(&http, &base).await;

    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&creds.la.client_id, Some(&creds.la.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    // The receiver is down while the first server runs.
    let created: Value = http
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(
            &json!({"url": format!("http://127.0.0.1:{receiver_port}/hooks"),
                      "events": ["referral.assessed", "attendance.sickness_return_due"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().expect("a secret").to_string();
    let undecided: Value = http
        .get(format!(
            "{base}/api/v1/referrals?status=submitted,incomplete"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let referral = undecided["items"][0]["id"]
        .as_i64()
        .expect("the demo's undecided referral");
    let r = http
        .post(format!("{base}/api/v1/referrals/{referral}/assessment"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Killed right after the commit: no chance to deliver (and nowhere to deliver to).
    first.kill().unwrap();
    first.wait().unwrap();

    let receiver = Receiver::start_on(receiver_port, 200);
    let mut second = start_server(&db_url, port, "1");
    wait_healthy(&http, &base).await;
    let started = Instant::now();
    let wanted = |rx: &Receiver| {
        let types = rx.types();
        types.contains(&"referral.assessed".to_string())
            && types.contains(&"attendance.sickness_return_due".to_string())
    };
    while !wanted(&receiver) && started.elapsed() < Duration::from_secs(30) {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    let got = receiver.received();
    let assessed: Vec<_> = got
        .iter()
        .filter(|r| r.json()["type"] == "referral.assessed")
        .collect();
    assert_eq!(assessed.len(), 1, "{:?}", receiver.types());
    assert_eq!(assessed[0].json()["data"]["referral_id"], referral);
    assert!(
        got.iter()
            .any(|r| r.json()["type"] == "attendance.sickness_return_due"),
        "the scan ran in the server: {:?}",
        receiver.types()
    );
    for r in &got {
        r.verify(&secret)
            .unwrap_or_else(|e| panic!("signature: {e}"));
    }
}
