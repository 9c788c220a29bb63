//! The bus contract, one suite run against every adapter: in-process always,
//! PostgreSQL when `TEST_POSTGRES_URL` is set and Redis when `TEST_REDIS_URL`
//! is set (skipped with a note when unset, failed when set but unreachable).
//!
//! For the adapters with a transport, two buses on one channel stand for two
//! instances; each test uses a channel of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use strata_domain::auth::Revocation;
use strata_domain::events::{
    Delivery, Envelope, Event, EventBus, EventError, EventPayload, Subscription, Topic, TopicFilter,
};
use strata_events::{InProcessBus, PgBus, RedisBus};
use uuid::Uuid;

/// Long enough for any delivery in a passing test.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long silence must last to count as "nothing delivered".
const QUIET: Duration = Duration::from_millis(300);

/// Two buses that share a transport (the same bus twice in-process).
type Pair = (Arc<dyn EventBus>, Arc<dyn EventBus>);

fn in_process() -> Pair {
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::new());
    (bus.clone(), bus)
}

fn channel() -> String {
    format!("strata_events_test_{}", Uuid::new_v4().simple())
}

async fn postgres() -> Option<Pair> {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("TEST_POSTGRES_URL is not set: skipping the PostgreSQL bus");
        return None;
    };
    let db = strata_repository::connect(&url, 2)
        .await
        .unwrap_or_else(|e| panic!("TEST_POSTGRES_URL is set but unreachable: {e}"));
    let channel = channel();
    let a = PgBus::connect(db.clone(), &channel).await.unwrap();
    let b = PgBus::connect(db, &channel).await.unwrap();
    Some((Arc::new(a), Arc::new(b)))
}

async fn redis() -> Option<Pair> {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("TEST_REDIS_URL is not set: skipping the Redis bus");
        return None;
    };
    let channel = channel();
    let connect = |url: String, channel: String| async move {
        RedisBus::connect(&url, &channel)
            .await
            .unwrap_or_else(|e| panic!("TEST_REDIS_URL is set but unreachable: {e}"))
    };
    let a = connect(url.clone(), channel.clone()).await;
    let b = connect(url, channel).await;
    Some((Arc::new(a), Arc::new(b)))
}

/// Runs `check` on every adapter available here.
async fn for_each_adapter<F, Fut>(check: F)
where
    F: Fn(&'static str, Pair) -> Fut,
    Fut: Future<Output = ()>,
{
    check("in_process", in_process()).await;
    if let Some(pair) = postgres().await {
        check("postgres", pair).await;
    }
    if let Some(pair) = redis().await {
        check("redis", pair).await;
    }
}

fn revoked(session_id: Uuid) -> Event {
    let now = Utc::now();
    Event {
        topic: Topic::sessions(),
        payload: EventPayload::SessionsRevoked(vec![Revocation {
            session_id,
            revoked_at: now,
            expires_at: now + chrono::Duration::minutes(15),
        }]),
    }
}

fn user_changed(user_id: Uuid) -> Event {
    Event {
        topic: Topic::users(),
        payload: EventPayload::UserChanged { user_id },
    }
}

/// The next event, skipping the `Resubscribed` a transport announces.
async fn next_event(adapter: &str, subscription: &mut Box<dyn Subscription>) -> Envelope {
    loop {
        let delivery = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("{adapter}: nothing delivered"))
            .unwrap_or_else(|| panic!("{adapter}: the bus closed"));
        match delivery {
            Delivery::Event(envelope) => return envelope,
            Delivery::Resubscribed => {}
            Delivery::Lagged(n) => panic!("{adapter}: lagged by {n}"),
        }
    }
}

async fn assert_quiet(adapter: &str, subscription: &mut Box<dyn Subscription>) {
    match tokio::time::timeout(QUIET, subscription.next()).await {
        Err(_) | Ok(Some(Delivery::Resubscribed)) => {}
        Ok(other) => panic!("{adapter}: unexpected delivery {other:?}"),
    }
}

