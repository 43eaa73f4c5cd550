//! OAuth2 client credentials (RFC 6749 section 4.4) and token introspection for the caller.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Bearer;
use super::problem::Unauthorized;
use crate::domain::access::Role;
use crate::service::grants::{self, BasicCredentials, GrantRefusal, GrantRequest};
use crate::service::AppState;

/// The token request (form-encoded). Credentials go in HTTP Basic or in these fields, not both.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(example = "client_credentials")]
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Optional; the granted scope is the client's role.
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    #[schema(example = 3600)]
    pub expires_in: i64,
    #[schema(example = "la")]
    pub scope: String,
}

/// RFC 6749 section 5.2 error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    #[schema(example = "invalid_client")]
    pub error: String,
    pub error_description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub client_id: String,
    pub role: Role,
    /// The URNs a school client acts for (empty for `la` and `admin`).
    pub schools: Vec<i32>,
    pub scope: String,
    pub issued_at: String,
    pub expires_at: String,
    pub expires_in: i64,
}

fn oauth_error(status: u16, error: &str, description: impl Into<String>) -> HttpResponse {
    let mut res =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == 401 {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"esma-api\""));
    }
    res.json(OAuthError {
        error: error.to_string(),
        error_description: description.into(),
    })
}

/// Basic credentials, with RFC 6749 section 2.3.1 form-decoding of id and secret.
fn basic_credentials(req: &HttpRequest) -> BasicCredentials {
    match read_basic(req) {
        Ok(None) => BasicCredentials::Absent,
        Ok(Some((client_id, secret))) => BasicCredentials::Present { client_id, secret },
        Err(why) => BasicCredentials::Unreadable(why),
    }
}

fn read_basic(req: &HttpRequest) -> Result<Option<(String, String)>, &'static str> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| "the Authorization header is not readable")?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err("the Authorization header should be 'Basic <base64(client_id:client_secret)>'");
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(
            "the token endpoint takes HTTP Basic client authentication, not a bearer token",
        );
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("the Basic credentials are not valid base64 of 'client_id:client_secret'")?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or("the Basic credentials lack the ':' between id and secret")?;
    let unescape = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|mut v| v.pop())
            .map(|(_, v)| v)
            .unwrap_or_else(|| s.to_string())
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// Get an access token with client credentials.
///
/// Send `grant_type=client_credentials` form-encoded, with the client id and secret either in
/// HTTP Basic (preferred) or as `client_id`/`client_secret` form fields. Errors use the RFC 6749
/// body (`invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`, and
/// `slow_down` with 429 and `Retry-After` after too many failed attempts for one client id or
/// from one address).
///
/// Who: any registered, active client; no token needed. Changes nothing stored: the token is a
/// signed JWT whose scope is the client's role (a failed attempt counts towards `slow_down`).
#[utoipa::path(
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "Malformed request or unsupported grant", body = OAuthError),
        (status = 401, description = "Unknown client, wrong secret or revoked client", body = OAuthError),
        (status = 429, description = "Too many failed requests for this client id (default 10 a minute) or from this address (50 a minute): `slow_down`. Refused before the secret is checked, a right one too, until `Retry-After`", body = OAuthError,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    ),
    security(())
)]
#[post("/oauth/token")]
pub async fn token(
    req: HttpRequest,
    body: super::body::SmallBody,
    state: web::Data<AppState>,
) -> HttpResponse {
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media != "application/x-www-form-urlencoded" {
        return oauth_error(
            400,
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded",
        );
    }
    let form: TokenRequest = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            return oauth_error(
                400,
                "invalid_request",
                format!("the form could not be read: {e}"),
            )
        }
    };
    let request = GrantRequest {
        grant_type: form.grant_type,
        basic: basic_credentials(&req),
        client_id: form.client_id,
        client_secret: form.client_secret,
        scope: form.scope,
        // The peer, never X-Forwarded-For: a header is the caller's to choose.
        address: req.peer_addr().map(|a| a.ip()),
    };
    match grants::client_credentials(&state, request).await {
        Ok(token) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(TokenResponse {
                access_token: token.access_token,
                token_type: "Bearer".to_string(),
                expires_in: token.expires_in,
                scope: token.scope,
            }),
        Err(refusal) => refusal_response(refusal),
    }
}

/// The RFC 6749 section 5.2 answer to a refused grant (a problem when it is not the client's doing).
fn refusal_response(refusal: GrantRefusal) -> HttpResponse {
    match refusal {
        GrantRefusal::InvalidRequest(why) => oauth_error(400, "invalid_request", why),
        GrantRefusal::UnsupportedGrantType(why) => oauth_error(400, "unsupported_grant_type", why),
        GrantRefusal::InvalidScope(why) => oauth_error(400, "invalid_scope", why),
        GrantRefusal::InvalidClient(why) => oauth_error(401, "invalid_client", why),
        GrantRefusal::SlowDown {
            retry_after_seconds: seconds,
        } => {
            let mut res = oauth_error(
                429,
                "slow_down",
                format!("too many failed token requests for this client or from this address; retry after {seconds} s"),
            );
            if let Ok(value) = header::HeaderValue::from_str(&seconds.max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, value);
            }
            res
        }
        GrantRefusal::Failed(e) => actix_web::ResponseError::error_response(&e),
    }
}

/// Who am I? The caller's client, role, schools and token expiry.
///
/// Who: any valid token. Changes nothing.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = TokenInfo),
        (status = 401, response = Unauthorized),
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/oauth/token_info")]
pub async fn token_info(bearer: Bearer, state: web::Data<AppState>) -> web::Json<TokenInfo> {
    let fmt = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let c = bearer.claims;
    web::Json(TokenInfo {
        client_id: c.sub,
        role: c.role,
        schools: c.schools.unwrap_or_default(),
        scope: c.scope,
        issued_at: fmt(c.iat),
        expires_at: fmt(c.exp),
        expires_in: (c.exp - state.clock.now().timestamp()).max(0),
    })
}
