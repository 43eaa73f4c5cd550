//! Storage: one diesel code base over SQLite (the embedded default) and PostgreSQL (production).
//! Nothing outside this module writes SQL.

pub mod alerts;
pub mod attendance;
pub mod audit;
pub mod calendars;
pub mod cases;
pub mod changes;
pub mod clients;
pub mod columns;
mod error;
pub mod idempotency;
pub mod imports;
pub mod introspection;
pub mod lessons;
pub mod marks;
pub mod part_time;
pub mod plans;
pub mod pupils;
pub mod referrals;
pub mod registers;
pub mod retention;
pub mod schema;
pub mod schools;
pub mod webhooks;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::ApiError;
pub use error::{read_transaction, StoreError, StoreResult};

/// A connection to whichever backend the URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database URL as the CLI accepts it: `postgres://...`/`postgresql://...`, `sqlite://path`,
/// `sqlite:path` or a bare path ending in `.db`/`.sqlite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("sqlite URL has no file path; write e.g. sqlite://esma.db".into());
            }
            return Ok(DatabaseUrl::Sqlite(path.to_string()));
        }
        if raw.ends_with(".db") || raw.ends_with(".sqlite") || raw.ends_with(".sqlite3") {
            return Ok(DatabaseUrl::Sqlite(raw.to_string()));
        }
        Err(format!(
            "database URL '{}' is neither postgres://... nor sqlite://PATH (nor a path ending in .db)",
            redact(raw)
        ))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Hide a password in a URL before it is printed or logged.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

/// How long the database may keep a request waiting: unbounded, a database that stops answering
/// would hang every request, `/health` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbTimeouts {
    /// Opening a connection (PostgreSQL's `connect_timeout`), and waiting for one from the pool;
    /// a request that has no working connection after this (plus a second) is answered 503.
    pub connect: Duration,
    /// One SQL statement: PostgreSQL's `statement_timeout`, set once per connection, and SQLite's
    /// `busy_timeout` (the one wait a SQLite statement has). None: no limit on PostgreSQL and
    /// 10 s on SQLite (the batch commands: migrate, recompute).
    pub statement: Option<Duration>,
}

impl Default for DbTimeouts {
    fn default() -> Self {
        DbTimeouts {
            connect: Duration::from_secs(5),
            statement: Some(Duration::from_secs(30)),
        }
    }
}

impl DbTimeouts {
    /// For the batch commands: a long recompute or migration is not cut short.
    pub fn unlimited_statements() -> Self {
        DbTimeouts {
            statement: None,
            ..DbTimeouts::default()
        }
    }
}

/// Opens connections by URL scheme and sets SQLite's per-connection pragmas. Written by hand because
/// the derived `MultiConnection::establish` hides the real error (STACK.md pitfalls).
#[derive(Debug)]
pub struct ConnectionOpener {
    url: DatabaseUrl,
    timeouts: DbTimeouts,
}

/// The PostgreSQL URL with a connect timeout and TCP keepalives added unless it sets them: the
/// keepalives free a thread waiting on a server that vanished (packets dropped) in about 30 s.
fn postgres_url_with_timeouts(url: &str, timeouts: &DbTimeouts) -> String {
    let mut url = url.to_string();
    let secs = timeouts.connect.as_secs().max(1);
    for (key, value) in [
        ("connect_timeout", secs.to_string()),
        ("keepalives", "1".to_string()),
        ("keepalives_idle", "15".to_string()),
        ("keepalives_interval", "5".to_string()),
        ("keepalives_count", "3".to_string()),
    ] {
        let present = url
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|p| p.split('=').next() == Some(key)));
        if !present {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    }
    url
}

