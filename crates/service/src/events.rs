//! What the services publish on the event bus and how this instance applies
//! what every instance published (docs/adr/0014-event-bus.md).
//!
//! Writers publish after their repository call returned, so after commit;
//! a failure to publish is logged and counted, never returned, since the
//! write itself succeeded and the consumers' timer poll still carries it.
//! [`Invalidation`] applies revocations and account changes to this
//! instance's memory. Delivery is at most once, so it resynchronises from
//! the database when the bus (re)connects, when it lagged, and when a
//! publisher's sequence numbers skip; the timer poll stays as the last resort.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use strata_domain::auth::SessionRepository;
use strata_domain::events::{
    Delivery, Envelope, Event, EventBus, EventPayload, Subscription, Topic,
};
use uuid::Uuid;

use crate::revocation::RevocationList;
use crate::users::UserCache;

/// Publishers and topics whose last sequence number is remembered; past
/// this (instances restart with new ids) the memory starts over.
const MAX_TRACKED: usize = 4096;

/// Publishes `event` when there is a bus, logging and counting a failure.
pub(crate) async fn publish(bus: Option<&Arc<dyn EventBus>>, event: Event) {
    let Some(bus) = bus else { return };
    let topic = event.topic.clone();
    if let Err(err) = bus.publish(event).await {
        tracing::warn!(bus = bus.name(), topic = topic.as_str(), error = %err, "event not published; other instances catch up by polling");
    }
}

/// Applies bus deliveries to this instance's revocation list and user cache.
pub struct Invalidation {
    subscription: Box<dyn Subscription>,
    revocations: RevocationList,
    sessions: Arc<dyn SessionRepository>,
    users: Option<UserCache>,
    seen: Sequences,
}

impl std::fmt::Debug for Invalidation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidation").finish_non_exhaustive()
    }
}

impl Invalidation {
    /// `subscription` must be taken before the revocations are first loaded,
    /// so that nothing published in between is missed.
    pub fn new(
        subscription: Box<dyn Subscription>,
        revocations: RevocationList,
        sessions: Arc<dyn SessionRepository>,
        users: Option<UserCache>,
    ) -> Self {
        Self {
            subscription,
            revocations,
            sessions,
            users,
            seen: Sequences::default(),
        }
    }

    /// Applies deliveries until the bus is gone.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(delivery) = self.subscription.next().await {
                self.apply(delivery).await;
            }
        })
    }

    /// Applies one delivery. Applying an event twice changes nothing.
    pub async fn apply(&mut self, delivery: Delivery) {
        match delivery {
            // A user's events are for their sockets (see `realtime`), which
            // have their own resync; a gap there says nothing of revocations.
            Delivery::Event(Envelope {
                event:
                    Event {
                        payload: EventPayload::User(_),
                        ..
                    },
                ..
            }) => {}
            Delivery::Event(envelope) => {
                metrics::counter!("strata_events_applied_total").increment(1);
                let gap = self.seen.gap(&envelope);
                self.apply_event(envelope.event.payload);
                if gap {
                    metrics::counter!("strata_events_gaps_total").increment(1);
                    self.resync("gap").await;
                }
            }
            Delivery::Resubscribed => self.resync("resubscribed").await,
            Delivery::Lagged(_) => self.resync("lagged").await,
        }
    }

    fn apply_event(&self, payload: EventPayload) {
        match payload {
            EventPayload::SessionsRevoked(revocations) => self.revocations.insert(&revocations),
            EventPayload::UserChanged { user_id } => {
                if let Some(users) = &self.users {
                    users.invalidate(&user_id);
                }
            }
            EventPayload::User(_) => {}
        }
    }

    /// Reloads what may have been missed: revocations from the database,
    /// and the user cache dropped whole (it refills on demand).
    async fn resync(&mut self, reason: &'static str) {
        metrics::counter!("strata_events_resyncs_total", "reason" => reason).increment(1);
        if let Some(users) = &self.users {
            users.invalidate_all();
        }
        if let Err(err) = self
            .revocations
            .sync(self.sessions.as_ref(), Utc::now())
            .await
        {
            tracing::warn!(reason, error = %err, "revocation resync failed; the timer poll retries");
        }
    }
}

/// The last sequence number seen per publisher and topic.
#[derive(Debug, Default)]
struct Sequences {
    last: HashMap<(Uuid, Topic), u64>,
}

impl Sequences {
    /// Records `envelope`; `true` when numbers were skipped before it. A
    /// publisher seen for the first time has no gap (the resync on
    /// subscribing covered what came before), and an old or repeated number
    /// is no gap either.
    fn gap(&mut self, envelope: &Envelope) -> bool {
        if self.last.len() >= MAX_TRACKED {
            self.last.clear();
        }
        let key = (envelope.publisher, envelope.event.topic.clone());
        match self.last.get_mut(&key) {
            Some(last) if envelope.seq <= *last => false,
            Some(last) => {
                let gap = envelope.seq > *last + 1;
                *last = envelope.seq;
                gap
            }
            None => {
                self.last.insert(key, envelope.seq);
                false
            }
        }
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