#[tokio::test]
async fn an_event_reaches_every_instance_intact_and_in_sequence() {
    for_each_adapter(|adapter, (a, b)| async move {
        let mut here = a.subscribe(TopicFilter::All);
        let mut there = b.subscribe(TopicFilter::All);
        let events = [revoked(Uuid::now_v7()), revoked(Uuid::now_v7())];
        for (i, event) in events.iter().enumerate() {
            let seq = a.publish(event.clone()).await.unwrap();
            assert_eq!(seq, i as u64 + 1, "{adapter}: sequence numbers start at 1");
        }
        for subscription in [&mut here, &mut there] {
            let mut publisher = None;
            for (i, event) in events.iter().enumerate() {
                let envelope = next_event(adapter, subscription).await;
                assert_eq!(&envelope.event, event, "{adapter}");
                assert_eq!(envelope.seq, i as u64 + 1, "{adapter}: in order, no gap");
                assert_eq!(
                    *publisher.get_or_insert(envelope.publisher),
                    envelope.publisher
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn sequence_numbers_count_per_topic_and_publisher() {
    for_each_adapter(|adapter, (a, b)| async move {
        let mut all = b.subscribe(TopicFilter::All);
        a.publish(revoked(Uuid::now_v7())).await.unwrap();
        assert_eq!(
            a.publish(user_changed(Uuid::now_v7())).await.unwrap(),
            1,
            "{adapter}"
        );
        assert_eq!(
            a.publish(revoked(Uuid::now_v7())).await.unwrap(),
            2,
            "{adapter}"
        );
        let seen: Vec<(Topic, u64)> = [
            next_event(adapter, &mut all).await,
            next_event(adapter, &mut all).await,
            next_event(adapter, &mut all).await,
        ]
        .into_iter()
        .map(|e| (e.event.topic, e.seq))
        .collect();
        assert_eq!(
            seen,
            [
                (Topic::sessions(), 1),
                (Topic::users(), 1),
                (Topic::sessions(), 2)
            ],
            "{adapter}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_subscription_receives_its_topic_only() {
    for_each_adapter(|adapter, (a, b)| async move {
        let mut users = b.subscribe(TopicFilter::Only(Topic::users()));
        a.publish(revoked(Uuid::now_v7())).await.unwrap();
        let user_id = Uuid::now_v7();
        a.publish(user_changed(user_id)).await.unwrap();
        let envelope = next_event(adapter, &mut users).await;
        assert_eq!(envelope.event, user_changed(user_id), "{adapter}");
        assert_quiet(adapter, &mut users).await;
    })
    .await;
}

#[tokio::test]
async fn nothing_published_before_subscribing_is_replayed() {
    for_each_adapter(|adapter, (a, b)| async move {
        a.publish(revoked(Uuid::now_v7())).await.unwrap();
        // Let the transport deliver it before anyone subscribes.
        tokio::time::sleep(QUIET).await;
        let mut late = b.subscribe(TopicFilter::All);
        assert_quiet(adapter, &mut late).await;
    })
    .await;
}

#[tokio::test]
async fn an_event_too_large_for_the_transport_is_refused_and_not_delivered() {
    for_each_adapter(|adapter, (a, b)| async move {
        if adapter == "in_process" {
            return; // Nothing is encoded in-process.
        }
        let mut there = b.subscribe(TopicFilter::All);
        let now = Utc::now();
        let many = (0..200)
            .map(|_| Revocation {
                session_id: Uuid::now_v7(),
                revoked_at: now,
                expires_at: now,
            })
            .collect();
        let event = Event {
            topic: Topic::sessions(),
            payload: EventPayload::SessionsRevoked(many),
        };
        let refused = a.publish(event).await;
        assert!(
            matches!(refused, Err(EventError::TooLarge { .. })),
            "{adapter}: {refused:?}"
        );
        assert_quiet(adapter, &mut there).await;
        // The skipped number shows as a gap to subscribers.
        assert_eq!(
            a.publish(revoked(Uuid::now_v7())).await.unwrap(),
            2,
            "{adapter}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_to_resync() {
    let (bus, _) = in_process();
    let mut slow = bus.subscribe(TopicFilter::All);
    for _ in 0..=strata_events::SUBSCRIBER_BUFFER {
        bus.publish(user_changed(Uuid::now_v7())).await.unwrap();
    }
    assert_eq!(slow.next().await, Some(Delivery::Lagged(1)));
}

#[tokio::test]
async fn a_lost_postgres_listener_reconnects_and_says_so() {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    let db = strata_repository::connect(&url, 2).await.unwrap();
    let channel = channel();
    let bus = PgBus::connect(db.clone(), &channel).await.unwrap();
    let mut subscription = bus.subscribe(TopicFilter::All);
    // What a server restart or a dropped link does to the listening session.
    use sea_orm::ConnectionTrait as _;
    let killed = db
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN \"{channel}\"'"
        ))
        .await
        .unwrap();
    assert_eq!(killed.rows_affected(), 1);
    let announced = tokio::time::timeout(PATIENCE, subscription.next())
        .await
        .unwrap();
    assert_eq!(announced, Some(Delivery::Resubscribed));
    bus.publish(user_changed(Uuid::now_v7())).await.unwrap();
    assert_eq!(next_event("postgres", &mut subscription).await.seq, 1);
}
