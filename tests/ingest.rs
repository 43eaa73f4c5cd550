//! Roll sync and register push (API.md "Pupils", "Registers"; RULES.md R1, R6), on both backends.

mod common;

use std::io::Write;

use actix_web::test::TestRequest;
use common::{pupil, setup, upn, TestApp, HILLSIDE, OAKFIELD};
use esma_api::domain::access::Role;
use serde_json::{json, Value};

fn mark(n: u32, date: &str, session: &str, code: &str) -> Value {
    json!({"upn": upn(n), "date": date, "session": session, "code": code, "minutes_late": null})
}

async fn push(app: &TestApp, token: &str, urn: i64, marks: Vec<Value>) -> common::Reply {
    app.send(
        TestRequest::post()
            .uri(&format!("/api/v1/schools/{urn}/registers"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .set_json(json!({ "marks": marks })),
    )
    .await
}

/// POSTs a raw body (CSV, gzip, or deliberately broken) with the given media type and encoding.
async fn post_body(
    app: &TestApp,
    token: &str,
    uri: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: impl Into<actix_web::web::Bytes>,
) -> common::Reply {
    let mut req = TestRequest::post()
        .uri(uri)
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("content-type", content_type));
    if let Some(encoding) = encoding {
        req = req.insert_header(("content-encoding", encoding));
    }
    app.send(req.set_payload(body)).await
}

fn week(n: u32) -> Vec<Value> {
    let mut marks = Vec::new();
    for date in [
        "2026-11-16",
        "2026-11-17",
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
    ] {
        marks.push(mark(n, date, "AM", "/"));
        marks.push(mark(n, date, "PM", "\\"));
    }
    marks
}

// A stored register row rewritten from the middle: a correction of Tuesday with Wednesday to
// Friday already stored after it, then Monday of the week before back-filled in front of it.
// PostgreSQL writes only what follows the unchanged start of the stored sessions, so every
// other mark must read back as it was.
on_both_backends!(a_correction_mid_register_keeps_the_marks_around_it, |app| {
    let s = setup(&app).await;
    let first = push(&app, &s.oakfield, OAKFIELD, week(1)).await;
    assert_eq!(first.status, 200, "{}", first.text());

    let corrected = push(
        &app,
        &s.oakfield,
        OAKFIELD,
        vec![mark(1, "2026-11-17", "PM", "I")],
    )
    .await
    .json();
    assert_eq!(corrected["updated"], 1, "{corrected}");
    let earlier = push(
        &app,
        &s.oakfield,
        OAKFIELD,
        vec![mark(1, "2026-11-09", "AM", "M")],
    )
    .await
    .json();
    assert_eq!(earlier["inserted"], 1, "{earlier}");

    let view = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-09&to=2026-11-20",
                upn(1)
            ),
        )
        .await
        .json();
    let codes: Vec<(&str, &str, &str)> = view["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["date"].as_str().unwrap(),
                m["session"].as_str().unwrap(),
                m["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("2026-11-09", "AM", "M"),
            ("2026-11-16", "AM", "/"),
            ("2026-11-16", "PM", "\\"),
            ("2026-11-17", "AM", "/"),
            ("2026-11-17", "PM", "I"),
            ("2026-11-18", "AM", "/"),
            ("2026-11-18", "PM", "\\"),
            ("2026-11-19", "AM", "/"),
            ("2026-11-19", "PM", "\\"),
            ("2026-11-20", "AM", "/"),
            ("2026-11-20", "PM", "\\"),
        ],
        "{view}"
    );
});

