//! Resolver and transport tests over mocked services: each mounts the
//! resource, sends one HTTP request and checks the answer and the calls made
//! (mockall checks `times` when the app, and with it the mocks, drops).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use actix_web::App;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use strata_domain::auth::Principal;
use strata_domain::items::{Item, Title};
use strata_domain::page::Page;
use strata_domain::posts::{Author, Body, Post, Slug, parse_tags};
use strata_domain::profiles::Profile;
use strata_domain::users::Role;
use strata_service::ServiceError;
use strata_service::accounts::MockAccountService;
use strata_service::auth::MockAuthService;
use strata_service::catalog::MockCatalogService;
use strata_service::error::TokenRejection;
use strata_service::items::MockItemService;
use strata_service::jobs::MockJobService;
use strata_service::notifications::MockNotificationService;
use strata_service::orders::MockOrderService;
use strata_service::posts::MockPostService;
use strata_service::profiles::MockProfileService;
use strata_service::users::MockUserService;
use uuid::Uuid;

use crate::{Graphql, Limits, Services, schema, scope};

const TOKEN: &str = "good.jwt";
const ME: Uuid = Uuid::from_u128(1);
const OTHER: Uuid = Uuid::from_u128(2);

struct Mocks {
    auth: MockAuthService,
    accounts: MockAccountService,
    users: MockUserService,
    profiles: MockProfileService,
    posts: MockPostService,
    items: MockItemService,
    jobs: MockJobService,
    notifications: MockNotificationService,
    catalog: MockCatalogService,
    orders: MockOrderService,
    limits: Limits,
}

impl Mocks {
    /// Services that expect nothing but the verification of tokens:
    /// [`TOKEN`] is [`principal`], any other is refused.
    fn new() -> Self {
        let mut auth = MockAuthService::new();
        auth.expect_authenticate().returning(|token| {
            if token == TOKEN {
                Ok(principal())
            } else {
                Err(ServiceError::Unauthenticated(TokenRejection::Invalid))
            }
        });
        let mut accounts = MockAccountService::new();
        accounts.expect_ensure_may_write().returning(|_| Ok(()));
        Self {
            auth,
            accounts,
            users: MockUserService::new(),
            profiles: MockProfileService::new(),
            posts: MockPostService::new(),
            items: MockItemService::new(),
            jobs: MockJobService::new(),
            notifications: MockNotificationService::new(),
            catalog: MockCatalogService::new(),
            orders: MockOrderService::new(),
            limits: Limits::default(),
        }
    }
}

