//! Request parsing with errors an integrator can act on: 415 for the wrong media type, 413 for an
//! oversized body (checked before parsing), 400 for malformed JSON, 422 with JSON Pointers for
//! JSON that is well-formed but wrong.

use std::borrow::Cow;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::domain::text::{self, TextKind};
use crate::error::{ApiError, FieldProblem, ProblemKind};

/// The configured body limit (bytes), taken from app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body that parsed and passed its `validator` rules.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        // These bodies are small (a form, a review, a subscription): they get the small limit,
        // not the bulk pushes' one, and the same time limits and gzip budget as every body.
        let body = super::body::SmallBody::from_request(req, payload);
        Box::pin(async move {
            if media != "application/json" && !media.ends_with("+json") {
                return Err(ApiError::new(
                    ProblemKind::UnsupportedMediaType,
                    if media.is_empty() {
                        "send the body as JSON with 'Content-Type: application/json'".to_string()
                    } else {
                        format!("send the body as application/json, not {media}")
                    },
                ));
            }
            let bytes = body.await?;
            let value = parse_json::<T>(&bytes)?;
            if let Err(errors) = value.validate() {
                return Err(validation_problem(&errors));
            }
            Ok(ValidJson(value))
        })
    }
}

pub fn payload_error(err: actix_web::Error, limit: usize) -> ApiError {
    let status = err.as_response_error().status_code().as_u16();
    if status == 413 {
        ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!("the request body is over this service's limit of {limit} bytes; split it into smaller requests"),
        )
    } else {
        ApiError::bad_request(format!("the request body could not be read: {err}"))
    }
}

/// Parses JSON; a syntax error is 400, a shape error (wrong type, unknown field, missing field)
/// is 422 with the pointer to the offending place, and so is a control character in any string
/// or key (see `domain::text`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = parse_push_json(bytes)?;
    check_text_in_json(bytes)?;
    Ok(value)
}

/// As [`parse_json`] without the text check: a push reports a control character in a row as
/// that row's rejection (`invalid_text`), not as a 422 for the whole push.
pub fn parse_push_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; a JSON document is expected",
        ));
    }
    // The plain parse first: tracking the path slows every parse down and only a refused body
    // needs it, so that one is parsed again to say where it went wrong.
    if let Ok(v) = serde_json::from_slice::<T>(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            de.end()
                .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
            Ok(v)
        }
        Err(err) => {
            let pointer = pointer_of(err.path());
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                Err(ApiError::bad_request(format!("malformed JSON: {inner}")))
            } else {
                Err(misshapen(pointer, &inner.to_string()))
            }
        }
    }
}

/// A JSON value (e.g. a merged patch) as `T` that passed its `validator` rules: 422 with the
/// pointer to the offending place otherwise.
pub fn valid_from_value<T: DeserializeOwned + Validate>(
    value: serde_json::Value,
) -> Result<T, ApiError> {
    let parsed = serde_path_to_error::deserialize::<_, T>(&value)
        .map_err(|err| misshapen(pointer_of(err.path()), &err.into_inner().to_string()))?;
    check_text(&value)?;
    parsed
        .validate()
        .map_err(|errors| validation_problem(&errors))?;
    Ok(parsed)
}

/// 422 for a body of the wrong shape: the place (`pointer`, empty for the whole body) and what
/// serde said of it.
fn misshapen(pointer: String, serde_message: &str) -> ApiError {
    let message = echo_safe(serde_message);
    let place = if pointer.is_empty() {
        "the body:"
    } else {
        pointer.as_str()
    };
    ApiError::validation(
        format!("{place} {message}"),
        vec![FieldProblem::new(pointer, message)],
    )
}

/// A serde message as echoed: without the position, with the input it quotes clipped.
fn echo_safe(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    text::clip_quoted(message)
}

/// Whether a JSON document could hold a control character in a string: a raw DEL or C1
/// character, or an escape (`\n`, `\u0000` ...). Raw C0 characters cannot be in a string of
/// well-formed JSON. The common body has none of these and skips the second parse.
fn json_may_hold_control(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| match b {
        0x7f => true,
        0xc2 => bytes.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n)),
        b'\\' => matches!(
            bytes.get(i + 1),
            Some(b'b' | b'f' | b'n' | b'r' | b't' | b'u')
        ),
        _ => false,
    })
}

fn check_text_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !json_may_hold_control(bytes) {
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    check_text(&value)
}

/// At most this many text problems are listed.
const MAX_TEXT_PROBLEMS: usize = 20;

