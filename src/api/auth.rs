//! The bearer-token extractor: every `/api/v1` handler takes an [`Actor`].

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::problem::CorrelationId;
use crate::error::ApiError;
use crate::service::tokens::Claims;
use crate::service::{clients, Actor, AppState};

/// A verified token and the actor it stands for.
pub struct Bearer {
    pub actor: Actor,
    pub claims: Claims,
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_string).unwrap_or_default());
        let endpoint = format!(
            "{} {}",
            req.method(),
            req.match_pattern()
                .unwrap_or_else(|| req.path().to_string())
        );
        let correlation_id = req.extensions().get::<CorrelationId>().map(|c| c.0.clone());
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let Some(authorization) = authorization else {
                return Err(ApiError::missing_token());
            };
            let token = match authorization.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    token.trim().to_string()
                }
                _ => {
                    return Err(ApiError::unauthorized(
                        "the Authorization header should be 'Bearer <token>'",
                    ))
                }
            };
            let claims = state
                .tokens
                .verify(&token)
                .map_err(ApiError::unauthorized)?;
            // Revocation takes effect at once, not when the token expires.
            if !clients::is_active(&state.db, claims.sub.clone()).await? {
                return Err(ApiError::unauthorized(
                    "the client behind this token has been revoked",
                ));
            }
            let actor = Actor {
                client_id: claims.sub.clone(),
                role: claims.role,
                schools: claims.schools.clone().unwrap_or_default(),
                endpoint,
                correlation_id,
            };
            // Kept on the request so a refusal after authentication can be audited
            // (`refusals::audit_refused_writes`).
            req.extensions_mut().insert(actor.clone());
            Ok(Bearer { actor, claims })
        })
    }
}

impl FromRequest for Actor {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bearer = Bearer::from_request(req, payload);
        Box::pin(async move { bearer.await.map(|b| b.actor) })
    }
}
