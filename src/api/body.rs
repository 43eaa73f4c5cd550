//! Bulk request bodies: read the raw stream under the size limit, then gunzip with the output
//! capped at the same limit, so a gzip bomb is refused with 413 without being expanded.

use std::io::Read;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use crate::error::{ApiError, ProblemKind};

pub fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn too_large(limit: usize, what: &str) -> ApiError {
    ApiError::new(
        ProblemKind::PayloadTooLarge,
        format!("the request body is over this service's limit of {limit} bytes {what}; split the push into smaller ones (for example one per school day)"),
    )
}

/// The body, decompressed when `Content-Encoding: gzip`, never more than `limit` bytes.
pub async fn read_bounded(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit, "(Content-Length)"));
    }
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
    let mut raw = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        })?;
        if raw.len() + chunk.len() > limit {
            return Err(too_large(limit, ""));
        }
        raw.extend_from_slice(&chunk);
    }
    if !gzip {
        return Ok(raw);
    }
    // Decompress on a blocking thread: a large push takes a while to inflate.
    web::block(move || {
        let mut out = Vec::with_capacity((raw.len() * 8).min(limit));
        let read = flate2::read::MultiGzDecoder::new(raw.as_slice())
            .take(limit as u64 + 1)
            .read_to_end(&mut out);
        match read {
            Err(e) => Err(ApiError::bad_request(format!(
                "the body is not valid gzip: {e}"
            ))),
            Ok(_) if out.len() > limit => Err(too_large(limit, "after decompression")),
            Ok(_) => Ok(out),
        }
    })
    .await
    .map_err(|e| ApiError::internal(format!("decompression task failed: {e}")))?
}
