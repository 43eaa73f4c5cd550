//! Logs (tracing, plain or JSON) and Prometheus metrics.

use std::time::Duration;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    webhooks: WebhookCounters,
}

/// Webhook attempts by what became of them, counted by this instance's dispatcher (each
/// instance counts its own; sum them across instances).
#[derive(Clone)]
pub struct WebhookCounters {
    attempts: IntCounterVec,
}

/// The outcomes an attempt is counted under.
const ATTEMPT_OUTCOMES: [&str; 4] = ["delivered", "retrying", "failed", "gone"];

impl WebhookCounters {
    fn new() -> Self {
        let attempts = IntCounterVec::new(
            Opts::new(
                "esma_webhook_attempts_total",
                "Webhook delivery attempts by outcome: delivered (2xx), retrying (failed, will be \
                 retried), failed (failed, retries exhausted), gone (410: subscription disabled)",
            ),
            &["outcome"],
        )
        .expect("static metric definition");
        // Every outcome is shown from the start, at 0, so a rate over it is defined at once.
        for outcome in ATTEMPT_OUTCOMES {
            attempts.with_label_values(&[outcome]);
        }
        WebhookCounters { attempts }
    }

    /// One round's attempts.
    pub fn count(&self, delivered: usize, retrying: usize, failed: usize, gone: usize) {
        for (outcome, n) in ATTEMPT_OUTCOMES
            .into_iter()
            .zip([delivered, retrying, failed, gone])
        {
            self.attempts.with_label_values(&[outcome]).inc_by(n as u64);
        }
    }
}

/// The webhook queue as the database has it when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebhookQueue {
    /// Pending deliveries: due now, waiting for a retry, or being attempted.
    pub depth: i64,
    /// How long the longest-waiting due delivery has been due; 0 when none is due.
    pub oldest_due_age_seconds: f64,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "esma_http_requests_total",
                "HTTP requests by route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("static metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "esma_http_request_duration_seconds",
                "HTTP request latency by route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["method", "route"],
        )
        .expect("static metric definition");
        registry
            .register(Box::new(requests.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(latency.clone()))
            .expect("metric registered once");
        let webhooks = WebhookCounters::new();
        registry
            .register(Box::new(webhooks.attempts.clone()))
            .expect("metric registered once");
        Metrics {
            registry,
            requests,
            latency,
            webhooks,
        }
    }

    /// The counters the webhook dispatcher adds to.
    pub fn webhook_counters(&self) -> WebhookCounters {
        self.webhooks.clone()
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition; with the webhook queue's gauges when it could be read (left out
    /// when the database did not answer, rather than showing stale figures).
    pub fn render(&self, queue: Option<WebhookQueue>) -> String {
        let mut families = self.registry.gather();
        if let Some(queue) = queue {
            families.extend(queue_gauges(queue));
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn queue_gauges(queue: WebhookQueue) -> Vec<prometheus::proto::MetricFamily> {
    let registry = Registry::new();
    let depth = IntGauge::new(
        "esma_webhook_queue_depth",
        "Pending webhook deliveries (due now, waiting for a retry, or being attempted), read from \
         the database at scrape time",
    )
    .expect("static metric definition");
    let age = Gauge::new(
        "esma_webhook_queue_oldest_due_age_seconds",
        "How long the longest-waiting due webhook delivery has been due (0: none is due), read \
         from the database at scrape time",
    )
    .expect("static metric definition");
    depth.set(queue.depth);
    age.set(queue.oldest_due_age_seconds);
    for gauge in [
        Box::new(depth) as Box<dyn prometheus::core::Collector>,
        Box::new(age),
    ] {
        registry.register(gauge).expect("metric registered once");
    }
    registry.gather()
}
