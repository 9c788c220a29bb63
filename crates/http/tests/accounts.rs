//! Handler tests of e-mail verification and password reset, and of the
//! verified-address gate on writes, with mocked services.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::TestRequest;
use serde_json::json;
use strata_service::ServiceError;
use strata_service::accounts::MockAccountService;

mod common;

use common::*;

#[actix_web::test]
async fn a_verification_token_is_posted_and_answers_204() {
    let mut mocks = Mocks::new();
    mocks
        .accounts
        .expect_verify_email()
        .withf(|token| token == "abc")
        .times(1)
        .returning(|_| Ok(()));
    let (status, _, _) = call(
        mocks,
        TestRequest::post()
            .uri("/api/v1/auth/verify-email")
            .set_json(json!({"token": "abc"})),
    )
    .await;
    assert_eq!(status, 204);
}

#[actix_web::test]
async fn an_unusable_token_is_400_invalid_token() {
    for path in [
        "/api/v1/auth/verify-email",
        "/api/v1/auth/password-reset/confirm",
    ] {
        let mut mocks = Mocks::new();
        mocks
            .accounts
            .expect_verify_email()
            .returning(|_| Err(ServiceError::InvalidToken));
        mocks
            .accounts
            .expect_reset_password()
            .returning(|_, _| Err(ServiceError::InvalidToken));
        let body = json!({"token": "used", "new_password": "NewSecret123"});
        let body = if path.ends_with("confirm") {
            body
        } else {
            json!({"token": "used"})
        };
        let (status, headers, body) =
            call(mocks, TestRequest::post().uri(path).set_json(body)).await;
        assert_eq!(status, 400, "{path}");
        assert_problem(&headers, &body, 400, "INVALID_TOKEN");
    }
}

#[actix_web::test]
async fn a_reset_request_answers_202_with_one_fixed_body() {
    let mut mocks = Mocks::new();
    mocks
        .accounts
        .expect_request_password_reset()
        .withf(|email| email.as_str() == "ada@example.com")
        .times(1)
        .returning(|_| Ok(()));
    let (status, _, body) = call(
        mocks,
        TestRequest::post()
            .uri("/api/v1/auth/password-reset")
            .set_json(json!({"email": "Ada@Example.com"})),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        body,
        json!({"message": "If an account has this address, a message is on its way to it."})
    );
}

#[actix_web::test]
async fn a_weak_new_password_is_named_and_the_token_is_not_spent() {
    let mut mocks = Mocks::new();
    mocks.accounts.expect_reset_password().never();
    let (status, headers, body) = call(
        mocks,
        TestRequest::post()
            .uri("/api/v1/auth/password-reset/confirm")
            .set_json(json!({"token": "abc", "new_password": "weak"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    assert_eq!(error_fields(&body), ["new_password"]);
}

#[actix_web::test]
async fn a_resend_needs_a_bearer_token_and_answers_202() {
    let (status, _, _) = call(
        Mocks::new(),
        TestRequest::post().uri("/api/v1/auth/verify-email/resend"),
    )
    .await;
    assert_eq!(status, 401);

    let mut mocks = Mocks::new();
    mocks
        .accounts
        .expect_resend_verification()
        .withf(|caller| *caller == principal())
        .times(1)
        .returning(|_| Ok(()));
    let (status, _, _) = call(
        mocks,
        TestRequest::post()
            .uri("/api/v1/auth/verify-email/resend")
            .insert_header(bearer(TOKEN)),
    )
    .await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn an_unverified_writer_is_403_email_not_verified_before_the_handler_runs() {
    let mut mocks = Mocks::new();
    mocks.accounts = MockAccountService::new();
    mocks
        .accounts
        .expect_ensure_may_write()
        .returning(|_| Err(ServiceError::EmailNotVerified));
    mocks.items.expect_create().never();
    let (status, headers, body) = call(
        mocks,
        TestRequest::post()
            .uri("/api/v1/items")
            .insert_header(bearer(TOKEN))
            .set_json(json!({"title": "Milk"})),
    )
    .await;
    assert_eq!(status, 403);
    assert_problem(&headers, &body, 403, "EMAIL_NOT_VERIFIED");
}

#[actix_web::test]
async fn the_user_resource_says_whether_the_address_is_verified() {
    let mut mocks = Mocks::new();
    mocks.users.expect_me().returning(|_| {
        let mut verified = user();
        verified.email_verified_at = Some(chrono::Utc::now());
        Ok(verified)
    });
    let (status, _, body) = call(
        mocks,
        TestRequest::get()
            .uri("/api/v1/users/me")
            .insert_header(bearer(TOKEN)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["email_verified"], true);
}
