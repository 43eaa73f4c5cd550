//! Notices and returns (API.md "Notices and returns"; RULES.md R16.1-R16.3; issue 24 items 3-5),
//! on both backends.

mod common;

use actix_web::test::TestRequest;
use chrono::{Datelike, Days, NaiveDate, Weekday};
use common::{date, setup, upn, TestApp, HILLSIDE, OAKFIELD};
use esma_api::domain::access::Role;
use esma_api::domain::alerts::AlertKind;
use esma_api::domain::attendance::AttendancePolicy;
use esma_api::service::attendance::recompute;
use esma_api::store::alerts::{self as alert_store, NewAlert};
use serde_json::{json, Value};

fn mark(n: u32, date: NaiveDate, session: &str, code: &str) -> Value {
    json!({"upn": upn(n), "date": date.to_string(), "session": session, "code": code})
}

/// `count` weekdays from `from` (no calendar is loaded: R3.1 Monday to Friday).
fn weekdays(from: &str, count: usize) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let mut day = date(from);
    while days.len() < count {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            days.push(day);
        }
        day = day + Days::new(1);
    }
    days
}

async fn push(app: &TestApp, token: &str, urn: i64, marks: Vec<Value>) {
    let r = app
        .send(
            TestRequest::post()
                .uri(&format!("/api/v1/schools/{urn}/registers"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .set_json(json!({ "marks": marks })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rejected"], 0, "{}", r.text());
}

fn days_of(n: u32, days: &[NaiveDate], code: &str) -> Vec<Value> {
    days.iter()
        .flat_map(|d| [mark(n, *d, "AM", code), mark(n, *d, "PM", code)])
        .collect()
}

async fn alerts(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(token, &format!("/api/v1/alerts?{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"].as_array().unwrap().clone()
}

async fn notices(app: &TestApp, token: &str, n: u32, state: &str) -> Vec<Value> {
    alerts(
        app,
        token,
        &format!(
            "kind=unauthorised_absence_10_days&upn={}&state={state}",
            upn(n)
        ),
    )
    .await
}

/// What `esma-api recompute` would repair: nothing, when the pushes kept the alerts right.
fn assert_nothing_to_repair(app: &TestApp, context: &str) {
    let report = recompute(
        app.db(),
        &AttendancePolicy::default(),
        date("2026-11-23"),
        None,
    )
    .unwrap();
    assert_eq!(
        (report.counts.alerts_raised, report.counts.alerts_resolved),
        (0, 0),
        "recompute had to repair alerts after {context}"
    );
}

on_both_backends!(
    rules_r16_1_twenty_unauthorised_sessions_raise_nineteen_do_not,
    |app| {
        let s = setup(&app).await;
        // Pupil 1: one unauthorised morning a day (G, N, O, U in turn), present every afternoon.
        let days = weekdays("2026-10-12", 20);
        let codes = ["G", "N", "O", "U"];
        let mut marks = Vec::new();
        for (i, day) in days.iter().enumerate().take(19) {
            marks.push(mark(1, *day, "AM", codes[i % 4]));
            marks.push(mark(1, *day, "PM", "/"));
        }
        // Pupil 2: nine and a half days of unauthorised absence in a row (19 sessions).
        let run = weekdays("2026-11-04", 10);
        let mut nineteen = days_of(2, &run, "O");
        nineteen.pop();
        marks.extend(nineteen);
        push(&app, &s.oakfield, OAKFIELD, marks).await;
        assert!(notices(&app, &s.la, 1, "all").await.is_empty());
        assert!(notices(&app, &s.la, 2, "all").await.is_empty());

        // The 20th session raises, `since` the day of the session that reached it.
        push(
            &app,
            &s.oakfield,
            OAKFIELD,
            vec![mark(1, days[19], "AM", "U"), mark(1, days[19], "PM", "/")],
        )
        .await;
        let raised = notices(&app, &s.la, 1, "open").await;
        assert_eq!(raised.len(), 1, "{raised:?}");
        let notice = &raised[0];
        assert_eq!(notice["kind"], "unauthorised_absence_10_days");
        assert_eq!(notice["since"], days[19].to_string());
        assert_eq!(notice["due_by"], days[19].to_string());
        assert_eq!(notice["academic_year"], "2026-27");
        assert_eq!(notice["facts"]["unauthorised_sessions"], 20);
        assert_eq!(notice["facts"]["unauthorised_days_cumulative"], 10.0);
        assert_eq!(notice["facts"]["reached_session"], "AM");
        assert_eq!(notice["acknowledgement"], Value::Null);
        assert_nothing_to_repair(&app, "the 20th session");

        // R16.1 example: 10 wholly unauthorised school days in a row across a weekend (Wednesday 4
        // to Tuesday 17 November) raise at the 20th session, Tuesday afternoon.
        push(
            &app,
            &s.oakfield,
            OAKFIELD,
            vec![mark(2, date("2026-11-17"), "PM", "O")],
        )
        .await;
        let raised = notices(&app, &s.la, 2, "open").await;
        assert_eq!(raised.len(), 1, "{raised:?}");
        assert_eq!(raised[0]["since"], "2026-11-17");
        assert_eq!(raised[0]["facts"]["current_run_sessions"], 20);

        // Pushing the same marks again raises nothing twice.
        push(
            &app,
            &s.oakfield,
            OAKFIELD,
            vec![mark(2, date("2026-11-17"), "PM", "O")],
        )
        .await;
        assert_eq!(notices(&app, &s.la, 2, "all").await.len(), 1);

        // A correction to an older mark takes pupil 1 below both: resolved, with the reason.
        push(
            &app,
            &s.oakfield,
            OAKFIELD,
            vec![mark(1, days[3], "AM", "/")],
        )
        .await;
        assert!(notices(&app, &s.la, 1, "open").await.is_empty());
        let resolved = notices(&app, &s.la, 1, "resolved").await;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0]["resolved_on"], "2026-11-23");
        assert!(
            resolved[0]["resolution"]
                .as_str()
                .unwrap()
                .contains("19 unauthorised sessions"),
            "{resolved:?}"
        );
        // A correction that moves the day reached moves `since` (pupil 2's first day was present,
        // one more unauthorised day after makes 20 again a day later).
        push(
            &app,
            &s.oakfield,
            OAKFIELD,
            vec![
                mark(2, date("2026-11-04"), "AM", "/"),
                mark(2, date("2026-11-18"), "AM", "G"),
            ],
        )
        .await;
        let moved = notices(&app, &s.la, 2, "open").await;
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!(moved[0]["since"], "2026-11-18");
        assert_nothing_to_repair(&app, "the corrections");

        // The change feed shows the notices raised, resolved and moved.
        let feed = app.get(&s.la, "/api/v1/changes?limit=1000").await.json();
        let actions: Vec<&str> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resource_type"] == "alert")
            .filter(|c| {
                c["href"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("unauthorised_absence_10_days")
            })
            .map(|c| c["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["raised", "raised", "resolved", "since_moved"]);
    }
);

on_both_backends!(rules_r16_2_monthly_returns_as_json_and_csv, |app| {
    let s = setup(&app).await;
    // Pupil 4: 15 days of illness reached on Friday 20 November (R4.4). Pupil 5: 10 days of
    // unauthorised absence reached on Friday 13 November. Pupil 6 at Hillside: the same.
    let mut marks = days_of(4, &weekdays("2026-11-02", 15), "I");
    marks.extend(days_of(5, &weekdays("2026-11-02", 10), "G"));
    push(&app, &s.oakfield, OAKFIELD, marks).await;
    push(
        &app,
        &s.hillside,
        HILLSIDE,
        days_of(6, &weekdays("2026-11-02", 10), "O"),
    )
    .await;

    let r = app
        .get(&s.la, "/api/v1/returns/sickness?month=2026-11")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sickness = r.json();
    assert_eq!(sickness["kind"], "sickness");
    assert_eq!(sickness["month"], "2026-11");
    assert_eq!(
        sickness["rows"],
        json!([{"school_urn": OAKFIELD, "laestab": "9192001", "upn": upn(4), "forename": "Pupil4",
                "surname": "Test", "date_of_birth": "2014-03-02", "reached_on": "2026-11-20",
                "days_counted": 15.0}])
    );
    let unauthorised = app
        .get(&s.la, "/api/v1/returns/unauthorised-absence?month=2026-11")
        .await
        .json();
    let listed: Vec<(i64, String, String)> = unauthorised["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["school_urn"].as_i64().unwrap(),
                r["upn"].as_str().unwrap().to_string(),
                r["reached_on"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (OAKFIELD, upn(5), "2026-11-13".to_string()),
            (HILLSIDE, upn(6), "2026-11-13".to_string())
        ]
    );
    assert_eq!(unauthorised["rows"][1]["laestab"], "9194001");
    assert_eq!(unauthorised["rows"][0]["days_counted"], 10.0);
    // Another month lists nobody.
    let october = app
        .get(&s.la, "/api/v1/returns/sickness?month=2026-10")
        .await
        .json();
    assert_eq!(october["rows"], json!([]));

    // CSV for a spreadsheet: header row, ISO dates, UTF-8, CRLF.
    let r = app
        .send(
            TestRequest::get()
                .uri("/api/v1/returns/unauthorised-absence?month=2026-11&school_urn=117001")
                .insert_header(("authorization", format!("Bearer {}", s.la)))
                .insert_header(("accept", "text/csv")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert!(r
        .header("content-disposition")
        .unwrap()
        .contains("unauthorised-absence-return-2026-11.csv"));
    assert_eq!(
        r.text(),
        format!(
            "\u{feff}school_urn,laestab,upn,forename,surname,date_of_birth,reached_on,days_counted\r\n\
             117001,9192001,{},Pupil5,Test,2014-03-02,2026-11-13,10\r\n",
            upn(5)
        )
    );

    // A school sees its own rows; another school's URN is 404, as for every list.
    let own = app
        .get(
            &s.hillside,
            "/api/v1/returns/unauthorised-absence?month=2026-11",
        )
        .await
        .json();
    assert_eq!(own["rows"].as_array().unwrap().len(), 1);
    assert_eq!(own["rows"][0]["upn"], upn(6));
    app.get(
        &s.hillside,
        "/api/v1/returns/sickness?month=2026-11&school_urn=117001",
    )
    .await
    .problem(404);
    let admin = app.token(Role::Admin, &[]).await;
    app.get(&admin, "/api/v1/returns/sickness?month=2026-11")
        .await
        .problem(403);

    // A bad month: 422 naming the query parameter.
    for query in ["month=2026-13", "month=2026-1", "month=November", ""] {
        let r = app
            .get(&s.la, &format!("/api/v1/returns/sickness?{query}"))
            .await;
        let problem = r.problem(422);
        assert_eq!(r.pointers(), ["/query/month"], "{query}: {problem}");
    }

    // Audited: the return, and each pupil on it.
    let trail = app
        .get(&admin, &format!("/api/v1/audit?upn={}&action=read", upn(4)))
        .await
        .json();
    assert!(
        trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource_type"] == "return" && e["resource_id"] == "sickness 2026-11"),
        "{trail}"
    );
});

on_both_backends!(
    rules_r16_3_acknowledged_alerts_leave_the_default_worklist,
    |app| {
        let s = setup(&app).await;
        // Pupil 4 reaches 15 days of illness on Friday 20 November (R4.4).
        push(
            &app,
            &s.oakfield,
            OAKFIELD,
            days_of(4, &weekdays("2026-11-02", 15), "I"),
        )
        .await;
        let open = alerts(
            &app,
            &s.la,
            &format!("kind=sickness_return_due&upn={}", upn(4)),
        )
        .await;
        assert_eq!(open.len(), 1);
        let id = open[0]["id"].as_i64().unwrap();
        let acknowledge = |token: String, id: i64, note: &'static str| {
            let app = &app;
            async move {
                app.call(
                    "POST",
                    &token,
                    &format!("/api/v1/alerts/{id}/acknowledge"),
                    Some(&json!({ "note": note })),
                )
                .await
            }
        };

        // Another school's alert is 404; an unknown one too; an empty note 422.
        acknowledge(s.hillside.clone(), id, "not ours")
            .await
            .problem(404);
        acknowledge(s.la.clone(), 999_999, "none")
            .await
            .problem(404);
        let r = acknowledge(s.oakfield.clone(), id, "").await;
        r.problem(422);
        assert_eq!(r.pointers(), ["/note"]);

        // The school acknowledges its pupil's attendance alert: who, when and the note are kept.
        let r = acknowledge(
            s.oakfield.clone(),
            id,
            "Return sent to the LA on 23 November",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let acknowledged = r.json();
        assert_eq!(acknowledged["id"], id);
        assert_eq!(acknowledged["state"], "open");
        let by = acknowledged["acknowledgement"]["by"].clone();
        assert!(by.as_str().is_some_and(|b| !b.is_empty()));
        assert_eq!(
            acknowledged["acknowledgement"]["note"],
            "Return sent to the LA on 23 November"
        );
        let at = acknowledged["acknowledgement"]["at"].clone();
        assert!(at.as_str().unwrap().starts_with("2026-11-23"), "{at}");

        // It stays open but leaves the default worklist; `acknowledged=true` and `all` show it.
        let kind = format!("kind=sickness_return_due&upn={}", upn(4));
        assert!(alerts(&app, &s.la, &kind).await.is_empty());
        assert!(alerts(&app, &s.la, &format!("{kind}&acknowledged=false"))
            .await
            .is_empty());
        let shown = alerts(&app, &s.la, &format!("{kind}&acknowledged=true")).await;
        assert_eq!(shown.len(), 1);
        assert_eq!(
            shown[0]["acknowledgement"]["note"],
            acknowledged["acknowledgement"]["note"]
        );
        assert_eq!(
            alerts(&app, &s.la, &format!("{kind}&acknowledged=all"))
                .await
                .len(),
            1
        );
        let r = app.get(&s.la, "/api/v1/alerts?acknowledged=maybe").await;
        r.problem(422);
        assert_eq!(r.pointers(), ["/query/acknowledged"]);

        // Acknowledging again is harmless: 200, the first acknowledgement stands.
        let again = acknowledge(s.la.clone(), id, "LA: seen").await;
        assert_eq!(again.status, 200, "{}", again.text());
        assert_eq!(
            again.json()["acknowledgement"],
            acknowledged["acknowledgement"]
        );

        // A referral or case alert is the LA's to acknowledge: a school gets 403.
        let case_alert = app
            .db()
            .write_now(|conn| {
                Ok(alert_store::raise(
                    conn,
                    &[NewAlert {
                        kind: AlertKind::AssessmentOverdue,
                        school_urn: OAKFIELD as i32,
                        upn: upn(4),
                        academic_year: 2026,
                        subject: "referral 77".into(),
                        since: date("2026-11-16"),
                        raised_on: date("2026-11-17"),
                    }],
                )?[0]
                    .id)
            })
            .unwrap();
        acknowledge(s.oakfield.clone(), case_alert, "ours?")
            .await
            .problem(403);
        let r = acknowledge(s.la.clone(), case_alert, "Review booked for 25 November").await;
        assert_eq!(r.status, 200, "{}", r.text());

        // A correction resolves the sickness return: a resolved alert cannot be acknowledged (409).
        push(
            &app,
            &s.oakfield,
            OAKFIELD,
            days_of(4, &[date("2026-11-02")], "/"),
        )
        .await;
        let resolved = alerts(
            &app,
            &s.la,
            &format!("{kind}&state=resolved&acknowledged=all"),
        )
        .await;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0]["id"], id);
        acknowledge(s.la.clone(), id, "late").await.problem(409);

        // The cause comes back: a new alert, unacknowledged, on the default worklist.
        push(
            &app,
            &s.oakfield,
            OAKFIELD,
            days_of(4, &[date("2026-11-23")], "I"),
        )
        .await;
        let raised = alerts(&app, &s.la, &kind).await;
        assert_eq!(raised.len(), 1, "{raised:?}");
        assert_ne!(raised[0]["id"], id);
        assert_eq!(raised[0]["acknowledgement"], Value::Null);

        // On the change feed once per acknowledgement, and audited (refusals too).
        let feed = app.get(&s.la, "/api/v1/changes?limit=1000").await.json();
        let acknowledged_ids: Vec<i64> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resource_type"] == "alert" && c["action"] == "acknowledged")
            .map(|c| c["resource_id"].as_i64().unwrap())
            .collect();
        assert_eq!(acknowledged_ids, [id, case_alert]);
        let admin = app.token(Role::Admin, &[]).await;
        let trail = app
            .get(
                &admin,
                &format!("/api/v1/audit?upn={}&action=acknowledge", upn(4)),
            )
            .await
            .json();
        let outcomes: Vec<(String, String)> = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["resource_id"].as_str().unwrap().to_string(),
                    e["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let id_text = id.to_string();
        for expected in ["not_found", "success", "rejected"] {
            assert!(
                outcomes.iter().any(|(i, o)| *i == id_text && o == expected),
                "{expected}: {outcomes:?}"
            );
        }
        assert!(outcomes
            .iter()
            .any(|(i, o)| *i == case_alert.to_string() && o == "forbidden"));
    }
);
