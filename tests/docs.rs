//! The committed OpenAPI document equals the generated one; the Swagger UI works offline.

mod common;

use actix_web::test::TestRequest;
use common::TestApp;

#[test]
fn committed_openapi_matches_the_code() {
    let generated = esma_api::api::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != generated {
        if std::env::var("UPDATE_OPENAPI").is_ok() {
            std::fs::write(path, &generated).unwrap();
            return;
        }
        panic!("openapi/openapi.json differs from the code: run `cargo run -- openapi > openapi/openapi.json` (or UPDATE_OPENAPI=1 cargo test --test docs)");
    }
}

#[test]
fn spec_declares_client_credentials_and_problem_responses() {
    let spec: serde_json::Value = serde_json::from_str(&esma_api::api::openapi_json()).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let flow = &spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"];
    assert_eq!(flow["tokenUrl"], "/oauth/token");
    let put = &spec["paths"]["/api/v1/schools/{urn}"]["put"];
    assert!(put["responses"]["422"]["content"]["application/problem+json"].is_object());
}

#[test]
fn the_referral_examples_are_a_real_request_and_its_real_assessment() {
    let spec: serde_json::Value = serde_json::from_str(&esma_api::api::openapi_json()).unwrap();
    let post = &spec["paths"]["/api/v1/referrals"]["post"];
    let request = &post["requestBody"]["content"]["application/json"]["example"];
    let form: esma_api::domain::referral::ReferralForm =
        serde_json::from_value(request.clone()).expect("the request example is a valid request");
    // Hillside's pupil 1, whom the demo leaves free to refer; on the reference day the example
    // is the file the README sends.
    assert_eq!(form.school_urn, 117002);
    assert_eq!(form.pupil.upn, esma_api::demo::demo_upn(1, 1));
    let file: serde_json::Value = serde_json::from_str(include_str!("../examples/referral.json"))
        .expect("examples/referral.json is JSON");
    assert_eq!(request, &file);
    let response = &post["responses"]["201"]["content"]["application/json"]["example"];
    assert_eq!(response["request"], serde_json::to_value(&form).unwrap());
    let criteria = response["assessment"]["criteria"].as_array().unwrap();
    assert_eq!(criteria.len(), 6);
    assert!(criteria
        .iter()
        .all(|c| c["reason"].as_str().unwrap().ends_with('.')));
    // No APDR record: incomplete, which the patch example supplies.
    assert_eq!(response["assessment"]["outcome"], "incomplete");
    assert_eq!(response["assessment"]["missing"][0]["item"], "apdr");
    let patch = &spec["paths"]["/api/v1/referrals/{id}"]["patch"]["requestBody"]["content"]
        ["application/merge-patch+json"]["example"];
    assert_eq!(patch["support"]["apdr_attached"], true);
    assert_eq!(response["assessment_due_by"], "2026-12-14");
}

