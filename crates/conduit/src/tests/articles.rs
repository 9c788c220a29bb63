//! Articles, the feed, favorites and tags.

use actix_web::test::TestRequest;
use serde_json::json;
use strata_domain::page::Page;
use strata_domain::posts::Tag;
use strata_service::ServiceError;

use super::*;

fn tag_names(tags: &[Tag]) -> Vec<&str> {
    tags.iter().map(Tag::as_str).collect()
}

#[actix_web::test]
async fn an_article_is_created_with_its_tags_and_answered_with_its_author() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_create()
        .withf(|caller, draft, once| {
            *caller == principal()
                && draft.title.as_str() == "How to train your dragon"
                && draft.description.as_ref().map(|d| d.as_str()) == Some("Ever wonder how?")
                && draft.body.as_str() == "You have to believe"
                && tag_names(&draft.tags) == ["dragons", "training"]
                && once.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(post(0, ME)));
    mocks
        .profiles
        .expect_many()
        .withf(|viewer, ids| *viewer == Some(principal()) && *ids == [ME])
        .times(1)
        .returning(|_, _| Ok(vec![profile(ME, "jake")]));
    // A post just written is nobody's favorite yet: no need to ask.
    mocks.posts.expect_favorited_among().never();
    let req = TestRequest::post()
        .uri("/api/articles")
        .insert_header(token(TOKEN))
        .set_json(json!({"article": {
            "title": "How to train your dragon",
            "description": "Ever wonder how?",
            "body": "You have to believe",
            "tagList": ["dragons", " training ", "dragons"],
        }}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({"article": {
            "slug": SLUG,
            "title": "Hello, World",
            "description": "A greeting",
            "body": "First!",
            "tagList": ["rust", "web"],
            "createdAt": "2026-01-02T03:01:05.000Z",
            "updatedAt": "2026-01-02T03:02:05.000Z",
            "favorited": false,
            "favoritesCount": 3,
            "author": {"username": "jake", "bio": null, "image": null, "following": false},
        }})
    );
}

#[actix_web::test]
async fn blank_article_fields_cannot_be_blank() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_create().never();
    let req = TestRequest::post()
        .uri("/api/articles")
        .insert_header(token(TOKEN))
        .set_json(json!({"article": {"title": " ", "body": "x", "tagList": ["ok", ""]}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"]["title"], json!(["can't be blank"]));
    assert_eq!(body["errors"]["description"], json!(["can't be blank"]));
    assert_eq!(
        body["errors"]["tagList"],
        json!(["each tag must be 1 to 64 characters"])
    );
    assert!(body["errors"].get("body").is_none(), "{body}");
}

#[actix_web::test]
async fn one_article_shows_whether_the_reader_favorited_it() {
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    mocks.profiles.expect_many().times(1).returning(|_, _| {
        Ok(vec![Profile {
            following: true,
            ..profile(OTHER, "celeb")
        }])
    });
    mocks
        .posts
        .expect_favorited_among()
        .withf(|caller, ids| *caller == principal() && *ids == [POST])
        .times(1)
        .returning(|_, _| Ok(vec![POST]));
    let req = TestRequest::get()
        .uri(&format!("/api/articles/{SLUG}"))
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["article"]["favorited"], true);
    assert_eq!(body["article"]["body"], "First!");
    assert_eq!(body["article"]["author"]["following"], true);
}

#[actix_web::test]
async fn a_page_of_articles_costs_one_list_and_one_profile_call_and_has_no_bodies() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_list()
        .withf(|filter, _, page| {
            filter.tag.as_deref() == Some("rust")
                && filter.author.as_deref() == Some("celeb")
                && filter.favorited_by.as_deref() == Some("jake")
                && filter.followed_by.is_none()
                && (page.limit(), page.offset()) == (100, 5)
        })
        .times(1)
        .returning(|_, _, page| {
            let items = vec![post(0, OTHER), post(1, ME), post(2, OTHER)];
            Ok(Page::new(items, 42, page))
        });
    mocks
        .profiles
        .expect_many()
        .withf(|viewer, ids| viewer.is_none() && ids.len() == 2)
        .times(1)
        .returning(|_, _| Ok(vec![profile(ME, "jake"), profile(OTHER, "celeb")]));
    // An anonymous reader has no favorites.
    mocks.posts.expect_favorited_among().never();
    let req = TestRequest::get()
        .uri("/api/articles?tag=rust&author=celeb&favorited=jake&limit=500&offset=5");
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["articlesCount"], 42);
    let articles = body["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 3);
    assert!(articles.iter().all(|a| a.get("body").is_none()), "{body}");
    assert_eq!(articles[1]["author"]["username"], "jake");
    assert_eq!(articles[2]["author"]["username"], "celeb");
}

#[actix_web::test]
async fn the_feed_needs_a_caller_and_is_not_an_article_named_feed() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_feed().never();
    let (status, _, body) = call(mocks, TestRequest::get().uri("/api/articles/feed")).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"errors": {"token": ["is missing"]}}));

    let mut mocks = Mocks::new();
    mocks.posts.expect_get_by_slug().never();
    mocks
        .posts
        .expect_feed()
        .withf(|caller, page| *caller == principal() && page.limit() == 20)
        .times(1)
        .returning(|_, page| Ok(Page::new(Vec::new(), 0, page)));
    let req = TestRequest::get()
        .uri("/api/articles/feed")
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"articles": [], "articlesCount": 0}));
}

