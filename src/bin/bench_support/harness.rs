//! What the benchmark programs share (bench-ingest, bench-delivery, bench-workday): the `esma-api` server
//! started as a child on an empty database, clients added through its CLI, tokens, the server's
//! CPU and RSS read from /proc, and the checks before a run (the database empty, the server
//! binary current). Included with `#[path]` by each program, which names itself in `PROGRAM`.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use esma_api::store::DatabaseUrl;
use serde::Deserialize;

// ---------------------------------------------------------------- the server child

/// Pid of the running server (0: none), for the signal watcher: a signal kills this process
/// without running destructors, so `Server`'s Drop cannot be relied on then.
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

/// On SIGINT or SIGTERM, stop the server and exit 130. A terminal's Ctrl-C reaches the server
/// anyway (same process group), but `kill PID` or `timeout` would otherwise orphan it.
fn watch_signals() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let pid = SERVER_PID.load(Ordering::SeqCst);
            if pid != 0 {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
            eprintln!("{}: interrupted", super::PROGRAM);
            std::process::exit(130);
        });
    });
}

/// The running server. Dropping it kills the process, so every early return and panic stops it.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// SIGTERM (graceful: in-flight requests finish, SQLite checkpoints), SIGKILL after 35 s.
    pub fn stop(&mut self) {
        SERVER_PID.store(0, Ordering::SeqCst);
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(35);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        SERVER_PID.store(0, Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an esma-api command to completion; its stdout on success.
pub fn esma(bin: &Path, url: &str, args: &[String]) -> Result<Vec<u8>, String> {
    let out = Command::new(bin)
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`esma-api {}` failed ({}): {}",
            args.first().map_or("", String::as_str),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

#[derive(Deserialize)]
pub struct NewClient {
    pub client_id: String,
    pub client_secret: String,
}

pub fn add_client(bin: &Path, url: &str, role: &str, urns: &[i32]) -> Result<NewClient, String> {
    let mut args: Vec<String> = ["clients", "add", "--role", role, "--name"]
        .map(String::from)
        .into();
    args.push(format!("bench-{}", if role == "la" { "la" } else { "mis" }));
    for urn in urns {
        args.push("--school".into());
        args.push(urn.to_string());
    }
    serde_json::from_slice(&esma(bin, url, &args)?)
        .map_err(|e| format!("clients add printed no client JSON: {e}"))
}

pub fn start_server(
    bin: &Path,
    url: &str,
    log: &Path,
    today: &str,
    event_scan_secs: u64,
) -> Result<Server, String> {
    // Ask the OS for a free port; the tiny race until the server binds it is acceptable here.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let log_file =
        File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let child = Command::new(bin)
        .args([
            "--database-url",
            url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("ESMA_JWT_SECRET", secret)
        // A fresh key for each run: the benchmark subscribes no webhook, but serve needs one.
        .env(
            "ESMA_WEBHOOK_KEY",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                rand::random::<[u8; 32]>(),
            ),
        )
        .env("ESMA_TODAY", today)
        .env("ESMA_EVENT_SCAN_SECS", event_scan_secs.to_string())
        // BENCH_SERVER_LOG=esma_api::service::attendance=debug logs each push's timings.
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".to_string()),
        )
        .env("NO_COLOR", "1") // plain text in the log file
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    SERVER_PID.store(child.id(), Ordering::SeqCst);
    Ok(Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    })
}

/// CPU seconds (user + system) the server has used so far, from /proc (Linux only; 0 where it
/// cannot be read): shows whether a round was bound by the server's CPU or by its write lock.
pub fn server_cpu_secs() -> f64 {
    cpu_secs_of(SERVER_PID.load(Ordering::SeqCst))
}

/// CPU seconds (user + system) a process has used so far, from /proc/PID/stat (0 where it
/// cannot be read).
pub fn cpu_secs_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ is 100 on every Linux this runs on.
    (ticks(11) + ticks(12)) / 100.0
}

pub async fn token(
    http: &reqwest::Client,
    base: &str,
    client: &NewClient,
) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Token {
        access_token: String,
    }
    let response = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .map_err(|e| format!("token request: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "token request answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        ));
    }
    Ok(response
        .json::<Token>()
        .await
        .map_err(|e| format!("token response: {e}"))?
        .access_token)
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

