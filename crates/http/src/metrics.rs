//! `GET /metrics`: Prometheus text exposition of request counts, latency
//! histograms by route pattern, pool gauges and security counters.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::Method;

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

type Handles = (::metrics::Counter, ::metrics::Histogram);
/// The handles of one route, by method label and status.
type RouteHandles = Vec<(&'static str, u16, Handles)>;

thread_local! {
    /// Per worker thread: route → (method, status, handles). Registering a
    /// labelled metric hashes and allocates its key; doing it once per label
    /// set keeps the per-request cost to two atomic updates.
    static HANDLES: RefCell<HashMap<String, RouteHandles>> = RefCell::new(HashMap::new());
}

/// A bounded method label: a client inventing methods must not be able to
/// create label sets without end.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Records one finished request. Route is the matched pattern, never the
/// raw path, so ids do not explode the label set.
pub fn record_request(method: &Method, route: &str, status: u16, seconds: f64) {
    let method = method_label(method);
    HANDLES.with_borrow_mut(|routes| {
        let by_route = match routes.get_mut(route) {
            Some(entries) => entries,
            None => routes.entry(route.to_owned()).or_default(),
        };
        let index = match by_route
            .iter()
            .position(|(m, s, _)| *m == method && *s == status)
        {
            Some(index) => index,
            None => {
                let labels = [
                    ("method", method.to_owned()),
                    ("route", route.to_owned()),
                    ("status", status.to_string()),
                ];
                let handles = (
                    ::metrics::counter!("http_requests_total", &labels),
                    ::metrics::histogram!("http_request_duration_seconds", &labels),
                );
                by_route.push((method, status, handles));
                by_route.len() - 1
            }
        };
        let (_, _, (counter, histogram)) = &by_route[index];
        counter.increment(1);
        histogram.record(seconds);
    });
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