on_both_backends!(register_push_insert_repush_and_change, |app| {
    let s = setup(&app).await;
    let marks: Vec<Value> = (1..=5).flat_map(week).collect();
    let first = push(&app, &s.oakfield, OAKFIELD, marks.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let r = first.json();
    assert_eq!(
        (
            r["received"].as_u64(),
            r["inserted"].as_u64(),
            r["rejected"].as_u64()
        ),
        (Some(50), Some(50), Some(0))
    );
    assert_eq!(r["outcome"], "committed");

    let again = push(&app, &s.oakfield, OAKFIELD, marks.clone())
        .await
        .json();
    assert_eq!(
        (
            again["inserted"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(50))
    );

    // Friday AM of pupil 1 corrected from present to illness, and a late mark with minutes.
    let mut changed = marks.clone();
    changed[8] = mark(1, "2026-11-20", "AM", "I");
    changed[9] = json!({"upn": upn(1), "date": "2026-11-20", "session": "PM", "code": "L", "minutes_late": 15});
    let third = push(&app, &s.oakfield, OAKFIELD, changed).await.json();
    assert_eq!(
        (
            third["inserted"].as_u64(),
            third["updated"].as_u64(),
            third["unchanged"].as_u64()
        ),
        (Some(0), Some(2), Some(48))
    );

    let view = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-16&to=2026-11-20",
                upn(1)
            ),
        )
        .await;
    assert_eq!(view.status, 200, "{}", view.text());
    let view = view.json();
    assert_eq!(view["marks"].as_array().unwrap().len(), 10);
    assert_eq!(view["marks"][8]["code"], "I");
    assert_eq!(view["marks"][8]["category"], "authorised_absence");
    assert_eq!(view["marks"][9]["minutes_late"], 15);
    let changes = view["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        (
            changes[0]["old_code"].as_str(),
            changes[0]["new_code"].as_str()
        ),
        (Some("/"), Some("I"))
    );
    assert_eq!(changes[0]["import_id"], third["import_id"]);
    assert_eq!(
        (
            changes[1]["old_code"].as_str(),
            changes[1]["new_code"].as_str(),
            changes[1]["new_minutes_late"].as_i64()
        ),
        (Some("\\"), Some("L"), Some(15))
    );

    // Changing it back is one more change; history keeps both.
    let back = push(
        &app,
        &s.oakfield,
        OAKFIELD,
        vec![mark(1, "2026-11-20", "AM", "/")],
    )
    .await
    .json();
    assert_eq!(back["updated"], 1);
    let view = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-16&to=2026-11-20",
                upn(1)
            ),
        )
        .await
        .json();
    assert_eq!(view["changes"].as_array().unwrap().len(), 3);

    // The stored report is the one returned.
    let stored = app
        .get(
            &s.oakfield,
            &format!("/api/v1/imports/{}", third["import_id"]),
        )
        .await
        .json();
    assert_eq!(stored, third);
});

