//! `Idempotency-Key` over real HTTP on every backend: retries replay the
//! first answer and create nothing, racing retries create once, another
//! payload under the same key is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::future::join_all;
use reqwest::Response;
use serde_json::{Value, json};
use strata_tests::{TestApp, TestUser, assert_problem, for_each_backend};

async fn keyed(app: &TestApp, token: &str, path: &str, key: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn total(app: &TestApp, token: &str, path: &str) -> u64 {
    let page: Value = app.get(path, Some(token)).await.json().await.unwrap();
    page["total"].as_u64().unwrap()
}

async fn stock(app: &TestApp, product_path: &str) -> i64 {
    let product: Value = app.get(product_path, None).await.json().await.unwrap();
    product["stock_quantity"].as_i64().unwrap()
}

#[tokio::test]
async fn a_retry_replays_the_first_answer_and_creates_nothing() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await;
        let milk = json!({"title": "Milk"});
        let first = keyed(&app, &alice.access, "/api/v1/items", "\"buy-1\"", &milk).await;
        assert_eq!(first.status(), 201);
        assert!(first.headers().get("idempotent-replayed").is_none());
        let location = first.headers()["location"].clone();
        let etag = first.headers()["etag"].clone();
        let created: Value = first.json().await.unwrap();

        // Sent bare or quoted, it is the same key; JSON spacing is not
        // another payload.
        let again = app
            .client
            .post(app.url("/api/v1/items"))
            .bearer_auth(&alice.access)
            .header("Idempotency-Key", "buy-1")
            .header("content-type", "application/json")
            .body("{ \"title\" :  \"Milk\" }")
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"], location);
        assert_eq!(again.headers()["etag"], etag);
        assert_eq!(again.headers()["content-type"], "application/json");
        assert_eq!(again.json::<Value>().await.unwrap(), created);
        assert_eq!(total(&app, &alice.access, "/api/v1/items").await, 1);

        // The same key with another payload, or on another route: 422.
        let bread = json!({"title": "Bread"});
        assert_problem(
            keyed(&app, &alice.access, "/api/v1/items", "buy-1", &bread).await,
            422,
            "IDEMPOTENCY_KEY_REUSED",
        )
        .await;
        let post = json!({"title": "Milk", "body": "text"});
        assert_problem(
            keyed(&app, &alice.access, "/api/v1/posts", "buy-1", &post).await,
            422,
            "IDEMPOTENCY_KEY_REUSED",
        )
        .await;
        // Another user's identical key is theirs alone.
        let bob = app.registered(&TestUser::generate()).await;
        let theirs = keyed(&app, &bob.access, "/api/v1/items", "buy-1", &milk).await;
        assert_eq!(theirs.status(), 201);
        assert!(theirs.headers().get("idempotent-replayed").is_none());
        assert_eq!(total(&app, &alice.access, "/api/v1/items").await, 1);

        // A key whose request failed is free for the corrected retry.
        assert_problem(
            keyed(
                &app,
                &alice.access,
                "/api/v1/posts",
                "post-1",
                &json!({"title": "x", "body": " "}),
            )
            .await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        let missing = format!("/api/v1/posts/{}/comments", uuid::Uuid::now_v7());
        assert_problem(
            keyed(
                &app,
                &alice.access,
                &missing,
                "comment-1",
                &json!({"body": "hi"}),
            )
            .await,
            404,
            "NOT_FOUND",
        )
        .await;
        let published = keyed(&app, &alice.access, "/api/v1/posts", "post-1", &post).await;
        assert_eq!(published.status(), 201);
        let post_id = published.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let comments = format!("/api/v1/posts/{post_id}/comments");
        for _ in 0..2 {
            let comment = keyed(
                &app,
                &alice.access,
                &comments,
                "comment-1",
                &json!({"body": "hi"}),
            )
            .await;
            assert_eq!(comment.status(), 201);
        }
        assert_eq!(total(&app, &alice.access, &comments).await, 1);

        // Malformed keys never reach the service.
        assert_problem(
            keyed(
                &app,
                &alice.access,
                "/api/v1/items",
                &"k".repeat(256),
                &milk,
            )
            .await,
            400,
            "INVALID_IDEMPOTENCY_KEY",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn racing_retries_under_one_key_create_once() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await;
        let milk = json!({"title": "Milk"});
        let answers =
            join_all((0..12).map(|_| keyed(&app, &alice.access, "/api/v1/items", "race", &milk)))
                .await;
        let mut ids = Vec::new();
        for answer in answers {
            match answer.status().as_u16() {
                201 => {
                    let body: Value = answer.json().await.unwrap();
                    ids.push(body["id"].as_str().unwrap().to_owned());
                }
                409 => {
                    assert!(answer.headers().contains_key("retry-after"));
                    assert_problem(answer, 409, "IDEMPOTENCY_IN_PROGRESS").await;
                }
                other => panic!("unexpected status {other}"),
            }
        }
        assert!(!ids.is_empty());
        ids.dedup();
        assert_eq!(ids.len(), 1, "every 201 names the one item");
        assert_eq!(total(&app, &alice.access, "/api/v1/items").await, 1);
        // Once the first finished, a retry replays it.
        let late = keyed(&app, &alice.access, "/api/v1/items", "race", &milk).await;
        assert_eq!(late.status(), 201);
        assert_eq!(late.headers()["idempotent-replayed"], "true");
        assert_eq!(late.json::<Value>().await.unwrap()["id"], ids[0].as_str());
    })
    .await;
}

