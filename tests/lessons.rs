//! ESMA lessons (API.md "Support delivery"; RULES.md R14.3-R14.5; issue 23 items 3 and 4), on
//! both backends, on the 2026-27 calendar. Cases start on Monday 30 November 2026; the tests
//! read the service as on Friday 18 December.

mod common;

use actix_web::test::TestRequest;
use common::{calendar, date, setup, short_referral, Reply, Setup, TestApp, OAKFIELD};
use esma_api::clock::Clock;
use esma_api::domain::access::Role;
use serde_json::{json, Value};

/// A calendar, and a referral for pupil `n` of Oakfield accepted from Monday 30 November with
/// teaching `venue`; returns the case id.
async fn open_case(app: &TestApp, s: &Setup, n: u32, venue: &str) -> i64 {
    let r = app
        .call(
            "POST",
            &s.oakfield,
            "/api/v1/referrals",
            Some(&short_referral(n, OAKFIELD)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let mut decision = json!({"outcome": "accepted", "start_date": "2026-11-30",
        "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": venue}],
        "decided_by": "J. Smith"});
    if venue == "home" {
        decision["risk_assessment_completed"] = json!(true);
    }
    let r = app
        .call(
            "POST",
            &s.la,
            &format!("/api/v1/referrals/{id}/decision"),
            Some(&decision),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["case"]["id"].as_i64().unwrap()
}

/// Two schools, the LA's calendar, one online case (pupil 1); the clock on 18 December.
async fn start(app: TestApp) -> (TestApp, Setup, i64) {
    let (app, s, cases) = start_with(app, &["online"]).await;
    (app, s, cases[0])
}

/// As [`start`], with a case of pupil 1, 2, ... for each of these venues.
async fn start_with(app: TestApp, venues: &[&str]) -> (TestApp, Setup, Vec<i64>) {
    let s = setup(&app).await;
    let r = app
        .put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    let mut cases = Vec::new();
    for (n, venue) in venues.iter().enumerate() {
        cases.push(open_case(&app, &s, n as u32 + 1, venue).await);
    }
    let mut app = app;
    app.state.clock = Clock::fixed(date("2026-12-18"));
    (app, s, cases)
}

fn lesson(case: i64, date: &str, attendance: &str) -> Value {
    let attended = matches!(attendance, "attended" | "late");
    json!({"case_id": case, "date": date, "start_time": "10:30", "subject": "maths",
           "mode": "online_one_to_one", "planned_minutes": 60, "attendance": attendance,
           "minutes_late": if attendance == "late" { json!(10) } else { Value::Null },
           "engagement": if attended { json!(3) } else { Value::Null }})
}

fn with(mut lesson: Value, field: &str, value: Value) -> Value {
    lesson[field] = value;
    lesson
}

async fn push(app: &TestApp, token: &str, lessons: &[Value]) -> Reply {
    app.call(
        "POST",
        token,
        "/api/v1/lessons",
        Some(&json!({ "lessons": lessons })),
    )
    .await
}

async fn post_body(
    app: &TestApp,
    token: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: impl Into<actix_web::web::Bytes>,
) -> Reply {
    let mut req = TestRequest::post()
        .uri("/api/v1/lessons")
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", content_type));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    app.send(req.set_payload(body)).await
}

/// The reasons of a report's refused rows, by row.
fn reasons(report: &Value) -> Vec<(u64, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

on_both_backends!(r14_3_each_row_rule_and_boundary, |app| {
    let (app, s, case) = start(app).await;
    let ok = lesson(case, "2026-12-01", "attended");
    let rows = [
        with(ok.clone(), "planned_minutes", json!(0)),
        with(ok.clone(), "planned_minutes", json!(1)),
        with(
            lesson(case, "2026-12-02", "attended"),
            "planned_minutes",
            json!(240),
        ),
        with(ok.clone(), "planned_minutes", json!(241)),
        with(ok.clone(), "engagement", Value::Null),
        with(
            lesson(case, "2026-12-03", "absent_unauthorised"),
            "engagement",
            json!(2),
        ),
        lesson(case, "2026-11-27", "attended"),
        lesson(case, "2026-12-05", "attended"),
        lesson(case, "2026-12-21", "attended"),
        with(ok.clone(), "start_time", json!("9:30")),
        with(ok.clone(), "subject", json!("Maths")),
        with(ok.clone(), "mode", json!("home")),
        with(ok.clone(), "attendance", json!("present")),
        with(ok.clone(), "minutes_late", json!(5)),
        with(ok.clone(), "case_id", json!(999)),
        lesson(case, "2026-12-04", "absent_unauthorised"),
    ];
    let r = push(&app, &s.la, &rows).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["kind"], "lessons");
    assert!(report.get("school_urn").is_none(), "{report}");
    let expected: Vec<(u64, String)> = [
        (1, "invalid_planned_minutes"),
        (4, "invalid_planned_minutes"),
        (5, "invalid_engagement"),
        (6, "invalid_engagement"),
        (7, "before_case_start"),
        (8, "not_a_school_day"),
        (9, "date_in_future"),
        (10, "invalid_start_time"),
        (11, "invalid_subject"),
        (12, "no_risk_assessment"),
        (13, "invalid_attendance"),
        (14, "invalid_minutes_late"),
        (15, "unknown_case"),
    ]
    .iter()
    .map(|(row, reason)| (*row, reason.to_string()))
    .collect();
    assert_eq!(reasons(&report), expected, "{report}");
    assert_eq!(report["inserted"], 3, "{report}");
    assert_eq!(report["rejected_by_reason"]["invalid_planned_minutes"], 2);
    assert_eq!(report["errors"][0]["pointer"], "/lessons/0/planned_minutes");
});

on_both_backends!(
    r14_3_home_lessons_need_the_home_teaching_risk_assessment,
    |app| {
        let (app, s, cases) = start_with(app, &["online", "home"]).await;
        let (online, home) = (cases[0], cases[1]);
        let r = push(
            &app,
            &s.la,
            &[
                with(
                    lesson(home, "2026-12-01", "attended"),
                    "mode",
                    json!("home"),
                ),
                with(
                    lesson(online, "2026-12-01", "attended"),
                    "mode",
                    json!("home"),
                ),
            ],
        )
        .await;
        let report = r.json();
        assert_eq!(report["inserted"], 1, "{report}");
        assert_eq!(reasons(&report), [(2, "no_risk_assessment".to_string())]);
    }
);

on_both_backends!(
    r14_3_a_re_push_is_unchanged_and_a_change_is_updated,
    |app| {
        let (app, s, case) = start(app).await;
        let week = ["2026-11-30", "2026-12-01", "2026-12-02"].map(|d| lesson(case, d, "attended"));
        let first = push(&app, &s.la, &week).await.json();
        assert_eq!(
            (first["inserted"].as_u64(), first["updated"].as_u64()),
            (Some(3), Some(0))
        );
        let again = push(&app, &s.la, &week).await.json();
        assert_eq!(
            (
                again["inserted"].as_u64(),
                again["updated"].as_u64(),
                again["unchanged"].as_u64()
            ),
            (Some(0), Some(0), Some(3)),
            "{again}"
        );
        let mut corrected = week.clone();
        corrected[1] = lesson(case, "2026-12-01", "absent_unauthorised");
        let third = push(&app, &s.la, &corrected).await.json();
        assert_eq!(
            (
                third["inserted"].as_u64(),
                third["updated"].as_u64(),
                third["unchanged"].as_u64()
            ),
            (Some(0), Some(1), Some(2)),
            "{third}"
        );
        // The same lesson twice in one push, differently: the second is refused.
        let twice = push(
            &app,
            &s.la,
            &[
                lesson(case, "2026-12-03", "attended"),
                lesson(case, "2026-12-03", "absent_authorised"),
            ],
        )
        .await
        .json();
        assert_eq!(reasons(&twice), [(2, "duplicate_in_push".to_string())]);
    }
);

on_both_backends!(r14_3_a_lesson_after_the_exit_is_refused, |app| {
    let (app, s, case) = start(app).await;
    let r = app
        .call(
            "POST",
            &s.la,
            &format!("/api/v1/cases/{case}/exit"),
            Some(
                &json!({"reason": "reintegrated", "effective_date": "2026-12-09",
                         "notes": "Back in school", "decided_by": "J. Smith"}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = push(
        &app,
        &s.la,
        &[
            lesson(case, "2026-12-09", "attended"),
            lesson(case, "2026-12-10", "attended"),
        ],
    )
    .await
    .json();
    assert_eq!(
        report["inserted"], 1,
        "the exit's effective date is the last day: {report}"
    );
    assert_eq!(reasons(&report), [(2, "after_case_exit".to_string())]);
});

on_both_backends!(lesson_push_is_the_las_alone, |app| {
    let (app, s, case) = start(app).await;
    let r = push(&app, &s.oakfield, &[lesson(case, "2026-12-01", "attended")]).await;
    r.problem(403);
    let r = push(&app, &s.la, &[lesson(case, "2026-12-01", "attended")]).await;
    let id = r.json()["import_id"].as_i64().unwrap();
    // The report names no school: only the LA reads it back.
    let read = app.get(&s.la, &format!("/api/v1/imports/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json()["kind"], "lessons");
    app.get(&s.oakfield, &format!("/api/v1/imports/{id}"))
        .await
        .problem(404);
});

on_both_backends!(csv_gzip_idempotency_and_audit, |app| {
    let (app, s, case) = start(app).await;
    let csv = format!(
        "case_id,date,start_time,subject,mode,planned_minutes,attendance,minutes_late,engagement,teacher,note\n\
         {case},2026-12-01,10:30,maths,online_group,60,late,15,2,A. Teacher,Camera off\n\
         {case},2026-12-01,13:00,english,online_group,45,absent_unauthorised,,,A. Teacher,\n\
         {case},2026-12-02,13:00,english,online_group,sixty,attended,,3,,\n"
    );
    let r = post_body(
        &app,
        &s.la,
        "text/csv",
        &[("idempotency-key", "night-1")],
        csv.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["inserted"], 2, "{report}");
    assert_eq!(
        reasons(&report),
        [(3, "invalid_planned_minutes".to_string())]
    );
    assert!(
        report["errors"][0].get("pointer").is_none(),
        "CSV rows have no pointer"
    );

    // The retry with the same key and body: the stored report, nothing written again.
    let replay = post_body(
        &app,
        &s.la,
        "text/csv",
        &[("idempotency-key", "night-1")],
        csv.clone(),
    )
    .await;
    assert_eq!(replay.status, 200);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.json()["import_id"], report["import_id"]);
    // The same key with another body is 409.
    let other = post_body(
        &app,
        &s.la,
        "text/csv",
        &[("idempotency-key", "night-1")],
        csv.replace("15", "20"),
    )
    .await;
    other.problem(409);

    // The same CSV gzipped, without a key: all unchanged but the refused row.
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).unwrap();
    let r = post_body(
        &app,
        &s.la,
        "text/csv",
        &[("content-encoding", "gzip")],
        gz.finish().unwrap(),
    )
    .await;
    let report = r.json();
    assert_eq!(
        (report["unchanged"].as_u64(), report["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{report}"
    );

    // Each push is audited as the LA's import of a lesson push.
    let admin = app.token(Role::Admin, &[]).await;
    let trail = app.get(&admin, "/api/v1/audit?action=import").await.json();
    let items: Vec<&Value> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_type"] == "lesson_import")
        .collect();
    assert_eq!(items.len(), 2, "the replay is not a second import: {trail}");
    assert!(
        items.iter().all(|e| e["actor_role"] == "la"
            && e["outcome"] == "committed"
            && e["school_urn"].is_null()),
        "{trail}"
    );
});

on_both_backends!(all_or_nothing_stores_nothing_with_an_invalid_row, |app| {
    let (app, s, case) = start(app).await;
    let r = app
        .call(
            "POST",
            &s.la,
            "/api/v1/lessons?mode=all_or_nothing",
            Some(&json!({"lessons": [lesson(case, "2026-12-01", "attended"),
                                     with(lesson(case, "2026-12-02", "attended"), "engagement", json!(0))]})),
        )
        .await;
    let problem = r.problem(422);
    assert_eq!(r.pointers(), ["/lessons/1/engagement"], "{problem}");
    let again = push(&app, &s.la, &[lesson(case, "2026-12-01", "attended")])
        .await
        .json();
    assert_eq!(again["inserted"], 1, "nothing was stored: {again}");
});

on_both_backends!(
    r14_4_measures_on_the_case_and_its_lessons_read_back,
    |app| {
        let (app, s, case) = start(app).await;
        let mut lessons = vec![
            lesson(case, "2026-11-30", "attended"),
            lesson(case, "2026-12-01", "late"),
            lesson(case, "2026-12-02", "absent_unauthorised"),
            lesson(case, "2026-12-03", "cancelled_by_esma"),
        ];
        lessons.push(with(
            with(
                lesson(case, "2026-12-04", "attended"),
                "subject",
                json!("english"),
            ),
            "engagement",
            json!(4),
        ));
        let r = push(&app, &s.la, &lessons).await;
        assert_eq!(r.json()["inserted"], 5, "{}", r.text());

        let view = app.get(&s.oakfield, &format!("/api/v1/cases/{case}")).await;
        assert_eq!(view.status, 200, "{}", view.text());
        let measures = &view.json()["lessons"];
        // Overall: 4 planned (not the cancelled one), 3 attended (late counts), 75.0%; hours: 60 +
        // (60 - 10 late) + 60 minutes = 2.8 h; mean engagement (3 + 3 + 4) / 3 = 3.3.
        assert_eq!(measures["overall"]["all"]["planned"], 4, "{measures}");
        assert_eq!(measures["overall"]["all"]["attended"], 3);
        assert_eq!(measures["overall"]["all"]["attendance_rate"], 75.0);
        assert_eq!(measures["overall"]["all"]["hours_delivered"], 2.8);
        assert_eq!(measures["overall"]["all"]["mean_engagement"], 3.3);
        assert_eq!(
            measures["by_subject"]["maths"]["all"]["attendance_rate"],
            66.7
        );
        assert_eq!(measures["by_subject"]["english"]["last_10"]["planned"], 1);

        // The case's lessons: its school and the LA read them, filtered and paged; another school
        // reads a 404.
        let uri = format!("/api/v1/cases/{case}/lessons");
        let all = app.get(&s.oakfield, &uri).await;
        assert_eq!(all.status, 200, "{}", all.text());
        assert_eq!(all.json()["items"].as_array().unwrap().len(), 5);
        let maths = app
            .get(
                &s.la,
                &format!("{uri}?subject=maths&from=2026-12-01&to=2026-12-02"),
            )
            .await
            .json();
        let dates: Vec<&str> = maths["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["date"].as_str().unwrap())
            .collect();
        assert_eq!(dates, ["2026-12-01", "2026-12-02"], "{maths}");
        assert_eq!(maths["items"][0]["minutes_late"], 10);
        let first = app.get(&s.la, &format!("{uri}?limit=3")).await.json();
        assert_eq!(first["items"].as_array().unwrap().len(), 3);
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let rest = app
            .get(&s.la, &format!("{uri}?limit=3&cursor={cursor}"))
            .await
            .json();
        assert_eq!(rest["items"].as_array().unwrap().len(), 2, "{rest}");
        app.get(&s.hillside, &uri).await.problem(404);
        app.get(&s.la, &format!("{uri}?subject=art"))
            .await
            .problem(422);

        // Each read is audited against the case and its pupil, the other school's 404 too (the
        // refused query never reached the case: 4 reads and the 404).
        let admin = app.token(Role::Admin, &[]).await;
        let trail = app.get(&admin, "/api/v1/audit?action=read").await.json();
        let lesson_reads = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["endpoint"] == "GET /api/v1/cases/{id}/lessons")
            .count();
        assert_eq!(lesson_reads, 5, "{trail}");
    }
);

/// The lesson_non_engagement alerts of the worklist: (state, since).
async fn non_engagement(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let r = app
        .get(token, "/api/v1/alerts?kind=lesson_non_engagement")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["state"].as_str().unwrap().to_string(),
                a["since"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The `since` of the resolved lesson_non_engagement alerts.
async fn resolved_non_engagement(app: &TestApp, token: &str) -> Vec<String> {
    let r = app
        .get(
            token,
            "/api/v1/alerts?kind=lesson_non_engagement&state=resolved",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["since"].as_str().unwrap().to_string())
        .collect()
}

on_both_backends!(
    r14_5_three_unauthorised_absences_in_a_row_raise_the_alert,
    |app| {
        let (app, s, case) = start(app).await;
        let days = ["2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03"];
        let mut lessons = vec![
            lesson(case, days[0], "attended"),
            lesson(case, days[1], "absent_unauthorised"),
            lesson(case, days[2], "absent_unauthorised"),
        ];
        push(&app, &s.la, &lessons).await;
        assert_eq!(non_engagement(&app, &s.la).await, [], "two in a row do not");

        lessons.push(lesson(case, days[3], "absent_unauthorised"));
        push(&app, &s.la, &lessons).await;
        // Raised by the push itself: on the change feed before anyone reads the worklist.
        let feed = app.get(&s.la, "/api/v1/changes").await.json();
        let raised = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resource_type"] == "alert" && c["action"] == "raised")
            .count();
        assert_eq!(raised, 1, "{feed}");
        assert_eq!(
            non_engagement(&app, &s.oakfield).await,
            [("open".to_string(), days[1].to_string())],
            "since the first of the run"
        );
        let view = app
            .get(&s.la, &format!("/api/v1/cases/{case}"))
            .await
            .json();
        assert!(
            view["open_alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["kind"] == "lesson_non_engagement"),
            "{view}"
        );

        // A correction (the last was attended after all) resolves it.
        lessons[3] = lesson(case, days[3], "attended");
        let r = push(&app, &s.la, &lessons).await.json();
        assert_eq!(r["updated"], 1, "{r}");
        assert_eq!(non_engagement(&app, &s.la).await, []);
        assert_eq!(
            resolved_non_engagement(&app, &s.la).await,
            [days[1].to_string()]
        );
    }
);

on_both_backends!(
    r14_5_one_push_raises_and_resolves_the_alerts_of_each_case_it_touches_and_no_other,
    |app| {
        // Pupils 1, 2 and 3; the push reconciles its cases together (reconcile_cases_of).
        let (app, s, cases) = start_with(app, &["online", "online", "online"]).await;
        let (a, b, c) = (cases[0], cases[1], cases[2]);
        let days = ["2026-11-30", "2026-12-01", "2026-12-02"];
        let refused = |case| days.map(|d| lesson(case, d, "absent_unauthorised"));
        let first: Vec<Value> = refused(b).into_iter().chain(refused(c)).collect();
        assert_eq!(push(&app, &s.la, &first).await.json()["inserted"], 6);

        // Case a refuses three in a row, case b's last lesson was attended after all; case c is
        // not in the push and keeps its alert.
        let mut second: Vec<Value> = refused(a).into_iter().chain(refused(b)).collect();
        second[5] = lesson(b, days[2], "attended");
        let r = push(&app, &s.la, &second).await.json();
        assert_eq!(
            (r["inserted"].clone(), r["updated"].clone()),
            (json!(3), json!(1)),
            "{r}"
        );

        // Both pushes' alert changes, on the change feed before anyone reads the worklist.
        let feed = app.get(&s.la, "/api/v1/changes").await.json();
        let mut alert_changes: Vec<&str> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resource_type"] == "alert")
            .map(|c| c["action"].as_str().unwrap())
            .collect();
        alert_changes.sort_unstable();
        assert_eq!(
            alert_changes,
            ["raised", "raised", "raised", "resolved"],
            "{feed}"
        );

        let r = app
            .get(&s.la, "/api/v1/alerts?kind=lesson_non_engagement&state=all")
            .await;
        let mut states: Vec<(String, String)> = r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["upn"].as_str().unwrap().to_string(),
                    a["state"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        states.sort();
        let want = |n: u32, state: &str| (common::upn(n), state.to_string());
        let mut expected = vec![want(1, "open"), want(2, "resolved"), want(3, "open")];
        expected.sort();
        assert_eq!(states, expected);
    }
);

on_both_backends!(
    r14_5_attendance_below_half_of_the_last_ten_raises_the_alert,
    |app| {
        let (app, s, case) = start(app).await;
        // Ten school days from 30 November: 4 attended, never 3 unauthorised in a row: 40%.
        let days = [
            "2026-11-30",
            "2026-12-01",
            "2026-12-02",
            "2026-12-03",
            "2026-12-04",
            "2026-12-07",
            "2026-12-08",
            "2026-12-09",
            "2026-12-10",
            "2026-12-11",
        ];
        let pattern = [
            "attended",
            "absent_authorised",
            "absent_unauthorised",
            "attended",
            "absent_authorised",
            "absent_unauthorised",
            "attended",
            "absent_authorised",
            "absent_unauthorised",
            "attended",
        ];
        let lessons: Vec<Value> = days
            .iter()
            .zip(pattern)
            .map(|(d, a)| lesson(case, d, a))
            .collect();
        push(&app, &s.la, &lessons[..9]).await;
        assert_eq!(
            non_engagement(&app, &s.la).await,
            [],
            "under 10 planned lessons"
        );
        push(&app, &s.la, &lessons).await;
        assert_eq!(
            non_engagement(&app, &s.la).await,
            [("open".to_string(), days[0].to_string())],
            "since the first of the 10"
        );
        // Another school does not see it.
        assert_eq!(non_engagement(&app, &s.hillside).await, []);
        // A cancelled lesson is not planned: a cancelled 11th changes nothing; two attended
        // ones move the window to 5 of 10 (50%, not below): resolved.
        let more = [
            lesson(case, "2026-12-14", "cancelled_by_esma"),
            lesson(case, "2026-12-15", "attended"),
            lesson(case, "2026-12-16", "attended"),
        ];
        push(&app, &s.la, &more[..2]).await;
        assert_eq!(non_engagement(&app, &s.la).await.len(), 1, "4 of 10 still");
        push(&app, &s.la, &more).await;
        assert_eq!(non_engagement(&app, &s.la).await, []);
        assert_eq!(
            resolved_non_engagement(&app, &s.la).await,
            [days[0].to_string()]
        );
    }
);

on_both_backends!(a_webhook_can_subscribe_to_lesson_non_engagement, |app| {
    let (app, s, _) = start(app).await;
    let r = app
        .call(
            "POST",
            &s.la,
            "/api/v1/webhooks",
            Some(&json!({"url": "https://portal.example.org/esma/events",
                         "events": ["case.lesson_non_engagement"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["events"], json!(["case.lesson_non_engagement"]));
});

on_both_backends!(
    r13_2_a_non_attendance_exit_takes_the_lessons_as_evidence,
    |app| {
        let (app, s, cases) = start_with(app, &["online", "online"]).await;
        let (with_lessons, without) = (cases[0], cases[1]);
        // The register shows nothing unauthorised; ESMA's lessons do.
        push(
            &app,
            &s.la,
            &[
                lesson(with_lessons, "2026-12-01", "absent_unauthorised"),
                lesson(with_lessons, "2026-12-02", "attended"),
                lesson(with_lessons, "2026-12-03", "absent_unauthorised"),
                lesson(with_lessons, "2026-12-17", "absent_unauthorised"),
            ],
        )
        .await;
        let exit = |effective: &str| {
            json!({"reason": "non_attendance", "effective_date": effective,
               "notes": "Has not engaged with ESMA lessons", "decided_by": "J. Smith"})
        };
        let r = app
            .call(
                "POST",
                &s.la,
                &format!("/api/v1/cases/{with_lessons}/exit"),
                Some(&exit("2026-12-16")),
            )
            .await;
        assert_eq!(
            r.status,
            200,
            "not refused for want of register evidence: {}",
            r.text()
        );
        let out = r.json();
        let facts = &out["register_facts"];
        assert_eq!(facts["unauthorised_sessions"], 0, "{out}");
        assert_eq!(
            facts["unauthorised_lessons"],
            json!([{"date": "2026-12-01", "start_time": "10:30", "subject": "maths"},
               {"date": "2026-12-03", "start_time": "10:30", "subject": "maths"}]),
            "between the start and the effective date"
        );
        assert!(out.get("warning").is_none(), "{out}");
        let stored = app
            .get(&s.la, &format!("/api/v1/cases/{with_lessons}"))
            .await
            .json();
        assert_eq!(
            stored["exit_register_facts"], *facts,
            "stored with the decision"
        );

        // Neither the register nor the lessons: recorded, with a warning.
        let r = app
            .call(
                "POST",
                &s.la,
                &format!("/api/v1/cases/{without}/exit"),
                Some(&exit("2026-12-16")),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        assert_eq!(out["case"]["status"], "closed");
        assert!(
            out["warning"]
                .as_str()
                .unwrap()
                .contains("neither the register"),
            "{out}"
        );
    }
);
