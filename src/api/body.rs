//! Request bodies, read under three bounds: a size limit (the bulk pushes' large one, or the small
//! one of every other endpoint), a time limit (a body that stalls or trickles is answered 408), and,
//! for gzip, a budget of memory that all the requests inflating at once share, so that concurrent
//! gzip bombs cannot add up to more than that budget (docs/performance.md, "Gzip bombs").

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::rt::time::{timeout, Instant};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::{Stream, StreamExt};

use crate::error::{ApiError, ProblemKind};

pub fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Bytes of inflated bodies that the requests in flight may hold together. Each inflation takes
/// its share as its output grows and gives it back when it ends; one that cannot get more is
/// refused (503, retry) rather than queued, so a burst of bombs costs at most the budget.
#[derive(Debug, Clone)]
pub struct InflateBudget {
    left: Arc<AtomicUsize>,
    total: usize,
}

impl InflateBudget {
    pub fn new(bytes: usize) -> Self {
        InflateBudget {
            left: Arc::new(AtomicUsize::new(bytes)),
            total: bytes,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// What is not taken now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.left.load(Ordering::Acquire)
    }

    fn take(&self, bytes: usize) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.left.fetch_add(bytes, Ordering::AcqRel);
    }
}

/// How bodies are read (app data): the small endpoints' limit, the time limits, the gzip budget.
/// The bulk pushes' limit is [`super::extract::BodyLimit`].
#[derive(Debug, Clone)]
pub struct BodyRules {
    /// Largest body (after decompression) of every endpoint but the bulk pushes.
    pub small_limit: usize,
    /// Longest wait for the next piece of a body.
    pub idle_timeout: Duration,
    /// Longest time a whole body may take to arrive.
    pub total_timeout: Duration,
    pub inflate_budget: InflateBudget,
}

impl Default for BodyRules {
    fn default() -> Self {
        BodyRules {
            small_limit: 1 << 20,
            idle_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(120),
            inflate_budget: InflateBudget::new(128 << 20),
        }
    }
}

impl BodyRules {
    pub fn of(req: &HttpRequest) -> BodyRules {
        req.app_data::<BodyRules>().cloned().unwrap_or_default()
    }
}

fn too_large(limit: usize, what: &str) -> ApiError {
    ApiError::new(
        ProblemKind::PayloadTooLarge,
        format!("the request body is over this endpoint's limit of {limit} bytes {what}; split it into smaller requests (a push: for example one per school day)"),
    )
}

fn too_slow(rules: &BodyRules, stalled: bool) -> ApiError {
    let detail = if stalled {
        format!(
            "no part of the request body arrived for {} s; send the whole body without pausing",
            rules.idle_timeout.as_secs()
        )
    } else {
        format!(
            "the request body did not arrive within {} s; send it faster or in smaller requests",
            rules.total_timeout.as_secs()
        )
    };
    ApiError::new(ProblemKind::RequestTimeout, detail)
}

/// The body of a request to a small endpoint (a form, a merge patch, a reason): read like any
/// other under the small limit, the time limits and the gzip budget.
pub struct SmallBody(pub Bytes);

impl std::ops::Deref for SmallBody {
    type Target = Bytes;
    fn deref(&self) -> &Bytes {
        &self.0
    }
}

impl FromRequest for SmallBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let limit = BodyRules::of(&req).small_limit;
            read_bounded(&req, payload, limit)
                .await
                .map(|body| SmallBody(Bytes::from(body)))
        })
    }
}

/// The body, decompressed when `Content-Encoding: gzip`, never more than `limit` bytes, arriving
/// within the time limits of [`BodyRules`].
pub async fn read_bounded<S>(
    req: &HttpRequest,
    payload: S,
    limit: usize,
) -> Result<Vec<u8>, ApiError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let gzip = match encoding.as_str() {
        "" | "identity" => false,
        "gzip" | "x-gzip" => true,
        other => {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                format!(
                    "Content-Encoding '{}' is not supported; send gzip or no encoding",
                    crate::domain::text::clip(other, crate::domain::text::ECHO_CHARS)
                ),
            ))
        }
    };
    let raw = read_raw(req, payload, limit).await?;
    if !gzip {
        return Ok(raw);
    }
    let rules = BodyRules::of(req);
    // Decompress on a blocking thread: a large push takes a while to inflate.
    let budget = rules.inflate_budget.clone();
    actix_web::web::block(move || inflate(&raw, limit, &budget))
        .await
        .map_err(|e| ApiError::internal(format!("decompression task failed: {e}")))?
}

