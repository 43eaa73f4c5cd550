//! Schools, the LA calendar and the audit trail, through the HTTP API.

mod common;

use esma_api::domain::access::Role;
use serde_json::{json, Value};

fn autumn_spring_summer() -> Value {
    json!({
        "terms": [
            {"name": "autumn", "starts": "2026-09-03", "ends": "2026-12-18", "half_term": {"starts": "2026-10-26", "ends": "2026-10-30"}},
            {"name": "spring", "starts": "2027-01-05", "ends": "2027-03-26", "half_term": {"starts": "2027-02-15", "ends": "2027-02-19"}},
            {"name": "summer", "starts": "2027-04-12", "ends": "2027-07-21", "half_term": {"starts": "2027-05-31", "ends": "2027-06-04"}}
        ],
        "closures": ["2027-05-03"]
    })
}

on_both_backends!(school_create_update_and_unchanged, |app| {
    let la = app.token(Role::La, &[]).await;
    let body = json!({"name": "Oakfield Primary School", "laestab": "9192001", "phase": "primary"});
    let created = app.put_json(&la, "/api/v1/schools/117001", &body).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["urn"], 117001);
    assert_eq!(created["phase"], "primary");

    let same = app.put_json(&la, "/api/v1/schools/117001", &body).await;
    assert_eq!(same.status, 200);
    assert_eq!(
        same.json()["updated_at"],
        created["updated_at"],
        "an unchanged school keeps its updated_at"
    );

    let renamed = app
        .put_json(
            &la,
            "/api/v1/schools/117001",
            &json!({"name": "Oakfield Academy", "laestab": "9192001", "phase": "all_through"}),
        )
        .await;
    assert_eq!(renamed.status, 200);
    let got = app.get(&la, "/api/v1/schools/117001").await.json();
    assert_eq!(got["name"], "Oakfield Academy");
    assert_eq!(got["phase"], "all_through");
    assert_eq!(got["created_at"], created["created_at"]);
});

