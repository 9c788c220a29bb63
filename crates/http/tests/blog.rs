//! Handler tests for the blog's posts with mocked services: slugs,
//! descriptions and tags, the list's filters, the feed, favorites and tags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use strata_domain::page::Page;
use strata_domain::posts::{Tag, parse_tags};
use strata_service::ServiceError;

mod common;

use common::*;

fn tag_names(tags: &[Tag]) -> Vec<&str> {
    tags.iter().map(Tag::as_str).collect()
}

/// The fields every post in a body carries, checked against [`post`].
fn assert_post(body: &Value, favorites_count: u64) {
    assert_eq!(body["id"], POST.to_string(), "{body}");
    assert_eq!(body["slug"], "hello-world-000000000090");
    assert_eq!(body["title"], "Hello, World");
    assert_eq!(body["description"], "A greeting");
    assert_eq!(body["tags"], json!(["rust", "web"]));
    assert_eq!(body["favorites_count"], favorites_count);
    assert_eq!(body["comment_count"], 2);
    assert_eq!(body["author"]["username"], "ada");
}

#[actix_web::test]
async fn a_post_is_created_with_its_description_and_trimmed_distinct_tags() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_create()
        .withf(|caller, draft, once| {
            *caller == principal()
                && draft.title.as_str() == "Hello, World"
                && draft.description.as_ref().map(|d| d.as_str()) == Some("A greeting")
                && tag_names(&draft.tags) == ["rust", "web"]
                && once.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(post(0)));
    let req = TestRequest::post()
        .uri("/api/v1/posts")
        .insert_header(bearer(TOKEN))
        .set_json(json!({
            "title": "Hello, World",
            "description": "A greeting",
            "body": "First!",
            "tags": ["rust", " web ", "rust"],
        }));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        headers.get("location").unwrap(),
        &format!("/api/v1/posts/{POST}")
    );
    assert_post(&body, 0);
}

#[actix_web::test]
async fn a_post_without_description_or_tags_gets_none() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_create()
        .withf(|_, draft, _| draft.description.is_none() && draft.tags.is_empty())
        .times(1)
        .returning(|_, _, _| {
            Ok(strata_domain::posts::Post {
                description: None,
                tags: vec![],
                ..post(0)
            })
        });
    let req = TestRequest::post()
        .uri("/api/v1/posts")
        .insert_header(bearer(TOKEN))
        .set_json(json!({"title": "Hello, World", "body": "First!", "description": null}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["description"], Value::Null);
    assert_eq!(body["tags"], json!([]));
}

#[actix_web::test]
async fn bad_tags_and_descriptions_are_named_together_and_never_reach_the_service() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_create().never();
    let too_many: Vec<String> = (0..=strata_domain::posts::TAGS_MAX)
        .map(|i| format!("t{i}"))
        .collect();
    for (tags, code) in [
        (json!(too_many), "count"),
        (json!(["ok", "x".repeat(65)]), "length"),
        (json!(["  "]), "length"),
        (json!(["a\u{7}b"]), "control_character"),
    ] {
        let mut mocks = Mocks::new();
        mocks.posts.expect_create().never();
        let req = TestRequest::post()
            .uri("/api/v1/posts")
            .insert_header(bearer(TOKEN))
            .set_json(json!({"title": "t", "body": "b", "tags": tags}));
        let (status, headers, body) = call(mocks, req).await;
        assert_eq!(status, 422, "{tags}: {body}");
        assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
        assert_eq!(error_fields(&body), ["tags"], "{tags}");
        assert_eq!(body["errors"][0]["code"], code, "{tags}");
    }
    let req = TestRequest::post()
        .uri("/api/v1/posts")
        .insert_header(bearer(TOKEN))
        .set_json(json!({
            "title": " ",
            "description": "x".repeat(501),
            "body": "b",
            "tags": ["x".repeat(65)],
        }));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_eq!(error_fields(&body), ["description", "tags", "title"]);
}

#[actix_web::test]
async fn an_update_clears_the_description_with_null_and_replaces_the_tags() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_update()
        .withf(|caller, id, changes| {
            *caller == principal()
                && *id == POST
                && changes.title.is_none()
                && changes.body.is_none()
                && changes.description == Some(None)
                && changes.tags == Some(vec![])
        })
        .times(1)
        .returning(|_, _, _| {
            Ok(strata_domain::posts::Post {
                description: None,
                tags: vec![],
                ..post(0)
            })
        });
    mocks
        .posts
        .expect_update()
        .withf(|_, _, changes| {
            changes.description.is_none() && changes.tags == Some(parse_tags(&["db"]).unwrap())
        })
        .times(1)
        .returning(|_, _, _| Ok(post(0)));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let clear = TestRequest::patch()
        .uri(&format!("/api/v1/posts/{POST}"))
        .insert_header(bearer(TOKEN))
        .set_json(json!({"description": null, "tags": []}))
        .to_request();
    let body: Value = actix_web::test::call_and_read_body_json(&app, clear).await;
    assert_eq!(body["description"], Value::Null);
    assert_eq!(body["tags"], json!([]));
    let replace = TestRequest::patch()
        .uri(&format!("/api/v1/posts/{POST}"))
        .insert_header(bearer(TOKEN))
        .set_json(json!({"tags": ["db"]}))
        .to_request();
    let res = actix_web::test::call_service(&app, replace).await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn the_lists_tag_and_favorited_filters_reach_the_service() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_list()
        .withf(|filter, _, page| {
            filter.tag.as_deref() == Some("Rust")
                && filter.favorited_by.as_deref() == Some("ada")
                && filter.author.is_none()
                && filter.followed_by.is_none()
                && page.limit() == 5
        })
        .times(1)
        .returning(|_, _, page| Ok(Page::new(vec![post(3)], 1, page)));
    let req = TestRequest::get().uri("/api/v1/posts?tag=%20Rust%20&favorited=Ada&limit=5");
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["limit"], 5);
    assert_post(&body["items"][0], 3);
}

