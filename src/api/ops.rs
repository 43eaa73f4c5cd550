//! `GET /health` and `GET /metrics`.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::PROBLEM_JSON;
use crate::error::{ApiError, Problem};
use crate::service::health::check_database;
use crate::service::AppState;
use crate::telemetry::Metrics;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
    #[schema(example = "ok")]
    pub database: String,
    #[schema(example = "sqlite")]
    pub backend: String,
    pub version: String,
}

/// Process and database health.
///
/// Who: anyone; no token needed. Changes nothing.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Serving, database reachable", body = Health),
        (status = 503, description = "Database unreachable", body = Problem, content_type = PROBLEM_JSON),
    ),
    security(())
)]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    check_database(&state).await?;
    Ok(web::Json(Health {
        status: "ok".to_string(),
        database: "ok".to_string(),
        backend: state.db.backend().name().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }))
}

/// Prometheus metrics: requests, latency and the webhook queue.
///
/// Who: anyone; no token needed. Changes nothing.
///
/// Requests by route pattern and status, the latency histogram, webhook attempts by outcome
/// (counted by this instance), and the webhook queue's depth and the age of its oldest due
/// delivery (read from the database at each scrape, so any instance shows the whole queue; left
/// out when the database does not answer).
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")),
    security(())
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, metrics: web::Data<Metrics>) -> HttpResponse {
    let queue = match crate::service::webhooks::queue(&state).await {
        Ok(queue) => Some(queue),
        Err(e) => {
            tracing::warn!(error = %e, "webhook queue not read for /metrics");
            None
        }
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(queue))
}