on_both_backends!(schools_list_pages_with_a_cursor, |app| {
    let la = app.token(Role::La, &[]).await;
    for urn in [117005, 117001, 117003, 117002, 117004] {
        let body = json!({"name": format!("School {urn}"), "laestab": format!("919{}", urn - 113000), "phase": "primary"});
        assert_eq!(
            app.put_json(&la, &format!("/api/v1/schools/{urn}"), &body)
                .await
                .status,
            201
        );
    }
    let mut seen = Vec::new();
    let mut uri = "/api/v1/schools?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = app.get(&la, &uri).await.json();
        pages += 1;
        for s in page["items"].as_array().unwrap() {
            seen.push(s["urn"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/schools?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![117001, 117002, 117003, 117004, 117005]);
    assert_eq!(pages, 3);
    let all = app.get(&la, "/api/v1/schools").await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    assert!(all["next_cursor"].is_null());
});

on_both_backends!(calendar_round_trip, |app| {
    let la = app.token(Role::La, &[]).await;
    let school = app.token(Role::School, &[117001]).await;
    app.get(&la, "/api/v1/calendar/2026-27").await.problem(404);

    let created = app
        .put_json(&la, "/api/v1/calendar/2026-27", &autumn_spring_summer())
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let body = created.json();
    assert_eq!(body["academic_year"], "2026-27");
    assert_eq!(body["school_days"], 193);
    assert_eq!(body["terms"][0]["half_term"]["starts"], "2026-10-26");

    let got = app.get(&school, "/api/v1/calendar/2026-27").await;
    assert_eq!(got.status, 200, "schools read the LA calendar");
    assert_eq!(got.json()["terms"], body["terms"]);
    assert_eq!(got.json()["closures"], json!(["2027-05-03"]));

    // Replacing it: one fewer closure, one more school day.
    let mut changed = autumn_spring_summer();
    changed["closures"] = json!([]);
    let replaced = app
        .put_json(&la, "/api/v1/calendar/2026-27", &changed)
        .await;
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.json()["school_days"], 194);
    assert_eq!(
        app.get(&la, "/api/v1/calendar/2026-27").await.json()["closures"],
        json!([])
    );

    // Only the LA writes it.
    app.put_json(&school, "/api/v1/calendar/2026-27", &changed)
        .await
        .problem(403);
});

on_both_backends!(
    calendar_validation_reports_every_problem_with_pointers,
    |app| {
        let la = app.token(Role::La, &[]).await;
        let bad = json!({
            "terms": [
                {"name": "autumn", "starts": "2026-09-03", "ends": "2026-12-18", "half_term": {"starts": "2026-10-26", "ends": "2026-12-25"}},
                {"name": "spring", "starts": "2026-12-10", "ends": "2027-03-26"},
                {"name": "summer", "starts": "2027-04-12", "ends": "2027-09-21"}
            ],
            "closures": ["2025-12-25"]
        });
        let reply = app.put_json(&la, "/api/v1/calendar/2026-27", &bad).await;
        let pointers = reply.pointers();
        for expected in [
            "/terms/0/half_term/ends",
            "/terms/1/starts",
            "/terms/2/ends",
            "/closures/0",
        ] {
            assert!(
                pointers.contains(&expected.to_string()),
                "{expected} missing from {pointers:?}: {}",
                reply.text()
            );
        }
        // Nothing was stored.
        app.get(&la, "/api/v1/calendar/2026-27").await.problem(404);
        // Shape errors point at the field.
        let reply = app
            .put_json(
                &la,
                "/api/v1/calendar/2026-27",
                &json!({"terms": [{"name": "autumn", "starts": "3 Sept", "ends": "2026-12-18"}]}),
            )
            .await;
        assert_eq!(reply.pointers(), vec!["/terms/0/starts"]);
        let reply = app
            .put_json(&la, "/api/v1/calendar/2026-27", &json!({"terms": []}))
            .await;
        assert_eq!(reply.pointers(), vec!["/terms"]);
    }
);

on_both_backends!(every_write_is_audited_and_admin_reads_the_trail, |app| {
    let (la_id, la_secret) = app.client(Role::La, &[]);
    let la = app.token_for(&la_id, &la_secret).await;
    let admin = app.token(Role::Admin, &[]).await;
    let body = json!({"name": "Oakfield Primary School", "laestab": "9192001", "phase": "primary"});
    app.put_json(&la, "/api/v1/schools/117001", &body).await;
    app.put_json(&la, "/api/v1/calendar/2026-27", &autumn_spring_summer())
        .await;
    // A refused write leaves no trace of a change.
    app.put_json(
        &la,
        "/api/v1/schools/117002",
        &json!({"name": "", "laestab": "1", "phase": "primary"}),
    )
    .await;

    let trail = app
        .get(&admin, &format!("/api/v1/audit?actor={la_id}"))
        .await;
    assert_eq!(trail.status, 200, "{}", trail.text());
    let items = trail.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{items:?}");
    // Newest first.
    assert_eq!(items[0]["resource_type"], "calendar");
    assert_eq!(items[0]["action"], "create");
    assert_eq!(items[0]["endpoint"], "PUT /api/v1/calendar/{academic_year}");
    assert_eq!(items[1]["resource_type"], "school");
    assert_eq!(items[1]["school_urn"], 117001);
    assert_eq!(items[1]["outcome"], "success");
    assert!(items[1]["correlation_id"].as_str().is_some());

    // Filters and paging.
    let by_school = app
        .get(&admin, "/api/v1/audit?school_urn=117001")
        .await
        .json();
    assert!(by_school["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["school_urn"] == 117001));
    let page = app
        .get(&admin, &format!("/api/v1/audit?actor={la_id}&limit=1"))
        .await
        .json();
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let next = app
        .get(
            &admin,
            &format!("/api/v1/audit?actor={la_id}&limit=1&cursor={cursor}"),
        )
        .await
        .json();
    assert_eq!(next["items"][0]["resource_type"], "school");
    let future = app
        .get(&admin, "/api/v1/audit?from=2099-01-01")
        .await
        .json();
    assert_eq!(future["items"].as_array().unwrap().len(), 0);
    app.get(&admin, "/api/v1/audit?from=2026-12-01&to=2026-11-01")
        .await
        .problem(422);
});

on_both_backends!(demo_seed_is_idempotent_and_readable, |app| {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let first = esma_api::demo::seed(
        app.db(),
        &esma_api::domain::policy::Policy::hertfordshire(),
        today,
    )
    .unwrap();
    let second = esma_api::demo::seed(
        app.db(),
        &esma_api::domain::policy::Policy::hertfordshire(),
        today,
    )
    .unwrap();
    assert_ne!(
        first.la.client_id, second.la.client_id,
        "fresh credentials each start"
    );
    let la = app
        .token_for(&second.la.client_id, &second.la.client_secret)
        .await;
    let ill = esma_api::demo::demo_upn(0, 1);
    let marks = app.get(&la, &format!("/api/v1/pupils/{ill}/marks")).await;
    assert_eq!(marks.status, 200, "{}", marks.text());
    let marks = marks.json();
    // 2026-09-03 to 2026-11-23 on the demo calendar: 53 school days (20 in September, 17 in
    // October before half term, 16 in November), AM and PM, seeded once.
    assert_eq!(marks["marks"].as_array().unwrap().len(), 106);
    assert_eq!(marks["marks"][105]["code"], "I");
    let school = app
        .token_for(&second.school.client_id, &second.school.client_secret)
        .await;
    assert_eq!(
        app.get(&school, &format!("/api/v1/pupils/{ill}"))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(
            &school,
            &format!("/api/v1/pupils/{}", esma_api::demo::demo_upn(1, 1))
        )
        .await
        .status,
        404
    );
    let schools = app.get(&la, "/api/v1/schools").await.json();
    assert_eq!(schools["items"].as_array().unwrap().len(), 2);
    demo_has_its_referrals_case_and_reviews(&app, &la, 2).await;
});

/// What `serve --demo` promises (README): Oakfield's referral accepted into an active case whose
/// reviews fill the worklist, Hillside's ineligible; `seeds` times seeded, still one of each.
async fn demo_has_its_referrals_case_and_reviews(app: &common::TestApp, la: &str, seeds: usize) {
    let referrals = app.get(la, "/api/v1/referrals").await;
    assert_eq!(referrals.status, 200, "{}", referrals.text());
    let referrals = referrals.json();
    let items = referrals["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "seeded {seeds} times: {referrals:#}");
    let oakfield = items.iter().find(|r| r["school_urn"] == 117001).unwrap();
    assert_eq!(oakfield["status"], "accepted", "{oakfield:#}");
    let hillside = items.iter().find(|r| r["school_urn"] == 117002).unwrap();
    assert_eq!(
        hillside["assessment"]["outcome"], "ineligible",
        "{hillside:#}"
    );
    let cases = app.get(la, "/api/v1/cases?status=active").await.json();
    let cases = cases["items"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{cases:#?}");
    assert_eq!(cases[0]["upn"], esma_api::demo::demo_upn(0, 1));
    assert_eq!(cases[0]["referral_id"], oakfield["id"]);
    let reviews = app.get(la, "/api/v1/reviews").await.json();
    let reviews = reviews["items"].as_array().unwrap();
    assert!(
        !reviews.is_empty(),
        "the review worklist has the case's reviews"
    );
    assert!(reviews.iter().all(|r| r["case_id"] == cases[0]["id"]));
}

on_both_backends!(demo_seed_works_early_in_the_autumn_term, |app| {
    // Before the dates the demo once had fixed (evidence of 4 November 2026): on the 9th school
    // day nothing it seeds is dated after today.
    let today = chrono::NaiveDate::from_ymd_opt(2026, 9, 15).unwrap();
    let creds = esma_api::demo::seed(
        app.db(),
        &esma_api::domain::policy::Policy::hertfordshire(),
        today,
    )
    .unwrap();
    let la = app
        .token_for(&creds.la.client_id, &creds.la.client_secret)
        .await;
    let ill = esma_api::demo::demo_upn(0, 1);
    let marks = app
        .get(&la, &format!("/api/v1/pupils/{ill}/marks"))
        .await
        .json();
    let marks = marks["marks"].as_array().unwrap();
    assert_eq!(marks.len(), 18, "3 to 15 September: 9 school days");
    assert!(
        marks.iter().all(|m| m["code"] == "I"),
        "ill since term began"
    );
    demo_has_its_referrals_case_and_reviews(&app, &la, 1).await;
    let referrals = app.get(&la, "/api/v1/referrals").await.json();
    for r in referrals["items"].as_array().unwrap() {
        for e in r["request"]["medical"]["evidence"].as_array().unwrap() {
            assert!(e["issued_on"].as_str().unwrap() <= "2026-09-15", "{e}");
        }
    }
});

on_both_backends!(demo_support_story_fills_the_report, |app| {
    // `serve --demo` on 2026-11-23: Hillside's pupil 4 is four weeks into support (issue 23's
    // demo): an agreed plan revised at a held review, lessons with science slipping.
    let policy = esma_api::domain::policy::Policy::hertfordshire();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let creds = esma_api::demo::seed(app.db(), &policy, today).unwrap();
    esma_api::demo::seed_support(&app.state).await.unwrap();
    esma_api::demo::seed_support(&app.state).await.unwrap();
    let la = app
        .token_for(&creds.la.client_id, &creds.la.client_secret)
        .await;
    let ella = esma_api::demo::demo_upn(1, 4);
    let facts = esma_api::demo::facts(app.db(), today).unwrap();
    assert_eq!(facts.support_pupil, ella);
    let case = facts.support_case_id.expect("the story's case");
    assert_eq!(
        case, 2,
        "after the demo's case 1 (the spec's examples name it)"
    );
    let cases = app.get(&la, "/api/v1/cases?status=active").await.json();
    assert_eq!(
        cases["items"].as_array().unwrap().len(),
        2,
        "seeded twice, one story"
    );

    let report = app.get(&la, &format!("/api/v1/cases/{case}/report")).await;
    assert_eq!(report.status, 200, "{}", report.text());
    let report = report.json();
    assert_eq!(report["subject"]["pupil_name"], "Ella Nowak");
    assert_eq!(
        report["plan"]["version"], 2,
        "agreed, then revised at the review"
    );
    assert_eq!(report["plan"]["status"], "agreed");
    let targets = report["plan"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5, "{targets:#?}");
    assert_eq!(
        targets
            .iter()
            .filter(|t| !t["latest_progress"].is_null())
            .count(),
        4,
        "progress on each target of the agreed version; the new one has none yet"
    );
    let held = report["reviews_held"].as_array().unwrap();
    let meetings: Vec<_> = held.iter().filter(|r| !r["outcome"].is_null()).collect();
    assert_eq!(
        meetings.len(),
        1,
        "one meeting held, with its outcome: {held:#?}"
    );
    assert_eq!(meetings[0]["status"], "held");
    let by_subject = &report["lessons"]["by_subject"];
    let rate = |s: &str| by_subject[s]["all"]["attendance_rate"].as_f64().unwrap();
    let engagement = |s: &str| by_subject[s]["all"]["mean_engagement"].as_f64().unwrap();
    assert!(rate("science") < 70.0 && rate("maths") > 85.0 && rate("english") > 85.0);
    assert!(engagement("science") < engagement("maths").min(engagement("english")));
    assert_eq!(
        report["lessons"]["weeks"].as_array().unwrap().len(),
        4,
        "four school weeks of lessons"
    );
    assert_eq!(report["case"]["support_register_code"], "C2");
    let during = &report["register"]["during_support"]["by_code"];
    assert!(during["C2"].as_i64().unwrap() > 30, "{during}");
    assert!(
        during["/"].as_i64().unwrap() > 0,
        "two mornings in school from the review"
    );

    let page = app
        .get(&la, &format!("/api/v1/cases/{case}/report?format=html"))
        .await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("Ella Nowak") && html.contains("Re-engage with science"));
    // Issue 24's demo: Hillside's pupil 6 on a part-time timetable with a review due, Oakfield's
    // pupil 6 with C2 afternoons and no agreement.
    assert_eq!(facts.part_time_timetable_id, Some(1));
    let agreement = app.get(&la, "/api/v1/part-time-timetables/1").await.json();
    assert_eq!(agreement["upn"], esma_api::demo::demo_upn(1, 6));
    assert_eq!(agreement["status"], "active");
    assert!(agreement["next_review_date"].as_str().unwrap() > "2026-11-23");
    assert_eq!(agreement["reviews_overdue"], serde_json::json!([]));
    let unagreed = esma_api::demo::demo_upn(0, 6);
    let marks = app
        .get(
            &la,
            &format!("/api/v1/pupils/{unagreed}/marks?from=2026-11-17"),
        )
        .await
        .json();
    let c2: Vec<_> = marks["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["code"] == "C2")
        .collect();
    assert_eq!(
        c2.len(),
        5,
        "the four school days before today, and today: {marks:#}"
    );
    // No open review is overdue: the meetings of the four weeks were held.
    let alerts = app
        .get(
            &la,
            &format!("/api/v1/alerts?upn={ella}&kind=review_overdue"),
        )
        .await
        .json();
    assert_eq!(alerts["items"].as_array().unwrap().len(), 0, "{alerts:#}");
    // R15.3 on the demo: Oakfield's pupil 6's C2 is the one without an agreement, and the C2
    // under the case and the agreement never raised one (not even one resolved the day the
    // agreement began, before the day it was raised).
    let c2 = app
        .get(
            &la,
            "/api/v1/alerts?kind=c2_without_agreement&state=all&acknowledged=all",
        )
        .await
        .json();
    let c2 = c2["items"].as_array().unwrap();
    assert_eq!(c2.len(), 1, "{c2:#?}");
    assert_eq!(c2[0]["upn"], unagreed.as_str());
    assert_eq!(c2[0]["state"], "open");
    assert_eq!(c2[0]["facts"]["sessions_count"], 5);
    let all = app
        .get(&la, "/api/v1/alerts?state=all&acknowledged=all&limit=500")
        .await
        .json();
    for alert in all["items"].as_array().unwrap() {
        if let Some(resolved) = alert["resolved_on"].as_str() {
            assert!(
                resolved >= alert["raised_on"].as_str().unwrap(),
                "resolved before it was raised: {alert}"
            );
        }
    }
});
