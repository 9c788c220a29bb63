//! The contract's answers to hostile and malformed input (issue #11): shape
//! errors name their field, syntax is judged before shape, NUL is refused,
//! wrong methods answer 405 with `Allow`, and any string that is not a live
//! refresh token is simply 401.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use strata_service::ServiceError;
use strata_service::error::TokenRejection;
use uuid::Uuid;

mod common;

use common::*;

/// POSTs `body` (raw JSON text) to `uri` with a token and no service call
/// expected, returning the status and problem body.
async fn post_raw(uri: &str, body: &str) -> (u16, Value) {
    let req = TestRequest::post()
        .uri(uri)
        .insert_header(bearer(TOKEN))
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned());
    let (status, headers, body) = call(Mocks::new(), req).await;
    if status.is_client_error() {
        assert_problem(
            &headers,
            &body,
            status.as_u16(),
            body["code"].as_str().unwrap(),
        );
    }
    (status.as_u16(), body)
}

fn first_error(body: &Value) -> (String, String) {
    let e = &body["errors"][0];
    (
        e["field"].as_str().unwrap().to_owned(),
        e["code"].as_str().unwrap().to_owned(),
    )
}

#[actix_web::test]
async fn shape_errors_name_the_field_with_a_stable_code() {
    let cases = [
        (
            "/api/v1/auth/register",
            r#"{"email": "a@example.com", "username": "ada"}"#,
            "password",
            "required",
        ),
        ("/api/v1/items", r#"{"title": 42}"#, "title", "type"),
        (
            "/api/v1/items",
            r#"{"title": "x", "owner_id": "me"}"#,
            "owner_id",
            "unknown",
        ),
        (
            "/api/v1/users",
            r#"{"email": "a@example.com", "username": "ada", "password": "Secret123", "role": "superuser"}"#,
            "role",
            "enum",
        ),
        ("/api/v1/posts", r#"{"title": "t"}"#, "body", "required"),
        ("/api/v1/items", "[]", "body", "type"),
    ];
    for (uri, raw, field, code) in cases {
        let (status, body) = post_raw(uri, raw).await;
        assert_eq!(status, 422, "{uri} {raw}: {body}");
        assert_eq!(body["code"], "VALIDATION_FAILED");
        assert_eq!(
            first_error(&body),
            (field.to_owned(), code.to_owned()),
            "{uri} {raw}"
        );
        assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
    }
}

#[actix_web::test]
async fn broken_json_is_400_whatever_keys_come_first() {
    for raw in [
        r#"{"title": "x",}"#,
        r#"{"title": "x""#,
        r#"{"unknown": 1,"#,
        r#"{"title": "x"} {"#,
    ] {
        for uri in [
            "/api/v1/items",
            "/api/v1/auth/login",
            "/api/v1/auth/register",
        ] {
            let (status, body) = post_raw(uri, raw).await;
            assert_eq!(status, 400, "{uri} {raw}: {body}");
            assert_eq!(body["code"], "MALFORMED_REQUEST");
        }
    }
}

#[actix_web::test]
async fn nul_is_refused_in_every_text_field_with_the_field_named() {
    let cases = [
        (
            "/api/v1/auth/login",
            r#"{"username": "ad\u0000a", "password": "x"}"#,
            "username",
        ),
        (
            "/api/v1/auth/login",
            r#"{"username": "ada", "password": "x\u0000"}"#,
            "password",
        ),
        ("/api/v1/items", r#"{"title": "a\u0000"}"#, "title"),
        (
            "/api/v1/items",
            r#"{"title": "a", "description": "\u0000"}"#,
            "description",
        ),
        (
            "/api/v1/posts",
            r#"{"title": "a", "body": "b\u0000"}"#,
            "body",
        ),
        (
            "/api/v1/auth/refresh",
            r#"{"refresh_token": "\u0000"}"#,
            "refresh_token",
        ),
    ];
    for (uri, raw, field) in cases {
        let (status, body) = post_raw(uri, raw).await;
        assert_eq!(status, 422, "{uri} {raw}: {body}");
        assert_eq!(
            first_error(&body),
            (field.to_owned(), "control_character".to_owned())
        );
    }
}

#[actix_web::test]
async fn single_line_fields_refuse_control_characters_and_bodies_keep_line_breaks() {
    let (status, body) = post_raw("/api/v1/items", r#"{"title": "a\nb"}"#).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        first_error(&body),
        ("title".into(), "control_character".into())
    );

    let mut mocks = Mocks::new();
    mocks.posts.expect_create().never();
    let req = TestRequest::post()
        .uri("/api/v1/posts/00000000-0000-0000-0000-000000000001/comments")
        .insert_header(bearer(TOKEN))
        .set_json(json!({"body": "bell\u{7}"}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        first_error(&body),
        ("body".into(), "control_character".into())
    );
}

#[actix_web::test]
async fn nul_in_a_login_form_or_a_query_is_refused_and_named() {
    let mut mocks = Mocks::new();
    mocks.auth.expect_login().never();
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload("username=a%00b&password=x");
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        first_error(&body),
        ("username".into(), "control_character".into())
    );

    for (uri, field) in [
        ("/api/v1/items?q=a%00b", "q"),
        ("/api/v1/posts?q=%00", "q"),
        ("/api/v1/posts?author=a%00", "author"),
        ("/api/v1/users?q=%1b", "q"),
    ] {
        let mut mocks = Mocks::new();
        mocks.items.expect_list().never();
        mocks.posts.expect_list().never();
        mocks.users.expect_list().never();
        let req = TestRequest::get()
            .uri(uri)
            .insert_header(bearer(ADMIN_TOKEN));
        let (status, headers, body) = call(mocks, req).await;
        assert_eq!(status, 422, "{uri}: {body}");
        assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
        assert_eq!(
            first_error(&body),
            (field.into(), "control_character".into())
        );
    }
}

#[actix_web::test]
async fn a_missing_login_form_field_is_named() {
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload("username=ada");
    let (status, _, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(first_error(&body), ("password".into(), "required".into()));
}

#[actix_web::test]
async fn any_string_that_is_not_a_live_refresh_token_is_401() {
    let jwt_like = format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", "x".repeat(400));
    for token in ["", "short", jwt_like.as_str()] {
        let mut mocks = Mocks::new();
        mocks
            .auth
            .expect_refresh()
            .returning(|_| Err(ServiceError::Unauthenticated(TokenRejection::Invalid)));
        let req = TestRequest::post()
            .uri("/api/v1/auth/refresh")
            .set_json(json!({ "refresh_token": token }));
        let (status, headers, body) = call(mocks, req).await;
        assert_eq!(status, 401, "{token:.20}: {body}");
        assert_problem(&headers, &body, 401, "UNAUTHENTICATED");
    }
}

#[actix_web::test]
async fn a_known_path_with_a_method_it_does_not_serve_is_405_with_allow() {
    let item = format!("/api/v1/items/{}", Uuid::from_u128(7));
    let cases = [
        ("TRACE", "/health", "GET"),
        ("PUT", "/api/v1/items", "GET, POST"),
        ("PUT", item.as_str(), "GET, PATCH, DELETE"),
        ("POST", "/openapi.json", "GET"),
        ("DELETE", "/api/v1/users/me", "GET, PATCH, DELETE"),
    ];
    for (method, uri, allow) in cases {
        let req = TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri)
            .insert_header(bearer(TOKEN));
        let (status, headers, body) = call(Mocks::new(), req).await;
        if method == "DELETE" {
            // DELETE /users/me is served; it is here to show a routed method
            // never reaches the 405 fallback.
            assert_ne!(status, 405, "{method} {uri}");
            continue;
        }
        assert_eq!(status, 405, "{method} {uri}: {body}");
        assert_problem(&headers, &body, 405, "METHOD_NOT_ALLOWED");
        assert_eq!(headers.get("allow").unwrap(), allow, "{method} {uri}");
    }
    let (status, _, _) = call(Mocks::new(), TestRequest::get().uri("/api/v1/nowhere")).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn json_media_types_are_recognised_in_any_case_with_parameters() {
    for (content_type, status) in [
        ("Application/JSON; charset=utf-8", 422),
        ("application/vnd.api+json", 422),
        ("application/jsonx", 415),
        ("text/json", 415),
    ] {
        let req = TestRequest::post()
            .uri("/api/v1/items")
            .insert_header(bearer(TOKEN))
            .insert_header(("content-type", content_type))
            .set_payload("{}");
        let (got, _, body) = call(Mocks::new(), req).await;
        assert_eq!(got, status, "{content_type}: {body}");
    }
}
