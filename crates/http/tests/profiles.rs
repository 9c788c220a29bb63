//! Handler tests for profiles and follows with a mocked `ProfileService`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use strata_domain::ValidationErrors;
use strata_domain::validation::Violation;
use strata_service::ServiceError;

mod common;

use common::*;

fn assert_profile(body: &Value, following: bool) {
    assert_eq!(
        body["id"],
        uuid::Uuid::from_u128(0x91).to_string(),
        "{body}"
    );
    assert_eq!(body["username"], "celeb");
    assert_eq!(body["bio"], "Famous.");
    assert_eq!(body["image"], "https://example.com/celeb.png");
    assert_eq!(body["following"], following);
}

#[actix_web::test]
async fn a_profile_is_public_and_a_token_tells_whether_the_caller_follows() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_get()
        .withf(|viewer, name| viewer.is_none() && name == "Celeb")
        .times(1)
        .returning(|_, _| Ok(profile(false)));
    mocks
        .profiles
        .expect_get()
        .withf(|viewer, name| *viewer == Some(principal()) && name == "Celeb")
        .times(1)
        .returning(|_, _| Ok(profile(true)));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let res = actix_web::test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/profiles/Celeb")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = actix_web::test::read_body_json(res).await;
    assert_profile(&body, false);
    let body: Value = actix_web::test::call_and_read_body_json(
        &app,
        TestRequest::get()
            .uri("/api/v1/profiles/Celeb")
            .insert_header(bearer(TOKEN))
            .to_request(),
    )
    .await;
    assert_profile(&body, true);
}

#[actix_web::test]
async fn an_unknown_or_impossible_username_is_404() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_get()
        .withf(|_, name| name == "ghost")
        .times(1)
        .returning(|_, _| Err(ServiceError::NotFound));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    // "a%20b" and "x" cannot be usernames: the service is not asked.
    for uri in [
        "/api/v1/profiles/ghost",
        "/api/v1/profiles/a%20b",
        "/api/v1/profiles/x",
    ] {
        let res =
            actix_web::test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(res.status(), 404, "{uri}");
        let headers = res.headers().clone();
        let body: Value = actix_web::test::read_body_json(res).await;
        assert_problem(&headers, &body, 404, "NOT_FOUND");
    }
}

#[actix_web::test]
async fn a_refused_token_on_a_public_profile_is_still_401() {
    let mut mocks = Mocks::new();
    mocks.profiles.expect_get().never();
    let req = TestRequest::get()
        .uri("/api/v1/profiles/celeb")
        .insert_header(bearer("forged"));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 401);
    assert_problem(&headers, &body, 401, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn following_and_unfollowing_answer_the_profile() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_follow()
        .withf(|caller, name| *caller == principal() && name == "celeb")
        .times(1)
        .returning(|_, _| Ok(profile(true)));
    mocks
        .profiles
        .expect_unfollow()
        .withf(|caller, name| *caller == principal() && name == "celeb")
        .times(1)
        .returning(|_, _| Ok(profile(false)));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let res = actix_web::test::call_service(
        &app,
        TestRequest::put()
            .uri("/api/v1/profiles/celeb/follow")
            .insert_header(bearer(TOKEN))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/json"
    );
    let body: Value = actix_web::test::read_body_json(res).await;
    assert_profile(&body, true);
    let res = actix_web::test::call_service(
        &app,
        TestRequest::delete()
            .uri("/api/v1/profiles/celeb/follow")
            .insert_header(bearer(TOKEN))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = actix_web::test::read_body_json(res).await;
    assert_profile(&body, false);
}

#[actix_web::test]
async fn following_an_unknown_user_is_404_and_anonymous_following_401() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_unfollow()
        .returning(|_, _| Err(ServiceError::NotFound));
    let req = TestRequest::delete()
        .uri("/api/v1/profiles/ghost/follow")
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_problem(&headers, &body, 404, "NOT_FOUND");

    let mut mocks = Mocks::new();
    mocks.profiles.expect_follow().never();
    let req = TestRequest::put().uri("/api/v1/profiles/celeb/follow");
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 401);
    assert_problem(&headers, &body, 401, "UNAUTHENTICATED");
    assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
}