#[actix_web::test]
async fn a_tag_filter_with_a_control_character_is_refused_by_name() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_list().never();
    let req = TestRequest::get().uri("/api/v1/posts?tag=a%07b");
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    assert_eq!(error_fields(&body), ["tag"]);
}

#[actix_web::test]
async fn the_feed_needs_a_token() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_feed().never();
    let (status, headers, body) = call(mocks, TestRequest::get().uri("/api/v1/posts/feed")).await;
    assert_eq!(status, 401);
    assert_problem(&headers, &body, 401, "UNAUTHENTICATED");
    assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
}

#[actix_web::test]
async fn the_feed_pages_the_callers_followed_authors() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_feed()
        .withf(|caller, page| *caller == principal() && page.limit() == 5 && page.offset() == 10)
        .times(1)
        .returning(|_, page| Ok(Page::new(vec![post(1)], 11, page)));
    let req = TestRequest::get()
        .uri("/api/v1/posts/feed?limit=5&offset=10")
        .insert_header(bearer(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 11);
    assert_eq!(body["limit"], 5);
    assert_eq!(body["offset"], 10);
    assert_post(&body["items"][0], 1);
}

#[actix_web::test]
async fn the_feed_refuses_bad_page_bounds_by_name() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_feed().never();
    let req = TestRequest::get()
        .uri("/api/v1/posts/feed?limit=0")
        .insert_header(bearer(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_eq!(error_fields(&body), ["limit"]);
}

#[actix_web::test]
async fn favoriting_and_unfavoriting_answer_the_post_with_its_count() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_favorite()
        .withf(|caller, id| *caller == principal() && *id == POST)
        .times(1)
        .returning(|_, _| Ok(post(1)));
    mocks
        .posts
        .expect_unfavorite()
        .withf(|caller, id| *caller == principal() && *id == POST)
        .times(1)
        .returning(|_, _| Ok(post(0)));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let uri = format!("/api/v1/posts/{POST}/favorite");
    let res = actix_web::test::call_service(
        &app,
        TestRequest::put()
            .uri(&uri)
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
    assert_post(&body, 1);
    let res = actix_web::test::call_service(
        &app,
        TestRequest::delete()
            .uri(&uri)
            .insert_header(bearer(TOKEN))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = actix_web::test::read_body_json(res).await;
    assert_post(&body, 0);
}

#[actix_web::test]
async fn favoriting_a_missing_post_is_404_and_anonymous_favoriting_401() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_favorite()
        .returning(|_, _| Err(ServiceError::NotFound));
    let req = TestRequest::put()
        .uri(&format!("/api/v1/posts/{POST}/favorite"))
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_problem(&headers, &body, 404, "NOT_FOUND");

    let mut mocks = Mocks::new();
    mocks.posts.expect_unfavorite().never();
    let req = TestRequest::delete().uri(&format!("/api/v1/posts/{POST}/favorite"));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 401);
    assert_problem(&headers, &body, 401, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn tags_are_public_and_paged_in_the_list_envelope() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_tags()
        .times(2)
        .returning(|| Ok(parse_tags(&["rust", "web", "db"]).unwrap()));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let all: Value = actix_web::test::call_and_read_body_json(
        &app,
        TestRequest::get().uri("/api/v1/tags").to_request(),
    )
    .await;
    assert_eq!(
        all,
        json!({"items": ["rust", "web", "db"], "total": 3, "limit": 20, "offset": 0})
    );
    let page: Value = actix_web::test::call_and_read_body_json(
        &app,
        TestRequest::get()
            .uri("/api/v1/tags?limit=1&offset=1")
            .to_request(),
    )
    .await;
    assert_eq!(
        page,
        json!({"items": ["web"], "total": 3, "limit": 1, "offset": 1})
    );
}

#[actix_web::test]
async fn a_post_is_found_by_its_slug_and_a_malformed_slug_names_none() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_get_by_slug()
        .withf(|slug| slug.as_str() == "hello-world-000000000090")
        .times(1)
        .returning(|_| Ok(post(0)));
    let app = actix_web::test::init_service(strata_http::app(
        mocks.state(),
        strata_http::HttpSettings::default(),
    ))
    .await;
    let body: Value = actix_web::test::call_and_read_body_json(
        &app,
        TestRequest::get()
            .uri("/api/v1/posts/by-slug/hello-world-000000000090")
            .to_request(),
    )
    .await;
    assert_post(&body, 0);
    // Upper case is no slug: 404 without asking the service.
    let res = actix_web::test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/posts/by-slug/Hello-World")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[actix_web::test]
async fn the_feed_path_is_not_taken_for_a_post_id() {
    // PATCH is served on /posts/{id} only: /posts/feed answers 405 naming GET.
    let req = TestRequest::patch()
        .uri("/api/v1/posts/feed")
        .insert_header(bearer(TOKEN))
        .set_json(json!({}));
    let (status, headers, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(headers.get("allow").unwrap(), "GET");
}
