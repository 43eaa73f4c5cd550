//! Memory under gzip bombs (issue 20, defect 3): starts the release server on a fresh demo
//! database and sends concurrent gzip bombs (1 GiB of zeros, about 1 MB gzipped, made in
//! memory) to the register push and to a small JSON endpoint, then prints how each was answered
//! and the server's peak resident memory (VmHWM, Linux).
//!
//! ```sh
//! cargo build --release && cargo run --release --bin bench-bombs            # 16 of each
//! BENCH_BOMBS=32 BENCH_BOMB_MIB=1024 cargo run --release --bin bench-bombs
//! ```
//! Server settings come from the environment as usual (ESMA_INFLATE_BUDGET_MIB, ...).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

#[path = "bench_support/memory.rs"]
mod memory;

use memory::rss_mib;

#[derive(Deserialize)]
struct NewClient {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    schools: Vec<i64>,
}

#[derive(Deserialize)]
struct DemoCredentials {
    la: NewClient,
    school: NewClient,
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bomb(mib: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        enc.write_all(&zeros).expect("gzip in memory");
    }
    enc.finish().expect("gzip in memory")
}

fn start(bin: &PathBuf, dir: &std::path::Path) -> Result<(Server, DemoCredentials), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let creds_file = dir.join("demo.json");
    let child = Command::new(bin)
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("bombs.db").display()))
        .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--demo-credentials-file")
        .arg(&creds_file)
        .env(
            "ESMA_JWT_SECRET",
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        )
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let began = Instant::now();
    loop {
        let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if up && creds_file.exists() {
            break;
        }
        if began.elapsed() > Duration::from_secs(60) {
            return Err("the server did not start within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let creds = std::fs::read(&creds_file).map_err(|e| e.to_string())?;
    let creds = serde_json::from_slice(&creds).map_err(|e| format!("demo credentials: {e}"))?;
    Ok((server, creds))
}

async fn token(http: &reqwest::Client, base: &str, client: &NewClient) -> Result<String, String> {
    let reply: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .map_err(|e| format!("token: {e}"))?
        .json()
        .await
        .map_err(|e| format!("token: {e}"))?;
    reply["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no token: {reply}"))
}

/// Sends every (method, url, token) with the bomb at once; the answers by status.
async fn volley(
    http: &reqwest::Client,
    requests: &[(reqwest::Method, String, String)],
    body: &[u8],
) -> BTreeMap<String, usize> {
    let sends = requests.iter().map(|(method, url, token)| {
        http.request(method.clone(), url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body.to_vec())
            .send()
    });
    let mut by_status = BTreeMap::new();
    for reply in futures_util::future::join_all(sends).await {
        let key = match reply {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("error: {e}"),
        };
        *by_status.entry(key).or_insert(0) += 1;
    }
    by_status
}

async fn run() -> Result<(), String> {
    let bin = PathBuf::from(
        std::env::var("BENCH_BIN").unwrap_or_else(|_| "target/release/esma-api".into()),
    );
    let count = env_number("BENCH_BOMBS", 16);
    let mib = env_number("BENCH_BOMB_MIB", 1024);
    let dir = std::env::temp_dir().join(format!("bench-bombs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let made = Instant::now();
    let body = bomb(mib);
    println!(
        "bomb: {mib} MiB of zeros, {} bytes gzipped (made in {:.1} s)",
        body.len(),
        made.elapsed().as_secs_f64()
    );
    let (server, creds) = start(&bin, &dir)?;
    let pid = server.child.id();
    let http = reqwest::Client::new();
    let la = token(&http, &server.base, &creds.la).await?;
    let school = token(&http, &server.base, &creds.school).await?;
    let urn = *creds
        .school
        .schools
        .first()
        .ok_or("the demo school client has no school")?;
    let (_, start_rss) = rss_mib(pid)?;
    println!("server started: {start_rss:.0} MB resident");
    let push = (
        reqwest::Method::POST,
        format!("{}/api/v1/schools/{urn}/registers", server.base),
        school.clone(),
    );
    let small = (
        reqwest::Method::PUT,
        format!("{}/api/v1/schools/{urn}", server.base),
        la.clone(),
    );
    let rounds: [(&str, Vec<_>); 3] = [
        ("register push", vec![push.clone(); count]),
        ("PUT /schools/{urn}", vec![small.clone(); count]),
        (
            "both at once",
            std::iter::repeat_n(push, count)
                .chain(std::iter::repeat_n(small, count))
                .collect(),
        ),
    ];
    for (name, requests) in rounds {
        let began = Instant::now();
        let answers = volley(&http, &requests, &body).await;
        let (peak, now) = rss_mib(pid)?;
        println!(
            "{name}: {} bombs at once answered {answers:?} in {:.1} s; server peak so far {peak:.0} MB (VmHWM), now {now:.0} MB",
            requests.len(),
            began.elapsed().as_secs_f64()
        );
    }
    let (peak, _) = rss_mib(pid)?;
    println!("server peak RSS: {peak:.0} MB (VmHWM)");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-bombs: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-bombs: {e}");
            ExitCode::FAILURE
        }
    }
}
