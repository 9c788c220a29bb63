//! The dependency rule of DESIGN.md section 1, checked from `cargo metadata`
//! so that a forbidden import fails CI rather than a review.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// What each crate must not depend on (normal or build dependencies).
fn forbidden() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        (
            "strata-domain",
            &[
                "actix-web",
                "sea-orm",
                "sqlx",
                "tokio",
                "serde",
                "strata-repository",
                "strata-service",
                "strata-http",
            ][..],
        ),
        (
            "strata-service",
            &[
                "actix-web",
                "sea-orm",
                "sqlx",
                "strata-repository",
                "strata-http",
                "strata-migration",
                "strata-events",
                "strata-oidc",
                "lettre",
                "redis",
                "reqwest",
            ][..],
        ),
        (
            "strata-http",
            &[
                "sea-orm",
                "sqlx",
                "strata-repository",
                "strata-migration",
                "strata-oidc",
                "lettre",
                "reqwest",
            ][..],
        ),
        // New adapters and runtimes see only the service and the domain.
        (
            "strata-worker",
            &[
                "actix-web",
                "sea-orm",
                "sqlx",
                "strata-repository",
                "strata-http",
                "strata-migration",
            ][..],
        ),
        // The RealWorld (Conduit) adapter: a second edge over the service
        // traits; never through `strata-http`, and no storage or bus.
        (
            "strata-conduit",
            &[
                "sea-orm",
                "sqlx",
                "strata-repository",
                "strata-http",
                "strata-migration",
                "strata-events",
                "strata-oidc",
                "strata-worker",
                "strata-mail",
            ][..],
        ),
        // GraphQL: the same, a third edge over the service traits.
        (
            "strata-graphql",
            &[
                "sea-orm",
                "sqlx",
                "strata-repository",
                "strata-http",
                "strata-conduit",
                "strata-migration",
                "strata-events",
                "strata-oidc",
                "strata-worker",
                "strata-mail",
            ][..],
        ),
        (
            "strata-mail",
            &[
                "actix-web",
                "sea-orm",
                "sqlx",
                "strata-repository",
                "strata-http",
                "strata-migration",
            ][..],
        ),
        // The OpenID provider adapter: the domain's port over HTTP; no use
        // case, no storage, no edge.
        (
            "strata-oidc",
            &[
                "actix-web",
                "sea-orm",
                "sqlx",
                "strata-service",
                "strata-repository",
                "strata-http",
                "strata-migration",
            ][..],
        ),
        (
            "strata-repository",
            &[
                "actix-web",
                "redis",
                "strata-service",
                "strata-http",
                "strata-events",
            ][..],
        ),
        // The bus adapters: the domain's port, Redis and the repository's
        // LISTEN connection; no use case, no HTTP, no schema.
        (
            "strata-events",
            &[
                "actix-web",
                "strata-service",
                "strata-http",
                "strata-migration",
                "strata-worker",
                "lettre",
            ][..],
        ),
        (
            "strata-migration",
            &[
                "actix-web",
                "strata-service",
                "strata-http",
                "strata-repository",
            ][..],
        ),
    ])
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Violations in `meta`: "crate depends on dep" for each forbidden edge.
fn violations(meta: &Value) -> BTreeSet<String> {
    let rules = forbidden();
    let mut found = BTreeSet::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let Some(banned) = rules.get(name) else {
            continue;
        };
        for dep in package["dependencies"].as_array().unwrap() {
            let is_dev = dep["kind"].as_str() == Some("dev");
            let dep_name = dep["name"].as_str().unwrap();
            if !is_dev && banned.contains(&dep_name) {
                found.insert(format!("{name} depends on {dep_name}"));
            }
        }
    }
    found
}

#[test]
fn every_crate_respects_the_dependency_rule() {
    let meta = metadata();
    let names: BTreeSet<&str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for layer in forbidden().keys() {
        assert!(
            names.contains(layer),
            "{layer} is missing from the workspace"
        );
    }
    let found = violations(&meta);
    assert!(
        found.is_empty(),
        "layer rule broken (DESIGN.md section 1): {found:?}"
    );
}

#[test]
fn the_check_catches_http_depending_on_sea_orm() {
    let mut meta = metadata();
    let http = meta["packages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == "strata-http")
        .unwrap();
    http["dependencies"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "sea-orm", "kind": null}));
    assert_eq!(
        violations(&meta),
        BTreeSet::from(["strata-http depends on sea-orm".to_owned()])
    );
}
