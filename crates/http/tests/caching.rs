//! HTTP caching with mocked services: catalog lists revalidate and are
//! stored by the catalog version (the list query runs once per version, and
//! not at all for a 304); private resources are `private, no-cache` with
//! 304s that carry the 200's headers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use strata_domain::items::Title;
use strata_domain::page::Page;
use strata_http::HttpSettings;
use uuid::Uuid;

mod common;

use common::*;

fn revalidation_headers(headers: &HeaderMap) -> [Option<String>; 3] {
    ["etag", "cache-control", "vary"]
        .map(|name| headers.get(name).map(|v| v.to_str().unwrap().to_owned()))
}

#[actix_web::test]
async fn a_catalog_list_is_queried_once_per_version_and_a_current_copy_costs_no_query() {
    let version = Arc::new(AtomicI64::new(7));
    let mut mocks = Mocks::new();
    let seen = Arc::clone(&version);
    mocks
        .catalog
        .expect_version()
        .returning(move || Ok(seen.load(Ordering::SeqCst)));
    // Two versions, so two queries, whatever else is asked.
    mocks
        .catalog
        .expect_list_categories()
        .times(2)
        .returning(|page| Ok(Page::new(vec![], 0, page)));
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let get = |tag: Option<&str>| {
        let mut req = TestRequest::get().uri("/api/v1/categories?limit=5");
        if let Some(tag) = tag {
            req = req.insert_header(("if-none-match", tag.to_owned()));
        }
        req.to_request()
    };

    let first = test::call_service(&app, get(None)).await;
    assert_eq!(first.status(), 200);
    let headers = revalidation_headers(first.headers());
    assert_eq!(headers[0].as_deref(), Some("W/\"catalog-7\""));
    assert_eq!(headers[1].as_deref(), Some("public, no-cache"));
    // The CORS layer adds its own names after these.
    let vary = headers[2].as_deref().unwrap();
    assert!(
        vary.starts_with("Authorization, Cookie, Accept-Encoding"),
        "{vary}"
    );
    let body = test::read_body(first).await;

    // Stored: the same bytes without a second query.
    let again = test::call_service(&app, get(None)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(test::read_body(again).await, body);

    // A current copy: 304 with the 200's headers, no body, no query.
    let current = test::call_service(&app, get(Some("W/\"catalog-7\""))).await;
    assert_eq!(current.status(), 304);
    assert_eq!(revalidation_headers(current.headers()), headers);
    assert!(test::read_body(current).await.is_empty());

    // A catalog write moved the version: the old copy is answered anew.
    version.store(8, Ordering::SeqCst);
    let stale = test::call_service(&app, get(Some("W/\"catalog-7\""))).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers().get("etag").unwrap(), "W/\"catalog-8\"");
}

#[actix_web::test]
async fn a_failed_catalog_query_is_not_stored() {
    let mut mocks = Mocks::new();
    mocks.catalog.expect_version().returning(|| Ok(1));
    let mut calls = 0;
    mocks
        .catalog
        .expect_list_categories()
        .times(2)
        .returning(move |page| {
            calls += 1;
            if calls == 1 {
                Err(strata_service::ServiceError::Unavailable(
                    strata_domain::error::RepoError::Unavailable("down".into()),
                ))
            } else {
                Ok(Page::new(vec![], 0, page))
            }
        });
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let failed = test::call_service(
        &app,
        TestRequest::get().uri("/api/v1/categories").to_request(),
    )
    .await;
    assert_eq!(failed.status(), 503);
    let next = test::call_service(
        &app,
        TestRequest::get().uri("/api/v1/categories").to_request(),
    )
    .await;
    assert_eq!(next.status(), 200);
}

#[actix_web::test]
async fn inactive_products_are_listed_for_admins_privately_and_never_stored() {
    let mut mocks = Mocks::new();
    mocks.catalog.expect_version().never();
    mocks
        .catalog
        .expect_list_products()
        .times(2)
        .returning(|_, _, _, page| Ok(Page::new(vec![], 0, page)));
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    for _ in 0..2 {
        let req = TestRequest::get()
            .uri("/api/v1/products?is_active=false")
            .insert_header(bearer(ADMIN_TOKEN))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get("cache-control").unwrap(),
            "private, no-cache"
        );
    }
}

#[actix_web::test]
async fn an_item_revalidates_by_its_version_privately() {
    let mut mocks = Mocks::new();
    mocks.items.expect_get().returning(|_, _| Ok(item(3)));
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let get = |tag: &str| {
        TestRequest::get()
            .uri(&format!("/api/v1/items/{}", Uuid::from_u128(42)))
            .insert_header(bearer(TOKEN))
            .insert_header(("if-none-match", tag.to_owned()))
            .to_request()
    };
    let fresh = test::call_service(&app, get("\"2\"")).await;
    assert_eq!(fresh.status(), 200);
    let headers = revalidation_headers(fresh.headers());
    assert_eq!(headers[0].as_deref(), Some("\"3\""));
    assert_eq!(headers[1].as_deref(), Some("private, no-cache"));
    // Weak comparison: a compressed copy's weakened tag still matches.
    for tag in ["\"3\"", "W/\"3\"", "\"1\", \"3\"", "*"] {
        let current = test::call_service(&app, get(tag)).await;
        assert_eq!(current.status(), 304, "{tag}");
        assert_eq!(revalidation_headers(current.headers()), headers, "{tag}");
    }
}

#[actix_web::test]
async fn a_private_list_carries_a_tag_of_its_body() {
    let mut mocks = Mocks::new();
    let mut version = 0;
    mocks
        .items
        .expect_list()
        .returning(move |_, _, _, _, page| {
            version += 1;
            // The second and third reads are the same list; the fourth changed.
            let mut listed = item(1);
            if version >= 4 {
                listed.title = Title::parse("Oat milk").unwrap();
            }
            let items = vec![listed];
            Ok(Page::new(items, 1, page))
        });
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let get = |tag: Option<&str>| {
        let mut req = TestRequest::get()
            .uri("/api/v1/items")
            .insert_header(bearer(TOKEN));
        if let Some(tag) = tag {
            req = req.insert_header(("if-none-match", tag.to_owned()));
        }
        req.to_request()
    };
    let first = test::call_service(&app, get(None)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers().get("cache-control").unwrap(),
        "private, no-cache"
    );
    let tag = first
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(tag.starts_with("W/\""), "{tag}");
    let same = test::call_service(&app, get(Some(&tag))).await;
    assert_eq!(same.status(), 304);
    let same_again = test::call_service(&app, get(Some(&tag))).await;
    assert_eq!(same_again.status(), 304);
    let changed = test::call_service(&app, get(Some(&tag))).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(
        changed.headers().get("etag").unwrap().to_str().unwrap(),
        tag
    );
}
