//! Every error class is RFC 9457 problem+json with a correlation id (API.md "Conventions").

mod common;

use actix_web::test::TestRequest;
use common::BODY_LIMIT;
use esma_api::domain::access::Role;
use serde_json::json;

on_both_backends!(every_error_class_is_a_problem, |app| {
    let la = app.token(Role::La, &[]).await;
    let auth = ("authorization", format!("Bearer {la}"));
    let school =
        json!({"name": "Oakfield Primary School", "laestab": "9192001", "phase": "primary"});

    // 400 malformed JSON
    let r = app
        .send(
            TestRequest::put()
                .uri("/api/v1/schools/117001")
                .insert_header(auth.clone())
                .insert_header(("content-type", "application/json"))
                .set_payload("{\"name\": "),
        )
        .await;
    assert!(r.problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));
    // 415 wrong media type
    let r = app
        .send(
            TestRequest::put()
                .uri("/api/v1/schools/117001")
                .insert_header(auth.clone())
                .insert_header(("content-type", "text/plain"))
                .set_payload(school.to_string()),
        )
        .await;
    r.problem(415);
    // 413 body too large, refused before parsing
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(BODY_LIMIT + 10));
    let r = app
        .send(
            TestRequest::put()
                .uri("/api/v1/schools/117001")
                .insert_header(auth.clone())
                .insert_header(("content-type", "application/json"))
                .set_payload(big),
        )
        .await;
    r.problem(413);
    // 404 unknown route
    let r = app
        .send(TestRequest::get().uri("/api/v1/nothing-here"))
        .await;
    assert!(r.problem(404)["detail"]
        .as_str()
        .unwrap()
        .contains("/api/v1/nothing-here"));
    // 405 wrong method, with Allow
    let r = app
        .send(
            TestRequest::delete()
                .uri("/api/v1/schools/117001")
                .insert_header(auth.clone()),
        )
        .await;
    r.problem(405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, PUT"));
    // 400 bad path parameter (not a number, and not 6 digits)
    app.get(&la, "/api/v1/schools/abc").await.problem(400);
    app.get(&la, "/api/v1/schools/12").await.problem(400);
    app.get(&la, "/api/v1/calendar/2026-28").await.problem(400);
    // 400 bad query parameter; 422 when well-formed but out of range
    app.get(&la, "/api/v1/schools?limit=abc").await.problem(400);
    assert_eq!(
        app.get(&la, "/api/v1/schools?limit=0").await.pointers(),
        vec!["/query/limit"]
    );
    app.get(&la, "/api/v1/schools?cursor=bm9wZQ")
        .await
        .problem(400);
    // 422 validation with pointers (wrong type, unknown field, rule failures)
    let r = app
        .put_json(
            &la,
            "/api/v1/schools/117001",
            &json!({"name": "", "laestab": "12", "phase": "primary"}),
        )
        .await;
    assert_eq!(r.pointers(), vec!["/laestab", "/name"]);
    let r = app
        .put_json(
            &la,
            "/api/v1/schools/117001",
            &json!({"name": "A", "laestab": "9192001", "phase": "college"}),
        )
        .await;
    assert_eq!(r.pointers(), vec!["/phase"]);
    let r = app
        .put_json(
            &la,
            "/api/v1/schools/117001",
            &json!({"name": "A", "laestab": "9192001", "phase": "primary", "lea": 1}),
        )
        .await;
    assert!(r.problem(422)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field"));
    let r = app
        .put_json(
            &la,
            "/api/v1/schools/117001",
            &json!({"name": "A", "laestab": "8012001", "phase": "primary"}),
        )
        .await;
    assert!(r.problem(422)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("919"));
    // 401 without a token
    app.send(TestRequest::get().uri("/api/v1/schools"))
        .await
        .problem(401);
});

on_both_backends!(correlation_id_is_echoed_or_issued, |app| {
    let r = app
        .send(
            TestRequest::get()
                .uri("/health")
                .insert_header(("x-correlation-id", "vendor-ticket-42")),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-correlation-id").as_deref(),
        Some("vendor-ticket-42")
    );
    let r = app
        .send(
            TestRequest::get()
                .uri("/nope")
                .insert_header(("x-correlation-id", "vendor-ticket-43")),
        )
        .await;
    assert_eq!(r.problem(404)["correlation_id"], "vendor-ticket-43");
    // A header that is not a sane token is replaced, not echoed.
    let r = app
        .send(
            TestRequest::get()
                .uri("/health")
                .insert_header(("x-correlation-id", "<script>")),
        )
        .await;
    let issued = r.header("x-correlation-id").unwrap();
    assert_ne!(issued, "<script>");
    assert_eq!(issued.len(), 36);
});

on_both_backends!(health_and_metrics, |app| {
    let r = app.send(TestRequest::get().uri("/health")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["database"], "ok");
    assert_eq!(r.json()["backend"], app.backend);
    app.send(TestRequest::get().uri("/nope")).await;
    let metrics = app.send(TestRequest::get().uri("/metrics")).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains(
            "esma_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"unmatched\",status=\"404\""),
        "{text}"
    );
    assert!(
        text.contains("esma_http_request_duration_seconds_bucket"),
        "{text}"
    );
});
