//! Per-request hot paths of the service layer: access-token issue and
//! verify, the revocation check every authenticated request makes, and
//! refresh-token generation (login and refresh).
//!
//! `cargo bench -p strata-service --bench hot_paths`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use strata_domain::auth::{Principal, Revocation};
use strata_domain::users::Role;
use strata_service::tokens::{RefreshSecret, hash_refresh_token};
use strata_service::{RevocationList, TokenCodec};
use uuid::Uuid;

/// Strata's development settings: the same secret length, issuer and audience.
fn codec() -> TokenCodec {
    TokenCodec::new(
        b"dev-only-insecure-jwt-secret-do-not-use-in-production",
        "strata",
        "strata-api",
        900,
    )
}

fn principal() -> Principal {
    Principal {
        user_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        role: Role::User,
    }
}

fn jwt(c: &mut Criterion) {
    let codec = codec();
    let who = principal();
    let mut group = c.benchmark_group("jwt");
    group.bench_function("issue", |b| {
        b.iter(|| codec.issue(black_box(&who), Utc::now()).unwrap());
    });
    let token = codec.issue(&who, Utc::now()).unwrap();
    group.bench_function("verify", |b| {
        b.iter(|| codec.verify(black_box(&token)).unwrap());
    });
    let forged = format!("{}x", &token[..token.len() - 1]);
    group.bench_function("verify_bad_signature", |b| {
        b.iter(|| codec.verify(black_box(&forged)).is_err());
    });
    group.finish();
}

fn revocation(c: &mut Criterion) {
    let now = Utc::now();
    let list = RevocationList::new();
    let entries: Vec<Revocation> = (0..10_000)
        .map(|_| Revocation {
            session_id: Uuid::now_v7(),
            revoked_at: now,
            expires_at: now + chrono::Duration::seconds(901),
        })
        .collect();
    list.insert(&entries);
    let revoked = entries[5_000].session_id;
    let live = Uuid::now_v7();
    let mut group = c.benchmark_group("revocation_10k");
    group.bench_function("is_revoked_miss", |b| {
        b.iter(|| list.is_revoked(black_box(live), now));
    });
    group.bench_function("is_revoked_hit", |b| {
        b.iter(|| list.is_revoked(black_box(revoked), now));
    });
    let empty = RevocationList::new();
    group.bench_function("is_revoked_empty_list", |b| {
        b.iter(|| empty.is_revoked(black_box(live), now));
    });
    group.finish();
}

fn refresh(c: &mut Criterion) {
    let mut group = c.benchmark_group("refresh_token");
    group.bench_function("generate_and_hash", |b| b.iter(RefreshSecret::generate));
    let value = RefreshSecret::generate().value;
    group.bench_function("hash_only", |b| {
        b.iter(|| hash_refresh_token(black_box(&value)));
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
    targets = jwt, revocation, refresh
}
criterion_main!(hot_paths);
