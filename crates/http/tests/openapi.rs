//! The OpenAPI document matches what the server serves, both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix_web::test::{self, TestRequest};
use futures_util::FutureExt;
use serde_json::Value;
use strata_http::{AppState, HttpSettings};
use strata_service::Readiness;
use strata_service::health::MockHealthService;
use strata_service::posts::MockPostService;

fn document() -> Value {
    serde_json::to_value(strata_http::openapi()).unwrap()
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn the_document_lists_exactly_the_contracts_routes() {
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/api/v1/auth/register"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/auth/logout-all"),
        ("PUT", "/api/v1/auth/password"),
        ("POST", "/api/v1/auth/verify-email"),
        ("POST", "/api/v1/auth/verify-email/resend"),
        ("POST", "/api/v1/auth/password-reset"),
        ("POST", "/api/v1/auth/password-reset/confirm"),
        ("GET", "/api/v1/auth/oidc/{provider}/authorize"),
        ("GET", "/api/v1/auth/oidc/{provider}/callback"),
        ("POST", "/api/v1/auth/oidc/exchange"),
        ("GET", "/api/v1/users/me/identities"),
        ("POST", "/api/v1/users/me/identities"),
        ("DELETE", "/api/v1/users/me/identities/{id}"),
        ("GET", "/api/v1/users/me"),
        ("PATCH", "/api/v1/users/me"),
        ("DELETE", "/api/v1/users/me"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/users/{id}"),
        ("PATCH", "/api/v1/users/{id}"),
        ("DELETE", "/api/v1/users/{id}"),
        ("GET", "/api/v1/users/stats"),
        ("GET", "/api/v1/users/export"),
        ("POST", "/api/v1/users/exports"),
        ("GET", "/api/v1/items"),
        ("POST", "/api/v1/items"),
        ("GET", "/api/v1/items/{id}"),
        ("PATCH", "/api/v1/items/{id}"),
        ("DELETE", "/api/v1/items/{id}"),
        ("POST", "/api/v1/items/imports"),
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/{id}"),
        ("POST", "/api/v1/jobs/{id}/cancel"),
        ("POST", "/api/v1/jobs/{id}/retry"),
        ("GET", "/api/v1/jobs/{id}/result"),
        ("GET", "/api/v1/notifications"),
        ("POST", "/api/v1/notifications/{id}/read"),
        ("POST", "/api/v1/notifications/read-all"),
        ("POST", "/api/v1/ws/tickets"),
        ("GET", "/api/v1/ws"),
        ("GET", "/api/v1/posts"),
        ("POST", "/api/v1/posts"),
        ("GET", "/api/v1/posts/{id}"),
        ("PATCH", "/api/v1/posts/{id}"),
        ("DELETE", "/api/v1/posts/{id}"),
        ("GET", "/api/v1/posts/{id}/comments"),
        ("POST", "/api/v1/posts/{id}/comments"),
        ("GET", "/api/v1/posts/{id}/comments/{comment_id}"),
        ("DELETE", "/api/v1/posts/{id}/comments/{comment_id}"),
        ("GET", "/api/v1/posts/feed"),
        ("GET", "/api/v1/posts/by-slug/{slug}"),
        ("PUT", "/api/v1/posts/{id}/favorite"),
        ("DELETE", "/api/v1/posts/{id}/favorite"),
        ("GET", "/api/v1/tags"),
        ("GET", "/api/v1/profiles/{username}"),
        ("PUT", "/api/v1/profiles/{username}/follow"),
        ("DELETE", "/api/v1/profiles/{username}/follow"),
        ("GET", "/api/v1/users/me/profile"),
        ("PATCH", "/api/v1/users/me/profile"),
        ("GET", "/api/v1/categories"),
        ("POST", "/api/v1/categories"),
        ("GET", "/api/v1/categories/{id}"),
        ("PATCH", "/api/v1/categories/{id}"),
        ("DELETE", "/api/v1/categories/{id}"),
        ("GET", "/api/v1/products"),
        ("POST", "/api/v1/products"),
        ("GET", "/api/v1/products/{id_or_slug}"),
        ("PATCH", "/api/v1/products/{id_or_slug}"),
        ("DELETE", "/api/v1/products/{id_or_slug}"),
        ("GET", "/api/v1/orders"),
        ("POST", "/api/v1/orders"),
        ("GET", "/api/v1/orders/stats"),
        ("GET", "/api/v1/orders/{id}"),
        ("PATCH", "/api/v1/orders/{id}"),
        ("POST", "/api/v1/orders/{id}/cancel"),
        ("GET", "/health"),
        ("GET", "/health/ready"),
        ("GET", "/metrics"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(operations(&document()), expected);
}

#[test]
fn the_document_is_openapi_3_1_with_bearer_oauth2_and_problem_schemas() {
    let doc = document();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        schemes["oauth2"]["flows"]["password"]["tokenUrl"],
        "/api/v1/auth/login"
    );
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // Protected operations declare the scheme; public ones do not.
    assert!(doc["paths"]["/api/v1/users/me"]["get"]["security"].is_array());
    assert!(doc["paths"]["/api/v1/auth/login"]["post"]["security"].is_null());
}

#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let mut health = MockHealthService::new();
    health.expect_readiness().returning(|| Readiness {
        database: true,
        jobs: None,
        events: None,
    });
    // Public reads reach the service; answer them with "not found".
    let mut posts = MockPostService::new();
    posts
        .expect_list()
        .returning(|_, _, page| Ok(strata_domain::page::Page::new(vec![], 0, page)));
    posts
        .expect_get()
        .returning(|_| Err(strata_service::ServiceError::NotFound));
    posts
        .expect_list_comments()
        .returning(|_, _| Err(strata_service::ServiceError::NotFound));
    posts
        .expect_get_comment()
        .returning(|_, _| Err(strata_service::ServiceError::NotFound));
    posts
        .expect_get_by_slug()
        .returning(|_| Err(strata_service::ServiceError::NotFound));
    posts.expect_tags().returning(|| Ok(vec![]));
    let mut profiles = strata_service::profiles::MockProfileService::new();
    profiles
        .expect_get()
        .returning(|_, _| Err(strata_service::ServiceError::NotFound));
    let mut realtime = strata_service::realtime::MockRealtimeService::new();
    realtime
        .expect_open()
        .returning(|_, _| Err(strata_service::ServiceError::InvalidTicket));
    // Unknown providers: the literal `{provider}` names none.
    let mut oidc = strata_service::oidc::MockOidcService::new();
    oidc.expect_authorize()
        .returning(|_, _, _| Err(strata_service::ServiceError::NotFound));
    oidc.expect_callback()
        .returning(|_, _| Err(strata_service::ServiceError::NotFound));
    // The catalog's public reads too.
    let mut catalog = strata_service::catalog::MockCatalogService::new();
    catalog
        .expect_list_categories()
        .returning(|page| Ok(strata_domain::page::Page::new(vec![], 0, page)));
    catalog
        .expect_list_products()
        .returning(|_, _, _, page| Ok(strata_domain::page::Page::new(vec![], 0, page)));
    catalog
        .expect_get_category()
        .returning(|_| Err(strata_service::ServiceError::NotFound));
    catalog
        .expect_get_product()
        .returning(|_, _| Err(strata_service::ServiceError::NotFound));
    catalog.expect_version().returning(|| Ok(1));
    let state = AppState {
        oidc: Arc::new(oidc),
        health: Arc::new(health),
        posts: Arc::new(posts),
        profiles: Arc::new(profiles),
        realtime: Arc::new(realtime),
        catalog: Arc::new(catalog),
        ..AppState::mocked()
    };
    let app = test::init_service(strata_http::app(state, HttpSettings::default())).await;
    for (method, path) in operations(&document()) {
        // Requests without a token or body stop at extraction (401/415/422);
        // a 400 would mean a fixed path like /users/stats fell into /users/{id}.
        // before any service is called; what matters is that a route matched.
        let uri = path
            .replace("{id}", &uuid::Uuid::nil().to_string())
            .replace("{id_or_slug}", &uuid::Uuid::nil().to_string())
            .replace("{comment_id}", &uuid::Uuid::nil().to_string())
            .replace("{slug}", "no-such-post")
            .replace("{username}", "nobody");
        let req = TestRequest::default()
            .method(method.parse().unwrap())
            .uri(&uri)
            .to_request();
        // A service mock that expects nothing panics when a handler reaches
        // it (a public route, or a resource added since this test was
        // written): the route matched, which is all this test asks.
        let Ok(res) = AssertUnwindSafe(test::call_service(&app, req))
            .catch_unwind()
            .await
        else {
            continue;
        };
        let status = res.status();
        let body: Value =
            serde_json::from_slice(&test::read_body(res).await).unwrap_or(Value::Null);
        let unrouted = status == 405
            || (status == 404 && body["detail"] == "Route not found.")
            || status == 400;
        assert!(
            !unrouted,
            "{method} {path} is documented but not served ({status})"
        );
    }
}

