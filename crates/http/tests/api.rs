//! Handler tests over `actix_web::test` with mocked services: statuses,
//! problem bodies and headers of the HTTP contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::{self, TestRequest};
use serde_json::{Value, json};
use strata_domain::UniqueField;
use strata_http::HttpSettings;
use strata_service::{Readiness, ServiceError};
use uuid::Uuid;

mod common;

use common::*;

fn register_body() -> Value {
    json!({"email": "ada@example.com", "username": "ada", "password": "Secret123"})
}

#[actix_web::test]
async fn register_answers_201_with_location_tokens_and_no_store() {
    let mut mocks = Mocks::new();
    mocks.auth.expect_register().times(1).returning(|reg| {
        assert_eq!(reg.email.as_str(), "ada@example.com");
        Ok((user(), pair()))
    });
    let (status, headers, body) = call(
        mocks,
        TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(register_body()),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(headers.get("location").unwrap(), "/api/v1/users/me");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(body["user"]["username"], "ada");
    assert_eq!(body["user"]["role"], "user");
    assert!(body["user"].get("password_hash").is_none());
    assert_eq!(body["access_token"], "access");
    assert_eq!(body["refresh_token"], "refresh");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
}

#[actix_web::test]
async fn register_with_invalid_fields_lists_each_and_never_reaches_the_service() {
    let mut mocks = Mocks::new();
    mocks.auth.expect_register().never();
    let bad = json!({"email": "nope", "username": "a b", "password": "weak"});
    let (status, headers, body) = call(
        mocks,
        TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(bad),
    )
    .await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    let fields = error_fields(&body);
    assert_eq!(fields, ["email", "password", "username"]);
}

#[actix_web::test]
async fn unknown_json_fields_are_rejected_with_422() {
    let mut body = register_body();
    body["role"] = json!("admin");
    let (status, headers, body) = call(
        Mocks::new(),
        TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(body),
    )
    .await;
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "role");
    assert_eq!(body["errors"][0]["code"], "unknown");
}

#[actix_web::test]
async fn broken_json_is_a_malformed_request() {
    let req = TestRequest::post()
        .uri("/api/v1/auth/register")
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"email\":");
    let (status, headers, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 400);
    assert_problem(&headers, &body, 400, "MALFORMED_REQUEST");
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_unsupported_media_type() {
    let req = TestRequest::post()
        .uri("/api/v1/auth/register")
        .insert_header(("content-type", "text/plain"))
        .set_payload(register_body().to_string());
    let (status, headers, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 415);
    assert_problem(&headers, &body, 415, "UNSUPPORTED_MEDIA_TYPE");
}

#[actix_web::test]
async fn an_oversized_body_is_payload_too_large() {
    let huge =
        json!({"email": "a@example.com", "username": "ada", "password": "x".repeat(100_000)});
    let (status, headers, body) = call(
        Mocks::new(),
        TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(huge),
    )
    .await;
    assert_eq!(status, 413);
    assert_problem(&headers, &body, 413, "PAYLOAD_TOO_LARGE");
}

#[actix_web::test]
async fn a_taken_email_answers_409_email_taken() {
    let mut mocks = Mocks::new();
    mocks
        .auth
        .expect_register()
        .returning(|_| Err(ServiceError::Taken(UniqueField::Email)));
    let (status, headers, body) = call(
        mocks,
        TestRequest::post()
            .uri("/api/v1/auth/register")
            .set_json(register_body()),
    )
    .await;
    assert_eq!(status, 409);
    assert_problem(&headers, &body, 409, "EMAIL_TAKEN");
}

#[actix_web::test]
async fn login_accepts_the_oauth2_password_form() {
    let mut mocks = Mocks::new();
    mocks
        .auth
        .expect_login()
        .withf(|login, password| login == "ada" && password == "Secret123")
        .times(1)
        .returning(|_, _| Ok(pair()));
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(
            "grant_type=password&username=ada&password=Secret123&scope=&client_id=swagger",
        );
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 200);
    assert_eq!(body["access_token"], "access");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
}

