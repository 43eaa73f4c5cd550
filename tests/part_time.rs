//! Part-time timetable agreements (API.md "Part-time timetables"; RULES.md R15.1, R15.2; issue
//! 24), on both backends, on the 2026-27 calendar with today Monday 23 November 2026.

mod common;

use common::{calendar, setup, upn, Setup, TestApp, HILLSIDE, OAKFIELD};
use esma_api::domain::access::Role;
use serde_json::{json, Value};

async fn with_calendar(app: &TestApp) -> Setup {
    let s = setup(app).await;
    let r = app
        .put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    s
}

/// Pupil `n` of Oakfield in school every morning and two afternoons from today (the first review
/// on the 30th school day after the start, 19 January 2027), to Friday 12 February 2027.
fn agreement(n: u32) -> Value {
    json!({
        "upn": upn(n), "start_date": "2026-11-23", "end_date": "2027-02-12",
        "pattern": {"monday": ["AM"], "tuesday": ["AM", "PM"], "wednesday": ["AM"],
                    "thursday": ["AM", "PM"], "friday": ["AM"]},
        "reason": "health", "parent_agreed_on": "2026-11-20",
        "ambition": "Full time by February half term",
        "plan_reference": "IHCP, November 2026",
        "review_dates": ["2027-01-19", "2027-02-12"]
    })
}

async fn create(app: &TestApp, token: &str, urn: i64, body: &Value) -> common::Reply {
    app.call(
        "POST",
        token,
        &format!("/api/v1/schools/{urn}/part-time-timetables"),
        Some(body),
    )
    .await
}

on_both_backends!(a_school_records_reads_and_lists_its_agreements, |app| {
    let s = with_calendar(&app).await;
    let r = create(&app, &s.oakfield, OAKFIELD, &agreement(1)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let made = r.json();
    let id = made["id"].as_i64().unwrap();
    assert_eq!(
        r.header("location").unwrap(),
        format!("/api/v1/part-time-timetables/{id}")
    );
    assert_eq!(made["status"], "active");
    assert_eq!(made["sessions_in_school_per_week"], 7);
    assert_eq!(made["next_review_date"], "2027-01-19");
    assert_eq!(made["span_school_days"], 49);
    assert_eq!(made["prolonged"], false);
    assert_eq!(made["end_dates"].as_array().unwrap().len(), 1);

    let read = app
        .get(&s.oakfield, &format!("/api/v1/part-time-timetables/{id}"))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["ambition"], "Full time by February half term");
    assert_eq!(
        app.get(&s.la, &format!("/api/v1/part-time-timetables/{id}"))
            .await
            .status,
        200
    );
    // Another school neither sees nor writes it.
    app.get(&s.hillside, &format!("/api/v1/part-time-timetables/{id}"))
        .await
        .problem(404);
    app.call(
        "PATCH",
        &s.hillside,
        &format!("/api/v1/part-time-timetables/{id}"),
        Some(&json!({"end_date": "2027-02-19"})),
    )
    .await
    .problem(404);
    create(&app, &s.hillside, OAKFIELD, &agreement(2))
        .await
        .problem(403);
    app.get(&s.hillside, "/api/v1/schools/117001/part-time-timetables")
        .await
        .problem(404);

    let list = app
        .get(
            &s.oakfield,
            &format!(
                "/api/v1/schools/117001/part-time-timetables?status=active&upn={}",
                upn(1)
            ),
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 1);
    let ended = app
        .get(
            &s.la,
            "/api/v1/schools/117001/part-time-timetables?status=ended",
        )
        .await
        .json();
    assert_eq!(ended["items"].as_array().unwrap().len(), 0);
    app.get(
        &s.la,
        "/api/v1/schools/117001/part-time-timetables?status=over",
    )
    .await
    .problem(422);

    // Every read and write of it is audited.
    let admin = app.token(Role::Admin, &[]).await;
    let audit = app.get(&admin, "/api/v1/audit?limit=500").await.json();
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["resource_type"] == "part_time_timetable"
                && e["resource_id"].as_str() == Some(id.to_string().as_str())
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for wanted in [
        ("create", "success"),
        ("read", "success"),
        ("read", "not_found"),
    ] {
        assert!(
            actions.contains(&(wanted.0.to_string(), wanted.1.to_string())),
            "{wanted:?} in {actions:?}"
        );
    }
});

