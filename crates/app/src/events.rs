//! Picks the event bus from the configuration (docs/adr/0014-event-bus.md):
//! Redis when `redis.url` is set, else PostgreSQL `LISTEN/NOTIFY` when the
//! database is PostgreSQL, else in-process (one server on SQLite).

use std::sync::Arc;

use anyhow::Context;
use strata_domain::events::EventBus;
use strata_events::{InProcessBus, PgBus, RedisBus};
use strata_repository::DatabaseConnection;

use crate::config::Settings;

/// The PostgreSQL channel; the Redis one is `<redis.key_prefix>:events`.
const PG_CHANNEL: &str = "strata_events";

/// # Errors
/// A malformed `redis.url`. An unreachable Redis or PostgreSQL listener only
/// starts the bus degraded (see docs/operations.md).
pub async fn bus(
    settings: &Settings,
    db: &DatabaseConnection,
) -> anyhow::Result<Arc<dyn EventBus>> {
    let bus: Arc<dyn EventBus> = if let Some(url) = &settings.redis.url {
        let channel = format!("{}:events", settings.redis.key_prefix);
        Arc::new(
            RedisBus::connect(url, &channel)
                .await
                .context("Invalid redis.url for the event bus")?,
        )
    } else if settings.database.url.starts_with("postgres") {
        Arc::new(
            PgBus::connect(db.clone(), PG_CHANNEL)
                .await
                .context("Failed to start the PostgreSQL event bus")?,
        )
    } else {
        Arc::new(InProcessBus::new())
    };
    tracing::info!(bus = bus.name(), "event bus ready");
    Ok(bus)
}
