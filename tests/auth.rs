//! OAuth2 client credentials and bearer tokens (API.md "Authentication and roles").

mod common;

use actix_web::test::TestRequest;
use base64::Engine;
use common::{basic, AUDIENCE, ISSUER, JWT_SECRET};
use esma_api::domain::access::Role;
use esma_api::service::{clients, tokens::Claims, Actor};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

fn form(body: &str) -> TestRequest {
    TestRequest::post()
        .uri("/oauth/token")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_string())
}

fn claims(sub: &str, role: Role, iat_offset: i64, exp_offset: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: sub.into(),
        iat: now + iat_offset,
        nbf: now + iat_offset,
        exp: now + exp_offset,
        jti: "test".into(),
        role,
        schools: None,
        scope: role.as_str().into(),
    }
}

fn sign(c: &Claims) -> String {
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        c,
        &EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap()
}

on_both_backends!(token_by_basic_and_by_form, |app| {
    let (id, secret) = app.client(Role::School, &[117001, 117002]);
    let by_basic = app
        .send(
            form("grant_type=client_credentials")
                .insert_header(("authorization", basic(&id, &secret))),
        )
        .await;
    assert_eq!(by_basic.status, 200, "{}", by_basic.text());
    assert_eq!(
        by_basic.header("cache-control").as_deref(),
        Some("no-store")
    );
    let body = by_basic.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "school");

    let by_form = app
        .send(form(&format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}"
        )))
        .await;
    assert_eq!(by_form.status, 200, "{}", by_form.text());
    let token = by_form.json()["access_token"].as_str().unwrap().to_string();

    let info = app.get(&token, "/oauth/token_info").await;
    assert_eq!(info.status, 200, "{}", info.text());
    let info = info.json();
    assert_eq!(info["client_id"], id.as_str());
    assert_eq!(info["role"], "school");
    assert_eq!(info["schools"], json!([117001, 117002]));
    assert!(info["expires_in"].as_i64().unwrap() > 3500);

    // The JWT carries every claim API.md names.
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    for claim in [
        "iss", "aud", "sub", "iat", "nbf", "exp", "jti", "role", "schools",
    ] {
        assert!(
            claims.get(claim).is_some(),
            "claim {claim} missing from {claims}"
        );
    }
});

on_both_backends!(token_endpoint_refusals_use_rfc6749_bodies, |app| {
    let (id, secret) = app.client(Role::La, &[]);
    let cases = [
        (
            form("grant_type=client_credentials")
                .insert_header(("authorization", basic(&id, "wrong"))),
            401,
            "invalid_client",
        ),
        (
            form("grant_type=client_credentials")
                .insert_header(("authorization", basic("nobody", &secret))),
            401,
            "invalid_client",
        ),
        (
            form(&format!(
                "grant_type=client_credentials&client_id={id}&client_secret=nope"
            )),
            401,
            "invalid_client",
        ),
        (form("grant_type=client_credentials"), 401, "invalid_client"),
        (
            form("grant_type=password").insert_header(("authorization", basic(&id, &secret))),
            400,
            "unsupported_grant_type",
        ),
        (
            form("").insert_header(("authorization", basic(&id, &secret))),
            400,
            "invalid_request",
        ),
        (
            form(&format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}"
            ))
            .insert_header(("authorization", basic(&id, &secret))),
            400,
            "invalid_request",
        ),
        (
            form("grant_type=client_credentials&scope=admin")
                .insert_header(("authorization", basic(&id, &secret))),
            400,
            "invalid_scope",
        ),
        (
            TestRequest::post()
                .uri("/oauth/token")
                .insert_header(("authorization", basic(&id, &secret)))
                .set_json(json!({"grant_type": "client_credentials"})),
            400,
            "invalid_request",
        ),
    ];
    for (req, status, error) in cases {
        let reply = app.send(req).await;
        assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
        assert_eq!(reply.json()["error"], error, "{}", reply.text());
        assert!(reply.json()["error_description"].as_str().is_some());
        if status == 401 {
            assert!(reply.header("www-authenticate").is_some());
        }
    }
    // The right credentials still work after all that.
    let ok = app
        .send(
            form("grant_type=client_credentials")
                .insert_header(("authorization", basic(&id, &secret))),
        )
        .await;
    assert_eq!(ok.status, 200);
});

on_both_backends!(revoked_client_loses_tokens_and_cannot_get_new_ones, |app| {
    let (id, secret) = app.client(Role::La, &[]);
    let token = app.token_for(&id, &secret).await;
    assert_eq!(app.get(&token, "/api/v1/schools").await.status, 200);

    clients::revoke(app.db(), &Actor::operator("test"), &id).unwrap();

    let reply = app.get(&token, "/api/v1/schools").await;
    let problem = reply.problem(401);
    assert!(
        problem["detail"].as_str().unwrap().contains("revoked"),
        "{problem}"
    );
    let again = app
        .send(
            form("grant_type=client_credentials")
                .insert_header(("authorization", basic(&id, &secret))),
        )
        .await;
    assert_eq!(again.status, 401);
    assert_eq!(again.json()["error"], "invalid_client");
    // Revoking twice is a conflict, an unknown client is not found.
    assert_eq!(
        clients::revoke(app.db(), &Actor::operator("test"), &id)
            .unwrap_err()
            .status(),
        409
    );
    assert_eq!(
        clients::revoke(app.db(), &Actor::operator("test"), "nobody")
            .unwrap_err()
            .status(),
        404
    );
});

