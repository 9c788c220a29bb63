//! Per-request hot paths of the HTTP layer: problem+json rendering (every
//! error answer), the DTO serialization of a page of 20 items, and what the
//! edge middleware adds to a request that does nothing else (`/health`
//! through an app with and without `Edge`, called in process, no sockets).
//!
//! `cargo bench -p strata-http --bench hot_paths`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use actix_web::dev::Service;
use actix_web::{App, test};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use strata_domain::items::{Description, Item, Title};
use strata_http::EdgeConfig;
use strata_http::error::{ApiError, FieldProblem};
use strata_http::health::live;
use strata_http::items::ItemResponse;
use strata_http::middleware::Edge;
use strata_http::page::PageResponse;
use uuid::Uuid;

/// Renders `err` as the server would and collects the body.
fn render(err: &ApiError) -> usize {
    let response = err.error_response();
    match response.into_body().try_into_bytes() {
        Ok(bytes) => bytes.len(),
        Err(_) => panic!("a problem body is always a complete buffer"),
    }
}

fn problem_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("problem_json");
    let unauthenticated = ApiError::Unauthenticated {
        token_presented: true,
    };
    group.bench_function("unauthenticated_401", |b| {
        b.iter(|| render(black_box(&unauthenticated)));
    });
    let not_found = ApiError::NotFound("Item");
    group.bench_function("not_found_404", |b| {
        b.iter(|| render(black_box(&not_found)));
    });
    let validation = ApiError::Validation(vec![
        FieldProblem {
            field: "email".into(),
            code: "email".into(),
            message: "must be a valid e-mail address".into(),
        },
        FieldProblem {
            field: "password".into(),
            code: "length".into(),
            message: "must be 8 to 128 characters".into(),
        },
    ]);
    group.bench_function("validation_422_two_fields", |b| {
        b.iter(|| render(black_box(&validation)));
    });
    group.finish();
}

fn items(n: usize) -> Vec<Item> {
    let now = Utc::now();
    let owner = Uuid::now_v7();
    (0..n)
        .map(|i| Item {
            id: Uuid::now_v7(),
            title: Title::parse(&format!("Item number {i}")).unwrap(),
            description: Some(
                Description::parse(&format!(
                    "Description of item {i}, seeded for the benchmark."
                ))
                .unwrap(),
            ),
            owner_id: owner,
            version: 1,
            created_at: now,
            updated_at: now,
        })
        .collect()
}

fn page_of_items(c: &mut Criterion) {
    let domain = items(20);
    let dtos: Vec<ItemResponse> = domain.iter().map(ItemResponse::from).collect();
    let page = PageResponse {
        items: dtos,
        total: 10_000,
        limit: 20,
        offset: 0,
        next_cursor: None,
    };
    let mut group = c.benchmark_group("page_of_20_items");
    group.bench_function("serialize_to_vec", |b| {
        b.iter(|| serde_json::to_vec(black_box(&page)).unwrap());
    });
    group.bench_function("map_from_domain_and_serialize", |b| {
        b.iter(|| {
            let page = PageResponse {
                items: black_box(&domain)
                    .iter()
                    .map(ItemResponse::from)
                    .collect::<Vec<_>>(),
                total: 10_000,
                limit: 20,
                offset: 0,
                next_cursor: None,
            };
            serde_json::to_vec(&page).unwrap()
        });
    });
    group.finish();
}

fn edge(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let bare = local.block_on(&runtime, test::init_service(App::new().service(live)));
    let edged = local.block_on(
        &runtime,
        test::init_service(
            App::new()
                .service(live)
                .wrap(Edge::new(&EdgeConfig::default())),
        ),
    );
    let mut group = c.benchmark_group("edge");
    group.bench_function("health_bare", |b| {
        b.iter(|| {
            let req = test::TestRequest::get().uri("/health").to_request();
            let res = local.block_on(&runtime, bare.call(req)).unwrap();
            black_box(res.status())
        });
    });
    group.bench_function("health_with_edge", |b| {
        b.iter(|| {
            let req = test::TestRequest::get().uri("/health").to_request();
            let res = local.block_on(&runtime, edged.call(req)).unwrap();
            black_box(res.status())
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = problem_json, page_of_items, edge
}
criterion_main!(hot_paths);
