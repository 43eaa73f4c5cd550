//! problem+json for the answers actix-http writes itself (issue 20, defect 11).
//!
//! When a request line or its headers cannot be parsed (400), are too large or too many (431), or
//! the first request head does not arrive in time (408), actix-http's HTTP/1 dispatcher answers
//! on its own, with an empty body, and closes the connection: the app, and so its error
//! middleware, never sees the request, and actix offers no hook to shape that answer. This
//! wrapper of the connection recognises those answers in what is written to the socket and
//! writes a problem+json one in their place.
//!
//! It recognises them by their exact head: `HTTP/1.1 <status> <reason>` followed directly by
//! `content-length: 0`. The app never answers so (every error of the app carries a problem body,
//! `api::problem::observe`), and a body cannot hold those bytes: JSON has no raw CR LF.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::api::problem::{CORRELATION_HEADER, PROBLEM_JSON};
use crate::error::Problem;

/// The answers of the dispatcher, as it writes their start, with what to say instead.
const REFUSALS: [(&[u8], u16, &str, &str); 4] = [
    (
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        400,
        "urn:esma:problem:bad-request",
        "Bad request",
    ),
    (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n",
        408,
        "urn:esma:problem:request-timeout",
        "Request timeout",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n",
        431,
        "urn:esma:problem:request-header-fields-too-large",
        "Request header fields too large",
    ),
    (
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n",
        500,
        "urn:esma:problem:internal",
        "Internal server error",
    ),
];

/// A connection whose bodyless dispatcher errors are rewritten into problem+json.
pub struct ProblemIo<T> {
    io: T,
    request_timeout: Duration,
    /// The answer being written in place of a dispatcher error, and how much of the caller's
    /// buffer (the original head) it stands for.
    replacing: Option<Replacement>,
}

struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    stands_for: usize,
}

impl<T> ProblemIo<T> {
    pub fn new(io: T, request_timeout: Duration) -> Self {
        ProblemIo {
            io,
            request_timeout,
            replacing: None,
        }
    }

    fn detail(&self, status: u16) -> String {
        match status {
            400 => "the request line or a header is malformed (RFC 9112), so the request was not read".to_string(),
            408 => format!(
                "the request head did not arrive within {} seconds of connecting; send it promptly",
                self.request_timeout.as_secs_f64()
            ),
            431 => "the request head is over this service's limits (96 headers, 128 KiB in all); send fewer or smaller headers".to_string(),
            _ => "the connection failed while the request was read; send it again".to_string(),
        }
    }
}

/// Where in `buf` a dispatcher error starts, which one, and how long its head is.
fn find_refusal(buf: &[u8]) -> Option<(usize, usize, usize)> {
    let mut from = 0;
    while let Some(offset) = buf[from..].iter().position(|&b| b == b'H') {
        let at = from + offset;
        for (which, (start, ..)) in REFUSALS.iter().enumerate() {
            if buf[at..].starts_with(start) {
                let head_end = buf[at..].windows(4).position(|w| w == b"\r\n\r\n")?;
                return Some((at, which, head_end + 4));
            }
        }
        from = at + 1;
    }
    None
}

/// The problem+json answer for refusal `which`, keeping the other headers of `head` (its date).
fn problem_answer(which: usize, head: &[u8], detail: String) -> Vec<u8> {
    let (start, status, problem_type, title) = REFUSALS[which];
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_vec(&Problem {
        problem_type: problem_type.to_string(),
        title: title.to_string(),
        status,
        detail,
        instance: None,
        correlation_id: correlation_id.clone(),
        errors: Vec::new(),
    })
    .unwrap_or_default();
    let status_line = &start[..start.len() - b"content-length: 0\r\n".len()];
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(status_line);
    out.extend_from_slice(
        format!(
            "content-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\nconnection: close\r\n{CORRELATION_HEADER}: {correlation_id}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    // The dispatcher's other header lines (date), without its length and connection.
    for line in head[start.len()..head.len() - 2].split_inclusive(|&b| b == b'\n') {
        if !line.to_ascii_lowercase().starts_with(b"connection:") {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            match find_refusal(buf) {
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
                // What comes before (answers to earlier requests) goes out unchanged first.
                Some((at, ..)) if at > 0 => {
                    return Pin::new(&mut this.io).poll_write(cx, &buf[..at])
                }
                Some((_, which, head_len)) => {
                    let status = REFUSALS[which].1;
                    tracing::info!(status, "request refused by the HTTP parser");
                    this.replacing = Some(Replacement {
                        bytes: problem_answer(which, &buf[..head_len], this.detail(status)),
                        written: 0,
                        stands_for: head_len,
                    });
                }
            }
        }
        // The caller keeps offering the same buffer until told it is written, so the whole
        // answer goes out before the original head is reported as written.
        let replacing = this.replacing.as_mut().expect("set above");
        while replacing.written < replacing.bytes.len() {
            match Pin::new(&mut this.io).poll_write(cx, &replacing.bytes[replacing.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => replacing.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let stands_for = replacing.stands_for;
        this.replacing = None;
        Poll::Ready(Ok(stands_for))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 23 Nov 2026 10:00:00 GMT\r\n\r\n";

    #[test]
    fn a_dispatcher_refusal_is_found_after_other_answers() {
        let mut buf = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
        let before = buf.len();
        buf.extend_from_slice(HEAD);
        assert_eq!(find_refusal(&buf), Some((before, 2, HEAD.len())));
        assert_eq!(
            find_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n"),
            None
        );
        assert_eq!(find_refusal(b"{\"h\":\"HTTP/1.1 400\"}"), None);
    }

    #[test]
    fn the_answer_is_problem_json_with_the_date_kept() {
        let out = problem_answer(2, HEAD, "too big".to_string());
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{head}"
        );
        assert!(
            head.contains("content-type: application/problem+json\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(head.contains("connection: close\r\n"), "{head}");
        assert!(
            head.ends_with("date: Mon, 23 Nov 2026 10:00:00 GMT"),
            "{head}"
        );
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 431);
        assert_eq!(problem["detail"], "too big");
    }
}
