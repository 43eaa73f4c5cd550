//! The Holistic Reintegration Plan and progress at reviews (API.md "Support delivery"; RULES.md
//! R14.1, R14.2; issue 23), on both backends, on the 2026-27 calendar.

mod common;

use common::{calendar, date, setup, short_referral, Setup, TestApp, OAKFIELD};
use esma_api::clock::Clock;
use esma_api::domain::access::Role;
use serde_json::{json, Value};

/// A calendar and pupil `n`'s referral (this form) accepted from Monday 30 November 2026.
async fn open_case_for(app: &TestApp, s: &Setup, form: &Value) -> i64 {
    app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    let r = app
        .call("POST", &s.oakfield, "/api/v1/referrals", Some(form))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    app.accept_referral(&s.la, r.json()["id"].as_i64().unwrap())
        .await
}

/// A plan with everything R14.1 asks for, and two new targets.
fn full_plan() -> Value {
    json!({
        "status": "agreed",
        "baseline": {"scale": "WTS/EXS/GDS", "english": "WTS", "maths": "WTS", "science": "EXS",
                     "engagement": "online two days in three", "emotional_wellbeing": "anxious"},
        "targets": [
            {"description": "two mornings a week in school", "owner": "school",
             "measure": "register", "by": "2027-02-12"},
            {"description": "weekly maths tasks", "owner": "pupil", "measure": "tasks done"}
        ],
        "pupil_voice": "I want to see my friends",
        "parent_voice": "mornings are hard",
        "reintegration_steps": [{"from": "2027-01-11", "sessions_per_week": 2}]
    })
}

fn plan_uri(case: i64) -> String {
    format!("/api/v1/cases/{case}/plan")
}

fn target_ids(plan: &Value) -> Vec<i64> {
    plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

on_both_backends!(agreeing_a_plan_needs_every_item_r14_1_lists, |app| {
    let s = setup(&app).await;
    let case = open_case_for(&app, &s, &short_referral(1, OAKFIELD)).await;
    // 404 before the first version.
    app.get(&s.la, &plan_uri(case)).await.problem(404);

    // A draft may lack anything.
    let draft = app
        .put_json(&s.la, &plan_uri(case), &json!({"status": "draft"}))
        .await;
    assert_eq!(draft.status, 200, "{}", draft.text());
    assert_eq!(draft.json()["status"], "draft");
    assert_eq!(draft.json()["version"], 1);

    // Agreeing an empty plan: every missing item, each with its pointer.
    let empty = app
        .put_json(&s.la, &plan_uri(case), &json!({"status": "agreed"}))
        .await;
    assert_eq!(
        empty.pointers(),
        [
            "/baseline/emotional_wellbeing",
            "/baseline/engagement",
            "/baseline/english",
            "/baseline/maths",
            "/baseline/scale",
            "/baseline/science",
            "/pupil_voice",
            "/targets",
        ]
    );
    // Each item alone: blank text counts as missing; the parent's voice and the steps are not
    // required to agree.
    for (pointer, path) in [
        ("/targets", vec!["targets"]),
        ("/pupil_voice", vec!["pupil_voice"]),
        ("/baseline/english", vec!["baseline", "english"]),
        ("/baseline/maths", vec!["baseline", "maths"]),
        ("/baseline/science", vec!["baseline", "science"]),
        ("/baseline/engagement", vec!["baseline", "engagement"]),
        (
            "/baseline/emotional_wellbeing",
            vec!["baseline", "emotional_wellbeing"],
        ),
        ("/baseline/scale", vec!["baseline", "scale"]),
    ] {
        let mut plan = full_plan();
        let parent = path[..path.len() - 1]
            .iter()
            .fold(&mut plan, |v, k| &mut v[*k]);
        let last = path[path.len() - 1];
        if last == "targets" {
            parent[last] = json!([]);
        } else {
            parent[last] = json!("  ");
        }
        let r = app.put_json(&s.la, &plan_uri(case), &plan).await;
        assert_eq!(r.pointers(), [pointer], "{}", r.text());
    }
    let mut plan = full_plan();
    plan.as_object_mut().unwrap().remove("parent_voice");
    plan.as_object_mut().unwrap().remove("reintegration_steps");
    let agreed = app.put_json(&s.la, &plan_uri(case), &plan).await;
    assert_eq!(agreed.status, 200, "{}", agreed.text());
    assert_eq!(agreed.json()["status"], "agreed");
    assert_eq!(agreed.json()["version"], 2, "refusals store nothing");

    // Bad shapes are refused with their pointer, not stored.
    let mut plan = full_plan();
    plan["targets"][0]["owner"] = json!("teacher");
    app.put_json(&s.la, &plan_uri(case), &plan)
        .await
        .problem(422);
    plan = full_plan();
    plan["reintegration_steps"][0]["sessions_per_week"] = json!(11);
    assert_eq!(
        app.put_json(&s.la, &plan_uri(case), &plan).await.pointers(),
        ["/reintegration_steps/0/sessions_per_week"]
    );
});

on_both_backends!(a_funded_pupil_s_plan_says_how_the_funding_is_used, |app| {
    let s = setup(&app).await;
    let mut form = short_referral(2, OAKFIELD);
    form["funding"] = json!({"ehcp": true, "statement": "EHCP funds a teaching assistant"});
    let case = open_case_for(&app, &s, &form).await;
    let r = app.put_json(&s.la, &plan_uri(case), &full_plan()).await;
    assert_eq!(r.pointers(), ["/funding_statement"]);
    let mut plan = full_plan();
    plan["funding_statement"] = json!("the EHCP funds a TA for the return mornings");
    let r = app.put_json(&s.oakfield, &plan_uri(case), &plan).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["funding_statement"],
        "the EHCP funds a TA for the return mornings"
    );

    // Without EHCP, high-needs funding or pupil premium, no statement is needed.
    let other = open_case_for(&app, &s, &short_referral(3, OAKFIELD)).await;
    let r = app.put_json(&s.la, &plan_uri(other), &full_plan()).await;
    assert_eq!(r.status, 200, "{}", r.text());
});

