//! Comments and profiles.

use actix_web::test::TestRequest;
use serde_json::json;
use strata_domain::page::Page;
use strata_service::ServiceError;

use super::*;

#[actix_web::test]
async fn an_unknown_or_non_numeric_comment_id_is_404_comment_once_the_article_is_known() {
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    mocks
        .posts
        .expect_get_comment_by_number()
        .withf(|post, number| *post == POST && *number == 99_999)
        .times(1)
        .returning(|_, _| Err(ServiceError::NotFound));
    mocks.posts.expect_delete_comment().never();
    let req = TestRequest::delete()
        .uri(&format!("/api/articles/{SLUG}/comments/99999"))
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"errors": {"comment": ["not found"]}}));

    // Not a number: no lookup at all.
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    mocks.posts.expect_get_comment_by_number().never();
    mocks.posts.expect_delete_comment().never();
    let req = TestRequest::delete()
        .uri(&format!("/api/articles/{SLUG}/comments/01a24f23-b712"))
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"errors": {"comment": ["not found"]}}));

    // Under an unknown article, the article is what is missing.
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_get_by_slug()
        .returning(|_| Err(ServiceError::NotFound));
    mocks.posts.expect_delete_comment().never();
    let req = TestRequest::delete()
        .uri("/api/articles/unknown-slug/comments/99999")
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"errors": {"article": ["not found"]}}));
}

#[actix_web::test]
async fn someone_elses_comment_is_403_comment_and_an_unknown_one_404_comment() {
    let id = comment(0, OTHER).id;
    let number = comment(0, OTHER).number;
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    expect_comment(&mut mocks, OTHER);
    mocks
        .posts
        .expect_delete_comment()
        .withf(move |caller, post, comment| {
            *caller == principal() && *post == POST && *comment == id
        })
        .times(1)
        .returning(|_, _, _| Err(ServiceError::Forbidden));
    let req = TestRequest::delete()
        .uri(&format!("/api/articles/{SLUG}/comments/{number}"))
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 403);
    assert_eq!(body, json!({"errors": {"comment": ["forbidden"]}}));

    // Deleted meanwhile, between the lookup and the delete.
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    expect_comment(&mut mocks, OTHER);
    mocks
        .posts
        .expect_delete_comment()
        .returning(|_, _, _| Err(ServiceError::NotFound));
    let req = TestRequest::delete()
        .uri(&format!("/api/articles/{SLUG}/comments/{number}"))
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"errors": {"comment": ["not found"]}}));
}

#[actix_web::test]
async fn deleting_ones_own_comment_is_204() {
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    expect_comment(&mut mocks, ME);
    mocks
        .posts
        .expect_delete_comment()
        .times(1)
        .returning(|_, _, _| Ok(()));
    let req = TestRequest::delete()
        .uri(&format!(
            "/api/articles/{SLUG}/comments/{}",
            comment(0, ME).number
        ))
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 204);
    assert_eq!(body, json!(null));
}

#[actix_web::test]
async fn the_comments_are_the_oldest_hundred_with_their_authors_in_one_call() {
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    mocks
        .posts
        .expect_list_comments()
        .withf(|post, page| *post == POST && (page.limit(), page.offset()) == (100, 0))
        .times(1)
        .returning(|_, page| {
            let items = vec![comment(0, ME), comment(1, OTHER), comment(2, ME)];
            Ok(Page::new(items, 3, page))
        });
    mocks
        .profiles
        .expect_many()
        .withf(|viewer, ids| viewer.is_none() && ids.len() == 2)
        .times(1)
        .returning(|_, _| Ok(vec![profile(ME, "jake"), profile(OTHER, "celeb")]));
    let req = TestRequest::get().uri(&format!("/api/articles/{SLUG}/comments"));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    let comments = body["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 3);
    assert_eq!(
        comments[0],
        json!({
            "id": 1,
            "createdAt": "2026-01-02T03:03:05.000Z",
            "updatedAt": "2026-01-02T03:03:05.000Z",
            "body": "Nice!",
            "author": {"username": "jake", "bio": null, "image": null, "following": false},
        })
    );
    assert_eq!(comments[1]["author"]["username"], "celeb");
}

#[actix_web::test]
async fn a_comment_is_added_as_the_caller_and_a_blank_one_refused() {
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    mocks
        .posts
        .expect_add_comment()
        .withf(|caller, post, body, once| {
            *caller == principal() && *post == POST && body.as_str() == "Nice!" && once.is_none()
        })
        .times(1)
        .returning(|_, _, _, _| Ok(comment(0, ME)));
    mocks
        .profiles
        .expect_many()
        .times(1)
        .returning(|_, _| Ok(vec![profile(ME, "jake")]));
    let req = TestRequest::post()
        .uri(&format!("/api/articles/{SLUG}/comments"))
        .insert_header(token(TOKEN))
        .set_json(json!({"comment": {"body": "Nice!"}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["comment"]["body"], "Nice!");

    let mut mocks = Mocks::new();
    mocks.posts.expect_add_comment().never();
    let req = TestRequest::post()
        .uri(&format!("/api/articles/{SLUG}/comments"))
        .insert_header(token(TOKEN))
        .set_json(json!({"comment": {"body": "  "}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_eq!(body, json!({"errors": {"body": ["can't be blank"]}}));
}

#[actix_web::test]
async fn an_unknown_profile_is_404_profile() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_get()
        .withf(|viewer, name| viewer.is_none() && name == "ghost")
        .times(1)
        .returning(|_, _| Err(ServiceError::NotFound));
    let (status, _, body) = call(mocks, TestRequest::get().uri("/api/profiles/ghost")).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"errors": {"profile": ["not found"]}}));
}

#[actix_web::test]
async fn following_answers_the_profile_as_the_caller_now_sees_it() {
    let mut mocks = Mocks::new();
    mocks
        .profiles
        .expect_follow()
        .withf(|caller, name| *caller == principal() && name == "celeb")
        .times(1)
        .returning(|_, _| {
            Ok(Profile {
                following: true,
                ..profile(OTHER, "celeb")
            })
        });
    let req = TestRequest::post()
        .uri("/api/profiles/celeb/follow")
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"profile": {"username": "celeb", "bio": null, "image": null, "following": true}})
    );
}

/// The article's comment number 1, by `author`.
fn expect_comment(mocks: &mut Mocks, author: Uuid) {
    mocks
        .posts
        .expect_get_comment_by_number()
        .withf(|post, number| *post == POST && *number == 1)
        .returning(move |_, _| Ok(comment(0, author)));
}