#[actix_web::test]
async fn a_null_tag_list_is_422_and_an_empty_one_removes_every_tag() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_update().never();
    let req = TestRequest::put()
        .uri(&format!("/api/articles/{SLUG}"))
        .insert_header(token(TOKEN))
        .set_json(json!({"article": {"tagList": null}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 422);
    assert!(body["errors"]["tagList"].is_array(), "{body}");

    let mut mocks = Mocks::new();
    expect_post(&mut mocks, ME);
    mocks
        .posts
        .expect_update()
        .withf(|_, id, changes| {
            *id == POST
                && changes.tags == Some(Vec::new())
                && changes.title.is_none()
                && changes.description.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(post(0, ME)));
    mocks
        .profiles
        .expect_many()
        .returning(|_, _| Ok(vec![profile(ME, "jake")]));
    mocks
        .posts
        .expect_favorited_among()
        .returning(|_, _| Ok(Vec::new()));
    let req = TestRequest::put()
        .uri(&format!("/api/articles/{SLUG}"))
        .insert_header(token(TOKEN))
        .set_json(json!({"article": {"tagList": []}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn someone_elses_article_is_403() {
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    mocks
        .posts
        .expect_delete()
        .times(1)
        .returning(|_, _| Err(ServiceError::Forbidden));
    let req = TestRequest::delete()
        .uri(&format!("/api/articles/{SLUG}"))
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 403);
    assert_eq!(body, json!({"errors": {"article": ["forbidden"]}}));
}

#[actix_web::test]
async fn unknown_and_impossible_slugs_are_404_article() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_get_by_slug()
        .times(1)
        .returning(|_| Err(ServiceError::NotFound));
    let req = TestRequest::get().uri("/api/articles/no-such-slug");
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"errors": {"article": ["not found"]}}));

    let mut mocks = Mocks::new();
    mocks.posts.expect_get_by_slug().never();
    let req = TestRequest::get().uri("/api/articles/Not%20A%20Slug");
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"errors": {"article": ["not found"]}}));
}

#[actix_web::test]
async fn favoriting_answers_the_new_count_without_asking_again() {
    let mut mocks = Mocks::new();
    expect_post(&mut mocks, OTHER);
    mocks
        .posts
        .expect_favorite()
        .withf(|caller, id| *caller == principal() && *id == POST)
        .times(1)
        .returning(|_, _| {
            Ok(Post {
                favorites_count: 4,
                ..post(0, OTHER)
            })
        });
    mocks
        .profiles
        .expect_many()
        .times(1)
        .returning(|_, _| Ok(vec![profile(OTHER, "celeb")]));
    mocks.posts.expect_favorited_among().never();
    let req = TestRequest::post()
        .uri(&format!("/api/articles/{SLUG}/favorite"))
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["article"]["favorited"], true);
    assert_eq!(body["article"]["favoritesCount"], 4);
}

#[actix_web::test]
async fn tags_are_listed() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_tags()
        .times(1)
        .returning(|| Ok(parse_tags(&["rust", "web"]).unwrap()));
    let (status, _, body) = call(mocks, TestRequest::get().uri("/api/tags")).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"tags": ["rust", "web"]}));
}

#[actix_web::test]
async fn a_signed_in_reader_asks_once_which_of_the_page_they_favorited() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_list().times(1).returning(|_, _, page| {
        let items = vec![post(0, OTHER), post(1, OTHER)];
        Ok(Page::new(items, 2, page))
    });
    mocks
        .profiles
        .expect_many()
        .withf(|viewer, ids| *viewer == Some(principal()) && *ids == [OTHER])
        .times(1)
        .returning(|_, _| Ok(vec![profile(OTHER, "celeb")]));
    let second = post(1, OTHER).id;
    mocks
        .posts
        .expect_favorited_among()
        .withf(|caller, ids| *caller == principal() && *ids == [POST, Uuid::from_u128(0x91)])
        .times(1)
        .returning(move |_, _| Ok(vec![second]));
    let req = TestRequest::get()
        .uri("/api/articles")
        .insert_header(token(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["articles"][0]["favorited"], false);
    assert_eq!(body["articles"][1]["favorited"], true);
}

#[actix_web::test]
async fn an_unverified_account_may_not_write_when_verification_is_required() {
    let mut mocks = Mocks::new();
    mocks.accounts = strata_service::accounts::MockAccountService::new();
    mocks
        .accounts
        .expect_ensure_may_write()
        .times(1)
        .returning(|_| Err(ServiceError::EmailNotVerified));
    mocks.posts.expect_create().never();
    let req = TestRequest::post()
        .uri("/api/articles")
        .insert_header(token(TOKEN))
        .set_json(json!({"article": {"title": "T", "description": "D", "body": "B"}}));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 403);
    assert_eq!(body, json!({"errors": {"user": ["forbidden"]}}));
}
