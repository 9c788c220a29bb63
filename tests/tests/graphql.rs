//! GraphQL at `/graphql` over real HTTP, on every backend: the same
//! authorization as `/api/v1` for every resource (anonymous, a user,
//! another user, an admin), the same error codes, optimistic concurrency,
//! the transport's refusals, and a page of posts that costs a constant
//! number of SQL statements however many posts and authors it shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, Response};
use serde_json::{Value, json};
use strata_testing::Backend;
use strata_tests::{TestApp, TestDatabase, TestUser, assert_problem, for_each_backend, settings};

/// Runs one operation over HTTP and returns the GraphQL response.
async fn gql(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables });
    let response = app.send(Method::POST, "/graphql", token, Some(&body)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// The problem code `/api/v1` answers, for comparing.
async fn rest_code(response: Response) -> String {
    if response.status().is_success() {
        return "OK".into();
    }
    let body: Value = response.json().await.unwrap();
    body["code"].as_str().unwrap().to_owned()
}

/// The code GraphQL answers for the same thing.
fn graphql_code(body: &Value) -> String {
    if body["errors"].is_null() {
        "OK".into()
    } else {
        code(body).to_owned()
    }
}

#[tokio::test]
async fn every_resource_is_authorized_as_on_the_rest_api() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await.access;
        let bob = app.registered(&TestUser::generate()).await.access;
        let admin = app.admin().await.access;

        // Items: the owner's; another user's is absent, never forbidden.
        let created = gql(
            &app,
            Some(&alice),
            "mutation { createItem(input: { title: \"Milk\" }) { id version ownerId } }",
            json!({}),
        )
        .await;
        let item = created["data"]["createItem"]["id"].as_str().unwrap().to_owned();
        assert_eq!(created["data"]["createItem"]["version"], 1);
        let read = "query($id: UUID!) { item(id: $id) { id title } }";
        let vars = json!({ "id": item });
        let own = gql(&app, Some(&alice), read, vars.clone()).await;
        assert_eq!(own["data"]["item"]["title"], "Milk");
        let foreign = gql(&app, Some(&bob), read, vars.clone()).await;
        assert_eq!(foreign["data"]["item"], Value::Null);
        assert!(foreign["errors"].is_null(), "{foreign}");
        let by_admin = gql(&app, Some(&admin), read, vars.clone()).await;
        assert_eq!(by_admin["data"]["item"]["id"], item.as_str());
        let anonymous = gql(&app, None, read, vars.clone()).await;
        assert_eq!(code(&anonymous), "UNAUTHENTICATED");

        // Changing another's item: NOT_FOUND on both APIs.
        let change = "mutation($id: UUID!) { updateItem(id: $id, input: { title: \"Mine\" }) { id } }";
        for (who, token) in [("bob", &bob), ("admin", &admin)] {
            let graphql = gql(&app, Some(token), change, vars.clone()).await;
            let rest = app
                .send(
                    Method::PATCH,
                    &format!("/api/v1/items/{item}"),
                    Some(token),
                    Some(&json!({ "title": "Mine" })),
                )
                .await;
            assert_eq!(graphql_code(&graphql), rest_code(rest).await, "{who}: {graphql}");
        }

        // Posts: public to read, the author's or an admin's to change.
        let post = gql(
            &app,
            Some(&alice),
            "mutation { createPost(input: { title: \"Hello\", body: \"First\", tags: [\"rust\"] }) { id slug author { username } } }",
            json!({}),
        )
        .await;
        let post_id = post["data"]["createPost"]["id"].as_str().unwrap().to_owned();
        let public = gql(
            &app,
            None,
            "query($id: UUID!) { post(id: $id) { title tags } }",
            json!({ "id": post_id }),
        )
        .await;
        assert_eq!(public["data"]["post"]["tags"], json!(["rust"]));
        let edit = "mutation($id: UUID!) { updatePost(id: $id, input: { body: \"Edited\" }) { body } }";
        for (who, token) in [("bob", Some(&bob)), ("admin", Some(&admin)), ("anonymous", None)] {
            let graphql = gql(&app, token.map(String::as_str), edit, json!({ "id": post_id })).await;
            let rest = app
                .send(
                    Method::PATCH,
                    &format!("/api/v1/posts/{post_id}"),
                    token.map(String::as_str),
                    Some(&json!({ "body": "Edited" })),
                )
                .await;
            assert_eq!(graphql_code(&graphql), rest_code(rest).await, "{who}: {graphql}");
        }

        // Accounts: the caller's own; everyone's for admins only.
        let users = "{ users(limit: 5) { total items { username } } }";
        for (who, token) in [("alice", Some(&alice)), ("admin", Some(&admin)), ("anonymous", None)] {
            let graphql = gql(&app, token.map(String::as_str), users, json!({})).await;
            let rest = app
                .send(Method::GET, "/api/v1/users?limit=5", token.map(String::as_str), None)
                .await;
            assert_eq!(graphql_code(&graphql), rest_code(rest).await, "{who}: {graphql}");
        }
        let me = gql(&app, Some(&bob), "{ viewer { username role } }", json!({})).await;
        assert_eq!(me["data"]["viewer"]["role"], "USER");
    })
    .await;
}

