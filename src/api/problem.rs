//! problem+json for every failure, ours and actix's, plus the per-request plumbing that makes
//! errors traceable: correlation id, access log, metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use tracing::Instrument;
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToResponse;

use crate::domain::text;
use crate::error::{ApiError, FieldProblem, Problem, ProblemKind};
use crate::telemetry::Metrics;

pub const CORRELATION_HEADER: &str = "x-correlation-id";
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem responses operations share, documented once (`components/responses`, listed in
/// `docs::ApiDoc`) and referenced as `(status = 404, response = NotFound)`. An operation whose
/// failure means something only it can mean (a business rule, a push's gzip or row count) keeps
/// its own inline row with `content_type = PROBLEM_JSON`.
macro_rules! problem_responses {
    ($($name:ident: $description:tt,)*) => {$(
        #[doc = $description]
        pub struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (stringify!($name), problem_response_doc($description).into())
            }
        }
    )*};
}

/// A response whose body is a `Problem` (problem+json), as the spec documents it.
pub fn problem_response_doc(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

problem_responses! {
    BadRequest: "Malformed request: a path parameter, the query or the JSON body cannot be read",
    Unauthorized: "No valid token",
    Forbidden: "The caller's role may not do this",
    LaOnly: "Not an `la` client",
    NotFound: "No such resource, or not one the caller may see (a `school` client asking for another school's)",
    IdempotencyConflict: "The Idempotency-Key was used for another request, or its first request is still being served (`urn:esma:problem:idempotency-key-in-progress`, with Retry-After)",
    PayloadTooLarge: "Body too large",
    UnsupportedMediaType: "Not JSON",
    InvalidQuery: "A query parameter is invalid (a filter value, or `limit` out of range)",
    // Added to every operation with a body by `docs::add_common_failures`.
    RequestTimeout: "The request body paused longer than ESMA_BODY_IDLE_TIMEOUT_SECS (10 s) or \
        took longer than ESMA_BODY_TIMEOUT_SECS (120 s) in all",
}

/// Sets of shared problem responses that every operation of one shape answers with: an operation
/// lists its own rows and names the set, `responses((status = 200, ...), ListFailures)`. Each
/// status references the shared response of the same name, in status order.
macro_rules! failure_sets {
    ($($(#[$doc:meta])* $set:ident: [$(($status:literal, $response:ident)),* $(,)?],)*) => {$(
        $(#[$doc])*
        pub struct $set;

        impl utoipa::IntoResponses for $set {
            fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
                [$(($status.to_string(), RefOr::Ref(Ref::from_response_name(stringify!($response))))),*]
                    .into_iter()
                    .collect()
            }
        }
    )*};
}

failure_sets! {
    /// A read of one resource the caller may or may not see.
    ReadFailures: [("400", BadRequest), ("401", Unauthorized), ("403", Forbidden), ("404", NotFound)],
    /// A page of a list, with filters and `limit`.
    ListFailures: [
        ("400", BadRequest), ("401", Unauthorized), ("403", Forbidden), ("404", NotFound),
        ("422", InvalidQuery),
    ],
}

/// The request being served, visible to `ApiError::error_response` (which has no request).
#[derive(Debug, Clone)]
pub struct RequestTrace {
    pub correlation_id: String,
    pub path: String,
}

tokio::task_local! {
    static TRACE: RequestTrace;
}

/// The request being served, for work that leaves its task (a spawned task does not inherit it).
pub fn current_trace() -> Option<RequestTrace> {
    TRACE.try_with(|t| t.clone()).ok()
}

/// Runs `fut` as part of the request `trace` describes, so its problems carry the correlation id.
pub async fn within_trace<F: std::future::Future>(
    trace: Option<RequestTrace>,
    fut: F,
) -> F::Output {
    match trace {
        Some(trace) => TRACE.scope(trace, fut).await,
        None => fut.await,
    }
}

/// The correlation id of the request, stored in its extensions.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

/// A caller-supplied id is kept when it is a sane token; otherwise a new UUID is issued.
fn correlation_id_of(req: &ServiceRequest) -> String {
    req.headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The longest detail, pointer or message of a problem, in characters.
const MAX_DETAIL_CHARS: usize = 1024;
/// The longest request path echoed (`instance`, and in a 404's or 405's detail).
const MAX_PATH_CHARS: usize = 256;
/// The most field problems listed (an all_or_nothing push lists up to 1000 refused rows).
const MAX_LISTED_PROBLEMS: usize = 1000;

pub fn problem_response(err: &ApiError, trace: Option<&RequestTrace>) -> HttpResponse {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let detail = if err.kind == ProblemKind::Internal {
        // Never leak internals (SQL, paths) to the caller; the log has them.
        tracing::error!(detail = %err.detail, "internal error");
        "something went wrong on our side; quote the correlation id if you contact support"
            .to_string()
    } else {
        err.detail.clone()
    };
    // Whatever built the error, what it echoes of the request is bounded here, so an answer is
    // never much larger than a few sentences, however large the input it quotes.
    let body = Problem {
        problem_type: err.kind.type_uri().to_string(),
        title: err.kind.title().to_string(),
        status: status.as_u16(),
        detail: text::clip(&detail, MAX_DETAIL_CHARS),
        instance: trace.map(|t| text::clip(&t.path, MAX_PATH_CHARS)),
        correlation_id: trace.map(|t| t.correlation_id.clone()).unwrap_or_default(),
        errors: err
            .errors
            .iter()
            .take(MAX_LISTED_PROBLEMS)
            .map(|e| {
                FieldProblem::new(
                    text::clip(&e.pointer, MAX_DETAIL_CHARS),
                    text::clip(&e.message, MAX_DETAIL_CHARS),
                )
            })
            .collect(),
    };
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
    for (name, value) in &err.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            res.insert_header((HeaderName::from_static(name), v));
        }
    }
    res.body(serde_json::to_vec(&body).unwrap_or_default())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let trace = TRACE.try_with(|t| t.clone()).ok();
        problem_response(self, trace.as_ref())
    }
}

