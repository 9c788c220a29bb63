//! Notifications over real HTTP, on every backend: a comment on one's post,
//! a role change and a finished job each leave one, listed newest first,
//! marked read by their addressee only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::{TestApp, TestUser, Tokens, assert_problem, for_each_backend};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn notifications(app: &TestApp, query: &str, token: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/notifications{query}"), Some(token))
        .await;
    assert_eq!(response.status(), 200);
    body(response).await
}

/// Waits until `token`'s owner has `count` notifications.
async fn until_count(app: &TestApp, token: &str, count: u64) -> Value {
    for _ in 0..300 {
        let listed = notifications(app, "", token).await;
        if listed["total"] == count {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never reached {count} notifications");
}

async fn login(app: &TestApp, user: &TestUser) -> Tokens {
    let response = app.login(&user.username, &user.password).await;
    assert_eq!(response.status(), 200);
    Tokens::from(&body(response).await)
}

#[tokio::test]
async fn comments_role_changes_and_finished_jobs_notify_their_user_alone() {
    for_each_backend(|app| async move {
        let author = TestUser::generate();
        let author_tokens = app.registered(&author).await;
        let reader = app.registered(&TestUser::generate()).await;
        let admin = app.admin().await;

        let post = body(
            app.post_json(
                "/api/v1/posts",
                &json!({"title": "Hello", "body": "World"}),
                Some(&author_tokens.access),
            )
            .await,
        )
        .await;
        let comments = format!("/api/v1/posts/{}/comments", post["id"].as_str().unwrap());
        // One's own comment tells nobody; the reader's tells the author.
        for token in [&author_tokens.access, &reader.access] {
            let created = app
                .post_json(&comments, &json!({"body": "Nice"}), Some(token))
                .await;
            assert_eq!(created.status(), 201);
        }
        let listed = notifications(&app, "?unread=true", &author_tokens.access).await;
        assert_eq!(listed["total"], 1, "{listed}");
        let told = &listed["items"][0];
        assert_eq!(told["kind"], "comment.created");
        assert_eq!(told["data"]["post_id"], post["id"]);
        assert_eq!(told["read"], false);
        assert_eq!(notifications(&app, "", &reader.access).await["total"], 0);

        // Only its addressee can mark it; to anyone else it does not exist.
        let read = format!(
            "/api/v1/notifications/{}/read",
            told["id"].as_str().unwrap()
        );
        let refused = app
            .send(Method::POST, &read, Some(&reader.access), None)
            .await;
        assert_problem(refused, 404, "NOT_FOUND").await;
        let marked = app
            .send(Method::POST, &read, Some(&author_tokens.access), None)
            .await;
        assert_eq!(marked.status(), 200);
        let marked = body(marked).await;
        assert_eq!(marked["read"], true);
        assert!(marked["read_at"].is_string());
        assert_eq!(
            notifications(&app, "?unread=true", &author_tokens.access).await["total"],
            0
        );

        // Promoted by an admin: told (after logging in again, as the role
        // change ended the author's sessions).
        let me = body(
            app.get("/api/v1/users/me", Some(&author_tokens.access))
                .await,
        )
        .await;
        let promote = app
            .send(
                Method::PATCH,
                &format!("/api/v1/users/{}", me["id"].as_str().unwrap()),
                Some(&admin.access),
                Some(&json!({"role": "admin"})),
            )
            .await;
        assert_eq!(promote.status(), 200);
        let author_tokens = login(&app, &author).await;
        let listed = notifications(&app, "", &author_tokens.access).await;
        assert_eq!(listed["items"][0]["kind"], "role.changed", "{listed}");
        assert_eq!(listed["items"][0]["data"], json!({"role": "admin"}));

        // A job the author started ends: told by the worker that ran it.
        let export = app
            .post_json(
                "/api/v1/users/exports",
                &json!({"format": "json"}),
                Some(&author_tokens.access),
            )
            .await;
        assert_eq!(export.status(), 202);
        let job = body(export).await;
        let listed = until_count(&app, &author_tokens.access, 3).await;
        let newest = &listed["items"][0];
        assert_eq!(newest["kind"], "job.finished", "{listed}");
        assert_eq!(newest["data"]["job_id"], job["id"]);
        assert_eq!(newest["data"]["status"], "succeeded");

        let all = app
            .send(
                Method::POST,
                "/api/v1/notifications/read-all",
                Some(&author_tokens.access),
                None,
            )
            .await;
        assert_eq!(body(all).await, json!({"updated": 2}));
        assert_eq!(
            notifications(&app, "?unread=true", &author_tokens.access).await["total"],
            0
        );
    })
    .await;
}
