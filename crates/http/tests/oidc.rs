//! Handler tests of OpenID Connect sign-in and identities, with mocked
//! services: cookies, redirects, and the problem codes of each refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::TestRequest;
use chrono::Utc;
use serde_json::json;
use strata_domain::oidc::{FlowMode, Identity};
use strata_service::ServiceError;
use strata_service::error::OidcRejection;
use strata_service::oidc::{Authorization, CallbackOutcome};
use uuid::Uuid;

mod common;

use common::*;

fn identity() -> Identity {
    Identity {
        id: Uuid::from_u128(3),
        user_id: principal().user_id,
        provider: "google".into(),
        issuer: "https://accounts.google.com".into(),
        subject: "1234".into(),
        email: Some("ada@example.com".into()),
        created_at: Utc::now(),
    }
}

#[actix_web::test]
async fn authorize_redirects_to_the_provider_with_a_lax_http_only_binding_cookie() {
    let mut mocks = Mocks::new();
    mocks
        .oidc
        .expect_authorize()
        .withf(|provider, mode, linking| {
            provider == "google" && *mode == FlowMode::Browser && linking.is_none()
        })
        .returning(|_, _, _| {
            Ok(Authorization {
                url: "https://idp.example.com/auth?state=s".into(),
                binding: "bind".into(),
            })
        });
    let (status, headers, _) = call(
        mocks,
        TestRequest::get().uri("/api/v1/auth/oidc/google/authorize?mode=browser"),
    )
    .await;
    assert_eq!(status, 302);
    assert_eq!(
        headers.get("location").unwrap(),
        "https://idp.example.com/auth?state=s"
    );
    let cookie = headers.get("set-cookie").unwrap().to_str().unwrap();
    for part in [
        "strata_oidc=bind",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/api/v1/auth/oidc",
        "Max-Age=600",
        "Secure",
    ] {
        assert!(cookie.contains(part), "{part} missing from {cookie}");
    }
}

#[actix_web::test]
async fn the_callback_hands_the_cookie_to_the_service_and_answers_tokens_in_api_mode() {
    let mut mocks = Mocks::new();
    mocks
        .oidc
        .expect_callback()
        .withf(|provider, callback| {
            provider == "google"
                && callback.state == "st"
                && callback.code.as_deref() == Some("co")
                && callback.binding.as_deref() == Some("bind")
        })
        .returning(|_, _| {
            Ok(CallbackOutcome::SignedIn {
                user: user(),
                tokens: pair(),
                created: true,
            })
        });
    let (status, headers, body) = call(
        mocks,
        TestRequest::get()
            .uri("/api/v1/auth/oidc/google/callback?state=st&code=co")
            .insert_header(("cookie", "strata_oidc=bind")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(body["access_token"], "access");
    assert_eq!(body["created"], true);
    assert_eq!(body["user"]["email"], "ada@example.com");
}

#[actix_web::test]
async fn a_browser_callback_redirects_with_the_code_in_the_fragment_only() {
    let mut mocks = Mocks::new();
    mocks.oidc.expect_callback().returning(|_, _| {
        Ok(CallbackOutcome::Redirect(
            "https://app.example.com/signed-in#code=one-time".into(),
        ))
    });
    let (status, headers, _) = call(
        mocks,
        TestRequest::get().uri("/api/v1/auth/oidc/google/callback?state=st&code=co"),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        headers.get("location").unwrap(),
        "https://app.example.com/signed-in#code=one-time"
    );
}

#[actix_web::test]
async fn each_refusal_has_its_own_problem_code() {
    let cases = [
        (ServiceError::OidcState, 400, "OIDC_STATE_INVALID"),
        (
            ServiceError::OidcRejected(OidcRejection::Nonce),
            401,
            "OIDC_LOGIN_FAILED",
        ),
        (ServiceError::OidcLinkRequired, 409, "OIDC_LINK_REQUIRED"),
        (ServiceError::IdentityTaken, 409, "IDENTITY_TAKEN"),
        (ServiceError::NotFound, 404, "NOT_FOUND"),
        (
            ServiceError::ProviderUnavailable("down".into()),
            502,
            "OIDC_PROVIDER_UNAVAILABLE",
        ),
    ];
    for (error, status, code) in cases {
        let mut mocks = Mocks::new();
        let error = std::sync::Mutex::new(Some(error));
        mocks
            .oidc
            .expect_callback()
            .returning(move |_, _| Err(error.lock().unwrap().take().unwrap()));
        let (got, headers, body) = call(
            mocks,
            TestRequest::get().uri("/api/v1/auth/oidc/google/callback?state=st&code=co"),
        )
        .await;
        assert_eq!(got, status, "{code}");
        assert_problem(&headers, &body, status, code);
    }
}

#[actix_web::test]
async fn the_exchange_trades_a_code_for_tokens_once() {
    let mut mocks = Mocks::new();
    let mut answers = vec![Err(ServiceError::InvalidToken), Ok(pair())];
    mocks
        .oidc
        .expect_exchange()
        .withf(|code| code == "one-time")
        .returning(move |_| answers.pop().unwrap());
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let request = || {
        TestRequest::post()
            .uri("/api/v1/auth/oidc/exchange")
            .set_json(json!({"code": "one-time"}))
            .to_request()
    };
    let first = actix_web::test::call_service(&app, request()).await;
    assert_eq!(first.status(), 200);
    let second = actix_web::test::call_service(&app, request()).await;
    assert_eq!(second.status(), 400);
}

#[actix_web::test]
async fn identities_are_listed_linked_and_unlinked_for_the_caller_only() {
    let mut mocks = Mocks::new();
    mocks
        .oidc
        .expect_identities()
        .withf(|caller| *caller == principal())
        .returning(|_| Ok(vec![identity()]));
    mocks
        .oidc
        .expect_authorize()
        .withf(|provider, _, linking| provider == "google" && *linking == Some(principal()))
        .returning(|_, _, _| {
            Ok(Authorization {
                url: "https://idp.example.com/auth".into(),
                binding: "bind".into(),
            })
        });
    mocks
        .oidc
        .expect_unlink()
        .returning(|_, _| Err(ServiceError::LastSignInMethod));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let listed = actix_web::test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/users/me/identities")
            .insert_header(bearer(TOKEN))
            .to_request(),
    )
    .await;
    assert_eq!(listed.status(), 200);
    let body: serde_json::Value = actix_web::test::read_body_json(listed).await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["issuer"], "https://accounts.google.com");
    let started = actix_web::test::call_service(
        &app,
        TestRequest::post()
            .uri("/api/v1/users/me/identities")
            .insert_header(bearer(TOKEN))
            .set_json(json!({"provider": "google"}))
            .to_request(),
    )
    .await;
    assert_eq!(started.status(), 200);
    assert!(started.headers().get("set-cookie").is_some());
    let body: serde_json::Value = actix_web::test::read_body_json(started).await;
    assert_eq!(body["authorization_url"], "https://idp.example.com/auth");
    let refused = actix_web::test::call_service(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/v1/users/me/identities/{}", Uuid::nil()))
            .insert_header(bearer(TOKEN))
            .to_request(),
    )
    .await;
    assert_eq!(refused.status(), 409);
    let anonymous = actix_web::test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/users/me/identities")
            .to_request(),
    )
    .await;
    assert_eq!(anonymous.status(), 401);
}
