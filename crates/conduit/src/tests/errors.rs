//! The error shapes every route shares: authentication, bodies, 500s.

use actix_web::test::TestRequest;
use serde_json::json;
use strata_domain::RepoError;

use super::*;

#[actix_web::test]
async fn a_missing_token_is_401_before_the_path_or_body_is_read() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_get_by_slug().never();
    mocks.posts.expect_delete_comment().never();
    let req = TestRequest::delete().uri("/api/articles/some-slug/comments/1");
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"errors": {"token": ["is missing"]}}));

    let req = TestRequest::post()
        .uri("/api/articles")
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{not json");
    let (status, _, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"errors": {"token": ["is missing"]}}));
}

#[actix_web::test]
async fn a_refused_token_is_401_even_where_authentication_is_optional() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_list().never();
    let req = TestRequest::get()
        .uri("/api/articles")
        .insert_header(token("expired.jwt"));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"errors": {"token": ["is invalid"]}}));
    assert_eq!(headers.get("www-authenticate").unwrap(), "Token");
}

#[actix_web::test]
async fn malformed_and_oversized_bodies_are_refused_with_conduits_shape() {
    let req = TestRequest::post()
        .uri("/api/articles")
        .insert_header(token(TOKEN))
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{not json");
    let (status, _, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 422);
    assert_eq!(body, json!({"errors": {"body": ["is not valid JSON"]}}));

    let req = TestRequest::post()
        .uri("/api/articles")
        .insert_header(token(TOKEN))
        .set_json(json!({"article": {"title": 7}}));
    let (status, _, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 422);
    let reason = body["errors"]["body"][0].as_str().unwrap();
    assert!(reason.starts_with("invalid type: integer `7`"), "{reason}");

    let req = TestRequest::post()
        .uri("/api/articles")
        .insert_header(token(TOKEN))
        .set_json(json!({"article": {"body": "x".repeat(70_000)}}));
    let (status, _, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 413);
    assert_eq!(body, json!({"errors": {"body": ["is too large"]}}));
}

#[actix_web::test]
async fn an_unexpected_failure_is_500_and_says_nothing_of_its_cause() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_tags().returning(|| {
        Err(RepoError::Unexpected {
            context: "select tags",
            source: "the database password is hunter2".into(),
        }
        .into())
    });
    let (status, _, body) = call(mocks, TestRequest::get().uri("/api/tags")).await;
    assert_eq!(status, 500);
    assert_eq!(body, json!({"errors": {"server": ["internal error"]}}));
}