/// The body as sent (not decompressed), never more than `limit` bytes, arriving within the time
/// limits of [`BodyRules`]: also what a keyed request's body is hashed from
/// (`super::idempotency`).
pub async fn read_raw<S>(
    req: &HttpRequest,
    mut payload: S,
    limit: usize,
) -> Result<Vec<u8>, ApiError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let rules = BodyRules::of(req);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit, "(Content-Length)"));
    }
    // The whole body has a deadline and each piece an idle limit: a client that stalls is
    // answered 408 (actix times out slow headers only), and one that trickles a byte at a time
    // cannot hold the connection past the deadline.
    let deadline = Instant::now() + rules.total_timeout;
    let mut raw = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    loop {
        let now = Instant::now();
        let idle_until = now + rules.idle_timeout;
        let wait = idle_until.min(deadline).saturating_duration_since(now);
        let chunk = match timeout(wait, payload.next()).await {
            Err(_) => return Err(too_slow(&rules, idle_until <= deadline)),
            Ok(None) => break,
            Ok(Some(chunk)) => chunk.map_err(|e| {
                ApiError::bad_request(format!("the request body could not be read: {e}"))
            })?,
        };
        if raw.len() + chunk.len() > limit {
            return Err(too_large(limit, ""));
        }
        raw.extend_from_slice(&chunk);
    }
    Ok(raw)
}

/// Gunzips `raw` into a buffer that never grows past `limit` and whose every byte of capacity is
/// taken from `budget` first (and given back at the end: the caller's copy is then its own).
fn inflate(raw: &[u8], limit: usize, budget: &InflateBudget) -> Result<Vec<u8>, ApiError> {
    let mut out = CappedBuffer {
        buf: Vec::new(),
        taken: 0,
        limit,
        budget,
    };
    let mut decoder = flate2::read::MultiGzDecoder::new(raw);
    let mut piece = vec![0u8; 64 * 1024];
    let result = loop {
        match decoder.read(&mut piece) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = out.push(&piece[..n], raw.len()) {
                    break Err(e);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                break Err(ApiError::bad_request(format!(
                    "the body is not valid gzip: {e}"
                )))
            }
        }
    };
    result.map(|()| std::mem::take(&mut out.buf))
}

struct CappedBuffer<'a> {
    buf: Vec<u8>,
    /// Bytes of `budget` this buffer holds (its capacity).
    taken: usize,
    limit: usize,
    budget: &'a InflateBudget,
}

impl CappedBuffer<'_> {
    fn push(&mut self, bytes: &[u8], compressed: usize) -> Result<(), ApiError> {
        let needed = self.buf.len() + bytes.len();
        if needed > self.limit {
            return Err(too_large(self.limit, "after decompression"));
        }
        if needed > self.buf.capacity() {
            // Grow geometrically (starting near a typical ratio of the compressed size), never
            // past the limit, and only with the budget's leave.
            let grown = (self.buf.capacity() * 2)
                .max(compressed.saturating_mul(4))
                .max(needed)
                .min(self.limit);
            let more = grown - self.taken;
            if !self.budget.take(more) {
                return Err(ApiError::unavailable(
                    "the server is decompressing as many request bodies as it may at once; retry shortly",
                ));
            }
            self.taken += more;
            self.buf.reserve_exact(grown - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
}

impl Drop for CappedBuffer<'_> {
    fn drop(&mut self) {
        self.budget.give_back(self.taken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn inflating_takes_from_the_budget_and_gives_it_back() {
        let budget = InflateBudget::new(1 << 20);
        let body = inflate(&gzip(&[7u8; 300_000]), 1 << 20, &budget).unwrap();
        assert_eq!(body.len(), 300_000);
        assert_eq!(budget.available(), 1 << 20);
    }

    #[test]
    fn a_bomb_never_holds_more_than_the_limit() {
        let budget = InflateBudget::new(10 << 20);
        let err = inflate(&gzip(&vec![0u8; 50 << 20]), 4 << 20, &budget).unwrap_err();
        assert_eq!(err.kind, ProblemKind::PayloadTooLarge);
        assert_eq!(budget.available(), 10 << 20);
    }

    #[test]
    fn an_exhausted_budget_refuses_with_503() {
        let budget = InflateBudget::new(1 << 20);
        assert!(budget.take(900_000));
        let err = inflate(&gzip(&[1u8; 500_000]), 4 << 20, &budget).unwrap_err();
        assert_eq!(err.kind, ProblemKind::Unavailable);
        assert!(err.headers.iter().any(|(h, _)| *h == "retry-after"));
        assert_eq!(budget.available(), 1_048_576 - 900_000);
    }
}