on_both_backends!(bad_tokens_are_401_problems, |app| {
    let (id, _) = app.client(Role::La, &[]);
    let good = claims(&id, Role::La, 0, 3600);
    assert_eq!(
        app.get(&sign(&good), "/api/v1/schools").await.status,
        200,
        "a well-formed token is accepted"
    );

    let expired = claims(&id, Role::La, -7200, -3600);
    let not_yet_valid = claims(&id, Role::La, 600, 4200);
    let wrong_audience = Claims {
        aud: "someone-else".into(),
        ..good.clone()
    };
    let wrong_issuer = Claims {
        iss: "someone-else".into(),
        ..good.clone()
    };
    let other_key = encode(
        &Header::default(),
        &good,
        &EncodingKey::from_secret(b"another-secret-another-secret-0123"),
    )
    .unwrap();
    let tampered = {
        // Same signature, role changed from la to admin in the payload.
        let token = sign(&good);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = Claims {
            role: Role::Admin,
            ..good.clone()
        };
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&forged).unwrap());
        format!("{}.{}.{}", parts[0], payload, parts[2])
    };
    let alg_none = {
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&serde_json::to_value(&good).unwrap())
        )
    };
    let hs512 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &good,
        &EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap();
    let cases = [
        ("expired", sign(&expired)),
        ("not yet valid", sign(&not_yet_valid)),
        ("wrong audience", sign(&wrong_audience)),
        ("wrong issuer", sign(&wrong_issuer)),
        ("other key", other_key),
        ("tampered", tampered),
        ("alg none", alg_none),
        ("other algorithm", hs512),
        ("garbage", "not-a-jwt".to_string()),
    ];
    for (what, token) in cases {
        let reply = app.get(&token, "/api/v1/schools").await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text());
        reply.problem(401);
        assert!(
            reply
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer"),
            "{what}"
        );
    }
    let no_header = app.send(TestRequest::get().uri("/api/v1/schools")).await;
    no_header.problem(401);
    let basic_instead = app
        .send(
            TestRequest::get()
                .uri("/api/v1/schools")
                .insert_header(("authorization", basic("a", "b"))),
        )
        .await;
    basic_instead.problem(401);
});

on_both_backends!(roles_and_school_scoping, |app| {
    let la = app.token(Role::La, &[]).await;
    let school = app.token(Role::School, &[117001]).await;
    let admin = app.token(Role::Admin, &[]).await;
    let body = json!({"name": "Oakfield Primary School", "laestab": "9192001", "phase": "primary"});
    assert_eq!(
        app.put_json(&la, "/api/v1/schools/117001", &body)
            .await
            .status,
        201
    );
    let other = json!({"name": "Hillside Academy", "laestab": "9194001", "phase": "secondary"});
    assert_eq!(
        app.put_json(&la, "/api/v1/schools/117002", &other)
            .await
            .status,
        201
    );

    // A school client on an la endpoint: 403.
    app.put_json(&school, "/api/v1/schools/117001", &body)
        .await
        .problem(403);
    // Its own school: readable. Another school's: 404, as if it did not exist.
    assert_eq!(app.get(&school, "/api/v1/schools/117001").await.status, 200);
    let hidden = app
        .get(&school, "/api/v1/schools/117002")
        .await
        .problem(404);
    let missing = app.get(&la, "/api/v1/schools/999999").await.problem(404);
    assert_eq!(
        hidden["detail"].as_str().unwrap().replace("117002", "X"),
        missing["detail"].as_str().unwrap().replace("999999", "X")
    );
    // Lists only its own.
    let list = app.get(&school, "/api/v1/schools").await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["urn"], 117001);
    // admin does not read school data; la does not read the audit trail.
    app.get(&admin, "/api/v1/schools").await.problem(403);
    app.get(&la, "/api/v1/audit").await.problem(403);
    app.get(&school, "/api/v1/audit").await.problem(403);
    assert_eq!(app.get(&admin, "/api/v1/audit").await.status, 200);
});

// ------------------------------------------------------------ refused writes are audited

