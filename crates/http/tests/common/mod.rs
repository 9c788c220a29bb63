//! Shared mocks and request helpers for the handler tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use chrono::Utc;
use serde_json::{Value, json};
use strata_domain::auth::Principal;
use strata_domain::items::{Item, Title};
use strata_domain::jobs::{Job, JobStatus};
use strata_domain::posts::{Author, Body, Post, Slug, parse_tags};
use strata_domain::profiles::{Bio, ImageUrl, Profile};
use strata_domain::users::{Email, Role, User, Username};
use strata_http::{AppState, HttpSettings};
use strata_service::accounts::MockAccountService;
use strata_service::auth::MockAuthService;
use strata_service::catalog::MockCatalogService;
use strata_service::error::TokenRejection;
use strata_service::health::MockHealthService;
use strata_service::idempotency::MockIdempotencyService;
use strata_service::items::MockItemService;
use strata_service::jobs::MockJobService;
use strata_service::notifications::MockNotificationService;
use strata_service::oidc::MockOidcService;
use strata_service::orders::MockOrderService;
use strata_service::posts::MockPostService;
use strata_service::profiles::MockProfileService;
use strata_service::realtime::MockRealtimeService;
use strata_service::users::MockUserService;
use strata_service::{ServiceError, TokenPair};
use uuid::Uuid;

pub const TOKEN: &str = "valid-token";

pub struct Mocks {
    pub auth: MockAuthService,
    pub accounts: MockAccountService,
    pub users: MockUserService,
    pub health: MockHealthService,
    pub items: MockItemService,
    pub posts: MockPostService,
    pub profiles: MockProfileService,
    pub jobs: MockJobService,
    pub notifications: MockNotificationService,
    pub realtime: MockRealtimeService,
    pub oidc: MockOidcService,
    pub catalog: MockCatalogService,
    pub orders: MockOrderService,
    pub idempotency: MockIdempotencyService,
}

impl Mocks {
    /// Mocks whose `authenticate` accepts [`TOKEN`] for `principal()`.
    pub fn new() -> Self {
        let mut auth = MockAuthService::new();
        auth.expect_authenticate().returning(|token| {
            if token == TOKEN {
                Ok(principal())
            } else if token == ADMIN_TOKEN {
                Ok(admin())
            } else {
                Err(ServiceError::Unauthenticated(TokenRejection::Invalid))
            }
        });
        // Writes are allowed unless a test says otherwise, as with
        // `auth.require_verified_email` off.
        let mut accounts = MockAccountService::new();
        accounts.expect_ensure_may_write().returning(|_| Ok(()));
        Self {
            auth,
            accounts,
            users: MockUserService::new(),
            health: MockHealthService::new(),
            items: MockItemService::new(),
            posts: MockPostService::new(),
            profiles: MockProfileService::new(),
            jobs: MockJobService::new(),
            notifications: MockNotificationService::new(),
            realtime: MockRealtimeService::new(),
            oidc: MockOidcService::new(),
            catalog: MockCatalogService::new(),
            orders: MockOrderService::new(),
            idempotency: MockIdempotencyService::new(),
        }
    }

    // Lists every service of today; those added since (a scaffolded
    // resource's) come from `mocked()`, which clippy finds needless until then.
    #[allow(clippy::needless_update)]
    pub fn state(self) -> AppState {
        AppState {
            auth: Arc::new(self.auth),
            accounts: Arc::new(self.accounts),
            users: Arc::new(self.users),
            health: Arc::new(self.health),
            items: Arc::new(self.items),
            posts: Arc::new(self.posts),
            profiles: Arc::new(self.profiles),
            jobs: Arc::new(self.jobs),
            notifications: Arc::new(self.notifications),
            realtime: Arc::new(self.realtime),
            oidc: Arc::new(self.oidc),
            catalog: Arc::new(self.catalog),
            orders: Arc::new(self.orders),
            idempotency: Arc::new(self.idempotency),
            ..AppState::mocked()
        }
    }
}

pub fn principal() -> Principal {
    Principal {
        user_id: Uuid::from_u128(7),
        session_id: Uuid::from_u128(8),
        role: Role::User,
    }
}