on_both_backends!(every_change_is_a_version_and_target_ids_are_kept, |app| {
    let s = setup(&app).await;
    let case = open_case_for(&app, &s, &short_referral(1, OAKFIELD)).await;
    let mut plan = full_plan();
    plan["status"] = json!("draft");
    let v1 = app.put_json(&s.la, &plan_uri(case), &plan).await.json();
    assert_eq!(target_ids(&v1), [1, 2]);

    // Target 2 kept (reworded), target 1 dropped from the plan, one new: it gets a fresh id.
    let mut next = full_plan();
    next["targets"] = json!([
        {"id": 2, "description": "daily maths tasks", "owner": "pupil", "measure": "tasks done"},
        {"description": "see the school nurse weekly", "owner": "health", "measure": "visits"}
    ]);
    let v2 = app.put_json(&s.la, &plan_uri(case), &next).await;
    assert_eq!(v2.status, 200, "{}", v2.text());
    let v2 = v2.json();
    assert_eq!(v2["version"], 2);
    assert_eq!(target_ids(&v2), [2, 3]);
    assert_eq!(v2["targets"][0]["description"], "daily maths tasks");

    // The same plan again stores nothing (a retried PUT adds no version).
    let mut again = next.clone();
    again["targets"][1]["id"] = json!(3);
    let same = app.put_json(&s.la, &plan_uri(case), &again).await.json();
    assert_eq!(same["version"], 2);

    // An id the plan never had is refused.
    let mut bad = full_plan();
    bad["targets"][0]["id"] = json!(9);
    assert_eq!(
        app.put_json(&s.la, &plan_uri(case), &bad).await.pointers(),
        ["/targets/0/id"]
    );

    // Old versions stay readable as they were.
    let versions = app
        .get(&s.oakfield, &format!("{}/versions", plan_uri(case)))
        .await;
    assert_eq!(versions.status, 200, "{}", versions.text());
    let versions = versions.json();
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let old = app
        .get(&s.la, &format!("{}/versions/1", plan_uri(case)))
        .await
        .json();
    assert_eq!(old["status"], "draft");
    assert_eq!(old["targets"][1]["description"], "weekly maths tasks");
    let now = app.get(&s.la, &plan_uri(case)).await.json();
    assert_eq!(now["version"], 2);
    app.get(&s.la, &format!("{}/versions/3", plan_uri(case)))
        .await
        .problem(404);

    // The change feed shows each new version on the case.
    let feed = app.get(&s.la, "/api/v1/changes?limit=500").await.json();
    let plan_changes = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "plan_updated" && c["resource_id"] == case)
        .count();
    assert_eq!(plan_changes, 2, "{feed:#}");
});

