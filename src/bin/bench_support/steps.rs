//! A server started for one step of a benchmark's school year, and requests to it as one API
//! client (bench-delivery, bench-workday): the server's "today" moves by restarting it with
//! another `ESMA_TODAY` on the same database. Included with `#[path]` next to `harness.rs`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::harness::{
    http_client, log_tail, start_server, token, truncate, wait_healthy, NewClient, Server,
};

/// The server as one client sees it: its base URL and a bearer token.
pub struct Api<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub token: &'a str,
}

impl Api<'_> {
    /// One request; its status and body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((status, body.to_vec()))
    }

    /// A request that must succeed (2xx); its JSON answer (`null` when empty).
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let what = format!("{method} {path}");
        let body = body.map(|b| b.to_string().into_bytes());
        let (status, answer) = self.send(method, path, body).await?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&answer);
            return Err(format!(
                "{what} answered {status}: {}",
                truncate(&text, 800)
            ));
        }
        if answer.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer).map_err(|e| format!("{what}: unreadable answer: {e}"))
    }
}

/// A server started for one step of the school year, with its tokens.
pub struct Step {
    pub server: Server,
    pub log: PathBuf,
    pub http: reqwest::Client,
    pub la_token: String,
    pub school_token: String,
}

impl Step {
    /// Stops the server; an error of the step gets the end of its log.
    pub fn finish<T>(mut self, result: Result<T, String>) -> Result<T, String> {
        let exited = match self.server.child.try_wait() {
            Ok(Some(status)) => format!(" (the server had exited: {status})"),
            _ => String::new(),
        };
        self.server.stop();
        result.map_err(|e| {
            let tail = log_tail(&self.log);
            format!("{e}{exited}\n  server log: {}{tail}", self.log.display())
        })
    }

    pub fn la(&self) -> Api<'_> {
        Api {
            http: &self.http,
            base: &self.server.base,
            token: &self.la_token,
        }
    }

    pub fn school(&self) -> Api<'_> {
        Api {
            http: &self.http,
            base: &self.server.base,
            token: &self.school_token,
        }
    }
}

/// What the run needs to start a server again.
pub struct Setup<'a> {
    pub server_bin: &'a Path,
    pub url: &'a str,
    pub workdir: &'a Path,
    pub la: &'a NewClient,
    pub school: &'a NewClient,
    pub event_scan_secs: u64,
}

pub async fn start_step(setup: &Setup<'_>, today: &str) -> Result<Step, String> {
    let log = setup.workdir.join(format!("server-{today}.log"));
    let mut server = start_server(
        setup.server_bin,
        setup.url,
        &log,
        today,
        setup.event_scan_secs,
    )?;
    eprintln!(
        "{}: server pid {} at {}, today {today} (log {})",
        super::PROGRAM,
        server.child.id(),
        server.base,
        log.display()
    );
    let http = http_client(1)?;
    let healthy = wait_healthy(&mut server, &http).await;
    if let Err(e) = healthy {
        return Err(format!(
            "{e}\n  server log: {}{}",
            log.display(),
            log_tail(&log)
        ));
    }
    let la_token = token(&http, &server.base, setup.la).await?;
    let school_token = token(&http, &server.base, setup.school).await?;
    Ok(Step {
        server,
        log,
        http,
        la_token,
        school_token,
    })
}

/// A case a benchmark's set-up opened, and the assessment it overrode to open it.
pub struct Opened {
    pub case_id: i64,
    /// The referral's assessment, when it was not `eligible` and the decision overrode it.
    pub overridden: Option<Value>,
}

/// Refers a pupil (`school`) and accepts the referral (`la`) with `decision`; an assessment
/// other than `eligible` is overridden, since the set-up needs the case whatever the pupil's
/// register says.
pub async fn open_case(
    step: &Step,
    referral: &Value,
    mut decision: Value,
) -> Result<Opened, String> {
    use reqwest::Method;
    let referred = step
        .school()
        .ok(Method::POST, "/api/v1/referrals", Some(referral))
        .await?;
    let id = referred["id"].as_i64().ok_or("a referral without an id")?;
    let overridden =
        (referred["assessment"]["outcome"] != "eligible").then(|| referred["assessment"].clone());
    if overridden.is_some() {
        decision["override_reason"] = json!("benchmark set-up");
    }
    let decided = step
        .la()
        .ok(
            Method::POST,
            &format!("/api/v1/referrals/{id}/decision"),
            Some(&decision),
        )
        .await?;
    let case_id = decided["case"]["id"]
        .as_i64()
        .ok_or_else(|| format!("decision on referral {id} opened no case: {decided}"))?;
    Ok(Opened {
        case_id,
        overridden,
    })
}
