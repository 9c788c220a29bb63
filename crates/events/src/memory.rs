//! The in-process bus: one server, no transport. The default.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use strata_domain::events::{Delivery, Event, EventBus, EventError, Subscription, TopicFilter};

use crate::hub::{Hub, Stamps, count};

const NAME: &str = "in_process";

/// Delivers to this process's subscribers only; nothing is ever lost
/// except to a subscriber that lags.
#[derive(Debug)]
pub struct InProcessBus {
    hub: Hub,
    stamps: Mutex<Stamps>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self {
            hub: Hub::new(),
            stamps: Mutex::new(Stamps::new()),
        }
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: Event) -> Result<u64, EventError> {
        // Stamped and sent under one lock, so subscribers see sequence order.
        let mut stamps = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        let envelope = stamps.stamp(event);
        let seq = envelope.seq;
        self.hub.deliver(Delivery::Event(envelope));
        drop(stamps);
        let published = Ok(seq);
        count(NAME, &published);
        published
    }

    fn subscribe(&self, filter: TopicFilter) -> Box<dyn Subscription> {
        self.hub.subscribe(filter)
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn connected(&self) -> Option<bool> {
        None
    }
}