/// Every handler the crate registers carries `#[utoipa::path]`, and nothing
/// bypasses `utoipa-actix-web`'s documented registration. Routes added any
/// other way would be served but missing from the document.
#[test]
fn no_route_is_registered_without_documentation() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut handlers = 0;
    let mut files = vec![];
    let mut dirs = vec![src];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_route_macro = [
                "#[get(",
                "#[post(",
                "#[put(",
                "#[patch(",
                "#[delete(",
                "#[route(",
            ]
            .iter()
            .any(|m| trimmed.starts_with(m));
            if is_route_macro {
                handlers += 1;
                // The attribute block above the macro, up to the previous item.
                let block = lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| !l.trim().is_empty() && !l.trim_start().starts_with('}'));
                let documented = block.into_iter().any(|l| l.contains("#[utoipa::path"));
                assert!(
                    documented,
                    "{}:{} registers a route without #[utoipa::path]",
                    path.display(),
                    i + 1
                );
            }
            // utoipa-actix-web's own scope documents what it holds; the
            // document itself and its UI are the two deliberate exceptions.
            let code = trimmed.replace("utoipa_actix_web::scope(", "");
            let meta = code.contains("\"/openapi.json\"") || code.contains("\"/docs\"");
            let code = if meta { String::new() } else { code };
            for bypass in [
                ".route(",
                "web::resource(",
                "web::scope(",
                "HttpServer::new",
            ] {
                assert!(
                    !code.contains(bypass) || trimmed.starts_with("//"),
                    "{}:{} registers a route outside utoipa-actix-web: {trimmed}",
                    path.display(),
                    i + 1
                );
            }
        }
    }
    assert_eq!(
        handlers,
        operations(&document()).len(),
        "each documented operation has one handler"
    );
}

