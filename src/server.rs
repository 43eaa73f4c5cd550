//! Starting the service: state from configuration, then the HTTP server with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use crate::api::body::{BodyRules, InflateBudget};
use crate::api::{self, HttpSettings};
use crate::cli::ServeArgs;
use crate::clock::Clock;
use crate::domain::policy::Policy;
use crate::domain::retention::RetentionPolicy;
use crate::notify::{self, DispatchSettings, Dispatcher};
use crate::service::throttle::{ThrottleSettings, TokenThrottle};
use crate::service::tokens::TokenKeys;
use crate::service::AppState;
use crate::signing::WebhookKeys;
use crate::store::{DatabaseUrl, Db, DbTimeouts};
use crate::telemetry::Metrics;

mod problem_io;
pub use problem_io::ProblemIo;

/// The database for a batch command (migrate, clients, recompute): no statement timeout.
pub fn open_db(url: &str, pool: u32) -> Result<Db, String> {
    let url = DatabaseUrl::parse(url)?;
    Db::open_with(&url, pool, DbTimeouts::unlimited_statements())
}

/// The database for `serve`, with the configured timeouts.
pub fn open_serving_db(url: &str, args: &ServeArgs) -> Result<Db, String> {
    let url = DatabaseUrl::parse(url)?;
    Db::open_with(&url, args.db_pool, db_timeouts(args))
}

pub fn db_timeouts(args: &ServeArgs) -> DbTimeouts {
    DbTimeouts {
        connect: Duration::from_secs(args.db_connect_timeout_secs.clamp(1, 600)),
        statement: (args.db_statement_timeout_secs > 0)
            .then(|| Duration::from_secs(args.db_statement_timeout_secs)),
    }
}

/// The HTTP limits from the command line.
pub fn http_settings(args: &ServeArgs) -> HttpSettings {
    let body_limit = args.body_limit_mib.max(1) * 1024 * 1024;
    HttpSettings {
        body_limit,
        max_push_rows: args.max_push_rows.max(1),
        bodies: BodyRules {
            small_limit: args.small_body_limit_kib.max(1) * 1024,
            idle_timeout: Duration::from_secs(args.body_idle_timeout_secs.max(1)),
            total_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
            // Never below the body limit, or a full-size gzip push could never be taken.
            inflate_budget: InflateBudget::new(
                (args.inflate_budget_mib * 1024 * 1024).max(body_limit),
            ),
        },
    }
}

/// The policy in force: the file given, else the compiled-in Hertfordshire policy.
pub fn load_policy(path: Option<&std::path::Path>) -> Result<Policy, String> {
    match path {
        None => Ok(Policy::hertfordshire()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the policy file {}: {e}", path.display()))?;
            Policy::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
        }
    }
}

pub fn state_from(db: Db, args: &ServeArgs, mut policy: Policy) -> Result<AppState, String> {
    if let Some(code) = args.la_code {
        policy.la_code = code;
    }
    let clock = Clock::from_env_value(args.today.as_deref())?;
    let secret = match &args.jwt_secret {
        Some(s) if s.len() >= 32 => s.as_bytes().to_vec(),
        Some(_) => return Err("ESMA_JWT_SECRET should be at least 32 bytes".to_string()),
        None => {
            tracing::warn!(
                "ESMA_JWT_SECRET is not set: using a random key; tokens will not survive a restart"
            );
            TokenKeys::random_secret()
        }
    };
    let previous = match &args.jwt_previous_secret {
        Some(s) if s.len() >= 32 && s.as_bytes() != secret.as_slice() => Some(s.as_bytes()),
        Some(s) if s.len() >= 32 => {
            return Err("ESMA_JWT_PREVIOUS_SECRET is the same as ESMA_JWT_SECRET".to_string())
        }
        Some(_) => return Err("ESMA_JWT_PREVIOUS_SECRET should be at least 32 bytes".to_string()),
        None => None,
    };
    let mut tokens = TokenKeys::new(&secret, &args.issuer, &args.audience, args.token_ttl);
    if let Some(previous) = previous {
        tokens = tokens.with_previous(previous);
    }
    tracing::info!(
        kid = tokens.current_kid(),
        previous = previous.is_some(),
        "token keys"
    );
    if !(60..=86_400).contains(&args.token_ttl) {
        return Err("ESMA_TOKEN_TTL should be 60 to 86400 seconds".to_string());
    }
    let webhook_keys = WebhookKeys::from_settings(
        args.webhook_keys.webhook_key.as_deref(),
        &args.webhook_keys.webhook_previous_keys,
        args.demo,
    )?;
    Ok(AppState {
        webhook_keys: Arc::new(webhook_keys),
        db,
        clock,
        tokens: Arc::new(tokens),
        la_code: policy.la_code,
        attendance: Arc::new(policy.attendance.clone()),
        policy: Arc::new(policy),
        allow_insecure_webhooks: args.allow_insecure_webhooks,
        token_throttle: Arc::new(TokenThrottle::new(ThrottleSettings {
            per_client: args.token_failures_per_client,
            per_address: args.token_failures_per_address,
            ..ThrottleSettings::default()
        })),
        clock_followed: Default::default(),
    })
}

