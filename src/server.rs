//! Starting the service: state from configuration, then the HTTP server with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpServer};

use crate::api::body::{BodyRules, InflateBudget};
use crate::api::{self, HttpSettings};
use crate::cli::ServeArgs;
use crate::clock::Clock;
use crate::domain::policy::Policy;
use crate::notify::{self, DispatchSettings, Dispatcher};
use crate::service::tokens::TokenKeys;
use crate::service::AppState;
use crate::store::{DatabaseUrl, Db, DbTimeouts};
use crate::telemetry::Metrics;

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
    if !(60..=86_400).contains(&args.token_ttl) {
        return Err("ESMA_TOKEN_TTL should be 60 to 86400 seconds".to_string());
    }
    Ok(AppState {
        db,
        clock,
        tokens: Arc::new(TokenKeys::new(
            &secret,
            &args.issuer,
            &args.audience,
            args.token_ttl,
        )),
        la_code: policy.la_code,
        attendance: Arc::new(policy.attendance.clone()),
        policy: Arc::new(policy),
        allow_insecure_webhooks: args.allow_insecure_webhooks,
    })
}

/// The dispatcher's pacing from the command line.
pub fn dispatch_settings(args: &ServeArgs) -> Result<DispatchSettings, String> {
    let mut settings = DispatchSettings {
        poll_every: Duration::from_millis(args.webhook_poll_ms.clamp(10, 60_000)),
        scan_every: Duration::from_secs(args.event_scan_secs),
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

pub async fn serve(state: AppState, args: &ServeArgs) -> std::io::Result<()> {
    let dispatcher = Dispatcher::new(dispatch_settings(args).map_err(std::io::Error::other)?)
        .map_err(std::io::Error::other)?;
    // The outbox is sent beside the server; stopping it mid-attempt loses nothing (the lease
    // makes the delivery due again).
    let outbox = actix_web::rt::spawn(notify::run(state.clone(), dispatcher));
    let metrics = web::Data::new(Metrics::new());
    let settings = http_settings(args);
    let mut server =
        HttpServer::new(move || api::app(state.clone(), metrics.clone(), settings.clone()))
            .shutdown_timeout(30)
            .bind(&args.bind)?;
    if let Some(workers) = args.workers {
        server = server.workers(workers.max(1));
    }
    // actix handles SIGINT/SIGTERM: it stops accepting and lets in-flight requests finish.
    let served = server.run().await;
    outbox.abort();
    served
}
