//! The change feed (API.md "Change feed"; issue 7 item 4): referrals, cases, reviews and alerts
//! changed after a version, in the order they become visible, on both backends; and on
//! PostgreSQL, that a version is never visible before a smaller one.

mod common;

use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use common::{
    both_sessions, calendar, date, setup, short_referral, upn, Reply, Setup, TestApp, OAKFIELD,
};
use esma_api::clock::Clock;
use esma_api::domain::access::Role;
use esma_api::domain::changes::{Change, ChangeAction};
use esma_api::domain::referral::ReferralId;
use esma_api::store::{changes, DbConnection};
use serde_json::{json, Value};

async fn send_json(app: &TestApp, method: &str, token: &str, uri: &str, body: &Value) -> Reply {
    let req = match method {
        "POST" => TestRequest::post(),
        "PATCH" => TestRequest::patch(),
        _ => TestRequest::put(),
    }
    .uri(uri)
    .insert_header(("authorization", format!("Bearer {token}")));
    let req = if method == "PATCH" && uri.starts_with("/api/v1/referrals/") {
        req.insert_header(("content-type", "application/merge-patch+json"))
            .set_payload(body.to_string())
    } else {
        req.set_json(body)
    };
    app.send(req).await
}

async fn push(app: &TestApp, s: &Setup, marks: Vec<Value>) {
    let r = send_json(
        app,
        "POST",
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        &json!({ "marks": marks }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rejected"], 0, "{}", r.text());
}

/// A page of the feed, checked for its shape.
async fn feed(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app.get(token, &format!("/api/v1/changes?{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// (resource_type, action) of each item.
fn steps(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|i| {
            (
                i["resource_type"].as_str().unwrap().to_string(),
                i["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn step(resource: &str, action: &str) -> (String, String) {
    (resource.to_string(), action.to_string())
}

on_both_backends!(the_feed_lists_every_change_in_version_order, |app| {
    let s = setup(&app).await;
    let r = app
        .put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let empty = feed(&app, &s.la, "").await;
    assert_eq!(empty["items"], json!([]), "a calendar alone is no change");
    assert_eq!(empty["next_since"], 0);
    assert_eq!(empty["has_more"], false);

    // Pupil 3 off ill for 12 school days: persistent and severe absence raised; the school
    // then corrects the register to present and both are resolved.
    push(&app, &s, both_sessions(3, "2026-11-02", "2026-11-17", "I")).await;
    push(&app, &s, both_sessions(3, "2026-11-02", "2026-11-17", "/")).await;

    // A referral for pupil 1: submitted, patched, accepted (a case with its reviews).
    let r = send_json(
        &app,
        "POST",
        &s.oakfield,
        "/api/v1/referrals",
        &short_referral(1, OAKFIELD),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let referral = r.json()["id"].as_i64().unwrap();
    let r = send_json(
        &app,
        "PATCH",
        &s.oakfield,
        &format!("/api/v1/referrals/{referral}"),
        &json!({"baseline": {"wellbeing": "Improving"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let case_id = app.accept_referral(&s.la, referral).await;
    let case = app
        .get(&s.la, &format!("/api/v1/cases/{case_id}"))
        .await
        .json();
    let schedule = case["schedule"].as_array().unwrap().clone();
    let planned: Vec<i64> = schedule.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(planned.len() > 3, "{case:#}");
    let meeting = schedule
        .iter()
        .find(|r| r["kind"] == "review_meeting" && r["scheduled_for"] == "2027-01-26")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // The LA closes schools on 26 January: the meeting moves to the 27th. Then the LA moves it
    // to the 28th, where it is held.
    let r = app
        .put_json(
            &s.la,
            "/api/v1/calendar/2026-27",
            &calendar(&["2027-01-26"]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let case = app
        .get(&s.la, &format!("/api/v1/cases/{case_id}"))
        .await
        .json();
    let mut moved: Vec<i64> = case["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["note"]
                .as_str()
                .is_some_and(|n| n.contains("no longer a school day"))
        })
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    moved.sort_unstable();
    assert!(moved.contains(&meeting), "{case:#}");
    let review_uri = format!("/api/v1/cases/{case_id}/reviews/{meeting}");
    let r = send_json(
        &app,
        "PATCH",
        &s.la,
        &review_uri,
        &json!({"scheduled_for": "2027-01-28"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut app = app;
    app.state.clock = Clock::fixed(date("2027-01-29"));
    let r = send_json(
        &app,
        "PATCH",
        &s.oakfield,
        &review_uri,
        &json!({"outcome": {"held_on": "2027-01-28", "attendees": ["Parent"]}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The exit closes the case and cancels the reviews after it.
    app.state.clock = Clock::fixed(date("2027-02-10"));
    let r = send_json(
        &app,
        "POST",
        &s.la,
        &format!("/api/v1/cases/{case_id}/exit"),
        &json!({"reason": "too_unwell", "effective_date": "2027-02-12",
                "notes": "Admitted to hospital", "decided_by": "J. Smith"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let exit = r.json();
    let cancelled: Vec<i64> = exit["case"]["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "cancelled")
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        cancelled.len() as u64,
        exit["reviews_cancelled"].as_u64().unwrap()
    );
    assert!(!cancelled.is_empty());

    let page = feed(&app, &s.la, "limit=1000").await;
    assert_eq!(page["has_more"], false);
    let items = page["items"].as_array().unwrap().clone();
    let mut expected = vec![
        step("alert", "raised"),
        step("alert", "raised"),
        step("alert", "resolved"),
        step("alert", "resolved"),
        step("referral", "created"),
        step("referral", "updated"),
        step("referral", "decided"),
        step("case", "opened"),
    ];
    expected.extend(planned.iter().map(|_| step("review", "planned")));
    expected.extend(moved.iter().map(|_| step("review", "rescheduled")));
    expected.extend([
        step("review", "rescheduled"),
        step("review", "held"),
        // A write to the case brings its alerts up to date, as a read does: by 29 January the
        // autumn half-termly review and evidence update are overdue (R11.5), and the exit
        // resolves both.
        step("alert", "raised"),
        step("alert", "raised"),
        step("case", "closed"),
    ]);
    expected.extend(cancelled.iter().map(|_| step("review", "cancelled")));
    expected.extend([step("alert", "resolved"), step("alert", "resolved")]);
    assert_eq!(steps(&items), expected, "{page:#}");

    let versions: Vec<i64> = items
        .iter()
        .map(|i| i["version"].as_i64().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(page["next_since"], *versions.last().unwrap());
    assert!(items.iter().all(|i| i["school_urn"] == OAKFIELD));
    assert!(items.iter().all(|i| i["changed_at"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .is_ok()));

    // The ids are the resources': the alerts raised are the ones resolved, pupil 3's register
    // alerts and the case's (pupil 1's); the reviews are the case's.
    let ids = |resource: &str, action: &str| -> Vec<i64> {
        items
            .iter()
            .filter(|i| i["resource_type"] == resource && i["action"] == action)
            .map(|i| i["resource_id"].as_i64().unwrap())
            .collect()
    };
    let mut raised = ids("alert", "raised");
    let mut resolved = ids("alert", "resolved");
    raised.sort_unstable();
    resolved.sort_unstable();
    assert_eq!(raised, resolved);
    assert_eq!(ids("referral", "created"), [referral]);
    assert_eq!(ids("referral", "decided"), [referral]);
    assert_eq!(ids("case", "opened"), [case_id]);
    assert_eq!(ids("case", "closed"), [case_id]);
    let mut planned_ids = ids("review", "planned");
    planned_ids.sort_unstable();
    let mut planned = planned;
    planned.sort_unstable();
    assert_eq!(planned_ids, planned);
    let rescheduled = ids("review", "rescheduled");
    let (by_calendar, by_la) = rescheduled.split_at(moved.len());
    let mut by_calendar = by_calendar.to_vec();
    by_calendar.sort_unstable();
    assert_eq!(by_calendar, moved);
    assert_eq!(by_la, [meeting]);
    assert_eq!(ids("review", "held"), [meeting]);
    assert_eq!(ids("review", "cancelled"), cancelled);

    // Paging: three at a time from the start gives the same changes, then an empty page that
    // keeps next_since where it was.
    let mut since = 0;
    let mut paged = Vec::new();
    loop {
        let page = feed(&app, &s.la, &format!("since={since}&limit=3")).await;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= 3);
        paged.extend(got.iter().cloned());
        since = page["next_since"].as_i64().unwrap();
        if page["has_more"] == false {
            break;
        }
        assert_eq!(got.len(), 3, "a page with more after it is full");
    }
    assert_eq!(paged, items);
    let last = feed(&app, &s.la, &format!("since={since}")).await;
    assert_eq!(last["items"], json!([]));
    assert_eq!(last["next_since"], since);
    assert_eq!(last["has_more"], false);

    // Asking from a middle version gives exactly what came after it.
    let middle = versions[versions.len() / 2];
    let rest = feed(&app, &s.la, &format!("since={middle}&limit=1000")).await;
    assert_eq!(
        rest["items"].as_array().unwrap().as_slice(),
        &items[versions.len() / 2 + 1..]
    );

    // Every href reads the resource the change is about.
    for i in &items {
        let href = i["href"].as_str().unwrap();
        let id = &i["resource_id"];
        let r = app.get(&s.la, href).await;
        assert_eq!(r.status, 200, "{href}: {}", r.text());
        let body = r.json();
        match i["resource_type"].as_str().unwrap() {
            "referral" => {
                assert_eq!(href, format!("/api/v1/referrals/{referral}"));
                assert_eq!(body["id"], *id);
            }
            "case" => {
                assert_eq!(href, format!("/api/v1/cases/{case_id}"));
                assert_eq!(body["id"], *id);
            }
            "review" => {
                assert_eq!(href, format!("/api/v1/cases/{case_id}/reviews"));
                assert!(
                    body.as_array().unwrap().iter().any(|r| r["id"] == *id),
                    "{href}"
                );
            }
            "alert" => {
                assert!(
                    href.contains(&format!("upn={}", upn(3)))
                        || href.contains(&format!(
                            "upn={}&school_urn={OAKFIELD}&kind=review_overdue",
                            upn(1)
                        )),
                    "{href}"
                );
                let found: Vec<&Value> = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["id"] == *id)
                    .collect();
                assert_eq!(found.len(), 1, "{href}: {body:#}");
                assert_eq!(found[0]["state"], "resolved");
                assert!(href.contains(&format!("kind={}", found[0]["kind"].as_str().unwrap())));
            }
            other => panic!("unexpected resource type {other}"),
        }
    }

    // Each read of the feed is audited.
    let admin = app.token(Role::Admin, &[]).await;
    let trail = app
        .get(&admin, "/api/v1/audit?action=read&limit=500")
        .await
        .json();
    assert!(
        trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource_type"] == "changes" && e["endpoint"] == "GET /api/v1/changes"),
        "{trail:#}"
    );
});

on_both_backends!(extra_reviews_and_medical_evidence_are_changes, |app| {
    let s = setup(&app).await;
    app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    let r = send_json(
        &app,
        "POST",
        &s.oakfield,
        "/api/v1/referrals",
        &short_referral(1, OAKFIELD),
    )
    .await;
    let referral = r.json()["id"].as_i64().unwrap();
    let case_id = app.accept_referral(&s.la, referral).await;
    let since = feed(&app, &s.la, "limit=1000").await["next_since"]
        .as_i64()
        .unwrap();

    let r = send_json(
        &app,
        "POST",
        &s.la,
        &format!("/api/v1/cases/{case_id}/reviews"),
        &json!({"scheduled_for": "2027-01-12", "label": "after the operation"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let added = r.json()["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "after the operation")
        .unwrap()["id"]
        .clone();
    // Evidence during the autumn term satisfies the term's medical evidence update (R11.3).
    let r = send_json(
        &app,
        "POST",
        &s.oakfield,
        &format!("/api/v1/cases/{case_id}/medical-evidence"),
        &json!({"source": "consultant", "issued_on": "2026-11-20", "states_unable_to_attend": true,
                "likely_duration_school_days": 40}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let satisfied = r.json()["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "medical_evidence_update" && r["status"] == "held")
        .expect("the autumn evidence update is held")["id"]
        .clone();

    let page = feed(&app, &s.la, &format!("since={since}")).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(
        steps(items),
        [
            step("review", "added"),
            step("case", "evidence_added"),
            step("review", "held")
        ]
    );
    assert_eq!(items[0]["resource_id"], added);
    assert_eq!(items[1]["resource_id"], case_id);
    assert_eq!(items[2]["resource_id"], satisfied);
    assert_eq!(items[0]["href"], format!("/api/v1/cases/{case_id}/reviews"));
});

on_both_backends!(a_back_filled_mark_that_moves_an_alert_is_a_change, |app| {
    // 15 days ill from 3 November reach the sickness-return point (R4.4) on the 23rd; an
    // illness day back-filled on 2 November reaches it a school day earlier, on the 20th.
    let s = setup(&app).await;
    push(&app, &s, both_sessions(4, "2026-11-03", "2026-11-23", "I")).await;
    let first = feed(&app, &s.la, "").await;
    let raised: Vec<&Value> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "raised")
        .collect();
    let alerts = app
        .get(
            &s.la,
            &format!("/api/v1/alerts?upn={}&kind=sickness_return_due", upn(4)),
        )
        .await
        .json();
    let sickness = &alerts["items"][0];
    assert_eq!(sickness["since"], "2026-11-23", "{alerts:#}");
    assert!(raised.iter().any(|i| i["resource_id"] == sickness["id"]));

    push(&app, &s, both_sessions(4, "2026-11-02", "2026-11-02", "I")).await;
    let since = first["next_since"].as_i64().unwrap();
    let page = feed(&app, &s.la, &format!("since={since}")).await;
    assert_eq!(
        steps(page["items"].as_array().unwrap()),
        [step("alert", "since_moved")],
        "{page:#}"
    );
    assert_eq!(page["items"][0]["resource_id"], sickness["id"]);
    let alerts = app
        .get(
            &s.la,
            &format!("/api/v1/alerts?upn={}&kind=sickness_return_due", upn(4)),
        )
        .await
        .json();
    assert_eq!(alerts["items"][0]["since"], "2026-11-20");
});

on_both_backends!(
    alerts_raised_by_a_read_and_resolved_by_a_withdrawal_are_changes,
    |app| {
        // An undecided referral past its assessment deadline is raised when the worklist is read
        // (R10.3), and resolved when the referral is withdrawn.
        let s = setup(&app).await;
        let r = send_json(
            &app,
            "POST",
            &s.oakfield,
            "/api/v1/referrals",
            &short_referral(2, OAKFIELD),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let referral = r.json()["id"].as_i64().unwrap();
        let mut app = app;
        app.state.clock = Clock::fixed(date("2027-01-20"));
        let alerts = app
            .get(&s.la, "/api/v1/alerts?kind=assessment_overdue")
            .await
            .json();
        let alert = alerts["items"][0]["id"]
            .as_i64()
            .expect("an assessment_overdue alert");
        let r = send_json(
            &app,
            "POST",
            &s.oakfield,
            &format!("/api/v1/referrals/{referral}/withdraw"),
            &json!({}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        // Reading the worklist again raises nothing new.
        app.get(&s.la, "/api/v1/alerts?kind=assessment_overdue")
            .await;

        let items = feed(&app, &s.la, "").await["items"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(
            steps(&items),
            [
                step("referral", "created"),
                step("alert", "raised"),
                step("referral", "withdrawn"),
                step("alert", "resolved"),
            ]
        );
        assert_eq!(items[1]["resource_id"], alert);
        assert_eq!(items[3]["resource_id"], alert);
        assert_eq!(
            items[1]["href"],
            format!(
                "/api/v1/alerts?upn={}&school_urn={OAKFIELD}&kind=assessment_overdue&state=all&acknowledged=all",
                upn(2)
            )
        );
    }
);

on_both_backends!(
    only_the_la_reads_the_feed_and_bad_queries_are_problems,
    |app| {
        let s = setup(&app).await;
        for token in [&s.oakfield, &app.token(Role::Admin, &[]).await] {
            app.get(token, "/api/v1/changes").await.problem(403);
        }
        app.send(TestRequest::get().uri("/api/v1/changes"))
            .await
            .problem(401);
        for (query, pointer) in [
            ("since=-1", "/query/since"),
            ("limit=0", "/query/limit"),
            ("limit=1001", "/query/limit"),
        ] {
            let r = app.get(&s.la, &format!("/api/v1/changes?{query}")).await;
            assert_eq!(r.pointers(), [pointer], "{query}: {}", r.text());
        }
        for query in ["since=abc", "since=1.5", "limit=lots"] {
            app.get(&s.la, &format!("/api/v1/changes?{query}"))
                .await
                .problem(400);
        }
        assert_eq!(
            feed(&app, &s.la, "since=99999&limit=1000").await["next_since"],
            99999
        );
    }
);

/// The ordering problem: on PostgreSQL a version is taken at insert but seen at commit. While
/// one transaction has recorded a change and not committed, a second one may take a larger
/// version and commit, but no reader may see it yet, or it would ask for "after" it and skip the
/// first's for ever: the reader waits until the first has committed, then sees both in order.
#[test]
#[cfg_attr(
    esma_no_postgres,
    ignore = "set ESMA_TEST_DATABASE_URL to run on PostgreSQL"
)]
fn a_version_is_never_visible_before_a_smaller_one_on_postgresql() {
    let Some(own) = OwnDatabase::create() else {
        return;
    };
    let db = own.db.clone();
    let at = chrono::Utc::now().naive_utc();
    let first = Change::referral(ReferralId::from(1), 117001, ChangeAction::Created);
    let second = Change::referral(ReferralId::from(2), 117001, ChangeAction::Created);

    // Transaction A records its change and stays open.
    let mut a = db.conn().unwrap();
    diesel::connection::SimpleConnection::batch_execute(&mut *a, "BEGIN").unwrap();
    changes::record_at(&mut a, at, &[first]).unwrap();

    // Transaction B, on another connection, records its change and commits without waiting
    // for A: writers do not queue behind each other.
    let writer = db.clone();
    let b = std::thread::spawn(move || {
        writer
            .write_now(|conn| Ok(changes::record_at(conn, at, &[second])?))
            .unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.is_finished() {
        assert!(
            Instant::now() < deadline,
            "B waited for A although neither reads the feed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    b.join().unwrap();

    // A reader now waits for A instead of seeing B's larger version alone.
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let reading = db.clone();
    let reader = std::thread::spawn(move || {
        let mut conn = reading.conn().unwrap();
        pid_tx.send(backend_pid(&mut conn)).unwrap();
        changes::page(&mut conn, 0, 10).unwrap()
    });
    let reader_pid = pid_rx.recv().unwrap();
    let mut observer = db.conn().unwrap();
    loop {
        if reader.is_finished() {
            panic!(
                "a reader read the feed while A's smaller version was still uncommitted: {:?}",
                reader.join()
            );
        }
        if waiting_for_advisory_lock(&mut observer, reader_pid) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reader neither finished nor waited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    diesel::connection::SimpleConnection::batch_execute(&mut *a, "COMMIT").unwrap();
    let rows = reader.join().unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.resource_id).collect();
    assert_eq!(ids, [1, 2], "A's change first: {rows:?}");
    assert!(rows[0].version < rows[1].version);
    assert_eq!(
        changes::page(&mut observer, 0, 10).unwrap(),
        rows,
        "a reader outside a transaction sees the same"
    );
}

/// A PostgreSQL database of the test's own, dropped afterwards. The feed's advisory lock is per
/// database, and the other tests, each in a schema of the shared test database, read the feed
/// meanwhile: a read waiting behind transaction A would hold up B's write there.
struct OwnDatabase {
    // Declared first, so the pool closes before the database is dropped.
    db: esma_api::store::Db,
    _database: common::OwnPgDatabase,
}

impl OwnDatabase {
    fn create() -> Option<OwnDatabase> {
        let database = common::OwnPgDatabase::create()?;
        let db = esma_api::store::Db::open(
            &esma_api::store::DatabaseUrl::parse(&database.url).expect("a test database URL"),
            4,
        )
        .expect("open the test database");
        Some(OwnDatabase {
            db,
            _database: database,
        })
    }
}

fn backend_pid(conn: &mut DbConnection) -> i32 {
    use diesel::prelude::*;
    let DbConnection::Postgresql(pg) = conn else {
        panic!("a PostgreSQL test on SQLite");
    };
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
        "pg_backend_pid()",
    ))
    .get_result(pg)
    .unwrap()
}

fn waiting_for_advisory_lock(conn: &mut DbConnection, pid: i32) -> bool {
    use diesel::prelude::*;
    let DbConnection::Postgresql(pg) = conn else {
        panic!("a PostgreSQL test on SQLite");
    };
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = {pid})"
    )))
    .get_result(pg)
    .unwrap()
}