/// The dispatcher's pacing from the command line.
pub fn dispatch_settings(args: &ServeArgs) -> Result<DispatchSettings, String> {
    let mut settings = DispatchSettings {
        poll_every: Duration::from_millis(args.webhook_poll_ms.clamp(10, 60_000)),
        timeout: Duration::from_secs(args.webhook_timeout_secs.clamp(1, 120)),
        send: args.webhook_dispatch,
        ..DispatchSettings::default()
    };
    if !args.webhook_retry_secs.is_empty() {
        if args.webhook_retry_secs.len() > 50 {
            return Err("ESMA_WEBHOOK_RETRY_SECS lists more than 50 waits".to_string());
        }
        settings.retry_delays = args
            .webhook_retry_secs
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect();
    }
    Ok(settings)
}

/// The clock-driven upkeep the server runs beside it: the event scan (clock-driven alerts and
/// events) and the pruning of what is kept no longer.
#[derive(Debug, Clone)]
pub struct UpkeepSettings {
    /// How often (zero: never).
    pub every: Duration,
    /// How long each kind of record is kept; the upkeep prunes what is older.
    pub retention: RetentionPolicy,
}

/// The upkeep's pacing and retention from the command line.
pub fn upkeep_settings(args: &ServeArgs) -> Result<UpkeepSettings, String> {
    let settings = UpkeepSettings {
        every: Duration::from_secs(args.event_scan_secs),
        retention: RetentionPolicy {
            audit_days: args.retain_audit_days,
            events_days: args.retain_events_days,
            attempts_days: args.retain_attempts_days,
            changes_days: args.retain_changes_days,
        },
    };
    settings.retention.check()?;
    Ok(settings)
}

/// Runs the upkeep every `settings.every`, the first time at once, until the task is dropped. A
/// failing step is logged and tried again next time.
pub async fn run_upkeep(state: AppState, settings: UpkeepSettings) {
    if settings.every.is_zero() {
        return;
    }
    let mut warned = false;
    loop {
        let started = std::time::Instant::now();
        // First: the scan's prepared statements are planned with the statistics.
        match crate::service::health::keep_statistics(&state).await {
            Ok(Some(analysed)) => {
                if !warned {
                    warned = true;
                    tracing::warn!(
                        "PostgreSQL's autovacuum is off: the service analyses its own tables \
                         but nothing reclaims their dead rows; turn autovacuum on \
                         (docs/operations.md)"
                    );
                }
                if !analysed.is_empty() {
                    tracing::info!(tables = ?analysed, "planner statistics refreshed");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "analysing the tables failed; trying again later"),
        }
        match crate::service::webhooks::scan(&state).await {
            Ok(report) if report.events > 0 => {
                tracing::info!(events = report.events, "clock-driven events emitted")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "event scan failed; trying again later"),
        }
        // Stored Idempotency-Key answers are kept for their retention period only.
        match crate::service::idempotency::prune(&state).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "expired Idempotency-Key answers forgotten"),
            Err(e) => {
                tracing::warn!(error = %e, "Idempotency-Key pruning failed; trying again later")
            }
        }
        match crate::service::retention::prune(&state, &settings.retention).await {
            Ok(report) if report.total() > 0 => {
                tracing::info!(pruned = ?report, "records past their retention removed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed; trying again later"),
        }
        actix_web::rt::time::sleep(settings.every.saturating_sub(started.elapsed())).await;
    }
}