on_both_backends!(only_the_la_and_the_case_s_school_see_the_plan, |app| {
    let s = setup(&app).await;
    let case = open_case_for(&app, &s, &short_referral(1, OAKFIELD)).await;
    let r = app
        .put_json(&s.oakfield, &plan_uri(case), &full_plan())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        app.get(&s.oakfield, &plan_uri(case)).await.json()["version"],
        1
    );
    // Another school: no such case, for reads and writes alike; nothing changes.
    app.get(&s.hillside, &plan_uri(case)).await.problem(404);
    app.get(&s.hillside, &format!("{}/versions", plan_uri(case)))
        .await
        .problem(404);
    app.put_json(&s.hillside, &plan_uri(case), &json!({"status": "draft"}))
        .await
        .problem(404);
    assert_eq!(app.get(&s.la, &plan_uri(case)).await.json()["version"], 1);
    let admin = app.token(Role::Admin, &[]).await;
    app.get(&admin, &plan_uri(case)).await.problem(403);

    // Audited: the writes, the reads and the refusal, as the case's.
    let trail = app.get(&admin, "/api/v1/audit?limit=500").await.json();
    let case_id = case.to_string();
    let rows: Vec<(String, String)> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_type"] == "case" && e["resource_id"] == case_id.as_str())
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for wanted in [
        ("update", "success"),
        ("read", "success"),
        ("read", "not_found"),
        ("update", "not_found"),
    ] {
        assert!(
            rows.iter().any(|(a, o)| (a.as_str(), o.as_str()) == wanted),
            "{wanted:?} in {rows:?}"
        );
    }
});