#[tokio::test]
async fn admin_creates_and_job_starts_replay_too() {
    for_each_backend(|app| async move {
        let admin = app.admin().await;
        let user = TestUser::generate();
        let account =
            json!({"email": user.email, "username": user.username, "password": user.password});
        let first = keyed(&app, &admin.access, "/api/v1/users", "u-1", &account).await;
        assert_eq!(first.status(), 201);
        let again = keyed(&app, &admin.access, "/api/v1/users", "u-1", &account).await;
        assert_eq!(
            again.status(),
            201,
            "not 409 EMAIL_TAKEN: the account is the first one"
        );
        assert_eq!(again.headers()["idempotent-replayed"], "true");

        let export = json!({"format": "json"});
        let job = keyed(&app, &admin.access, "/api/v1/users/exports", "e-1", &export).await;
        assert_eq!(job.status(), 202);
        let job: Value = job.json().await.unwrap();
        let replayed = keyed(&app, &admin.access, "/api/v1/users/exports", "e-1", &export).await;
        assert_eq!(replayed.status(), 202);
        assert_eq!(replayed.json::<Value>().await.unwrap()["id"], job["id"]);
        let jobs: Value = app
            .get("/api/v1/jobs", Some(&admin.access))
            .await
            .json()
            .await
            .unwrap();
        let exports = jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["kind"] == "export_users")
            .count();
        assert_eq!(exports, 1);
    })
    .await;
}

#[tokio::test]
async fn a_retried_order_takes_stock_once_and_a_refused_one_keeps_no_key() {
    for_each_backend(|app| async move {
        let admin = app.admin().await.access;
        let shelf = app
            .post_json(
                "/api/v1/categories",
                &json!({"name": "Shelf"}),
                Some(&admin),
            )
            .await;
        assert_eq!(shelf.status(), 201);
        let shelf: Value = shelf.json().await.unwrap();
        let tea = app
            .post_json(
                "/api/v1/products",
                &json!({"name": "Tea", "price": 450, "currency": "EUR", "stock_quantity": 4,
                        "category_id": shelf["id"]}),
                Some(&admin),
            )
            .await;
        assert_eq!(tea.status(), 201);
        let tea: Value = tea.json().await.unwrap();
        let tea_path = format!("/api/v1/products/{}", tea["id"].as_str().unwrap());
        let buyer = app.registered(&TestUser::generate()).await.access;
        let two = json!({"items": [{"product_id": tea["id"], "quantity": 2}]});

        let first = keyed(&app, &buyer, "/api/v1/orders", "order-1", &two).await;
        assert_eq!(first.status(), 201);
        let location = first.headers()["location"].clone();
        let first: Value = first.json().await.unwrap();
        let again = keyed(&app, &buyer, "/api/v1/orders", "order-1", &two).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"], location);
        assert_eq!(again.json::<Value>().await.unwrap(), first);
        assert_eq!(stock(&app, &tea_path).await, 2, "the retry took no stock");
        assert_eq!(total(&app, &buyer, "/api/v1/orders").await, 1);

        // Racing retries: one order; the others replay it or wait for it.
        let one = json!({"items": [{"product_id": tea["id"], "quantity": 1}]});
        let answers =
            join_all((0..8).map(|_| keyed(&app, &buyer, "/api/v1/orders", "order-3", &one))).await;
        for answer in answers {
            match answer.status().as_u16() {
                201 => {}
                409 => {
                    assert_problem(answer, 409, "IDEMPOTENCY_IN_PROGRESS").await;
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(stock(&app, &tea_path).await, 1);
        assert_eq!(total(&app, &buyer, "/api/v1/orders").await, 2);

        // A refused order stores nothing under its key: the retry runs again
        // (and is refused again), and the key then serves a smaller order.
        for _ in 0..2 {
            let short = keyed(&app, &buyer, "/api/v1/orders", "order-2", &two).await;
            assert_problem(short, 409, "OUT_OF_STOCK").await;
        }
        let last = keyed(&app, &buyer, "/api/v1/orders", "order-2", &one).await;
        assert_eq!(last.status(), 201);
        assert!(last.headers().get("idempotent-replayed").is_none());
        assert_eq!(stock(&app, &tea_path).await, 0);
        assert_eq!(total(&app, &buyer, "/api/v1/orders").await, 3);
    })
    .await;
}
