//! Support episodes: schedule, reviews, evidence clock, register checks and exits (API.md
//! "Cases"; RULES.md R11-R13; issue 6), on both backends, on the 2026-27 calendar.

mod common;

use common::{
    both_sessions, calendar, date, setup, short_referral, upn, Reply, Setup, TestApp, OAKFIELD,
};
use esma_api::clock::Clock;
use esma_api::domain::access::Role;
use serde_json::{json, Value};

async fn send_json(
    app: &TestApp,
    method: &str,
    token: &str,
    uri: &str,
    body: Option<&Value>,
) -> Reply {
    app.call(method, token, uri, body).await
}

/// A calendar, a referral for pupil `n` on 23 November 2026, accepted from Monday 30 November.
async fn open_case(app: &TestApp, s: &Setup, n: u32) -> Value {
    open_case_for(app, s, &short_referral(n, OAKFIELD)).await
}

/// As [`open_case`], for this referral.
async fn open_case_for(app: &TestApp, s: &Setup, form: &Value) -> Value {
    let r = send_json(app, "POST", &s.oakfield, "/api/v1/referrals", Some(form)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let r = send_json(
        app,
        "POST",
        &s.la,
        &format!("/api/v1/referrals/{id}/decision"),
        Some(&json!({"outcome": "accepted", "start_date": "2026-11-30",
                     "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
                     "decided_by": "J. Smith"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let case_id = r.json()["case"]["id"].as_i64().unwrap();
    let case = app.get(&s.la, &format!("/api/v1/cases/{case_id}")).await;
    assert_eq!(case.status, 200, "{}", case.text());
    case.json()
}

fn reviews_of_kind(case: &Value, kind: &str) -> Vec<Value> {
    case["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind)
        .cloned()
        .collect()
}

async fn alert_kinds(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let r = app.get(token, "/api/v1/alerts?limit=500").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["upn"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn push(app: &TestApp, token: &str, marks: Vec<Value>) {
    let r = send_json(
        app,
        "POST",
        token,
        "/api/v1/schools/117001/registers",
        Some(&json!({ "marks": marks })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rejected"], 0, "{}", r.text());
}

on_both_backends!(accepting_a_referral_opens_a_case_with_its_schedule, |app| {
    let s = setup(&app).await;
    app.put_json(
        &s.la,
        "/api/v1/calendar/2026-27",
        &calendar(&["2027-05-03"]),
    )
    .await;
    let case = open_case(&app, &s, 1).await;
    assert_eq!(case["status"], "active");
    assert_eq!(case["start_date"], "2026-11-30");
    let meetings: Vec<&str> = reviews_of_kind(&case, "review_meeting")
        .iter()
        .map(|r| r["due_on"].as_str().unwrap().to_string())
        .map(|d| Box::leak(d.into_boxed_str()) as &str)
        .collect();
    // 30 school days after Monday 30 November, Christmas skipped.
    assert_eq!(meetings[0], "2027-01-26");
    let gates = reviews_of_kind(&case, "evidence_gate");
    assert_eq!(gates.len(), 2);
    assert_eq!(
        gates[0]["due_on"], "2027-03-16",
        "60 school days, the February half term skipped"
    );
    assert_eq!(case["evidence_clock"][0]["gate_on"], "2027-03-16");
    assert_eq!(case["evidence_clock"][0]["evidence_due_from"], "2027-03-02");
    assert_eq!(case["evidence_clock"][0]["evidence_due"], false);
    assert_eq!(
        reviews_of_kind(&case, "medical_evidence_update")[0]["due_on"],
        "2026-12-18"
    );
    // R12.3: the code as data, and a sentence that gives C2 its DfE meaning (not K's).
    assert_eq!(case["support_register_code"], "C2");
    let sentence = case["register_code_now"].as_str().unwrap();
    assert!(
        sentence.contains("as C2 (part-time timetable)"),
        "{sentence}"
    );
    assert!(!sentence.contains("off site"), "{sentence}");
    assert_eq!(case["provision"][0]["kind"], "one_to_one_tuition");
    let id = case["id"].as_i64().unwrap();

    // The school reads its own case; another school gets 404; lists are scoped the same way.
    assert_eq!(
        app.get(&s.oakfield, &format!("/api/v1/cases/{id}"))
            .await
            .status,
        200
    );
    app.get(&s.hillside, &format!("/api/v1/cases/{id}"))
        .await
        .problem(404);
    app.get(&s.hillside, &format!("/api/v1/cases/{id}/reviews"))
        .await
        .problem(404);
    assert_eq!(
        app.get(&s.hillside, "/api/v1/cases").await.json()["items"],
        json!([])
    );
    assert_eq!(
        app.get(&s.la, "/api/v1/cases?status=active").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get(&s.la, "/api/v1/cases?status=closed").await.json()["items"],
        json!([])
    );
    app.get(&s.la, "/api/v1/cases?status=open")
        .await
        .problem(422);
    let reviews = app
        .get(&s.oakfield, &format!("/api/v1/cases/{id}/reviews"))
        .await
        .json();
    assert_eq!(
        reviews.as_array().unwrap().len(),
        case["schedule"].as_array().unwrap().len()
    );
    let worklist = app
        .get(&s.la, "/api/v1/reviews?state=scheduled&before=2027-02-01")
        .await
        .json();
    let labels: Vec<&str> = worklist["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    // Autumn 2 (2 November to 18 December) has no meeting in it: a half-termly review (R11.2).
    assert_eq!(
        labels,
        ["autumn 2", "autumn term", "review meeting 1"],
        "{worklist:#}"
    );
    assert_eq!(worklist["items"][0]["upn"], upn(1));
    assert_eq!(
        app.get(&s.hillside, "/api/v1/reviews").await.json()["items"],
        json!([])
    );
});

on_both_backends!(
    reviews_are_rescheduled_onto_school_days_and_their_outcomes_recorded,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        let case = open_case(&app, &s, 1).await;
        let id = case["id"].as_i64().unwrap();
        let meeting = &reviews_of_kind(&case, "review_meeting")[0];
        let uri = format!("/api/v1/cases/{id}/reviews/{}", meeting["id"]);
        for bad in ["2027-01-30", "2027-02-16", "2026-11-27"] {
            let r = send_json(
                &app,
                "PATCH",
                &s.la,
                &uri,
                Some(&json!({"scheduled_for": bad})),
            )
            .await;
            assert_eq!(r.pointers(), ["/scheduled_for"], "{bad}: {}", r.text());
        }
        // Only the LA moves reviews.
        send_json(
            &app,
            "PATCH",
            &s.oakfield,
            &uri,
            Some(&json!({"scheduled_for": "2027-01-28"})),
        )
        .await
        .problem(403);
        let moved = send_json(
            &app,
            "PATCH",
            &s.la,
            &uri,
            Some(&json!({"scheduled_for": "2027-01-28"})),
        )
        .await;
        assert_eq!(moved.status, 200, "{}", moved.text());
        assert_eq!(moved.json()["scheduled_for"], "2027-01-28");
        assert_eq!(moved.json()["due_on"], "2027-01-26");
        assert_eq!(moved.json()["note"], "moved from 2027-01-26");

        // The school records the outcome once it has happened.
        let outcome = json!({"outcome": {"held_on": "2027-01-28", "attendees": ["Parent", "SENDCo"],
                                     "targets": "Maths catch-up", "next_steps": "Phased return"}});
        let early = send_json(&app, "PATCH", &s.oakfield, &uri, Some(&outcome)).await;
        assert_eq!(
            early.pointers(),
            ["/outcome/held_on"],
            "not held yet on 23 November"
        );
        let mut app = app;
        app.state.clock = Clock::fixed(date("2027-01-29"));
        let held = send_json(&app, "PATCH", &s.oakfield, &uri, Some(&outcome)).await;
        assert_eq!(held.status, 200, "{}", held.text());
        assert_eq!(held.json()["status"], "held");
        assert_eq!(
            held.json()["outcome"]["attendees"],
            json!(["Parent", "SENDCo"])
        );
        send_json(&app, "PATCH", &s.oakfield, &uri, Some(&outcome))
            .await
            .problem(409);
        send_json(&app, "PATCH", &s.la, &uri, Some(&json!({})))
            .await
            .problem(422);
        send_json(
            &app,
            "PATCH",
            &s.la,
            &format!("/api/v1/cases/{id}/reviews/99999"),
            Some(&outcome),
        )
        .await
        .problem(404);

        // An extra meeting, on a school day.
        let extra = send_json(
            &app,
            "POST",
            &s.la,
            &format!("/api/v1/cases/{id}/reviews"),
            Some(&json!({"scheduled_for": "2027-02-13"})),
        )
        .await;
        assert_eq!(extra.pointers(), ["/scheduled_for"], "a Saturday");
        let extra = send_json(
            &app,
            "POST",
            &s.la,
            &format!("/api/v1/cases/{id}/reviews"),
            Some(&json!({"scheduled_for": "2027-02-12", "label": "after the scan"})),
        )
        .await;
        assert_eq!(extra.status, 201, "{}", extra.text());
        assert!(extra.json()["schedule"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["label"] == "after the scan"));
        send_json(
            &app,
            "POST",
            &s.oakfield,
            &format!("/api/v1/cases/{id}/reviews"),
            Some(&json!({"scheduled_for": "2027-02-12"})),
        )
        .await
        .problem(403);
    }
);

on_both_backends!(
    overdue_reviews_and_evidence_gates_raise_alerts_driven_by_the_clock,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        let case = open_case(&app, &s, 1).await;
        let id = case["id"].as_i64().unwrap();
        let mut app = app;
        let labels = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["label"].as_str().unwrap().to_string())
                .collect()
        };
        app.state.clock = Clock::fixed(date("2026-12-18"));
        assert!(
            !alert_kinds(&app, &s.la)
                .await
                .iter()
                .any(|(k, _)| k == "review_overdue"),
            "due today, not overdue"
        );
        // The autumn half-termly review and the autumn evidence update were never recorded.
        app.state.clock = Clock::fixed(date("2027-01-26"));
        // Reading the case brings its alerts up to date without anyone reading the alert list.
        let got = app
            .get(&s.oakfield, &format!("/api/v1/cases/{id}"))
            .await
            .json();
        let kinds: Vec<&str> = got["open_alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["review_overdue", "review_overdue"], "{got:#}");
        let overdue = app.get(&s.la, "/api/v1/reviews?state=overdue").await.json();
        assert_eq!(labels(&overdue), ["autumn 2", "autumn term"]);
        assert_eq!(
            app.get(&s.la, "/api/v1/alerts?kind=review_overdue")
                .await
                .json()["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        app.state.clock = Clock::fixed(date("2027-01-27"));
        let overdue = app.get(&s.la, "/api/v1/reviews?state=overdue").await.json();
        assert_eq!(
            labels(&overdue),
            ["autumn 2", "autumn term", "review meeting 1"]
        );
        let alerts = app
            .get(&s.la, "/api/v1/alerts?kind=review_overdue")
            .await
            .json();
        let meeting_alert = alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["due_by"] == "2027-01-26")
            .unwrap_or_else(|| panic!("{alerts:#}"))
            .clone();
        assert_eq!(meeting_alert["since"], "2027-01-27");
        assert_eq!(meeting_alert["facts"]["case_id"], id);
        assert_eq!(
            meeting_alert["facts"]["review_id"],
            overdue["items"][2]["id"]
        );
        let due = app
            .get(&s.la, "/api/v1/reviews?state=due&before=2027-03-01")
            .await
            .json();
        assert!(due["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["scheduled_for"].as_str().unwrap() >= "2027-01-27"));
        app.get(&s.la, "/api/v1/reviews?state=late")
            .await
            .problem(422);
        let got = app
            .get(&s.oakfield, &format!("/api/v1/cases/{id}"))
            .await
            .json();
        assert_eq!(got["open_alerts"].as_array().unwrap().len(), 3);
        assert_eq!(got["open_alerts"][0]["kind"], "review_overdue");

        // Holding them resolves the alerts.
        for item in overdue["items"].as_array().unwrap() {
            let r = send_json(
                &app,
                "PATCH",
                &s.oakfield,
                &format!("/api/v1/cases/{id}/reviews/{}", item["id"]),
                Some(&json!({"outcome": {"held_on": "2027-01-27"}})),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
        assert!(!alert_kinds(&app, &s.la)
            .await
            .iter()
            .any(|(k, _)| k == "review_overdue"));
        let resolved = app
            .get(&s.la, "/api/v1/alerts?kind=review_overdue&state=resolved")
            .await
            .json();
        assert_eq!(
            resolved["items"][0]["resolution"],
            "the review was held, moved or cancelled"
        );

        // R11.4: the referral's evidence predates the case; from 10 school days before the
        // 12-week gate (16 March) medical evidence is due.
        app.state.clock = Clock::fixed(date("2027-03-01"));
        assert!(!alert_kinds(&app, &s.la)
            .await
            .iter()
            .any(|(k, _)| k == "medical_evidence_due"));
        app.state.clock = Clock::fixed(date("2027-03-02"));
        let due = app
            .get(&s.la, "/api/v1/alerts?kind=medical_evidence_due")
            .await
            .json();
        assert_eq!(due["items"].as_array().unwrap().len(), 1, "{due:#}");
        assert_eq!(due["items"][0]["due_by"], "2027-03-16");
        assert_eq!(due["items"][0]["facts"]["gate_school_weeks"], 12);
        let evidence = json!({"source": "consultant", "issued_on": "2027-03-01", "states_unable_to_attend": true,
                          "likely_duration_school_days": 40});
        let r = send_json(
            &app,
            "POST",
            &s.oakfield,
            &format!("/api/v1/cases/{id}/medical-evidence"),
            Some(&evidence),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let case = r.json();
        // The answer shows the alerts as the evidence leaves them, not as they were before it.
        assert!(
            case["open_alerts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["kind"] != "medical_evidence_due"),
            "{case:#}"
        );
        assert_eq!(case["evidence_clock"][0]["satisfied_by"], "2027-03-01");
        assert_eq!(case["evidence_clock"][0]["evidence_due"], false);
        assert_eq!(
            case["medical_evidence"][0]["evidence"]["source"],
            "consultant"
        );
        // It satisfies this term's evidence update too (R11.3).
        let spring = reviews_of_kind(&case, "medical_evidence_update")
            .into_iter()
            .find(|r| r["due_on"] == "2027-03-26")
            .unwrap();
        assert_eq!(spring["status"], "held");
        assert!(!alert_kinds(&app, &s.la)
            .await
            .iter()
            .any(|(k, _)| k == "medical_evidence_due"));
        let future =
            json!({"source": "gp", "issued_on": "2027-04-01", "states_unable_to_attend": true});
        let r = send_json(
            &app,
            "POST",
            &s.la,
            &format!("/api/v1/cases/{id}/medical-evidence"),
            Some(&future),
        )
        .await;
        assert_eq!(r.pointers(), ["/issued_on"]);
        send_json(
            &app,
            "POST",
            &s.hillside,
            &format!("/api/v1/cases/{id}/medical-evidence"),
            Some(&evidence),
        )
        .await
        .problem(404);
    }
);

on_both_backends!(the_register_during_support_is_checked, |app| {
    let s = setup(&app).await;
    app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    open_case(&app, &s, 1).await;
    let mut app = app;
    app.state.clock = Clock::fixed(date("2026-12-11"));
    // R12.1: C after the start (should be C2); C before the start is not the case's business.
    let mut marks = both_sessions(1, "2026-11-30", "2026-12-02", "C2");
    marks.extend(both_sessions(1, "2026-12-03", "2026-12-03", "C"));
    marks.extend(both_sessions(1, "2026-11-27", "2026-11-27", "C"));
    push(&app, &s.oakfield, marks).await;
    let alerts = app
        .get(&s.la, "/api/v1/alerts?kind=register_code_mismatch")
        .await
        .json();
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "{alerts:#}");
    assert_eq!(alerts["items"][0]["since"], "2026-12-03");
    assert_eq!(alerts["items"][0]["facts"]["dates"], json!(["2026-12-03"]));
    // "with the dates" (R12.1): every C since the start, not only the first.
    let mut more = both_sessions(1, "2026-12-07", "2026-12-07", "C");
    more.push(json!({"upn": upn(1), "date": "2026-12-10", "session": "PM", "code": "C"}));
    push(&app, &s.oakfield, more).await;
    let alerts = app
        .get(&s.la, "/api/v1/alerts?kind=register_code_mismatch")
        .await
        .json();
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "{alerts:#}");
    let facts = &alerts["items"][0]["facts"];
    assert_eq!(facts["first_date"], "2026-12-03");
    assert_eq!(
        facts["dates"],
        json!(["2026-12-03", "2026-12-07", "2026-12-10"]),
        "{facts:#}"
    );
    assert_eq!(facts["sessions"].as_array().unwrap().len(), 5);
    assert_eq!(
        facts["sessions"][4],
        json!({"date": "2026-12-10", "session": "PM"})
    );
    // Correcting some of them leaves the others listed.
    push(
        &app,
        &s.oakfield,
        both_sessions(1, "2026-12-03", "2026-12-03", "C2"),
    )
    .await;
    let alerts = app
        .get(&s.la, "/api/v1/alerts?kind=register_code_mismatch")
        .await
        .json();
    assert_eq!(
        alerts["items"][0]["facts"]["dates"],
        json!(["2026-12-07", "2026-12-10"]),
        "{alerts:#}"
    );
    let mut corrected = both_sessions(1, "2026-12-07", "2026-12-07", "C2");
    corrected.push(json!({"upn": upn(1), "date": "2026-12-10", "session": "PM", "code": "C2"}));
    push(&app, &s.oakfield, corrected).await;
    assert!(!alert_kinds(&app, &s.la)
        .await
        .iter()
        .any(|(k, _)| k == "register_code_mismatch"));

    // R12.2: 6 unauthorised sessions within the last 10 school days.
    push(
        &app,
        &s.oakfield,
        both_sessions(1, "2026-12-07", "2026-12-08", "O"),
    )
    .await;
    assert!(
        !alert_kinds(&app, &s.la)
            .await
            .iter()
            .any(|(k, _)| k == "support_non_engagement"),
        "4 sessions"
    );
    push(
        &app,
        &s.oakfield,
        both_sessions(1, "2026-12-09", "2026-12-09", "N"),
    )
    .await;
    let alerts = app
        .get(&s.la, "/api/v1/alerts?kind=support_non_engagement")
        .await
        .json();
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "{alerts:#}");
    // Ten school days later they have aged out of the window.
    app.state.clock = Clock::fixed(date("2027-01-12"));
    assert!(!alert_kinds(&app, &s.la)
        .await
        .iter()
        .any(|(k, _)| k == "support_non_engagement"));
});

on_both_backends!(
    an_exit_closes_the_case_with_its_facts_and_re_referral_rules,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        let case = open_case(&app, &s, 1).await;
        let id = case["id"].as_i64().unwrap();
        let exit = format!("/api/v1/cases/{id}/exit");
        let mut app = app;
        app.state.clock = Clock::fixed(date("2027-02-10"));
        let body = |v: Value| v;
        send_json(&app, "POST", &s.oakfield, &exit, Some(&json!({"reason": "reintegrated", "effective_date": "2027-02-12", "decided_by": "x"}))).await.problem(403);
        let r = send_json(&app, "POST", &s.la, &exit, Some(&body(json!({"reason": "too_unwell", "effective_date": "2026-11-27", "decided_by": "J. Smith"})))).await;
        assert_eq!(r.pointers(), ["/effective_date", "/notes"], "{}", r.text());
        let r = send_json(&app, "POST", &s.la, &exit, Some(&json!({"reason": "transferred_school", "effective_date": "2027-02-12", "new_school_urn": OAKFIELD, "decided_by": "J. Smith"}))).await;
        assert_eq!(r.pointers(), ["/new_school_urn"]);
        let r = send_json(&app, "POST", &s.la, &exit, Some(&json!({"reason": "moved_out_of_area", "effective_date": "2027-02-12", "new_la_code": 919, "decided_by": "J. Smith"}))).await;
        assert_eq!(r.pointers(), ["/new_la_code"]);
        let r = send_json(&app, "POST", &s.la, &exit, Some(&json!({"reason": "no_longer_compulsory_school_age", "effective_date": "2027-02-12", "decided_by": "J. Smith"}))).await;
        assert_eq!(r.pointers(), ["/effective_date"]);
        // A non_attendance exit with no register facts is no longer refused (R13.2 as amended
        // with R14): tests/lessons.rs shows it recorded with a warning.
        send_json(&app, "POST", &s.la, &exit, Some(&json!({"reason": "bored", "effective_date": "2027-02-12", "decided_by": "J. Smith"}))).await.problem(422);

        let r = send_json(
            &app,
            "POST",
            &s.la,
            &exit,
            Some(
                &json!({"reason": "too_unwell", "effective_date": "2027-02-12",
        "notes": "Admitted to hospital; cannot engage with teaching", "decided_by": "J. Smith"}),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        assert_eq!(out["case"]["status"], "closed");
        assert_eq!(out["case"]["support_register_code"], Value::Null);
        assert_eq!(out["re_referral"]["open"], true);
        assert!(out["register_code_guidance"]
            .as_str()
            .unwrap()
            .contains("normal codes"));
        assert!(out["reviews_cancelled"].as_u64().unwrap() > 0);
        let schedule = out["case"]["schedule"].as_array().unwrap();
        assert!(schedule
            .iter()
            .filter(|r| r["scheduled_for"].as_str().unwrap() > "2027-02-12")
            .all(|r| r["status"] == "cancelled"));
        assert!(
            schedule
                .iter()
                .any(|r| r["status"] == "scheduled" && r["scheduled_for"] == "2027-01-26"),
            "earlier reviews stay"
        );
        assert_eq!(out["case"]["exit"]["reason"], "too_unwell");
        send_json(&app, "POST", &s.la, &exit, Some(&json!({"reason": "reintegrated", "effective_date": "2027-02-12", "decided_by": "x"}))).await.problem(409);
        let review = &schedule[0];
        send_json(
            &app,
            "PATCH",
            &s.la,
            &format!("/api/v1/cases/{id}/reviews/{}", review["id"]),
            Some(&json!({"scheduled_for": "2027-01-27"})),
        )
        .await
        .problem(409);
        assert_eq!(
            app.get(&s.la, "/api/v1/cases?status=closed").await.json()["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // After too_unwell the pupil can be referred again.
        let again = send_json(
            &app,
            "POST",
            &s.oakfield,
            "/api/v1/referrals",
            Some(&short_referral(1, OAKFIELD)),
        )
        .await;
        assert_eq!(again.status, 201, "{}", again.text());

        // After a move out of the area: no re-referral while the pupil lives elsewhere.
        app.state.clock = Clock::fixed(date("2026-11-23"));
        let second = open_case(&app, &s, 2).await;
        app.state.clock = Clock::fixed(date("2027-02-10"));
        let r = send_json(&app, "POST", &s.la, &format!("/api/v1/cases/{}/exit", second["id"]),
        Some(&json!({"reason": "moved_out_of_area", "effective_date": "2027-02-12", "new_la_code": 873, "decided_by": "J. Smith"}))).await;
        assert_eq!(r.json()["re_referral"]["open"], false, "{}", r.text());
        let mut elsewhere = short_referral(2, OAKFIELD);
        elsewhere["pupil"]["home_la_code"] = json!(873);
        let r = send_json(
            &app,
            "POST",
            &s.oakfield,
            "/api/v1/referrals",
            Some(&elsewhere),
        )
        .await;
        assert!(r.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("moving out of the area"));
        let back = send_json(
            &app,
            "POST",
            &s.oakfield,
            "/api/v1/referrals",
            Some(&short_referral(2, OAKFIELD)),
        )
        .await;
        assert_eq!(back.status, 201, "back in the area: {}", back.text());
    }
);

on_both_backends!(
    a_calendar_change_moves_reviews_off_days_that_are_no_longer_school_days,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        let case = open_case(&app, &s, 1).await;
        let id = case["id"].as_i64().unwrap();
        assert_eq!(
            reviews_of_kind(&case, "review_meeting")[0]["scheduled_for"],
            "2027-01-26"
        );
        // The LA closes schools on 26 January 2027.
        let r = app
            .put_json(
                &s.la,
                "/api/v1/calendar/2026-27",
                &calendar(&["2027-01-26", "2027-05-03"]),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let case = app.get(&s.la, &format!("/api/v1/cases/{id}")).await.json();
        let meeting = &reviews_of_kind(&case, "review_meeting")[0];
        assert_eq!(meeting["scheduled_for"], "2027-01-27");
        assert_eq!(meeting["due_on"], "2027-01-26");
        assert!(
            meeting["note"]
                .as_str()
                .unwrap()
                .contains("no longer a school day"),
            "{meeting:#}"
        );
        let admin = app.token(Role::Admin, &[]).await;
        let trail = app
            .get(&admin, "/api/v1/audit?action=reschedule")
            .await
            .json();
        assert_eq!(trail["items"].as_array().unwrap().len(), 1, "{trail:#}");
        assert_eq!(trail["items"][0]["resource_type"], "review");
    }
);

/// One exit reason through the API: bodies lacking what it needs (with the pointers each is
/// refused at) and then one that has it.
struct ExitCase {
    reason: &'static str,
    refused: Vec<(Value, Vec<&'static str>)>,
    accepted: Value,
    re_referral_open: bool,
}

fn exit_table() -> Vec<ExitCase> {
    let who = "J. Smith, ESMA panel";
    let with = |extra: Value| {
        let mut body = json!({"effective_date": "2027-02-12", "decided_by": who});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let notes_needed = |reason: &'static str| ExitCase {
        reason,
        refused: vec![
            (with(json!({"reason": reason})), vec!["/notes"]),
            (
                with(json!({"reason": reason, "notes": "   "})),
                vec!["/notes"],
            ),
        ],
        accepted: with(
            json!({"reason": reason, "notes": "Discussed with the family and the consultant"}),
        ),
        re_referral_open: true,
    };
    vec![
        ExitCase {
            reason: "reintegrated",
            refused: vec![
                // A missing member is reported at the object lacking it ("missing field
                // `effective_date`").
                (
                    json!({"reason": "reintegrated", "decided_by": who}),
                    vec![""],
                ),
                (
                    json!({"reason": "reintegrated", "effective_date": "2026-11-27", "decided_by": who}),
                    vec!["/effective_date"],
                ),
            ],
            accepted: with(json!({"reason": "reintegrated"})),
            re_referral_open: true,
        },
        ExitCase {
            reason: "transferred_school",
            refused: vec![
                (
                    with(json!({"reason": "transferred_school"})),
                    vec!["/new_school_urn"],
                ),
                (
                    with(json!({"reason": "transferred_school", "new_school_urn": OAKFIELD})),
                    vec!["/new_school_urn"],
                ),
                (
                    with(json!({"reason": "transferred_school", "new_school_urn": 12345})),
                    vec!["/new_school_urn"],
                ),
            ],
            accepted: with(json!({"reason": "transferred_school", "new_school_urn": 117050})),
            re_referral_open: true,
        },
        notes_needed("too_unwell"),
        ExitCase {
            reason: "non_attendance",
            refused: vec![(with(json!({"reason": "non_attendance"})), vec!["/notes"])],
            accepted: with(
                json!({"reason": "non_attendance", "notes": "Has not attended ESMA lessons since December"}),
            ),
            re_referral_open: true,
        },
        notes_needed("refuses_health_services"),
        ExitCase {
            reason: "moved_out_of_area",
            refused: vec![
                (
                    with(json!({"reason": "moved_out_of_area"})),
                    vec!["/new_la_code"],
                ),
                (
                    with(json!({"reason": "moved_out_of_area", "new_la_code": 919})),
                    vec!["/new_la_code"],
                ),
                (
                    with(
                        json!({"reason": "moved_out_of_area", "new_school_urn": 117050, "new_la_code": 873}),
                    ),
                    vec!["/new_school_urn"],
                ),
            ],
            accepted: with(json!({"reason": "moved_out_of_area", "new_la_code": 873})),
            re_referral_open: false,
        },
        notes_needed("unsafe_behaviour"),
        ExitCase {
            reason: "no_longer_compulsory_school_age",
            // Born 15 September 2010: compulsory school age ends on Friday 25 June 2027 (R7.1).
            refused: vec![(
                json!({"reason": "no_longer_compulsory_school_age", "effective_date": "2027-06-24",
                       "decided_by": who}),
                vec!["/effective_date"],
            )],
            accepted: json!({"reason": "no_longer_compulsory_school_age",
                             "effective_date": "2027-06-25", "decided_by": who}),
            re_referral_open: false,
        },
    ]
}

on_both_backends!(
    every_exit_reason_is_refused_without_its_facts_and_recorded_with_them,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        let table = exit_table();
        // A pupil of its own for each reason (an exit closes the case); the last one in Year 11.
        let born = |i: usize| {
            if table[i].reason == "no_longer_compulsory_school_age" {
                "2010-09-15"
            } else {
                "2014-03-02"
            }
        };
        let mut roll: Vec<Value> = (1..=5).map(common::pupil).collect();
        for i in 0..table.len() {
            let mut p = common::pupil(11 + i as u32);
            p["date_of_birth"] = json!(born(i));
            roll.push(p);
        }
        let r = app
            .put_json(
                &s.oakfield,
                "/api/v1/schools/117001/pupils",
                &json!({"pupils": roll}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let mut cases = Vec::new();
        for (i, _) in table.iter().enumerate() {
            let n = 11 + i as u32;
            let mut form = short_referral(n, OAKFIELD);
            form["pupil"]["date_of_birth"] = json!(born(i));
            cases.push((
                n,
                open_case_for(&app, &s, &form).await["id"].as_i64().unwrap(),
            ));
        }
        let mut app = app;
        app.state.clock = Clock::fixed(date("2027-02-10"));
        assert_eq!(table[3].reason, "non_attendance");
        let absent = cases[3].0;
        // The non_attendance pupil: O before the start (not the case's business) and C2 since.
        let mut marks = both_sessions(absent, "2026-11-27", "2026-11-27", "O");
        marks.extend(both_sessions(absent, "2026-11-30", "2026-12-04", "C2"));
        push(&app, &s.oakfield, marks).await;
        for (row, (n, id)) in table.iter().zip(&cases) {
            let uri = format!("/api/v1/cases/{id}/exit");
            for (body, pointers) in &row.refused {
                let r = send_json(&app, "POST", &s.la, &uri, Some(body)).await;
                assert_eq!(
                    &r.pointers(),
                    pointers,
                    "{}: {body}: {}",
                    row.reason,
                    r.text()
                );
            }
            let still = app.get(&s.la, &format!("/api/v1/cases/{id}")).await.json();
            assert_eq!(
                still["status"], "active",
                "{}: a refused exit changes nothing",
                row.reason
            );
            if row.reason == "non_attendance" {
                // Then the register shows the pupil missing lessons during support.
                let mut marks = both_sessions(absent, "2026-12-07", "2026-12-08", "O");
                marks.push(
                    json!({"upn": upn(*n), "date": "2027-01-12", "session": "AM", "code": "N"}),
                );
                push(&app, &s.oakfield, marks).await;
            }
            let r = send_json(&app, "POST", &s.la, &uri, Some(&row.accepted)).await;
            assert_eq!(r.status, 200, "{}: {}", row.reason, r.text());
            let out = r.json();
            assert_eq!(out["case"]["status"], "closed", "{}", row.reason);
            assert_eq!(out["case"]["exit"]["reason"], row.reason);
            assert_eq!(
                out["case"]["exit"]["effective_date"],
                row.accepted["effective_date"]
            );
            assert_eq!(
                out["re_referral"]["open"], row.re_referral_open,
                "{}",
                row.reason
            );
            let stored = app.get(&s.la, &format!("/api/v1/cases/{id}")).await.json();
            assert_eq!(
                stored["exit"], out["case"]["exit"],
                "{}: stored as answered",
                row.reason
            );
            if row.reason == "non_attendance" {
                // R13 "register facts attached": stored with the decision and shown with it.
                let facts = &out["register_facts"];
                assert_eq!(facts["from"], "2026-11-30", "{out:#}");
                assert_eq!(facts["to"], "2027-02-10", "up to the day of the decision");
                assert_eq!(facts["marked_sessions"], 15);
                assert_eq!(facts["unauthorised_sessions"], 5);
                assert_eq!(
                    facts["unauthorised"][0],
                    json!({"date": "2026-12-07", "session": "AM", "code": "O"})
                );
                assert_eq!(
                    facts["unauthorised"][4],
                    json!({"date": "2027-01-12", "session": "AM", "code": "N"})
                );
                assert_eq!(&stored["exit_register_facts"], facts);
            } else {
                assert_eq!(out["register_facts"], Value::Null, "{}", row.reason);
                assert_eq!(stored["exit_register_facts"], Value::Null);
            }
        }
        assert_eq!(
            app.get(&s.la, "/api/v1/cases?status=closed&limit=500")
                .await
                .json()["items"]
                .as_array()
                .unwrap()
                .len(),
            8
        );
    }
);

on_both_backends!(
    case_and_review_lists_page_by_cursor_and_other_schools_cannot_write,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        let mut ids = Vec::new();
        for n in 1..=3 {
            ids.push(open_case(&app, &s, n).await["id"].as_i64().unwrap());
        }
        let ids_of = |page: &Value, field: &str| -> Vec<i64> {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c[field].as_i64().unwrap())
                .collect()
        };
        // Cases: pages of two, the cursor continuing after the last one seen.
        let first = app.get(&s.la, "/api/v1/cases?limit=2").await.json();
        assert_eq!(ids_of(&first, "id"), ids[..2]);
        let cursor = first["next_cursor"]
            .as_str()
            .expect("a second page")
            .to_string();
        let second = app
            .get(&s.la, &format!("/api/v1/cases?limit=2&cursor={cursor}"))
            .await
            .json();
        assert_eq!(ids_of(&second, "id"), ids[2..]);
        assert_eq!(second["next_cursor"], Value::Null);
        // A cursor from another list is refused.
        let reviews_first = app.get(&s.la, "/api/v1/reviews?limit=5").await.json();
        let review_cursor = reviews_first["next_cursor"]
            .as_str()
            .expect("more reviews")
            .to_string();
        app.get(&s.la, &format!("/api/v1/cases?cursor={review_cursor}"))
            .await
            .problem(400);
        // Reviews: every scheduled review exactly once across the pages.
        let mut seen = ids_of(&reviews_first, "id");
        let mut cursor = Some(review_cursor);
        while let Some(c) = cursor {
            let page = app
                .get(&s.la, &format!("/api/v1/reviews?limit=5&cursor={c}"))
                .await
                .json();
            seen.extend(ids_of(&page, "id"));
            cursor = page["next_cursor"].as_str().map(str::to_string);
        }
        let all = app.get(&s.la, "/api/v1/reviews?limit=500").await.json();
        assert_eq!(seen, ids_of(&all, "id"));
        assert!(seen.len() > 5, "more than one page");

        // The school_urn filter: Oakfield's cases, none at Hillside; a school only its own.
        assert_eq!(
            ids_of(
                &app.get(&s.la, "/api/v1/cases?school_urn=117001")
                    .await
                    .json(),
                "id"
            ),
            ids
        );
        assert_eq!(
            app.get(&s.la, "/api/v1/cases?school_urn=117002")
                .await
                .json()["items"],
            json!([])
        );
        assert_eq!(
            ids_of(
                &app.get(&s.oakfield, "/api/v1/cases?school_urn=117001")
                    .await
                    .json(),
                "id"
            ),
            ids
        );
        app.get(&s.hillside, "/api/v1/cases?school_urn=117001")
            .await
            .problem(404);
        app.get(&s.hillside, "/api/v1/reviews?school_urn=117001")
            .await
            .problem(404);

        // Another school cannot write to the case: recording an outcome reads as no such case
        // (404, as a read would: its existence is not disclosed); adding a review is the LA's
        // alone (403 for any school).
        let review = &all["items"][0];
        let case_id = review["case_id"].as_i64().unwrap();
        let uri = format!("/api/v1/cases/{case_id}/reviews/{}", review["id"]);
        let mut app = app;
        app.state.clock = Clock::fixed(date("2026-12-18"));
        let outcome = json!({"outcome": {"held_on": "2026-12-17"}});
        send_json(&app, "PATCH", &s.hillside, &uri, Some(&outcome))
            .await
            .problem(404);
        send_json(
            &app,
            "POST",
            &s.hillside,
            &format!("/api/v1/cases/{case_id}/reviews"),
            Some(&json!({"scheduled_for": "2027-01-12"})),
        )
        .await
        .problem(403);
        let unchanged = app
            .get(&s.la, &format!("/api/v1/cases/{case_id}/reviews"))
            .await
            .json();
        let still = unchanged
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == review["id"])
            .unwrap();
        assert_eq!(still["status"], "scheduled", "{still:#}");
        // The refused write is audited as not found.
        let admin = app.token(Role::Admin, &[]).await;
        let trail = app.get(&admin, "/api/v1/audit?action=update").await.json();
        let case_id_text = case_id.to_string();
        assert!(
            trail["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["resource_type"] == "case"
                    && e["resource_id"] == case_id_text.as_str()
                    && e["outcome"] == "not_found"),
            "{trail:#}"
        );
        // Its own school can.
        let r = send_json(&app, "PATCH", &s.oakfield, &uri, Some(&outcome)).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
);
