//! The in-memory list of revoked sessions, consulted on every authenticated
//! request instead of the database (see docs/adr/0002-revocation.md).
//!
//! The database's `revocations` table is the source of truth: it is written
//! before a revocation takes effect here, loaded in full at start-up (so
//! revocations survive restarts) and polled for rows other instances wrote.
//! An entry is dropped once `expires_at` has passed, when no access token of
//! that session can still be valid, which bounds the list by the revocations
//! of one access-token lifetime.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use strata_domain::auth::{Revocation, RevocationScope, SessionRepository};
use strata_domain::events::{Event, EventBus, EventPayload, Topic};
use uuid::Uuid;

use crate::ServiceError;
use crate::events::publish;

/// Revocations per event: a logout-all of many sessions is split so that
/// each event stays well under the transports' payload limit.
const REVOCATIONS_PER_EVENT: usize = 32;

#[derive(Debug, Default)]
struct State {
    revoked: HashMap<Uuid, DateTime<Utc>>,
    /// Newest `revoked_at` seen, where the next poll resumes.
    watermark: Option<DateTime<Utc>>,
}

/// Revoked session ids with the time until which they must stay refused.
#[derive(Debug, Clone, Default)]
pub struct RevocationList {
    state: Arc<RwLock<State>>,
}

/// How far back each poll re-reads, so a row committed late by another
/// instance (its `revoked_at` older than rows already seen) is not missed.
const POLL_OVERLAP: chrono::Duration = chrono::Duration::seconds(30);

impl RevocationList {
    pub fn new() -> Self {
        Self::default()
    }

    /// `true` when tokens of `session_id` must be refused at `now`.
    pub fn is_revoked(&self, session_id: Uuid, now: DateTime<Utc>) -> bool {
        // A poisoned lock only means another thread panicked mid-insert; the
        // map itself is still a valid map, and failing open would be worse.
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state
            .revoked
            .get(&session_id)
            .is_some_and(|until| *until > now)
    }

    pub fn insert(&self, revocations: &[Revocation]) {
        if revocations.is_empty() {
            return;
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        for r in revocations {
            let until = state.revoked.entry(r.session_id).or_insert(r.expires_at);
            *until = (*until).max(r.expires_at);
            state.watermark = Some(
                state
                    .watermark
                    .map_or(r.revoked_at, |w| w.max(r.revoked_at)),
            );
        }
    }

    pub fn len(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .revoked
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets entries whose tokens have all expired.
    pub fn prune(&self, now: DateTime<Utc>) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.revoked.retain(|_, until| *until > now);
    }

    /// Loads revocations written since the last sync (all of them on the first
    /// call). Returns how many rows were read.
    ///
    /// # Errors
    /// The repository's error, as a [`ServiceError`].
    pub async fn sync(
        &self,
        repo: &dyn SessionRepository,
        now: DateTime<Utc>,
    ) -> Result<usize, ServiceError> {
        let since = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            state
                .watermark
                .map_or(DateTime::<Utc>::MIN_UTC, |w| w - POLL_OVERLAP)
        };
        let rows = repo.revocations_since(since, now).await?;
        self.insert(&rows);
        Ok(rows.len())
    }

    /// Polls the store every `interval` for revocations written by other
    /// instances, and drops expired entries from memory every `prune_every`.
    /// Expired rows in the store are deleted by the `purge_auth` job. Runs
    /// until the runtime shuts down; failures are logged and retried at the
    /// next tick.
    pub fn spawn_maintenance(
        &self,
        repo: Arc<dyn SessionRepository>,
        interval: Duration,
        prune_every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let list = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_prune = tokio::time::Instant::now();
            loop {
                ticker.tick().await;
                let now = Utc::now();
                if let Err(err) = list.sync(repo.as_ref(), now).await {
                    tracing::warn!(error = %err, "revocation sync failed");
                }
                if last_prune.elapsed() >= prune_every {
                    last_prune = tokio::time::Instant::now();
                    list.prune(now);
                }
            }
        })
    }
}

