//! What the edge middleware adds to a request that does nothing else:
//! `/health` through an app with and without `Edge`, called in process (no
//! sockets), so the difference is the edge's own cost per request.
//!
//! `cargo bench -p strata-http --bench edge`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use actix_web::dev::Service;
use actix_web::{App, test};
use criterion::{Criterion, criterion_group, criterion_main};
use strata_http::EdgeConfig;
use strata_http::health::live;
use strata_http::middleware::Edge;

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
    name = benches;
    config = config();
    targets = edge
}
criterion_main!(benches);