/// Sends `req` to the resource mounted at `/graphql`; the status, headers
/// and JSON body.
async fn call(mocks: Mocks, req: TestRequest) -> (StatusCode, HeaderMap, Value) {
    let app = test::init_service(App::new().service(scope("/graphql", graphql(mocks)))).await;
    let response = test::call_service(&app, req.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn graphql(mocks: Mocks) -> Graphql {
    let services = Services {
        auth: Arc::new(mocks.auth),
        accounts: Arc::new(mocks.accounts),
        users: Arc::new(mocks.users),
        profiles: Arc::new(mocks.profiles),
        posts: Arc::new(mocks.posts),
        items: Arc::new(mocks.items),
        jobs: Arc::new(mocks.jobs),
        notifications: Arc::new(mocks.notifications),
        catalog: Arc::new(mocks.catalog),
        orders: Arc::new(mocks.orders),
    };
    Graphql {
        schema: schema(services.clone(), &mocks.limits),
        services,
        limits: mocks.limits,
        request_id: || "req-1".to_owned(),
    }
}

/// A POST of one operation, signed in when `token` is given.
fn post_query(query: &str, variables: Value, token: Option<&str>) -> TestRequest {
    let req = TestRequest::post()
        .uri("/graphql")
        .set_json(json!({ "query": query, "variables": variables }));
    match token {
        Some(token) => req.insert_header(("Authorization", format!("Bearer {token}"))),
        None => req,
    }
}

fn principal() -> Principal {
    Principal {
        user_id: ME,
        session_id: Uuid::from_u128(0x5e55),
        role: Role::User,
    }
}

fn at(minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, minute, 5).unwrap()
}

fn profile(user_id: Uuid, username: &str) -> Profile {
    Profile {
        user_id,
        username: username.into(),
        bio: None,
        image: None,
        following: false,
    }
}

fn post(n: u128, author: Uuid) -> Post {
    Post {
        id: Uuid::from_u128(0x90 + n),
        slug: Slug::parse(&format!("hello-{:012x}", 0x90 + n)).unwrap(),
        title: Title::parse("Hello").unwrap(),
        description: None,
        body: Body::parse("First!", Body::POST_MAX).unwrap(),
        tags: parse_tags(&["rust"]).unwrap(),
        author: Author {
            id: author,
            username: format!("user{author}"),
        },
        comment_count: 2,
        favorites_count: 1,
        created_at: at(1),
        updated_at: at(2),
    }
}

fn item(version: i64) -> Item {
    Item {
        id: Uuid::from_u128(0x17),
        title: Title::parse("Milk").unwrap(),
        description: None,
        owner_id: ME,
        version,
        created_at: at(1),
        updated_at: at(1),
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

#[actix_web::test]
async fn protected_fields_need_a_caller_and_a_refused_token_is_a_401_problem() {
    let (status, _, body) = call(
        Mocks::new(),
        post_query("{ viewer { id } }", json!({}), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert_eq!(body["data"], Value::Null);

    let (status, headers, body) = call(
        Mocks::new(),
        post_query("{ viewer { id } }", json!({}), Some("forged")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(body["code"], "UNAUTHENTICATED");
    assert_eq!(body["request_id"], "req-1");
}

#[actix_web::test]
async fn a_page_of_posts_asks_once_for_all_authors_and_favorites() {
    let mut mocks = Mocks::new();
    mocks.posts.expect_list().times(1).returning(|_, _, page| {
        let posts = vec![post(1, ME), post(2, OTHER), post(3, ME)];
        Ok(Page::new(posts, 3, page))
    });
    mocks
        .profiles
        .expect_many()
        .times(1)
        .returning(|viewer, mut ids| {
            assert_eq!(viewer.map(|v| v.user_id), Some(ME));
            ids.sort();
            assert_eq!(ids, [ME, OTHER]);
            Ok(vec![profile(ME, "jake"), profile(OTHER, "celeb")])
        });
    mocks
        .posts
        .expect_favorited_among()
        .times(1)
        .returning(|_, ids| {
            assert_eq!(ids.len(), 3);
            Ok(vec![Uuid::from_u128(0x92)])
        });
    let query = "{ posts(limit: 3) { total items { title commentCount favorited author { username bio } } } }";
    let (status, _, body) = call(mocks, post_query(query, json!({}), Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["errors"], Value::Null, "{body}");
    let items = body["data"]["posts"]["items"].as_array().unwrap();
    let authors: Vec<&str> = items
        .iter()
        .map(|p| p["author"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["jake", "celeb", "jake"]);
    let favorited: Vec<bool> = items
        .iter()
        .map(|p| p["favorited"].as_bool().unwrap())
        .collect();
    assert_eq!(favorited, [false, true, false]);
    assert_eq!(items[0]["commentCount"], 2);
}

#[actix_web::test]
async fn a_page_asking_only_authors_names_reads_no_profile() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_list()
        .times(1)
        .returning(|_, _, page| Ok(Page::new(vec![post(1, ME), post(2, OTHER)], 2, page)));
    mocks.profiles.expect_many().never();
    let query = "{ posts { items { author { id username } } } }";
    let (_, _, body) = call(mocks, post_query(query, json!({}), None)).await;
    let items = body["data"]["posts"]["items"].as_array().unwrap();
    assert_eq!(items[1]["author"]["username"], format!("user{OTHER}"));
    assert_eq!(items[1]["author"]["id"], OTHER.to_string());
}

#[actix_web::test]
async fn another_users_item_is_null_to_read_and_not_found_to_change() {
    let mut mocks = Mocks::new();
    mocks
        .items
        .expect_get()
        .times(1)
        .returning(|_, _| Err(ServiceError::NotFound));
    mocks
        .items
        .expect_delete()
        .times(1)
        .returning(|_, _| Err(ServiceError::NotFound));
    let query = "query Read($id: UUID!) { item(id: $id) { id } } mutation Del($id: UUID!) { deleteItem(id: $id) }";
    let id = Uuid::from_u128(0x99).to_string();
    let read = TestRequest::post()
        .uri("/graphql")
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .set_json(json!({ "query": "query($id: UUID!) { item(id: $id) { id } }", "variables": { "id": id } }));
    let delete = TestRequest::post()
        .uri("/graphql")
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .set_json(json!({ "query": query, "operationName": "Del", "variables": { "id": id } }));
    // One app for both calls, so each expectation is checked once.
    let app = test::init_service(App::new().service(scope("/graphql", graphql(mocks)))).await;
    let body: Value = test::call_and_read_body_json(&app, read.to_request()).await;
    assert_eq!(body["data"]["item"], Value::Null);
    assert_eq!(body["errors"], Value::Null, "absent, not an error: {body}");
    let body: Value = test::call_and_read_body_json(&app, delete.to_request()).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
}

#[actix_web::test]
async fn validation_names_every_field_with_the_domain_messages() {
    let mut mocks = Mocks::new();
    mocks.items.expect_create().never();
    let query = r#"mutation { createItem(input: { title: "  ", description: "ok" }) { id } }"#;
    let (_, _, body) = call(mocks, post_query(query, json!({}), Some(TOKEN))).await;
    assert_eq!(code(&body), "VALIDATION_FAILED", "{body}");
    let errors = &body["errors"][0]["extensions"]["errors"];
    assert_eq!(errors[0]["field"], "title");
    let expected = Title::parse("  ").unwrap_err();
    assert_eq!(errors[0]["code"], expected.code);
    assert_eq!(errors[0]["message"], expected.message);

    let mut mocks = Mocks::new();
    mocks.posts.expect_list().never();
    let (_, _, body) = call(
        mocks,
        post_query("{ posts(limit: 0) { total } }", json!({}), None),
    )
    .await;
    assert_eq!(code(&body), "VALIDATION_FAILED");
    assert_eq!(
        body["errors"][0]["extensions"]["errors"][0]["field"],
        "limit"
    );
}

#[actix_web::test]
async fn expected_version_guards_an_update() {
    let mut mocks = Mocks::new();
    mocks
        .items
        .expect_update()
        .withf(|_, _, changes, if_match| {
            changes.title.as_ref().map(|t| t.as_str()) == Some("Oat milk")
                && changes.description == Some(None)
                && *if_match == Some(3)
        })
        .times(1)
        .returning(|_, _, _, _| Err(ServiceError::PreconditionFailed));
    let query = r#"mutation($id: UUID!) { updateItem(id: $id, input: { title: "Oat milk", description: null }, expectedVersion: 3) { version } }"#;
    let variables = json!({ "id": item(3).id.to_string() });
    let (_, _, body) = call(mocks, post_query(query, variables, Some(TOKEN))).await;
    assert_eq!(code(&body), "PRECONDITION_FAILED", "{body}");
}

#[actix_web::test]
async fn users_is_for_admins_only() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_list()
        .times(1)
        .returning(|_, _, _, _| Err(ServiceError::Forbidden));
    let (_, _, body) = call(
        mocks,
        post_query("{ users { total } }", json!({}), Some(TOKEN)),
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN");
}

#[actix_web::test]
async fn depth_complexity_and_aliases_are_refused_naming_the_limit() {
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }";
    let (_, _, body) = call(Mocks::new(), post_query(deep, json!({}), None)).await;
    assert_eq!(code(&body), "DEPTH_LIMIT_EXCEEDED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("graphql.max_depth")
    );

    let wide = "{ posts(limit: 100) { items { comments(limit: 100) { items { body } } } } }";
    let mut mocks = Mocks::new();
    mocks.posts.expect_list().never();
    let (_, _, body) = call(mocks, post_query(wide, json!({}), None)).await;
    assert_eq!(code(&body), "COMPLEXITY_LIMIT_EXCEEDED", "{body}");

    let aliases: String = (0..31).map(|n| format!("t{n}: tags ")).collect();
    let mut mocks = Mocks::new();
    mocks.posts.expect_tags().never();
    let (_, _, body) = call(
        mocks,
        post_query(&format!("{{ {aliases} }}"), json!({}), None),
    )
    .await;
    assert_eq!(code(&body), "ALIAS_LIMIT_EXCEEDED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("graphql.max_aliases")
    );

    // A fragment counts each time it is spread.
    let spread = format!(
        "{{ a: posts {{ ...F }} b: posts {{ ...F }} }} fragment F on PostPage {{ {} }}",
        (0..15).map(|n| format!("t{n}: total ")).collect::<String>()
    );
    let (_, _, body) = call(Mocks::new(), post_query(&spread, json!({}), None)).await;
    assert_eq!(code(&body), "ALIAS_LIMIT_EXCEEDED", "{body}");
}

#[actix_web::test]
async fn get_runs_queries_but_refuses_mutations() {
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_tags()
        .times(1)
        .returning(|| Ok(parse_tags(&["rust"]).unwrap()));
    let (status, _, body) = call(mocks, TestRequest::get().uri("/graphql?query=%7Btags%7D")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["tags"], json!(["rust"]));

    let mut mocks = Mocks::new();
    mocks.items.expect_delete().never();
    let uri =
        "/graphql?query=mutation%7BdeleteItem(id%3A%2200000000-0000-0000-0000-000000000017%22)%7D";
    let (status, headers, body) = call(
        mocks,
        TestRequest::get()
            .uri(uri)
            .insert_header(("Authorization", format!("Bearer {TOKEN}"))),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers.get("allow").unwrap(), "POST");
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");

    let (status, headers, _) = call(Mocks::new(), TestRequest::put().uri("/graphql")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers.get("allow").unwrap(), "GET, POST");
}

#[actix_web::test]
async fn bodies_are_bounded_json_and_batches_are_limited() {
    let mut mocks = Mocks::new();
    mocks.limits.body_limit = 64;
    let long = format!("{{ tags {} }}", " ".repeat(100));
    let (status, _, body) = call(mocks, post_query(&long, json!({}), None)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE");

    let form = TestRequest::post()
        .uri("/graphql")
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .set_payload("query=%7Btags%7D");
    let (status, _, body) = call(Mocks::new(), form).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["code"], "UNSUPPORTED_MEDIA_TYPE");

    let broken = TestRequest::post()
        .uri("/graphql")
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{\"query\": ");
    let (status, _, body) = call(Mocks::new(), broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "MALFORMED_REQUEST");

    let six: Vec<Value> = (0..6).map(|_| json!({ "query": "{ tags }" })).collect();
    let mut mocks = Mocks::new();
    mocks.posts.expect_tags().never();
    let req = TestRequest::post()
        .uri("/graphql")
        .set_json(Value::Array(six));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("graphql.max_batch")
    );

    let two: Vec<Value> = (0..2).map(|_| json!({ "query": "{ tags }" })).collect();
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_tags()
        .times(2)
        .returning(|| Ok(Vec::new()));
    let req = TestRequest::post()
        .uri("/graphql")
        .set_json(Value::Array(two));
    let (status, _, body) = call(mocks, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([{ "data": { "tags": [] } }, { "data": { "tags": [] } }])
    );
}

#[actix_web::test]
async fn a_new_item_belongs_to_its_creator() {
    let mut mocks = Mocks::new();
    mocks
        .items
        .expect_create()
        .withf(|caller, draft, once| {
            caller.user_id == ME && draft.title.as_str() == "Milk" && once.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(item(1)));
    let query = r#"mutation { createItem(input: { title: "Milk" }) { title ownerId version } }"#;
    let (_, _, body) = call(mocks, post_query(query, json!({}), Some(TOKEN))).await;
    assert_eq!(
        body["data"]["createItem"],
        json!({ "title": "Milk", "ownerId": ME.to_string(), "version": 1 })
    );
}

/// `STRATA_UPDATE_SCHEMA=1 cargo test -p strata-graphql snapshot` rewrites
/// the snapshot after an intended change; review its diff.
#[test]
fn the_schema_matches_its_snapshot() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/graphql.schema.graphql"
    );
    let sdl = crate::sdl();
    if std::env::var_os("STRATA_UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &sdl).unwrap();
    }
    let snapshot = std::fs::read_to_string(path).unwrap();
    assert!(
        sdl == snapshot,
        "the GraphQL schema changed: if that is intended, run \
         `STRATA_UPDATE_SCHEMA=1 cargo test -p strata-graphql snapshot` and review the diff"
    );
}

#[actix_web::test]
async fn browsers_get_graphiql_and_its_assets_from_this_server() {
    let (status, headers, _) = call(
        Mocks::new(),
        TestRequest::get()
            .uri("/graphql")
            .insert_header(("Accept", "text/html,application/xhtml+xml")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");

    // With a query, a browser still gets the answer, not the page.
    let mut mocks = Mocks::new();
    mocks
        .posts
        .expect_tags()
        .times(1)
        .returning(|| Ok(Vec::new()));
    let (status, headers, _) = call(
        mocks,
        TestRequest::get()
            .uri("/graphql?query=%7Btags%7D")
            .insert_header(("Accept", "text/html")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-type").unwrap(), "application/json");

    let app =
        test::init_service(App::new().service(scope("/graphql", graphql(Mocks::new())))).await;
    let gzipped = TestRequest::get()
        .uri("/graphql/assets/graphiql.min.js?v=3.8.3")
        .insert_header(("Accept-Encoding", "gzip"))
        .to_request();
    let response = test::call_service(&app, gzipped).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get("content-encoding").unwrap(), "gzip");
    let plain = TestRequest::get()
        .uri("/graphql/assets/graphiql.min.js")
        .to_request();
    let body = test::call_and_read_body(&app, plain).await;
    assert!(body.len() > 1_000_000, "inflated: {} bytes", body.len());
    let missing = TestRequest::get()
        .uri("/graphql/assets/evil.js")
        .to_request();
    assert_eq!(
        test::call_service(&app, missing).await.status(),
        StatusCode::NOT_FOUND
    );
}
