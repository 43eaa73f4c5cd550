//! The client credentials grant (RFC 6749 section 4.4): which request earns a token, checked in
//! the order the token endpoint answers (grant type, client authentication, throttle, secret,
//! scope), then the token issued at the clock's time. `api::oauth` turns the outcome into HTTP.

use std::net::IpAddr;

use super::clients::{self, ClientRefusal};
use super::AppState;
use crate::domain::text;
use crate::error::ApiError;

/// How the client presented itself in HTTP Basic (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicCredentials {
    Absent,
    Present {
        client_id: String,
        secret: String,
    },
    /// The Authorization header is there but is not Basic credentials: why, for the caller.
    Unreadable(&'static str),
}

/// A token request as the client sent it.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub grant_type: Option<String>,
    pub basic: BasicCredentials,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    /// The peer address, counted by the throttle.
    pub address: Option<IpAddr>,
}

/// A token granted.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
}

/// Why no token was granted; each is one RFC 6749 section 5.2 error, except `Failed`.
#[derive(Debug, Clone)]
pub enum GrantRefusal {
    /// `invalid_request`.
    InvalidRequest(String),
    /// `unsupported_grant_type`.
    UnsupportedGrantType(String),
    /// `invalid_client`: no, unreadable, unknown or revoked credentials.
    InvalidClient(String),
    /// `invalid_scope`.
    InvalidScope(String),
    /// `slow_down`: too many failed attempts for the client id or from the address; whole seconds.
    SlowDown { retry_after_seconds: u64 },
    /// Not the client's doing (the database, signing): a problem, not an OAuth error.
    Failed(ApiError),
}

/// Grants a token for `request`, or says why not. Failed authentications count against the
/// client id and the address; a locked-out one is refused before its secret is checked.
pub async fn client_credentials(
    state: &AppState,
    request: GrantRequest,
) -> Result<IssuedToken, GrantRefusal> {
    check_grant_type(request.grant_type.as_deref())?;
    let (client_id, secret) =
        presented_credentials(request.basic, request.client_id, request.client_secret)?;
    if let Some(wait) =
        state
            .token_throttle
            .wait(&client_id, request.address, state.clock.instant())
    {
        return Err(GrantRefusal::SlowDown {
            retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        });
    }
    let throttled_id = client_id.clone();
    let failed = |why: &str| {
        state
            .token_throttle
            .failed(&throttled_id, request.address, state.clock.instant());
        GrantRefusal::InvalidClient(why.to_string())
    };
    let client = match clients::authenticate(&state.db, client_id, secret).await {
        Ok(c) => c,
        Err(ClientRefusal::Unknown) => return Err(failed("unknown client or wrong secret")),
        Err(ClientRefusal::Revoked) => return Err(failed("this client has been revoked")),
        Err(ClientRefusal::Database(e)) => return Err(GrantRefusal::Failed(e)),
    };
    if let Some(scope) = request
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if scope.split_whitespace().any(|s| s != client.role.as_str()) {
            return Err(GrantRefusal::InvalidScope(format!(
                "this client may only be granted the scope '{}'",
                client.role
            )));
        }
    }
    let claims = state.tokens.claims_for(
        &client.client_id,
        client.role,
        &client.schools,
        state.clock.now().timestamp(),
    );
    let access_token = state
        .tokens
        .sign(&claims)
        .map_err(|e| GrantRefusal::Failed(ApiError::internal(e)))?;
    tracing::info!(client_id = %client.client_id, role = %client.role, "token issued");
    Ok(IssuedToken {
        access_token,
        expires_in: state.tokens.ttl_seconds,
        scope: claims.scope,
    })
}

fn check_grant_type(grant_type: Option<&str>) -> Result<(), GrantRefusal> {
    match grant_type {
        Some("client_credentials") => Ok(()),
        None | Some("") => Err(GrantRefusal::InvalidRequest(
            "grant_type is required (client_credentials)".to_string(),
        )),
        Some(other) => Err(GrantRefusal::UnsupportedGrantType(format!(
            "only client_credentials is supported, not '{}'",
            text::clip(other, text::ECHO_CHARS)
        ))),
    }
}

/// The client id and secret, from HTTP Basic or the form but never both (RFC 6749 section 2.3.1).
fn presented_credentials(
    basic: BasicCredentials,
    form_id: Option<String>,
    form_secret: Option<String>,
) -> Result<(String, String), GrantRefusal> {
    match (basic, form_id, form_secret) {
        (BasicCredentials::Unreadable(why), _, _) => {
            Err(GrantRefusal::InvalidClient(why.to_string()))
        }
        (BasicCredentials::Present { .. }, Some(_), _)
        | (BasicCredentials::Present { .. }, _, Some(_)) => Err(GrantRefusal::InvalidRequest(
            "send the client credentials in HTTP Basic or in the form, not both".to_string(),
        )),
        (BasicCredentials::Present { client_id, secret }, None, None) => Ok((client_id, secret)),
        (BasicCredentials::Absent, Some(id), Some(secret)) => Ok((id, secret)),
        (BasicCredentials::Absent, _, _) => Err(GrantRefusal::InvalidClient(
            "client authentication is required (HTTP Basic or client_id and client_secret)"
                .to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(r: Result<(String, String), GrantRefusal>) -> String {
        match r {
            Err(GrantRefusal::InvalidRequest(_)) => "invalid_request".into(),
            Err(GrantRefusal::InvalidClient(_)) => "invalid_client".into(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn credentials_come_from_basic_or_the_form_never_both() {
        let basic = || BasicCredentials::Present {
            client_id: "c".into(),
            secret: "s".into(),
        };
        assert_eq!(
            presented_credentials(basic(), None, None).ok(),
            Some(("c".to_string(), "s".to_string()))
        );
        assert_eq!(
            presented_credentials(BasicCredentials::Absent, Some("c".into()), Some("s".into()))
                .ok(),
            Some(("c".to_string(), "s".to_string()))
        );
        assert_eq!(
            refusal(presented_credentials(basic(), Some("c".into()), None)),
            "invalid_request"
        );
        assert_eq!(
            refusal(presented_credentials(
                BasicCredentials::Absent,
                Some("c".into()),
                None
            )),
            "invalid_client"
        );
        assert_eq!(
            refusal(presented_credentials(
                BasicCredentials::Unreadable("no"),
                Some("c".into()),
                Some("s".into())
            )),
            "invalid_client"
        );
    }

    #[test]
    fn only_the_client_credentials_grant_is_served() {
        assert!(check_grant_type(Some("client_credentials")).is_ok());
        assert!(matches!(
            check_grant_type(Some("")),
            Err(GrantRefusal::InvalidRequest(_))
        ));
        assert!(matches!(
            check_grant_type(Some("password")),
            Err(GrantRefusal::UnsupportedGrantType(_))
        ));
    }
}
