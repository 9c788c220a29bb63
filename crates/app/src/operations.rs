//! The operations surface of a process without the API: `strata worker`'s
//! `/health` and `/metrics`, and the gauges every process refreshes.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use strata_domain::jobs::JobRepository;
use strata_http::MetricsEndpoint;
use strata_repository::DatabaseConnection;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::startup::Services;

/// A running operations server and the gauges it serves.
#[derive(Debug)]
pub struct Operations {
    server: ServerHandle,
    gauges: JoinHandle<()>,
}

impl Operations {
    /// Binds `addr` and serves `/health` (liveness, no I/O) and `/metrics`
    /// (protected by `metrics.token` as on the API): a worker process's
    /// queue histograms and counters exist only in its own memory, so it
    /// must be scraped itself.
    ///
    /// # Errors
    /// An address that cannot be bound.
    pub fn start(settings: &Settings, services: &Services, addr: &str) -> anyhow::Result<Self> {
        let endpoint = MetricsEndpoint {
            handle: strata_http::metrics::install(),
            token: settings.metrics.token.clone(),
        };
        let gauges = spawn_gauges(
            services.db.clone(),
            services.job_deps.jobs.clone(),
            endpoint.handle.clone(),
        );
        let data = web::Data::new(endpoint);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .service(strata_http::health::live)
                .service(strata_http::metrics::metrics)
        })
        .workers(1)
        .disable_signals()
        .bind(addr)
        .with_context(|| format!("Failed to bind the metrics address {addr}"))?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        tracing::info!(%addr, "serving /health and /metrics");
        Ok(Self {
            server: handle,
            gauges,
        })
    }

    pub async fn stop(self) {
        self.gauges.abort();
        self.server.stop(true).await;
    }
}

/// Refreshes the pool gauges and the exporter's histogram upkeep every few
/// seconds, off the request path.
pub(crate) fn spawn_gauges(
    db: DatabaseConnection,
    jobs: Arc<dyn JobRepository>,
    handle: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        let mut ticks = 0_u64;
        loop {
            ticker.tick().await;
            // The queue gauges cost a GROUP BY: every 15 s is enough.
            if ticks.is_multiple_of(3)
                && let Err(err) = strata_worker::Runtime::publish_counts(jobs.as_ref()).await
            {
                tracing::warn!(error = %err, "reading the job counts failed");
            }
            ticks += 1;
            if let Some(stats) = strata_repository::pool_stats(&db) {
                metrics::gauge!("strata_db_pool_connections", "state" => "idle")
                    .set(f64::from(stats.idle));
                metrics::gauge!("strata_db_pool_connections", "state" => "in_use")
                    .set(f64::from(stats.open.saturating_sub(stats.idle)));
                metrics::gauge!("strata_db_pool_max_connections").set(f64::from(stats.max));
            }
            if let Some(handle) = &handle {
                handle.run_upkeep();
            }
        }
    })
}