on_both_backends!(every_rejection_reason, |app| {
    let s = setup(&app).await;
    let rows = vec![
        mark(1, "2026-11-20", "AM", "/"), // 1 ok
        mark(1, "2026-11-20", "PM", "i"), // 2 unknown_code
        mark(1, "2026-11-19", "AM", "H"), // 3 legacy_code
        json!({"upn": "Z801200001001", "date": "2026-11-20", "session": "AM", "code": "/"}), // 4 invalid_upn
        mark(6, "2026-11-20", "AM", "/"), // 5 pupil_not_on_roll (Hillside's pupil)
        mark(2, "2026-11-24", "AM", "/"), // 6 date_in_future
        mark(2, "2026-11-21", "AM", "/"), // 7 not_a_school_day (Saturday)
        mark(3, "2026-11-20", "AM", "/"), // 8 duplicate_in_push (conflicts with 9)
        mark(3, "2026-11-20", "AM", "I"), // 9 duplicate_in_push
        mark(4, "2026-11-20", "am", "/"), // 10 invalid_session
        json!({"upn": upn(4), "date": "2026-11-20", "session": "PM", "code": "/", "minutes_late": 10}), // 11 invalid_minutes_late
        mark(5, "20/11/2026", "AM", "/"), // 12 invalid_date
        mark(5, "2026-11-20", "AM", "/"), // 13 ok
        mark(5, "2026-11-20", "AM", "/"), // 14 identical repeat: unchanged
        mark(2, "2026-08-31", "AM", "/"), // 15 pupil_not_on_roll (before on_roll_from)
    ];
    let r = push(&app, &s.oakfield, OAKFIELD, rows).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = r.json();
    assert_eq!(
        (
            r["received"].as_u64(),
            r["inserted"].as_u64(),
            r["unchanged"].as_u64(),
            r["rejected"].as_u64()
        ),
        (Some(15), Some(2), Some(1), Some(12))
    );
    let by_row: Vec<(u64, String)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        (2, "unknown_code"),
        (3, "legacy_code"),
        (4, "invalid_upn"),
        (5, "pupil_not_on_roll"),
        (6, "date_in_future"),
        (7, "not_a_school_day"),
        (8, "duplicate_in_push"),
        (9, "duplicate_in_push"),
        (10, "invalid_session"),
        (11, "invalid_minutes_late"),
        (12, "invalid_date"),
        (15, "pupil_not_on_roll"),
    ];
    for (row, reason) in expect {
        assert!(
            by_row.contains(&(row, reason.to_string())),
            "row {row} {reason} missing from {by_row:?}"
        );
    }
    assert_eq!(r["rejected_by_reason"]["duplicate_in_push"], 2);
    let e = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "invalid_upn")
        .unwrap();
    assert_eq!(e["pointer"], "/marks/3/upn");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("check letter should be"),
        "{e}"
    );
    let legacy = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "legacy_code")
        .unwrap();
    assert!(
        legacy["message"].as_str().unwrap().contains("2024-08-19"),
        "{legacy}"
    );
});

on_both_backends!(csv_and_gzip_pushes, |app| {
    let s = setup(&app).await;
    let csv = format!(
        "upn,date,session,code,minutes_late\n{u1},2026-11-20,AM,L,12\n{u1},2026-11-20,PM,\\,\n{u2},2026-11-20,AM,I,\n{u2},2026-11-20,PM,I,abc\n",
        u1 = upn(1),
        u2 = upn(2)
    );
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "text/csv",
        None,
        csv.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = r.json();
    assert_eq!(
        (r["inserted"].as_u64(), r["rejected"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(r["errors"][0]["row"], 4);
    assert_eq!(r["errors"][0]["reason"], "invalid_minutes_late");
    assert!(r["errors"][0]["pointer"].is_null());

    let gz = |bytes: &[u8]| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    };
    // The same CSV gzipped: all unchanged but the refused row.
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "text/csv",
        Some("gzip"),
        gz(csv.as_bytes()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["unchanged"], 3);
    // Gzipped JSON.
    let body = json!({"marks": [mark(3, "2026-11-20", "AM", "/")]}).to_string();
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "application/json",
        Some("gzip"),
        gz(body.as_bytes()),
    )
    .await;
    assert_eq!(r.json()["inserted"], 1);
    // Broken gzip, unknown encoding, unknown CSV column, wrong media type.
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "application/json",
        Some("gzip"),
        "not gzip",
    )
    .await;
    r.problem(400);
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "application/json",
        Some("br"),
        body.clone(),
    )
    .await;
    r.problem(415);
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "text/csv",
        None,
        "upn,date,session,code,colour\n",
    )
    .await;
    assert_eq!(r.pointers(), vec!["/csv/header"]);
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "application/xml",
        None,
        "<marks/>",
    )
    .await;
    r.problem(415);
});

