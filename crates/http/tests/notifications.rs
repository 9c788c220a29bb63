//! Handler tests for notifications with a mocked `NotificationService`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::test::TestRequest;
use chrono::Utc;
use serde_json::json;
use strata_domain::notifications::{Notification, NotificationKind};
use strata_domain::page::Page;
use strata_service::ServiceError;
use uuid::Uuid;

mod common;

use common::*;

fn notification(read: bool) -> Notification {
    let now = Utc::now();
    Notification {
        id: Uuid::from_u128(42),
        user_id: principal().user_id,
        kind: NotificationKind::CommentCreated,
        data: json!({"post_id": Uuid::from_u128(1), "comment_id": Uuid::from_u128(2), "author": "grace"}),
        read_at: read.then_some(now),
        created_at: now,
    }
}

#[actix_web::test]
async fn the_list_passes_the_unread_filter_and_page_and_answers_the_envelope() {
    let mut mocks = Mocks::new();
    mocks
        .notifications
        .expect_list()
        .withf(|caller, unread, page| {
            *caller == principal() && *unread && page.limit() == 5 && page.offset() == 0
        })
        .returning(|_, _, page| Ok(Page::new(vec![notification(false)], 1, page)));
    let req = TestRequest::get()
        .uri("/api/v1/notifications?unread=true&limit=5")
        .insert_header(bearer(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    let item = &body["items"][0];
    assert_eq!(item["kind"], "comment.created");
    assert_eq!(item["read"], false);
    assert_eq!(item["read_at"], json!(null));
    assert_eq!(item["data"]["author"], "grace");
    assert!(item.get("user_id").is_none());
}

#[actix_web::test]
async fn a_malformed_filter_or_page_is_refused_before_the_service() {
    for (uri, expected) in [
        ("/api/v1/notifications?unread=maybe", 400),
        ("/api/v1/notifications?limit=0", 422),
        ("/api/v1/notifications?offset=-1", 422),
    ] {
        let mut mocks = Mocks::new();
        mocks.notifications.expect_list().never();
        let req = TestRequest::get().uri(uri).insert_header(bearer(TOKEN));
        let (status, headers, body) = call(mocks, req).await;
        assert_eq!(status, expected, "{uri}: {body}");
        assert_eq!(
            headers.get("content-type").unwrap(),
            "application/problem+json",
            "{uri}"
        );
    }
}

#[actix_web::test]
async fn marking_read_answers_the_notification_and_another_users_is_404() {
    let mut mocks = Mocks::new();
    mocks
        .notifications
        .expect_mark_read()
        .withf(|_, id| *id == Uuid::from_u128(42))
        .returning(|_, _| Ok(notification(true)));
    mocks
        .notifications
        .expect_mark_read()
        .returning(|_, _| Err(ServiceError::NotFound));
    let req = TestRequest::post()
        .uri(&format!(
            "/api/v1/notifications/{}/read",
            Uuid::from_u128(42)
        ))
        .insert_header(bearer(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["read"], true);

    let mut mocks = Mocks::new();
    mocks
        .notifications
        .expect_mark_read()
        .returning(|_, _| Err(ServiceError::NotFound));
    let req = TestRequest::post()
        .uri(&format!(
            "/api/v1/notifications/{}/read",
            Uuid::from_u128(43)
        ))
        .insert_header(bearer(TOKEN));
    let (status, headers, _) = call(mocks, req).await;
    assert_eq!(status, 404);
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json"
    );
}

#[actix_web::test]
async fn read_all_says_how_many_and_needs_a_token() {
    let mut mocks = Mocks::new();
    mocks
        .notifications
        .expect_mark_all_read()
        .returning(|_| Ok(3));
    let req = TestRequest::post()
        .uri("/api/v1/notifications/read-all")
        .insert_header(bearer(TOKEN));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"updated": 3}));

    let mut mocks = Mocks::new();
    mocks.notifications.expect_mark_all_read().never();
    let req = TestRequest::post().uri("/api/v1/notifications/read-all");
    let (status, _, _) = call(mocks, req).await;
    assert_eq!(status, 401);
}
