//! The outbox dispatcher: runs beside the HTTP server, sends every pending delivery with
//! `reqwest`, signed (Standard Webhooks), retried with exponential backoff and jitter for about
//! three days; a 410 from the receiver disables the subscription. Every attempt is recorded.
//! At least once: a delivery is claimed with a lease, so a crash mid-attempt sends it again.
//! It reads the outbox the services write and nothing else of theirs: the clock-driven scan that
//! fills it is scheduled by the server (`server::run_upkeep`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use serde::Serialize;

use crate::error::ApiError;
use crate::signing::{WebhookKeys, WebhookSecret};
use crate::store::webhooks::{self as store, AttemptResult, DeliveryJob, NewAttempt};
use crate::store::Db;
use crate::telemetry::WebhookCounters;

/// How the dispatcher paces itself.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// How often to look for due deliveries when the last round found none.
    pub poll_every: Duration,
    /// One attempt's time limit (connect and answer).
    pub timeout: Duration,
    /// The wait after the 1st, 2nd, ... failed attempt; when it runs out the delivery fails.
    pub retry_delays: Vec<Duration>,
    /// Each wait is varied by up to this fraction either way, so receivers that come back
    /// are not hit by every retry at once.
    pub jitter: f64,
    /// Deliveries claimed per round.
    pub batch: i64,
    /// Attempts under way at once.
    pub concurrency: usize,
    /// Whether deliveries are sent at all (off: they wait in the outbox).
    pub send: bool,
}

/// The default retry waits: 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 12 h (four times) and
/// 8 h: 13 attempts over about 3.1 days.
pub fn default_retry_delays() -> Vec<Duration> {
    [
        5, 60, 300, 1_800, 7_200, 18_000, 36_000, 43_200, 43_200, 43_200, 43_200, 28_800,
    ]
    .into_iter()
    .map(Duration::from_secs)
    .collect()
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            poll_every: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            retry_delays: default_retry_delays(),
            jitter: 0.2,
            batch: 100,
            concurrency: 8,
            send: true,
        }
    }
}

impl DispatchSettings {
    /// How long a claimed delivery is kept from other rounds: past it, an attempt that never
    /// reported (a crash) is due again.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }

    /// The wait after `failed_attempts` failures, jittered; `None` when retries are exhausted.
    pub fn retry_after(&self, failed_attempts: usize) -> Option<Duration> {
        let base = *self.retry_delays.get(failed_attempts.checked_sub(1)?)?;
        if self.jitter <= 0.0 {
            return Some(base);
        }
        let factor = 1.0 + rand::rng().random_range(-self.jitter..=self.jitter);
        Some(base.mul_f64(factor.max(0.0)))
    }

    /// Total time a delivery is retried for, without jitter.
    pub fn retry_span(&self) -> Duration {
        self.retry_delays.iter().sum()
    }
}

/// What one round of sending did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoundReport {
    pub attempted: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
    pub disabled: usize,
}

/// Sends due deliveries.
#[derive(Clone)]
pub struct Dispatcher {
    client: reqwest::Client,
    settings: DispatchSettings,
    counters: Option<WebhookCounters>,
}

