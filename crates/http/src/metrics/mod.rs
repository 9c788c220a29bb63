//! `GET /metrics`: Prometheus text exposition of request counts, latency
//! histograms by route pattern, pool gauges and security counters.

mod requests;

pub(crate) use requests::record as record_request;

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, Problem};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return
/// the same handle, since tests start many servers in one process).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .map_err(
                    |err| tracing::error!(error = %err, "failed to install the metrics recorder"),
                )
                .ok()
        })
        .clone()
}

/// What `/metrics` serves, and who may read it.
#[derive(Debug, Clone, Default)]
pub struct MetricsEndpoint {
    pub handle: Option<PrometheusHandle>,
    /// When set, scrapes must send `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(metrics);
}

/// Prometheus text format. Protected by a bearer token when one is configured.
#[utoipa::path(
    tag = "health",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "A metrics token is configured and was not sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    endpoint: web::Data<MetricsEndpoint>,
) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &endpoint.token {
        let presented = crate::bearer::bearer_token(&req).unwrap_or_default();
        if !strata_service::tokens::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::Unauthenticated {
                token_presented: !presented.is_empty(),
            });
        }
    }
    let mut body = endpoint
        .handle
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    requests::render(&mut body);
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
