//! PostgreSQL `LISTEN/NOTIFY`: several instances on one database, no Redis.
//!
//! One listening connection per process (its own, outside the pool; see
//! `strata_repository::listen`), reconnecting after a server restart. An
//! event is sent with `pg_notify` once the write it reports has committed.

use async_trait::async_trait;
use strata_domain::events::{Event, EventBus, EventError, Subscription, TopicFilter};
use strata_repository::{DatabaseConnection, Listener, Notice};

use crate::hub::{Hub, Outbox};

const NAME: &str = "postgres";

/// The bus over one PostgreSQL database's notifications on one channel.
pub struct PgBus {
    hub: Hub,
    outbox: Outbox,
    db: DatabaseConnection,
    channel: String,
    /// Listening until the bus is dropped.
    _listener: Listener,
}

impl std::fmt::Debug for PgBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl PgBus {
    /// Starts listening on `channel` and waits (briefly) until it does.
    ///
    /// # Errors
    /// [`EventError::Unavailable`] when `db` is not PostgreSQL.
    pub async fn connect(db: DatabaseConnection, channel: &str) -> Result<Self, EventError> {
        let hub = Hub::new();
        let listening = hub.clone();
        let listener = strata_repository::listen(&db, channel, move |notice| match notice {
            Notice::Listening { .. } => listening.listening(NAME),
            Notice::Payload(payload) => listening.receive(NAME, payload.as_bytes()),
            Notice::Lost => listening.lost(NAME),
        })
        .ok_or_else(|| EventError::Unavailable("LISTEN/NOTIFY needs PostgreSQL".into()))?;
        hub.first_listen(NAME).await;
        Ok(Self {
            hub,
            outbox: Outbox::new(),
            db,
            channel: channel.to_owned(),
            _listener: listener,
        })
    }
}

#[async_trait]
impl EventBus for PgBus {
    async fn publish(&self, event: Event) -> Result<u64, EventError> {
        self.outbox
            .publish(NAME, event, |payload| async move {
                strata_repository::notify(&self.db, &self.channel, &payload).await
            })
            .await
    }

    fn subscribe(&self, filter: TopicFilter) -> Box<dyn Subscription> {
        self.hub.subscribe(filter)
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn connected(&self) -> Option<bool> {
        Some(self.hub.is_listening())
    }
}