impl Dispatcher {
    pub fn new(settings: DispatchSettings) -> Result<Dispatcher, String> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirect is an answer to fix, not to follow: the signature is for this URL.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("esma-api-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Dispatcher {
            client,
            settings,
            counters: None,
        })
    }

    /// Counts every attempt by outcome on `/metrics` (`esma_webhook_attempts_total`).
    pub fn counting(mut self, counters: WebhookCounters) -> Dispatcher {
        self.counters = Some(counters);
        self
    }

    pub fn settings(&self) -> &DispatchSettings {
        &self.settings
    }

    /// Claims the deliveries due now, sends them, and records every attempt.
    pub async fn deliver_due(&self, db: &Db, keys: &WebhookKeys) -> Result<RoundReport, ApiError> {
        let now = crate::clock::wall_naive();
        let lease_until = now
            + chrono::Duration::from_std(self.settings.lease())
                .unwrap_or_else(|_| chrono::Duration::seconds(60));
        let batch = self.settings.batch;
        let jobs = db
            .write(move |conn| Ok(store::claim_due(conn, now, lease_until, batch)?))
            .await?;
        if jobs.is_empty() {
            return Ok(RoundReport::default());
        }
        let outcomes: Vec<(DeliveryJob, NewAttempt, AttemptResult)> =
            futures_util::stream::iter(jobs)
                .map(|job| self.attempt(job, keys))
                .buffer_unordered(self.settings.concurrency.max(1))
                .collect()
                .await;
        let mut report = RoundReport {
            attempted: outcomes.len(),
            ..RoundReport::default()
        };
        for (_, _, result) in &outcomes {
            match result {
                AttemptResult::Delivered => report.delivered += 1,
                AttemptResult::Retry(_) => report.retrying += 1,
                AttemptResult::Failed => report.failed += 1,
                AttemptResult::Gone => report.disabled += 1,
            }
        }
        db.write(move |conn| {
            for (job, attempt, result) in &outcomes {
                store::record_attempt(conn, job, attempt, result)?;
            }
            Ok(())
        })
        .await?;
        // Counted once recorded: a round whose record failed is attempted again after the lease.
        if let Some(counters) = &self.counters {
            counters.count(
                report.delivered,
                report.retrying,
                report.failed,
                report.disabled,
            );
        }
        Ok(report)
    }

    async fn attempt(
        &self,
        job: DeliveryJob,
        keys: &WebhookKeys,
    ) -> (DeliveryJob, NewAttempt, AttemptResult) {
        let attempted_at = crate::clock::wall_naive();
        let started = Instant::now();
        // A secret that does not open (its key not configured) fails the attempt, which is
        // retried: giving the key back lets the delivery through.
        let secret = keys
            .open(&job.secret)
            .and_then(|clear| WebhookSecret::parse(&clear));
        let answer = match secret {
            Err(e) => Err(e),
            Ok(secret) => {
                let timestamp = chrono::Utc::now().timestamp();
                let signature = secret.sign(&job.message_id, timestamp, job.payload.as_bytes());
                self.client
                    .post(&job.url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &job.message_id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .body(job.payload.clone())
                    .send()
                    .await
                    .map(|response| response.status().as_u16())
                    .map_err(describe)
            }
        };
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        // Failures since the schedule began: a requeued delivery gets every retry again.
        let failed_attempts =
            usize::try_from(job.attempts - job.retry_schedule_from).unwrap_or(0) + 1;
        let retry = || match self.settings.retry_after(failed_attempts) {
            Some(wait) => AttemptResult::Retry(
                crate::clock::wall_naive()
                    + chrono::Duration::from_std(wait)
                        .unwrap_or_else(|_| chrono::Duration::hours(1)),
            ),
            None => AttemptResult::Failed,
        };
        let (status_code, error, result) = match answer {
            Ok(code) if (200..300).contains(&code) => (Some(code), None, AttemptResult::Delivered),
            Ok(410) => (
                Some(410),
                Some("410 Gone: the subscription is disabled".to_string()),
                AttemptResult::Gone,
            ),
            Ok(code) => (
                Some(code),
                Some(format!("the receiver answered HTTP {code}")),
                retry(),
            ),
            Err(why) => (None, Some(why), retry()),
        };
        if !matches!(result, AttemptResult::Delivered) {
            tracing::info!(
                delivery = job.delivery_id,
                subscription = job.subscription_id,
                status = ?status_code,
                error = error.as_deref().unwrap_or(""),
                "webhook delivery not accepted"
            );
        }
        let attempt = NewAttempt {
            delivery_id: job.delivery_id,
            attempted_at,
            status_code: status_code.map(i32::from),
            latency_ms,
            error,
        };
        (job, attempt, result)
    }
}

/// What went wrong, in words an integrator can act on (never the URL's query, which may hold a
/// token of theirs).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else {
        e.to_string()
    }
}

/// Runs the dispatcher until the task is dropped (at once when sending is off: deliveries wait
/// in the outbox). A failing round is logged and tried again at the next tick; nothing is lost,
/// since the outbox is in the database.
pub async fn run(db: Db, keys: Arc<WebhookKeys>, dispatcher: Dispatcher) {
    let settings = dispatcher.settings().clone();
    if !settings.send {
        return;
    }
    loop {
        let busy = match dispatcher.deliver_due(&db, &keys).await {
            Ok(report) => report.attempted as i64 >= settings.batch,
            Err(e) => {
                tracing::warn!(error = %e, "webhook round failed; trying again later");
                false
            }
        };
        if !busy {
            actix_web::rt::time::sleep(settings.poll_every).await;
        }
    }
}
