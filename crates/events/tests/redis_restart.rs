//! A Redis that dies and comes back: the bus degrades (publishes fail, and
//! say so) and recovers by itself, announcing `Resubscribed` so consumers
//! resync. Runs its own `redis-server` on a free port, so the shared one is
//! never disturbed; gated on `TEST_REDIS_URL` like the other Redis tests
//! (the server binary must then be installed too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata_domain::events::{Delivery, Event, EventBus, EventPayload, Topic, TopicFilter};
use strata_events::RedisBus;
use uuid::Uuid;

struct Server(Child);

impl Server {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("TEST_REDIS_URL is set but redis-server cannot be started");
        Self(child)
    }

    fn stop(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn changed() -> Event {
    Event {
        topic: Topic::users(),
        payload: EventPayload::UserChanged {
            user_id: Uuid::now_v7(),
        },
    }
}

async fn connect(url: &str) -> RedisBus {
    let started = Instant::now();
    loop {
        match RedisBus::connect(url, "strata:events").await {
            Ok(bus) => return bus,
            Err(err) if started.elapsed() > Duration::from_secs(5) => panic!("{err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn a_bus_whose_redis_restarts_degrades_then_recovers_by_itself() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        eprintln!("TEST_REDIS_URL is not set: skipping");
        return;
    }
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let server = Server::start(port);
    let bus = connect(&url).await;
    let mut subscription = bus.subscribe(TopicFilter::All);
    server.stop();
    assert!(
        bus.publish(changed()).await.is_err(),
        "a dead Redis fails the publish"
    );

    let _server = Server::start(port);
    let deadline = Duration::from_secs(15);
    let announced = tokio::time::timeout(deadline, async {
        loop {
            if subscription.next().await == Some(Delivery::Resubscribed) {
                break;
            }
        }
    })
    .await;
    assert!(announced.is_ok(), "no resubscription within {deadline:?}");
    // The publishing connection reconnects by itself as well.
    let started = Instant::now();
    while bus.publish(changed()).await.is_err() {
        assert!(started.elapsed() < deadline, "publishing never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = tokio::time::timeout(deadline, subscription.next())
        .await
        .unwrap();
    assert!(
        matches!(delivered, Some(Delivery::Event(_))),
        "{delivered:?}"
    );
}

/// The subscriber's keep-alive ping must not itself break the link: a
/// subscription that outlives a few pings stays subscribed (no
/// `Resubscribed`) and keeps receiving.
#[tokio::test]
async fn a_quiet_subscription_survives_its_keepalive_pings() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("TEST_REDIS_URL is not set: skipping");
        return;
    };
    let channel = format!("strata-test-{}", Uuid::new_v4().simple());
    let bus = RedisBus::connect(&url, &channel).await.unwrap();
    let mut subscription = bus.subscribe(TopicFilter::All);
    // Past the first ping (every 10 s).
    tokio::time::sleep(Duration::from_secs(11)).await;
    bus.publish(changed()).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(delivery, Delivery::Event(_)),
        "no reconnect in between: {delivery:?}"
    );
}
