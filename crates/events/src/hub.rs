//! What every adapter shares: the local fan-out to subscribers, the stamping
//! of events with their publisher and sequence number, and, for the adapters
//! with a transport, publishing in order and reporting the transport's state.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use strata_domain::events::{
    Delivery, Envelope, Event, EventError, Subscription, Topic, TopicFilter,
};
use tokio::sync::{Mutex, broadcast, watch};
use uuid::Uuid;

use crate::codec;

/// Deliveries buffered per subscriber before the slowest one lags (and is
/// told to resynchronise) rather than memory growing.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// How long a publish may wait on its transport before the event is given up.
pub(crate) const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

/// How long `connect` waits for the first subscription before it returns
/// anyway (degraded; the background task keeps trying).
pub(crate) const FIRST_LISTEN: Duration = Duration::from_secs(2);

/// The local fan-out: every subscription of this process reads one
/// bounded broadcast channel.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    sender: broadcast::Sender<Delivery>,
    /// Set once the transport first listens, so `connect` can wait for it.
    listening: watch::Sender<bool>,
}

impl Hub {
    pub(crate) fn new() -> Self {
        Self {
            sender: broadcast::channel(SUBSCRIBER_BUFFER).0,
            listening: watch::channel(false).0,
        }
    }

    pub(crate) fn deliver(&self, delivery: Delivery) {
        // No subscriber is not an error: nobody needed to hear it.
        let _ = self.sender.send(delivery);
    }

    pub(crate) fn subscribe(&self, filter: TopicFilter) -> Box<dyn Subscription> {
        Box::new(HubSubscription {
            receiver: self.sender.subscribe(),
            filter,
        })
    }

    /// The transport listens (again): subscribers resynchronise, since
    /// anything published while it did not was lost for this process.
    pub(crate) fn listening(&self, bus: &'static str) {
        metrics::gauge!("strata_events_bus_degraded", "bus" => bus).set(0.0);
        self.listening.send_replace(true);
        self.deliver(Delivery::Resubscribed);
    }

    /// The transport was lost: until it is back, only the consumers' timer
    /// polls bring other instances' changes.
    pub(crate) fn lost(&self, bus: &'static str) {
        self.listening.send_replace(false);
        metrics::gauge!("strata_events_bus_degraded", "bus" => bus).set(1.0);
        metrics::counter!("strata_events_bus_failures_total", "bus" => bus).increment(1);
    }

    /// Whether the transport listens now.
    pub(crate) fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// Resolves once the transport listens, or after [`FIRST_LISTEN`].
    pub(crate) async fn first_listen(&self, bus: &'static str) {
        let mut listening = self.listening.subscribe();
        let waited = tokio::time::timeout(FIRST_LISTEN, listening.wait_for(|l| *l)).await;
        if waited.is_err() {
            tracing::warn!(
                bus,
                "event bus not listening yet; degraded to polling until it is"
            );
        }
    }

    /// One message from the transport, delivered if it decodes.
    pub(crate) fn receive(&self, bus: &'static str, raw: &[u8]) {
        match codec::decode(raw) {
            Ok(envelope) => {
                metrics::counter!("strata_events_received_total", "bus" => bus).increment(1);
                self.deliver(Delivery::Event(envelope));
            }
            Err(err) => {
                // From a newer version, or not ours: a gap the consumers will
                // not see, so the poll is what covers it.
                metrics::counter!("strata_events_undecodable_total", "bus" => bus).increment(1);
                tracing::warn!(bus, error = %err, "undecodable event dropped");
            }
        }
    }
}

struct HubSubscription {
    receiver: broadcast::Receiver<Delivery>,
    filter: TopicFilter,
}

#[async_trait]
impl Subscription for HubSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            match self.receiver.recv().await {
                Ok(Delivery::Event(envelope)) if !self.filter.admits(&envelope.event.topic) => {}
                Ok(delivery) => return Some(delivery),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Some(Delivery::Lagged(missed));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// This process's identity as a publisher and its next sequence number per
/// topic (one entry per topic it ever published on).
#[derive(Debug)]
pub(crate) struct Stamps {
    publisher: Uuid,
    next: HashMap<Topic, u64>,
}

impl Stamps {
    pub(crate) fn new() -> Self {
        Self {
            publisher: Uuid::now_v7(),
            next: HashMap::new(),
        }
    }

    pub(crate) fn stamp(&mut self, event: Event) -> Envelope {
        let next = self.next.entry(event.topic.clone()).or_insert(1);
        let seq = *next;
        *next += 1;
        Envelope {
            publisher: self.publisher,
            seq,
            event,
        }
    }
}

/// Publishing over a transport: stamp, encode, send, one at a time, so
/// that one publisher's events leave (and arrive) in sequence order.
#[derive(Debug)]
pub(crate) struct Outbox {
    stamps: Mutex<Stamps>,
}

impl Outbox {
    pub(crate) fn new() -> Self {
        Self {
            stamps: Mutex::new(Stamps::new()),
        }
    }

    /// Sends `event` with `send`, within [`PUBLISH_TIMEOUT`].
    pub(crate) async fn publish<F, Fut, E>(
        &self,
        bus: &'static str,
        event: Event,
        send: F,
    ) -> Result<u64, EventError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut stamps = self.stamps.lock().await;
        let envelope = stamps.stamp(event);
        let result = match codec::encode(&envelope) {
            Ok(payload) => match tokio::time::timeout(PUBLISH_TIMEOUT, send(payload)).await {
                Ok(Ok(())) => Ok(envelope.seq),
                Ok(Err(err)) => Err(EventError::Unavailable(err.to_string())),
                Err(_) => Err(EventError::Unavailable("publish timed out".into())),
            },
            Err(err) => Err(err),
        };
        drop(stamps);
        count(bus, &result);
        result
    }
}

pub(crate) fn count(bus: &'static str, result: &Result<u64, EventError>) {
    if result.is_ok() {
        metrics::counter!("strata_events_published_total", "bus" => bus).increment(1);
    } else {
        metrics::counter!("strata_events_publish_failures_total", "bus" => bus).increment(1);
    }
}
