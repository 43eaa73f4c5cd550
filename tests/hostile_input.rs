//! Hostile input (issue 20): errors never echo more than a short clip of what was sent, and no
//! text field stores a control character (API.md "Conventions").

mod common;

use std::io::Write;

use actix_web::test::TestRequest;
use common::{setup, short_referral, upn, TestApp, OAKFIELD};
use esma_api::domain::access::Role;
use serde_json::{json, Value};

/// Larger than any answer should be: an error is a few sentences, whatever the input.
const SMALL: usize = 4 * 1024;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

async fn put_school(app: &TestApp, token: &str, body: &str) -> common::Reply {
    app.send(
        TestRequest::put()
            .uri("/api/v1/schools/117001")
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_string()),
    )
    .await
}

// Defect 2: a 60 KB key was echoed four times (detail, pointer, message ...).
on_both_backends!(a_huge_unknown_key_is_echoed_clipped, |app| {
    let la = app.token(Role::La, &[]).await;
    let key = "k".repeat(60_000);
    let body = format!(
        "{{\"name\": \"Oakfield\", \"laestab\": \"9192001\", \"phase\": \"primary\", \"{key}\": 1}}"
    );
    let r = put_school(&app, &la, &body).await;
    assert!(r.body.len() < SMALL, "{} bytes", r.body.len());
    let problem = r.problem(422);
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("unknown field"), "{message}");
    assert!(
        message.contains(&format!("{}…", "k".repeat(64))),
        "{message}"
    );
    assert!(message.contains("58 KiB, truncated"), "{message}");
    assert!(message.contains("expected one of `name`"), "{message}");

    // A value (an unknown enum word) likewise.
    let body = format!(
        "{{\"name\": \"Oakfield\", \"laestab\": \"9192001\", \"phase\": \"{}\"}}",
        "p".repeat(60_000)
    );
    let r = put_school(&app, &la, &body).await;
    assert!(r.body.len() < SMALL, "{} bytes", r.body.len());
    assert_eq!(r.pointers(), vec!["/phase"]);

    // A gzipped push: the key inside a row.
    let s = setup(&app).await;
    let row = format!(
        "{{\"marks\": [{{\"upn\": \"{}\", \"date\": \"2026-11-20\", \"session\": \"AM\", \"code\": \"/\", \"{key}\": 1}}]}}",
        upn(1)
    );
    let r = app
        .send(
            TestRequest::post()
                .uri("/api/v1/schools/117001/registers")
                .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                .insert_header(("content-type", "application/json"))
                .insert_header(("content-encoding", "gzip"))
                .set_payload(gzip(row.as_bytes())),
        )
        .await;
    assert!(r.body.len() < SMALL, "{} bytes", r.body.len());
    let problem = r.problem(422);
    assert!(problem["detail"].as_str().unwrap().starts_with("/marks/0"));

    // A validator message that quoted the whole value (the postcode).
    let mut form = short_referral(1, OAKFIELD);
    form["pupil"]["postcode"] = json!("Q".repeat(60_000));
    let r = app
        .call("POST", &s.oakfield, "/api/v1/referrals", Some(&form))
        .await;
    assert!(r.body.len() < SMALL, "{} bytes", r.body.len());
    assert_eq!(r.pointers(), vec!["/pupil/postcode"]);

    // A CSV header.
    let csv = format!("upn,date,session,code,{}\n", "c".repeat(60_000));
    let r = app
        .send(
            TestRequest::post()
                .uri("/api/v1/schools/117001/registers")
                .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                .insert_header(("content-type", "text/csv"))
                .set_payload(csv),
        )
        .await;
    assert!(r.body.len() < SMALL, "{} bytes", r.body.len());
    r.problem(422);

    // A path nothing serves.
    let r = app
        .send(TestRequest::get().uri(&format!("/{}", "x".repeat(20_000))))
        .await;
    assert!(r.body.len() < SMALL, "{} bytes", r.body.len());
    r.problem(404);
});

