use std::process::ExitCode;

use clap::Parser;
use esma_api::cli::{Cli, ClientsCommand, Command, WebhooksCommand};
use esma_api::clock::Clock;
use esma_api::service::{attendance, clients, webhooks, Actor};
use esma_api::signing::WebhookKeys;
use esma_api::{api, demo, server, telemetry};

/// jemalloc rather than glibc's allocator: a register push makes thousands of small allocations
/// on the checking threads and frees them on others, the pattern glibc's malloc handles worst
/// (docs/performance.md).
#[cfg(all(unix, not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("esma-api: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Openapi => {
            print!("{}", api::openapi_json());
            Ok(())
        }
        Command::Migrate => {
            telemetry::init_logging(false);
            let db = server::open_db(&cli.database_url, 1)?;
            let policy = server::load_policy(cli.policy.as_deref())?;
            convert_old_marks(&db, &policy.attendance)?;
            eprintln!("esma-api: migrations applied");
            Ok(())
        }
        Command::Clients { command } => {
            let db = server::open_db(&cli.database_url, 1)?;
            let actor = Actor::operator("clients");
            match command {
                ClientsCommand::Add {
                    role,
                    name,
                    schools,
                } => print_json(
                    &clients::add(&db, &actor, &name, role, &schools).map_err(|e| e.detail)?,
                ),
                ClientsCommand::List => print_json(&clients::list(&db).map_err(|e| e.detail)?),
                ClientsCommand::Revoke { client_id } => {
                    clients::revoke(&db, &actor, &client_id).map_err(|e| e.detail)?;
                    print_json(&serde_json::json!({ "client_id": client_id, "revoked": true }))
                }
            }
        }
        Command::Webhooks {
            command: WebhooksCommand::Rekey { keys },
        } => {
            telemetry::init_logging(false);
            let db = server::open_db(&cli.database_url, 1)?;
            let keys = std::sync::Arc::new(WebhookKeys::from_settings(
                keys.webhook_key.as_deref(),
                &keys.webhook_previous_keys,
                false,
            )?);
            let report = actix_web::rt::System::new()
                .block_on(webhooks::rekey(&db, &keys))
                .map_err(|e| e.detail)?;
            print_json(&report)
        }
        Command::Recompute { schools, today } => {
            telemetry::init_logging(false);
            let db = server::open_db(&cli.database_url, 1)?;
            let clock = Clock::from_env_value(today.as_deref())?;
            let policy = server::load_policy(cli.policy.as_deref())?;
            convert_old_marks(&db, &policy.attendance)?;
            let only = (!schools.is_empty()).then_some(schools);
            let report = attendance::recompute(&db, &policy.attendance, clock.today(), only)
                .map_err(|e| e.detail)?;
            print_json(&report)
        }
        Command::Serve(args) => {
            telemetry::init_logging(args.log_json);
            let db = server::open_serving_db(&cli.database_url, &args)?;
            let policy = server::load_policy(cli.policy.as_deref())?;
            let state = server::state_from(db.clone(), &args, policy)?;
            convert_old_marks(&db, &state.attendance)?;
            if args.demo {
                let creds =
                    demo::seed(&db, &state.policy, state.clock.today()).map_err(|e| e.detail)?;
                actix_web::rt::System::new()
                    .block_on(demo::seed_support(&state))
                    .map_err(|e| e.detail)?;
                let facts = demo::facts(&db, state.clock.today()).map_err(|e| e.detail)?;
                print_demo_banner(&args.bind, &cli.database_url, &creds, &facts);
                if let Some(path) = &args.demo_credentials_file {
                    std::fs::write(
                        path,
                        serde_json::to_vec_pretty(&creds).map_err(|e| e.to_string())?,
                    )
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                }
            }
            tracing::info!(bind = %args.bind, backend = db.backend().name(), "serving");
            actix_web::rt::System::new()
                .block_on(server::serve(state, &args))
                .map_err(|e| format!("server failed: {e}"))
        }
    }
}

/// Converts marks stored in the layout before `registers` (see `attendance::convert_old_marks`).
fn convert_old_marks(
    db: &esma_api::store::Db,
    policy: &esma_api::domain::attendance::AttendancePolicy,
) -> Result<(), String> {
    let converted = attendance::convert_old_marks(db, policy).map_err(|e| e.detail)?;
    if converted > 0 {
        tracing::info!(
            marks = converted,
            "converted the stored marks into register rows"
        );
    }
    Ok(())
}

fn print_demo_banner(
    bind: &str,
    database_url: &str,
    creds: &demo::DemoCredentials,
    facts: &demo::DemoFacts,
) {
    let base = format!("http://{bind}");
    let today = facts.today;
    println!(
        "esma-api demo on {} (today is {today})",
        esma_api::store::redact(database_url)
    );
    println!();
    println!("  Swagger UI   {base}/swagger-ui/   (Authorize with a client id and secret below)");
    println!("  OpenAPI      {base}/api-docs/openapi.json   (its examples are dated {today})");
    println!("  Health       {base}/health");
    println!();
    println!(
        "  Pupils       {} (Oakfield) and {} (Hillside): off ill since {}, {} school days",
        facts.case_pupil, facts.free_to_refer, facts.ill_since, facts.ill_school_days
    );
    let id = |id: Option<i64>| id.map_or("-".to_string(), |id| id.to_string());
    println!(
        "  Referrals    {} (Oakfield's, accepted: case {})   {} ({}, ineligible, awaiting the LA)",
        id(facts.case_referral_id),
        id(facts.case_id),
        id(facts.awaiting_referral_id),
        facts.awaiting_pupil
    );
    println!(
        "  To refer     {} (Hillside, free: examples/referral.json); a decision today may start {}",
        facts.free_to_refer, facts.decision_start_date
    );
    if let Some((review, label, on)) = &facts.next_review {
        println!(
            "  Next review  {review} of case {} ({label}), scheduled for {on}",
            id(facts.case_id)
        );
    }
    if let Some(case) = facts.support_case_id {
        println!(
            "  Support      case {case} ({}, Hillside): four weeks of lessons, an agreed plan, a review held",
        facts.support_pupil
        );
        println!("  Report       {base}/api/v1/cases/{case}/report?format=html");
    }
    if let Some(id) = facts.part_time_timetable_id {
        println!(
            "  Part time    {} (Hillside): part-time timetable {id}, a review due; {} (Oakfield): C2 with no agreement",
            facts.part_time_pupil, facts.c2_without_agreement_pupil
        );
    }
    println!("  Worklists    {base}/api/v1/cases   {base}/api/v1/reviews   {base}/api/v1/alerts");
    println!();
    for (label, c) in [
        ("la", &creds.la),
        ("school", &creds.school),
        ("admin", &creds.admin),
    ] {
        let schools = if c.schools.is_empty() {
            String::new()
        } else {
            format!("  (URN {:?})", c.schools)
        };
        println!(
            "  {label:<7} client_id {}  client_secret {}{schools}",
            c.client_id, c.client_secret
        );
    }
    println!();
    println!(
        "  Token:  curl -s -u {}:{} -d grant_type=client_credentials {base}/oauth/token | jq -r .access_token",
        creds.la.client_id, creds.la.client_secret
    );
    println!();
}
