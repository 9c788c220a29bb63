//! Handler tests for items, posts and user administration with mocked
//! services: pagination bounds, ETags, preconditions, streaming export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::{self, TestRequest};
use serde_json::{Value, json};
use strata_domain::page::Page;
use strata_http::HttpSettings;
use strata_service::ServiceError;
use uuid::Uuid;

mod common;

use common::*;

#[actix_web::test]
async fn a_limit_above_100_is_refused_with_the_offending_parameter_named() {
    let mut mocks = Mocks::new();
    mocks.items.expect_list().never();
    let req = TestRequest::get()
        .uri("/api/v1/items?limit=1000&offset=-1&sort=password")
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    let fields = error_fields(&body);
    assert_eq!(fields, ["limit", "offset", "sort"]);
}

#[actix_web::test]
async fn a_non_numeric_limit_is_a_malformed_request() {
    let req = TestRequest::get()
        .uri("/api/v1/items?limit=lots")
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 400);
    assert_problem(&headers, &body, 400, "MALFORMED_REQUEST");
}

#[actix_web::test]
async fn item_pages_use_the_envelope_and_pass_filters_to_the_service() {
    let mut mocks = Mocks::new();
    mocks
        .items
        .expect_list()
        .withf(|_, owner, q, sort, page| {
            owner.is_none()
                && q.as_deref() == Some("milk")
                && sort.field == strata_domain::items::ItemSortField::Title
                && page.limit() == 5
                && page.offset() == 10
        })
        .returning(|_, _, _, _, page| Ok(Page::new(vec![item(1)], 11, page)));
    let req = TestRequest::get()
        .uri("/api/v1/items?limit=5&offset=10&sort=title&q=%20Milk%20")
        .insert_header(bearer(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 11);
    assert_eq!(body["limit"], 5);
    assert_eq!(body["offset"], 10);
    assert_eq!(body["items"][0]["title"], "Milk");
    assert!(body["items"][0].get("version").is_none());
}

#[actix_web::test]
async fn creating_an_item_answers_201_with_location_and_etag() {
    let mut mocks = Mocks::new();
    mocks.items.expect_create().returning(|_, _, _| Ok(item(1)));
    let req = TestRequest::post()
        .uri("/api/v1/items")
        .insert_header(bearer(TOKEN))
        .set_json(json!({"title": "Milk"}));
    let (status, headers, _) = call(mocks, req).await;
    assert_eq!(status, 201);
    assert_eq!(
        headers.get("location").unwrap(),
        &format!("/api/v1/items/{}", Uuid::from_u128(42))
    );
    assert_eq!(headers.get("etag").unwrap(), "\"1\"");
}

#[actix_web::test]
async fn if_match_is_passed_through_and_a_stale_one_is_412() {
    let mut mocks = Mocks::new();
    mocks
        .items
        .expect_update()
        .withf(|_, _, _, expected| *expected == Some(3))
        .returning(|_, _, _, _| Err(ServiceError::PreconditionFailed));
    let req = TestRequest::patch()
        .uri(&format!("/api/v1/items/{}", Uuid::from_u128(42)))
        .insert_header(bearer(TOKEN))
        .insert_header(("if-match", "\"3\""))
        .set_json(json!({"title": "Oat milk"}));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 412);
    assert_problem(&headers, &body, 412, "PRECONDITION_FAILED");
}

#[actix_web::test]
async fn a_weak_or_garbled_if_match_never_matches() {
    for value in ["W/\"3\"", "three", "\"\""] {
        let mut mocks = Mocks::new();
        mocks.items.expect_update().never();
        mocks.items.expect_get().returning(|_, _| Ok(item(3)));
        let req = TestRequest::patch()
            .uri(&format!("/api/v1/items/{}", Uuid::from_u128(42)))
            .insert_header(bearer(TOKEN))
            .insert_header(("if-match", value))
            .set_json(json!({"title": "x"}));
        let (status, _, _) = call(mocks, req).await;
        assert_eq!(status, 412, "{value}");
    }
}

#[actix_web::test]
async fn any_if_match_on_an_item_the_caller_cannot_see_is_404_as_for_a_missing_one() {
    for value in ["W/\"3\"", "three", "\"3\"", "*"] {
        let mut mocks = Mocks::new();
        // What the service answers for another user's item and for a missing one.
        mocks
            .items
            .expect_get()
            .returning(|_, _| Err(ServiceError::NotFound));
        mocks
            .items
            .expect_update()
            .returning(|_, _, _, _| Err(ServiceError::NotFound));
        let req = TestRequest::patch()
            .uri(&format!("/api/v1/items/{}", Uuid::from_u128(42)))
            .insert_header(bearer(TOKEN))
            .insert_header(("if-match", value))
            .set_json(json!({"title": "x"}));
        let (status, headers, body) = call(mocks, req).await;
        assert_eq!(status, 404, "{value}");
        assert_problem(&headers, &body, 404, "NOT_FOUND");
    }
}