/// Every `$ref` in `value`, recursively.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_in_the_document_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let pointer = reference.strip_prefix('#').unwrap();
        assert!(
            doc.pointer(pointer).is_some(),
            "dangling reference {reference}"
        );
    }
}

#[test]
fn every_operation_declares_the_edges_statuses_where_they_apply() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let statuses = op["responses"].as_object().unwrap();
            let has = |s: &str| statuses.contains_key(s);
            let at = format!("{} {path}", method.to_uppercase());
            if path.starts_with("/api/v1") {
                assert!(has("429") && has("503"), "{at}");
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415", "422"] {
                    assert!(has(s), "{at} lacks {s}");
                }
            }
            if path.contains('{') {
                assert!(has("400") && has("404"), "{at}");
            }
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if secured {
                assert!(has("401"), "{at}");
            }
        }
    }
}

#[test]
fn list_parameters_declare_the_bounds_the_server_enforces() {
    let doc = document();
    for path in [
        "/api/v1/items",
        "/api/v1/posts",
        "/api/v1/users",
        "/api/v1/posts/{id}/comments",
        "/api/v1/jobs",
        "/api/v1/posts/feed",
        "/api/v1/tags",
    ] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let schema = |name: &str| {
            params
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"].clone())
                .unwrap_or_else(|| panic!("{path} has no {name}"))
        };
        assert_eq!(schema("limit")["minimum"], 1, "{path}");
        assert_eq!(schema("limit")["maximum"], 100, "{path}");
        assert_eq!(schema("offset")["minimum"], 0, "{path}");
        assert_eq!(
            schema("offset")["maximum"],
            strata_domain::page::MAX_OFFSET,
            "{path}"
        );
        if ![
            "/api/v1/posts/{id}/comments",
            "/api/v1/jobs",
            "/api/v1/posts/feed",
            "/api/v1/tags",
        ]
        .contains(&path)
        {
            assert!(schema("sort")["pattern"].is_string(), "{path}");
            assert!(schema("q")["pattern"].is_string(), "{path}");
        }
    }
}