on_both_backends!(all_or_nothing_stores_nothing, |app| {
    let s = setup(&app).await;
    let rows = vec![
        mark(1, "2026-11-20", "AM", "/"),
        mark(1, "2026-11-20", "PM", "Q9"),
    ];
    let r = app
        .send(
            TestRequest::post()
                .uri("/api/v1/schools/117001/registers?mode=all_or_nothing")
                .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                .set_json(json!({"marks": rows})),
        )
        .await;
    let problem = r.problem(422);
    assert_eq!(problem["errors"][0]["pointer"], "/marks/1/code");
    assert!(problem["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("[unknown_code]"));
    let detail = problem["detail"].as_str().unwrap();
    let id = detail.rsplit('/').next().unwrap();
    let stored = app
        .get(&s.oakfield, &format!("/api/v1/imports/{id}"))
        .await
        .json();
    assert_eq!(stored["outcome"], "rejected");
    assert_eq!(stored["inserted"], 0);
    let marks = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-20&to=2026-11-20",
                upn(1)
            ),
        )
        .await
        .json();
    assert_eq!(
        marks["marks"].as_array().unwrap().len(),
        0,
        "nothing was stored"
    );
    // The same push in the default mode stores the valid row.
    let r = push(
        &app,
        &s.oakfield,
        OAKFIELD,
        vec![
            mark(1, "2026-11-20", "AM", "/"),
            mark(1, "2026-11-20", "PM", "Q9"),
        ],
    )
    .await
    .json();
    assert_eq!(
        (r["inserted"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    app.send(
        TestRequest::post()
            .uri("/api/v1/schools/117001/registers?mode=sometimes")
            .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
            .set_json(json!({"marks": []})),
    )
    .await
    .problem(400);
});

on_both_backends!(idempotency_key_replays_and_refuses_reuse, |app| {
    let s = setup(&app).await;
    let send = |marks: Vec<Value>, key: &'static str| {
        TestRequest::post()
            .uri("/api/v1/schools/117001/registers")
            .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
            .insert_header(("idempotency-key", key))
            .set_json(json!({ "marks": marks }))
    };
    let first = app.send(send(week(1), "night-2026-11-20")).await;
    assert_eq!(first.status, 200);
    assert!(first.header("idempotent-replayed").is_none());
    let retry = app.send(send(week(1), "night-2026-11-20")).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(
        retry.json(),
        first.json(),
        "the stored report, not a second import"
    );
    assert_eq!(retry.json()["inserted"], 10);
    let reuse = app.send(send(week(2), "night-2026-11-20")).await;
    assert!(reuse.problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains("different request"));
    // Keys are per client: another school's client may use the same key.
    let other = app
        .send(
            TestRequest::post()
                .uri("/api/v1/schools/117002/registers")
                .insert_header(("authorization", format!("Bearer {}", s.hillside)))
                .insert_header(("idempotency-key", "night-2026-11-20"))
                .set_json(json!({"marks": week(6)})),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text());
    assert_eq!(other.json()["inserted"], 10);
});

on_both_backends!(schools_see_only_their_own, |app| {
    let s = setup(&app).await;
    // Pushing for another school's URN: 403, for registers and rolls.
    push(&app, &s.oakfield, HILLSIDE, week(6))
        .await
        .problem(403);
    app.put_json(
        &s.oakfield,
        "/api/v1/schools/117002/pupils",
        &json!({"pupils": [pupil(8)]}),
    )
    .await
    .problem(403);
    // The LA does not push registers.
    push(&app, &s.la, OAKFIELD, week(1)).await.problem(403);
    // Reading another school's pupil: 404, the same answer as a pupil that does not exist.
    let own = app
        .get(&s.oakfield, &format!("/api/v1/pupils/{}", upn(1)))
        .await;
    assert_eq!(own.status, 200, "{}", own.text());
    let enrolments = own.json()["enrolments"].clone();
    assert_eq!(enrolments.as_array().map(Vec::len), Some(1), "{enrolments}");
    assert_eq!(
        (
            &enrolments[0]["school_urn"],
            &enrolments[0]["on_roll_from"],
            &enrolments[0]["on_roll_until"]
        ),
        (&json!(117001), &json!("2026-09-03"), &json!(null))
    );
    let other = app
        .get(&s.oakfield, &format!("/api/v1/pupils/{}", upn(6)))
        .await
        .problem(404);
    let missing = app
        .get(&s.oakfield, &format!("/api/v1/pupils/{}", upn(99)))
        .await
        .problem(404);
    assert_eq!(other["detail"], missing["detail"]);
    app.get(&s.oakfield, &format!("/api/v1/pupils/{}/marks", upn(6)))
        .await
        .problem(404);
    // The LA reads any pupil; a bad UPN is 400.
    assert_eq!(
        app.get(&s.la, &format!("/api/v1/pupils/{}", upn(6)))
            .await
            .status,
        200
    );
    app.get(&s.la, "/api/v1/pupils/Z801200001001")
        .await
        .problem(400);
    // Another school's import report: 404.
    let r = push(&app, &s.hillside, HILLSIDE, week(6)).await.json();
    app.get(&s.oakfield, &format!("/api/v1/imports/{}", r["import_id"]))
        .await
        .problem(404);
    assert_eq!(
        app.get(&s.la, &format!("/api/v1/imports/{}", r["import_id"]))
            .await
            .status,
        200
    );

    // Every read of pupil data, allowed or not, is in the audit trail.
    let admin = app.token(Role::Admin, &[]).await;
    let trail = app
        .get(&admin, &format!("/api/v1/audit?upn={}", upn(6)))
        .await
        .json();
    let outcomes: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"not_found") && outcomes.contains(&"success"),
        "{outcomes:?}"
    );
    assert!(trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"] == "read"));

    // A push is audited with its own outcome, and the trail reads it back (the outcome is a
    // closed set in the spec: `committed` is one of its words).
    let imports = app
        .get(
            &admin,
            &format!("/api/v1/audit?action=import&school_urn={HILLSIDE}"),
        )
        .await
        .json();
    let pushed = &imports["items"][0];
    assert_eq!(pushed["resource_type"], "register_import", "{imports}");
    assert_eq!(pushed["outcome"], "committed");
    assert_eq!(pushed["actor_role"], "school");
});

on_both_backends!(roll_sync_counts_and_updates, |app| {
    let s = setup(&app).await;
    let again = app
        .put_json(
            &s.oakfield,
            "/api/v1/schools/117001/pupils",
            &json!({"pupils": (1..=5).map(pupil).collect::<Vec<_>>()}),
        )
        .await
        .json();
    assert_eq!(
        (again["inserted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(5))
    );
    let mut moved = pupil(2);
    moved["postcode"] = json!("al1 3ab");
    let mut leaver = pupil(3);
    leaver["on_roll_until"] = json!("2026-11-13");
    let bad = json!({"upn": upn(9), "legal_forename": "", "legal_surname": "X", "date_of_birth": "2014-01-01", "on_roll_from": "2026-09-03"});
    let r = app
        .put_json(
            &s.oakfield,
            "/api/v1/schools/117001/pupils",
            &json!({"pupils": [moved, leaver, pupil(10), bad]}),
        )
        .await
        .json();
    assert_eq!(
        (
            r["inserted"].as_u64(),
            r["updated"].as_u64(),
            r["rejected"].as_u64()
        ),
        (Some(1), Some(2), Some(1))
    );
    assert_eq!(r["errors"][0]["reason"], "invalid_name");
    assert_eq!(r["errors"][0]["pointer"], "/pupils/3/legal_forename");
    let p = app
        .get(&s.la, &format!("/api/v1/pupils/{}", upn(2)))
        .await
        .json();
    assert_eq!(p["postcode"], "AL1 3AB");
    // A leaver's marks after leaving are refused; the school no longer sees the pupil.
    let r = push(
        &app,
        &s.oakfield,
        OAKFIELD,
        vec![
            mark(3, "2026-11-13", "AM", "/"),
            mark(3, "2026-11-16", "AM", "/"),
        ],
    )
    .await
    .json();
    assert_eq!(
        (r["inserted"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["errors"][0]["reason"], "pupil_not_on_roll");
    app.get(&s.oakfield, &format!("/api/v1/pupils/{}", upn(3)))
        .await
        .problem(404);
    // Dual registration: Hillside puts pupil 1 on its roll too; each school keeps its own marks.
    app.put_json(
        &s.hillside,
        "/api/v1/schools/117002/pupils",
        &json!({"pupils": [pupil(1)]}),
    )
    .await;
    push(
        &app,
        &s.oakfield,
        OAKFIELD,
        vec![mark(1, "2026-11-20", "AM", "D")],
    )
    .await;
    push(
        &app,
        &s.hillside,
        HILLSIDE,
        vec![mark(1, "2026-11-20", "AM", "/")],
    )
    .await;
    let la_view = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-20&to=2026-11-20",
                upn(1)
            ),
        )
        .await
        .json();
    assert_eq!(la_view["marks"].as_array().unwrap().len(), 2);
    let own_view = app
        .get(
            &s.hillside,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-20&to=2026-11-20",
                upn(1)
            ),
        )
        .await
        .json();
    assert_eq!(
        own_view["marks"],
        json!([{"date": "2026-11-20", "session": "AM", "code": "/", "category": "present", "minutes_late": null, "school_urn": 117002}])
    );
});

on_both_backends!(limits_refuse_oversized_pushes, |app| {
    let s = setup(&app).await;
    // Over the row cap (300 in tests): 413 saying how to split.
    let many: Vec<Value> = (0..301).map(|_| mark(1, "2026-11-20", "AM", "/")).collect();
    let r = push(&app, &s.oakfield, OAKFIELD, many).await;
    assert!(r.problem(413)["detail"].as_str().unwrap().contains("split"));
    // Over the body limit (64 KiB in tests): 413 before parsing.
    let big = format!(
        "{{\"marks\": [], \"pad\": \"{}\"}}",
        "x".repeat(common::BODY_LIMIT)
    );
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "application/json",
        None,
        big,
    )
    .await;
    r.problem(413);
    // A gzip bomb: 50 MB of zeros in ~50 KB, refused once the output passes the limit.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..50 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < common::BODY_LIMIT);
    let r = post_body(
        &app,
        &s.oakfield,
        "/api/v1/schools/117001/registers",
        "application/json",
        Some("gzip"),
        bomb,
    )
    .await;
    assert!(r.problem(413)["detail"]
        .as_str()
        .unwrap()
        .contains("after decompression"));
    // A push to a school the LA has not registered.
    let ghost = app.token(Role::School, &[117099]).await;
    push(&app, &ghost, 117099, week(1)).await.problem(404);
    // Wrong JSON shape: 422 with the pointer.
    let r = push(
        &app,
        &s.oakfield,
        OAKFIELD,
        vec![json!({"upn": 5, "date": "2026-11-20", "session": "AM", "code": "/"})],
    )
    .await;
    assert_eq!(r.pointers(), vec!["/marks/0/upn"]);
});

on_both_backends!(a_push_mixing_new_unchanged_and_changed_marks, |app| {
    let s = setup(&app).await;
    push(&app, &s.oakfield, OAKFIELD, week(1)).await;
    // The first row is new (so the plain-insert path is tried first on PostgreSQL), later rows
    // repeat or correct stored marks.
    let mut rows = vec![
        mark(2, "2026-11-20", "AM", "/"),
        mark(2, "2026-11-20", "PM", "\\"),
    ];
    let mut repeat = week(1);
    repeat[0] = mark(1, "2026-11-16", "AM", "M");
    rows.extend(repeat);
    let r = push(&app, &s.oakfield, OAKFIELD, rows).await.json();
    assert_eq!(
        (
            r["inserted"].as_u64(),
            r["updated"].as_u64(),
            r["unchanged"].as_u64()
        ),
        (Some(2), Some(1), Some(9)),
        "{r}"
    );
    let view = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-16&to=2026-11-16",
                upn(1)
            ),
        )
        .await
        .json();
    assert_eq!(view["marks"][0]["code"], "M");
    assert_eq!(view["changes"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            view["changes"][0]["old_code"].as_str(),
            view["changes"][0]["new_code"].as_str()
        ),
        (Some("/"), Some("M"))
    );
});
