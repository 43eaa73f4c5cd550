//! Webhooks (API.md "Webhooks"; issue 7), on both backends, with real local HTTP receivers:
//! signed deliveries that verify with the Standard Webhooks reference library, scoping by
//! school, retries after an outage, 410 disabling, and clock-driven events emitted once.

mod common;

use std::time::Duration;

use common::receiver::{free_port, Receiver};
use common::{
    both_sessions, calendar, date, setup, short_referral, upn, Setup, TestApp, HILLSIDE, OAKFIELD,
};
use esma_api::clock::Clock;
use esma_api::domain::access::Role;
use esma_api::notify::{DispatchSettings, Dispatcher, RoundReport};
use esma_api::service::webhooks;
use serde_json::{json, Value};

/// Subscribes and returns (id, secret).
async fn subscribe(app: &TestApp, token: &str, url: &str, events: &[&str]) -> (i64, String) {
    let r = app
        .call(
            "POST",
            token,
            "/api/v1/webhooks",
            Some(&json!({"url": url, "events": events})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    let id = body["id"].as_i64().unwrap();
    assert_eq!(r.header("location"), Some(format!("/api/v1/webhooks/{id}")));
    let secret = body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (id, secret)
}

async fn refer(app: &TestApp, token: &str, n: u32, urn: i64) -> i64 {
    let r = app
        .call(
            "POST",
            token,
            "/api/v1/referrals",
            Some(&short_referral(n, urn)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

fn quick(retry_ms: &[u64]) -> Dispatcher {
    Dispatcher::new(DispatchSettings {
        timeout: Duration::from_secs(2),
        retry_delays: retry_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect(),
        jitter: 0.0,
        ..DispatchSettings::default()
    })
    .unwrap()
}

/// One round: what is due now, sent once.
async fn round(app: &TestApp, dispatcher: &Dispatcher) -> RoundReport {
    dispatcher
        .deliver_due(&app.state.db, &app.state.webhook_keys)
        .await
        .expect("a round")
}

/// Rounds until nothing is due now; the reports added up.
async fn deliver(app: &TestApp, dispatcher: &Dispatcher) -> RoundReport {
    let mut total = RoundReport::default();
    for _ in 0..20 {
        let r = dispatcher
            .deliver_due(&app.state.db, &app.state.webhook_keys)
            .await
            .expect("a round");
        if r.attempted == 0 {
            break;
        }
        total.attempted += r.attempted;
        total.delivered += r.delivered;
        total.retrying += r.retrying;
        total.failed += r.failed;
        total.disabled += r.disabled;
    }
    total
}

async fn base(app: &TestApp) -> Setup {
    let s = setup(app).await;
    let r = app
        .put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    s
}

on_both_backends!(events_are_signed_scoped_and_delivered, |app| {
    let mut app = app;
    let s = base(&app).await;
    let la_rx = Receiver::start(200);
    let oak_rx = Receiver::start(204);
    let hill_rx = Receiver::start(200);
    let all: Vec<&str> = esma_api::domain::events::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    let (la_id, la_secret) = subscribe(&app, &s.la, &la_rx.url(), &all).await;
    let mine = ["referral.received", "referral.decided", "case.closed"];
    let (oak_id, oak_secret) = subscribe(&app, &s.oakfield, &oak_rx.url(), &mine).await;
    let (_hill_id, hill_secret) = subscribe(&app, &s.hillside, &hill_rx.url(), &mine).await;

    let oak_referral = refer(&app, &s.oakfield, 1, OAKFIELD).await;
    let hill_referral = refer(&app, &s.hillside, 6, HILLSIDE).await;
    let case_id = app.accept_referral(&s.la, oak_referral).await;

    // A decision refused (422) rolls back with its event: nothing is announced for it.
    let r = app
        .call(
            "POST",
            &s.la,
            &format!("/api/v1/referrals/{hill_referral}/decision"),
            Some(&json!({
        "outcome": "accepted", "start_date": "2026-11-30", "override_reason": "panel agreed",
        "provision": [], "decided_by": "J. Smith"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());

    let dispatcher = quick(&[50]);
    let report = deliver(&app, &dispatcher).await;
    assert_eq!((report.attempted, report.delivered), (6, 6), "{report:?}");

    // The LA hears of both schools; each school only of its own.
    assert_eq!(
        la_rx.types(),
        ["referral.decided", "referral.received", "referral.received"]
    );
    assert_eq!(oak_rx.types(), ["referral.decided", "referral.received"]);
    assert_eq!(hill_rx.types(), ["referral.received"]);
    for r in oak_rx.received() {
        assert_eq!(r.json()["data"]["school_urn"], OAKFIELD);
        assert_eq!(r.json()["data"]["referral_id"], oak_referral);
    }
    assert_eq!(
        hill_rx.received()[0].json()["data"]["referral_id"],
        hill_referral
    );
    let decided = &oak_rx.of_type("referral.decided")[0];
    assert_eq!(decided["data"]["decision_outcome"], "accepted");
    assert_eq!(decided["data"]["case_id"], case_id);
    assert_eq!(
        decided["data"]["href"],
        format!("/api/v1/referrals/{oak_referral}")
    );
    assert!(decided["timestamp"].as_str().unwrap().ends_with('Z'));
    // No health details travel in an event.
    assert!(oak_rx
        .received()
        .iter()
        .all(|r| !String::from_utf8_lossy(&r.body).contains("Fracture")));

    // Every request verifies with the reference Standard Webhooks library, and with ours.
    for (rx, secret) in [
        (&la_rx, &la_secret),
        (&oak_rx, &oak_secret),
        (&hill_rx, &hill_secret),
    ] {
        for r in rx.received() {
            r.verify(secret)
                .unwrap_or_else(|e| panic!("signature: {e}"));
            assert!(r.header("webhook-id").starts_with("msg_"));
            assert_eq!(r.header("content-type"), "application/json");
            let ours = esma_api::signing::WebhookSecret::parse(secret).unwrap();
            let now = chrono::Utc::now().timestamp();
            ours.verify(
                r.header("webhook-id"),
                r.header("webhook-timestamp"),
                r.header("webhook-signature"),
                &r.body,
                now,
            )
            .unwrap();
            // Another subscriber's secret does not verify it.
            assert!(r.verify(&oak_secret).is_err() || secret == &oak_secret);
        }
    }

    // Deliveries are listed with their attempts.
    let r = app
        .get(
            &s.oakfield,
            &format!("/api/v1/webhooks/{oak_id}/deliveries"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["event_type"], "referral.decided", "newest first");
    for d in &items {
        assert_eq!(d["status"], "delivered");
        assert_eq!(d["attempt_count"], 1);
        assert_eq!(d["attempts"][0]["status_code"], 204);
        assert_eq!(d["attempts"][0]["error"], Value::Null);
    }
    let r = app
        .get(
            &s.oakfield,
            &format!("/api/v1/webhooks/{oak_id}/deliveries?limit=1"),
        )
        .await;
    let page = r.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next_cursor"].as_str().unwrap().to_string();
    let r = app
        .get(
            &s.oakfield,
            &format!("/api/v1/webhooks/{oak_id}/deliveries?limit=1&cursor={next}"),
        )
        .await;
    assert_eq!(r.json()["items"][0]["event_type"], "referral.received");
    assert_eq!(r.json()["next_cursor"], Value::Null);

    // A client sees only its own subscriptions; the secret is never shown again.
    let r = app.get(&s.oakfield, "/api/v1/webhooks").await;
    let listed = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], oak_id);
    assert_eq!(listed[0]["schools"], json!([OAKFIELD]));
    assert!(listed[0].get("secret").is_none());
    assert_eq!(
        app.get(&s.la, &format!("/api/v1/webhooks/{la_id}"))
            .await
            .json()["schools"],
        json!([])
    );
    app.get(&s.hillside, &format!("/api/v1/webhooks/{oak_id}"))
        .await
        .problem(404);
    app.get(
        &s.hillside,
        &format!("/api/v1/webhooks/{oak_id}/deliveries"),
    )
    .await
    .problem(404);
    app.call(
        "DELETE",
        &s.hillside,
        &format!("/api/v1/webhooks/{oak_id}"),
        None,
    )
    .await
    .problem(404);
    let admin = app.token(Role::Admin, &[]).await;
    app.call(
        "POST",
        &admin,
        "/api/v1/webhooks",
        Some(&json!({"url": la_rx.url(), "events": ["case.closed"]})),
    )
    .await
    .problem(403);

    // An exit is announced to the LA and to the case's school.
    app.state.clock = Clock::fixed(date("2027-02-10"));
    let r = app
        .call(
            "POST",
            &s.la,
            &format!("/api/v1/cases/{case_id}/exit"),
            Some(&json!({
        "reason": "too_unwell", "effective_date": "2027-02-12",
        "notes": "Admitted to hospital; cannot engage with teaching", "decided_by": "J. Smith"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    deliver(&app, &dispatcher).await;
    let closed = oak_rx.of_type("case.closed").pop().expect("case.closed");
    assert_eq!(closed["data"]["case_id"], case_id);
    assert_eq!(closed["data"]["reason"], "too_unwell");
    assert!(la_rx.types().contains(&"case.closed".to_string()));
    assert_eq!(
        hill_rx.types(),
        ["referral.received"],
        "Hillside hears nothing of Oakfield's case"
    );
});

on_both_backends!(subscriptions_are_validated, |app| {
    let s = base(&app).await;
    let r = app
        .call(
            "POST",
            &s.la,
            "/api/v1/webhooks",
            Some(&json!({"url": "http://mis.example.org/hooks", "events": ["case.closed"]})),
        )
        .await;
    assert_eq!(r.pointers(), ["/url"], "{}", r.text());
    let r = app.call("POST", &s.la, "/api/v1/webhooks", Some(&json!({"url": "https://mis.example.org/hooks", "events": ["case.closed", "case.deleted"]}))).await;
    assert_eq!(r.pointers(), ["/events/1"], "{}", r.text());
    assert!(
        r.text().contains("referral.received"),
        "the known types are listed"
    );
    let r = app
        .call(
            "POST",
            &s.la,
            "/api/v1/webhooks",
            Some(&json!({"url": "https://mis.example.org/hooks", "events": []})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let r = app.call("POST", &s.la, "/api/v1/webhooks", Some(&json!({"url": "https://mis.example.org/hooks", "events": ["case.closed"], "colour": "red"}))).await;
    assert!(r.status == 422 || r.status == 400, "{}", r.text());
    let r = app.call("POST", &s.la, "/api/v1/webhooks", Some(&json!({"url": "https://mis.example.org/hooks", "events": ["case.closed", "case.closed"]}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()["events"],
        json!(["case.closed"]),
        "duplicates are dropped"
    );
    // Without ESMA_ALLOW_INSECURE_WEBHOOKS even loopback http is refused.
    let mut strict = app.state.clone();
    strict.allow_insecure_webhooks = false;
    let actor = esma_api::service::Actor {
        client_id: "x".into(),
        role: Role::La,
        schools: vec![],
        endpoint: "test".into(),
        correlation_id: None,
    };
    let refused = webhooks::create(
        &strict,
        &actor,
        webhooks::SubscriptionRequest {
            url: "http://127.0.0.1:9/hooks".into(),
            events: vec!["case.closed".into()],
            description: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("ESMA_ALLOW_INSECURE_WEBHOOKS"),
        "{refused}"
    );
});

on_both_backends!(
    a_receiver_that_was_down_gets_every_event_when_it_is_back,
    |app| {
        let s = base(&app).await;
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/hooks");
        let (id, secret) = subscribe(&app, &s.la, &url, &["referral.received"]).await;
        for n in 1..=3 {
            refer(&app, &s.oakfield, n, OAKFIELD).await;
        }
        // Waits long enough that a slow round never meets its own retries.
        let dispatcher = quick(&[400, 400, 400]);
        let first = round(&app, &dispatcher).await;
        assert_eq!(
            (first.attempted, first.retrying, first.delivered),
            (3, 3, 0),
            "{first:?}"
        );
        let listed = app
            .get(&s.la, &format!("/api/v1/webhooks/{id}/deliveries"))
            .await
            .json();
        for d in listed["items"].as_array().unwrap() {
            assert_eq!(d["status"], "pending");
            assert_eq!(d["attempts"][0]["status_code"], Value::Null);
            assert!(
                d["attempts"][0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("connect"),
                "{d}"
            );
            assert!(d["next_attempt_at"].is_string());
        }
        assert_eq!(
            round(&app, &dispatcher).await.attempted,
            0,
            "nothing is due before its retry time"
        );
        // Back up (and answering 503 once: that is retried too).
        let rx = Receiver::start_on(port, 503);
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        let second = round(&app, &dispatcher).await;
        assert_eq!(second.retrying, 3, "{second:?}");
        rx.answer(200);
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        let third = round(&app, &dispatcher).await;
        assert_eq!(third.delivered, 3, "{third:?}");
        let got: Vec<Value> = rx.received().iter().map(|r| r.json()).collect();
        assert_eq!(got.len(), 6, "three refused with 503, then three accepted");
        let mut ids: Vec<String> = rx.received()[3..]
            .iter()
            .map(|r| r.header("webhook-id").to_string())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3, "three different events");
        for r in rx.received() {
            r.verify(&secret).unwrap();
        }
        let listed = app
            .get(&s.la, &format!("/api/v1/webhooks/{id}/deliveries"))
            .await
            .json();
        for d in listed["items"].as_array().unwrap() {
            assert_eq!(d["status"], "delivered", "{d}");
            assert_eq!(d["attempt_count"], 3);
            let codes: Vec<Value> = d["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["status_code"].clone())
                .collect();
            assert_eq!(codes, [Value::Null, json!(503), json!(200)]);
        }

        // A receiver that never accepts: the delivery fails once the retries run out.
        let broken = Receiver::start(500);
        let (broken_id, _) = subscribe(&app, &s.la, &broken.url(), &["referral.received"]).await;
        refer(&app, &s.oakfield, 4, OAKFIELD).await;
        let short = quick(&[300]);
        assert_eq!(round(&app, &short).await.retrying, 1);
        actix_web::rt::time::sleep(Duration::from_millis(400)).await;
        let last = round(&app, &short).await;
        assert_eq!(last.failed, 1, "{last:?}");
        let d = &app
            .get(&s.la, &format!("/api/v1/webhooks/{broken_id}/deliveries"))
            .await
            .json()["items"][0];
        assert_eq!(d["status"], "failed");
        assert_eq!(d["attempt_count"], 2);
        assert_eq!(d["last_status_code"], 500);
        assert_eq!(broken.received().len(), 2);
    }
);

on_both_backends!(gone_disables_and_delete_cancels, |app| {
    let s = base(&app).await;
    let rx = Receiver::start(410);
    let (id, _) = subscribe(&app, &s.oakfield, &rx.url(), &["referral.received"]).await;
    refer(&app, &s.oakfield, 1, OAKFIELD).await;
    let dispatcher = quick(&[10, 10]);
    let report = deliver(&app, &dispatcher).await;
    assert_eq!(report.disabled, 1, "{report:?}");
    let sub = app
        .get(&s.oakfield, &format!("/api/v1/webhooks/{id}"))
        .await
        .json();
    assert_eq!(sub["status"], "disabled");
    assert!(sub["status_reason"].as_str().unwrap().contains("410"));
    refer(&app, &s.oakfield, 2, OAKFIELD).await;
    actix_web::rt::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        deliver(&app, &dispatcher).await.attempted,
        0,
        "nothing more for a disabled subscription"
    );
    assert_eq!(rx.received().len(), 1);

    // Deleting cancels what was still pending, and the subscription is gone.
    let port = free_port();
    let (down, _) = subscribe(
        &app,
        &s.oakfield,
        &format!("http://127.0.0.1:{port}/"),
        &["referral.received"],
    )
    .await;
    refer(&app, &s.oakfield, 3, OAKFIELD).await;
    let r = app
        .call(
            "DELETE",
            &s.oakfield,
            &format!("/api/v1/webhooks/{down}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(deliver(&app, &dispatcher).await.attempted, 0);
    app.get(&s.oakfield, &format!("/api/v1/webhooks/{down}"))
        .await
        .problem(404);
    let listed: Vec<Value> = app.get(&s.oakfield, "/api/v1/webhooks").await.json()["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        listed.len(),
        1,
        "the disabled one is still listed, the deleted one is not"
    );

    // A revoked client's subscription gets nothing more, even what was already queued.
    let (client_id, client_secret) = app.client(Role::School, &[OAKFIELD]);
    let token = app.token_for(&client_id, &client_secret).await;
    let rx2 = Receiver::start(200);
    subscribe(&app, &token, &rx2.url(), &["referral.received"]).await;
    refer(&app, &s.oakfield, 4, OAKFIELD).await;
    esma_api::service::clients::revoke(
        app.db(),
        &esma_api::service::Actor::operator("test"),
        &client_id,
    )
    .unwrap();
    assert_eq!(deliver(&app, &dispatcher).await.attempted, 0);
    refer(&app, &s.oakfield, 5, OAKFIELD).await;
    assert_eq!(deliver(&app, &dispatcher).await.attempted, 0);
    assert!(rx2.received().is_empty());
});

on_both_backends!(clock_driven_events_are_emitted_once, |app| {
    let mut app = app;
    let s = base(&app).await;
    let la_rx = Receiver::start(200);
    let hill_rx = Receiver::start(200);
    let all: Vec<&str> = esma_api::domain::events::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    subscribe(&app, &s.la, &la_rx.url(), &all).await;
    subscribe(&app, &s.hillside, &hill_rx.url(), &all).await;
    // Pupil 2 ill for 15 school days (R4.4); pupil 3 an N on 9 November, overdue by the 23rd (R5.1).
    let mut marks = both_sessions(2, "2026-11-02", "2026-11-20", "I");
    marks.push(json!({"upn": upn(3), "date": "2026-11-09", "session": "AM", "code": "N"}));
    // Pupil 4: 10 school days of unauthorised absence by Friday 13 November (R16.1).
    marks.extend(both_sessions(4, "2026-11-02", "2026-11-13", "O"));
    let r = app
        .call(
            "POST",
            &s.oakfield,
            "/api/v1/schools/117001/registers",
            Some(&json!({"marks": marks})),
        )
        .await;
    assert_eq!(r.json()["rejected"], 0, "{}", r.text());

    let first = webhooks::scan(&app.state).await.unwrap();
    assert_eq!(first.events, 3, "{first:?}");
    assert_eq!(
        webhooks::scan(&app.state).await.unwrap().events,
        0,
        "a second scan emits nothing new"
    );
    // Announced alerts are marked so, and leave the scan's work list (issue 25: at the year end
    // it was every open alert, checked against the events at every scan).
    assert_eq!(
        unannounced_open(&app),
        0,
        "the three announced alerts are still on the scan's work list"
    );
    let dispatcher = quick(&[50]);
    deliver(&app, &dispatcher).await;
    let got: Vec<Value> = la_rx.received().iter().map(|r| r.json()).collect();
    let sick = got
        .iter()
        .find(|e| e["type"] == "attendance.sickness_return_due")
        .expect("sickness return");
    assert_eq!(sick["data"]["upn"], upn(2));
    assert_eq!(sick["data"]["since"], "2026-11-20");
    let n = got
        .iter()
        .find(|e| e["type"] == "attendance.unexplained_absence_overdue")
        .expect("N overdue");
    assert_eq!(n["data"]["upn"], upn(3));
    assert_eq!(n["data"]["since"], "2026-11-09");
    assert_eq!(n["data"]["due_by"], "2026-11-16");
    let notice = got
        .iter()
        .find(|e| e["type"] == "attendance.unauthorised_absence_10_days")
        .expect("10 days of unauthorised absence");
    assert_eq!(notice["data"]["upn"], upn(4));
    assert_eq!(notice["data"]["kind"], "unauthorised_absence_10_days");
    assert_eq!(notice["data"]["since"], "2026-11-13");
    assert_eq!(notice["data"]["due_by"], "2026-11-13");

    // A case: its first review meeting falls due, then is overdue.
    let referral = refer(&app, &s.oakfield, 1, OAKFIELD).await;
    let case_id = app.accept_referral(&s.la, referral).await;
    let case = app
        .get(&s.la, &format!("/api/v1/cases/{case_id}"))
        .await
        .json();
    let meeting = case["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "review_meeting")
        .unwrap()
        .clone();
    let day = date(meeting["scheduled_for"].as_str().unwrap());
    app.state.clock = Clock::fixed(day);
    webhooks::scan(&app.state).await.unwrap();
    assert_eq!(webhooks::scan(&app.state).await.unwrap().events, 0);
    app.state.clock = Clock::fixed(day.succ_opt().unwrap());
    webhooks::scan(&app.state).await.unwrap();
    assert_eq!(webhooks::scan(&app.state).await.unwrap().events, 0);
    deliver(&app, &dispatcher).await;
    let got: Vec<Value> = la_rx.received().iter().map(|r| r.json()).collect();
    let due: Vec<&Value> = got
        .iter()
        .filter(|e| e["type"] == "case.review_due" && e["data"]["review_id"] == meeting["id"])
        .collect();
    assert_eq!(due.len(), 1, "{got:#?}");
    assert_eq!(due[0]["data"]["case_id"], case_id);
    let overdue: Vec<&Value> = got
        .iter()
        .filter(|e| {
            e["type"] == "case.review_overdue" && e["data"]["facts"]["review_id"] == meeting["id"]
        })
        .collect();
    assert_eq!(overdue.len(), 1, "{got:#?}");
    assert_eq!(
        overdue[0]["data"]["href"],
        format!("/api/v1/cases/{case_id}")
    );
    // The alert the scan raised is on the change feed too.
    let feed = app.get(&s.la, "/api/v1/changes?limit=1000").await.json();
    assert!(
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["resource_type"] == "alert"
                && c["resource_id"] == overdue[0]["data"]["alert_id"]
                && c["action"] == "raised"),
        "{feed:#}"
    );
    let mut ids: Vec<String> = la_rx
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    let all_ids = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all_ids, "no event delivered twice");
    assert!(
        hill_rx.received().is_empty(),
        "Hillside hears nothing of Oakfield's pupils"
    );
});

on_both_backends!(a_large_emit_writes_each_clock_driven_event_once, |app| {
    // More events than one multi-row insert takes, each key twice (one in the same statement,
    // one in the next), then all again: one event per key, and the same deliveries.
    let s = base(&app).await;
    let la_rx = Receiver::start(200);
    let (subscription, _) = subscribe(&app, &s.la, &la_rx.url(), &["case.review_due"]).await;
    let keys = 700;
    let outgoing: Vec<webhooks::Outgoing> = (0..keys * 2)
        .map(|i| {
            let key = i % keys;
            let mut event = webhooks::Outgoing::new(
                esma_api::domain::events::EventType::CaseReviewDue,
                OAKFIELD as i32,
                json!({"review_id": key}),
            );
            event.dedupe_key = Some(format!("test:{key}"));
            event
        })
        .collect();
    let now = app.state.clock.now_naive();
    let again = outgoing.clone();
    let first = app
        .state
        .db
        .write(move |conn| webhooks::emit(conn, now, &outgoing))
        .await
        .unwrap();
    assert_eq!(first, keys, "one event per key");
    let second = app
        .state
        .db
        .write(move |conn| webhooks::emit(conn, now, &again))
        .await
        .unwrap();
    assert_eq!(second, 0, "nothing new the second time");
    // Every written event has its one delivery, and no more (the receiver takes case reviews).
    let mut delivered = 0;
    let mut path = format!("/api/v1/webhooks/{subscription}/deliveries?limit=100");
    loop {
        let page = app.get(&s.la, &path).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        delivered += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path =
                    format!("/api/v1/webhooks/{subscription}/deliveries?limit=100&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(delivered, keys);
});

// ------------------------------------------------------------ secrets at rest (issue 20)

/// The secret of subscription `id` as stored.
async fn stored_secret(app: &TestApp, id: i64) -> String {
    app.db()
        .read(move |conn| {
            Ok(esma_api::store::webhooks::find_subscription(conn, id)?
                .unwrap()
                .secret)
        })
        .await
        .unwrap()
}

on_both_backends!(secrets_are_stored_sealed_and_still_sign, |app| {
    let s = base(&app).await;
    let rx = Receiver::start(200);
    let (id, secret) = subscribe(&app, &s.oakfield, &rx.url(), &["referral.received"]).await;
    let stored = stored_secret(&app, id).await;
    let key = esma_api::signing::WebhookKeys::new(&common::WEBHOOK_KEY, &[]);
    assert!(
        stored.starts_with(&format!("v1:{}:", key.current_id())),
        "sealed under the current key: {stored}"
    );
    let key_part = secret.trim_start_matches("whsec_");
    assert!(
        !stored.contains(key_part),
        "the secret is not stored in clear"
    );
    assert_eq!(key.open(&stored).unwrap(), secret);
    // The dispatcher opens it to sign.
    refer(&app, &s.oakfield, 1, OAKFIELD).await;
    let report = deliver(&app, &quick(&[50])).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    rx.received()[0].verify(&secret).unwrap();
});

on_both_backends!(
    rekey_seals_clear_and_old_secrets_under_the_current_key,
    |app| {
        use esma_api::signing::WebhookKeys;
        use std::sync::Arc;
        let mut app = app;
        let s = base(&app).await;
        let rx = Receiver::start(200);
        let old_key = [0x11u8; 32];
        let new_key = [0x22u8; 32];
        app.state.webhook_keys = Arc::new(WebhookKeys::new(&old_key, &[]));
        let (sealed_old, old_secret) =
            subscribe(&app, &s.oakfield, &rx.url(), &["referral.received"]).await;
        // A secret stored in clear, as before secrets were sealed.
        let (in_clear, clear_secret) =
            subscribe(&app, &s.oakfield, &rx.url(), &["referral.received"]).await;
        let secret = clear_secret.clone();
        app.db()
            .write(move |conn| {
                Ok(esma_api::store::webhooks::set_secret(
                    conn, in_clear, &secret,
                )?)
            })
            .await
            .unwrap();
        // A secret sealed under a key nobody configured any more.
        let (lost, _) = subscribe(&app, &s.oakfield, &rx.url(), &["referral.received"]).await;
        let foreign =
            WebhookKeys::new(&[0x33; 32], &[]).seal("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        app.db()
            .write(move |conn| Ok(esma_api::store::webhooks::set_secret(conn, lost, &foreign)?))
            .await
            .unwrap();

        // Rotation: the new key seals, the old one still opens until everything is resealed.
        let rotated = Arc::new(WebhookKeys::new(&new_key, &[old_key]));
        app.state.webhook_keys = rotated.clone();
        let report = webhooks::rekey(app.db(), &rotated).await.unwrap();
        assert_eq!(
            (report.examined, report.resealed, report.unreadable),
            (3, 2, 1),
            "{report:?}"
        );
        let only_new = WebhookKeys::new(&new_key, &[]);
        for (id, secret) in [(sealed_old, &old_secret), (in_clear, &clear_secret)] {
            let stored = stored_secret(&app, id).await;
            assert!(
                stored.starts_with(&format!("v1:{}:", only_new.current_id())),
                "{stored}"
            );
            assert_eq!(&only_new.open(&stored).unwrap(), secret);
        }
        let again = webhooks::rekey(app.db(), &rotated).await.unwrap();
        assert_eq!((again.resealed, again.unreadable), (0, 1), "{again:?}");

        // With the old key dropped, deliveries still sign; the one whose key is lost fails its
        // attempt (and is retried) instead of sending unsigned.
        app.state.webhook_keys = Arc::new(only_new);
        refer(&app, &s.oakfield, 1, OAKFIELD).await;
        let report = round(&app, &quick(&[60_000])).await;
        assert_eq!((report.delivered, report.retrying), (2, 1), "{report:?}");
        let got = rx.received();
        assert_eq!(got.len(), 2);
        assert!(got
            .iter()
            .all(|r| r.verify(&old_secret).is_ok() || r.verify(&clear_secret).is_ok()));
    }
);

// ------------------------------------------------ operating them (issue 22 items 14-17)

/// The deliveries of subscription `id`, newest first, as its owner lists them.
async fn deliveries_of(app: &TestApp, token: &str, id: i64) -> Vec<Value> {
    let r = app
        .get(token, &format!("/api/v1/webhooks/{id}/deliveries"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"].as_array().unwrap().clone()
}

async fn post(app: &TestApp, token: &str, uri: &str, body: Option<&Value>) -> common::Reply {
    app.call("POST", token, uri, body).await
}

/// The audit rows of this action, as an admin reads them.
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let admin = app.token(Role::Admin, &[]).await;
    let r = app
        .get(&admin, &format!("/api/v1/audit?action={action}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"].as_array().unwrap().clone()
}

on_both_backends!(a_failed_delivery_is_retried_on_a_fresh_schedule, |app| {
    let s = base(&app).await;
    let rx = Receiver::start(500);
    let (id, secret) = subscribe(&app, &s.oakfield, &rx.url(), &["referral.received"]).await;
    refer(&app, &s.oakfield, 1, OAKFIELD).await;
    // One retry 50 ms on, then failed.
    let dispatcher = quick(&[50]);
    assert_eq!(round(&app, &dispatcher).await.retrying, 1);
    actix_web::rt::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(round(&app, &dispatcher).await.failed, 1);
    let failed = deliveries_of(&app, &s.oakfield, id).await[0].clone();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempt_count"], 2);
    let delivery = failed["id"].as_i64().unwrap();
    let retry = format!("/api/v1/webhooks/{id}/deliveries/{delivery}/retry");

    // Another school's client, a delivery of no subscription of its, an unknown one: 404.
    post(&app, &s.hillside, &retry, None).await.problem(404);
    post(
        &app,
        &s.oakfield,
        &format!("/api/v1/webhooks/{id}/deliveries/{}/retry", delivery + 1000),
        None,
    )
    .await
    .problem(404);
    let (other, _) = subscribe(&app, &s.oakfield, &rx.url(), &["case.closed"]).await;
    post(
        &app,
        &s.oakfield,
        &format!("/api/v1/webhooks/{other}/deliveries/{delivery}/retry"),
        None,
    )
    .await
    .problem(404);

    let r = post(&app, &s.oakfield, &retry, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let view = r.json();
    assert_eq!(view["id"], delivery);
    assert_eq!(view["status"], "pending");
    assert_eq!(view["attempt_count"], 2, "the attempts so far are kept");
    assert_eq!(view["attempts"].as_array().unwrap().len(), 2);
    assert!(view["next_attempt_at"].is_string());
    // Pending now: retrying it again is refused, saying why.
    let p = post(&app, &s.oakfield, &retry, None).await.problem(409);
    assert!(p["detail"].as_str().unwrap().contains("pending"), "{p}");

    // Still failing, it is retried on the whole schedule again, not failed at once.
    let again = round(&app, &dispatcher).await;
    assert_eq!((again.attempted, again.retrying), (1, 1), "{again:?}");
    rx.answer(200);
    actix_web::rt::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(round(&app, &dispatcher).await.delivered, 1);
    let done = deliveries_of(&app, &s.oakfield, id).await[0].clone();
    assert_eq!(done["status"], "delivered");
    assert_eq!(done["attempt_count"], 4, "the count continues");
    let codes: Vec<Value> = done["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(500), json!(500), json!(200)]);
    // The same message each time, signed.
    let got = rx.received();
    assert_eq!(got.len(), 4);
    assert!(got
        .iter()
        .all(|r| r.header("webhook-id") == done["message_id"].as_str().unwrap()));
    got[3].verify(&secret).unwrap();

    let p = post(&app, &s.oakfield, &retry, None).await.problem(409);
    assert!(p["detail"].as_str().unwrap().contains("delivered"), "{p}");
    let rows = audited(&app, "retry_delivery").await;
    assert_eq!(rows.len(), 1, "one audit row per retry done: {rows:#?}");
    assert_eq!(rows[0]["resource_type"], "webhook");
    assert_eq!(rows[0]["resource_id"], id.to_string());
    assert_eq!(rows[0]["outcome"], "success");
});

on_both_backends!(a_replay_requeues_what_failed_since_the_outage, |app| {
    let s = base(&app).await;
    let rx = Receiver::start(503);
    let (id, _) = subscribe(&app, &s.la, &rx.url(), &["referral.received"]).await;
    let no_retries = quick(&[]);
    refer(&app, &s.oakfield, 1, OAKFIELD).await;
    assert_eq!(round(&app, &no_retries).await.failed, 1);
    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    let outage = chrono::Utc::now();
    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    for n in 2..=4 {
        refer(&app, &s.oakfield, n, OAKFIELD).await;
    }
    assert_eq!(round(&app, &no_retries).await.failed, 3);
    let replay = format!("/api/v1/webhooks/{id}/deliveries/retry");
    let since = json!({"since": outage.to_rfc3339()});

    // Another client's subscription is not found; a body without a time is refused.
    post(&app, &s.oakfield, &replay, Some(&since))
        .await
        .problem(404);
    let r = post(
        &app,
        &s.la,
        &replay,
        Some(&json!({"since": "last Tuesday"})),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let r = post(&app, &s.la, &replay, Some(&json!({}))).await;
    assert_eq!(r.status, 422, "{}", r.text());

    // With an Idempotency-Key a retried replay gets the first answer and requeues nothing more.
    let keyed = || {
        actix_web::test::TestRequest::post()
            .uri(&replay)
            .insert_header(("authorization", format!("Bearer {}", s.la)))
            .insert_header(("idempotency-key", "replay-after-outage-1"))
            .set_json(&since)
    };
    let r = app.send(keyed()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["requeued"],
        3,
        "the three that failed since the outage"
    );
    rx.answer(200);
    assert_eq!(deliver(&app, &no_retries).await.delivered, 3);
    let r = app.send(keyed()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(r.json()["requeued"], 3);
    assert_eq!(deliver(&app, &no_retries).await.attempted, 0);

    let listed = deliveries_of(&app, &s.la, id).await;
    let statuses: Vec<&str> = listed
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["delivered", "delivered", "delivered", "failed"],
        "the one that failed before the outage is left"
    );
    // Nothing failed since: none requeued; from further back: the one left.
    let r = post(&app, &s.la, &replay, Some(&since)).await;
    assert_eq!(r.json()["requeued"], 0, "{}", r.text());
    let r = post(
        &app,
        &s.la,
        &replay,
        Some(&json!({"since": "2020-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(r.json()["requeued"], 1, "{}", r.text());
    assert_eq!(deliver(&app, &no_retries).await.delivered, 1);
    assert_eq!(audited(&app, "replay_deliveries").await.len(), 3);
});

on_both_backends!(a_subscription_disabled_by_gone_is_enabled_again, |app| {
    let s = base(&app).await;
    let rx = Receiver::start(503);
    let (id, secret) = subscribe(&app, &s.oakfield, &rx.url(), &["referral.received"]).await;
    // The first event waits a minute for its retry; the second meets a 410.
    let dispatcher = quick(&[60_000]);
    refer(&app, &s.oakfield, 1, OAKFIELD).await;
    assert_eq!(round(&app, &dispatcher).await.retrying, 1);
    rx.answer(410);
    refer(&app, &s.oakfield, 2, OAKFIELD).await;
    assert_eq!(round(&app, &dispatcher).await.disabled, 1);
    let listed = deliveries_of(&app, &s.oakfield, id).await;
    assert_eq!(listed[0]["status"], "failed", "the one answered 410");
    assert_eq!(listed[1]["status"], "cancelled", "the one still pending");
    let (gone, cancelled) = (listed[0]["id"].clone(), listed[1]["id"].clone());

    // Nothing of a disabled subscription is requeued: it would not be sent.
    let retry = |d: &Value| format!("/api/v1/webhooks/{id}/deliveries/{d}/retry");
    let p = post(&app, &s.oakfield, &retry(&gone), None)
        .await
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("enable"), "{p}");
    let replay = format!("/api/v1/webhooks/{id}/deliveries/retry");
    post(
        &app,
        &s.oakfield,
        &replay,
        Some(&json!({"since": "2020-01-01T00:00:00Z"})),
    )
    .await
    .problem(409);

    let enable = format!("/api/v1/webhooks/{id}/enable");
    post(&app, &s.hillside, &enable, None).await.problem(404);
    let r = post(&app, &s.oakfield, &enable, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "active");
    assert_eq!(r.json()["status_reason"], Value::Null);
    assert_eq!(r.json()["id"], id, "the same subscription");
    // Enabling an active one changes nothing (and is not audited again).
    let r = post(&app, &s.oakfield, &enable, None).await;
    assert_eq!(r.json()["status"], "active", "{}", r.text());
    let rows = audited(&app, "enable").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["resource_id"], id.to_string());

    // Its history is kept; new events are sent, with the same secret.
    rx.answer(200);
    assert_eq!(deliveries_of(&app, &s.oakfield, id).await.len(), 2);
    assert_eq!(deliver(&app, &dispatcher).await.attempted, 0);
    refer(&app, &s.oakfield, 3, OAKFIELD).await;
    assert_eq!(deliver(&app, &dispatcher).await.delivered, 1);
    rx.received().last().unwrap().verify(&secret).unwrap();
    // What failed or was cancelled when it was disabled is sent when its owner retries it.
    for d in [&gone, &cancelled] {
        let r = post(&app, &s.oakfield, &retry(d), None).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(deliver(&app, &dispatcher).await.delivered, 2);
    let listed = deliveries_of(&app, &s.oakfield, id).await;
    assert!(
        listed.iter().all(|d| d["status"] == "delivered"),
        "{listed:#?}"
    );

    // A deleted subscription cannot be enabled.
    let r = app
        .call(
            "DELETE",
            &s.oakfield,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    post(&app, &s.oakfield, &enable, None).await.problem(404);
});

/// The value of one sample in a Prometheus text exposition (`name` with its labels, if any).
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn scrape(app: &TestApp) -> String {
    let r = app
        .send(actix_web::test::TestRequest::get().uri("/metrics"))
        .await;
    assert_eq!(r.status, 200);
    r.text()
}

on_both_backends!(metrics_show_webhook_attempts_and_the_queue, |app| {
    let mut app = app;
    let s = base(&app).await;
    let ok = Receiver::start(200);
    let gone = Receiver::start(410);
    let down = format!("http://127.0.0.1:{}/", free_port());
    for url in [ok.url(), gone.url(), down] {
        subscribe(&app, &s.la, &url, &["referral.received"]).await;
    }
    let text = scrape(&app).await;
    for name in [
        "esma_webhook_attempts_total",
        "esma_webhook_queue_depth",
        "esma_webhook_queue_oldest_due_age_seconds",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{text}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{text}");
    }
    assert_eq!(sample(&text, "esma_webhook_queue_depth"), 0.0);
    assert_eq!(
        sample(&text, "esma_webhook_queue_oldest_due_age_seconds"),
        0.0
    );
    assert_eq!(
        sample(&text, r#"esma_webhook_attempts_total{outcome="delivered"}"#),
        0.0
    );

    refer(&app, &s.oakfield, 1, OAKFIELD).await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "esma_webhook_queue_depth"), 3.0);
    let waited = sample(&text, "esma_webhook_queue_oldest_due_age_seconds");
    assert!((0.3..60.0).contains(&waited), "due for {waited} s");

    // Delivered, gone, and one to retry in a second (then failed: the retries run out).
    let dispatcher = quick(&[1_000]).counting(app.metrics.webhook_counters());
    round(&app, &dispatcher).await;
    let text = scrape(&app).await;
    let count = |text: &str, outcome: &str| {
        sample(
            text,
            &format!("esma_webhook_attempts_total{{outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(
        ["delivered", "retrying", "failed", "gone"].map(|o| count(&text, o)),
        [1.0, 1.0, 0.0, 1.0]
    );
    assert_eq!(sample(&text, "esma_webhook_queue_depth"), 1.0);
    assert_eq!(
        sample(&text, "esma_webhook_queue_oldest_due_age_seconds"),
        0.0,
        "waiting for its retry is not overdue"
    );
    actix_web::rt::time::sleep(Duration::from_millis(1_300)).await;
    let waited = sample(
        &scrape(&app).await,
        "esma_webhook_queue_oldest_due_age_seconds",
    );
    assert!(waited >= 0.2, "due since its retry time: {waited} s");

    // Another instance on the same database shows the same queue (its own attempts: none).
    let mine = app.metrics.clone();
    app.metrics = actix_web::web::Data::new(esma_api::telemetry::Metrics::new());
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "esma_webhook_queue_depth"), 1.0);
    assert_eq!(count(&text, "retrying"), 0.0);
    app.metrics = mine;

    round(&app, &dispatcher).await;
    let text = scrape(&app).await;
    assert_eq!(
        ["delivered", "retrying", "failed", "gone"].map(|o| count(&text, o)),
        [1.0, 1.0, 1.0, 1.0]
    );
    assert_eq!(sample(&text, "esma_webhook_queue_depth"), 0.0);
    assert_eq!(
        sample(&text, "esma_webhook_queue_oldest_due_age_seconds"),
        0.0
    );
});

on_both_backends!(the_payload_and_the_header_keep_one_clock, |app| {
    // The app's statutory clock is fixed at 2026-11-23, whatever the real day is.
    let s = base(&app).await;
    let rx = Receiver::start(200);
    let (id, secret) = subscribe(&app, &s.la, &rx.url(), &["referral.received"]).await;
    refer(&app, &s.oakfield, 1, OAKFIELD).await;
    assert_eq!(deliver(&app, &quick(&[50])).await.delivered, 1);
    let got = &rx.received()[0];
    got.verify(&secret).unwrap();
    let header: i64 = got.header("webhook-timestamp").parse().unwrap();
    let payload = chrono::DateTime::parse_from_rfc3339(got.json()["timestamp"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (payload - header).abs() <= 60,
        "payload {payload}, header {header}"
    );
    assert!((now - header).abs() <= 60, "header {header}, now {now}");
    // The record keeps the statutory day the event happened on.
    let listed = deliveries_of(&app, &s.la, id).await;
    assert!(
        listed[0]["occurred_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-23"),
        "{listed:#?}"
    );
});

on_both_backends!(
    part_time_timetable_alerts_are_announced_by_the_scan,
    |app| {
        // RULES.md R15.3: the scan announces an open c2_without_agreement and an overrun as
        // `attendance.<kind>`, to the LA and the pupil's school, not another school.
        let s = base(&app).await;
        let la_rx = Receiver::start(200);
        let oak_rx = Receiver::start(200);
        let hill_rx = Receiver::start(200);
        let events = [
            "attendance.c2_without_agreement",
            "attendance.part_time_timetable_overrun",
        ];
        subscribe(&app, &s.la, &la_rx.url(), &events).await;
        subscribe(&app, &s.oakfield, &oak_rx.url(), &events).await;
        subscribe(&app, &s.hillside, &hill_rx.url(), &events).await;
        let agreement = json!({
            "upn": upn(2), "start_date": "2026-11-02", "end_date": "2026-11-13",
            "pattern": {"monday": ["AM"]}, "reason": "health", "parent_agreed_on": "2026-10-30",
            "ambition": "Full time", "plan_reference": "IHCP", "review_dates": ["2026-11-13"]
        });
        let r = app
            .call(
                "POST",
                &s.oakfield,
                "/api/v1/schools/117001/part-time-timetables",
                Some(&agreement),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let timetable = r.json()["id"].as_i64().unwrap();
        let marks = json!({"marks": [
            {"upn": upn(1), "date": "2026-11-09", "session": "PM", "code": "C2"},
            {"upn": upn(2), "date": "2026-11-16", "session": "PM", "code": "C2"},
        ]});
        let r = app
            .call(
                "POST",
                &s.oakfield,
                "/api/v1/schools/117001/registers",
                Some(&marks),
            )
            .await;
        assert_eq!(r.json()["rejected"], 0, "{}", r.text());
        // The agreement's review of 13 November was not recorded: overdue too (not subscribed).
        assert_eq!(webhooks::scan(&app.state).await.unwrap().events, 3);
        assert_eq!(webhooks::scan(&app.state).await.unwrap().events, 0);
        deliver(&app, &quick(&[50])).await;
        for rx in [&la_rx, &oak_rx] {
            let got: Vec<Value> = rx.received().iter().map(|r| r.json()).collect();
            let without = got
                .iter()
                .find(|e| e["type"] == "attendance.c2_without_agreement")
                .expect("C2 without agreement");
            assert_eq!(without["data"]["upn"], upn(1));
            assert_eq!(without["data"]["since"], "2026-11-09");
            let overrun = got
                .iter()
                .find(|e| e["type"] == "attendance.part_time_timetable_overrun")
                .expect("overrun");
            assert_eq!(overrun["data"]["upn"], upn(2));
            assert_eq!(overrun["data"]["part_time_timetable_id"], timetable);
        }
        assert!(hill_rx.received().is_empty());
    }
);

/// Open alerts of the three kinds the register scan announces that are not marked announced.
fn unannounced_open(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use esma_api::store::DbConnection;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql =
        "SELECT COUNT(*) AS n FROM alerts WHERE resolved_on IS NULL AND announced_on IS NULL \
               AND kind IN ('sickness_return_due', 'unexplained_absence_overdue', \
               'unauthorised_absence_10_days')";
    let mut conn = app.db().conn().unwrap();
    let found = match &mut *conn {
        DbConnection::Sqlite(c) => diesel::sql_query(sql).get_result::<Count>(c),
        DbConnection::Postgresql(c) => diesel::sql_query(sql).get_result::<Count>(c),
    };
    found.unwrap().n
}