impl ManageConnection for ConnectionOpener {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        use diesel::r2d2::Error;
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let url = postgres_url_with_timeouts(url, &self.timeouts);
                let mut conn =
                    diesel::PgConnection::establish(&url).map_err(Error::ConnectionError)?;
                // Once per connection, not per checkout: a SET is a round trip.
                if let Some(limit) = self.timeouts.statement {
                    conn.batch_execute(&format!(
                        "SET statement_timeout = {}",
                        limit.as_millis().max(1)
                    ))
                    .map_err(Error::QueryError)?;
                }
                Ok(DbConnection::Postgresql(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                configure_sqlite_library();
                let mut conn =
                    diesel::SqliteConnection::establish(path).map_err(Error::ConnectionError)?;
                // WAL lets readers run beside the writer; busy_timeout makes a second process wait
                // instead of failing; foreign keys are off by default in SQLite. The automatic
                // checkpoint is only the backstop of the checkpoint thread below, so its mark is
                // high: during a night's burst the readers keep the log from restarting, and every
                // commit past a low mark would checkpoint under the writer's lock.
                // journal_size_limit shrinks the log file again once it has been reset.
                // busy_timeout comes first: setting journal_mode takes a lock, and without the
                // timeout a second connection opening at that moment failed at once with
                // "database is locked" (issue 20).
                let busy = self.timeouts.statement.unwrap_or(Duration::from_secs(10));
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA wal_autocheckpoint = 50000; PRAGMA journal_size_limit = 67108864;",
                    busy.as_millis().max(1)
                ))
                .map_err(Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection returned mid-transaction (a panic in a closure) is discarded, not reused:
    /// it would hold its locks until the pool reaped it.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::connection::TransactionManager;
        std::thread::panicking()
            || <DbConnection as diesel::Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

/// Sets SQLite's process-wide configuration, once, before the first connection is opened (after
/// that SQLite refuses it, harmlessly). Multi-thread mode: a connection is used by one thread at a
/// time here (a pool checkout, the writer behind its lock, the checkpoint thread's own), so the
/// per-connection mutex the default serialized mode takes on every call (each bound value and each
/// column read) is pure cost; with the allocation statistics off, nor does every allocation take
/// the global memory mutex. A push binds and reads hundreds of thousands of values, each paying
/// both.
fn configure_sqlite_library() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        use libsqlite3_sys::{
            sqlite3_config, SQLITE_CONFIG_MEMSTATUS, SQLITE_CONFIG_MULTITHREAD, SQLITE_OK,
        };
        // SAFETY: sqlite3_config is called before any connection is opened by this process's
        // own code (the Once runs ahead of every SQLite open here); should one have been opened
        // already, SQLite returns SQLITE_MISUSE and changes nothing, which is only logged.
        let results = unsafe {
            [
                sqlite3_config(SQLITE_CONFIG_MULTITHREAD),
                sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int),
            ]
        };
        if results.iter().any(|&r| r != SQLITE_OK) {
            tracing::debug!(
                ?results,
                "SQLite was initialised already; its configuration stays"
            );
        }
    });
}

/// How often SQLite's write-ahead log is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies SQLite's write-ahead log back into the database on a thread of its own, as long as a
/// [`Db`] of it is open (`alive`). Otherwise the commit that crosses `wal_autocheckpoint` does it,
/// holding the writer's lock meanwhile, so every push waiting for the lock waits for the
/// checkpoint too. A passive checkpoint waits for nobody and nobody waits for it;
/// the autocheckpoint stays as the backstop should this thread fall behind.
fn spawn_checkpointer<T: Send + Sync + 'static>(path: String, alive: std::sync::Weak<T>) {
    if path == ":memory:" {
        return;
    }
    let started = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            configure_sqlite_library();
            let mut conn = match diesel::SqliteConnection::establish(&path) {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "no WAL checkpoint thread: cannot open the database");
                    return;
                }
            };
            while alive.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no WAL checkpoint thread");
    }
}

