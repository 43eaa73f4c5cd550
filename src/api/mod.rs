//! HTTP: request/response types, the auth extractor and problem+json. No business rules here.

pub mod attendance;
pub mod audit;
pub mod auth;
pub mod body;
pub mod calendar;
pub mod cases;
pub mod changes;
pub mod docs;
pub mod examples;
pub mod extract;
pub mod idempotency;
pub mod lessons;
pub mod oauth;
pub mod ops;
pub mod part_time;
pub mod plans;
pub mod problem;
pub mod pupils;
pub mod referrals;
pub mod refusals;
pub mod registers;
mod report_page;
pub mod reports;
pub mod returns;
pub mod schools;
pub mod webhooks;

use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Compress};
use actix_web::{get, web, App, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::{oauth as swagger_oauth, SwaggerUi};

use crate::error::ApiError;
use crate::service::AppState;
use crate::telemetry::Metrics;
use extract::{payload_error, BodyLimit};
use problem::RouteTable;

/// A page of a list (API.md "Conventions").
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Every documented route, in one place, so the served app and the spec cannot drift.
fn routes(cfg: &mut ServiceConfig) {
    cfg.service(oauth::token)
        .service(oauth::token_info)
        .service(ops::health)
        .service(ops::metrics)
        .service(
            scope::scope("/api/v1")
                .service(schools::list_schools)
                .service(schools::get_school)
                .service(schools::put_school)
                .service(pupils::push_roll)
                .service(pupils::get_pupil)
                .service(pupils::get_marks)
                .service(attendance::get_attendance)
                .service(attendance::list_alerts)
                .service(attendance::acknowledge_alert)
                .service(returns::sickness_return)
                .service(returns::unauthorised_absence_return)
                .service(referrals::submit_referral)
                .service(referrals::list_referrals)
                .service(referrals::get_referral)
                .service(referrals::patch_referral)
                .service(referrals::reassess_referral)
                .service(referrals::decide_referral)
                .service(referrals::withdraw_referral)
                .service(cases::list_cases)
                .service(cases::get_case)
                .service(cases::list_case_reviews)
                .service(cases::add_case_review)
                .service(cases::change_case_review)
                .service(cases::list_reviews)
                .service(cases::add_case_evidence)
                .service(cases::exit_case)
                .service(reports::get_case_report)
                .service(plans::get_plan)
                .service(plans::put_plan)
                .service(plans::list_plan_versions)
                .service(plans::get_plan_version)
                .service(changes::list_changes)
                .service(registers::push_register)
                .service(registers::get_import)
                .service(lessons::push_lessons)
                .service(lessons::list_case_lessons)
                .service(part_time::create_part_time_timetable)
                .service(part_time::list_part_time_timetables)
                .service(part_time::get_part_time_timetable)
                .service(part_time::change_part_time_timetable)
                .service(part_time::review_part_time_timetable)
                .service(calendar::get_calendar)
                .service(calendar::put_calendar)
                .service(webhooks::create_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::get_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::list_webhook_deliveries)
                .service(webhooks::retry_webhook_delivery)
                .service(webhooks::replay_webhook_deliveries)
                .service(webhooks::enable_webhook)
                .service(audit::list_audit),
        );
}

/// The OpenAPI document the code describes (what `openapi/openapi.json` must equal).
pub fn openapi() -> utoipa::openapi::OpenApi {
    static SPEC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let (_, api) = App::new()
            .into_utoipa_app()
            .openapi(docs::ApiDoc::openapi())
            .configure(routes)
            .split_for_parts();
        let mut api = api;
        examples::apply(&mut api, &examples::ExampleDay::reference(), false);
        docs::reference_page_items(&mut api);
        docs::add_common_failures(&mut api);
        api
    })
    .clone()
}

pub fn openapi_json() -> String {
    openapi().to_pretty_json().unwrap_or_default() + "\n"
}

#[derive(Clone)]
pub struct HttpSettings {
    /// Largest accepted request body of a bulk push, in bytes (after decompression).
    pub body_limit: usize,
    /// Most rows (marks or pupils) in one push.
    pub max_push_rows: usize,
    /// Every other body's limit and the time limits and gzip budget of all bodies (the small
    /// limit is never above `body_limit`).
    pub bodies: body::BodyRules,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            body_limit: 64 << 20,
            max_push_rows: 500_000,
            bodies: body::BodyRules::default(),
        }
    }
}

/// Swagger UI's settings: no outside validator (`validatorUrl: "none"`).
fn swagger_ui_config() -> utoipa_swagger_ui::Config<'static> {
    utoipa_swagger_ui::Config::default().validator_url("none")
}

#[get("/swagger-ui")]
async fn swagger_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("location", "/swagger-ui/"))
        .finish()
}

/// The whole application, as served and as tested.
pub fn app(
    state: AppState,
    metrics: web::Data<Metrics>,
    settings: HttpSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let spec = openapi();
    let route_table = web::Data::new(RouteTable::from_openapi(&spec));
    let limit = settings.body_limit;
    let mut bodies = settings.bodies.clone();
    bodies.small_limit = bodies.small_limit.min(limit);
    let small_limit = bodies.small_limit;
    let swagger = SwaggerUi::new("/swagger-ui/{_:.*}")
        .url("/api-docs/openapi.json", spec)
        // Swagger UI would otherwise send the spec's URL to validator.swagger.io whenever it is
        // served under a host name: a leak, and a broken badge offline (issue 22).
        .config(swagger_ui_config())
        .oauth(
            swagger_oauth::Config::new()
                .app_name("esma-api")
                .use_basic_authentication_with_access_code_grant(true),
        );
    App::new()
        .into_utoipa_app()
        .app_data(web::Data::new(state))
        .app_data(metrics)
        .app_data(route_table)
        .app_data(BodyLimit(limit))
        .app_data(registers::MaxPushRows(settings.max_push_rows))
        .app_data(bodies)
        // Only reached by an extractor of actix's own (web::Bytes, web::Json); ours read bodies
        // through api::body. Kept small for safety.
        .app_data(web::PayloadConfig::new(small_limit))
        .app_data(
            web::JsonConfig::default()
                .limit(small_limit)
                .error_handler(move |e, _| json_error(e, small_limit).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::bad_request(format!("query string: {e}")).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::bad_request(format!("path: {e}")).into()),
        )
        .configure(routes)
        .into_app()
        .service(swagger_redirect)
        // Before `swagger`, which registers the same path for the document as generated: this
        // one serves it with the examples of the server's today (api::examples).
        .route(
            "/api-docs/openapi.json",
            web::get().to(examples::served_spec),
        )
        .service(swagger)
        .default_service(web::to(problem::unmatched))
        .wrap(from_fn(refusals::audit_refused_writes))
        .wrap(Compress::default())
        .wrap(from_fn(problem::observe))
}

fn json_error(e: actix_web::error::JsonPayloadError, limit: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match e {
        E::ContentType => ApiError::new(
            crate::error::ProblemKind::UnsupportedMediaType,
            "send the body as application/json",
        ),
        E::Overflow { .. } | E::OverflowKnownLength { .. } => {
            payload_error(actix_web::error::ErrorPayloadTooLarge(""), limit)
        }
        E::Deserialize(err) => ApiError::bad_request(format!("malformed JSON: {err}")),
        other => ApiError::bad_request(other.to_string()),
    }
}