/// Runs `query` as `token` and as REST's `method path`, and checks both
/// answer alike (success, or the same code).
async fn same_answer(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
    method: Method,
    path: &str,
) -> Value {
    let graphql = gql(app, token, query, variables).await;
    let rest = app.send(method, path, token, None).await;
    assert_eq!(
        graphql_code(&graphql),
        rest_code(rest).await,
        "{path}: {graphql}"
    );
    graphql
}

#[tokio::test]
async fn jobs_notifications_and_orders_are_the_callers_own_and_the_catalog_public() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await.access;
        let bob = app.registered(&TestUser::generate()).await.access;
        let admin = app.admin().await.access;

        // Jobs: another account's is absent and cannot be cancelled.
        let accepted = app.import_items(&alice, "title,description\nMilk,two litres\n").await;
        assert_eq!(accepted.status(), 202);
        let job: Value = accepted.json().await.unwrap();
        let job_id = job["id"].as_str().unwrap().to_owned();
        let read = "query($id: UUID!) { job(id: $id) { id kind status } }";
        let own = gql(&app, Some(&alice), read, json!({ "id": job_id })).await;
        assert_eq!(own["data"]["job"]["id"], job_id.as_str(), "{own}");
        let foreign = gql(&app, Some(&bob), read, json!({ "id": job_id })).await;
        assert_eq!(foreign["data"]["job"], Value::Null);
        let cancel = "mutation($id: UUID!) { cancelJob(id: $id) { status } }";
        same_answer(&app, Some(&bob), cancel, json!({ "id": job_id }), Method::POST, &format!("/api/v1/jobs/{job_id}/cancel")).await;
        let listed = gql(&app, Some(&admin), "{ jobs { total } }", json!({})).await;
        assert!(listed["data"]["jobs"]["total"].as_u64().unwrap() >= 1);

        // Notifications: Bob's comment on Alice's post notifies Alice only.
        let post = gql(
            &app,
            Some(&alice),
            "mutation { createPost(input: { title: \"Note\", body: \"Text\" }) { id } }",
            json!({}),
        )
        .await;
        let post_id = post["data"]["createPost"]["id"].as_str().unwrap().to_owned();
        gql(
            &app,
            Some(&bob),
            "mutation($p: UUID!) { addComment(postId: $p, body: \"Hi\") { id } }",
            json!({ "p": post_id }),
        )
        .await;
        let mine = gql(&app, Some(&alice), "{ notifications(unreadOnly: true) { total items { id kind read } } }", json!({})).await;
        let items = mine["data"]["notifications"]["items"].as_array().unwrap();
        let comment = items.iter().find(|n| n["kind"] == "comment.created").expect("a comment notification");
        let note = comment["id"].as_str().unwrap().to_owned();
        let theirs = gql(&app, Some(&bob), "{ notifications { items { kind } } }", json!({})).await;
        assert!(
            !theirs["data"]["notifications"]["items"].as_array().unwrap().iter().any(|n| n["kind"] == "comment.created"),
            "{theirs}"
        );
        let mark = "mutation($id: UUID!) { markNotificationRead(id: $id) { read } }";
        same_answer(&app, Some(&bob), mark, json!({ "id": note }), Method::POST, &format!("/api/v1/notifications/{note}/read")).await;
        let marked = gql(&app, Some(&alice), mark, json!({ "id": note })).await;
        assert_eq!(marked["data"]["markNotificationRead"]["read"], true);

        // The catalog is public; inactive products are for admins.
        let category = app.post_json("/api/v1/categories", &json!({ "name": "Kitchen" }), Some(&admin)).await;
        let category: Value = category.json().await.unwrap();
        let product = app
            .post_json(
                "/api/v1/products",
                &json!({ "name": "Blue Mug", "price": 1250, "currency": "EUR", "stock_quantity": 2, "category_id": category["id"] }),
                Some(&admin),
            )
            .await;
        let product: Value = product.json().await.unwrap();
        let product_id = product["id"].as_str().unwrap().to_owned();
        let products = gql(&app, None, "{ products(sort: \"price\") { total items { name price currency stockQuantity } } }", json!({})).await;
        assert_eq!(products["data"]["products"]["items"][0], json!({ "name": "Blue Mug", "price": 1250, "currency": "EUR", "stockQuantity": 2 }));
        same_answer(&app, None, "{ products(isActive: false) { total } }", json!({}), Method::GET, "/api/v1/products?is_active=false").await;

        // Orders: priced from the catalog; another's is absent; a second
        // cancellation is refused as on REST.
        let place = "mutation($p: UUID!, $q: Int!) { placeOrder(items: [{ productId: $p, quantity: $q }]) { id status total items { unitPrice quantity } } }";
        let short = gql(&app, Some(&alice), place, json!({ "p": product_id, "q": 3 })).await;
        assert_eq!(code(&short), "OUT_OF_STOCK");
        let placed = gql(&app, Some(&alice), place, json!({ "p": product_id, "q": 2 })).await;
        assert_eq!(placed["data"]["placeOrder"]["total"], 2500, "{placed}");
        let order_id = placed["data"]["placeOrder"]["id"].as_str().unwrap().to_owned();
        let foreign = gql(&app, Some(&bob), "query($id: UUID!) { order(id: $id) { id } }", json!({ "id": order_id })).await;
        assert_eq!(foreign["data"]["order"], Value::Null);
        let cancel = "mutation($id: UUID!) { cancelOrder(id: $id) { status } }";
        same_answer(&app, Some(&bob), cancel, json!({ "id": order_id }), Method::POST, &format!("/api/v1/orders/{order_id}/cancel")).await;
        let cancelled = gql(&app, Some(&alice), cancel, json!({ "id": order_id })).await;
        assert_eq!(cancelled["data"]["cancelOrder"]["status"], "CANCELLED");
        same_answer(&app, Some(&alice), cancel, json!({ "id": order_id }), Method::POST, &format!("/api/v1/orders/{order_id}/cancel")).await;
    })
    .await;
}

