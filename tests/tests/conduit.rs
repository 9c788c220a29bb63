//! The RealWorld (Conduit) adapter at `/api` over real HTTP, on every
//! backend: its envelopes, status codes and error shape, its own password
//! policy, and that it shares data, authorization and rate limits with
//! Strata's `/api/v1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, Response};
use serde_json::{Value, json};
use strata_testing::Backend;
use strata_tests::{TestApp, for_each_backend};

/// One request to the Conduit API, authenticated the Conduit way.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut req = app.client.request(method, app.url(&format!("/api{path}")));
    if let Some(token) = token {
        req = req.header("Authorization", format!("Token {token}"));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn json_of(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "{:?}", response.url().path());
    response.json().await.unwrap()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Registers a user through Conduit and returns (username, token).
async fn register(app: &TestApp, prefix: &str) -> (String, String) {
    let name = unique(prefix);
    let body = json!({"user": {"username": name, "email": format!("{name}@test.com"), "password": "password123"}});
    let user = json_of(
        call(app, Method::POST, "/users", None, Some(body)).await,
        201,
    )
    .await;
    (name, user["user"]["token"].as_str().unwrap().to_owned())
}

async fn publish(app: &TestApp, token: &str, title: &str, tags: &[&str]) -> Value {
    let body = json!({"article": {"title": title, "description": "About", "body": "Text", "tagList": tags}});
    json_of(
        call(app, Method::POST, "/articles", Some(token), Some(body)).await,
        201,
    )
    .await["article"]
        .clone()
}

#[tokio::test]
async fn accounts_follow_conduits_contract_and_password_policy_without_weakening_api_v1() {
    for_each_backend(|app| async move {
        let name = unique("auth");
        let email = format!("{name}@test.com");
        let body = json!({"user": {"username": name, "email": email, "password": "password123"}});
        let created = json_of(
            call(&app, Method::POST, "/users", None, Some(body.clone())).await,
            201,
        )
        .await;
        assert_eq!(created["user"]["username"], name.as_str());
        assert_eq!(created["user"]["email"], email.as_str());
        assert_eq!(created["user"]["bio"], Value::Null);
        assert_eq!(created["user"]["image"], Value::Null);

        // Taken names are 409 in Conduit's shape.
        let again = json_of(
            call(&app, Method::POST, "/users", None, Some(body)).await,
            409,
        )
        .await;
        assert!(
            again["errors"]["email"].is_array() || again["errors"]["username"].is_array(),
            "{again}"
        );
        let blank =
            json!({"user": {"username": "", "email": "x@test.com", "password": "password123"}});
        let blank = json_of(
            call(&app, Method::POST, "/users", None, Some(blank)).await,
            422,
        )
        .await;
        assert_eq!(blank["errors"]["username"][0], "can't be blank");

        let login = json!({"user": {"email": email, "password": "password123"}});
        let logged = json_of(
            call(&app, Method::POST, "/users/login", None, Some(login)).await,
            200,
        )
        .await;
        let token = logged["user"]["token"].as_str().unwrap().to_owned();
        let wrong = json!({"user": {"email": email, "password": "wrongpassword"}});
        let wrong = json_of(
            call(&app, Method::POST, "/users/login", None, Some(wrong)).await,
            401,
        )
        .await;
        assert_eq!(wrong["errors"]["credentials"][0], "invalid");

        // Bio: set, emptied (null), image validated.
        let set = json!({"user": {"bio": "Hello", "image": "https://example.com/a.jpg"}});
        let user = json_of(
            call(&app, Method::PUT, "/user", Some(&token), Some(set)).await,
            200,
        )
        .await;
        assert_eq!(user["user"]["bio"], "Hello");
        let cleared = json!({"user": {"bio": ""}});
        let user = json_of(
            call(&app, Method::PUT, "/user", Some(&token), Some(cleared)).await,
            200,
        )
        .await;
        assert_eq!(user["user"]["bio"], Value::Null);
        assert_eq!(user["user"]["image"], "https://example.com/a.jpg");
        let me = json_of(
            call(&app, Method::GET, "/user", Some(&token), None).await,
            200,
        )
        .await;
        assert_eq!(me["user"]["bio"], Value::Null);
        let bad_image = json!({"user": {"image": "javascript:alert(1)"}});
        json_of(
            call(&app, Method::PUT, "/user", Some(&token), Some(bad_image)).await,
            422,
        )
        .await;
        let null_email = json!({"user": {"email": null}});
        json_of(
            call(&app, Method::PUT, "/user", Some(&token), Some(null_email)).await,
            422,
        )
        .await;

        // NIST policy here: 8 plain characters pass, 7 do not.
        let short = json!({"user": {"password": "short7c"}});
        json_of(
            call(&app, Method::PUT, "/user", Some(&token), Some(short)).await,
            422,
        )
        .await;
        let simple = json!({"user": {"password": "bonjour1"}});
        json_of(
            call(&app, Method::PUT, "/user", Some(&token), Some(simple)).await,
            200,
        )
        .await;
        let relogin = json!({"user": {"email": email, "password": "bonjour1"}});
        json_of(
            call(&app, Method::POST, "/users/login", None, Some(relogin)).await,
            200,
        )
        .await;
        // The token that changed the password still works; Strata's own API
        // logs in with it too, and keeps its stricter policy for new accounts.
        assert_eq!(
            app.get("/api/v1/users/me", Some(&token)).await.status(),
            200
        );
        let weak =
            json!({"email": "weak@example.com", "username": "weak_user", "password": "bonjour1"});
        assert_eq!(
            app.post_json("/api/v1/auth/register", &weak, None)
                .await
                .status(),
            422
        );

        let missing = json_of(call(&app, Method::GET, "/user", None, None).await, 401).await;
        assert_eq!(missing["errors"]["token"][0], "is missing");
        json_of(
            call(&app, Method::GET, "/user", Some("not-a-jwt"), None).await,
            401,
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn articles_tags_favorites_feed_and_comments_round_trip_with_conduits_codes() {
    for_each_backend(|app| async move {
        let (author, token) = register(&app, "art").await;
        let (reader_name, reader) = register(&app, "rdr").await;
        let tag = unique("t");
        let article = publish(&app, &token, "Hello World", &[&tag, "rust"]).await;
        let slug = article["slug"].as_str().unwrap().to_owned();
        assert!(slug.starts_with("hello-world-"), "{slug}");
        assert_eq!(article["tagList"], json!([tag, "rust"]));
        assert_eq!(article["favorited"], false);
        assert_eq!(article["author"]["username"], author.as_str());
        let twin = publish(&app, &token, "Hello World", &[]).await;
        assert_ne!(twin["slug"], article["slug"]);

        // Lists leave the body out and count everything matching.
        let listed = json_of(
            call(
                &app,
                Method::GET,
                &format!("/articles?tag={tag}"),
                None,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(listed["articlesCount"], 1);
        assert_eq!(listed["articles"][0]["slug"], slug.as_str());
        assert!(listed["articles"][0].get("body").is_none());
        let by_author = json_of(
            call(
                &app,
                Method::GET,
                &format!("/articles?author={author}&limit=1&offset=1"),
                None,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(by_author["articlesCount"], 2);
        assert_eq!(by_author["articles"][0]["slug"], slug.as_str());
        let tags = json_of(call(&app, Method::GET, "/tags", None, None).await, 200).await;
        assert!(tags["tags"].as_array().unwrap().contains(&json!(tag)));

        // Someone else may read, favorite and comment, not edit.
        let path = format!("/articles/{slug}");
        let edit = json!({"article": {"body": "hijacked"}});
        let refused = json_of(
            call(&app, Method::PUT, &path, Some(&reader), Some(edit)).await,
            403,
        )
        .await;
        assert_eq!(refused["errors"]["article"][0], "forbidden");
        let fav = json_of(
            call(
                &app,
                Method::POST,
                &format!("{path}/favorite"),
                Some(&reader),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            (
                fav["article"]["favorited"].clone(),
                fav["article"]["favoritesCount"].clone()
            ),
            (json!(true), json!(1))
        );
        let seen = json_of(
            call(&app, Method::GET, &path, Some(&reader), None).await,
            200,
        )
        .await;
        assert_eq!(seen["article"]["favorited"], true);
        let anonymous = json_of(call(&app, Method::GET, &path, None, None).await, 200).await;
        assert_eq!(anonymous["article"]["favorited"], false);
        let favorites = json_of(
            call(
                &app,
                Method::GET,
                &format!("/articles?favorited={reader_name}"),
                None,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(favorites["articlesCount"], 1);
        let unfav = json_of(
            call(
                &app,
                Method::DELETE,
                &format!("{path}/favorite"),
                Some(&reader),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(unfav["article"]["favoritesCount"], 0);

        // The feed follows the follows.
        let feed = json_of(
            call(&app, Method::GET, "/articles/feed", Some(&reader), None).await,
            200,
        )
        .await;
        assert_eq!(feed["articlesCount"], 0);
        let followed = json_of(
            call(
                &app,
                Method::POST,
                &format!("/profiles/{author}/follow"),
                Some(&reader),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(followed["profile"]["following"], true);
        let feed = json_of(
            call(
                &app,
                Method::GET,
                "/articles/feed?limit=1",
                Some(&reader),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            (
                feed["articlesCount"].clone(),
                feed["articles"].as_array().unwrap().len()
            ),
            (json!(2), 1)
        );
        assert_eq!(feed["articles"][0]["author"]["following"], true);
        json_of(
            call(&app, Method::GET, "/articles/feed", None, None).await,
            401,
        )
        .await;

        // Comments: the post's author may not delete the reader's? They may
        // (Strata's rule); a third user may not.
        let (_, third) = register(&app, "thd").await;
        let comment = json!({"comment": {"body": "Nice"}});
        let made = json_of(
            call(
                &app,
                Method::POST,
                &format!("{path}/comments"),
                Some(&reader),
                Some(comment),
            )
            .await,
            201,
        )
        .await;
        // RealWorld names comments by integers: their number under the article.
        let id = made["comment"]["id"].as_u64().unwrap();
        assert_eq!(id, 1);
        let comments = json_of(
            call(&app, Method::GET, &format!("{path}/comments"), None, None).await,
            200,
        )
        .await;
        assert_eq!(
            comments["comments"][0]["author"]["username"],
            reader_name.as_str()
        );
        let refused = json_of(
            call(
                &app,
                Method::DELETE,
                &format!("{path}/comments/{id}"),
                Some(&third),
                None,
            )
            .await,
            403,
        )
        .await;
        assert_eq!(refused["errors"]["comment"][0], "forbidden");
        let unknown = json_of(
            call(
                &app,
                Method::DELETE,
                &format!("{path}/comments/99999"),
                Some(&reader),
                None,
            )
            .await,
            404,
        )
        .await;
        assert_eq!(unknown["errors"]["comment"][0], "not found");
        let gone = call(
            &app,
            Method::DELETE,
            &format!("{path}/comments/{id}"),
            Some(&reader),
            None,
        )
        .await;
        assert_eq!(gone.status(), 204);

        // Tags replaced, removed, or refused as null; deletion is 204, then 404.
        let no_tags = json!({"article": {"tagList": []}});
        let cleared = json_of(
            call(&app, Method::PUT, &path, Some(&token), Some(no_tags)).await,
            200,
        )
        .await;
        assert_eq!(cleared["article"]["tagList"], json!([]));
        assert_eq!(cleared["article"]["slug"], slug.as_str());
        let null_tags = json!({"article": {"tagList": null}});
        json_of(
            call(&app, Method::PUT, &path, Some(&token), Some(null_tags)).await,
            422,
        )
        .await;

        // The same post is on Strata's own API, with the same slug.
        let own = app
            .get(&format!("/api/v1/posts?author={author}"), None)
            .await;
        let own: Value = own.json().await.unwrap();
        assert_eq!(own["total"], 2, "{own}");

        let deleted = call(&app, Method::DELETE, &path, Some(&token), None).await;
        assert_eq!(deleted.status(), 204);
        let missing = json_of(call(&app, Method::GET, &path, None, None).await, 404).await;
        assert_eq!(missing["errors"]["article"][0], "not found");
        let unauth = json_of(
            call(&app, Method::DELETE, "/articles/x/comments/1", None, None).await,
            401,
        )
        .await;
        assert_eq!(unauth["errors"]["token"][0], "is missing");
        let profile = json_of(
            call(&app, Method::GET, "/profiles/nobody_here", None, None).await,
            404,
        )
        .await;
        assert_eq!(profile["errors"]["profile"][0], "not found");
    })
    .await;
}

#[tokio::test]
async fn the_adapter_can_be_turned_off_and_shares_the_login_budget_with_api_v1() {
    let backend = Backend::Sqlite;
    let off = TestApp::spawn_with(&backend, &[("APP__CONDUIT__ENABLED", "false")]).await;
    assert_eq!(
        call(&off, Method::GET, "/tags", None, None).await.status(),
        404
    );

    // A RealWorld front-end on another origin gets the CORS policy of /api/v1.
    let origin = "http://localhost:4200";
    let cors = TestApp::spawn_with(&backend, &[("APP__CORS__ALLOWED_ORIGINS", origin)]).await;
    let preflight = cors
        .client
        .request(Method::OPTIONS, cors.url("/api/articles"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], origin);
    let read = cors
        .client
        .get(cors.url("/api/tags"))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["access-control-allow-origin"], origin);
    let elsewhere = cors
        .client
        .get(cors.url("/api/tags"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        elsewhere
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let limited = TestApp::spawn_with(
        &backend,
        &[
            ("APP__RATE_LIMIT__ENABLED", "true"),
            ("APP__RATE_LIMIT__LOGIN_PER_MINUTE", "3"),
        ],
    )
    .await;
    let login = json!({"user": {"email": "someone@test.com", "password": "password123"}});
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            call(
                &limited,
                Method::POST,
                "/users/login",
                None,
                Some(login.clone()),
            )
            .await
            .status()
            .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 429], "{statuses:?}");
}
