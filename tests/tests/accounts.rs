//! E-mail verification and password reset over real HTTP, with the mails
//! delivered by the `send_email` job to a real SMTP server (the sink of
//! `.ci/smtp-sink.sh`) and their links followed, on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use strata_tests::mail::{MailSink, PUBLIC_URL, token_in};
use strata_tests::oidc::{Person, Provider};
use strata_tests::{Backend, TestApp, TestUser, Tokens, assert_problem, for_each_backend};

const VERIFY_SUBJECT: &str = "Confirm your e-mail address";
const RESET_SUBJECT: &str = "Reset your password";

/// A server per backend whose mail goes to the sink, with `extra` settings.
async fn apps(sink: &MailSink, extra: &[(&'static str, &str)]) -> Vec<TestApp> {
    let mut overrides = sink.overrides();
    overrides.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let overrides: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut apps = Vec::new();
    for backend in Backend::all() {
        apps.push(TestApp::spawn_with(&backend, &overrides).await);
    }
    apps
}

async fn me(app: &TestApp, access: &str) -> Value {
    let response = app.get("/api/v1/users/me", Some(access)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/api/v1/auth/verify-email", &json!({"token": token}), None)
        .await
}

async fn request_reset(app: &TestApp, email: &str) -> (u16, Value) {
    let response = app
        .post_json(
            "/api/v1/auth/password-reset",
            &json!({"email": email}),
            None,
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/password-reset/confirm",
        &json!({"token": token, "new_password": password}),
        None,
    )
    .await
}

#[tokio::test]
async fn the_registration_mail_verifies_the_address_once_and_a_new_address_needs_its_own() {
    let Some(sink) = MailSink::from_env("registration_mail") else {
        return;
    };
    for app in apps(&sink, &[]).await {
        let user = TestUser::generate();
        let tokens = app.registered(&user).await;
        assert_eq!(me(&app, &tokens.access).await["email_verified"], false);

        let mail = &sink.wait_for(&user.email, VERIFY_SUBJECT, 1).await[0];
        assert_eq!(mail["from"], "Strata <noreply@strata.test>");
        let token = token_in(mail, &format!("{PUBLIC_URL}/verify-email"));
        assert_eq!(verify(&app, &token).await.status(), 204);
        assert_eq!(me(&app, &tokens.access).await["email_verified"], true);
        assert_problem(verify(&app, &token).await, 400, "INVALID_TOKEN").await;

        // A new address is unverified and gets its own mail.
        let moved = format!("moved-{}", user.email);
        let patched = app
            .send(
                Method::PATCH,
                "/api/v1/users/me",
                Some(&tokens.access),
                Some(&json!({"email": moved})),
            )
            .await;
        assert_eq!(patched.status(), 200);
        let patched: Value = patched.json().await.unwrap();
        assert_eq!(patched["email_verified"], false);
        let mail = &sink.wait_for(&moved, VERIFY_SUBJECT, 1).await[0];
        let token = token_in(mail, &format!("{PUBLIC_URL}/verify-email"));
        assert_eq!(verify(&app, &token).await.status(), 204);
        assert_eq!(me(&app, &tokens.access).await["email_verified"], true);
    }
}

#[tokio::test]
async fn a_resent_mail_supersedes_the_first() {
    let Some(sink) = MailSink::from_env("resent_mail") else {
        return;
    };
    for app in apps(&sink, &[]).await {
        let user = TestUser::generate();
        let tokens = app.registered(&user).await;
        let first = &sink.wait_for(&user.email, VERIFY_SUBJECT, 1).await[0];
        let first = token_in(first, &format!("{PUBLIC_URL}/verify-email"));
        let resent = app
            .post_json(
                "/api/v1/auth/verify-email/resend",
                &json!(null),
                Some(&tokens.access),
            )
            .await;
        assert_eq!(resent.status(), 202);
        let second = &sink.wait_for(&user.email, VERIFY_SUBJECT, 2).await[1];
        let second = token_in(second, &format!("{PUBLIC_URL}/verify-email"));

        assert_problem(verify(&app, &first).await, 400, "INVALID_TOKEN").await;
        assert_eq!(verify(&app, &second).await.status(), 204);
        let again = app
            .post_json(
                "/api/v1/auth/verify-email/resend",
                &json!(null),
                Some(&tokens.access),
            )
            .await;
        assert_problem(again, 409, "CONFLICT").await;
    }
}

#[tokio::test]
async fn a_reset_by_mail_ends_every_session_and_its_link_works_once() {
    let Some(sink) = MailSink::from_env("reset_by_mail") else {
        return;
    };
    for app in apps(&sink, &[]).await {
        let user = TestUser::generate();
        let first = app.registered(&user).await;
        let second = Tokens::from(
            &app.login(&user.username, &user.password)
                .await
                .json::<Value>()
                .await
                .unwrap(),
        );
        let stranger = format!("nobody-{}", user.email);
        let unknown = request_reset(&app, &stranger).await;
        let known = request_reset(&app, &user.email.to_uppercase()).await;
        assert_eq!(known.0, 202);
        // Nothing tells a known address from an unknown one.
        assert_eq!(known, unknown);

        let mail = &sink.wait_for(&user.email, RESET_SUBJECT, 1).await[0];
        let token = token_in(mail, &format!("{PUBLIC_URL}/reset-password"));
        assert_eq!(confirm_reset(&app, &token, "Brand9New").await.status(), 204);

        for access in [&first.access, &second.access] {
            let refused = app.get("/api/v1/users/me", Some(access)).await;
            assert_problem(refused, 401, "UNAUTHENTICATED").await;
        }
        assert_eq!(app.refresh(&second.refresh).await.status(), 401);
        let old = app.login(&user.username, &user.password).await;
        assert_problem(old, 401, "INVALID_CREDENTIALS").await;
        let new = app.login(&user.username, "Brand9New").await;
        assert_eq!(new.status(), 200);
        let new = Tokens::from(&new.json::<Value>().await.unwrap());
        // Following the mail proved the mailbox as well.
        assert_eq!(me(&app, &new.access).await["email_verified"], true);

        let replay = confirm_reset(&app, &token, "Another9One").await;
        assert_problem(replay, 400, "INVALID_TOKEN").await;
        assert!(sink.delivered(&stranger, RESET_SUBJECT).is_empty());
    }
}

#[tokio::test]
async fn a_reset_gives_an_account_made_by_a_provider_its_first_password() {
    let Some(sink) = MailSink::from_env("reset_provider_account") else {
        return;
    };
    let Some(provider) = Provider::from_env("reset_provider_account") else {
        return;
    };
    let provider = provider.overrides();
    let extra: Vec<(&'static str, &str)> = provider.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for app in apps(&sink, &extra).await {
        let person = Person::generate();
        let signed_in = app.oidc_sign_in(&person).await;
        assert_eq!(signed_in.status(), 200);
        let signed_in: Value = signed_in.json().await.unwrap();
        assert_eq!(signed_in["created"], true);
        let access = signed_in["access_token"].as_str().unwrap();

        assert_eq!(request_reset(&app, &person.email).await.0, 202);
        let mail = &sink.wait_for(&person.email, RESET_SUBJECT, 1).await[0];
        let token = token_in(mail, &format!("{PUBLIC_URL}/reset-password"));
        assert_eq!(
            confirm_reset(&app, &token, "First9Pass").await.status(),
            204
        );

        // The provider's session ended like any other; the new password
        // and the identity both sign in to the same account.
        let refused = app.get("/api/v1/users/me", Some(access)).await;
        assert_problem(refused, 401, "UNAUTHENTICATED").await;
        let login = app.login(&person.email, "First9Pass").await;
        assert_eq!(login.status(), 200);
        let login = Tokens::from(&login.json::<Value>().await.unwrap());
        assert_eq!(me(&app, &login.access).await["id"], signed_in["user"]["id"]);
        let again = app.oidc_sign_in(&person).await;
        assert_eq!(again.status(), 200);
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["created"], false);
        assert_eq!(again["user"]["id"], signed_in["user"]["id"]);
    }
}

#[tokio::test]
async fn with_verification_required_writes_wait_for_the_mailed_link() {
    let Some(sink) = MailSink::from_env("verification_required") else {
        return;
    };
    for app in apps(&sink, &[("APP__AUTH__REQUIRE_VERIFIED_EMAIL", "true")]).await {
        let user = TestUser::generate();
        let tokens = app.registered(&user).await;
        let item = json!({"title": "Milk"});
        let refused = app
            .post_json("/api/v1/items", &item, Some(&tokens.access))
            .await;
        assert_problem(refused, 403, "EMAIL_NOT_VERIFIED").await;
        // Account upkeep stays open to an unverified account.
        assert_eq!(me(&app, &tokens.access).await["email_verified"], false);

        let mail = &sink.wait_for(&user.email, VERIFY_SUBJECT, 1).await[0];
        let token = token_in(mail, &format!("{PUBLIC_URL}/verify-email"));
        assert_eq!(verify(&app, &token).await.status(), 204);
        let created = app
            .post_json("/api/v1/items", &item, Some(&tokens.access))
            .await;
        assert_eq!(created.status(), 201);
    }
}

/// No mail server needed: what a client sees of a reset request never
/// depends on the address, and forged tokens are refused, not failed on.
#[tokio::test]
async fn reset_requests_look_alike_and_forged_tokens_are_refused() {
    for_each_backend(|app| async move {
        let user = TestUser::generate();
        app.registered(&user).await;
        let known = request_reset(&app, &user.email).await;
        let unknown = request_reset(&app, "nobody@example.com").await;
        assert_eq!(known.0, 202);
        assert_eq!(known, unknown);
        let malformed = app
            .post_json(
                "/api/v1/auth/password-reset",
                &json!({"email": "not-an-address"}),
                None,
            )
            .await;
        assert_problem(malformed, 422, "VALIDATION_FAILED").await;

        for forged in ["", "x", &"A".repeat(43)] {
            if forged.is_empty() {
                let empty = verify(&app, forged).await;
                assert_problem(empty, 422, "VALIDATION_FAILED").await;
                continue;
            }
            assert_problem(verify(&app, forged).await, 400, "INVALID_TOKEN").await;
            let reset = confirm_reset(&app, forged, "Brand9New").await;
            assert_problem(reset, 400, "INVALID_TOKEN").await;
        }
    })
    .await;
}

#[tokio::test]
async fn reset_requests_and_token_guesses_are_rate_limited() {
    let limited = [
        ("APP__RATE_LIMIT__ENABLED", "true"),
        ("APP__RATE_LIMIT__LOGIN_PER_MINUTE", "2"),
    ];
    for backend in Backend::all() {
        let app = TestApp::spawn_with(&backend, &limited).await;
        for _ in 0..2 {
            assert_eq!(request_reset(&app, "ada@example.com").await.0, 202);
        }
        let refused = app
            .post_json(
                "/api/v1/auth/password-reset",
                &json!({"email": "ada@example.com"}),
                None,
            )
            .await;
        assert!(refused.headers().contains_key("retry-after"));
        assert_problem(refused, 429, "RATE_LIMITED").await;
        // The client's address is spent too, whatever token it tries next.
        let guess = verify(&app, "guess").await;
        assert_problem(guess, 429, "RATE_LIMITED").await;
    }
}
