//! Handler tests over mocked services: each builds the scope with
//! [`Mocks`], sends one request and checks the answer and the calls made
//! (mockall checks `times` when the app, and with it the mocks, drops).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod articles;
mod comments;
mod errors;
mod users;

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpRequest};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use serde_json::Value;
use strata_domain::auth::Principal;
use strata_domain::items::Title;
use strata_domain::posts::{Author, Body, Comment, Description, Post, Slug, parse_tags};
use strata_domain::profiles::Profile;
use strata_domain::users::{Email, Role, User, Username};
use strata_service::ServiceError;
use strata_service::accounts::MockAccountService;
use strata_service::auth::{MockAuthService, TokenPair};
use strata_service::error::TokenRejection;
use strata_service::posts::MockPostService;
use strata_service::profiles::MockProfileService;
use strata_service::users::MockUserService;
use uuid::Uuid;

use crate::{Conduit, Throttle, Unthrottled, scope};

/// The token [`Mocks::new`] accepts, as the caller [`principal`].
pub const TOKEN: &str = "good.jwt";
pub const ME: Uuid = Uuid::from_u128(1);
pub const OTHER: Uuid = Uuid::from_u128(2);
pub const POST: Uuid = Uuid::from_u128(0x90);
pub const SLUG: &str = "hello-world-000000000090";

pub struct Mocks {
    pub auth: MockAuthService,
    pub accounts: MockAccountService,
    pub users: MockUserService,
    pub profiles: MockProfileService,
    pub posts: MockPostService,
    pub throttle: Arc<dyn Throttle>,
}

impl Mocks {
    /// Services that expect nothing but the verification of tokens:
    /// [`TOKEN`] is [`principal`], any other is refused.
    pub fn new() -> Self {
        let mut auth = MockAuthService::new();
        auth.expect_authenticate().returning(|token| {
            if token == TOKEN {
                Ok(principal())
            } else {
                Err(ServiceError::Unauthenticated(TokenRejection::Invalid))
            }
        });
        // Every account may write unless a test says otherwise.
        let mut accounts = MockAccountService::new();
        accounts.expect_ensure_may_write().returning(|_| Ok(()));
        Self {
            auth,
            accounts,
            users: MockUserService::new(),
            profiles: MockProfileService::new(),
            posts: MockPostService::new(),
            throttle: Arc::new(Unthrottled),
        }
    }

    fn into_conduit(self) -> Conduit {
        Conduit {
            auth: Arc::new(self.auth),
            accounts: Arc::new(self.accounts),
            users: Arc::new(self.users),
            profiles: Arc::new(self.profiles),
            posts: Arc::new(self.posts),
            throttle: self.throttle,
        }
    }
}

/// Sends `req` to the scope mounted at `/api` and returns the status,
/// headers and JSON body (`Null` when empty).
pub async fn call(mocks: Mocks, req: TestRequest) -> (StatusCode, HeaderMap, Value) {
    let app = test::init_service(App::new().service(scope("/api", mocks.into_conduit()))).await;
    let response = test::call_service(&app, req.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, body)
}

pub fn token(value: &str) -> (&'static str, String) {
    ("Authorization", format!("Token {value}"))
}

pub fn principal() -> Principal {
    Principal {
        user_id: ME,
        session_id: Uuid::from_u128(0x5e55),
        role: Role::User,
    }
}

pub fn at(minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, minute, 5).unwrap()
}

pub fn user() -> User {
    User {
        id: ME,
        email: Email::parse("jake@jake.jake").unwrap(),
        username: Username::parse("jake").unwrap(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified_at: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

pub fn tokens() -> TokenPair {
    TokenPair {
        access_token: "new.jwt".into(),
        refresh_token: "refresh".into(),
        expires_in: 900,
    }
}

pub fn profile(user_id: Uuid, username: &str) -> Profile {
    Profile {
        user_id,
        username: username.into(),
        bio: None,
        image: None,
        following: false,
    }
}

pub fn author(id: Uuid) -> Author {
    Author {
        id,
        username: if id == ME { "jake" } else { "celeb" }.into(),
    }
}

/// A post by `author_id` whose id ends in `n`.
pub fn post(n: u128, author_id: Uuid) -> Post {
    let id = Uuid::from_u128(0x90 + n);
    Post {
        id,
        slug: Slug::parse(&format!("hello-world-{:012x}", 0x90 + n)).unwrap(),
        title: Title::parse("Hello, World").unwrap(),
        description: Some(Description::parse("A greeting").unwrap()),
        body: Body::parse("First!", Body::POST_MAX).unwrap(),
        tags: parse_tags(&["rust", "web"]).unwrap(),
        author: author(author_id),
        comment_count: 0,
        favorites_count: 3,
        created_at: at(1),
        updated_at: at(2),
    }
}

pub fn comment(n: u128, author_id: Uuid) -> Comment {
    Comment {
        id: Uuid::from_u128(0xc0 + n),
        post_id: POST,
        number: u64::try_from(n).unwrap_or(u64::MAX) + 1,
        body: Body::parse("Nice!", Body::COMMENT_MAX).unwrap(),
        author: author(author_id),
        created_at: at(3),
    }
}

/// Expects the post behind [`SLUG`] to be looked up (any number of times).
pub fn expect_post(mocks: &mut Mocks, author_id: Uuid) {
    mocks
        .posts
        .expect_get_by_slug()
        .withf(|slug| slug.as_str() == SLUG)
        .returning(move |_| Ok(post(0, author_id)));
}

/// A throttle whose budgets are spent, recording what it was charged.
#[derive(Default)]
pub struct Spent {
    pub requests: bool,
    pub credentials: bool,
    pub charged: Mutex<Vec<String>>,
}

#[async_trait(?Send)]
impl Throttle for Spent {
    async fn credentials(&self, _req: &HttpRequest, subject: &str) -> Result<(), u64> {
        self.charged
            .lock()
            .unwrap()
            .push(format!("credentials {subject}"));
        if self.credentials { Err(30) } else { Ok(()) }
    }

    async fn request(&self, _req: &HttpRequest, user: Option<Uuid>) -> Result<(), u64> {
        let who = user.map_or("address".to_owned(), |u| u.to_string());
        self.charged.lock().unwrap().push(format!("request {who}"));
        if self.requests { Err(7) } else { Ok(()) }
    }
}