on_both_backends!(
    each_condition_of_the_guidance_is_refused_in_its_words,
    |app| {
        let s = with_calendar(&app).await;
        let refused = |body: Value| {
            let app = &app;
            let token = s.oakfield.clone();
            async move { create(app, &token, OAKFIELD, &body).await.problem(422) }
        };
        let mut b = agreement(1);
        b["reason"] = json!("behaviour");
        let p = refused(b).await;
        assert_eq!(p["errors"][0]["pointer"], "/reason");
        assert!(p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("should not be used to manage a student's behaviour"));

        let mut b = agreement(1);
        b.as_object_mut().unwrap().remove("end_date");
        b.as_object_mut().unwrap().remove("parent_agreed_on");
        let p = refused(b).await;
        let pointers: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert_eq!(pointers, vec!["/end_date", "/parent_agreed_on"]);

        // The first review at the 31st school day after the start is refused, the 30th accepted.
        let mut b = agreement(1);
        b["review_dates"] = json!(["2027-01-20", "2027-02-12"]);
        let p = refused(b).await;
        assert_eq!(p["errors"][0]["pointer"], "/review_dates/0");
        assert!(p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("31 school days"));

        let mut b = agreement(1);
        b["pattern"] = json!({"monday": ["AM", "PM"], "tuesday": ["AM", "PM"], "wednesday": ["AM", "PM"],
                          "thursday": ["AM", "PM"], "friday": ["PM", "AM"]});
        b["plan_reference"] = json!(null);
        b["ambition"] = json!("");
        b["has_social_worker"] = json!(true);
        let p = refused(b).await;
        let pointers: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        for pointer in [
            "/ambition",
            "/pattern",
            "/plan_reference",
            "/social_worker_informed",
        ] {
            assert!(pointers.contains(&pointer), "{pointer} in {pointers:?}");
        }

        // Not on this school's roll (pupil 6 is Hillside's).
        let p = refused(agreement(6)).await;
        assert_eq!(p["errors"][0]["pointer"], "/upn");

        // A case that is not this pupil's.
        let mut b = agreement(1);
        b["case_id"] = json!(999);
        let p = refused(b).await;
        assert_eq!(p["errors"][0]["pointer"], "/case_id");

        // One agreement at a time: the second overlaps the first.
        let r = create(&app, &s.oakfield, OAKFIELD, &agreement(1)).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let p = refused(agreement(1)).await;
        assert!(p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("overlaps part-time timetable"));
        // Nothing refused was kept.
        let list = app
            .get(&s.la, "/api/v1/schools/117001/part-time-timetables")
            .await
            .json();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        // The LA records one for a Hillside pupil too.
        let r = create(&app, &s.la, HILLSIDE, &agreement(6)).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
);

on_both_backends!(reviews_extend_it_and_the_end_dates_are_kept, |app| {
    let s = with_calendar(&app).await;
    let la = s.la.clone();
    let mut subscription = app
        .call(
            "POST",
            &la,
            "/api/v1/webhooks",
            Some(&json!({"url": "https://portal.example.org/hooks",
                          "events": ["part_time_timetable.agreed", "part_time_timetable.extended",
                                     "part_time_timetable.reviewed"]})),
        )
        .await;
    assert_eq!(subscription.status, 201, "{}", subscription.text());
    let hook = subscription.json()["id"].as_i64().unwrap();
    subscription = create(&app, &s.oakfield, OAKFIELD, &agreement(1)).await;
    let id = subscription.json()["id"].as_i64().unwrap();
    let reviews = format!("/api/v1/part-time-timetables/{id}/reviews");

    // The pupil and a parent must be there.
    let p = app
        .call(
            "POST",
            &s.oakfield,
            &reviews,
            Some(&json!({"held_on": "2026-11-23", "attendees": [{"role": "school"}, {"role": "pupil"}]})),
        )
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/attendees");
    app.call(
        "POST",
        &s.oakfield,
        &reviews,
        Some(
            &json!({"held_on": "2026-11-24", "attendees": [{"role": "parent"}, {"role": "pupil"}]}),
        ),
    )
    .await
    .problem(422);

    // Held today, extending to 12 March 2027: 64 school days in all, prolonged (over 60).
    let r = app
        .call(
            "POST",
            &s.oakfield,
            &reviews,
            Some(&json!({"held_on": "2026-11-23", "attendees": [{"role": "parent", "name": "Mrs Test"}, {"role": "pupil"}],
                          "notes": "Going well", "new_end_date": "2027-03-12",
                          "add_review_dates": ["2027-03-05"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let t = r.json();
    assert_eq!(t["end_date"], "2027-03-12");
    assert_eq!(t["reviews"].as_array().unwrap().len(), 1);
    assert_eq!(t["next_review_date"], "2027-02-12", "the first date is met");
    assert_eq!(t["span_school_days"], 64);
    assert_eq!(t["prolonged"], true);
    let ends = t["end_dates"].as_array().unwrap();
    assert_eq!(ends.len(), 2);
    assert_eq!(ends[0]["end_date"], "2027-02-12");
    assert_eq!(ends[1]["end_date"], "2027-03-12");
    assert_eq!(ends[1]["review_id"], t["reviews"][0]["id"]);

    // A PATCH brings it forward; the same PATCH again changes nothing.
    let patch = json!({"end_date": "2027-03-05"});
    let url = format!("/api/v1/part-time-timetables/{id}");
    let r = app.call("PATCH", &s.oakfield, &url, Some(&patch)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["end_dates"].as_array().unwrap().len(), 3);
    let r = app.call("PATCH", &s.oakfield, &url, Some(&patch)).await;
    assert_eq!(r.json()["end_dates"].as_array().unwrap().len(), 3);
    // Ending before a review date it still has is refused, with the date's pointer.
    let p = app
        .call(
            "PATCH",
            &s.oakfield,
            &url,
            Some(&json!({"end_date": "2027-02-26"})),
        )
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/review_dates/2");

    // The change feed and the webhooks told the LA's systems.
    let feed = app
        .get(&la, "/api/v1/changes?since=0&limit=100")
        .await
        .json();
    let actions: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["resource_type"] == "part_time_timetable")
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["created", "held", "updated"]);
    let deliveries = app
        .get(&la, &format!("/api/v1/webhooks/{hook}/deliveries"))
        .await
        .json();
    let mut events: Vec<&str> = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    events.sort();
    assert_eq!(
        events,
        vec![
            "part_time_timetable.agreed",
            "part_time_timetable.extended",
            "part_time_timetable.reviewed"
        ]
    );
});

on_both_backends!(
    a_referral_on_a_reduced_timetable_links_to_the_agreement,
    |app| {
        let s = with_calendar(&app).await;
        let missing_items = |assessment: &Value| -> Vec<String> {
            assessment["missing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["item"].as_str().unwrap().to_string())
                .collect()
        };
        // Pupil 2 is on a reduced timetable with no agreement recorded: R9 asks for the plan.
        let mut form = common::short_referral(2, OAKFIELD);
        form["absence"]["reduced_timetable"] = json!(true);
        let r = app
            .call("POST", &s.oakfield, "/api/v1/referrals", Some(&form))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let without = r.json();
        assert!(missing_items(&without["assessment"]).contains(&"reintegration_plan".to_string()));
        assert_eq!(
            without["assessment"]["facts"]["part_time_timetables"],
            json!([])
        );

        // Pupil 1's agreement names its plan: the item is met, and the facts show the agreement.
        let made = create(&app, &s.oakfield, OAKFIELD, &agreement(1))
            .await
            .json();
        let mut form = common::short_referral(1, OAKFIELD);
        form["absence"]["reduced_timetable"] = json!(true);
        let r = app
            .call("POST", &s.oakfield, "/api/v1/referrals", Some(&form))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let with = r.json();
        assert!(
            !missing_items(&with["assessment"]).contains(&"reintegration_plan".to_string()),
            "{:#}",
            with["assessment"]["missing"]
        );
        let facts = &with["assessment"]["facts"]["part_time_timetables"];
        assert_eq!(facts[0]["part_time_timetable_id"], made["id"]);
        assert_eq!(facts[0]["plan"], "IHCP, November 2026");
        assert_eq!(facts[0]["end_date"], "2027-02-12");
    }
);
