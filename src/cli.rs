//! The command line (API.md "Command line"). Every option has an environment fallback.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::domain::access::Role;

#[derive(Debug, Parser)]
#[command(
    name = "esma-api",
    version,
    about = "ESMA integration hub: school registers and referrals to the LA's medical-needs teaching service"
)]
pub struct Cli {
    /// Database: sqlite://PATH (the embedded default) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "sqlite://esma.db"
    )]
    pub database_url: String,

    /// The LA's ESMA policy as a TOML file (default: the Hertfordshire policy compiled in; see
    /// src/domain/hertfordshire-esma-policy.toml for every setting).
    #[arg(long, global = true, env = "ESMA_POLICY")]
    pub policy: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size of `serve`'s arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve the API.
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage API clients (OAuth2 client credentials).
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Webhook subscriptions' stored secrets.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Print the OpenAPI document (what openapi/openapi.json must equal).
    Openapi,
    /// Rebuild the attendance tallies from the marks and reconcile the open alerts with them
    /// (after restoring a backup, changing the attendance policy, or to check the maintained
    /// numbers). Prints what it did as JSON.
    Recompute {
        /// Only these schools (repeatable; default: every school).
        #[arg(long = "school")]
        schools: Vec<i32>,
        /// The date resolved alerts are resolved on (default: today, or ESMA_TODAY).
        #[arg(long, env = "ESMA_TODAY")]
        today: Option<String>,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ESMA_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Seed a demo calendar, schools and clients, and print ready credentials.
    #[arg(long)]
    pub demo: bool,
    /// HMAC key for access tokens (at least 32 bytes). Unset: a random key per start, so tokens
    /// do not survive a restart and several instances cannot share tokens.
    #[arg(long, env = "ESMA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// The HMAC key in use before ESMA_JWT_SECRET (rotation): tokens it signed are still
    /// accepted until they expire; new tokens use ESMA_JWT_SECRET. Drop it after one token
    /// lifetime (ESMA_TOKEN_TTL).
    #[arg(long, env = "ESMA_JWT_PREVIOUS_SECRET", hide_env_values = true)]
    pub jwt_previous_secret: Option<String>,
    /// Token lifetime in seconds.
    #[arg(long, env = "ESMA_TOKEN_TTL", default_value_t = 3600)]
    pub token_ttl: i64,
    /// `iss` of the tokens this service issues and accepts.
    #[arg(long, env = "ESMA_ISSUER", default_value = "esma-api")]
    pub issuer: String,
    /// `aud` of the tokens this service issues and accepts.
    #[arg(long, env = "ESMA_AUDIENCE", default_value = "esma-api")]
    pub audience: String,
    /// Largest request body in MiB (after decompression).
    #[arg(long, env = "ESMA_BODY_LIMIT_MIB", default_value_t = 64)]
    pub body_limit_mib: usize,
    /// Largest body in KiB (after decompression) of every endpoint but the bulk pushes (never
    /// above the body limit).
    #[arg(long, env = "ESMA_SMALL_BODY_LIMIT_KIB", default_value_t = 1024)]
    pub small_body_limit_kib: usize,
    /// MiB that the gzip bodies being decompressed at one time may take together (at least the
    /// body limit); a body that would go over it is refused with 503 and Retry-After.
    #[arg(long, env = "ESMA_INFLATE_BUDGET_MIB", default_value_t = 128)]
    pub inflate_budget_mib: usize,
    /// Seconds a request body may pause between two pieces (408 after).
    #[arg(long, env = "ESMA_BODY_IDLE_TIMEOUT_SECS", default_value_t = 10)]
    pub body_idle_timeout_secs: u64,
    /// Seconds a whole request body may take to arrive (408 after).
    #[arg(long, env = "ESMA_BODY_TIMEOUT_SECS", default_value_t = 120)]
    pub body_timeout_secs: u64,
    /// Seconds to open a database connection or wait for one from the pool (503 after).
    #[arg(long, env = "ESMA_DB_CONNECT_TIMEOUT_SECS", default_value_t = 5)]
    pub db_connect_timeout_secs: u64,
    /// Seconds one SQL statement may run (PostgreSQL statement_timeout, SQLite busy_timeout;
    /// 503 after); 0: no limit.
    #[arg(long, env = "ESMA_DB_STATEMENT_TIMEOUT_SECS", default_value_t = 30)]
    pub db_statement_timeout_secs: u64,
    /// Most rows (marks or pupils) taken in one push (413 above it, saying how to split).
    #[arg(long, env = "ESMA_MAX_PUSH_ROWS", default_value_t = 500_000)]
    pub max_push_rows: usize,
    /// Log as JSON lines (one object per line) instead of text.
    #[arg(long, env = "ESMA_LOG_JSON")]
    pub log_json: bool,
    /// HTTP worker threads (default: one per CPU).
    #[arg(long, env = "ESMA_WORKERS")]
    pub workers: Option<usize>,
    /// Database connections in the pool.
    #[arg(long, env = "ESMA_DB_POOL", default_value_t = 10)]
    pub db_pool: u32,
    /// Fix "today" for statutory clocks (demos, acceptance tests), e.g. 2026-11-23.
    #[arg(long, env = "ESMA_TODAY")]
    pub today: Option<String>,
    /// The LA this service runs for (LA number), overriding the policy's `la_code` (919).
    #[arg(long, env = "ESMA_LA_CODE")]
    pub la_code: Option<u16>,
    /// Accept plain http webhook URLs to a loopback address (development and tests only;
    /// anywhere else webhooks must use https).
    #[arg(long, env = "ESMA_ALLOW_INSECURE_WEBHOOKS", value_parser = parse_flag, default_value = "0")]
    pub allow_insecure_webhooks: bool,
    /// Send webhook deliveries (0: keep them queued in the outbox without sending, e.g. while a
    /// test tool creates subscriptions to made-up hosts).
    #[arg(long, env = "ESMA_WEBHOOK_DISPATCH", value_parser = parse_flag, default_value = "1")]
    pub webhook_dispatch: bool,
    /// Seconds a webhook attempt may take (connect and answer).
    #[arg(long, env = "ESMA_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,
    /// Waits between webhook retries, in seconds, comma-separated (default: 5, 60, 300, 1800,
    /// 7200, 18000, 36000, then 43200 four times and 28800: about three days).
    #[arg(long, env = "ESMA_WEBHOOK_RETRY_SECS", value_delimiter = ',')]
    pub webhook_retry_secs: Vec<u64>,
    /// How often the dispatcher looks for due deliveries, in milliseconds.
    #[arg(long, env = "ESMA_WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,
    /// How often clock-driven events (reviews due and overdue, evidence due, sickness returns,
    /// overdue N codes) are looked for, in seconds; 0 turns the scan off.
    #[arg(long, env = "ESMA_EVENT_SCAN_SECS", default_value_t = 60)]
    pub event_scan_secs: u64,
    /// Days the audit trail is kept (at least 2192, six years; 0: for ever). Pruned by the scan.
    #[arg(long, env = "ESMA_RETAIN_AUDIT_DAYS", default_value_t = crate::domain::retention::AUDIT_FLOOR_DAYS)]
    pub retain_audit_days: u32,
    /// Days a webhook event and its deliveries are kept after the last attempt of a delivery that
    /// is over (never while one is still to be delivered; 0: for ever).
    #[arg(long, env = "ESMA_RETAIN_EVENTS_DAYS", default_value_t = 90)]
    pub retain_events_days: u32,
    /// Days webhook attempts are kept after the last attempt of their delivery, once it is over
    /// (0: for ever).
    #[arg(long, env = "ESMA_RETAIN_ATTEMPTS_DAYS", default_value_t = 90)]
    pub retain_attempts_days: u32,
    /// Days the change feed keeps a change (0: for ever); a reader further behind gets 410.
    #[arg(long, env = "ESMA_RETAIN_CHANGES_DAYS", default_value_t = 400)]
    pub retain_changes_days: u32,
    #[command(flatten)]
    pub webhook_keys: WebhookKeyArgs,
    /// Failed /oauth/token requests a client id may have per minute before it is refused with
    /// 429 (0: no limit).
    #[arg(long, env = "ESMA_TOKEN_FAILURES_PER_CLIENT", default_value_t = 10)]
    pub token_failures_per_client: u32,
    /// Failed /oauth/token requests one source address may make per minute (0: no limit; the
    /// peer address is used, never X-Forwarded-For).
    #[arg(long, env = "ESMA_TOKEN_FAILURES_PER_ADDRESS", default_value_t = 50)]
    pub token_failures_per_address: u32,
    /// Write the demo credentials as JSON to this file too (for scripts).
    #[arg(long, hide = true)]
    pub demo_credentials_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Seal every stored webhook secret under ESMA_WEBHOOK_KEY: those stored in clear (before
    /// secrets were encrypted) and those sealed under a key now in ESMA_WEBHOOK_PREVIOUS_KEYS.
    /// Prints what it did as JSON. `serve` does the same at start-up.
    Rekey {
        #[command(flatten)]
        keys: WebhookKeyArgs,
    },
}

/// The keys webhook secrets are sealed with at rest.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookKeyArgs {
    /// The key webhook secrets are stored encrypted with: 32 bytes in base64
    /// (`openssl rand -base64 32`). Required, except for the demo.
    #[arg(long, env = "ESMA_WEBHOOK_KEY", hide_env_values = true)]
    pub webhook_key: Option<String>,
    /// Earlier webhook keys, comma-separated, still used to open secrets sealed under them
    /// until `esma-api webhooks rekey` (or a restart) seals them under ESMA_WEBHOOK_KEY.
    #[arg(
        long,
        env = "ESMA_WEBHOOK_PREVIOUS_KEYS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub webhook_previous_keys: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client; prints its id and secret once, as JSON.
    Add {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        name: String,
        /// A URN the school client acts for (repeat for several).
        #[arg(long = "school")]
        schools: Vec<i64>,
    },
    /// List clients as JSON (never secrets).
    List,
    /// Revoke a client: its tokens stop working and it cannot get new ones.
    Revoke { client_id: String },
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (as an environment variable is written).
fn parse_flag(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(format!("expected 1 or 0 (true or false), not '{other}'")),
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}
