//! Logging and tracing: human-readable logs in development, one JSON object
//! per line in production (`RUST_LOG` overrides the configured level), and,
//! when `telemetry.otlp_endpoint` is set, request spans exported over
//! OTLP/HTTP. Without an endpoint no exporter exists at all, so nothing is
//! exported and nothing is slowed.

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings, TelemetrySettings};

/// Keeps the span exporter alive; [`Telemetry::shutdown`] flushes what is
/// still buffered (call it after the server stopped).
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(error = %err, "failed to flush spans on shutdown");
        }
    }
}

/// Installs the global subscriber (logs only). Later calls are ignored:
/// tests start many servers in one process.
pub fn init(settings: &LogSettings) {
    let _ = subscriber(settings, None).try_init();
}

/// Installs logs and, when configured, OTLP span export.
///
/// # Errors
/// An invalid OTLP endpoint.
pub fn init_with_tracing(
    log: &LogSettings,
    telemetry: &TelemetrySettings,
) -> anyhow::Result<Telemetry> {
    // The OTLP exporter's reqwest client needs the process's TLS provider.
    crate::startup::install_crypto_provider();
    let Some(endpoint) = &telemetry.otlp_endpoint else {
        init(log);
        return Ok(Telemetry::default());
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()
        .context("Failed to build the OTLP span exporter (telemetry.otlp_endpoint)")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("strata").build())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("strata"));
    let _ = subscriber(log, Some(layer.boxed())).try_init();
    Ok(Telemetry {
        provider: Some(provider),
    })
}

type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

fn subscriber(settings: &LogSettings, spans: Option<BoxedLayer>) -> impl SubscriberInitExt {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let logs: BoxedLayer = match settings.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // Spans are exported whatever the log level: the filter applies to logs.
    let mut layers: Vec<BoxedLayer> = vec![logs.with_filter(filter).boxed()];
    if let Some(spans) = spans {
        layers.push(
            spans
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
                .boxed(),
        );
    }
    tracing_subscriber::registry().with(layers)
}
