//! The authentication contract over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use strata_tests::{TestApp, TestUser, Tokens, assert_problem, for_each_backend};

#[tokio::test]
async fn the_whole_auth_flow_walks_register_login_me_refresh_reuse_logout() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();

        // register → 201 with Location and a token pair
        let response = app.register(&user).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["location"], "/api/v1/users/me");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user"]["email"], user.email);
        assert_eq!(body["user"]["role"], "user");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert!(body["user"].get("password_hash").is_none());

        // login by e-mail (any case) and by username
        let response = app.login(&user.email.to_uppercase(), &user.password).await;
        assert_eq!(response.status(), 200);
        let tokens = Tokens::from(&response.json::<Value>().await.unwrap());
        assert_eq!(
            app.login(&user.username, &user.password).await.status(),
            200
        );

        // me
        let me: Value = app
            .get("/api/v1/users/me", Some(&tokens.access))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["username"], user.username);

        // refresh rotates
        let response = app.refresh(&tokens.refresh).await;
        assert_eq!(response.status(), 200);
        let rotated = Tokens::from(&response.json::<Value>().await.unwrap());
        assert_ne!(rotated.refresh, tokens.refresh);
        assert_eq!(
            app.get("/api/v1/users/me", Some(&rotated.access))
                .await
                .status(),
            200
        );

        // the consumed token again: reuse → 401, and the session is revoked
        assert_problem(app.refresh(&tokens.refresh).await, 401, "UNAUTHENTICATED").await;
        assert_problem(
            app.get("/api/v1/users/me", Some(&rotated.access)).await,
            401,
            "UNAUTHENTICATED",
        )
        .await;
        assert_problem(app.refresh(&rotated.refresh).await, 401, "UNAUTHENTICATED").await;

        // a fresh session; logout kills its access and refresh tokens at once
        let fresh = Tokens::from(
            &app.login(&user.username, &user.password)
                .await
                .json::<Value>()
                .await
                .unwrap(),
        );
        let response = app
            .post_json("/api/v1/auth/logout", &json!({}), Some(&fresh.access))
            .await;
        assert_eq!(response.status(), 204);
        let rejected = app.get("/api/v1/users/me", Some(&fresh.access)).await;
        assert_eq!(
            rejected.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_problem(rejected, 401, "UNAUTHENTICATED").await;
        assert_problem(app.refresh(&fresh.refresh).await, 401, "UNAUTHENTICATED").await;
    })
    .await;
}

#[tokio::test]
async fn login_fails_identically_for_an_unknown_user_and_a_wrong_password() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        app.registered(&user).await;
        let unknown = assert_problem(
            app.login("nobody@example.com", "Secret123").await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
        let wrong = assert_problem(
            app.login(&user.username, "Wrong1234").await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
        assert_eq!(unknown["detail"], wrong["detail"]);
        assert_eq!(unknown["title"], wrong["title"]);
    })
    .await;
}

#[tokio::test]
async fn the_oauth2_password_form_logs_in_like_swagger_ui_does() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        app.registered(&user).await;
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .form(&[
                ("grant_type", "password"),
                ("username", &user.username),
                ("password", &user.password),
                ("scope", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
    })
    .await;
}

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_email_create_exactly_one_account() {
    for_each_backend(|app| async move {
        let base = TestUser::generate();
        let requests = (0..20).map(|i| {
            let mut user = base.clone();
            user.username = format!("racer_{i}_{}", &base.username[5..]);
            // Same address, different case: still the same account.
            if i % 2 == 1 {
                user.email = base.email.to_uppercase();
            }
            let app = &app;
            async move { app.register(&user).await.status().as_u16() }
        });
        let statuses = futures_util::future::join_all(requests).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            19,
            "{statuses:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn taken_emails_and_usernames_differing_only_in_case_are_conflicts() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        app.registered(&user).await;
        let mut same_email = TestUser::generate();
        same_email.email = user.email.to_uppercase();
        assert_problem(app.register(&same_email).await, 409, "EMAIL_TAKEN").await;
        let mut same_name = TestUser::generate();
        same_name.username = user.username.to_uppercase();
        assert_problem(app.register(&same_name).await, 409, "USERNAME_TAKEN").await;
    })
    .await;
}

#[tokio::test]
async fn logout_all_and_password_change_revoke_the_right_sessions() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        let first = app.registered(&user).await;
        let second = Tokens::from(
            &app.login(&user.username, &user.password)
                .await
                .json::<Value>()
                .await
                .unwrap(),
        );

        // A password change keeps the session it came from and ends the others.
        let change = json!({"current_password": user.password, "new_password": "Changed123"});
        let response = app
            .client
            .put(app.url("/api/v1/auth/password"))
            .bearer_auth(&first.access)
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(
            app.get("/api/v1/users/me", Some(&first.access))
                .await
                .status(),
            200
        );
        assert_eq!(
            app.get("/api/v1/users/me", Some(&second.access))
                .await
                .status(),
            401
        );
        assert_problem(
            app.login(&user.username, &user.password).await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
        let third = Tokens::from(
            &app.login(&user.username, "Changed123")
                .await
                .json::<Value>()
                .await
                .unwrap(),
        );

        // A wrong current password changes nothing.
        let wrong = json!({"current_password": "Nope12345", "new_password": "Other1234"});
        let response = app
            .client
            .put(app.url("/api/v1/auth/password"))
            .bearer_auth(&third.access)
            .json(&wrong)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "INVALID_CREDENTIALS").await;

        let response = app
            .post_json("/api/v1/auth/logout-all", &json!({}), Some(&third.access))
            .await;
        assert_eq!(response.status(), 204);
        for tokens in [&first, &third] {
            assert_eq!(
                app.get("/api/v1/users/me", Some(&tokens.access))
                    .await
                    .status(),
                401
            );
            assert_eq!(app.refresh(&tokens.refresh).await.status(), 401);
        }
    })
    .await;
}

