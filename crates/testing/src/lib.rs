//! Per-test databases: a fresh SQLite file always and, when
//! `TEST_POSTGRES_URL` is set, a fresh PostgreSQL database too, each removed
//! when its [`TestDatabase`] drops (even after a panic). Shared by the
//! repository tests and the end-to-end tests, so both run on the same
//! backends the same way. A set but unreachable `TEST_POSTGRES_URL` fails the
//! test rather than skipping it.
//!
//! The database is empty: callers migrate it (or let the server do it).
#![allow(clippy::expect_used)]

use sea_orm::{ConnectionTrait, Database};

/// Where a test's database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// The server's URL, with a role that has `CREATEDB`.
    Postgres(String),
}

impl Backend {
    /// SQLite always; PostgreSQL too when `TEST_POSTGRES_URL` is set.
    pub fn all() -> Vec<Self> {
        let mut backends = vec![Self::Sqlite];
        if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
            backends.push(Self::Postgres(url));
        }
        backends
    }

    /// `sqlite` or `postgres`, for assertion messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// An empty database for one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    /// The SQLite file's directory.
    _dir: Option<tempfile::TempDir>,
    /// The server's URL and the database's name, to drop it.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A new, empty database on `backend`.
    ///
    /// # Panics
    /// When the temporary directory or the PostgreSQL database cannot be
    /// created: a test cannot run without it.
    pub async fn create(backend: &Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Self {
                    url,
                    backend: backend.clone(),
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres(admin_url) => {
                let name = format!("strata_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .unwrap_or_else(|e| panic!("TEST_POSTGRES_URL is set but unreachable: {e}"));
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("CREATE DATABASE failed (the role needs CREATEDB)");
                let _ = admin.close().await;
                Self {
                    url: with_database(admin_url, &name),
                    backend: backend.clone(),
                    _dir: None,
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// One new database per backend of [`Backend::all`].
    pub async fn each() -> Vec<Self> {
        let mut databases = Vec::new();
        for backend in Backend::all() {
            databases.push(Self::create(&backend).await);
        }
        databases
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop cannot await, and the test's runtime cannot be blocked on:
        // a short-lived thread with a runtime of its own drops the database.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str()).await.ok()?;
                // FORCE ends pool connections still open (PostgreSQL 13+).
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// `url` pointed at database `name`, its query string kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(base, query)| (base, Some(query)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(i) => &base[..authority + i],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_pointed_at_another_database_with_its_options_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "t"),
            "postgres://u:p@h:5/t?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "t"), "postgres://u@h/t");
    }

    #[tokio::test]
    async fn a_sqlite_database_is_removed_with_its_value() {
        let db = TestDatabase::create(&Backend::Sqlite).await;
        let dir = db._dir.as_ref().map(|d| d.path().to_owned());
        assert!(db.url.starts_with("sqlite://"));
        drop(db);
        assert!(dir.is_some_and(|dir| !dir.exists()));
    }
}
