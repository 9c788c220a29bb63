//! The catalog and orders over real HTTP, on every backend: browsing,
//! admin writes with `If-Match`, stock that never oversells under a race,
//! cancellation that restocks exactly once, and totals that reconcile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::{TestApp, TestUser, assert_problem, for_each_backend};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let json = body(response).await;
    assert_eq!(status, 201, "{json}");
    assert!(location.unwrap().ends_with(json["id"].as_str().unwrap()));
    json
}

async fn category(app: &TestApp, admin: &str, name: &str) -> Value {
    created(
        app.post_json("/api/v1/categories", &json!({"name": name}), Some(admin))
            .await,
    )
    .await
}

async fn product(app: &TestApp, admin: &str, fields: Value) -> Value {
    created(
        app.post_json("/api/v1/products", &fields, Some(admin))
            .await,
    )
    .await
}

fn id(value: &Value) -> &str {
    value["id"].as_str().unwrap()
}

/// Sends `method` with `If-Match: tag` (when given).
async fn with_tag(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    tag: Option<&str>,
    json: Option<&Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(tag) = tag {
        req = req.header("if-match", tag);
    }
    if let Some(json) = json {
        req = req.json(json);
    }
    req.send().await.unwrap()
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

async fn stock(app: &TestApp, product_id: &str) -> i64 {
    let product = body(
        app.get(&format!("/api/v1/products/{product_id}"), None)
            .await,
    )
    .await;
    product["stock_quantity"].as_i64().unwrap()
}

async fn order(app: &TestApp, token: &str, lines: &[(&str, i64)]) -> reqwest::Response {
    let items: Vec<Value> = lines
        .iter()
        .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
        .collect();
    app.post_json("/api/v1/orders", &json!({ "items": items }), Some(token))
        .await
}

#[tokio::test]
async fn the_catalog_is_browsed_filtered_and_sorted_publicly() {
    for_each_backend(|app| async move {
        let admin = app.admin().await.access;
        let kitchen = category(&app, &admin, "Kitchen").await;
        assert_eq!(kitchen["slug"], "kitchen");
        assert_eq!(kitchen["parent_id"], Value::Null);
        let garden = category(&app, &admin, "Garden").await;
        let mug = product(
            &app,
            &admin,
            json!({"name": "Blue Mug", "price": 1250, "currency": "EUR", "stock_quantity": 5,
                   "category_id": id(&kitchen), "description": "Holds tea"}),
        )
        .await;
        assert_eq!(mug["slug"], "blue-mug");
        assert_eq!(mug["price"], 1250);
        assert_eq!(mug["is_active"], true);
        product(
            &app,
            &admin,
            json!({"name": "Crème Pot", "price": 300, "currency": "EUR", "stock_quantity": 0,
                   "category_id": id(&kitchen)}),
        )
        .await;
        product(
            &app,
            &admin,
            json!({"name": "Rake", "slug": "garden-rake", "price": 2000, "currency": "EUR",
                   "stock_quantity": 2, "category_id": id(&garden)}),
        )
        .await;
        product(
            &app,
            &admin,
            json!({"name": "Hidden", "price": 1, "currency": "EUR", "stock_quantity": 1,
                   "category_id": id(&garden), "is_active": false}),
        )
        .await;

        let names = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let page = body(app.get("/api/v1/products?sort=price", None).await).await;
        assert_eq!(names(&page), ["Crème Pot", "Blue Mug", "Rake"]);
        assert_eq!(page["total"], 3);
        let page = body(app.get("/api/v1/products?sort=-name", None).await).await;
        assert_eq!(names(&page), ["Rake", "Crème Pot", "Blue Mug"]);
        let by_category = format!("/api/v1/products?category={}&sort=name", id(&kitchen));
        let page = body(app.get(&by_category, None).await).await;
        assert_eq!(names(&page), ["Blue Mug", "Crème Pot"]);
        let page = body(app.get("/api/v1/products?in_stock=true&sort=name", None).await).await;
        assert_eq!(names(&page), ["Blue Mug", "Rake"]);
        let page = body(
            app.get("/api/v1/products?min_price=500&max_price=1500", None)
                .await,
        )
        .await;
        assert_eq!(names(&page), ["Blue Mug"]);
        let page = body(app.get("/api/v1/products?q=TEA", None).await).await;
        assert_eq!(names(&page), ["Blue Mug"]);
        let page = body(app.get("/api/v1/products?limit=1&offset=1&sort=price", None).await).await;
        assert_eq!(names(&page), ["Blue Mug"]);
        assert_eq!(page["total"], 3);
        assert_problem(
            app.get("/api/v1/products?sort=stock", None).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert_problem(
            app.get("/api/v1/products?min_price=10&max_price=5", None).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;

        // Inactive products: hidden from the public, listed for admins.
        assert_problem(
            app.get("/api/v1/products?is_active=false", None).await,
            403,
            "FORBIDDEN",
        )
        .await;
        let hidden = body(app.get("/api/v1/products?is_active=false", Some(&admin)).await).await;
        assert_eq!(names(&hidden), ["Hidden"]);
        let hidden_id = hidden["items"][0]["id"].as_str().unwrap().to_owned();
        let hidden_path = format!("/api/v1/products/{hidden_id}");
        assert_problem(app.get(&hidden_path, None).await, 404, "NOT_FOUND").await;
        assert_eq!(app.get(&hidden_path, Some(&admin)).await.status(), 200);

        // By id or by slug, with an ETag.
        let by_slug = app.get("/api/v1/products/garden-rake", None).await;
        assert_eq!(by_slug.status(), 200);
        assert_eq!(etag(&by_slug), "\"1\"");
        assert_eq!(body(by_slug).await["name"], "Rake");
        assert_eq!(
            body(app.get(&format!("/api/v1/products/{}", id(&mug)), None).await).await["slug"],
            "blue-mug"
        );
        assert_problem(app.get("/api/v1/products/no-such", None).await, 404, "NOT_FOUND").await;
        assert_problem(app.get("/api/v1/products/Not%20A%20Slug", None).await, 404, "NOT_FOUND")
            .await;

        let categories = body(app.get("/api/v1/categories", None).await).await;
        assert_eq!(categories["total"], 2);
        assert_eq!(categories["items"][0]["name"], "Garden");

        // A taken slug, a float price, a bad currency.
        let again = json!({"name": "Blue mug", "price": 1, "currency": "EUR",
                           "stock_quantity": 1, "category_id": id(&kitchen)});
        assert_problem(
            app.post_json("/api/v1/products", &again, Some(&admin)).await,
            409,
            "SLUG_TAKEN",
        )
        .await;
        for bad in [
            json!({"name": "X", "price": 12.5, "currency": "EUR", "stock_quantity": 1, "category_id": id(&kitchen)}),
            json!({"name": "X", "price": 1, "currency": "eur", "stock_quantity": 1, "category_id": id(&kitchen)}),
            json!({"name": "X", "price": 1, "currency": "EUR", "stock_quantity": -1, "category_id": id(&kitchen)}),
            json!({"name": "X", "price": 1, "currency": "EUR", "stock_quantity": 1, "category_id": uuid::Uuid::nil()}),
        ] {
            assert_problem(
                app.post_json("/api/v1/products", &bad, Some(&admin)).await,
                422,
                "VALIDATION_FAILED",
            )
            .await;
        }
        // Only admins write the catalog.
        let user = app.registered(&TestUser::generate()).await.access;
        assert_problem(
            app.post_json("/api/v1/categories", &json!({"name": "Mine"}), Some(&user))
                .await,
            403,
            "FORBIDDEN",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn admin_writes_need_a_current_if_match_and_used_categories_stay() {
    for_each_backend(|app| async move {
        let admin = app.admin().await.access;
        let kitchen = category(&app, &admin, "Kitchen").await;
        let mug = product(
            &app,
            &admin,
            json!({"name": "Mug", "price": 500, "currency": "EUR", "stock_quantity": 3,
                   "category_id": id(&kitchen)}),
        )
        .await;
        let path = format!("/api/v1/products/{}", id(&mug));
        let patch = json!({"price": 650});

        assert_problem(
            with_tag(&app, Method::PATCH, &path, &admin, None, Some(&patch)).await,
            428,
            "PRECONDITION_REQUIRED",
        )
        .await;
        assert_problem(
            with_tag(
                &app,
                Method::PATCH,
                &path,
                &admin,
                Some("\"7\""),
                Some(&patch),
            )
            .await,
            412,
            "PRECONDITION_FAILED",
        )
        .await;
        let updated = with_tag(
            &app,
            Method::PATCH,
            &path,
            &admin,
            Some("\"1\""),
            Some(&patch),
        )
        .await;
        assert_eq!(updated.status(), 200);
        assert_eq!(etag(&updated), "\"2\"");
        assert_eq!(body(updated).await["price"], 650);
        // The old tag is stale now.
        assert_problem(
            with_tag(
                &app,
                Method::PATCH,
                &path,
                &admin,
                Some("\"1\""),
                Some(&patch),
            )
            .await,
            412,
            "PRECONDITION_FAILED",
        )
        .await;

        // An order moves the stock, and so the product's ETag.
        let user = app.registered(&TestUser::generate()).await.access;
        assert_eq!(order(&app, &user, &[(id(&mug), 1)]).await.status(), 201);
        assert_problem(
            with_tag(
                &app,
                Method::PATCH,
                &path,
                &admin,
                Some("\"2\""),
                Some(&patch),
            )
            .await,
            412,
            "PRECONDITION_FAILED",
        )
        .await;

        // A category with products cannot be deleted; nor can an ordered product.
        let kitchen_path = format!("/api/v1/categories/{}", id(&kitchen));
        assert_problem(
            with_tag(&app, Method::DELETE, &kitchen_path, &admin, None, None).await,
            428,
            "PRECONDITION_REQUIRED",
        )
        .await;
        assert_problem(
            with_tag(
                &app,
                Method::DELETE,
                &kitchen_path,
                &admin,
                Some("\"1\""),
                None,
            )
            .await,
            409,
            "CONFLICT",
        )
        .await;
        let current = etag(&app.get(&path, None).await);
        assert_problem(
            with_tag(&app, Method::DELETE, &path, &admin, Some(&current), None).await,
            409,
            "CONFLICT",
        )
        .await;

        // An empty category goes, once its tag is current.
        let empty = category(&app, &admin, "Empty").await;
        let empty_path = format!("/api/v1/categories/{}", id(&empty));
        let renamed = with_tag(
            &app,
            Method::PATCH,
            &empty_path,
            &admin,
            Some("\"1\""),
            Some(&json!({"name": "Still empty", "parent_id": id(&kitchen)})),
        )
        .await;
        assert_eq!(renamed.status(), 200);
        assert_eq!(body(renamed).await["parent_id"], id(&kitchen));
        // Under itself: a cycle.
        assert_problem(
            with_tag(
                &app,
                Method::PATCH,
                &kitchen_path,
                &admin,
                Some("\"1\""),
                Some(&json!({"parent_id": id(&empty)})),
            )
            .await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert_problem(
            with_tag(
                &app,
                Method::DELETE,
                &empty_path,
                &admin,
                Some("\"1\""),
                None,
            )
            .await,
            412,
            "PRECONDITION_FAILED",
        )
        .await;
        let deleted = with_tag(
            &app,
            Method::DELETE,
            &empty_path,
            &admin,
            Some("\"2\""),
            None,
        )
        .await;
        assert_eq!(deleted.status(), 204);
        assert_problem(app.get(&empty_path, None).await, 404, "NOT_FOUND").await;
        // A non-admin is refused before any precondition is judged.
        assert_problem(
            with_tag(
                &app,
                Method::DELETE,
                &kitchen_path,
                &user,
                Some("junk"),
                None,
            )
            .await,
            403,
            "FORBIDDEN",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn sixty_four_racing_orders_for_ten_units_sell_exactly_ten() {
    for_each_backend(|app| async move {
        let admin = app.admin().await.access;
        let shelf = category(&app, &admin, "Shelf").await;
        let last = product(
            &app,
            &admin,
            json!({"name": "Last Ten", "price": 999, "currency": "EUR", "stock_quantity": 10,
                   "category_id": id(&shelf)}),
        )
        .await;
        let product_id = id(&last).to_owned();
        let mut buyers = Vec::new();
        for _ in 0..8 {
            buyers.push(app.registered(&TestUser::generate()).await.access);
        }
        let app = Arc::new(app);
        let mut racers = Vec::new();
        for n in 0..64 {
            let (app, token, product_id) =
                (Arc::clone(&app), buyers[n % 8].clone(), product_id.clone());
            racers.push(tokio::spawn(async move {
                let response = order(&app, &token, &[(&product_id, 1)]).await;
                let status = response.status().as_u16();
                let content_type = response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                (status, content_type, body(response).await)
            }));
        }
        let mut sold = 0;
        for racer in racers {
            let (status, content_type, json) = racer.await.unwrap();
            match status {
                201 => {
                    sold += 1;
                    assert_eq!(json["total"], 999);
                }
                409 => {
                    assert_eq!(content_type, "application/problem+json");
                    assert_eq!(json["code"], "OUT_OF_STOCK", "{json}");
                }
                other => panic!("unexpected {other}: {json}"),
            }
        }
        assert_eq!(sold, 10);
        assert_eq!(stock(&app, &product_id).await, 0);
        let orders = body(app.get("/api/v1/orders?limit=100", Some(&admin)).await).await;
        assert_eq!(orders["total"], 10);
    })
    .await;
}

#[tokio::test]
async fn orders_price_from_the_catalog_and_cancelling_restocks_once() {
    for_each_backend(|app| async move {
        let admin = app.admin().await.access;
        let shop = category(&app, &admin, "Shop").await;
        let new = |name: &str, price: i64, currency: &str, stock: i64| {
            json!({"name": name, "price": price, "currency": currency,
                   "stock_quantity": stock, "category_id": id(&shop)})
        };
        let a = product(&app, &admin, new("Apple", 120, "EUR", 50)).await;
        let b = product(&app, &admin, new("Bread", 349, "EUR", 5)).await;
        let dollar = product(&app, &admin, new("Dollar Thing", 100, "USD", 5)).await;
        let off = product(
            &app,
            &admin,
            json!({"name": "Off", "price": 1, "currency": "EUR",
            "stock_quantity": 5, "category_id": id(&shop), "is_active": false}),
        )
        .await;
        let alice = app.registered(&TestUser::generate()).await.access;
        let bob = app.registered(&TestUser::generate()).await.access;

        let placed = created(order(&app, &alice, &[(id(&b), 2), (id(&a), 3)]).await).await;
        assert_eq!(placed["status"], "pending");
        assert_eq!(placed["currency"], "EUR");
        let items = placed["items"].as_array().unwrap();
        let sum: i64 = items
            .iter()
            .map(|i| i["line_total"].as_i64().unwrap())
            .sum();
        assert_eq!(placed["total"], sum);
        assert_eq!(sum, 3 * 120 + 2 * 349);
        for item in items {
            assert_eq!(
                item["line_total"].as_i64().unwrap(),
                item["unit_price"].as_i64().unwrap() * item["quantity"].as_i64().unwrap()
            );
        }
        assert_eq!(stock(&app, id(&a)).await, 47);
        assert_eq!(stock(&app, id(&b)).await, 3);

        // A later price change leaves the placed order as it was.
        let a_path = format!("/api/v1/products/{}", id(&a));
        let tag = etag(&app.get(&a_path, None).await);
        let repriced = with_tag(
            &app,
            Method::PATCH,
            &a_path,
            &admin,
            Some(&tag),
            Some(&json!({"price": 9999})),
        )
        .await;
        assert_eq!(repriced.status(), 200);
        let order_path = format!("/api/v1/orders/{}", id(&placed));
        let fetched = body(app.get(&order_path, Some(&alice)).await).await;
        assert_eq!(fetched["total"], placed["total"]);

        // Short stock, mixed currencies, inactive products, duplicates: refused, nothing taken.
        assert_problem(
            order(&app, &alice, &[(id(&a), 1), (id(&b), 4)]).await,
            409,
            "OUT_OF_STOCK",
        )
        .await;
        assert_problem(
            order(&app, &alice, &[(id(&a), 1), (id(&dollar), 1)]).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        let refused = assert_problem(
            order(&app, &alice, &[(id(&off), 1)]).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], "items[0].product_id");
        let refused = assert_problem(
            order(&app, &alice, &[(id(&a), 1), (id(&a), 1)]).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(refused["errors"][0]["code"], "duplicate");
        for bad in [
            json!({"items": []}),
            json!({"items": [{"product_id": id(&a), "quantity": 0}]}),
            json!({"items": [{"product_id": id(&a), "quantity": 1001}]}),
        ] {
            assert_problem(
                app.post_json("/api/v1/orders", &bad, Some(&alice)).await,
                422,
                "VALIDATION_FAILED",
            )
            .await;
        }
        assert_eq!(stock(&app, id(&a)).await, 47);
        assert_eq!(stock(&app, id(&b)).await, 3);

        // Bob sees nothing of it.
        assert_problem(app.get(&order_path, Some(&bob)).await, 404, "NOT_FOUND").await;
        let cancel_path = format!("{order_path}/cancel");
        assert_problem(
            app.post_json(&cancel_path, &json!({}), Some(&bob)).await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_eq!(
            body(app.get("/api/v1/orders", Some(&bob)).await).await["total"],
            0
        );
        assert_eq!(
            body(app.get("/api/v1/orders", Some(&alice)).await).await["total"],
            1
        );

        // Cancelling restocks exactly; a second cancel is refused and restocks nothing.
        let cancelled = app
            .send(Method::POST, &cancel_path, Some(&alice), None)
            .await;
        assert_eq!(cancelled.status(), 200);
        assert_eq!(body(cancelled).await["status"], "cancelled");
        assert_eq!(stock(&app, id(&a)).await, 50);
        assert_eq!(stock(&app, id(&b)).await, 5);
        assert_problem(
            app.send(Method::POST, &cancel_path, Some(&alice), None)
                .await,
            409,
            "INVALID_TRANSITION",
        )
        .await;
        assert_eq!(stock(&app, id(&a)).await, 50);
        assert_eq!(stock(&app, id(&b)).await, 5);

        // The admin moves another order along; illegal moves are 409.
        let second = created(order(&app, &alice, &[(id(&b), 1)]).await).await;
        let second_path = format!("/api/v1/orders/{}", id(&second));
        let to = |status: &str| json!({"status": status});
        assert_problem(
            app.send(Method::PATCH, &second_path, Some(&alice), Some(&to("paid")))
                .await,
            403,
            "FORBIDDEN",
        )
        .await;
        assert_problem(
            app.send(
                Method::PATCH,
                &second_path,
                Some(&admin),
                Some(&to("shipped")),
            )
            .await,
            409,
            "INVALID_TRANSITION",
        )
        .await;
        for status in ["paid", "shipped", "delivered"] {
            let moved = app
                .send(Method::PATCH, &second_path, Some(&admin), Some(&to(status)))
                .await;
            assert_eq!(moved.status(), 200);
            assert_eq!(body(moved).await["status"], status);
        }
        assert_problem(
            app.send(
                Method::POST,
                &format!("{second_path}/cancel"),
                Some(&alice),
                None,
            )
            .await,
            409,
            "INVALID_TRANSITION",
        )
        .await;
        assert_eq!(stock(&app, id(&b)).await, 4);

        // Admin lists with filters, and the statistics.
        let delivered = body(
            app.get("/api/v1/orders?status=delivered", Some(&admin))
                .await,
        )
        .await;
        assert_eq!(delivered["total"], 1);
        assert_problem(
            app.get("/api/v1/orders/stats", Some(&alice)).await,
            403,
            "FORBIDDEN",
        )
        .await;
        let stats = body(app.get("/api/v1/orders/stats", Some(&admin)).await).await;
        assert_eq!(stats["revenue_per_day"][0]["orders"], 1);
        assert_eq!(stats["revenue_per_day"][0]["revenue"], 349);
        assert_eq!(stats["top_products"][0]["product_id"], id(&b));
        assert_eq!(stats["top_products"][0]["quantity"], 1);
    })
    .await;
}