#[actix_web::test]
async fn login_with_bad_credentials_is_401_invalid_credentials_without_a_challenge() {
    let mut mocks = Mocks::new();
    mocks
        .auth
        .expect_login()
        .returning(|_, _| Err(ServiceError::InvalidCredentials));
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .set_json(json!({"username": "ada", "password": "nope"}));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 401);
    assert_problem(&headers, &body, 401, "INVALID_CREDENTIALS");
}

#[actix_web::test]
async fn protected_routes_without_a_token_answer_401_with_a_bearer_challenge() {
    let mut mocks = Mocks::new();
    mocks.users.expect_me().never();
    let (status, headers, body) = call(mocks, TestRequest::get().uri("/api/v1/users/me")).await;
    assert_eq!(status, 401);
    assert_problem(&headers, &body, 401, "UNAUTHENTICATED");
    assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
}

#[actix_web::test]
async fn an_invalid_token_answers_401_invalid_token() {
    let req = TestRequest::get()
        .uri("/api/v1/users/me")
        .insert_header(("authorization", "Bearer forged"));
    let (status, headers, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 401);
    assert_problem(&headers, &body, 401, "UNAUTHENTICATED");
    assert_eq!(
        headers.get("www-authenticate").unwrap(),
        "Bearer error=\"invalid_token\""
    );
}

#[actix_web::test]
async fn me_returns_the_callers_account() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_me()
        .withf(|p| *p == principal())
        .returning(|_| Ok(user()));
    let req = TestRequest::get()
        .uri("/api/v1/users/me")
        .insert_header(("authorization", format!("Bearer {TOKEN}")));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], Uuid::from_u128(7).to_string());
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["full_name"], Value::Null);
}

#[actix_web::test]
async fn patch_me_refuses_role_and_is_active() {
    for field in ["role", "is_active"] {
        let mut mocks = Mocks::new();
        mocks.users.expect_update_me().never();
        let req = TestRequest::patch()
            .uri("/api/v1/users/me")
            .insert_header(("authorization", format!("Bearer {TOKEN}")))
            .set_json(json!({ field: "admin" }));
        let (status, headers, body) = call(mocks, req).await;
        assert_eq!(status, 422, "{field}");
        assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    }
}

#[actix_web::test]
async fn patch_me_with_null_full_name_clears_it() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_update_me()
        .withf(|_, changes| changes.full_name == Some(None) && changes.email.is_none())
        .times(1)
        .returning(|_, _| Ok(user()));
    let req = TestRequest::patch()
        .uri("/api/v1/users/me")
        .insert_header(("authorization", format!("Bearer {TOKEN}")))
        .set_json(json!({"full_name": null}));
    let (status, _, _) = call(mocks, req).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn logout_answers_204() {
    let mut mocks = Mocks::new();
    mocks
        .auth
        .expect_logout()
        .withf(|p| *p == principal())
        .times(1)
        .returning(|_| Ok(()));
    let req = TestRequest::post()
        .uri("/api/v1/auth/logout")
        .insert_header(("authorization", format!("Bearer {TOKEN}")));
    let (status, _, _) = call(mocks, req).await;
    assert_eq!(status, 204);
}