#[actix_web::test]
async fn following_oneself_is_a_validation_problem_naming_the_username() {
    let mut mocks = Mocks::new();
    mocks.profiles.expect_follow().returning(|_, _| {
        Err(
            ValidationErrors::single("username", Violation::new("self", "cannot follow yourself"))
                .into(),
        )
    });
    let req = TestRequest::put()
        .uri("/api/v1/profiles/ada/follow")
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    assert_eq!(error_fields(&body), ["username"]);
    assert_eq!(body["errors"][0]["code"], "self");
}

#[actix_web::test]
async fn the_callers_own_profile_needs_a_token() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_mine()
        .withf(|caller| *caller == principal())
        .times(1)
        .returning(|_| Ok(profile(false)));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let body: Value = actix_web::test::call_and_read_body_json(
        &app,
        TestRequest::get()
            .uri("/api/v1/users/me/profile")
            .insert_header(bearer(TOKEN))
            .to_request(),
    )
    .await;
    assert_profile(&body, false);
    let res = actix_web::test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/users/me/profile")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 401);
}

#[actix_web::test]
async fn a_profile_patch_clears_with_null_or_empty_and_keeps_what_is_absent() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_update()
        .withf(|caller, update| {
            *caller == principal() && update.bio == Some(None) && update.image.is_none()
        })
        .times(1)
        .returning(|_, _| {
            Ok(strata_domain::profiles::Profile {
                bio: None,
                ..profile(false)
            })
        });
    mocks
        .profiles
        .expect_update()
        .withf(|_, update| update.bio.is_none() && update.image == Some(None))
        .times(1)
        .returning(|_, _| {
            Ok(strata_domain::profiles::Profile {
                image: None,
                ..profile(false)
            })
        });
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let res = actix_web::test::call_service(
        &app,
        TestRequest::patch()
            .uri("/api/v1/users/me/profile")
            .insert_header(bearer(TOKEN))
            .set_json(json!({"bio": null}))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = actix_web::test::read_body_json(res).await;
    assert_eq!(body["bio"], Value::Null);
    assert_eq!(body["image"], "https://example.com/celeb.png");
    let body: Value = actix_web::test::call_and_read_body_json(
        &app,
        TestRequest::patch()
            .uri("/api/v1/users/me/profile")
            .insert_header(bearer(TOKEN))
            .set_json(json!({"image": ""}))
            .to_request(),
    )
    .await;
    assert_eq!(body["image"], Value::Null);
    assert_eq!(body["bio"], "Famous.");
}

#[actix_web::test]
async fn a_profile_patch_sets_a_trimmed_image() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_update()
        .withf(|_, update| {
            update
                .image
                .as_ref()
                .and_then(|i| i.as_ref())
                .map(|i| i.as_str())
                == Some("https://example.com/celeb.png")
                && update
                    .bio
                    .as_ref()
                    .and_then(|b| b.as_ref())
                    .map(|b| b.as_str())
                    == Some("Famous.")
        })
        .times(1)
        .returning(|_, _| Ok(profile(false)));
    let req = TestRequest::patch()
        .uri("/api/v1/users/me/profile")
        .insert_header(bearer(TOKEN))
        .set_json(json!({"bio": "Famous.", "image": " https://example.com/celeb.png "}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_profile(&body, false);
}

#[actix_web::test]
async fn a_bad_image_url_or_an_unknown_field_is_422_before_the_service() {
    for (patch, field, code) in [
        (json!({"image": "javascript:alert(1)"}), "image", "url"),
        (json!({"image": "ftp://example.com/a.png"}), "image", "url"),
        (json!({"bio": "x".repeat(2_001)}), "bio", "length"),
        (json!({"bio": "hi", "role": "admin"}), "role", "unknown"),
        (json!({"image": 5}), "image", "type"),
    ] {
        let mut mocks = Mocks::new();
        mocks.profiles.expect_update().never();
        let req = TestRequest::patch()
            .uri("/api/v1/users/me/profile")
            .insert_header(bearer(TOKEN))
            .set_json(&patch);
        let (status, headers, body) = call(mocks, req).await;
        assert_eq!(status, 422, "{patch}: {body}");
        assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
        assert_eq!(error_fields(&body), [field], "{patch}");
        assert_eq!(body["errors"][0]["code"], code, "{patch}");
    }
}
