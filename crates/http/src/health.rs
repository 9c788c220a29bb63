//! `/health` (liveness) and `/health/ready` (readiness).

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use strata_service::QueueHealth;

use crate::AppState;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(live).service(ready);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    /// `ok` or `failing`.
    #[schema(example = "ok")]
    pub database: &'static str,
    /// The job queue: `ok`, `backlog` (a due job has waited longer than
    /// `jobs.backlog_warn_secs`; reported, not fatal) or `unknown`. Absent
    /// when this instance does not watch a queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ok")]
    pub jobs: Option<&'static str>,
    /// The event bus: `ok`, or `degraded` while its transport (Redis,
    /// PostgreSQL `LISTEN`) is lost; reported, not fatal. Absent on a bus
    /// without a transport.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ok")]
    pub events: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessResponse {
    /// `ok`, or `unavailable` when any check fails.
    #[schema(example = "ok")]
    pub status: &'static str,
    pub checks: Checks,
}

/// Liveness: the process answers. Does no I/O.
#[utoipa::path(tag = "health", responses((status = 200, body = Liveness)))]
#[get("/health")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "ok" })
}

/// Readiness: the database answers. 503 names the failing check. The job
/// queue's backlog and a lost event bus are reported but never make the
/// instance unready.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, body = ReadinessResponse),
        (status = 503, description = "A dependency is down", body = ReadinessResponse),
    )
)]
#[get(
    "/health/ready",
    wrap = "actix_web::middleware::from_fn(crate::middleware::handler_timeout)"
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let readiness = state.health.readiness().await;
    let body = ReadinessResponse {
        status: if readiness.is_ready() {
            "ok"
        } else {
            "unavailable"
        },
        checks: Checks {
            database: if readiness.database { "ok" } else { "failing" },
            jobs: readiness.jobs.map(|queue| match queue {
                QueueHealth::Ok => "ok",
                QueueHealth::Backlog { .. } => "backlog",
                QueueHealth::Unknown => "unknown",
            }),
            events: readiness
                .events
                .map(|listening| if listening { "ok" } else { "degraded" }),
        },
    };
    let mut response = if readiness.is_ready() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}
