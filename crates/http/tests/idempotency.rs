//! Handler tests of `Idempotency-Key` with mocked services: the first answer
//! is what gets stored, replays repeat it, and refusals are problems.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use actix_web::test::TestRequest;
use chrono::Utc;
use serde_json::json;
use strata_domain::idempotency::{Attempt, IdempotencyKey, StoredResponse};
use strata_domain::items::{Item, Title};
use strata_service::{Keyed, ServiceError};
use uuid::Uuid;

mod common;

use common::*;

fn item() -> Item {
    let now = Utc::now();
    Item {
        id: Uuid::from_u128(42),
        title: Title::parse("Milk").unwrap(),
        description: None,
        owner_id: principal().user_id,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn attempt() -> Attempt {
    Attempt {
        principal_id: principal().user_id,
        key: IdempotencyKey::parse("k-1").unwrap(),
        token: Uuid::from_u128(9),
    }
}

fn keyed_post(key: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/items")
        .insert_header(bearer(TOKEN))
        .insert_header(("Idempotency-Key", key))
        .set_json(json!({"title": "Milk"}))
}

#[actix_web::test]
async fn a_keyed_create_stores_the_answer_it_gives() {
    let mut mocks = Mocks::new();
    let fingerprints = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&fingerprints);
    mocks
        .idempotency
        .expect_claim()
        .withf(|caller, key, _| *caller == principal() && key.as_str() == "k-1")
        .times(1)
        .returning(move |_, _, fingerprint| {
            seen.lock().unwrap().push(fingerprint);
            Ok(Keyed::Run(attempt()))
        });
    mocks.idempotency.expect_release().never();
    let stored = Arc::new(Mutex::new(None));
    let kept = Arc::clone(&stored);
    mocks
        .items
        .expect_create()
        .times(1)
        .returning(move |_, _, once| {
            let created = item();
            let (done, answer) = once.expect("a completion").finish(&created);
            assert_eq!(done, attempt());
            *kept.lock().unwrap() = Some(answer);
            Ok(created)
        });
    // The quoted form of RFC 8941 names the same key.
    let (status, headers, body) = call(mocks, keyed_post("\"k-1\"")).await;
    assert_eq!(status, 201);
    assert!(headers.get("idempotent-replayed").is_none());
    let answer = stored.lock().unwrap().take().unwrap();
    assert_eq!(answer.status, 201);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&answer.body).unwrap(),
        body
    );
    let location = headers.get("location").unwrap().to_str().unwrap();
    assert!(
        answer
            .headers
            .contains(&("location".to_owned(), location.to_owned()))
    );
    assert!(answer.headers.iter().any(|(name, _)| name == "etag"));
    assert_eq!(fingerprints.lock().unwrap()[0].len(), 64);
}

#[actix_web::test]
async fn a_completed_key_replays_without_creating() {
    let mut mocks = Mocks::new();
    mocks
        .idempotency
        .expect_claim()
        .times(1)
        .returning(|_, _, _| {
            Ok(Keyed::Replay(StoredResponse {
                status: 201,
                headers: vec![
                    ("location".into(), "/api/v1/items/1".into()),
                    ("content-type".into(), "application/json".into()),
                ],
                body: br#"{"id":"first"}"#.to_vec(),
            }))
        });
    mocks.items.expect_create().never();
    let (status, headers, body) = call(mocks, keyed_post("k-1")).await;
    assert_eq!(status, 201);
    assert_eq!(headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(headers.get("location").unwrap(), "/api/v1/items/1");
    assert_eq!(body, json!({"id": "first"}));
}

#[actix_web::test]
async fn a_reused_or_busy_key_is_a_problem() {
    let mut mocks = Mocks::new();
    mocks
        .idempotency
        .expect_claim()
        .returning(|_, _, _| Err(ServiceError::IdempotencyKeyReused));
    mocks.items.expect_create().never();
    let (status, headers, body) = call(mocks, keyed_post("k-1")).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "IDEMPOTENCY_KEY_REUSED");

    let mut mocks = Mocks::new();
    mocks.idempotency.expect_claim().returning(|_, _, _| {
        Err(ServiceError::IdempotencyInProgress {
            retry_after_secs: 7,
        })
    });
    mocks.items.expect_create().never();
    let (status, headers, body) = call(mocks, keyed_post("k-1")).await;
    assert_eq!(status, 409);
    assert_problem(&headers, &body, 409, "IDEMPOTENCY_IN_PROGRESS");
    assert_eq!(headers.get("retry-after").unwrap(), "7");
}

#[actix_web::test]
async fn a_malformed_key_is_400_before_anything_runs() {
    for bad in ["", "two words", &"k".repeat(256)] {
        let mut mocks = Mocks::new();
        mocks.idempotency.expect_claim().never();
        mocks.items.expect_create().never();
        let (status, headers, body) = call(mocks, keyed_post(bad)).await;
        assert_eq!(status, 400, "{bad:?}");
        assert_problem(&headers, &body, 400, "INVALID_IDEMPOTENCY_KEY");
    }
}

#[actix_web::test]
async fn a_failed_create_gives_its_key_up() {
    let mut mocks = Mocks::new();
    mocks
        .idempotency
        .expect_claim()
        .returning(|_, _, _| Ok(Keyed::Run(attempt())));
    let (released, was_released) = tokio::sync::oneshot::channel();
    let released = Mutex::new(Some(released));
    mocks
        .idempotency
        .expect_release()
        .withf(|attempt_| *attempt_ == attempt())
        .times(1)
        .returning(move |_| {
            if let Some(tell) = released.lock().unwrap().take() {
                let _ = tell.send(());
            }
            Ok(())
        });
    mocks
        .items
        .expect_create()
        .returning(|_, _, _| Err(ServiceError::NotFound));
    let (status, _, _) = call(mocks, keyed_post("k-1")).await;
    assert_eq!(status, 404);
    // The release runs in a task of its own.
    tokio::time::timeout(std::time::Duration::from_secs(5), was_released)
        .await
        .unwrap()
        .unwrap();
}

#[actix_web::test]
async fn without_a_key_nothing_is_claimed() {
    let mut mocks = Mocks::new();
    mocks.idempotency.expect_claim().never();
    mocks
        .items
        .expect_create()
        .withf(|_, _, once| once.is_none())
        .returning(|_, _, _| Ok(item()));
    let req = TestRequest::post()
        .uri("/api/v1/items")
        .insert_header(bearer(TOKEN))
        .set_json(json!({"title": "Milk"}));
    let (status, _, _) = call(mocks, req).await;
    assert_eq!(status, 201);
}