on_both_backends!(
    a_review_records_progress_on_every_target_of_the_agreed_plan,
    |app| {
        let s = setup(&app).await;
        let case = open_case_for(&app, &s, &short_referral(1, OAKFIELD)).await;
        let reviews = app
            .get(&s.la, &format!("/api/v1/cases/{case}/reviews"))
            .await
            .json();
        let meetings: Vec<&Value> = reviews
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "review_meeting")
            .collect();
        let review_uri = |r: &Value| format!("/api/v1/cases/{case}/reviews/{}", r["id"]);
        let mut app = app;
        app.state.clock = Clock::fixed(date("2027-03-26"));

        // Without a plan, an outcome is recorded as before and answers with no plan.
        let first = app
            .call(
                "PATCH",
                &s.oakfield,
                &review_uri(meetings[0]),
                Some(&json!({"outcome": {"held_on": "2027-01-26"}})),
            )
            .await;
        assert_eq!(first.status, 200, "{}", first.text());
        assert_eq!(first.json()["status"], "held");
        assert_eq!(first.json()["plan"], Value::Null);

        // A draft plan asks for no progress; an agreed one does.
        let agreed = app
            .put_json(&s.la, &plan_uri(case), &full_plan())
            .await
            .json();
        assert_eq!(target_ids(&agreed), [1, 2]);
        let uri = review_uri(meetings[1]);
        let held = json!({"held_on": "2027-03-05", "attendees": ["Parent", "SENDCo"]});
        let missing = app
            .call("PATCH", &s.oakfield, &uri, Some(&json!({"outcome": held})))
            .await;
        assert_eq!(missing.pointers(), ["/target_progress"]);
        let detail = missing.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(detail.contains("1, 2"), "{detail}");

        // Revised and dropped need a note; unknown targets are refused; nothing is recorded.
        let r = app
            .call(
                "PATCH",
                &s.oakfield,
                &uri,
                Some(&json!({"outcome": held, "target_progress": [
                    {"target_id": 1, "progress": "revised"},
                    {"target_id": 2, "progress": "dropped", "note": " "},
                    {"target_id": 7, "progress": "achieved"}
                ]})),
            )
            .await;
        assert_eq!(
            r.pointers(),
            [
                "/target_progress/0/note",
                "/target_progress/1/note",
                "/target_progress/2/target_id"
            ]
        );
        app.call(
            "PATCH",
            &s.oakfield,
            &uri,
            Some(&json!({"outcome": held, "target_progress": [
            {"target_id": 1, "progress": "finished"}, {"target_id": 2, "progress": "achieved"}]})),
        )
        .await
        .problem(422);
        // Progress goes with an outcome.
        assert_eq!(
            app.call(
                "PATCH",
                &s.la,
                &uri,
                Some(&json!({"scheduled_for": "2027-03-09",
            "target_progress": [{"target_id": 1, "progress": "achieved"}]}))
            )
            .await
            .pointers(),
            ["/outcome"]
        );
        // A revised plan is checked like a PUT.
        let r = app
            .call(
                "PATCH",
                &s.oakfield,
                &uri,
                Some(&json!({"outcome": held, "target_progress": [
            {"target_id": 1, "progress": "achieved"}, {"target_id": 2, "progress": "in_progress"}],
            "revised_plan": {"status": "agreed", "targets": []}})),
            )
            .await;
        assert!(
            r.pointers()
                .contains(&"/revised_plan/pupil_voice".to_string()),
            "{}",
            r.text()
        );
        assert_eq!(
            app.get(&s.la, &plan_uri(case)).await.json()["version"],
            1,
            "a refused review stores no version"
        );

        // Recorded: progress for each target, a revised plan linked to the review, the plan as it
        // now stands in the answer.
        let mut revised = full_plan();
        revised["targets"] = json!([
            {"id": 2, "description": "daily maths tasks", "owner": "pupil", "measure": "tasks done"},
            {"description": "three mornings a week", "owner": "school", "measure": "register"}
        ]);
        let done = app
            .call(
                "PATCH",
                &s.oakfield,
                &uri,
                Some(&json!({"outcome": held, "target_progress": [
            {"target_id": 1, "progress": "achieved"},
            {"target_id": 2, "progress": "revised", "note": "weekly was too easy"}],
            "revised_plan": revised})),
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.text());
        let done = done.json();
        assert_eq!(done["status"], "held");
        assert_eq!(done["target_progress"].as_array().unwrap().len(), 2);
        assert_eq!(done["target_progress"][1]["note"], "weekly was too easy");
        assert_eq!(done["plan"]["version"], 2);
        assert_eq!(done["plan"]["review_id"], meetings[1]["id"]);
        assert_eq!(target_ids(&done["plan"]), [2, 3]);
        assert_eq!(
            done["plan"]["targets"][0]["latest_progress"]["progress"],
            "revised"
        );
        assert_eq!(done["plan"]["targets"][1]["latest_progress"], Value::Null);

        // The plan shows its targets' latest progress; version 1 shows target 1 achieved.
        let v1 = app
            .get(&s.la, &format!("{}/versions/1", plan_uri(case)))
            .await
            .json();
        assert_eq!(v1["targets"][0]["latest_progress"]["progress"], "achieved");
        assert_eq!(
            v1["targets"][0]["latest_progress"]["review_id"],
            meetings[1]["id"]
        );

        // The review shows the progress it recorded.
        let listed = app
            .get(&s.oakfield, &format!("/api/v1/cases/{case}/reviews"))
            .await
            .json();
        let listed = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == meetings[1]["id"])
            .unwrap()
            .clone();
        assert_eq!(
            listed["target_progress"][0]["progress"], "achieved",
            "{listed:#}"
        );
        assert_eq!(listed["target_progress"][1]["target_id"], 2);

        // The next review needs progress on the revised plan's targets, 2 and 3.
        let next = app
            .call(
                "PATCH",
                &s.la,
                &review_uri(meetings[2]),
                Some(
                    &json!({"outcome": {"held_on": "2027-03-25"}, "target_progress": [
                  {"target_id": 1, "progress": "achieved"}]}),
                ),
            )
            .await;
        let messages = next.problem(422)["errors"].to_string();
        assert!(messages.contains("target 1 is not a target"), "{messages}");
        assert!(messages.contains("2, 3"), "{messages}");
    }
);