on_both_backends!(refused_writes_are_audited, |app| {
    let la = app.token(Role::La, &[]).await;
    let admin = app.token(Role::Admin, &[]).await;
    let (school_id, school_secret) = app.client(Role::School, &[117001]);
    let school = app.token_for(&school_id, &school_secret).await;
    let body = json!({"name": "Hillside Academy", "laestab": "9194001", "phase": "secondary"});
    assert_eq!(
        app.put_json(&la, "/api/v1/schools/117002", &body)
            .await
            .status,
        201
    );
    // A school client writing an LA resource, and pushing another school's roll: both 403.
    app.put_json(&school, "/api/v1/schools/117002", &body)
        .await
        .problem(403);
    let refused_push = app
        .put_json(
            &school,
            "/api/v1/schools/117002/pupils",
            &json!({"pupils": []}),
        )
        .await;
    refused_push.problem(403);

    let trail = app
        .get(&admin, &format!("/api/v1/audit?actor={school_id}"))
        .await;
    assert_eq!(trail.status, 200, "{}", trail.text());
    let items = trail.json()["items"].as_array().unwrap().clone();
    let refused: Vec<&serde_json::Value> = items
        .iter()
        .filter(|e| e["outcome"] == "forbidden")
        .collect();
    assert_eq!(refused.len(), 2, "both refusals are audited: {items:?}");
    // Newest first: the push, then the school write.
    assert_eq!(refused[0]["endpoint"], "PUT /api/v1/schools/{urn}/pupils");
    assert_eq!(refused[0]["school_urn"], 117002);
    assert_eq!(refused[0]["actor_role"], "school");
    assert_eq!(
        refused[0]["correlation_id"].as_str(),
        refused_push.header("x-correlation-id").as_deref()
    );
    assert_eq!(refused[1]["endpoint"], "PUT /api/v1/schools/{urn}");
    assert_eq!(refused[1]["resource_type"], "school");
    assert_eq!(refused[1]["resource_id"], "117002");
    assert_eq!(refused[1]["action"], "update");
    // A refused read of the audit trail by the LA is not a write: no row for it.
    app.get(&la, "/api/v1/audit").await.problem(403);
    let all = app.get(&admin, "/api/v1/audit?limit=500").await.json();
    assert_eq!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["outcome"] == "forbidden")
            .count(),
        2
    );
});

// ------------------------------------------------------------ token key rotation

const PREVIOUS_SECRET: &[u8] = b"the-previous-key-the-previous-key-0123456789";

on_both_backends!(
    tokens_carry_a_kid_and_a_previous_key_still_verifies,
    |app| {
        use esma_api::service::tokens::TokenKeys;
        use std::sync::Arc;
        let mut app = app;
        let (id, secret) = app.client(Role::La, &[]);
        // Issued before the rotation, under the key that is now the previous one.
        let before = TokenKeys::new(PREVIOUS_SECRET, ISSUER, AUDIENCE, 3600);
        let now = chrono::Utc::now().timestamp();
        let old_token = before
            .sign(&before.claims_for(&id, Role::La, &[], now))
            .unwrap();
        let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid;
        assert!(old_kid.is_some(), "tokens name their key");
        app.state.tokens = Arc::new(
            TokenKeys::new(JWT_SECRET, ISSUER, AUDIENCE, 3600).with_previous(PREVIOUS_SECRET),
        );
        assert_eq!(
            app.get(&old_token, "/api/v1/schools").await.status,
            200,
            "a token signed with the previous key is accepted until it expires"
        );
        let new_token = app.token_for(&id, &secret).await;
        let new_kid = jsonwebtoken::decode_header(&new_token).unwrap().kid;
        assert!(
            new_kid.is_some() && new_kid != old_kid,
            "new tokens use the current key"
        );
        assert_eq!(app.get(&new_token, "/api/v1/schools").await.status, 200);

        // A kid this service does not know: 401, even when the signature would verify.
        let c = claims(&id, Role::La, 0, 3600);
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("no-such-key".into());
        let unknown = encode(&header, &c, &EncodingKey::from_secret(JWT_SECRET)).unwrap();
        let reply = app.get(&unknown, "/api/v1/schools").await;
        assert!(reply.problem(401)["detail"]
            .as_str()
            .unwrap()
            .contains("key"));
        // The previous key's kid with a token signed by another key: 401.
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = old_kid.clone();
        let forged = encode(
            &header,
            &c,
            &EncodingKey::from_secret(b"some-other-key-some-other-key-0123"),
        )
        .unwrap();
        app.get(&forged, "/api/v1/schools").await.problem(401);
        // The algorithm stays pinned for the previous key too.
        let mut header = Header::new(jsonwebtoken::Algorithm::HS512);
        header.kid = old_kid;
        let hs512 = encode(&header, &c, &EncodingKey::from_secret(PREVIOUS_SECRET)).unwrap();
        app.get(&hs512, "/api/v1/schools").await.problem(401);

        // Once the previous key is dropped, its tokens stop working.
        app.state.tokens = Arc::new(TokenKeys::new(JWT_SECRET, ISSUER, AUDIENCE, 3600));
        app.get(&old_token, "/api/v1/schools").await.problem(401);
        assert_eq!(app.get(&new_token, "/api/v1/schools").await.status, 200);
    }
);
