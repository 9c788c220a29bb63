//! The `/users/me` cache of [`UserServiceImpl`] and the events that keep
//! every instance's copy fresh (docs/adr/0014-event-bus.md).

use std::sync::Arc;

use strata_domain::events::{Event, EventBus, EventPayload, Topic};
use strata_domain::users::User;
use uuid::Uuid;

use super::{UserCache, UserServiceImpl};
use crate::events::publish;

impl UserServiceImpl {
    /// Caches accounts read by `me` for `ttl` (at most `capacity` of them).
    #[must_use]
    pub fn with_cache(mut self, ttl: std::time::Duration, capacity: u64) -> Self {
        self.cache = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build()
        });
        self
    }

    /// Announces account changes on `bus`, so other instances drop their
    /// cached copy at once rather than after the TTL.
    #[must_use]
    pub fn with_events(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The cache `me` reads, for the event consumer to invalidate.
    pub fn cache(&self) -> Option<UserCache> {
        self.cache.clone()
    }

    /// Replaces a cached account with the value a write just returned, and
    /// tells the other instances.
    pub(super) async fn remember(&self, user: &User) {
        if let Some(cache) = &self.cache {
            cache.insert(user.id, user.clone());
        }
        self.announce(user.id).await;
    }

    pub(super) async fn forget(&self, id: Uuid) {
        if let Some(cache) = &self.cache {
            cache.invalidate(&id);
        }
        self.announce(id).await;
    }

    async fn announce(&self, user_id: Uuid) {
        let event = Event {
            topic: Topic::users(),
            payload: EventPayload::UserChanged { user_id },
        };
        publish(self.bus.as_ref(), event).await;
    }
}