#[tokio::test]
async fn a_post_comes_with_its_author_and_comments_and_versions_guard_items() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await.access;
        let bob = app.registered(&TestUser::generate()).await.access;
        let post = gql(
            &app,
            Some(&alice),
            "mutation { createPost(input: { title: \"Graphs\", description: \"About\", body: \"Text\" }) { id slug } }",
            json!({}),
        )
        .await;
        let post_id = post["data"]["createPost"]["id"].as_str().unwrap().to_owned();
        let slug = post["data"]["createPost"]["slug"].as_str().unwrap().to_owned();
        for (token, body) in [(&bob, "First!"), (&alice, "Thanks")] {
            let added = gql(
                &app,
                Some(token),
                "mutation($post: UUID!, $body: String!) { addComment(postId: $post, body: $body) { number } }",
                json!({ "post": post_id, "body": body }),
            )
            .await;
            assert!(added["errors"].is_null(), "{added}");
        }
        let favorite = gql(
            &app,
            Some(&bob),
            "mutation($id: UUID!) { favoritePost(id: $id) { favoritesCount favorited } }",
            json!({ "id": post_id }),
        )
        .await;
        assert_eq!(favorite["data"]["favoritePost"], json!({ "favoritesCount": 1, "favorited": true }));

        let one_trip = gql(
            &app,
            Some(&bob),
            "query($slug: String!) { post(slug: $slug) { title commentCount favorited author { username following } comments { total items { number body author { username } } } } }",
            json!({ "slug": slug }),
        )
        .await;
        let post = &one_trip["data"]["post"];
        assert_eq!(post["commentCount"], 2, "{one_trip}");
        assert_eq!(post["favorited"], true);
        assert_eq!(post["author"]["following"], false);
        let numbers: Vec<u64> = post["comments"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, [1, 2]);

        // Validation: the REST messages, every field named.
        let invalid = gql(
            &app,
            Some(&alice),
            "mutation { createPost(input: { title: \"\", body: \"\" }) { id } }",
            json!({}),
        )
        .await;
        assert_eq!(code(&invalid), "VALIDATION_FAILED");
        let fields: Vec<&str> = invalid["errors"][0]["extensions"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["title", "body"]);

        // Optimistic concurrency: a stale expectedVersion changes nothing.
        let item = gql(
            &app,
            Some(&alice),
            "mutation { createItem(input: { title: \"Milk\" }) { id } }",
            json!({}),
        )
        .await;
        let id = item["data"]["createItem"]["id"].as_str().unwrap().to_owned();
        let update = "mutation($id: UUID!, $v: Int) { updateItem(id: $id, input: { title: \"Oat\" }, expectedVersion: $v) { title version } }";
        let first = gql(&app, Some(&alice), update, json!({ "id": id, "v": 1 })).await;
        assert_eq!(first["data"]["updateItem"], json!({ "title": "Oat", "version": 2 }));
        let stale = gql(&app, Some(&alice), update, json!({ "id": id, "v": 1 })).await;
        assert_eq!(code(&stale), "PRECONDITION_FAILED");
        let rest = app.get(&format!("/api/v1/items/{id}"), Some(&alice)).await;
        assert_eq!(rest.json::<Value>().await.unwrap()["title"], "Oat");
    })
    .await;
}

