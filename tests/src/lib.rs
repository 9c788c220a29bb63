//! The end-to-end harness: starts the real application (the same
//! `Application::build` the binary uses) on a random port with a fresh
//! database, and talks HTTP to it.
//!
//! Every test runs once on SQLite and, when `TEST_POSTGRES_URL` is set, once
//! more on PostgreSQL in a database of its own. An unreachable
//! `TEST_POSTGRES_URL` fails the test rather than skipping it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

pub mod mail;
pub mod oidc;
pub mod socket;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use reqwest::{Client, Response};
use serde_json::{Value, json};
use strata::{Application, Settings};
use strata_service::AuthService as _;

pub use strata_testing::Backend;

/// A database for one test (see [`strata_testing`]: removed when dropped),
/// with the job file store (`storage.dir`) that goes with it.
pub struct TestDatabase {
    pub url: String,
    pub files: tempfile::TempDir,
    _database: strata_testing::TestDatabase,
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> Self {
        let database = strata_testing::TestDatabase::create(backend).await;
        Self {
            url: database.url.clone(),
            files: tempfile::tempdir().unwrap(),
            _database: database,
        }
    }
}

pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// Test settings for `database_url`, with `overrides` as extra variables.
pub fn settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("APP__SERVER__PORT".into(), "0".into()),
        ("APP__SERVER__WORKERS".into(), "2".into()),
        ("APP__SERVER__SHUTDOWN_TIMEOUT_SECS".into(), "1".into()),
        ("APP__DATABASE__URL".into(), database_url.into()),
        ("APP__DATABASE__MAX_CONNECTIONS".into(), "5".into()),
    ]);
    for (k, v) in overrides {
        vars.insert((*k).into(), (*v).into());
    }
    Settings::load_from(&config_dir(), "test", &vars).unwrap()
}

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub database: TestDatabase,
    handle: strata::startup::ServerHandle,
}

fn init_logs() {
    // Before any reqwest client exists (see strata_oidc::install_crypto_provider).
    strata::startup::install_crypto_provider();
    if std::env::var_os("TEST_LOG").is_some() {
        strata::telemetry::init(&strata::config::LogSettings {
            format: strata::config::LogFormat::Pretty,
            level: "debug".into(),
        });
    }
}

/// Starts a server on `database` (several may share one) and returns its
/// base URL and a handle to stop it.
pub async fn serve(
    database: &TestDatabase,
    overrides: &[(&str, &str)],
) -> (String, strata::startup::ServerHandle) {
    init_logs();
    let files = database.files.path().display().to_string();
    let mut overrides = overrides.to_vec();
    if !overrides.iter().any(|(key, _)| *key == "APP__STORAGE__DIR") {
        overrides.push(("APP__STORAGE__DIR", &files));
    }
    let app = Application::build(settings(&database.url, &overrides))
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (address, handle)
}

impl TestApp {
    pub async fn spawn(backend: &Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts a server with extra `APP__...` settings.
    pub async fn spawn_with(backend: &Backend, overrides: &[(&str, &str)]) -> Self {
        let database = TestDatabase::create(backend).await;
        Self::start(database, overrides).await
    }

    /// Starts a server on an existing database (used to restart).
    pub async fn spawn_on(database: TestDatabase) -> Self {
        Self::start(database, &[]).await
    }

    async fn start(database: TestDatabase, overrides: &[(&str, &str)]) -> Self {
        let (address, handle) = serve(&database, overrides).await;
        Self {
            address,
            client: Client::new(),
            database,
            handle,
        }
    }

    /// Stops the server and starts a new one on the same database.
    pub async fn restart(self) -> Self {
        self.handle.stop(false).await;
        Self::spawn_on(self.database).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Uploads `csv` to `POST /api/v1/items/imports`, which starts a job.
    pub async fn import_items(&self, token: &str, csv: impl Into<String>) -> Response {
        self.client
            .post(self.url("/api/v1/items/imports"))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv.into())
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, user: &TestUser) -> Response {
        self.post_json("/api/v1/auth/register", &user.registration(), None)
            .await
    }

    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"username": login, "password": password}),
            None,
        )
        .await
    }

    /// Registers `user` and returns the token pair from the answer.
    pub async fn registered(&self, user: &TestUser) -> Tokens {
        let response = self.register(user).await;
        assert_eq!(response.status(), 201, "registration failed");
        Tokens::from(&response.json::<Value>().await.unwrap())
    }

    /// Creates an administrator the way `strata create-admin` does and logs
    /// it in.
    pub async fn admin(&self) -> Tokens {
        let user = TestUser::generate();
        let settings = settings(&self.database.url, &[]);
        let db = strata::startup::database(&settings).await.unwrap();
        let services = strata::startup::services(&settings, db).await.unwrap();
        let registration =
            strata_service::Registration::parse(&user.email, &user.username, &user.password, None)
                .unwrap();
        services
            .auth
            .create_account(registration, strata_domain::users::Role::Admin)
            .await
            .unwrap();
        let response = self.login(&user.username, &user.password).await;
        assert_eq!(response.status(), 200);
        Tokens::from(&response.json::<Value>().await.unwrap())
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token}),
            None,
        )
        .await
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl From<&Value> for Tokens {
    fn from(body: &Value) -> Self {
        Self {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub email: String,
    pub username: String,
    pub password: String,
}

impl TestUser {
    /// A user with a unique name.
    pub fn generate() -> Self {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..10];
        Self {
            email: format!("user-{tag}@example.com"),
            username: format!("user_{tag}"),
            password: "Secret123".into(),
        }
    }

    pub fn registration(&self) -> Value {
        json!({"email": self.email, "username": self.username, "password": self.password})
    }
}

/// Runs `test` once per backend, each on a fresh server and database.
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in Backend::all() {
        test(TestApp::spawn(&backend).await).await;
    }
}

/// Asserts a problem+json answer and returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["request_id"], request_id);
    body
}