#[tokio::test]
async fn a_revocation_survives_a_server_restart() {
    for backend in strata_tests::Backend::all() {
        let app = TestApp::spawn(&backend).await;
        let user = TestUser::generate();
        let tokens = app.registered(&user).await;
        let response = app
            .post_json("/api/v1/auth/logout", &json!({}), Some(&tokens.access))
            .await;
        assert_eq!(response.status(), 204);

        let app = app.restart().await;
        assert_problem(
            app.get("/api/v1/users/me", Some(&tokens.access)).await,
            401,
            "UNAUTHENTICATED",
        )
        .await;
        assert_problem(app.refresh(&tokens.refresh).await, 401, "UNAUTHENTICATED").await;
        // ...while the account itself, written before the restart, is intact.
        assert_eq!(
            app.login(&user.username, &user.password).await.status(),
            200
        );
    }
}

#[tokio::test]
async fn users_edit_their_profile_but_not_their_role() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        let tokens = app.registered(&user).await;
        let patch = |body: Value| {
            app.client
                .patch(app.url("/api/v1/users/me"))
                .bearer_auth(&tokens.access)
                .json(&body)
                .send()
        };
        let response = patch(json!({"full_name": "Ada Lovelace", "email": "ADA.NEW@example.com"}))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["full_name"], "Ada Lovelace");
        assert_eq!(body["email"], "ada.new@example.com");
        assert_problem(
            patch(json!({"role": "admin"})).await.unwrap(),
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert_problem(
            patch(json!({"is_active": false})).await.unwrap(),
            422,
            "VALIDATION_FAILED",
        )
        .await;
        let body = assert_problem(
            patch(json!({"username": "x"})).await.unwrap(),
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "username");

        let other = TestUser::generate();
        app.registered(&other).await;
        assert_problem(
            patch(json!({"username": other.username})).await.unwrap(),
            409,
            "USERNAME_TAKEN",
        )
        .await;
        let me: Value = app
            .get("/api/v1/users/me", Some(&tokens.access))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], "user");
        assert_eq!(
            me["username"], user.username,
            "a refused change changed nothing"
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_ones_account_needs_the_password_and_ends_every_session() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        let tokens = app.registered(&user).await;
        let delete = |password: &str| {
            app.client
                .delete(app.url("/api/v1/users/me"))
                .bearer_auth(&tokens.access)
                .json(&json!({"password": password}))
                .send()
        };
        assert_problem(
            delete("Wrong1234").await.unwrap(),
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
        assert_eq!(
            app.get("/api/v1/users/me", Some(&tokens.access))
                .await
                .status(),
            200
        );
        assert_eq!(delete(&user.password).await.unwrap().status(), 204);
        assert_eq!(
            app.get("/api/v1/users/me", Some(&tokens.access))
                .await
                .status(),
            401
        );
        assert_eq!(app.refresh(&tokens.refresh).await.status(), 401);
        assert_problem(
            app.login(&user.username, &user.password).await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
        // The name is free again.
        assert_eq!(app.register(&user).await.status(), 201);
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_problem_json_never_a_crash() {
    for_each_backend(|app| async move {
        let url = app.url("/api/v1/auth/register");
        let send = |ct: &'static str, body: String| {
            app.client
                .post(&url)
                .header("content-type", ct)
                .body(body)
                .send()
        };
        assert_problem(
            send("application/json", "{not json".into()).await.unwrap(),
            400,
            "MALFORMED_REQUEST",
        )
        .await;
        assert_problem(
            send("text/plain", "{}".into()).await.unwrap(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
        assert_problem(
            send("application/json", "{}".into()).await.unwrap(),
            422,
            "VALIDATION_FAILED",
        )
        .await;
        let huge =
            json!({"email": "a@example.com", "username": "abc", "password": "A1a".repeat(40_000)});
        assert_problem(
            send("application/json", huge.to_string()).await.unwrap(),
            413,
            "PAYLOAD_TOO_LARGE",
        )
        .await;
        let weak = json!({"email": "a@example.com", "username": "abc", "password": "password"});
        let body = assert_problem(
            send("application/json", weak.to_string()).await.unwrap(),
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "password");
        assert_problem(
            app.get("/api/v1/nothing-here", None).await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_problem(
            app.get("/api/v1/users/me", Some("not-a-jwt")).await,
            401,
            "UNAUTHENTICATED",
        )
        .await;
    })
    .await;
}