/// 422 naming every string (or key) of `value` that holds a control character its field does not
/// allow: keys and single-line fields none, free-text fields tab and line breaks only.
pub fn check_text(value: &serde_json::Value) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    walk_text(
        value,
        &mut String::new(),
        TextKind::SingleLine,
        &mut problems,
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::from_problems(problems))
    }
}

fn walk_text(
    value: &serde_json::Value,
    pointer: &mut String,
    kind: TextKind,
    out: &mut Vec<(String, String)>,
) {
    use serde_json::Value;
    if out.len() >= MAX_TEXT_PROBLEMS {
        return;
    }
    match value {
        Value::String(s) => {
            if let Err(message) = text::check(s, kind) {
                out.push((pointer.clone(), message));
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{index}"));
                // An item is read as its list's field is (`reasons`: each a line).
                walk_text(item, pointer, kind, out);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_segment(key));
                if let Err(message) = text::check(key, TextKind::SingleLine) {
                    out.push((pointer.clone(), format!("the key {message}")));
                } else {
                    walk_text(item, pointer, TextKind::of_field(key), out);
                }
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A pointer segment as echoed: escaped, and clipped when it is a long key sent by the caller.
fn escape_segment(segment: &str) -> String {
    escape(&text::clip(segment, text::ECHO_CHARS))
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => out.push_str(&format!("/{}", escape_segment(key))),
            Segment::Enum { variant } => out.push_str(&format!("/{}", escape_segment(variant))),
            Segment::Unknown => {}
        }
    }
    out
}

/// Every `validator` failure, as JSON Pointers into the body.
pub fn validation_problem(errors: &ValidationErrors) -> ApiError {
    let mut problems = Vec::new();
    collect(errors, String::new(), &mut problems);
    problems.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    let detail = match problems.as_slice() {
        [one] => format!("{}: {}", one.pointer, one.message),
        many => format!("{} fields are invalid", many.len()),
    };
    ApiError::validation(detail, problems)
}

fn collect(errors: &ValidationErrors, prefix: String, out: &mut Vec<FieldProblem>) {
    for (field, kind) in errors.errors() {
        let here = format!("{prefix}/{}", escape(field));
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = e
                        .message
                        .clone()
                        .unwrap_or_else(|| Cow::Owned(format!("fails the '{}' rule", e.code)));
                    out.push(FieldProblem::new(here.clone(), message.into_owned()));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, here, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, format!("{here}/{index}"), out);
                }
            }
        }
    }
}

/// Query parameters, parsed with a 400 that names the parameter.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str::<T>(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("query string: {e}")))
}

/// Cursor pagination (API.md "Conventions"): `limit` 1..=500, default 50; opaque cursors.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid_field(
            "/query/limit",
            format!("limit should be 1 to 500, not {n}"),
        )),
    }
}

/// Cursors are opaque to clients: `<kind>:<position>` in base64url.
pub fn encode_cursor(kind: &str, position: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{position}"))
}

pub fn decode_cursor(kind: &str, cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let bad =
        || ApiError::bad_request("cursor is not one this endpoint issued; start again without it");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (k, pos) = text.split_once(':').ok_or_else(bad)?;
    if k != kind {
        return Err(bad());
    }
    pos.parse::<i64>().map(Some).map_err(|_| bad())
}

/// A comma-separated query parameter of known words (`?kind=a,b`): 422 at `/query/<name>` naming
/// the words allowed.
pub fn comma_list<T: Copy>(
    name: &str,
    text: &str,
    known: &[T],
    word: fn(T) -> &'static str,
) -> Result<Vec<T>, ApiError> {
    text.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            known
                .iter()
                .copied()
                .find(|k| word(*k) == w)
                .ok_or_else(|| {
                    let words: Vec<&str> = known.iter().map(|k| word(*k)).collect();
                    ApiError::invalid_field(
                        format!("/query/{name}"),
                        format!(
                            "{name} should be one of {}, not '{}'",
                            words.join(", "),
                            w.chars().take(60).collect::<String>()
                        ),
                    )
                })
        })
        .collect()
}

/// A `?upn=` filter: 422 at `/query/upn` saying what is wrong with it.
pub fn query_upn(upn: &str) -> Result<String, ApiError> {
    crate::domain::identifiers::Upn::parse(upn)
        .map(crate::domain::identifiers::Upn::into_string)
        .map_err(|e| ApiError::invalid_field("/query/upn", e.to_string()))
}

