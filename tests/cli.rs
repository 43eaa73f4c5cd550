//! The `esma-api` command line, run as a real process against a temporary SQLite file.

use std::process::Command;

use serde_json::Value;

fn esma(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_esma-api"))
        .arg("--database-url")
        .arg(db)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run esma-api");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn clients_add_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let (ok, _, err) = esma(&db, &["migrate"]);
    assert!(ok, "{err}");

    let (ok, out, err) = esma(
        &db,
        &[
            "clients",
            "add",
            "--role",
            "school",
            "--name",
            "Arbor for Oakfield",
            "--school",
            "117001",
            "--school",
            "117002",
        ],
    );
    assert!(ok, "{err}");
    let added: Value = serde_json::from_str(&out).expect("clients add prints one JSON object");
    assert_eq!(added["role"], "school");
    assert_eq!(added["schools"], serde_json::json!([117001, 117002]));
    let id = added["client_id"].as_str().unwrap().to_string();
    let secret = added["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 40);

    let (ok, out, _) = esma(&db, &["clients", "list"]);
    assert!(ok);
    assert!(!out.contains(&secret), "list never shows a secret");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert!(listed[0]["revoked_at"].is_null());

    let (ok, _, _) = esma(&db, &["clients", "revoke", &id]);
    assert!(ok);
    let (_, out, _) = esma(&db, &["clients", "list"]);
    assert!(serde_json::from_str::<Value>(&out).unwrap()[0]["revoked_at"].is_string());

    // Refusals say why and exit non-zero.
    let (ok, _, err) = esma(&db, &["clients", "add", "--role", "school", "--name", "x"]);
    assert!(!ok && err.contains("at least one --school"), "{err}");
    let (ok, _, err) = esma(
        &db,
        &[
            "clients", "add", "--role", "la", "--name", "x", "--school", "117001",
        ],
    );
    assert!(
        !ok && err.contains("only applies to school clients"),
        "{err}"
    );
    let (ok, _, err) = esma(&db, &["clients", "add", "--role", "teacher", "--name", "x"]);
    assert!(!ok && err.contains("school, la, admin"), "{err}");
    let (ok, _, err) = esma(&db, &["clients", "revoke", "nobody"]);
    assert!(!ok && err.contains("no client"), "{err}");
}

#[test]
fn openapi_command_prints_the_spec() {
    let (ok, out, _) = esma("sqlite://unused.db", &["openapi"]);
    assert!(ok);
    assert_eq!(out, esma_api::api::openapi_json());
}

#[test]
fn recompute_rebuilds_the_tallies_and_finds_nothing_to_repair_after_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recompute.db");
    let db_url = format!("sqlite://{}", path.display());
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    {
        // The demo LA: two schools, 48 pupils, registers since September, pushed as ingest does.
        let url = esma_api::store::DatabaseUrl::parse(&db_url).unwrap();
        let db = esma_api::store::Db::open(&url, 1).unwrap();
        esma_api::demo::seed(
            &db,
            &esma_api::domain::policy::Policy::hertfordshire(),
            today,
        )
        .unwrap();
    }
    let (ok, out, err) = esma(&db_url, &["recompute", "--today", "2026-11-23"]);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).expect("recompute prints one JSON object");
    assert_eq!(report["schools"], 2);
    assert_eq!(report["pupils"], 48);
    assert_eq!(report["tallies"], 48);
    // The maintained alerts were already what the register supports.
    assert_eq!(
        (
            report["alerts_raised"].as_u64(),
            report["alerts_resolved"].as_u64()
        ),
        (Some(0), Some(0))
    );

    let (ok, out, err) = esma(
        &db_url,
        &["recompute", "--school", "117002", "--today", "2026-11-23"],
    );
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["schools"], 1);
    let (ok, _, err) = esma(&db_url, &["recompute", "--school", "999999"]);
    assert!(!ok && err.contains("no school with URN 999999"), "{err}");
}

#[test]
fn webhooks_rekey_needs_a_key_and_reports_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("rekey.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_esma-api"))
        .args(["--database-url", &db, "webhooks", "rekey"])
        .env_remove("DATABASE_URL")
        .env_remove("ESMA_WEBHOOK_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ESMA_WEBHOOK_KEY"));
    let out = Command::new(env!("CARGO_BIN_EXE_esma-api"))
        .args(["--database-url", &db, "webhooks", "rekey"])
        .env_remove("DATABASE_URL")
        .env(
            "ESMA_WEBHOOK_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["examined"], 0);
    assert_eq!(report["resealed"], 0);
}
