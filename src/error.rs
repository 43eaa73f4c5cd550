//! The one error type of the service. Every failure, ours or actix's, leaves as RFC 9457
//! `application/problem+json` (see `api::problem` for the actix side).

use std::fmt;

use serde::Serialize;
use utoipa::ToSchema;

/// One field that failed validation: a JSON Pointer into the request and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// JSON Pointer (RFC 6901) into the request body, or `/query/<name>` / `/path/<name>` for
    /// parameters.
    #[schema(example = "/terms/0/half_term/ends")]
    pub pointer: String,
    #[schema(example = "half term ends on 2026-11-02, after its term's last day 2026-10-30")]
    pub message: String,
}

impl FieldProblem {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        FieldProblem {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestTimeout,
    Conflict,
    /// 409: a request with the same Idempotency-Key is still being served; retry shortly.
    IdempotencyKeyInProgress,
    Gone,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
    RateLimited,
    Internal,
    Unavailable,
}

impl ProblemKind {
    pub fn status(self) -> u16 {
        match self {
            ProblemKind::BadRequest => 400,
            ProblemKind::Unauthorized => 401,
            ProblemKind::Forbidden => 403,
            ProblemKind::NotFound => 404,
            ProblemKind::MethodNotAllowed => 405,
            ProblemKind::NotAcceptable => 406,
            ProblemKind::RequestTimeout => 408,
            ProblemKind::Conflict => 409,
            ProblemKind::IdempotencyKeyInProgress => 409,
            ProblemKind::Gone => 410,
            ProblemKind::PayloadTooLarge => 413,
            ProblemKind::UnsupportedMediaType => 415,
            ProblemKind::Validation => 422,
            ProblemKind::RateLimited => 429,
            ProblemKind::Internal => 500,
            ProblemKind::Unavailable => 503,
        }
    }

    /// The problem `type`: a stable URN per class, so clients can branch on it.
    pub fn type_uri(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "urn:esma:problem:bad-request",
            ProblemKind::Unauthorized => "urn:esma:problem:unauthorized",
            ProblemKind::Forbidden => "urn:esma:problem:forbidden",
            ProblemKind::NotFound => "urn:esma:problem:not-found",
            ProblemKind::MethodNotAllowed => "urn:esma:problem:method-not-allowed",
            ProblemKind::NotAcceptable => "urn:esma:problem:not-acceptable",
            ProblemKind::RequestTimeout => "urn:esma:problem:request-timeout",
            ProblemKind::Conflict => "urn:esma:problem:conflict",
            ProblemKind::IdempotencyKeyInProgress => "urn:esma:problem:idempotency-key-in-progress",
            ProblemKind::Gone => "urn:esma:problem:gone",
            ProblemKind::PayloadTooLarge => "urn:esma:problem:payload-too-large",
            ProblemKind::UnsupportedMediaType => "urn:esma:problem:unsupported-media-type",
            ProblemKind::Validation => "urn:esma:problem:validation-failed",
            ProblemKind::RateLimited => "urn:esma:problem:rate-limited",
            ProblemKind::Internal => "urn:esma:problem:internal",
            ProblemKind::Unavailable => "urn:esma:problem:unavailable",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "Bad request",
            ProblemKind::Unauthorized => "Unauthorized",
            ProblemKind::Forbidden => "Forbidden",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::NotAcceptable => "Not acceptable",
            ProblemKind::RequestTimeout => "Request timeout",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::IdempotencyKeyInProgress => "Request in progress",
            ProblemKind::Gone => "Gone",
            ProblemKind::PayloadTooLarge => "Payload too large",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::Validation => "Validation failed",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::Internal => "Internal server error",
            ProblemKind::Unavailable => "Service unavailable",
        }
    }

    pub fn from_status(status: u16) -> ProblemKind {
        match status {
            401 => ProblemKind::Unauthorized,
            403 => ProblemKind::Forbidden,
            404 => ProblemKind::NotFound,
            405 => ProblemKind::MethodNotAllowed,
            406 => ProblemKind::NotAcceptable,
            408 => ProblemKind::RequestTimeout,
            409 => ProblemKind::Conflict,
            410 => ProblemKind::Gone,
            413 => ProblemKind::PayloadTooLarge,
            415 => ProblemKind::UnsupportedMediaType,
            422 => ProblemKind::Validation,
            429 => ProblemKind::RateLimited,
            503 => ProblemKind::Unavailable,
            s if s >= 500 => ProblemKind::Internal,
            _ => ProblemKind::BadRequest,
        }
    }
}

/// The service's error: a problem class, a sentence for the caller and, for validation, the fields.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ProblemKind,
    pub detail: String,
    pub errors: Vec<FieldProblem>,
    /// Extra response headers (`Allow` on 405, `WWW-Authenticate` on 401, `Retry-After` on 429).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::BadRequest, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let challenge = format!(
            "Bearer realm=\"esma-api\", error=\"invalid_token\", error_description=\"{}\"",
            detail.replace('"', "'")
        );
        Self::new(ProblemKind::Unauthorized, detail).with_header("www-authenticate", challenge)
    }
    pub fn missing_token() -> Self {
        Self::new(
            ProblemKind::Unauthorized,
            "this endpoint needs a bearer token: get one from POST /oauth/token and send \
             'Authorization: Bearer <token>'",
        )
        .with_header("www-authenticate", "Bearer realm=\"esma-api\"".to_string())
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Forbidden, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Conflict, detail)
    }
    /// The same Idempotency-Key is being served by another request: retry after a second.
    pub fn idempotency_key_in_progress(key: &str) -> Self {
        Self::new(
            ProblemKind::IdempotencyKeyInProgress,
            format!(
                "a request with Idempotency-Key '{key}' is still being processed; retry it shortly to get its answer"
            ),
        )
        .with_header("retry-after", "1".to_string())
    }
    pub fn validation(detail: impl Into<String>, errors: Vec<FieldProblem>) -> Self {
        ApiError {
            errors,
            ..Self::new(ProblemKind::Validation, detail)
        }
    }
    /// A single-field validation failure.
    /// 422 from a domain rule's (pointer, message) list, sorted by pointer.
    pub fn from_problems(problems: Vec<(String, String)>) -> Self {
        let mut fields: Vec<FieldProblem> = problems
            .into_iter()
            .map(|(pointer, message)| FieldProblem::new(pointer, message))
            .collect();
        fields.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        let detail = match fields.as_slice() {
            [one] => format!("{}: {}", one.pointer, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        ApiError::validation(detail, fields)
    }

    pub fn invalid_field(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        let problem = FieldProblem::new(pointer, message);
        Self::validation(problem.message.clone(), vec![problem])
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Internal, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unavailable, detail).with_header("retry-after", "5".to_string())
    }
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
    pub fn status(&self) -> u16 {
        self.kind.status()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind.title(),
            self.kind.status(),
            self.detail
        )
    }
}

impl std::error::Error for ApiError {}

/// The RFC 9457 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "urn:esma:problem:validation-failed")]
    pub problem_type: String,
    #[schema(example = "Validation failed")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "2 fields are invalid")]
    pub detail: String,
    /// The request path the problem occurred on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The `x-correlation-id` of the request: quote it in a support ticket.
    pub correlation_id: String,
    /// Present on 422: every field that failed, with a JSON Pointer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable = false)]
    pub errors: Vec<FieldProblem>,
}
