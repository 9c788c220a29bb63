#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use strata_domain::auth::Revocation;
use strata_domain::events::{Envelope, Event, Topic};
use strata_domain::realtime::{MockRealtimeRepository, Ticket, UserEventKind};
use strata_domain::users::Role;

use super::*;

/// A bus subscription fed by the test.
struct Fed(mpsc::UnboundedReceiver<Delivery>);

#[async_trait]
impl Subscription for Fed {
    async fn next(&mut self) -> Option<Delivery> {
        self.0.recv().await
    }
}

struct Harness {
    service: RealtimeServiceImpl,
    bus: mpsc::UnboundedSender<Delivery>,
    revocations: RevocationList,
    user: Uuid,
    session: Uuid,
}

fn config() -> RealtimeConfig {
    RealtimeConfig {
        max_sockets_per_user: 2,
        socket_buffer: 4,
        check_every: Duration::from_millis(20),
        ..RealtimeConfig::default()
    }
}

/// A service whose repository hands out any ticket of `user` once per
/// `take_ticket` expectation, with `latest` as the user's position.
fn harness(
    repo: MockRealtimeRepository,
    user: Uuid,
    session: Uuid,
    config: RealtimeConfig,
) -> Harness {
    let (bus, deliveries) = mpsc::unbounded_channel();
    let revocations = RevocationList::new();
    let (service, dispatcher) = RealtimeServiceImpl::new(
        Arc::new(repo),
        revocations.clone(),
        Box::new(Fed(deliveries)),
        config,
    );
    dispatcher.spawn();
    Harness {
        service,
        bus,
        revocations,
        user,
        session,
    }
}

fn ticket(user: Uuid, session: Uuid) -> Ticket {
    let now = Utc::now();
    Ticket {
        user_id: user,
        session_id: session,
        access_expires_at: now + chrono::Duration::minutes(15),
        expires_at: now + chrono::Duration::seconds(30),
    }
}

fn repo_with(user: Uuid, session: Uuid, latest: u64) -> MockRealtimeRepository {
    let mut repo = MockRealtimeRepository::new();
    repo.expect_take_ticket()
        .returning(move |_| Ok(Some(ticket(user, session))));
    repo.expect_latest_seq().returning(move |_| Ok(latest));
    repo
}

fn event(user: Uuid, seq: u64) -> UserEvent {
    UserEvent {
        user_id: user,
        seq,
        kind: UserEventKind::JobProgress,
        data: json!({"seq": seq}),
    }
}

impl Harness {
    fn publish(&self, event: UserEvent) {
        self.bus
            .send(Delivery::Event(Envelope {
                publisher: Uuid::nil(),
                seq: event.seq,
                event: Event {
                    topic: Topic::user(event.user_id),
                    payload: EventPayload::User(event),
                },
            }))
            .unwrap();
    }
}

async fn next(feed: &mut Box<dyn Feed>) -> FeedItem {
    tokio::time::timeout(Duration::from_secs(5), feed.next())
        .await
        .expect("the feed yields within 5 s")
}

fn seq(item: FeedItem) -> u64 {
    match item {
        FeedItem::Event(event) => event.seq,
        FeedItem::Close(reason) => panic!("closed: {reason:?}"),
    }
}

#[tokio::test]
async fn live_events_come_in_order_and_duplicates_are_dropped() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let h = harness(repo_with(user, session, 10), user, session, config());
    let mut feed = h.service.open("t", None).await.unwrap();
    assert_eq!(feed.opened_at(), 10);
    for n in [10, 11, 11, 12] {
        h.publish(event(user, n));
    }
    // Another user's event is not this socket's.
    h.publish(event(Uuid::now_v7(), 13));
    assert_eq!(seq(next(&mut feed).await), 11);
    assert_eq!(seq(next(&mut feed).await), 12);
}

#[tokio::test]
async fn a_gap_is_filled_from_the_tables() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let mut repo = repo_with(user, session, 1);
    repo.expect_events_after()
        .withf(move |u, after| *u == user && *after == 1)
        .times(1)
        .returning(move |_, _| Ok(vec![event(user, 2), event(user, 3)]));
    let h = harness(repo, user, session, config());
    let mut feed = h.service.open("t", None).await.unwrap();
    h.publish(event(user, 3));
    h.publish(event(user, 2));
    h.publish(event(user, 4));
    let got: Vec<u64> = [
        next(&mut feed).await,
        next(&mut feed).await,
        next(&mut feed).await,
    ]
    .into_iter()
    .map(seq)
    .collect();
    assert_eq!(got, [2, 3, 4]);
}

#[tokio::test]
async fn resuming_replays_from_the_tables_then_goes_live() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let mut repo = repo_with(user, session, 7);
    repo.expect_events_after()
        .withf(|_, after| *after == 4)
        .times(1)
        .returning(move |_, _| Ok(vec![event(user, 5), event(user, 7)]));
    let h = harness(repo, user, session, config());
    let mut feed = h.service.open("t", Some(4)).await.unwrap();
    h.publish(event(user, 7));
    h.publish(event(user, 8));
    let got: Vec<u64> = [
        next(&mut feed).await,
        next(&mut feed).await,
        next(&mut feed).await,
    ]
    .into_iter()
    .map(seq)
    .collect();
    assert_eq!(got, [5, 7, 8]);
}

