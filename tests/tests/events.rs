//! Two real instances on one PostgreSQL database: a token logged out on A
//! must be refused by B at once, over PostgreSQL `NOTIFY` and, when
//! `TEST_REDIS_URL` is set, over Redis. The revocation poll is set to an
//! hour, so only the event bus can explain a quick refusal.
//!
//! Latency is measured, not asserted against the 100 ms target: the test
//! asserts a bound far below the old 5 s poll and prints p50/p99 to quote
//! (`cargo test -p strata-tests --test events -- --nocapture`).
//! Skipped with a note when `TEST_POSTGRES_URL` (or `TEST_REDIS_URL`) is
//! unset; failed when set but unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use reqwest::Client;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use strata::startup::ServerHandle;
use strata_domain::events::{Delivery, Envelope, EventPayload, Subscription, Topic, TopicFilter};
use strata_service::{AuthService as _, Registration};
use strata_tests::{Backend, TestDatabase, TestUser, serve, settings};

const TRIALS: usize = 100;
/// What B must do better than: far under the 5 s poll it replaced.
const BOUND: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(5);

struct Instance {
    address: String,
    handle: ServerHandle,
}

impl Instance {
    async fn start(database: &TestDatabase, overrides: &[(&str, &str)]) -> Self {
        let mut overrides = overrides.to_vec();
        overrides.extend([
            // Only the bus can make B refuse the token within the test.
            ("APP__AUTH__REVOCATION_POLL_SECS", "3600"),
            ("APP__JOBS__WORKERS", "0"),
        ]);
        let (address, handle) = serve(database, &overrides).await;
        Self { address, handle }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

async fn login(client: &Client, instance: &Instance, user: &TestUser) -> String {
    let response = client
        .post(instance.url("/api/v1/auth/login"))
        .json(&json!({"username": user.username, "password": user.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn me(client: &Client, instance: &Instance, token: &str) -> u16 {
    client
        .get(instance.url("/api/v1/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Logs in on A, checks B accepts, logs out on A, and times until B refuses.
async fn revocation_reaches_the_other_instance(bus: &str, overrides: &[(&str, &str)]) {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("TEST_POSTGRES_URL is not set: the two-instance test runs in CI");
        return;
    };
    let database = TestDatabase::create(&Backend::Postgres(url)).await;
    let a = Instance::start(&database, overrides).await;
    let b = Instance::start(&database, overrides).await;
    let client = Client::new();
    let user = TestUser::generate();
    let registered = client
        .post(a.url("/api/v1/auth/register"))
        .json(&user.registration())
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);

    let mut latencies = Vec::with_capacity(TRIALS);
    for trial in 0..TRIALS {
        let token = login(&client, &a, &user).await;
        assert_eq!(
            me(&client, &b, &token).await,
            200,
            "{bus} trial {trial}: B accepts first"
        );
        let started = Instant::now();
        let logout = client
            .post(a.url("/api/v1/auth/logout"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), 204, "{bus} trial {trial}");
        loop {
            if me(&client, &b, &token).await == 401 {
                break;
            }
            let waited = started.elapsed();
            assert!(
                waited < BOUND,
                "{bus} trial {trial}: B still accepts after {waited:?}"
            );
            tokio::time::sleep(POLL).await;
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "revocation A -> B over {bus}, {TRIALS} trials, from sending the logout: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[TRIALS - 1],
    );
    a.handle.stop(false).await;
    b.handle.stop(false).await;
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_another_over_postgres_notify() {
    revocation_reaches_the_other_instance("postgres", &[]).await;
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_another_over_redis() {
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("TEST_REDIS_URL is not set: the Redis variant runs in CI");
        return;
    };
    // A channel of this test's own, shared by its two instances only.
    let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
    revocation_reaches_the_other_instance(
        "redis",
        &[
            ("APP__REDIS__URL", redis.as_str()),
            ("APP__REDIS__KEY_PREFIX", prefix.as_str()),
        ],
    )
    .await;
}

/// The next event within `within`, skipping the bus's other deliveries.
async fn next_event(
    subscription: &mut Box<dyn Subscription>,
    within: Duration,
) -> Result<Envelope, tokio::time::error::Elapsed> {
    tokio::time::timeout(within, async {
        loop {
            if let Some(Delivery::Event(envelope)) = subscription.next().await {
                return envelope;
            }
        }
    })
    .await
}

/// A logout whose transaction rolls back (here: the revocations table is
/// gone, so the insert fails after the session row was updated) publishes
/// nothing; the same logout once the write commits does.
#[tokio::test]
async fn a_rolled_back_revocation_is_never_announced_on_postgres() {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    let database = TestDatabase::create(&Backend::Postgres(url)).await;
    let settings = settings(&database.url, &[]);
    let db = strata::startup::database(&settings).await.unwrap();
    let services = strata::startup::services(&settings, db.clone())
        .await
        .unwrap();
    assert_eq!(services.bus.name(), "postgres");
    let user = TestUser::generate();
    let registration =
        Registration::parse(&user.email, &user.username, &user.password, None).unwrap();
    let (_, tokens) = services.auth.register(registration).await.unwrap();
    let principal = services.auth.authenticate(&tokens.access_token).unwrap();
    let mut sessions = services.bus.subscribe(TopicFilter::Only(Topic::sessions()));

    db.execute_unprepared("ALTER TABLE revocations RENAME TO revocations_away")
        .await
        .unwrap();
    assert!(services.auth.logout(&principal).await.is_err());
    let quiet = next_event(&mut sessions, Duration::from_millis(500)).await;
    assert!(
        quiet.is_err(),
        "a rolled-back write was announced: {quiet:?}"
    );

    db.execute_unprepared("ALTER TABLE revocations_away RENAME TO revocations")
        .await
        .unwrap();
    services.auth.logout(&principal).await.unwrap();
    let announced = next_event(&mut sessions, Duration::from_secs(5))
        .await
        .expect("the committed logout was not announced");
    assert!(matches!(
        announced.event.payload,
        EventPayload::SessionsRevoked(ref r) if r.len() == 1 && r[0].session_id == principal.session_id
    ));
}
