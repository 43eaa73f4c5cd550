//! The stakeholder progress report of a case (issue 23 item 5; API.md "Support delivery"): JSON
//! and a printable HTML page, on both backends.
mod common;
use actix_web::test::TestRequest;
use common::{both_sessions, calendar, date, setup, short_referral, Reply, OAKFIELD};
use esma_api::clock::Clock;
use esma_api::domain::access::Role;
use serde_json::json;

/// Pupil 1 present the week of 16 November, ill the week of 23 November, taught by ESMA (`C2`)
/// from the case start on 30 November, and back at school in the mornings from 7 December.
fn register() -> Vec<serde_json::Value> {
    let mut marks = both_sessions(1, "2026-11-16", "2026-11-20", "/");
    for m in marks.iter_mut().filter(|m| m["session"] == "PM") {
        m["code"] = json!("\\");
    }
    marks.extend(both_sessions(1, "2026-11-23", "2026-11-27", "I"));
    marks.extend(both_sessions(1, "2026-11-30", "2026-12-04", "C2"));
    for mut m in both_sessions(1, "2026-12-07", "2026-12-11", "C2") {
        if m["session"] == "AM" {
            m["code"] = json!("/");
        }
        marks.push(m);
    }
    marks
}

async fn html(app: &common::TestApp, token: &str, uri: &str, accept: &str) -> Reply {
    app.send(
        TestRequest::get()
            .uri(uri)
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("accept", accept.to_string())),
    )
    .await
}

