//! The register checks of part-time timetables and their flag for the LA (API.md "Part-time
//! timetables"; RULES.md R15.2, R15.3; issue 24 item 2), on both backends, on the 2026-27
//! calendar with today Monday 23 November 2026 unless a test moves the clock.

mod common;

use actix_web::test::TestRequest;
use common::{calendar, date, setup, short_referral, upn, Setup, TestApp, OAKFIELD};
use esma_api::clock::Clock;
use esma_api::domain::attendance::AttendancePolicy;
use esma_api::service::attendance::recompute;
use serde_json::{json, Value};

async fn with_calendar(app: &TestApp) -> Setup {
    let s = setup(app).await;
    let r = app
        .put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    s
}

fn mark(n: u32, day: &str, session: &str, code: &str) -> Value {
    json!({"upn": upn(n), "date": day, "session": session, "code": code})
}

async fn push(app: &TestApp, token: &str, marks: Vec<Value>) {
    let r = app
        .send(
            TestRequest::post()
                .uri(&format!("/api/v1/schools/{OAKFIELD}/registers"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .set_json(json!({ "marks": marks })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rejected"], 0, "{}", r.text());
}

async fn alerts(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(token, &format!("/api/v1/alerts?{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"].as_array().unwrap().clone()
}

async fn of_kind(app: &TestApp, token: &str, kind: &str, n: u32, state: &str) -> Vec<Value> {
    alerts(
        app,
        token,
        &format!("kind={kind}&upn={}&state={state}&acknowledged=all", upn(n)),
    )
    .await
}

/// An agreement for pupil `n` of Oakfield from `start` to `end`, reviewed on `reviews`.
fn agreement(n: u32, start: &str, end: &str, reviews: &[&str]) -> Value {
    json!({
        "upn": upn(n), "start_date": start, "end_date": end,
        "pattern": {"monday": ["AM"], "tuesday": ["AM", "PM"], "wednesday": ["AM"],
                    "thursday": ["AM", "PM"], "friday": ["AM"]},
        "reason": "health", "parent_agreed_on": "2026-10-30",
        "ambition": "Full time by February half term",
        "plan_reference": "IHCP, November 2026",
        "review_dates": reviews
    })
}

async fn create(app: &TestApp, token: &str, body: &Value) -> i64 {
    let r = app
        .call(
            "POST",
            token,
            &format!("/api/v1/schools/{OAKFIELD}/part-time-timetables"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

async fn patch(app: &TestApp, token: &str, id: i64, body: Value) -> Value {
    let r = app
        .call(
            "PATCH",
            token,
            &format!("/api/v1/part-time-timetables/{id}"),
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn sessions(alert: &Value) -> Vec<(String, String)> {
    alert["facts"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["date"].as_str().unwrap().to_string(),
                s["session"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(d, s)| (d.to_string(), s.to_string()))
        .collect()
}

/// What `esma-api recompute` would repair: nothing, when pushes and agreement writes kept the
/// alerts right.
fn assert_nothing_to_repair(app: &TestApp, today: &str) {
    let report = recompute(app.db(), &AttendancePolicy::default(), date(today), None).unwrap();
    assert_eq!(
        (report.counts.alerts_raised, report.counts.alerts_resolved),
        (0, 0),
        "{report:?}"
    );
}

on_both_backends!(
    c2_without_an_agreement_is_raised_with_its_sessions_and_an_agreement_resolves_it,
    |app| {
        let s = with_calendar(&app).await;
        push(
            &app,
            &s.oakfield,
            vec![
                mark(1, "2026-11-02", "AM", "/"),
                mark(1, "2026-11-02", "PM", "C2"),
                mark(1, "2026-11-03", "AM", "/"),
                mark(1, "2026-11-03", "PM", "C2"),
                mark(2, "2026-11-03", "PM", "/"),
            ],
        )
        .await;
        let open = of_kind(&app, &s.oakfield, "c2_without_agreement", 1, "open").await;
        assert_eq!(open.len(), 1, "{open:?}");
        let alert = &open[0];
        assert_eq!(alert["since"], "2026-11-02");
        assert_eq!(alert["facts"]["academic_year"], "2026-27");
        assert_eq!(alert["facts"]["sessions_count"], 2);
        assert_eq!(
            sessions(alert),
            pairs(&[("2026-11-02", "PM"), ("2026-11-03", "PM")])
        );
        // Another C2 in a later push joins the same alert (one per pupil, school and year).
        push(&app, &s.oakfield, vec![mark(1, "2026-11-04", "PM", "C2")]).await;
        let open = of_kind(&app, &s.la, "c2_without_agreement", 1, "open").await;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["facts"]["sessions_count"], 3);
        assert_nothing_to_repair(&app, "2026-11-23");

        // School scoping: Hillside sees none of it and cannot ask for Oakfield's.
        assert!(alerts(&app, &s.hillside, "kind=c2_without_agreement")
            .await
            .is_empty());
        app.get(&s.hillside, "/api/v1/alerts?school_urn=117001")
            .await
            .problem(404);
        // A register alert: the school acknowledges it.
        let id = open[0]["id"].as_i64().unwrap();
        let r = app
            .call(
                "POST",
                &s.oakfield,
                &format!("/api/v1/alerts/{id}/acknowledge"),
                Some(&json!({"note": "Agreement being written up"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());

        // A correction of one session moves nothing but the count.
        push(&app, &s.oakfield, vec![mark(1, "2026-11-04", "PM", "/")]).await;
        let open = of_kind(&app, &s.la, "c2_without_agreement", 1, "all").await;
        assert_eq!(open[0]["facts"]["sessions_count"], 2);

        // The agreement, recorded afterwards, covers them: resolved in the same write.
        create(
            &app,
            &s.oakfield,
            &agreement(1, "2026-11-02", "2027-02-12", &["2026-12-10", "2027-01-29"]),
        )
        .await;
        assert!(of_kind(&app, &s.la, "c2_without_agreement", 1, "open")
            .await
            .is_empty());
        let resolved = of_kind(&app, &s.la, "c2_without_agreement", 1, "resolved").await;
        assert_eq!(resolved.len(), 1);
        assert!(
            resolved[0]["resolution"]
                .as_str()
                .unwrap()
                .contains("covered by a part-time timetable"),
            "{resolved:?}"
        );
        assert_nothing_to_repair(&app, "2026-11-23");
        // The change feed has the raise and the resolution.
        let feed = app.get(&s.la, "/api/v1/changes?limit=500").await;
        assert_eq!(feed.status, 200, "{}", feed.text());
        let alert_id = resolved[0]["id"].clone();
        let feed = feed.json();
        let actions: Vec<&str> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resource_type"] == "alert" && c["resource_id"] == alert_id)
            .filter_map(|c| c["action"].as_str())
            .collect();
        assert!(actions.contains(&"raised"), "{actions:?}");
        assert!(actions.contains(&"resolved"), "{actions:?}");
    }
);

on_both_backends!(
    c2_after_the_end_is_an_overrun_and_an_extension_resolves_it,
    |app| {
        let s = with_calendar(&app).await;
        let id = create(
            &app,
            &s.oakfield,
            &agreement(2, "2026-11-02", "2026-11-13", &["2026-11-13"]),
        )
        .await;
        push(
            &app,
            &s.oakfield,
            vec![
                mark(2, "2026-11-10", "PM", "C2"),
                mark(2, "2026-11-17", "AM", "C2"),
                mark(2, "2026-11-17", "PM", "C2"),
            ],
        )
        .await;
        // Precedence: after an agreement ended it is an overrun, not "without agreement".
        assert!(of_kind(&app, &s.la, "c2_without_agreement", 2, "open")
            .await
            .is_empty());
        let overrun = of_kind(&app, &s.la, "part_time_timetable_overrun", 2, "open").await;
        assert_eq!(overrun.len(), 1, "{overrun:?}");
        assert_eq!(overrun[0]["since"], "2026-11-17");
        assert_eq!(overrun[0]["facts"]["part_time_timetable_id"], id);
        assert_eq!(overrun[0]["facts"]["end_date"], "2026-11-13");
        assert_eq!(
            sessions(&overrun[0]),
            pairs(&[("2026-11-17", "AM"), ("2026-11-17", "PM")])
        );
        assert!(
            alerts(&app, &s.hillside, "kind=part_time_timetable_overrun")
                .await
                .is_empty()
        );
        assert_nothing_to_repair(&app, "2026-11-23");

        // Extended past them: resolved in the same write.
        patch(&app, &s.oakfield, id, json!({"end_date": "2026-11-27"})).await;
        assert!(
            of_kind(&app, &s.la, "part_time_timetable_overrun", 2, "open")
                .await
                .is_empty()
        );
        assert_eq!(
            of_kind(&app, &s.la, "part_time_timetable_overrun", 2, "resolved")
                .await
                .len(),
            1
        );
        assert_nothing_to_repair(&app, "2026-11-23");
    }
);

on_both_backends!(
    c2_during_a_case_is_the_support_code_and_raises_nothing,
    |app| {
        let s = with_calendar(&app).await;
        let r = app
            .call(
                "POST",
                &s.oakfield,
                "/api/v1/referrals",
                Some(&short_referral(3, OAKFIELD)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let mut app = app;
        app.state.clock = Clock::fixed(date("2026-12-07"));
        // Recorded before the case is opened: without agreement.
        let marks = common::both_sessions(3, "2026-11-30", "2026-12-04", "C2");
        push(&app, &s.oakfield, marks.clone()).await;
        let open = of_kind(&app, &s.la, "c2_without_agreement", 3, "open").await;
        assert_eq!(open[0]["facts"]["sessions_count"], 10);
        // The case starts on 30 November: its opening covers them.
        let case_id = app
            .accept_referral(&s.la, r.json()["id"].as_i64().unwrap())
            .await;
        assert!(of_kind(&app, &s.la, "c2_without_agreement", 3, "open")
            .await
            .is_empty());
        // Pushed again during the case: nothing.
        push(&app, &s.oakfield, marks).await;
        for kind in ["c2_without_agreement", "part_time_timetable_overrun"] {
            assert!(
                of_kind(&app, &s.la, kind, 3, "open").await.is_empty(),
                "{kind}"
            );
        }
        // Before the case started it is not covered.
        push(&app, &s.oakfield, vec![mark(3, "2026-11-27", "PM", "C2")]).await;
        let open = of_kind(&app, &s.la, "c2_without_agreement", 3, "open").await;
        assert_eq!(open.len(), 1);
        assert_eq!(sessions(&open[0]), pairs(&[("2026-11-27", "PM")]));
        assert_nothing_to_repair(&app, "2026-12-07");
        // An exit effective on 2 December uncovers the C2 after it.
        let r = app
            .call(
                "POST",
                &s.la,
                &format!("/api/v1/cases/{case_id}/exit"),
                Some(
                    &json!({"reason": "too_unwell", "effective_date": "2026-12-02",
                         "decided_by": "J. Smith", "notes": "In hospital"}),
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let open = of_kind(&app, &s.la, "c2_without_agreement", 3, "open").await;
        assert_eq!(open[0]["facts"]["sessions_count"], 5, "{open:?}");
        assert_nothing_to_repair(&app, "2026-12-07");
    }
);

on_both_backends!(
    a_missed_review_is_overdue_from_the_school_day_after_until_a_review,
    |app| {
        let s = with_calendar(&app).await;
        let id = create(
            &app,
            &s.oakfield,
            &agreement(4, "2026-11-23", "2027-02-12", &["2026-12-04", "2027-01-19"]),
        )
        .await;
        let mut app = app;
        app.state.clock = Clock::fixed(date("2026-12-04"));
        assert!(
            of_kind(&app, &s.la, "part_time_review_overdue", 4, "all")
                .await
                .is_empty(),
            "due today, not overdue"
        );
        // Monday 7 December, the school day after: the clock raises it.
        app.state.clock = Clock::fixed(date("2026-12-07"));
        let open = of_kind(&app, &s.la, "part_time_review_overdue", 4, "open").await;
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0]["since"], "2026-12-05");
        assert_eq!(open[0]["due_by"], "2026-12-04");
        assert_eq!(open[0]["facts"]["part_time_timetable_id"], id);
        assert_eq!(
            open[0]["facts"]["review_dates_overdue"],
            json!(["2026-12-04"])
        );
        assert!(alerts(&app, &s.hillside, "kind=part_time_review_overdue")
            .await
            .is_empty());
        // The LA's to acknowledge, not the school's.
        let alert_id = open[0]["id"].as_i64().unwrap();
        app.call(
            "POST",
            &s.oakfield,
            &format!("/api/v1/alerts/{alert_id}/acknowledge"),
            Some(&json!({"note": "Booked"})),
        )
        .await
        .problem(403);
        // The review, held late, meets the date.
        let r = app
            .call(
                "POST",
                &s.oakfield,
                &format!("/api/v1/part-time-timetables/{id}/reviews"),
                Some(&json!({"held_on": "2026-12-07",
                         "attendees": [{"role": "parent"}, {"role": "pupil"}]})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(of_kind(&app, &s.la, "part_time_review_overdue", 4, "open")
            .await
            .is_empty());
        let resolved = of_kind(&app, &s.la, "part_time_review_overdue", 4, "resolved").await;
        assert_eq!(resolved[0]["resolution"], "the reviews were recorded");
    }
);

on_both_backends!(
    an_extension_past_60_school_days_flags_the_agreement_for_the_la,
    |app| {
        let s = with_calendar(&app).await;
        // 23 November to 12 February: 49 school days.
        let id = create(
            &app,
            &s.oakfield,
            &agreement(5, "2026-11-23", "2027-02-12", &["2027-01-19", "2027-02-12"]),
        )
        .await;
        // To Monday 8 March: 60 school days, not more than the policy's 60.
        let t = patch(&app, &s.oakfield, id, json!({"end_date": "2027-03-08"})).await;
        assert_eq!(t["span_school_days"], 60);
        assert!(
            of_kind(&app, &s.la, "part_time_timetable_prolonged", 5, "all")
                .await
                .is_empty()
        );
        // To Tuesday 9 March: 61.
        let t = patch(&app, &s.oakfield, id, json!({"end_date": "2027-03-09"})).await;
        assert_eq!(t["prolonged"], true);
        let open = of_kind(&app, &s.la, "part_time_timetable_prolonged", 5, "open").await;
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0]["since"], "2027-03-09");
        assert_eq!(open[0]["facts"]["span_school_days"], 61);
        assert_eq!(open[0]["facts"]["threshold_school_days"], 60);
        assert_eq!(open[0]["facts"]["part_time_timetable_id"], id);
        // The school sees its pupil's flag; another school does not.
        assert_eq!(
            alerts(&app, &s.oakfield, "kind=part_time_timetable_prolonged")
                .await
                .len(),
            1
        );
        assert!(
            alerts(&app, &s.hillside, "kind=part_time_timetable_prolonged")
                .await
                .is_empty()
        );
        // Brought back within the policy: resolved.
        patch(&app, &s.oakfield, id, json!({"end_date": "2027-03-08"})).await;
        assert!(
            of_kind(&app, &s.la, "part_time_timetable_prolonged", 5, "open")
                .await
                .is_empty()
        );
    }
);

on_both_backends!(
    a_push_of_covered_c2_raises_nothing_and_an_uncovered_one_before_the_agreement_does,
    |app| {
        // The push's short way (docs/performance.md, "R15.3 on the push"): C2 added under an
        // agreement is not compared with the stored alerts; C2 added outside it still is.
        let s = with_calendar(&app).await;
        create(
            &app,
            &s.oakfield,
            &agreement(1, "2026-11-02", "2027-02-12", &["2026-12-10", "2027-01-29"]),
        )
        .await;
        push(
            &app,
            &s.oakfield,
            vec![
                mark(1, "2026-11-03", "PM", "C2"),
                mark(1, "2026-11-04", "PM", "C2"),
            ],
        )
        .await;
        assert!(of_kind(&app, &s.la, "c2_without_agreement", 1, "all")
            .await
            .is_empty());
        // Before the agreement's start: raised, from that session.
        push(&app, &s.oakfield, vec![mark(1, "2026-10-21", "PM", "C2")]).await;
        let open = of_kind(&app, &s.la, "c2_without_agreement", 1, "open").await;
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0]["since"], "2026-10-21");
        assert_eq!(sessions(&open[0]), pairs(&[("2026-10-21", "PM")]));
        // An earlier one, pushed later, moves its since back; a covered one alongside changes
        // nothing.
        push(
            &app,
            &s.oakfield,
            vec![
                mark(1, "2026-10-20", "PM", "C2"),
                mark(1, "2026-11-05", "PM", "C2"),
            ],
        )
        .await;
        let open = of_kind(&app, &s.la, "c2_without_agreement", 1, "open").await;
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0]["since"], "2026-10-20");
        assert_eq!(open[0]["facts"]["sessions_count"], 2);
        assert_nothing_to_repair(&app, "2026-11-23");
        // Corrected, both: resolved by the push that removes the last of them.
        push(
            &app,
            &s.oakfield,
            vec![
                mark(1, "2026-10-20", "PM", "I"),
                mark(1, "2026-10-21", "PM", "I"),
            ],
        )
        .await;
        assert!(of_kind(&app, &s.la, "c2_without_agreement", 1, "open")
            .await
            .is_empty());
        assert_nothing_to_repair(&app, "2026-11-23");
    }
);
