#![allow(clippy::unwrap_used)]

use chrono::Duration;
use strata_domain::RepoError;
use strata_domain::auth::{MockSessionRepository, Revocation, RevocationScope};
use strata_domain::events::MockEventBus;
use strata_domain::users::{Email, Role, User, Username};

use super::*;
use crate::revocation::Revoker;

struct NoSubscription;

#[async_trait::async_trait]
impl Subscription for NoSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        None
    }
}

fn revocation() -> Revocation {
    let now = Utc::now();
    Revocation {
        session_id: Uuid::now_v7(),
        revoked_at: now,
        expires_at: now + Duration::minutes(15),
    }
}

fn envelope(publisher: Uuid, seq: u64, payload: EventPayload) -> Delivery {
    let topic = match payload {
        EventPayload::SessionsRevoked(_) => Topic::sessions(),
        EventPayload::UserChanged { .. } => Topic::users(),
        EventPayload::User(ref event) => Topic::user(event.user_id),
    };
    Delivery::Event(Envelope {
        publisher,
        seq,
        event: Event { topic, payload },
    })
}

fn consumer(
    sessions: MockSessionRepository,
    users: Option<UserCache>,
) -> (Invalidation, RevocationList) {
    let list = RevocationList::new();
    let invalidation = Invalidation::new(
        Box::new(NoSubscription),
        list.clone(),
        Arc::new(sessions),
        users,
    );
    (invalidation, list)
}

fn user() -> User {
    let now = Utc::now();
    User {
        id: Uuid::now_v7(),
        email: Email::parse("a@example.com").unwrap(),
        username: Username::parse("alice").unwrap(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified_at: None,
        created_at: now,
        updated_at: now,
    }
}

#[tokio::test]
async fn a_revocation_from_another_instance_is_refused_here_and_applying_it_twice_changes_nothing()
{
    let (mut invalidation, list) = consumer(MockSessionRepository::new(), None);
    let revoked = revocation();
    let publisher = Uuid::now_v7();
    let delivery = envelope(publisher, 1, EventPayload::SessionsRevoked(vec![revoked]));
    invalidation.apply(delivery.clone()).await;
    invalidation.apply(delivery).await;
    assert!(list.is_revoked(revoked.session_id, Utc::now()));
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn a_gap_in_a_publishers_sequence_resyncs_from_the_database() {
    let missed = revocation();
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_revocations_since()
        .times(1)
        .returning(move |_, _| Ok(vec![missed]));
    let cache = UserCache::new(10);
    let cached = user();
    cache.insert(cached.id, cached.clone());
    let (mut invalidation, list) = consumer(sessions, Some(cache.clone()));
    let publisher = Uuid::now_v7();
    invalidation
        .apply(envelope(
            publisher,
            1,
            EventPayload::SessionsRevoked(vec![revocation()]),
        ))
        .await;
    // Number 2 was lost on the way: 3 gives it away.
    invalidation
        .apply(envelope(
            publisher,
            3,
            EventPayload::SessionsRevoked(vec![revocation()]),
        ))
        .await;
    assert!(list.is_revoked(missed.session_id, Utc::now()));
    assert!(
        cache.get(&cached.id).is_none(),
        "a resync drops the user cache"
    );
}

#[tokio::test]
async fn resubscribing_and_lagging_resync() {
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_revocations_since()
        .times(2)
        .returning(|_, _| Ok(vec![]));
    let (mut invalidation, _) = consumer(sessions, None);
    invalidation.apply(Delivery::Resubscribed).await;
    invalidation.apply(Delivery::Lagged(3)).await;
}

#[tokio::test]
async fn a_changed_account_is_dropped_from_the_cache() {
    let cache = UserCache::new(10);
    let cached = user();
    cache.insert(cached.id, cached.clone());
    let (mut invalidation, _) = consumer(MockSessionRepository::new(), Some(cache.clone()));
    invalidation
        .apply(envelope(
            Uuid::now_v7(),
            1,
            EventPayload::UserChanged { user_id: cached.id },
        ))
        .await;
    assert!(cache.get(&cached.id).is_none());
}

#[tokio::test]
async fn a_revocation_is_published_after_its_write_and_a_failed_write_publishes_nothing() {
    let mut sessions = MockSessionRepository::new();
    let mut calls = 0;
    sessions.expect_revoke().times(2).returning(move |_, _, _| {
        calls += 1;
        if calls == 1 {
            Err(RepoError::Unavailable("down".into()))
        } else {
            Ok(vec![revocation()])
        }
    });
    let mut bus = MockEventBus::new();
    bus.expect_publish()
        .times(1)
        .withf(|event| event.topic == Topic::sessions())
        .returning(|_| Ok(1));
    let revoker =
        Revoker::new(Arc::new(sessions), RevocationList::new(), 900).with_events(Arc::new(bus));
    let scope = RevocationScope::Session(Uuid::now_v7());
    assert!(revoker.revoke(scope).await.is_err());
    assert_eq!(revoker.revoke(scope).await.unwrap(), 1);
}

#[tokio::test]
async fn a_logout_all_of_many_sessions_is_split_into_events_the_transports_carry() {
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_revoke()
        .returning(|_, _, _| Ok((0..70).map(|_| revocation()).collect()));
    let mut bus = MockEventBus::new();
    bus.expect_publish()
        .times(3)
        .withf(|event| matches!(&event.payload, EventPayload::SessionsRevoked(r) if r.len() <= 32))
        .returning(|_| Ok(1));
    let revoker =
        Revoker::new(Arc::new(sessions), RevocationList::new(), 900).with_events(Arc::new(bus));
    let scope = RevocationScope::User {
        user_id: Uuid::now_v7(),
        except: None,
    };
    assert_eq!(revoker.revoke(scope).await.unwrap(), 70);
}

#[tokio::test]
async fn user_events_are_for_sockets_and_their_gaps_resync_nothing_here() {
    // No expectation on the sessions repository: a resync would fail the test.
    let cache = UserCache::new(10);
    let cached = user();
    cache.insert(cached.id, cached.clone());
    let (mut invalidation, list) = consumer(MockSessionRepository::new(), Some(cache.clone()));
    let publisher = Uuid::now_v7();
    for seq in [1, 5] {
        invalidation
            .apply(envelope(
                publisher,
                seq,
                EventPayload::User(strata_domain::realtime::UserEvent {
                    user_id: cached.id,
                    seq,
                    kind: strata_domain::realtime::UserEventKind::JobProgress,
                    data: serde_json::json!({}),
                }),
            ))
            .await;
    }
    assert!(list.is_empty());
    assert!(cache.get(&cached.id).is_some(), "the user cache is kept");
}
