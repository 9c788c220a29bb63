//! The WebSocket across two real instances on one PostgreSQL database: a
//! socket held by A hears of a comment made through B and of a job run by
//! B's worker, over PostgreSQL `NOTIFY` and, when `TEST_REDIS_URL` is set,
//! over Redis; and a logout on B closes A's socket of that session.
//! Skipped with a note when `TEST_POSTGRES_URL` (or `TEST_REDIS_URL`) is
//! unset; failed when set but unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};
use strata_tests::socket::{self, Frame};
use strata_tests::{Backend, TestDatabase, TestUser, serve};

const WAIT: Duration = Duration::from_secs(10);

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn register(client: &Client, address: &str) -> String {
    let response = client
        .post(format!("{address}/api/v1/auth/register"))
        .json(&TestUser::generate().registration())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    json_of(response).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn across_instances(bus: &str, overrides: &[(&str, &str)]) {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("TEST_POSTGRES_URL is not set: the two-instance test runs in CI");
        return;
    };
    let database = TestDatabase::create(&Backend::Postgres(url)).await;
    // A holds the socket and runs no jobs; B runs them.
    let mut a_overrides = overrides.to_vec();
    a_overrides.push(("APP__JOBS__WORKERS", "0"));
    let (a, a_handle) = serve(&database, &a_overrides).await;
    let mut b_overrides = overrides.to_vec();
    b_overrides.push(("APP__JOBS__WORKERS", "2"));
    let (b, b_handle) = serve(&database, &b_overrides).await;
    let client = Client::new();
    let author = register(&client, &a).await;
    let reader = register(&client, &b).await;

    let ticket = socket::ticket(&client, &a, &author).await;
    let mut live = socket::open(&a, &ticket, None, None).await.unwrap();
    let start = live.json(WAIT).await["seq"].as_u64().unwrap();

    // A comment made through B.
    let post = json_of(
        client
            .post(format!("{a}/api/v1/posts"))
            .bearer_auth(&author)
            .json(&json!({"title": "Across", "body": "instances"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let started = Instant::now();
    let commented = client
        .post(format!(
            "{b}/api/v1/posts/{}/comments",
            post["id"].as_str().unwrap()
        ))
        .bearer_auth(&reader)
        .json(&json!({"body": "from B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(commented.status(), 201);
    let told = live.json(WAIT).await;
    assert_eq!(told["type"], "notification.created", "{bus}: {told}");
    assert_eq!(told["seq"], start + 1);
    eprintln!(
        "{bus}: comment on B reached A's socket {:?} after the request was sent",
        started.elapsed()
    );

    // A job asked of A, run by B's worker.
    let csv: String = std::iter::once("title,description\n".to_owned())
        .chain((0..1200).map(|n| format!("Row {n},across\n")))
        .collect();
    let import = client
        .post(format!("{a}/api/v1/items/imports"))
        .bearer_auth(&author)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(import.status(), 202);
    let job = json_of(import).await;
    let mut kinds = Vec::new();
    let mut last = start + 1;
    while !kinds.contains(&"job.finished".to_owned()) {
        let message = live.json(WAIT).await;
        let seq = message["seq"].as_u64().unwrap();
        assert!(
            seq > last,
            "{bus}: in order, once each ({seq} after {last})"
        );
        last = seq;
        if message["type"] != "notification.created" {
            assert_eq!(message["data"]["job_id"], job["id"]);
        }
        kinds.push(message["type"].as_str().unwrap().to_owned());
    }
    assert!(
        kinds.contains(&"job.progress".to_owned()),
        "{bus}: {kinds:?}"
    );

    // A logout through B closes A's socket of that session.
    let logout = client
        .post(format!("{b}/api/v1/auth/logout"))
        .bearer_auth(&author)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let started = Instant::now();
    loop {
        match live.next(WAIT).await {
            Frame::Closed(code) => {
                assert_eq!(code, Some(4001), "{bus}");
                break;
            }
            // The job's notification may still be on its way.
            Frame::Json(_) => {}
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2), "{bus}");
    a_handle.stop(false).await;
    b_handle.stop(false).await;
}

#[tokio::test]
async fn a_socket_on_one_instance_hears_of_changes_made_on_another_over_postgres() {
    across_instances("postgres", &[]).await;
}

#[tokio::test]
async fn a_socket_on_one_instance_hears_of_changes_made_on_another_over_redis() {
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("TEST_REDIS_URL is not set: the Redis variant runs in CI");
        return;
    };
    let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
    across_instances(
        "redis",
        &[
            ("APP__REDIS__URL", redis.as_str()),
            ("APP__REDIS__KEY_PREFIX", prefix.as_str()),
        ],
    )
    .await;
}