on_both_backends!(a_case_report_shows_the_support_and_the_register, |app| {
    let s = setup(&app).await;
    app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
        .await;
    let r = app
        .call(
            "POST",
            &s.oakfield,
            "/api/v1/referrals",
            Some(&short_referral(1, OAKFIELD)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let case_id = app
        .accept_referral(&s.la, r.json()["id"].as_i64().unwrap())
        .await;
    let mut app = app;
    app.state.clock = Clock::fixed(date("2026-12-11"));
    let r = app
        .call(
            "POST",
            &s.oakfield,
            "/api/v1/schools/117001/registers",
            Some(&json!({ "marks": register() })),
        )
        .await;
    assert_eq!(r.json()["rejected"], 0, "{}", r.text());

    // ESMA's lessons: maths twice (attended, then refused), English once.
    let lesson = |date: &str, subject: &str, attendance: &str, engagement: Option<i64>| {
        json!({"case_id": case_id, "date": date, "start_time": "10:00", "subject": subject,
               "mode": "online_one_to_one", "planned_minutes": 60, "attendance": attendance,
               "engagement": engagement})
    };
    let r = app
        .call(
            "POST",
            &s.la,
            "/api/v1/lessons",
            Some(&json!({"lessons": [
                lesson("2026-12-01", "maths", "attended", Some(4)),
                lesson("2026-12-02", "english", "attended", Some(3)),
                lesson("2026-12-08", "maths", "absent_unauthorised", None),
            ]})),
        )
        .await;
    assert_eq!(r.json()["inserted"], 3, "{}", r.text());

    let uri = format!("/api/v1/cases/{case_id}/report");
    let r = app.get(&s.la, &uri).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    let lessons = &report["lessons"];
    assert_eq!(lessons["overall"]["all"]["planned"], 3);
    assert_eq!(
        lessons["by_subject"]["maths"]["all"]["attendance_rate"],
        50.0
    );
    assert_eq!(
        lessons["by_subject"]["english"]["all"]["mean_engagement"],
        3.0
    );
    let lesson_weeks: Vec<(String, f64)> = lessons["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["week_starting"].as_str().unwrap().to_string(),
                w["attendance_rate"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lesson_weeks,
        [
            ("2026-11-30".to_string(), 100.0),
            ("2026-12-07".to_string(), 0.0)
        ]
    );
    assert_eq!(report["generated_on"], "2026-12-11");
    assert_eq!(report["subject"]["pupil_name"], "Pupil1 Test");
    assert_eq!(report["subject"]["school_name"], "School 117001");
    // 30 November to 11 December: ten school days of support.
    assert_eq!(report["school_days_of_support"], 10);
    // Before: 20 sessions, 10 present (the week of 16 November), 10 ill. During: 20 sessions,
    // the 5 mornings back at school attended, the rest C2 (authorised).
    let reg = &report["register"];
    assert_eq!(reg["from"], "2026-09-01");
    assert_eq!(reg["to"], "2026-12-11");
    assert_eq!(reg["before_support"]["possible_sessions"], 20);
    assert_eq!(reg["before_support"]["attendance_rate"], 50.0);
    assert_eq!(reg["during_support"]["possible_sessions"], 20);
    assert_eq!(reg["during_support"]["present"], 5);
    assert_eq!(reg["during_support"]["attendance_rate"], 25.0);
    assert_eq!(reg["during_support"]["authorised_absence"], 15);
    let weeks: Vec<(String, f64, bool)> = reg["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["week_starting"].as_str().unwrap().to_string(),
                w["attendance_rate"].as_f64().unwrap(),
                w["during_support"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        [
            ("2026-11-16".to_string(), 100.0, false),
            ("2026-11-23".to_string(), 0.0, false),
            ("2026-11-30".to_string(), 0.0, true),
            ("2026-12-07".to_string(), 50.0, true),
        ]
    );
    assert_eq!(report["case"]["support_register_code"], "C2");
    assert_eq!(report["reviews_held"], json!([]));
    let next = report["next_reviews"].as_array().unwrap();
    assert_eq!(next.len(), 3);
    assert!(next[0]["scheduled_for"].as_str().unwrap() >= "2026-12-11");

    // The page: asked for by Accept or by ?format=html; the same facts, a chart, nothing to load.
    for (uri, accept) in [
        (uri.clone(), "text/html,application/xhtml+xml,*/*;q=0.8"),
        (format!("{uri}?format=html"), "application/json"),
    ] {
        let r = html(&app, &s.oakfield, &uri, accept).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        let page = r.text();
        assert!(page.contains("Progress report: Pupil1 Test"), "{page}");
        assert!(page.contains(r#"<span class="code">C2</span>"#));
        assert!(page.contains("<svg"));
        // A bar per register week (4), per subject (2) and per week of lessons (2).
        assert_eq!(page.matches("<rect").count(), 8);
        assert!(page.contains("ESMA lessons"));
        assert!(page.contains(r#"<th scope="row">maths</th><td class="num">2</td><td class="num">1</td><td class="num">50%</td>"#), "{page}");
        assert!(page.contains("@page { size: A4"));
        // Not even a favicon: the icon is an empty data: URI.
        assert!(page.contains(r#"<link rel="icon" href="data:,">"#));
        for outside in [
            "<script",
            "src=",
            "href=\"http",
            "href=\"/",
            "@import",
            "url(",
        ] {
            assert!(!page.contains(outside), "the page holds {outside}");
        }
    }
    // ?format=json wins over Accept; another word is a 422 naming the set.
    let r = html(&app, &s.la, &format!("{uri}?format=json"), "text/html").await;
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let p = html(&app, &s.la, &format!("{uri}?format=pdf"), "text/html")
        .await
        .problem(422);
    assert!(
        p["detail"].to_string().contains("json or html") || p.to_string().contains("json or html"),
        "{p}"
    );

    // Another school: 404, audited like every refused read; the reads are audited.
    html(&app, &s.hillside, &uri, "text/html")
        .await
        .problem(404);
    let admin = app.token(Role::Admin, &[]).await;
    let r = app
        .get(&admin, &format!("/api/v1/audit?upn={}", common::upn(1)))
        .await;
    let rows: Vec<(String, String)> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read_report")
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        rows.iter().filter(|(_, o)| o == "success").count() >= 4,
        "{rows:?}"
    );
    let r = app
        .get(&admin, "/api/v1/audit?action=read_report&limit=500")
        .await;
    assert!(
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "not_found"),
        "{}",
        r.text()
    );
});

on_both_backends!(
    the_report_shows_the_plan_its_progress_and_the_baseline_against_the_latest,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        let r = app
            .call(
                "POST",
                &s.oakfield,
                "/api/v1/referrals",
                Some(&short_referral(1, OAKFIELD)),
            )
            .await;
        let case_id = app
            .accept_referral(&s.la, r.json()["id"].as_i64().unwrap())
            .await;
        let uri = format!("/api/v1/cases/{case_id}/report");
        // Before the first version the report says so.
        assert_eq!(
            app.get(&s.la, &uri).await.json()["plan"],
            serde_json::Value::Null
        );
        let page = html(&app, &s.la, &uri, "text/html").await.text();
        assert!(page.contains("No plan has been written yet."), "{page}");

        let plan = json!({
            "status": "agreed",
            "baseline": {"scale": "WTS/EXS/GDS", "english": "WTS", "maths": "WTS", "science": "EXS",
                         "engagement": "online two days in three", "emotional_wellbeing": "anxious"},
            "targets": [
                {"description": "two mornings a week in school", "owner": "school",
                 "measure": "register", "by": "2027-02-12"},
                {"description": "weekly maths tasks <done>", "owner": "pupil", "measure": "tasks done"}
            ],
            "pupil_voice": "I want to see my friends",
            "parent_voice": "mornings are hard",
            "reintegration_steps": [{"from": "2027-01-11", "sessions_per_week": 2}]
        });
        let r = app
            .put_json(&s.la, &format!("/api/v1/cases/{case_id}/plan"), &plan)
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        // A review held on 10 December records progress and agrees a revised plan (English now EXS).
        let mut app = app;
        app.state.clock = Clock::fixed(date("2026-12-11"));
        let case = app
            .get(&s.la, &format!("/api/v1/cases/{case_id}"))
            .await
            .json();
        let review = case["schedule"][0]["id"].as_i64().unwrap();
        let mut revised = plan.clone();
        revised["baseline"]["english"] = json!("EXS");
        revised["targets"][0]["id"] = json!(1);
        revised["targets"][1]["id"] = json!(2);
        let r = app
        .call(
            "PATCH",
            &s.oakfield,
            &format!("/api/v1/cases/{case_id}/reviews/{review}"),
            Some(&json!({"outcome": {"held_on": "2026-12-10", "attendees": ["Parent", "SENDCo"]},
                         "target_progress": [
                             {"target_id": 1, "progress": "in_progress"},
                             {"target_id": 2, "progress": "achieved", "note": "every week since 30 November"}],
                         "revised_plan": revised})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());

        let report = app.get(&s.la, &uri).await.json();
        assert_eq!(report["plan"]["version"], 2);
        assert_eq!(
            report["plan"]["targets"][0]["latest_progress"]["progress"],
            "in_progress"
        );
        assert_eq!(
            report["plan"]["targets"][1]["latest_progress"]["progress"],
            "achieved"
        );
        assert_eq!(report["attainment"]["baseline"]["english"], "WTS");
        assert_eq!(report["attainment"]["latest"]["english"], "EXS");
        assert_eq!(report["reviews_held"][0]["held_on"], "2026-12-10");
        let page = html(&app, &s.oakfield, &uri, "text/html").await.text();
        for shown in [
            "Holistic Reintegration Plan",
            "Version 2, agreed.",
            "two mornings a week in school",
            "in progress (10 December 2026)",
            "achieved (10 December 2026): every week since 30 November",
            "weekly maths tasks &lt;done&gt;",
            "I want to see my friends",
            "from 11 January 2027: 2 sessions a week in school",
            r#"<tr><th scope="row">English</th><td>WTS</td><td>EXS</td></tr>"#,
        ] {
            assert!(
                page.contains(shown),
                "the page should show {shown}:\n{page}"
            );
        }
        assert!(!page.contains("<done>"), "text is escaped");
    }
);
