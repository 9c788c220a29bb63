//! `GET /metrics`: Prometheus text exposition of request counts, latency
//! histograms by route pattern, pool gauges and security counters.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, Problem};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets in seconds, from sub-millisecond cache hits to timeouts.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide Prometheus recorder (once; later calls return
/// the same handle, since tests start many servers in one process).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
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

/// Records one finished request. Route is the matched pattern, never the
/// raw path, so ids do not explode the label set.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    ::metrics::counter!("http_requests_total", &labels).increment(1);
    ::metrics::histogram!("http_request_duration_seconds", &labels).record(seconds);
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
        let presented = crate::extract::bearer_token(&req).unwrap_or_default();
        if !crate::extract::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::Unauthenticated {
                token_presented: !presented.is_empty(),
            });
        }
    }
    let body = endpoint
        .handle
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
