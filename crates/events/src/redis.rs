//! Redis pub/sub: several instances sharing a Redis (`redis.url`).
//!
//! Publishing goes through a `ConnectionManager` (reconnecting by itself);
//! receiving through one subscriber connection per process, owned by a
//! background task that reconnects with exponential backoff. While Redis is
//! down the bus is degraded: publishes fail (logged, counted, and the
//! revocation is still in the database), nothing arrives, and the consumers'
//! timer polls are what bring other instances' changes, until it is back.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};
use strata_domain::events::{Event, EventBus, EventError, Subscription, TopicFilter};
use tokio::task::JoinHandle;

use crate::hub::{Hub, Outbox, PUBLISH_TIMEOUT};

const NAME: &str = "redis";

/// The first pause after a failure, doubled after each further one.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A subscriber connection is otherwise silent: a ping this often finds a
/// link that died without closing (a vanished host, a dropped route).
const PING_EVERY: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The bus over one Redis channel.
pub struct RedisBus {
    hub: Hub,
    outbox: Outbox,
    publisher: ConnectionManager,
    channel: String,
    subscriber: JoinHandle<()>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

impl RedisBus {
    /// Starts the subscriber task and waits (briefly) until it listens on
    /// `channel`. A Redis that cannot be reached yet leaves the bus degraded,
    /// logged, until it can: a worker or a one-shot command must not need
    /// Redis to start (`strata serve` still does, for its rate limiter).
    ///
    /// # Errors
    /// [`EventError::Unavailable`] for a malformed URL.
    pub async fn connect(url: &str, channel: &str) -> Result<Self, EventError> {
        let client = Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(PUBLISH_TIMEOUT))
            .set_max_delay(MAX_BACKOFF);
        // Lazy: it connects on the first publish, and again after a loss.
        let publisher =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(unavailable)?;
        let hub = Hub::new();
        let subscriber = tokio::spawn(subscribe_forever(client, channel.to_owned(), hub.clone()));
        hub.first_listen(NAME).await;
        Ok(Self {
            hub,
            outbox: Outbox::new(),
            publisher,
            channel: channel.to_owned(),
            subscriber,
        })
    }
}

fn unavailable(err: RedisError) -> EventError {
    EventError::Unavailable(err.to_string())
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, event: Event) -> Result<u64, EventError> {
        let mut connection = self.publisher.clone();
        self.outbox
            .publish(NAME, event, |payload| async move {
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(payload)
                    .query_async::<i64>(&mut connection)
                    .await
                    .map(drop)
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

/// Subscribes, forwards, and after any failure subscribes again, backing
/// off from [`MIN_BACKOFF`] to [`MAX_BACKOFF`] (reset by a success).
async fn subscribe_forever(client: Client, channel: String, hub: Hub) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match forward(&client, &channel, &hub).await {
            Ok(()) => {
                tracing::warn!(bus = NAME, "event subscription closed; reconnecting");
                backoff = MIN_BACKOFF;
            }
            Err(err) => tracing::warn!(
                bus = NAME,
                error = %err,
                retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                "event bus unavailable; degraded to polling"
            ),
        }
        hub.lost(NAME);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One subscription's life: `Ok` when the server closed it, `Err` when it
/// could not be opened or stopped answering.
async fn forward(client: &Client, channel: &str, hub: &Hub) -> Result<(), RedisError> {
    let pubsub = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out("connect"))??;
    let (mut sink, mut stream) = pubsub.split();
    tokio::time::timeout(CONNECT_TIMEOUT, sink.subscribe(channel))
        .await
        .map_err(|_| timed_out("subscribe"))??;
    hub.listening(NAME);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => hub.receive(NAME, message.get_payload_bytes()),
                None => return Ok(()),
            },
            _ = ping.tick() => {
                // In subscribed mode Redis answers PING with an array
                // (`["pong", ""]`), not `PONG`: any reply proves the link.
                tokio::time::timeout(CONNECT_TIMEOUT, sink.ping::<redis::Value>())
                    .await
                    .map_err(|_| timed_out("ping"))??;
            }
        }
    }
}

fn timed_out(what: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::Io, "timed out", what.to_owned()))
}