/// The database handle the services use: a pool plus, for SQLite, one connection that does all
/// of the process's writes behind a lock, so that two write transactions never race for SQLite's
/// single write lock (a deferred transaction that upgrades late fails with SQLITE_BUSY instead
/// of waiting). Being the only writer, its page cache stays valid from one write to the next;
/// a pooled connection's is stale whenever another connection wrote since it was last used.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionOpener>,
    backend: Backend,
    writer: Arc<Mutex<Option<DbConnection>>>,
    opener: Arc<ConnectionOpener>,
    /// How long a request waits for a working connection before it is answered 503.
    checkout_wait: Duration,
}

/// What a request is told when the database cannot serve it; the reason goes to the log only
/// (it names the host, port, database and the server's own message).
fn unreachable(reason: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %reason, "database unreachable");
    ApiError::unavailable("the database is unreachable; retry shortly")
}

/// Between a request and the blocking thread that serves it from the database: when the request
/// stops waiting for a connection (it is answered 503), the work is not done later should a
/// connection turn up after all, so a client told 503 can retry without doubling a write.
#[derive(Default)]
struct Gate(std::sync::atomic::AtomicU8);

impl Gate {
    const WAITING: u8 = 0;
    const STARTED: u8 = 1;
    const ABANDONED: u8 = 2;