#[actix_web::test]
async fn a_non_uuid_id_is_a_malformed_request() {
    let req = TestRequest::get()
        .uri("/api/v1/items/not-a-uuid")
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(Mocks::new(), req).await;
    assert_eq!(status, 400);
    assert_problem(&headers, &body, 400, "MALFORMED_REQUEST");
}

#[actix_web::test]
async fn admin_routes_answer_403_forbidden_when_the_service_refuses() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_stats()
        .returning(|_| Err(ServiceError::Forbidden));
    let req = TestRequest::get()
        .uri("/api/v1/users/stats")
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 403);
    assert_problem(&headers, &body, 403, "FORBIDDEN");
}

#[actix_web::test]
async fn an_admin_deleting_themself_is_a_409_conflict() {
    let mut mocks = Mocks::new();
    mocks.users.expect_delete().returning(|_, _| {
        Err(ServiceError::Conflict(
            "An administrator cannot delete themself.",
        ))
    });
    let req = TestRequest::delete()
        .uri(&format!("/api/v1/users/{}", admin().user_id))
        .insert_header(bearer(ADMIN_TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 409);
    assert_problem(&headers, &body, 409, "CONFLICT");
    assert!(body["detail"].as_str().unwrap().contains("themself"));
}

#[actix_web::test]
async fn an_unknown_role_value_is_refused() {
    let mut mocks = Mocks::new();
    mocks.users.expect_update().never();
    let req = TestRequest::patch()
        .uri(&format!("/api/v1/users/{}", Uuid::from_u128(1)))
        .insert_header(bearer(ADMIN_TOKEN))
        .set_json(json!({"role": "root"}));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    assert_eq!(body["errors"][0]["field"], "role");
    assert_eq!(body["errors"][0]["code"], "enum");
}

#[actix_web::test]
async fn the_csv_export_streams_every_batch_with_quoting_and_a_download_name() {
    let mut mocks = Mocks::new();
    // Two full batches of 500 then an empty one: the handler must follow the keyset.
    mocks
        .users
        .expect_export_batch()
        .returning(|_, after, limit| {
            let start = after.map_or(0, |a| a.as_u128());
            if start >= 1000 {
                return Ok(vec![]);
            }
            Ok((1..=limit as u128)
                .map(|i| {
                    let mut u = user();
                    u.id = Uuid::from_u128(start + i);
                    u.full_name = strata_domain::users::FullName::parse("Lovelace, Ada").unwrap();
                    u
                })
                .collect())
        });
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let req = TestRequest::get()
        .uri("/api/v1/users/export?format=csv")
        .insert_header(bearer(ADMIN_TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        res.headers().get("content-disposition").unwrap(),
        "attachment; filename=\"users.csv\""
    );
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1001, "header + 1000 rows");
    assert!(lines[0].starts_with("id,email,username"));
    assert!(
        lines[1].contains(",\"Lovelace, Ada\",user,true,"),
        "{}",
        lines[1]
    );
}

#[actix_web::test]
async fn the_json_export_is_one_valid_array() {
    let exported = user();
    let row = exported.clone();
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_export_batch()
        .returning(move |_, after, _| {
            Ok(if after.is_none() {
                vec![row.clone()]
            } else {
                vec![]
            })
        });
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let req = TestRequest::get()
        .uri("/api/v1/users/export?format=json")
        .insert_header(bearer(ADMIN_TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 200);
    let body: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    assert_eq!(body.as_array().unwrap().len(), 1);
    assert_eq!(body[0]["username"], "ada");
    // Each row is the User resource, field for field.
    assert_eq!(
        body[0],
        serde_json::to_value(strata_http::users::UserResponse::from(&exported)).unwrap()
    );
}

#[actix_web::test]
async fn an_export_refused_by_the_service_is_a_403_not_a_broken_download() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_export_batch()
        .returning(|_, _, _| Err(ServiceError::Forbidden));
    let req = TestRequest::get()
        .uri("/api/v1/users/export")
        .insert_header(bearer(TOKEN));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 403);
    assert_problem(&headers, &body, 403, "FORBIDDEN");
}

#[actix_web::test]
async fn posts_are_public_to_read_but_writing_needs_a_token() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_list()
        .returning(|_, _, page| Ok(Page::new(vec![], 0, page)));
    mocks.posts.expect_create().never();
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/posts?author=Ada")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let req = TestRequest::post()
        .uri("/api/v1/posts")
        .set_json(json!({"title": "t", "body": "b"}))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 401);
}

#[actix_web::test]
async fn a_blank_comment_is_refused() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_add_comment().never();
    let req = TestRequest::post()
        .uri(&format!("/api/v1/posts/{}/comments", Uuid::from_u128(1)))
        .insert_header(bearer(TOKEN))
        .set_json(json!({"body": "   "}));
    let (status, headers, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "VALIDATION_FAILED");
    assert_eq!(body["errors"][0]["field"], "body");
}
