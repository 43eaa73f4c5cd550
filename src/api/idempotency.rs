//! `Idempotency-Key` on the POSTs that create or decide something (API.md "Conventions"): one
//! middleware, put on an endpoint with `wrap = "from_fn(retry_safe)"` and documented with
//! `params(IdempotencyKeyHeader)`. Pushes have their own (api::registers, service::imports).

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use tracing::Instrument;
use utoipa::IntoParams;

use super::body::{read_raw, BodyRules};
use super::problem::{current_trace, within_trace};
use crate::error::ApiError;
use crate::service::idempotency::{self, Claim, KeyedRequest, StoredAnswer};
use crate::service::imports::Idempotency;
use crate::service::{Actor, AppState};

/// The header, for the spec of every operation that takes it.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    // No example value: one key shown for every operation invites its reuse for new requests,
    // which a retry-safe server must answer with the first request's answer.
    /// Makes a retry safe: 1-255 visible ASCII characters, unique per request of this client (a
    /// new UUID for each new request, kept for its retries).
    /// The same key with the same request returns the first answer (header
    /// `idempotent-replayed: true`) for 24 hours; with another request it is 409; while the first
    /// is still being served, 409 `urn:esma:problem:idempotency-key-in-progress` with
    /// `Retry-After`. Refused requests (4xx, 5xx) are not kept: their retry is served afresh.
    #[param(rename = "Idempotency-Key", value_type = Option<String>, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")]
    pub idempotency_key: Option<String>,
}

/// Replays a retried request's answer, or serves it and keeps its answer.
pub async fn retry_safe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(raw_key) = req.headers().get("idempotency-key").cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let Ok(key) = raw_key.to_str().map(str::to_string) else {
        let refused = ApiError::bad_request("Idempotency-Key should be visible ASCII");
        return Ok(req.error_response(refused));
    };
    // Without a valid token there is nothing to key on; the handler refuses it as usual.
    let Ok(actor) = req.extract::<Actor>().await else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(ApiError::internal("application state missing")));
    };
    let body = match read_body(&mut req).await {
        Ok(body) => body,
        Err(e) => return Ok(req.error_response(e)),
    };
    let header_text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let method = req.method().to_string();
    let path = match req.query_string() {
        "" => req.path().to_string(),
        query => format!("{}?{query}", req.path()),
    };
    let (content_type, encoding) = (
        header_text(header::CONTENT_TYPE),
        header_text(header::CONTENT_ENCODING),
    );
    let parts: [&[u8]; 5] = [
        method.as_bytes(),
        path.as_bytes(),
        content_type.as_bytes(),
        encoding.as_bytes(),
        &body,
    ];
    let idempotency = match Idempotency::new(&key, &parts) {
        Ok(i) => i,
        Err(e) => return Ok(req.error_response(e)),
    };
    req.set_payload(Payload::from(body));
    let keyed = KeyedRequest {
        client_id: actor.client_id,
        method,
        path,
        idempotency,
    };
    match idempotency::claim(&state, &keyed).await {
        Err(e) => return Ok(req.error_response(e)),
        Ok(Claim::Replay(answer)) => return Ok(req.into_response(replay(answer))),
        Ok(Claim::Fresh) => {}
    }
    // Served in a task of its own, so that the answer is stored even when the client hangs up
    // before it is sent (the retry then gets it, instead of a 409 for its own first attempt).
    let trace = current_trace();
    let span = tracing::Span::current();
    let served = actix_web::rt::spawn(
        within_trace(trace, async move {
            let result = next.call(req).await;
            keep_answer(&state, &keyed, result).await
        })
        .instrument(span),
    );
    served
        .await
        .map_err(|e| ApiError::internal(format!("request task failed: {e}")).into())
        .and_then(|r| r)
}

/// The raw body (as sent: the handler does its own decoding), read as the handler would read it:
/// under the small endpoints' limit and the body time limits (the keyed endpoints are all small).
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, ApiError> {
    let limit = BodyRules::of(req.request()).small_limit;
    let payload = req.take_payload();
    read_raw(req.request(), payload, limit)
        .await
        .map(web::Bytes::from)
}

/// Stores a success's answer for its retries; gives the key up for anything else.
async fn keep_answer<B: MessageBody + 'static>(
    state: &AppState,
    keyed: &KeyedRequest,
    result: Result<ServiceResponse<B>, actix_web::Error>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = match result {
        Ok(res) if res.status().is_success() => res,
        other => {
            if let Err(e) = idempotency::release(state, keyed).await {
                tracing::warn!(error = %e, "could not release an Idempotency-Key claim; it lapses after its lease");
            }
            return other.map(ServiceResponse::map_into_boxed_body);
        }
    };
    let (request, response) = res.into_parts();
    let (head, body) = response.into_parts();
    let bytes = match body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let _ = idempotency::release(state, keyed).await;
            let failed = ApiError::internal("the response body could not be read");
            return Ok(ServiceResponse::new(
                request,
                actix_web::ResponseError::error_response(&failed),
            ));
        }
    };
    let header_of = |name: header::HeaderName| {
        head.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let stored = match std::str::from_utf8(&bytes) {
        Ok(text) => StoredAnswer {
            status: head.status().as_u16(),
            content_type: header_of(header::CONTENT_TYPE),
            location: header_of(header::LOCATION),
            body: text.to_string(),
        },
        Err(_) => {
            let _ = idempotency::release(state, keyed).await;
            return Ok(ServiceResponse::new(
                request,
                head.set_body(BoxBody::new(bytes)),
            ));
        }
    };
    if let Err(e) = idempotency::complete(state, keyed, stored).await {
        // The write is done and its answer goes out; only a retry cannot be replayed.
        tracing::warn!(error = %e, "could not store an answer for its Idempotency-Key");
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(BoxBody::new(bytes)),
    ))
}

fn replay(answer: StoredAnswer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    if let Some(content_type) = answer.content_type {
        res.insert_header((header::CONTENT_TYPE, content_type));
    }
    if let Some(location) = answer.location {
        res.insert_header((header::LOCATION, location));
    }
    res.insert_header(("idempotent-replayed", "true"));
    res.body(answer.body)
}