#[actix_web::test]
async fn unknown_routes_and_wrong_methods_answer_problem_json() {
    let (status, headers, body) = call(Mocks::new(), TestRequest::get().uri("/nope")).await;
    assert_eq!(status, 404);
    assert_problem(&headers, &body, 404, "NOT_FOUND");
    let (status, headers, body) = call(Mocks::new(), TestRequest::delete().uri("/health")).await;
    assert_eq!(status, 405);
    assert_problem(&headers, &body, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(headers.get("allow").unwrap(), "GET");
}

#[actix_web::test]
async fn every_response_carries_the_security_headers_and_a_request_id() {
    let (status, headers, _) = call(Mocks::new(), TestRequest::get().uri("/health")).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
    assert!(
        headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert!(
        headers.get("strict-transport-security").is_none(),
        "HSTS is opt-in"
    );
    assert_eq!(headers.get("x-request-id").unwrap().len(), 36);
}

#[actix_web::test]
async fn each_edge_header_appears_once_and_every_request_id_is_a_fresh_uuid() {
    let app = test::init_service(strata_http::app(
        Mocks::new().state(),
        HttpSettings::default(),
    ))
    .await;
    let mut seen = std::collections::HashSet::new();
    // More requests than ids share one buffer, so ids from one chunk and
    // the next are all compared.
    for i in 0..300 {
        let uri = ["/health", "/docs/", "/nope", "/metrics", "/api/v1/users/me"][i % 5];
        let res = test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
        for name in [
            "x-request-id",
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
            "content-security-policy",
        ] {
            assert_eq!(res.headers().get_all(name).count(), 1, "{name} on {uri}");
        }
        let id = res
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(Uuid::parse_str(&id).is_ok(), "{id}");
        assert!(seen.insert(id), "request ids are unique");
    }
}

#[actix_web::test]
async fn a_valid_incoming_request_id_is_kept_and_an_unsafe_one_replaced() {
    let req = TestRequest::get()
        .uri("/health")
        .insert_header(("x-request-id", "abc-123"));
    let (_, headers, _) = call(Mocks::new(), req).await;
    assert_eq!(headers.get("x-request-id").unwrap(), "abc-123");
    let req = TestRequest::get()
        .uri("/health")
        .insert_header(("x-request-id", "evil\"value"));
    let (_, headers, _) = call(Mocks::new(), req).await;
    assert_ne!(headers.get("x-request-id").unwrap(), "evil\"value");
}

#[actix_web::test]
async fn hsts_is_sent_when_configured() {
    let settings = HttpSettings {
        edge: strata_http::EdgeConfig::new(Some(31_536_000)),
        ..HttpSettings::default()
    };
    let app = test::init_service(strata_http::app(Mocks::new().state(), settings)).await;
    let res = test::call_service(&app, TestRequest::get().uri("/health").to_request()).await;
    assert_eq!(
        res.headers().get("strict-transport-security").unwrap(),
        "max-age=31536000; includeSubDomains"
    );
}

#[actix_web::test]
async fn readiness_is_503_naming_the_failing_check() {
    let mut mocks = Mocks::new();
    mocks.health.expect_readiness().returning(|| Readiness {
        database: false,
        jobs: None,
        events: None,
    });
    let (status, _, body) = call(mocks, TestRequest::get().uri("/health/ready")).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"status": "unavailable", "checks": {"database": "failing"}})
    );
}

/// A readiness check that never answers, as with a database that hangs.
struct StuckHealth;

#[async_trait::async_trait]
impl strata_service::HealthService for StuckHealth {
    async fn readiness(&self) -> Readiness {
        std::future::pending().await
    }
}

#[actix_web::test]
async fn a_hanging_readiness_check_is_abandoned_with_a_503_problem() {
    let settings = HttpSettings {
        edge: strata_http::EdgeConfig {
            request_timeout: std::time::Duration::from_millis(200),
            ..strata_http::EdgeConfig::default()
        },
        ..HttpSettings::default()
    };
    let mut state = Mocks::new().state();
    state.health = std::sync::Arc::new(StuckHealth);
    let app = test::init_service(strata_http::app(state, settings)).await;
    // An error from middleware reaches the server as `Err`; it sends the
    // response the edge rendered into it.
    let call = test::try_call_service(&app, TestRequest::get().uri("/health/ready").to_request());
    let err = tokio::time::timeout(std::time::Duration::from_secs(5), call)
        .await
        .expect("answered long before the test's own deadline")
        .err()
        .expect("the timeout answers through the error path");
    let res = actix_web::ResponseError::error_response(err.as_response_error());
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, 503);
    assert_problem(&headers, &body, 503, "SERVICE_UNAVAILABLE");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary_with_a_relaxed_csp() {
    let app = test::init_service(strata_http::app(
        Mocks::new().state(),
        HttpSettings::default(),
    ))
    .await;
    let res = test::call_service(&app, TestRequest::get().uri("/docs").to_request()).await;
    assert!(res.status().is_redirection());
    let res = test::call_service(&app, TestRequest::get().uri("/docs/").to_request()).await;
    assert_eq!(res.status(), 200);
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        !html.contains("cdn") && !html.contains("unpkg"),
        "no CDN references"
    );
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/docs/swagger-ui-bundle.js")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
}