/// Revokes sessions durably, then in this instance's list, then on the
/// event bus, so a revocation is in force here the moment the call returns
/// and on other instances as soon as the event arrives (or, should it be
/// lost, after their next poll).
#[derive(Clone)]
pub struct Revoker {
    sessions: Arc<dyn SessionRepository>,
    list: RevocationList,
    bus: Option<Arc<dyn EventBus>>,
    /// How long an access token lives: after that a revocation is moot.
    remember_for: chrono::Duration,
}

impl std::fmt::Debug for Revoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revoker")
            .field("remember_for", &self.remember_for)
            .finish_non_exhaustive()
    }
}

impl Revoker {
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        list: RevocationList,
        access_ttl_secs: u64,
    ) -> Self {
        let secs = i64::try_from(access_ttl_secs).unwrap_or(i64::MAX / 1000);
        Self {
            sessions,
            list,
            bus: None,
            // One extra second covers a token issued in the same second.
            remember_for: chrono::Duration::seconds(secs.saturating_add(1)),
        }
    }

    /// Announces every revocation on `bus`.
    #[must_use]
    pub fn with_events(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    pub fn list(&self) -> &RevocationList {
        &self.list
    }

    /// Revokes every live session in `scope`; returns how many were revoked.
    ///
    /// # Errors
    /// The repository's error, as a [`ServiceError`]; nothing is revoked then.
    pub async fn revoke(&self, scope: RevocationScope) -> Result<usize, ServiceError> {
        let now = Utc::now();
        let written = self
            .sessions
            .revoke(scope, now, now + self.remember_for)
            .await?;
        self.list.insert(&written);
        // After the repository's commit: a failed write announces nothing.
        for chunk in written.chunks(REVOCATIONS_PER_EVENT) {
            let event = Event {
                topic: Topic::sessions(),
                payload: EventPayload::SessionsRevoked(chunk.to_vec()),
            };
            publish(self.bus.as_ref(), event).await;
        }
        Ok(written.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use strata_domain::auth::MockSessionRepository;

    fn revocation(at: DateTime<Utc>, ttl: i64) -> Revocation {
        Revocation {
            session_id: Uuid::now_v7(),
            revoked_at: at,
            expires_at: at + Duration::seconds(ttl),
        }
    }

    #[test]
    fn a_revoked_session_is_refused_until_its_tokens_expire() {
        let now = Utc::now();
        let list = RevocationList::new();
        let r = revocation(now, 900);
        list.insert(&[r]);
        assert!(list.is_revoked(r.session_id, now));
        assert!(!list.is_revoked(r.session_id, now + Duration::seconds(901)));
        assert!(!list.is_revoked(Uuid::now_v7(), now));
    }

    #[test]
    fn prune_drops_only_expired_entries() {
        let now = Utc::now();
        let list = RevocationList::new();
        list.insert(&[revocation(now, 10), revocation(now, 1000)]);
        list.prune(now + Duration::seconds(11));
        assert_eq!(list.len(), 1);
    }

    #[tokio::test]
    async fn the_first_sync_loads_everything_and_later_ones_resume_from_the_watermark() {
        let now = Utc::now();
        let old = revocation(now - Duration::seconds(600), 900);
        let mut repo = MockSessionRepository::new();
        let mut seq = mockall::Sequence::new();
        repo.expect_revocations_since()
            .withf(|since, _| *since == DateTime::<Utc>::MIN_UTC)
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_, _| Ok(vec![old]));
        repo.expect_revocations_since()
            .withf(move |since, _| *since == old.revoked_at - POLL_OVERLAP)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(vec![]));
        let list = RevocationList::new();
        assert_eq!(list.sync(&repo, now).await.unwrap(), 1);
        assert_eq!(list.sync(&repo, now).await.unwrap(), 0);
        assert!(list.is_revoked(old.session_id, now));
    }
}