    fn switch(&self, to: u8) -> bool {
        use std::sync::atomic::Ordering;
        self.0
            .compare_exchange(Self::WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The work may start (Err: the request has gone).
    fn enter(&self) -> Result<(), ApiError> {
        if self.switch(Self::STARTED) {
            Ok(())
        } else {
            Err(ApiError::unavailable(
                "the database did not answer in time; retry shortly",
            ))
        }
    }
}

pub type PooledDb = PooledConnection<ConnectionOpener>;

impl Db {
    /// Connects (failing fast with the real reason) and applies pending migrations.
    pub fn open(url: &DatabaseUrl, pool_size: u32) -> Result<Db, String> {
        Db::open_with(url, pool_size, DbTimeouts::default())
    }

    /// [`Db::open`] with these timeouts.
    pub fn open_with(
        url: &DatabaseUrl,
        pool_size: u32,
        timeouts: DbTimeouts,
    ) -> Result<Db, String> {
        // Try one connection first so the error says what is wrong (r2d2 only says "timed out").
        // Migrations run on it without a statement timeout: one may rewrite a large table.
        let migrating = ConnectionOpener {
            url: url.clone(),
            timeouts: DbTimeouts {
                statement: None,
                ..timeouts
            },
        };
        let mut first = migrating
            .connect()
            .map_err(|e| format!("cannot open database {}: {e}", redact(&url_text(url))))?;
        run_migrations(&mut first).map_err(|e| format!("migrations failed: {e}"))?;
        drop(first);
        let opener = ConnectionOpener {
            url: url.clone(),
            timeouts,
        };
        // test_on_check_out (r2d2's default, kept): a connection the server closed (restarted,
        // pg_terminate_backend) fails its check and is replaced by a fresh one.
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(timeouts.connect)
            .test_on_check_out(true)
            .build(opener)
            .map_err(|e| format!("cannot build the connection pool: {e}"))?;
        let writer = Arc::new(Mutex::new(None));
        if let DatabaseUrl::Sqlite(path) = url {
            spawn_checkpointer(path.clone(), Arc::downgrade(&writer));
        }
        Ok(Db {
            pool,
            backend: url.backend(),
            writer,
            opener: Arc::new(ConnectionOpener {
                url: url.clone(),
                timeouts,
            }),
            checkout_wait: timeouts.connect + Duration::from_secs(1),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&self) -> Result<PooledDb, ApiError> {
        self.pool.get().map_err(|e| unreachable(&e))
    }

    /// Runs `f` in one transaction (synchronously: for the CLI or inside [`Db::write`]).
    pub fn write_now<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.write_gated(&Gate::default(), f)
    }

    fn write_gated<T>(
        &self,
        gate: &Gate,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = self.conn()?;
                gate.enter()?;
                Self::transaction(&mut conn, f)
            }
            Backend::Sqlite => {
                // Waiting for the writer is queueing behind other writes of this process (a
                // night's pushes), not a database that does not answer: no deadline on it.
                gate.enter()?;
                let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
                if writer.is_none() {
                    let conn = self.opener.connect().map_err(|e| unreachable(&e))?;
                    *writer = Some(conn);
                }
                let conn = writer
                    .as_mut()
                    .expect("the writer connection was just opened");
                let result = std::panic::AssertUnwindSafe(|| Self::transaction(conn, f));
                let result = std::panic::catch_unwind(result);
                // A connection left mid-transaction (or after a panic) is not used again.
                let broken = match &result {
                    Ok(_) => self.opener.has_broken(conn),
                    Err(_) => true,
                };
                if broken {
                    *writer = None;
                }
                drop(writer);
                result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }

    fn transaction<T>(
        conn: &mut DbConnection,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let started = std::time::Instant::now();
        let mut body = std::time::Duration::ZERO;
        let result = conn.transaction(|conn| {
            let out = f(conn);
            body = started.elapsed();
            out
        });
        // The commit's share of a write (RUST_LOG=esma_api::store=debug), for tuning.
        tracing::debug!(
            body_ms = body.as_secs_f64() * 1e3,
            commit_ms = (started.elapsed() - body).as_secs_f64() * 1e3,
            "write transaction"
        );
        result
    }

    /// Runs read-only queries off the actix worker threads.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let db = self.clone();
        self.gated(move |gate| {
            let mut conn = db.conn()?;
            gate.enter()?;
            f(&mut conn)
        })
        .await
    }

    /// Runs `f` in one write transaction off the actix worker threads.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let db = self.clone();
        self.gated(move |gate| db.write_gated(gate, f)).await
    }

    /// Runs `work` on a blocking thread, waiting at most `checkout_wait` for it to get a working
    /// connection: r2d2's own checkout timeout does not cover a pooled connection whose check
    /// hangs on a server that accepts and never answers, nor the connect of a new one.
    async fn gated<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Gate) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let gate = Arc::new(Gate::default());
        let theirs = gate.clone();
        let mut task = std::pin::pin!(blocking(move || work(&theirs)));
        match actix_web::rt::time::timeout(self.checkout_wait, &mut task).await {
            Ok(result) => result,
            Err(_) if gate.switch(Gate::ABANDONED) => Err(unreachable(&format_args!(
                "no working connection within {:?}",
                self.checkout_wait
            ))),
            // The work has started: it is bounded by the statement timeout.
            Err(_) => task.await,
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    actix_web::web::block(f)
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
}

fn url_text(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Postgres(u) => u.clone(),
        DatabaseUrl::Sqlite(p) => format!("sqlite://{p}"),
    }
}

/// The advisory lock under which a process migrates a PostgreSQL schema: this class (beside the
/// registers' 7001) and a hash of the schema's name.
const MIGRATION_LOCK: &str = "7002, hashtext(current_schema())";

/// Applies the pending migrations of the connection's backend; returns how many ran.
///
/// On PostgreSQL one process at a time per schema, under [`MIGRATION_LOCK`] (held by the
/// session, released when done or when the connection closes): instances started together on a
/// database with migrations pending (a new one, or after an upgrade) otherwise each apply them,
/// and all but one fail to start ("duplicate key value violates unique constraint
/// pg_type_typname_nsp_index", found by tests/two_instances.rs). The others wait, then find
/// nothing pending. (Per schema, so the tests, each in a schema of one database, still migrate
/// side by side.)
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    let applied = match conn {
        DbConnection::Postgresql(pg) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(pg)
                .map_err(|e| format!("cannot take the migration lock: {e}"))?;
            let applied = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(pg)
                .map_err(|e| format!("cannot release the migration lock: {e}"))?;
            applied
        }
        DbConnection::Sqlite(lite) => lite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len()),
    };
    applied.map_err(|e| e.to_string())
}