pub fn http_client(clients: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .pool_max_idle_per_host(clients)
        // The server closes a connection idle for 5 s (actix keep-alive), as one is during a raw
        // run: drop idle connections first rather than send on a closed one.
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// The middle value (the upper one of an even count), as the raw baseline takes it.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

// ---------------------------------------------------------------- database preparation

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// PostgreSQL must start empty: wiped with --fresh, otherwise refused if it has tables.
fn prepare_postgres(url: &str, fresh: bool) -> Result<(), String> {
    let mut conn = PgConnection::establish(url).map_err(|e| {
        // The database name is the URL's last path segment, before any ?options.
        let name = url.rsplit('/').next().and_then(|n| n.split('?').next());
        format!(
            "cannot connect to {}: {e}\n  if the database does not exist, create it first, \
             e.g. psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE {}'",
            esma_api::store::redact(url),
            name.unwrap_or("esma_bench")
        )
    })?;
    if fresh {
        eprintln!(
            "{}: --fresh: DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
            super::PROGRAM
        );
        return conn
            .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            .map_err(|e| e.to_string());
    }
    let tables = diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .get_result::<Count>(&mut conn)
    .map_err(|e| e.to_string())?
    .n;
    if tables > 0 {
        return Err(format!(
            "{} has {tables} tables in schema public; the benchmark needs an empty database.\n  \
             Pass --fresh to drop and recreate schema public (destroys everything in it), or use a new database.",
            esma_api::store::redact(url)
        ));
    }
    Ok(())
}

/// A given SQLite file must not exist yet, unless --fresh says to delete it.
fn prepare_sqlite(path: &str, fresh: bool) -> Result<(), String> {
    if !Path::new(path).exists() {
        return Ok(());
    }
    if !fresh {
        return Err(format!(
            "{path} exists; pass --fresh to delete it, or name a new file"
        ));
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        if Path::new(&file).exists() {
            std::fs::remove_file(&file).map_err(|e| format!("cannot delete {file}: {e}"))?;
        }
    }
    Ok(())
}

/// A source file newer than the server binary, from cargo's dep-info file beside it (`esma-api.d`
/// lists every file the binary was built from), so a stale server is not benchmarked by mistake.
/// `None` when there is no dep-info (a server built elsewhere) or nothing is newer.
fn newer_source(bin: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(bin).ok()?.modified().ok()?;
    let dep_info = std::fs::read_to_string(format!("{}.d", bin.display())).ok()?;
    let (_, sources) = dep_info.lines().next()?.split_once(": ")?;
    sources
        .split_whitespace()
        .map(PathBuf::from)
        .find(|source| {
            std::fs::metadata(source)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified > built)
        })
}

/// The last lines of the server log, to show with an HTTP failure.
pub fn log_tail(log: &Path) -> String {
    let mut text = String::new();
    if File::open(log)
        .and_then(|mut f| f.read_to_string(&mut text))
        .is_err()
    {
        return String::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
    if tail.is_empty() {
        String::new()
    } else {
        format!("\n    {tail}")
    }
}

/// Where a run starts its server and keeps its database: the options both programs take.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// sqlite://PATH or postgres://... (default: a fresh SQLite file in a temporary directory).
    /// Deliberately no DATABASE_URL fallback: the benchmark drops data and must never pick up a
    /// real database from the environment.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Start from scratch on a given database: PostgreSQL `DROP SCHEMA public CASCADE; CREATE
    /// SCHEMA public;`, SQLite delete the file. Without it a non-empty database is refused.
    #[arg(long)]
    pub fresh: bool,
    /// The esma-api binary (default: the one next to this binary).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Keep the working directory (SQLite database, server log) after a successful run.
    #[arg(long)]
    pub keep: bool,
}