/// The pointer of the single 422 problem `r` reports, after checking its message.
fn control_pointer(r: &common::Reply) -> String {
    let problem = r.problem(422);
    let errors = problem["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{problem}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("control character U+"), "{message}");
    errors[0]["pointer"].as_str().unwrap().to_string()
}

// Defect 4: a NUL was a 500 on PostgreSQL and stored on SQLite.
on_both_backends!(control_characters_are_refused_with_their_pointer, |app| {
    let s = setup(&app).await;
    let la = &s.la;

    let r = app
        .put_json(
            la,
            "/api/v1/schools/117003",
            &json!({"name": "Oak\u{0}field", "laestab": "9192003", "phase": "primary"}),
        )
        .await;
    assert_eq!(control_pointer(&r), "/name");
    app.get(la, "/api/v1/schools/117003").await.problem(404);
    // A line break is no more a part of a name than a NUL.
    let r = app
        .put_json(
            la,
            "/api/v1/schools/117003",
            &json!({"name": "Oak\r\nfield", "laestab": "9192003", "phase": "primary"}),
        )
        .await;
    assert_eq!(control_pointer(&r), "/name");

    let mut calendar = common::calendar(&[]);
    calendar["terms"][1]["name"] = json!("spring\u{0}");
    let r = app
        .put_json(la, "/api/v1/calendar/2026-27", &calendar)
        .await;
    assert_eq!(control_pointer(&r), "/terms/1/name");

    for (body, pointer) in [
        (
            json!({"url": "https://mis.example.org/hook", "events": ["case.closed"], "description": "Arbor\u{0}"}),
            "/description",
        ),
        (
            json!({"url": "https://mis.example.org/\nhook", "events": ["case.closed"]}),
            "/url",
        ),
        (
            json!({"url": "https://mis.example.org/hook", "events": ["case.closed\u{7f}"]}),
            "/events/0",
        ),
    ] {
        let r = app.call("POST", la, "/api/v1/webhooks", Some(&body)).await;
        assert_eq!(control_pointer(&r), pointer, "{body}");
    }

    // The referral form: names are single-line, the pupil's voice is free text.
    let mut form = short_referral(1, OAKFIELD);
    form["pupil"]["legal_forename"] = json!("Pupil\u{0}1");
    let r = app
        .call("POST", &s.oakfield, "/api/v1/referrals", Some(&form))
        .await;
    assert_eq!(control_pointer(&r), "/pupil/legal_forename");
    let mut form = short_referral(1, OAKFIELD);
    form["pupil_voice"] = json!("I miss\u{0} my friends");
    let r = app
        .call("POST", &s.oakfield, "/api/v1/referrals", Some(&form))
        .await;
    assert_eq!(control_pointer(&r), "/pupil_voice");
    let mut form = short_referral(1, OAKFIELD);
    form["pupil_voice"] = json!("I miss my friends.\r\nAnd maths.\n\tMostly maths.");
    form["medical"]["condition"] = json!("Fracture\nleft femur");
    let r = app
        .call("POST", &s.oakfield, "/api/v1/referrals", Some(&form))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    // A lone CR is not a line break.
    let r = app
        .send(
            TestRequest::patch()
                .uri(&format!("/api/v1/referrals/{id}"))
                .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                .insert_header(("content-type", "application/merge-patch+json"))
                .set_payload(json!({"baseline": {"wellbeing": "Low\rmood"}}).to_string()),
        )
        .await;
    assert_eq!(control_pointer(&r), "/baseline/wellbeing");
    let r = app
        .call(
            "POST",
            la,
            &format!("/api/v1/referrals/{id}/decision"),
            Some(&json!({"outcome": "accepted", "start_date": "2026-11-30",
                "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
                "decided_by": "J.\u{0}Smith"})),
        )
        .await;
    assert_eq!(control_pointer(&r), "/decided_by");
    let r = app
        .call(
            "POST",
            &s.oakfield,
            &format!("/api/v1/referrals/{id}/withdraw"),
            Some(&json!({"reason": "Moved\u{0}away"})),
        )
        .await;
    assert_eq!(control_pointer(&r), "/reason");
    let stored = app.get(la, &format!("/api/v1/referrals/{id}")).await.json();
    assert_eq!(stored["status"], "submitted", "{stored}");

    // Cases: checked before the case is looked up.
    for (uri, body, pointer) in [
        (
            "/api/v1/cases/1/exit",
            json!({"reason": "too_unwell", "effective_date": "2027-02-12", "notes": "a\u{0}b", "decided_by": "J. Smith"}),
            "/notes",
        ),
        (
            "/api/v1/cases/1/reviews",
            json!({"scheduled_for": "2027-01-12", "label": "after\u{1b}[31m hospital"}),
            "/label",
        ),
    ] {
        let r = app.call("POST", la, uri, Some(&body)).await;
        assert_eq!(control_pointer(&r), pointer, "{uri}");
    }
});

// In a push a control character refuses the row, not the push: the report says which.
on_both_backends!(control_characters_in_a_push_refuse_the_row, |app| {
    let s = setup(&app).await;
    let mut bad_name = common::pupil(8);
    bad_name["legal_forename"] = json!("Pupil\u{0}8");
    let mut bad_postcode = common::pupil(9);
    bad_postcode["postcode"] = json!("SG1\n2AB");
    let r = app
        .put_json(
            &s.oakfield,
            "/api/v1/schools/117001/pupils",
            &json!({"pupils": [common::pupil(10), bad_name, bad_postcode]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["inserted"], 1, "{report}");
    assert_eq!(report["rejected_by_reason"], json!({"invalid_text": 2}));
    let pointers: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/pupils/1/legal_forename", "/pupils/2/postcode"]);

    let good = json!({"upn": upn(1), "date": "2026-11-20", "session": "AM", "code": "/"});
    let bad = json!({"upn": format!("{}\u{0}", upn(1)), "date": "2026-11-20", "session": "PM", "code": "\\"});
    let r = app
        .call(
            "POST",
            &s.oakfield,
            "/api/v1/schools/117001/registers",
            Some(&json!({"marks": [good, bad]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report: Value = r.json();
    assert_eq!(report["inserted"], 1, "{report}");
    assert_eq!(report["errors"][0]["reason"], "invalid_text", "{report}");
    assert_eq!(report["errors"][0]["pointer"], "/marks/1/upn", "{report}");

    let csv = format!("upn,date,session,code\n{},2026-11-19,A\u{1}M,/\n", upn(1));
    let r = app
        .send(
            TestRequest::post()
                .uri("/api/v1/schools/117001/registers")
                .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                .insert_header(("content-type", "text/csv"))
                .set_payload(csv),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report: Value = r.json();
    assert_eq!(report["errors"][0]["reason"], "invalid_text", "{report}");
    assert_eq!(report["errors"][0]["field"], "session", "{report}");
});

/// Serves the app on a local port through `server::http_server` (the real server, whose
/// connection wrapper is under test), sends each raw request on its own connection and returns
/// what came back on each, read until the server closed it or 5 seconds passed.
async fn raw_exchanges(app: &TestApp, requests: Vec<Vec<u8>>) -> Vec<String> {
    use esma_api::api::HttpSettings;
    use esma_api::server::{http_server, ServerLimits};
    use std::time::Duration;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = http_server(
        listener,
        app.state.clone(),
        app.metrics.clone(),
        HttpSettings {
            body_limit: common::BODY_LIMIT,
            max_push_rows: common::MAX_PUSH_ROWS,
            ..HttpSettings::default()
        },
        ServerLimits {
            // actix measures it from a clock it updates every 500 ms: well above that.
            request_timeout: Duration::from_millis(1500),
            workers: Some(1),
        },
    )
    .unwrap();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let answers = actix_web::rt::task::spawn_blocking(move || {
        use std::io::Read;
        requests
            .into_iter()
            .map(|request| {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                stream.write_all(&request).unwrap();
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
                String::from_utf8_lossy(&answer).into_owned()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    handle.stop(false).await;
    answers
}

/// Asserts `answer` (the last on its connection) is a problem+json `status`; returns its body.
fn raw_problem(answer: &str, status: u16) -> Value {
    let at = answer.rfind("HTTP/1.1 ").expect("an answer");
    let (head, body) = answer[at..].split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
    assert!(
        head.contains("content-type: application/problem+json\r\n"),
        "{answer}"
    );
    assert!(
        head.contains(&format!("content-length: {}\r\n", body.len())),
        "{answer}"
    );
    let problem: Value = serde_json::from_str(body).expect("problem+json");
    assert_eq!(problem["status"], status);
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let id = problem["correlation_id"].as_str().unwrap();
    assert!(
        head.contains(&format!("x-correlation-id: {id}\r\n")),
        "{answer}"
    );
    problem
}

// Defect 11: what actix's HTTP parser refused (before the app saw it) came with an empty body.
on_both_backends!(requests_the_parser_refuses_get_problem_json, |app| {
    let many_headers: String = (0..100).map(|i| format!("x-h{i}: v\r\n")).collect();
    let answers = raw_exchanges(
        &app,
        vec![
            b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(),
            b"BAD REQUEST LINE\r\n\r\n".to_vec(),
            b"GET /health HTTP/1.1\r\nhost x\r\n\r\n".to_vec(),
            format!("GET /health HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n").into_bytes(),
            // The head never finishes.
            b"GET /health HTTP/1.1\r\nhost: x\r\n".to_vec(),
            // A good request, then a bad one on the same connection.
            b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nho st: x\r\n\r\n".to_vec(),
            b"GET /nothing-here HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(),
        ],
    )
    .await;
    assert!(
        answers[0].starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        answers[0]
    );
    assert!(raw_problem(&answers[1], 400)["detail"]
        .as_str()
        .unwrap()
        .contains("malformed"));
    raw_problem(&answers[2], 400);
    assert_eq!(
        raw_problem(&answers[3], 431)["type"],
        "urn:esma:problem:request-header-fields-too-large"
    );
    assert_eq!(
        raw_problem(&answers[4], 408)["type"],
        "urn:esma:problem:request-timeout"
    );
    assert!(
        answers[5].starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        answers[5]
    );
    raw_problem(&answers[5], 400);
    raw_problem(&answers[6], 404);
});