#[tokio::test]
async fn a_resume_message_replays_what_the_client_lacks() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let mut repo = repo_with(user, session, 3);
    repo.expect_events_after()
        .withf(|_, after| *after == 2)
        .times(1)
        .returning(move |_, _| Ok(vec![event(user, 3)]));
    let h = harness(repo, user, session, config());
    let mut feed = h.service.open("t", None).await.unwrap();
    feed.resume(2);
    assert_eq!(seq(next(&mut feed).await), 3);
}

#[tokio::test]
async fn a_socket_that_falls_behind_its_queue_is_cut_off() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let h = harness(repo_with(user, session, 0), user, session, config());
    let mut feed = h.service.open("t", None).await.unwrap();
    for n in 1..=10 {
        h.publish(event(user, n));
    }
    // The queue held 4; the fifth cut the socket off.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for n in 1..=4 {
        assert_eq!(seq(next(&mut feed).await), n);
    }
    assert_eq!(
        next(&mut feed).await,
        FeedItem::Close(CloseReason::Overflow)
    );
}

#[tokio::test]
async fn a_revoked_session_closes_its_socket() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let h = harness(repo_with(user, session, 0), user, session, config());
    let mut feed = h.service.open("t", None).await.unwrap();
    let now = Utc::now();
    h.revocations.insert(&[Revocation {
        session_id: h.session,
        revoked_at: now,
        expires_at: now + chrono::Duration::minutes(15),
    }]);
    assert_eq!(next(&mut feed).await, FeedItem::Close(CloseReason::Revoked));
}

#[tokio::test]
async fn tickets_that_cannot_be_used_are_refused() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    let expired = Ticket {
        expires_at: now - chrono::Duration::seconds(1),
        ..ticket(user, session)
    };
    let token_gone = Ticket {
        access_expires_at: now - chrono::Duration::seconds(1),
        ..ticket(user, session)
    };
    for found in [
        None,
        Some(expired),
        Some(token_gone),
        Some(ticket(user, session)),
    ] {
        let mut repo = MockRealtimeRepository::new();
        repo.expect_take_ticket().returning(move |_| Ok(found));
        let h = harness(repo, user, session, config());
        // The last one is fine but its session was revoked.
        h.revocations.insert(&[Revocation {
            session_id: session,
            revoked_at: now,
            expires_at: now + chrono::Duration::minutes(15),
        }]);
        let refused = h.service.open("t", None).await.err();
        assert!(
            matches!(refused, Some(ServiceError::InvalidTicket)),
            "{found:?}"
        );
        assert_eq!(h.service.registry.count(h.user), 0);
    }
}

#[tokio::test]
async fn sockets_per_user_are_limited_and_given_back() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let h = harness(repo_with(user, session, 0), user, session, config());
    let first = h.service.open("a", None).await.unwrap();
    let _second = h.service.open("b", None).await.unwrap();
    let third = h.service.open("c", None).await.err();
    assert!(matches!(third, Some(ServiceError::TooManySockets)));
    drop(first);
    assert_eq!(h.service.registry.count(user), 1);
    assert!(h.service.open("d", None).await.is_ok());
}

#[tokio::test]
async fn a_ticket_is_stored_as_a_hash_and_never_outlives_its_token() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let access_expires_at = Utc::now() + chrono::Duration::seconds(5);
    let mut repo = MockRealtimeRepository::new();
    repo.expect_store_ticket()
        .withf(move |t, _| {
            t.user_id == user
                && t.session_id == session
                && t.token_hash.len() == 64
                && t.expires_at == access_expires_at
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let h = harness(repo, user, session, config());
    let caller = Principal {
        user_id: user,
        session_id: session,
        role: Role::User,
    };
    let issued = h
        .service
        .issue_ticket(&caller, access_expires_at)
        .await
        .unwrap();
    assert_eq!(issued.expires_at, access_expires_at);
    assert!(issued.ticket.len() >= 43, "256 bits, base64url");
    assert_ne!(hash_refresh_token(&issued.ticket), issued.ticket);
}

#[tokio::test]
async fn a_gap_the_tables_cannot_fill_does_not_stall_the_feed() {
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let mut repo = repo_with(user, session, 0);
    // Event 1 never reached this instance and its row is gone since.
    repo.expect_events_after().returning(|_, _| Ok(Vec::new()));
    let h = harness(repo, user, session, config());
    let mut feed = h.service.open("t", None).await.unwrap();
    h.publish(event(user, 2));
    h.publish(event(user, 3));
    assert_eq!(seq(next(&mut feed).await), 2);
    assert_eq!(seq(next(&mut feed).await), 3);
}
