//! HTTP caching over real HTTP: the public catalog revalidates by the
//! catalog version (304 with the 200's headers) and never answers an old
//! price; private resources are `private, no-cache` with 304s; and two
//! instances sharing Redis see a price change at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Response;
use serde_json::{Value, json};
use strata_tests::{Backend, TestApp, TestUser, for_each_backend, serve};

const PRODUCTS: &str = "/api/v1/products?sort=name&limit=10";

async fn get(address: &str, path: &str, token: Option<&str>, tag: Option<&str>) -> Response {
    let mut req = reqwest::Client::new().get(format!("{address}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(tag) = tag {
        req = req.header("if-none-match", tag);
    }
    req.send().await.unwrap()
}

fn header(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

fn validators(response: &Response) -> [String; 3] {
    ["etag", "cache-control", "vary"].map(|name| header(response, name))
}

/// A category and a product priced `price`; returns the product.
async fn shop(address: &str, admin: &str, price: i64) -> Value {
    let client = reqwest::Client::new();
    let category: Value = client
        .post(format!("{address}/api/v1/categories"))
        .bearer_auth(admin)
        .json(&json!({"name": "Kitchen"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product = client
        .post(format!("{address}/api/v1/products"))
        .bearer_auth(admin)
        .json(
            &json!({"name": "Blue Mug", "price": price, "currency": "EUR",
                      "stock_quantity": 5, "category_id": category["id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(product.status(), 201);
    product.json().await.unwrap()
}

/// Sets the product's price through `address`, with the `If-Match` it needs.
async fn reprice(address: &str, admin: &str, product: &Value, price: i64) {
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let current = get(address, &path, Some(admin), None).await;
    let tag = header(&current, "etag");
    let updated = reqwest::Client::new()
        .patch(format!("{address}{path}"))
        .bearer_auth(admin)
        .header("if-match", tag)
        .json(&json!({"price": price}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
}

async fn first_price(response: Response) -> i64 {
    let page: Value = response.json().await.unwrap();
    page["items"][0]["price"].as_i64().unwrap()
}

#[tokio::test]
async fn the_catalog_revalidates_by_version_and_never_answers_an_old_price() {
    for_each_backend(|app| async move {
        let admin = app.admin().await.access;
        let mug = shop(&app.address, &admin, 1250).await;

        let first = get(&app.address, PRODUCTS, None, None).await;
        assert_eq!(first.status(), 200);
        let [tag, cache_control, vary] = validators(&first);
        assert!(tag.starts_with("W/\"catalog-"), "{tag}");
        assert_eq!(cache_control, "public, no-cache");
        // The CORS layer adds its own names after these.
        assert!(
            vary.starts_with("Authorization, Cookie, Accept-Encoding"),
            "{vary}"
        );
        assert_eq!(first_price(first).await, 1250);

        // A current copy: 304, no body, the 200's headers; signed in or not,
        // the public list is the same.
        let current = get(&app.address, PRODUCTS, Some(&admin), Some(&tag)).await;
        assert_eq!(current.status(), 304);
        assert_eq!(validators(&current), [tag.clone(), cache_control, vary]);
        assert!(current.bytes().await.unwrap().is_empty());

        // A price change: the old copy is answered anew, with the new price.
        reprice(&app.address, &admin, &mug, 990).await;
        let changed = get(&app.address, PRODUCTS, None, Some(&tag)).await;
        assert_eq!(changed.status(), 200);
        assert_ne!(header(&changed, "etag"), tag);
        assert_eq!(first_price(changed).await, 990);

        // An order moves the stock, which the list shows: a new version too.
        let buyer = app.registered(&TestUser::generate()).await.access;
        let before = get(&app.address, PRODUCTS, None, None).await;
        let before_tag = header(&before, "etag");
        let order = app
            .post_json(
                "/api/v1/orders",
                &json!({"items": [{"product_id": mug["id"], "quantity": 2}]}),
                Some(&buyer),
            )
            .await;
        assert_eq!(order.status(), 201);
        let after = get(&app.address, PRODUCTS, None, Some(&before_tag)).await;
        assert_eq!(after.status(), 200);
        let page: Value = after.json().await.unwrap();
        assert_eq!(page["items"][0]["stock_quantity"], 3);

        // One product revalidates by its own version (its If-Match tag).
        let path = format!("/api/v1/products/{}", mug["id"].as_str().unwrap());
        let one = get(&app.address, &path, None, None).await;
        let one_tag = header(&one, "etag");
        assert_eq!(header(&one, "cache-control"), "public, no-cache");
        let again = get(&app.address, &path, None, Some(&one_tag)).await;
        assert_eq!(again.status(), 304);
        assert_eq!(header(&again, "etag"), one_tag);
    })
    .await;
}

#[tokio::test]
async fn private_resources_are_private_and_revalidate() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await.access;
        let created = app
            .post_json("/api/v1/items", &json!({"title": "Milk"}), Some(&alice))
            .await;
        assert_eq!(created.status(), 201);
        let item: Value = created.json().await.unwrap();
        let path = format!("/api/v1/items/{}", item["id"].as_str().unwrap());

        for path in [path.as_str(), "/api/v1/items", "/api/v1/orders"] {
            let first = get(&app.address, path, Some(&alice), None).await;
            assert_eq!(first.status(), 200, "{path}");
            let [tag, cache_control, vary] = validators(&first);
            assert_eq!(cache_control, "private, no-cache", "{path}");
            let again = get(&app.address, path, Some(&alice), Some(&tag)).await;
            assert_eq!(again.status(), 304, "{path}");
            assert_eq!(validators(&again), [tag, cache_control, vary], "{path}");
        }

        // An edit changes the item's tag and the list's.
        let list_tag = header(
            &get(&app.address, "/api/v1/items", Some(&alice), None).await,
            "etag",
        );
        let edited = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&alice)
            .json(&json!({"title": "Oat milk"}))
            .send()
            .await
            .unwrap();
        assert_eq!(edited.status(), 200);
        let list = get(&app.address, "/api/v1/items", Some(&alice), Some(&list_tag)).await;
        assert_eq!(list.status(), 200);

        // Another user's tag guess reveals nothing: their item is still 404.
        let bob = app.registered(&TestUser::generate()).await.access;
        let other = get(&app.address, &path, Some(&bob), Some("*")).await;
        assert_eq!(other.status(), 404);
    })
    .await;
}

#[tokio::test]
async fn two_instances_sharing_redis_see_a_price_change_at_once() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!(
            "TEST_REDIS_URL is not set: the shared-cache test runs in CI, where .ci/run starts Redis"
        );
        return;
    };
    let backend = match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) => Backend::Postgres(url),
        Err(_) => Backend::Sqlite,
    };
    let prefix = format!("strata-test-{}", uuid::Uuid::new_v4().simple());
    let overrides = [
        ("APP__REDIS__URL", redis_url.as_str()),
        ("APP__REDIS__KEY_PREFIX", prefix.as_str()),
    ];
    let a = TestApp::spawn_with(&backend, &overrides).await;
    let (b, _b_handle) = serve(&a.database, &overrides).await;
    let admin = a.admin().await.access;
    let mug = shop(&a.address, &admin, 1250).await;

    // A renders the page and keeps it; asked for again, it shares it in
    // Redis, where B finds it. A page asked for once never reaches Redis.
    let mut redis = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pattern = format!("{prefix}:catalog:*");
    let mut shared = async || -> Vec<String> {
        redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut redis)
            .await
            .unwrap()
    };
    let from_a = get(&a.address, PRODUCTS, None, None).await;
    let tag = header(&from_a, "etag");
    let body_a = from_a.bytes().await.unwrap();
    assert!(shared().await.is_empty());
    let again = get(&a.address, PRODUCTS, None, None).await;
    assert_eq!(again.bytes().await.unwrap(), body_a);
    let stored = shared().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let from_b = get(&b, PRODUCTS, None, None).await;
    assert_eq!(header(&from_b, "etag"), tag);
    assert_eq!(from_b.bytes().await.unwrap(), body_a);
    assert_eq!(get(&b, PRODUCTS, None, Some(&tag)).await.status(), 304);

    // A price change through A is what B answers next, old copy or not.
    for (through, price) in [(&a.address, 990), (&b, 870)] {
        reprice(through, &admin, &mug, price).await;
        for instance in [&a.address, &b] {
            let fresh = get(instance, PRODUCTS, None, Some(&tag)).await;
            assert_eq!(fresh.status(), 200);
            assert_eq!(first_price(fresh).await, price, "{instance}");
        }
    }
}
