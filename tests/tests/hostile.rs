//! Hostile input over real HTTP on every backend (issue #11): NUL and other
//! control characters, broken JSON, wrong methods and wrong-kind tokens get
//! 4xx problem documents naming the field, and nothing is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::{TestApp, TestUser, assert_problem, for_each_backend};

async fn field_and_code(
    app: &TestApp,
    path: &str,
    body: &Value,
    token: Option<&str>,
) -> (String, String) {
    let problem = assert_problem(
        app.post_json(path, body, token).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let e = &problem["errors"][0];
    (
        e["field"].as_str().unwrap().to_owned(),
        e["code"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn nul_in_any_text_is_a_422_naming_the_field_and_nothing_is_stored() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        let ann = app.registered(&user).await;
        let token = Some(ann.access.as_str());
        let nul = "a\u{0}b";
        let control = |f: &str| (f.to_owned(), "control_character".to_owned());

        // Anonymous, on the login route: once a way to make 500s at will.
        assert_eq!(
            field_and_code(
                &app,
                "/api/v1/auth/login",
                &json!({"username": nul, "password": "x"}),
                None
            )
            .await,
            control("username")
        );
        let mut registration = TestUser::generate().registration();
        registration["username"] = json!(nul);
        assert_eq!(
            field_and_code(&app, "/api/v1/auth/register", &registration, None).await,
            control("username")
        );

        for body in [
            json!({"title": nul}),
            json!({"title": "ok", "description": nul}),
        ] {
            let field = if body["title"] == nul {
                "title"
            } else {
                "description"
            };
            assert_eq!(
                field_and_code(&app, "/api/v1/items", &body, token).await,
                control(field)
            );
        }
        assert_eq!(
            field_and_code(
                &app,
                "/api/v1/posts",
                &json!({"title": "t", "body": nul}),
                token
            )
            .await,
            control("body")
        );
        let post = app
            .post_json("/api/v1/posts", &json!({"title": "t", "body": "b"}), token)
            .await;
        assert_eq!(post.status(), 201);
        let post: Value = post.json().await.unwrap();
        let comments = format!("/api/v1/posts/{}/comments", post["id"].as_str().unwrap());
        assert_eq!(
            field_and_code(&app, &comments, &json!({"body": nul}), token).await,
            control("body")
        );

        for path in [
            "/api/v1/items?q=a%00b",
            "/api/v1/posts?q=%00",
            "/api/v1/posts?author=x%00",
        ] {
            let problem =
                assert_problem(app.get(path, token).await, 422, "VALIDATION_FAILED").await;
            assert_eq!(problem["errors"][0]["code"], "control_character", "{path}");
        }

        // Nothing of the refused writes was stored.
        let items: Value = app.get("/api/v1/items", token).await.json().await.unwrap();
        assert_eq!(items["total"], 0);
        let posts: Value = app.get("/api/v1/posts", None).await.json().await.unwrap();
        assert_eq!(posts["total"], 1);
        let comments: Value = app.get(&comments, None).await.json().await.unwrap();
        assert_eq!(comments["total"], 0);
        // Login still works for the real user.
        assert_eq!(
            app.login(&user.username, &user.password).await.status(),
            200
        );
    })
    .await;
}

#[tokio::test]
async fn shape_errors_syntax_methods_and_tokens_answer_by_the_contract() {
    for_each_backend(|app| async move {
        let ann = app.registered(&TestUser::generate()).await;
        let token = Some(ann.access.as_str());

        assert_eq!(
            field_and_code(
                &app,
                "/api/v1/items",
                &json!({"description": "no title"}),
                token
            )
            .await,
            ("title".to_owned(), "required".to_owned())
        );
        let broken = app
            .client
            .post(app.url("/api/v1/items"))
            .bearer_auth(&ann.access)
            .header("content-type", "application/json")
            .body(r#"{"colour": "red","#)
            .send()
            .await
            .unwrap();
        assert_problem(broken, 400, "MALFORMED_REQUEST").await;

        let wrong = app.send(Method::PUT, "/api/v1/items", token, None).await;
        assert_eq!(wrong.headers()["allow"], "GET, POST");
        assert_problem(wrong, 405, "METHOD_NOT_ALLOWED").await;

        // An access token is not a refresh token: simply invalid.
        assert_problem(app.refresh(&ann.access).await, 401, "UNAUTHENTICATED").await;
        assert_problem(app.refresh("").await, 401, "UNAUTHENTICATED").await;
    })
    .await;
}

#[tokio::test]
async fn another_users_item_is_404_whatever_if_match_says() {
    for_each_backend(|app| async move {
        let alice = app.registered(&TestUser::generate()).await;
        let bob = app.registered(&TestUser::generate()).await;
        let item = app
            .post_json(
                "/api/v1/items",
                &json!({"title": "Alice's"}),
                Some(&alice.access),
            )
            .await;
        let item: Value = item.json().await.unwrap();
        let path = format!("/api/v1/items/{}", item["id"].as_str().unwrap());
        for tag in ["\"1\"", "\"99\"", "W/\"1\"", "garbage", "*"] {
            let response = app
                .client
                .patch(app.url(&path))
                .bearer_auth(&bob.access)
                .header("if-match", tag)
                .json(&json!({"title": "Bob's now"}))
                .send()
                .await
                .unwrap();
            assert_problem(response, 404, "NOT_FOUND").await;
            // The owner with the same stale or garbled tag hears 412.
            if tag != "\"1\"" && tag != "*" {
                let response = app
                    .client
                    .patch(app.url(&path))
                    .bearer_auth(&alice.access)
                    .header("if-match", tag)
                    .json(&json!({"title": "still mine"}))
                    .send()
                    .await
                    .unwrap();
                assert_problem(response, 412, "PRECONDITION_FAILED").await;
            }
        }
        let unchanged: Value = app
            .get(&path, Some(&alice.access))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(unchanged["title"], "Alice's");
    })
    .await;
}