/// A run of the program: signals watched, a working directory for the server log and the
/// default SQLite file (kept after a failure for the post-mortem), errors reported; exit status
/// 1 when `run` fails.
pub fn main_with(run: impl FnOnce(&Path) -> Result<(), String>) -> ExitCode {
    let program = super::PROGRAM;
    watch_signals();
    let workdir = std::env::temp_dir().join(format!("{program}-{}", std::process::id()));
    match run(&workdir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{program}: error: {message}");
            // Succeeds only if nothing was written there (a refusal before the server started).
            if workdir.exists() && std::fs::remove_dir(&workdir).is_err() {
                eprintln!("{program}: working directory kept: {}", workdir.display());
            }
            ExitCode::FAILURE
        }
    }
}

/// What a run works with: the server binary, checked before anything touches the database, and
/// the database, empty (its URL as text and parsed).
pub struct Prepared {
    pub server_bin: PathBuf,
    pub url_text: String,
    pub url: DatabaseUrl,
}

pub fn prepare(target: &Target, workdir: &Path) -> Result<Prepared, String> {
    let server_bin = server_binary(target.server_bin.as_ref())?;
    std::fs::create_dir_all(workdir)
        .map_err(|e| format!("cannot create {}: {e}", workdir.display()))?;
    let (url_text, url) = prepare_database(target.database_url.as_ref(), target.fresh, workdir)?;
    Ok(Prepared {
        server_bin,
        url_text,
        url,
    })
}

/// After a successful run: the working directory deleted, unless `--keep`.
pub fn finish(target: &Target, workdir: &Path) {
    if target.keep {
        eprintln!("{}: kept {}", super::PROGRAM, workdir.display());
    } else {
        let _ = std::fs::remove_dir_all(workdir);
    }
}

/// The esma-api binary: `--server-bin`, or the one next to this program; refused when missing or
/// older than a source file it was built from (`cargo run` does not rebuild the server).
pub fn server_binary(given: Option<&PathBuf>) -> Result<PathBuf, String> {
    let program = super::PROGRAM;
    let server_bin = match given {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("esma-api"),
    };
    if !server_bin.is_file() {
        return Err(format!(
            "{} not found; build it (cargo build --release --bin esma-api) or pass --server-bin",
            server_bin.display()
        ));
    }
    if let Some(newer) = newer_source(&server_bin) {
        return Err(format!(
            "{} is older than {}: `cargo run --bin {program}` does not rebuild the server; \
             run cargo build --release --bin esma-api --bin {program} first",
            server_bin.display(),
            newer.display()
        ));
    }
    Ok(server_bin)
}

/// The database of a run, empty: `--database-url` (wiped with `--fresh`, refused if not empty),
/// or a new SQLite file in `workdir`. Its URL as text and parsed.
fn prepare_database(
    given: Option<&String>,
    fresh: bool,
    workdir: &Path,
) -> Result<(String, DatabaseUrl), String> {
    let url_text = match given {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", workdir.join("bench.db").display()),
    };
    let url = DatabaseUrl::parse(&url_text)?;
    match &url {
        DatabaseUrl::Postgres(u) => prepare_postgres(u, fresh)?,
        // The default file is ours (a leftover of a reused pid is stale): always start fresh.
        DatabaseUrl::Sqlite(p) => prepare_sqlite(p, fresh || given.is_none())?,
    }
    Ok((url_text, url))
}

/// The machine's 1-minute load average and CPUs: other work (builds, tests) skews every figure,
/// so the results say how busy the machine was.
pub fn machine_load() -> (f64, usize) {
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (load, cpus)
}

/// Waits up to 60 s for the server's `/health` to answer 200.
pub async fn wait_healthy(server: &mut Server, http: &reqwest::Client) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "the server exited ({status}) before it was healthy"
            ));
        }
        match http.get(format!("{}/health", server.base)).send().await {
            Ok(r) if r.status().as_u16() == 200 => return Ok(()),
            _ if Instant::now() > deadline => {
                return Err("the server was not healthy within 60 s".into())
            }
            // Nothing else runs on this runtime yet, so a blocking sleep is harmless.
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