/// A word of a fixed set in a query string (`?status=active`), read with the set's serde enum
/// `T`, so the spec lists the words. A word outside the set is kept as given: the handler answers
/// it with a 422 naming the set, in the order it checks its query (serde's own error would be a
/// 400 for the whole query string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryWord<T> {
    Known(T),
    Unknown(String),
}

impl<T: DeserializeOwned> QueryWord<T> {
    fn read(text: &str) -> Self {
        use serde::de::IntoDeserializer;
        let word: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            text.into_deserializer();
        match T::deserialize(word) {
            Ok(known) => QueryWord::Known(known),
            Err(_) => QueryWord::Unknown(text.to_string()),
        }
    }

    /// The word, or 422 at `/query/<name>`: "<name> should be <allowed>, not '<word>'".
    pub fn known(self, name: &str, allowed: &str) -> Result<T, ApiError> {
        match self {
            QueryWord::Known(known) => Ok(known),
            QueryWord::Unknown(word) => Err(ApiError::invalid_field(
                format!("/query/{name}"),
                format!(
                    "{name} should be {allowed}, not '{}'",
                    word.chars().take(60).collect::<String>()
                ),
            )),
        }
    }
}

impl<'de, T: DeserializeOwned> serde::Deserialize<'de> for QueryWord<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Ok(QueryWord::read(&text))
    }
}

/// Comma-separated words of a fixed set (`?status=submitted,incomplete`), each read as a
/// [`QueryWord`]. A blank (`?status=`, `a,,b`) is a word outside the set, not "no filter": the
/// spec lists the set for every item, and a filter the caller meant to set is never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWords<T>(Vec<QueryWord<T>>);

impl<T: DeserializeOwned> QueryWords<T> {
    /// The words, or 422 at `/query/<name>` for the first one outside the set: "<name> should
    /// be one of <allowed, ...>, not '<word>'".
    pub fn known(self, name: &str, allowed: &[&str]) -> Result<Vec<T>, ApiError> {
        let one_of = format!("one of {}", allowed.join(", "));
        self.0.into_iter().map(|w| w.known(name, &one_of)).collect()
    }
}

impl<'de, T: DeserializeOwned> serde::Deserialize<'de> for QueryWords<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Ok(QueryWords(
            text.split(',')
                .map(str::trim)
                .map(QueryWord::read)
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::case::CaseStatus;
    use crate::domain::referral::ReferralStatus;

    #[derive(Debug, serde::Deserialize)]
    struct Query {
        status: Option<QueryWord<CaseStatus>>,
        statuses: Option<QueryWords<ReferralStatus>>,
    }

    fn read(query: &str) -> Query {
        serde_urlencoded::from_str(query).unwrap()
    }

    #[test]
    fn a_word_of_the_set_reads_as_its_enum() {
        let q = read("status=closed&statuses=submitted,%20incomplete");
        assert_eq!(
            q.status.unwrap().known("status", "x").unwrap(),
            CaseStatus::Closed
        );
        assert_eq!(
            q.statuses.unwrap().known("statuses", &[]).unwrap(),
            [ReferralStatus::Submitted, ReferralStatus::Incomplete]
        );
        assert!(read("").status.is_none());
    }

    #[test]
    fn a_blank_in_a_list_is_refused_not_skipped() {
        let all = ReferralStatus::ALL.map(ReferralStatus::as_str);
        for query in [
            "statuses=",
            "statuses=submitted,,incomplete",
            "statuses=submitted,",
        ] {
            let e = read(query)
                .statuses
                .unwrap()
                .known("status", &all)
                .unwrap_err();
            assert_eq!(e.errors[0].pointer, "/query/status", "{query}");
            assert!(e.detail.ends_with("not ''"), "{query}: {}", e.detail);
        }
    }

    #[test]
    fn a_word_outside_the_set_is_a_422_naming_the_set() {
        let q = read("status=open&statuses=submitted,open");
        let e = q
            .status
            .unwrap()
            .known("status", "active or closed")
            .unwrap_err();
        assert_eq!(e.kind, ProblemKind::Validation);
        assert_eq!(e.errors[0].pointer, "/query/status");
        assert_eq!(e.detail, "status should be active or closed, not 'open'");
        let all = ReferralStatus::ALL.map(ReferralStatus::as_str);
        let e = q.statuses.unwrap().known("status", &all).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/query/status");
        assert_eq!(
            e.detail,
            "status should be one of submitted, incomplete, accepted, declined, guidance_only, \
             withdrawn, not 'open'"
        );
    }
}