#[tokio::test]
async fn the_transport_refuses_with_problems_and_keeps_the_edge() {
    let backend = Backend::Sqlite;
    let app = TestApp::spawn(&backend).await;
    let alice = app.registered(&TestUser::generate()).await.access;

    // A mutation over GET is refused (a link must not write).
    let response = app
        .get(
            "/graphql?query=mutation%7BdeleteItem(id%3A%2200000000-0000-0000-0000-000000000001%22)%7D",
            Some(&alice),
        )
        .await;
    assert_eq!(response.headers()["allow"], "POST");
    assert_problem(response, 405, "METHOD_NOT_ALLOWED").await;

    // A query over GET runs, with the edge's headers.
    let response = app.get("/graphql?query=%7Btags%7D", None).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "data": { "tags": [] } })
    );

    // A refused token is a 401 problem, never anonymous.
    let response = app
        .send(
            Method::POST,
            "/graphql",
            Some("forged"),
            Some(&json!({ "query": "{ tags }" })),
        )
        .await;
    assert_problem(response, 401, "UNAUTHENTICATED").await;

    // Bodies past server.body_limit_bytes, and forms, are refused.
    let huge = json!({ "query": format!("{{ tags }} #{}", "x".repeat(70_000)) });
    let response = app.send(Method::POST, "/graphql", None, Some(&huge)).await;
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE").await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("query=%7Btags%7D")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;

    // Limits name themselves.
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }";
    let body = gql(&app, None, deep, json!({})).await;
    assert_eq!(code(&body), "DEPTH_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn graphiql_works_offline_with_its_own_policy() {
    let app = TestApp::spawn(&Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let policies: Vec<_> = response
        .headers()
        .get_all("content-security-policy")
        .iter()
        .collect();
    assert_eq!(policies.len(), 1, "one policy, the page's own");
    assert!(policies[0].to_str().unwrap().contains("script-src 'self';"));
    let page = response.text().await.unwrap();
    assert!(
        !page.contains("http:") && !page.contains("https:"),
        "no other origin"
    );
    // Every script and style the page names is served here.
    let mut assets = 0;
    for part in page.split("=\"").skip(1) {
        let url = part.split('"').next().unwrap();
        if url.starts_with("/graphql/assets/") {
            let asset = app.client.get(app.url(url)).send().await.unwrap();
            assert_eq!(asset.status(), 200, "{url}");
            assert!(!asset.bytes().await.unwrap().is_empty());
            assets += 1;
        }
    }
    assert_eq!(assets, 5);
}

#[tokio::test]
async fn graphql_can_be_switched_off() {
    let app = TestApp::spawn_with(&Backend::Sqlite, &[("APP__GRAPHQL__ENABLED", "false")]).await;
    let response = app
        .send(
            Method::POST,
            "/graphql",
            None,
            Some(&json!({ "query": "{ tags }" })),
        )
        .await;
    assert_eq!(response.status(), 404);
}

/// Runs `query` on a schema whose connection counts statements, and
/// returns how many it took.
async fn statements_for(
    graphql: &strata_graphql::Graphql,
    counter: &AtomicUsize,
    query: &str,
) -> usize {
    counter.store(0, Ordering::SeqCst);
    let body = graphql.execute(query, json!({}), None).await;
    assert!(body["errors"].is_null(), "{body}");
    counter.swap(0, Ordering::SeqCst)
}

#[tokio::test]
async fn a_page_of_posts_with_authors_costs_the_same_statements_for_5_or_100() {
    for backend in Backend::all() {
        let database = TestDatabase::create(&backend).await;
        let app = TestApp::spawn_on(database).await;
        let mut authors = Vec::new();
        for _ in 0..4 {
            authors.push(app.registered(&TestUser::generate()).await.access);
        }
        // 101, so both pages have more after them and both count the total.
        for n in 0..101 {
            let token = &authors[n % authors.len()];
            let body = json!({ "title": format!("Post {n}"), "body": "Text" });
            let response = app.post_json("/api/v1/posts", &body, Some(token)).await;
            assert_eq!(response.status(), 201);
        }

        let settings = settings(&app.database.url, &[]);
        let db = strata::startup::database(&settings).await.unwrap();
        let counter = Arc::new(AtomicUsize::new(0));
        let mut counted = db.clone();
        let sink = Arc::clone(&counter);
        // The total's `SELECT COUNT(*)` is left out: the repository's count
        // cache (fresh for 1 s) spares it or not depending on timing, which
        // a loaded test machine does not keep.
        counted.set_metric_callback(move |info| {
            if !info.statement.sql.trim_start().starts_with("SELECT COUNT(") {
                sink.fetch_add(1, Ordering::SeqCst);
            }
        });
        let services = strata::startup::services(&settings, counted).await.unwrap();
        let graphql = strata::graphql::adapter(&settings.graphql, &services.state, 65_536);

        let page = |limit: u32| {
            format!(
                "{{ posts(limit: {limit}) {{ total items {{ title commentCount favoritesCount author {{ username bio }} }} }} }}"
            )
        };
        let five = statements_for(&graphql, &counter, &page(5)).await;
        let hundred = statements_for(&graphql, &counter, &page(100)).await;
        assert_eq!(
            five, hundred,
            "{backend:?}: 5 posts took {five}, 100 took {hundred}"
        );
        // The page and all of its authors (and the total, not counted here).
        assert!(hundred <= 2, "{backend:?}: {hundred} statements");
    }
}