pub fn user() -> User {
    let now = Utc::now();
    User {
        id: Uuid::from_u128(7),
        email: Email::parse("ada@example.com").unwrap(),
        username: Username::parse("ada").unwrap(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// The caller's item 42 at `version`. Fixed times, so that equal versions
/// serialise to equal bodies.
pub fn item(version: i64) -> Item {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    Item {
        id: Uuid::from_u128(42),
        title: Title::parse("Milk").unwrap(),
        description: None,
        owner_id: principal().user_id,
        version,
        created_at: at,
        updated_at: at,
    }
}

/// The id of every [`post`].
pub const POST: Uuid = Uuid::from_u128(0x90);

/// Post [`POST`] by the caller, tagged `rust` and `web`, with
/// `favorites_count` favorites.
pub fn post(favorites_count: u64) -> Post {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let title = Title::parse("Hello, World").unwrap();
    Post {
        id: POST,
        slug: Slug::for_title(&title, POST),
        title,
        description: Some(strata_domain::posts::Description::parse("A greeting").unwrap()),
        body: Body::parse("First!", Body::POST_MAX).unwrap(),
        tags: parse_tags(&["rust", "web"]).unwrap(),
        author: Author {
            id: principal().user_id,
            username: "ada".into(),
        },
        comment_count: 2,
        favorites_count,
        created_at: at,
        updated_at: at,
    }
}

/// The public profile of `celeb`, as a reader who does or does not follow
/// them sees it.
pub fn profile(following: bool) -> Profile {
    Profile {
        user_id: Uuid::from_u128(0x91),
        username: "celeb".into(),
        bio: Some(Bio::parse("Famous.").unwrap()),
        image: Some(ImageUrl::parse("https://example.com/celeb.png").unwrap()),
        following,
    }
}

pub fn pair() -> TokenPair {
    TokenPair {
        access_token: "access".into(),
        refresh_token: "refresh".into(),
        expires_in: 900,
    }
}

pub async fn call(
    mocks: Mocks,
    req: TestRequest,
) -> (StatusCode, actix_web::http::header::HeaderMap, Value) {
    let app = test::init_service(strata_http::app(mocks.state(), HttpSettings::default())).await;
    let res = test::call_service(&app, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = test::read_body(res).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, headers, body)
}

pub fn assert_problem(
    headers: &actix_web::http::header::HeaderMap,
    body: &Value,
    status: u16,
    code: &str,
) {
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json",
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["type"], "about:blank");
    assert_eq!(
        body["request_id"],
        headers.get("x-request-id").unwrap().to_str().unwrap()
    );
}

/// The same principal with the admin role, under [`ADMIN_TOKEN`].
pub const ADMIN_TOKEN: &str = "admin-token";

pub fn admin() -> Principal {
    Principal {
        user_id: Uuid::from_u128(9),
        session_id: Uuid::from_u128(10),
        role: Role::Admin,
    }
}

pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// The `field` of each entry of a validation problem's `errors`, in order.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// The id of every [`job`].
pub const JOB: Uuid = Uuid::from_u128(0x77);

/// A job of the caller's, holding what clients must never see (payload,
/// lease, file key, unique key).
pub fn job(status: JobStatus) -> Job {
    let now = Utc::now();
    Job {
        id: JOB,
        kind: "export_users".into(),
        payload: json!({"format": "csv", "to": "secret@example.com"}),
        status,
        attempts: 1,
        max_attempts: 3,
        run_at: now,
        lease_owner: Some("host-1:42:abcd".into()),
        lease_expires_at: Some(now),
        progress: 100,
        progress_message: Some("3 of 3 accounts".into()),
        result: Some(json!({
            "rows": 3,
            "file": {"key": "exports/0077.csv", "content_type": "text/csv; charset=utf-8",
                     "filename": "users.csv", "bytes": 120}
        })),
        last_error: None,
        cancel_requested: false,
        created_by: Some(principal().user_id),
        unique_key: Some("unique".into()),
        created_at: now,
        started_at: Some(now),
        finished_at: Some(now),
        updated_at: now,
    }
}

pub fn job_uri(suffix: &str) -> String {
    format!("/api/v1/jobs/{JOB}{suffix}")
}

/// A 202 naming [`JOB`] in `Location` and in the body.
pub fn assert_accepted(status: u16, headers: &actix_web::http::header::HeaderMap, body: &Value) {
    assert_eq!(status, 202, "{body}");
    assert_eq!(headers.get("location").unwrap(), &job_uri(""));
    assert_eq!(body["id"], JOB.to_string());
}