/// Around every request: correlation id in and out, one log line, metrics, and any error
/// response that is not yet problem+json (actix's own 404/405/413 ...) rewritten into one.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let correlation_id = correlation_id_of(&req);
    req.extensions_mut()
        .insert(CorrelationId(correlation_id.clone()));
    let trace = RequestTrace {
        correlation_id: correlation_id.clone(),
        path: req.path().to_string(),
    };
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("request", correlation_id = %correlation_id);

    let mut res = TRACE
        .scope(trace.clone(), async move {
            // Handler and extractor errors arrive here already rendered (inside this scope, so
            // with the correlation id); an Err can only come from a middleware and is passed on.
            let res = next.call(req).await?.map_into_boxed_body();
            Ok::<_, actix_web::Error>(ensure_problem_body(res, &trace))
        })
        .instrument(span.clone())
        .await?;

    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(CORRELATION_HEADER), value);
    }
    // The route pattern, not the path: paths carry UPNs (personal data) and would explode the
    // metric's cardinality.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            route = %route,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        )
    });
    Ok(res)
}

fn ensure_problem_body(
    res: ServiceResponse<BoxBody>,
    trace: &RequestTrace,
) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let is_oauth_json =
        res.request().path().starts_with("/oauth/") && content_type.starts_with("application/json");
    if content_type.starts_with(PROBLEM_JSON) || is_oauth_json {
        return res;
    }
    let kind = ProblemKind::from_status(status.as_u16());
    let detail = match kind {
        ProblemKind::NotFound => format!(
            "nothing is served at {}",
            text::clip(&trace.path, MAX_PATH_CHARS)
        ),
        ProblemKind::PayloadTooLarge => {
            "the request body is larger than this endpoint accepts".to_string()
        }
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string(),
    };
    let mut err = ApiError::new(kind, detail);
    // Keep challenge / Allow headers the original response carried.
    for name in [header::WWW_AUTHENTICATE, header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = res.headers().get(&name).and_then(|v| v.to_str().ok()) {
            let static_name: &'static str = match name.as_str() {
                "www-authenticate" => "www-authenticate",
                "allow" => "allow",
                _ => "retry-after",
            };
            err = err.with_header(static_name, v.to_string());
        }
    }
    let (req, _) = res.into_parts();
    ServiceResponse::new(req, problem_response(&err, Some(trace)))
}

/// The documented routes with their methods, to tell 405 (wrong method) from 404 (no such path).
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<Method>)>,
}

impl RouteTable {
    pub fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods = Vec::new();
                let ops = [
                    (Method::GET, item.get.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                ];
                for (m, present) in ops {
                    if present {
                        methods.push(m);
                    }
                }
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        RouteTable { routes }
    }

    pub fn allowed(&self, path: &str) -> Option<&[Method]> {
        self.routes
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, m)| m.as_slice())
    }
}

/// Whatever no route answered: 405 with `Allow` when the path exists, else 404.
pub async fn unmatched(req: HttpRequest, routes: web::Data<RouteTable>) -> ApiError {
    let path = text::clip(req.path(), MAX_PATH_CHARS);
    match routes.allowed(req.path()) {
        Some(methods) => {
            let allow: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
            ApiError::new(
                ProblemKind::MethodNotAllowed,
                format!(
                    "{} is not allowed on {}; use {}",
                    req.method(),
                    path,
                    allow.join(", ")
                ),
            )
            .with_header("allow", allow.join(", "))
        }
        None => ApiError::not_found(format!("nothing is served at {path}")),
    }
}

impl actix_web::Responder for ApiError {
    type Body = BoxBody;
    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        self.error_response()
    }
}