#[test]
fn every_request_body_and_path_parameter_of_the_spec_has_an_example() {
    let spec: serde_json::Value = serde_json::from_str(&esma_api::api::openapi_json()).unwrap();
    let mut missing = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (media, content) in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if content.get("example").is_none() {
                    missing.push(format!("{method} {path} {media}"));
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "path" && param.get("example").is_none() {
                    missing.push(format!(
                        "{method} {path} {{{}}}",
                        param["name"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "no example: {missing:#?}");
}

#[test]
fn spec_has_one_relative_server_and_list_items_reference_their_schemas() {
    let spec: serde_json::Value = serde_json::from_str(&esma_api::api::openapi_json()).unwrap();
    assert_eq!(spec["servers"], serde_json::json!([{"url": "/"}]));
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let pages: Vec<_> = schemas.keys().filter(|k| k.starts_with("Page_")).collect();
    assert!(pages.len() >= 8, "{pages:?}");
    for page in pages {
        let item = &page["Page_".len()..];
        assert_eq!(
            schemas[page]["properties"]["items"]["items"]["$ref"],
            format!("#/components/schemas/{item}"),
            "{page}"
        );
    }
}

#[test]
fn every_operation_says_who_may_call_it() {
    let spec: serde_json::Value = serde_json::from_str(&esma_api::api::openapi_json()).unwrap();
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let summary = op["summary"].as_str().unwrap_or_default();
            let description = op["description"].as_str().unwrap_or_default();
            assert!(
                !summary.is_empty() && !summary.contains('\n'),
                "{method} {path}: one summary line, not {summary:?}"
            );
            assert!(
                description.contains("Who: "),
                "{method} {path}: the description should say who may call it: {description:?}"
            );
        }
    }
    assert!(operations >= 38, "{operations}");
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_service_itself() {
    let app = TestApp::sqlite();
    let redirect = app.send(TestRequest::get().uri("/swagger-ui")).await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location").as_deref(), Some("/swagger-ui/"));
    let page = app.send(TestRequest::get().uri("/swagger-ui/")).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page must not load assets from elsewhere: {html}"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "{asset} not referenced");
        let r = app
            .send(TestRequest::get().uri(&format!("/swagger-ui/{asset}")))
            .await;
        assert_eq!(r.status, 200, "{asset}");
        assert!(r.body.len() > 100, "{asset} is empty");
    }
    let init = app
        .send(TestRequest::get().uri("/swagger-ui/swagger-initializer.js"))
        .await
        .text();
    assert!(init.contains("/api-docs/openapi.json"), "{init}");
    // Swagger UI sends the spec's URL to validator.swagger.io unless told not to (issue 22;
    // .ci/swagger-offline watches the page's requests in a browser).
    assert!(init.contains(r#""validatorUrl": "none""#), "{init}");
    let spec = app
        .send(TestRequest::get().uri("/api-docs/openapi.json"))
        .await;
    assert_eq!(spec.status, 200);
    assert_eq!(spec.json()["info"]["title"], "esma-api");
    // The 1.5 MB bundle is compressed for browsers that ask.
    let gz = app
        .send(
            TestRequest::get()
                .uri("/swagger-ui/swagger-ui-bundle.js")
                .insert_header(("accept-encoding", "gzip")),
        )
        .await;
    assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
}

/// The served spec's examples follow the server's today and its calendar: on Saturday 13
/// February 2027, before the February half term, the register is Friday's, evidence is dated
/// that Saturday, and a case may start only after half term (22 February); the committed file
/// keeps the reference day.
#[actix_web::test]
async fn the_served_examples_are_dated_from_the_servers_today_and_calendar() {
    let mut app = TestApp::sqlite();
    app.state.clock = esma_api::clock::Clock::fixed(common::date("2027-02-13"));
    let la = app.token(esma_api::domain::access::Role::La, &[]).await;
    let r = app
        .put_json(&la, "/api/v1/calendar/2026-27", &common::calendar(&[]))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let served = app
        .send(TestRequest::get().uri("/api-docs/openapi.json"))
        .await
        .json();
    let example = |path: &str, method: &str| {
        served["paths"][path][method]["requestBody"]["content"]["application/json"]["example"]
            .clone()
    };
    assert_eq!(
        example("/api/v1/referrals/{id}/decision", "post")["start_date"],
        "2027-02-22"
    );
    assert_eq!(
        example("/api/v1/schools/{urn}/registers", "post")["marks"][0]["date"],
        "2027-02-12"
    );
    assert_eq!(
        example("/api/v1/cases/{id}/medical-evidence", "post")["issued_on"],
        "2027-02-13"
    );
    assert!(served["info"]["description"]
        .as_str()
        .unwrap()
        .contains("2027-02-13"));
    let committed: serde_json::Value =
        serde_json::from_str(&esma_api::api::openapi_json()).unwrap();
    assert_eq!(
        committed["paths"]["/api/v1/referrals/{id}/decision"]["post"]["requestBody"]["content"]
            ["application/json"]["example"]["start_date"],
        "2026-11-24"
    );
}