pub async fn serve(state: AppState, args: &ServeArgs) -> std::io::Result<()> {
    // Secrets stored in clear (before sealing) or under a previous key are sealed under the
    // current key before anything is sent.
    let rekeyed = crate::service::webhooks::rekey(&state.db, &state.webhook_keys)
        .await
        .map_err(std::io::Error::other)?;
    if rekeyed.resealed > 0 || rekeyed.unreadable > 0 {
        tracing::info!(report = ?rekeyed, "webhook secrets sealed under the current key");
    }
    let metrics = web::Data::new(Metrics::new());
    let dispatcher = Dispatcher::new(dispatch_settings(args).map_err(std::io::Error::other)?)
        .map_err(std::io::Error::other)?
        .counting(metrics.webhook_counters());
    let upkeep = upkeep_settings(args).map_err(std::io::Error::other)?;
    // The outbox is sent beside the server; stopping it mid-attempt loses nothing (the lease
    // makes the delivery due again).
    let outbox = actix_web::rt::spawn(notify::run(
        state.db.clone(),
        state.webhook_keys.clone(),
        dispatcher,
    ));
    let upkeep = actix_web::rt::spawn(run_upkeep(state.clone(), upkeep));
    let settings = http_settings(args);
    let listener = std::net::TcpListener::bind(&args.bind)?;
    let limits = ServerLimits {
        workers: args.workers.map(|w| w.max(1)),
        ..ServerLimits::default()
    };
    // Signals are ours, not actix's: actix treats SIGINT (Ctrl-C) as a forced stop that drops
    // the requests in flight, and SIGINT must drain like SIGTERM (docs/operations.md,
    // "Operating it").
    let server = http_server(listener, state, metrics, settings, limits)?;
    let handle = server.handle();
    let stopper = actix_web::rt::spawn(async move {
        let signal = stop_signal().await;
        tracing::info!(
            signal,
            "stopping: no new connections; requests in flight have {SHUTDOWN_TIMEOUT_SECS} s to finish"
        );
        handle.stop(true).await;
    });
    let served = server.await;
    stopper.abort();
    // The dispatcher is stopped between its rounds' awaits; a delivery it was making stays
    // leased in the database and is made again after the lease.
    outbox.abort();
    let _ = outbox.await;
    // The upkeep's steps are transactions: one stopped mid-way is rolled back and done next time.
    upkeep.abort();
    let _ = upkeep.await;
    tracing::info!("stopped");
    served
}

/// How the HTTP server treats connections.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Time for a new connection's first request head to arrive; 408 after it.
    pub request_timeout: Duration,
    /// Worker threads; the number of cores when None.
    pub workers: Option<usize>,
}

impl Default for ServerLimits {
    /// actix-web's own defaults.
    fn default() -> Self {
        ServerLimits {
            request_timeout: Duration::from_secs(5),
            workers: None,
        }
    }
}

/// The HTTP server on `listener`: actix-web's app behind actix-http's HTTP/1 service, as
/// `HttpServer` builds it, but over [`ProblemIo`], so that what the HTTP parser refuses before the
/// app sees it (400, 408, 431) is answered in problem+json too.
pub fn http_server(
    listener: std::net::TcpListener,
    state: AppState,
    metrics: web::Data<Metrics>,
    settings: HttpSettings,
    limits: ServerLimits,
) -> std::io::Result<actix_server::Server> {
    use actix_http::{HttpService, Protocol};
    use actix_service::{fn_service, map_config, IntoServiceFactory as _, ServiceFactoryExt as _};
    use actix_web::dev::AppConfig;

    let addr = listener.local_addr()?;
    let mut builder = actix_server::Server::build()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .disable_signals();
    if let Some(workers) = limits.workers {
        builder = builder.workers(workers);
    }
    let shutdown = builder.graceful_shutdown_signal();
    let request_timeout = limits.request_timeout;
    builder = builder.listen("esma-api", listener, move || {
        let app = api::app(state.clone(), metrics.clone(), settings.clone())
            .into_factory()
            .map_err(|err: actix_web::Error| err.error_response());
        let shutdown = shutdown.clone();
        let http = HttpService::build()
            .client_request_timeout(request_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .finish(map_config(app, |_| AppConfig::default()));
        fn_service(move |io: actix_web::rt::net::TcpStream| {
            let peer = io.peer_addr().ok();
            std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                ProblemIo::new(io, request_timeout),
                Protocol::Http1,
                peer,
            )))
        })
        .and_then(http)
    })?;
    Ok(builder.run())
}

/// How long requests in flight may take to finish once a stop is asked for.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// Waits for SIGINT (Ctrl-C) or SIGTERM; returns its name.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server gracefully");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
