//! The catalog lists' HTTP caching: validators from the catalog version and
//! a response cache keyed by it (ADR 0020).
//!
//! Every catalog write bumps one version row in its own transaction, so a
//! list's tag and cache key are `(version, URL)`: a new version is
//! a new key, and nothing is ever deleted or invalidated. The version is
//! obtained before the list query (known in memory on SQLite, a read shared
//! by concurrent requests on PostgreSQL: ADR 0021): a client whose copy is
//! current gets 304 without that query, and a stored page is served without
//! it. A page is rendered after its version was read, so what is stored
//! under a version is never older than that version.
//!
//! The cache is this instance's memory (moka, bounded by bytes) in front of
//! Redis when `redis.url` is set, so instances share the pages any of them
//! was asked for twice. Redis failing or slow only costs the query: it is logged,
//! counted (`strata_catalog_cache_store_errors_total`) and the page is
//! rendered here.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::redis::AsyncCommands;
use ::redis::aio::ConnectionManager;
use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use crate::AppState;
use crate::conditional::Validators;
use crate::error::ApiError;

/// How long Redis may take before a lookup counts as a miss.
const SHARED_TIMEOUT: Duration = Duration::from_millis(100);

/// The catalog cache's settings (`http_cache.*`).
#[derive(Debug, Clone)]
pub struct CatalogCacheSettings {
    /// `max-age` of public catalog lists; 0 makes every use revalidate.
    pub max_age_secs: u32,
    /// Bytes of rendered pages this instance keeps.
    pub capacity_bytes: u64,
    /// How long a stored page lives (it can only go out of use, never stale).
    pub ttl: Duration,
}

impl Default for CatalogCacheSettings {
    fn default() -> Self {
        Self {
            max_age_secs: 0,
            capacity_bytes: 32 * 1024 * 1024,
            ttl: Duration::from_secs(300),
        }
    }
}

/// Rendered public catalog pages by `(version, URL)`; cheap to clone.
#[derive(Clone)]
pub struct CatalogCache {
    inner: Arc<Inner>,
}

struct Inner {
    local: moka::sync::Cache<String, Arc<Page>>,
    shared: Option<Shared>,
    public: HeaderValue,
    ttl: Duration,
}

/// A rendered page, and whether it was put in Redis (or came from there).
struct Page {
    body: Bytes,
    shared: AtomicBool,
}

impl Page {
    fn new(body: Bytes, shared: bool) -> Arc<Self> {
        Arc::new(Self {
            body,
            shared: AtomicBool::new(shared),
        })
    }
}

struct Shared {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for CatalogCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogCache")
            .field("shared", &self.inner.shared.as_ref().map(|s| &s.prefix))
            .finish_non_exhaustive()
    }
}

impl Default for CatalogCache {
    fn default() -> Self {
        Self::local(&CatalogCacheSettings::default())
    }
}

impl CatalogCache {
    /// This instance's memory only.
    pub fn local(settings: &CatalogCacheSettings) -> Self {
        Self::build(settings, None)
    }

    /// Memory in front of Redis through `connection` (the rate limiter's,
    /// [`crate::rate_limit::RedisStore::connection`]), keys under `prefix`.
    pub fn shared(
        settings: &CatalogCacheSettings,
        connection: ConnectionManager,
        prefix: &str,
    ) -> Self {
        Self::build(
            settings,
            Some(Shared {
                connection,
                prefix: prefix.to_owned(),
            }),
        )
    }

    fn build(settings: &CatalogCacheSettings, shared: Option<Shared>) -> Self {
        let local = moka::sync::Cache::builder()
            .max_capacity(settings.capacity_bytes)
            .weigher(|key: &String, page: &Arc<Page>| {
                u32::try_from(key.len() + page.body.len()).unwrap_or(u32::MAX)
            })
            .time_to_live(settings.ttl)
            .build();
        let public = if settings.max_age_secs == 0 {
            "public, no-cache".to_owned()
        } else {
            format!("public, max-age={}", settings.max_age_secs)
        };
        Self {
            inner: Arc::new(Inner {
                local,
                shared,
                public: HeaderValue::from_str(&public)
                    .unwrap_or(HeaderValue::from_static("public, no-cache")),
                ttl: settings.ttl,
            }),
        }
    }

    async fn get(&self, key: &str) -> Option<Bytes> {
        if let Some(page) = self.inner.local.get(key) {
            metrics::counter!("strata_catalog_cache_total", "result" => "hit_local").increment(1);
            // Asked for again: worth sharing now (see `put`).
            if let Some(shared) = &self.inner.shared
                && !page.shared.swap(true, Ordering::Relaxed)
            {
                shared.put(key, &page.body, self.inner.ttl).await;
            }
            return Some(page.body.clone());
        }
        let page = match &self.inner.shared {
            Some(shared) => shared.get(key).await.map(Bytes::from),
            None => None,
        };
        let result = match &page {
            Some(body) => {
                self.inner
                    .local
                    .insert(key.to_owned(), Page::new(body.clone(), true));
                "hit_shared"
            }
            None => "miss",
        };
        metrics::counter!("strata_catalog_cache_total", "result" => result).increment(1);
        page
    }

    /// Keeps a rendered page here only. It goes to Redis when it is asked for
    /// again: a client sending a new URL with every request (`min_price=1`,
    /// `2`, …) would otherwise fill Redis, which nothing here bounds, where
    /// the local cache is bounded by bytes.
    fn put(&self, key: String, body: Bytes) {
        self.inner.local.insert(key, Page::new(body, false));
    }

    /// `Cache-Control` and `Vary` of what anyone may see, with `etag`.
    pub(crate) fn public(&self, etag: HeaderValue) -> Validators {
        Validators {
            etag,
            cache_control: self.inner.public.clone(),
        }
    }

    /// A catalog list as anyone sees it: 304 when the client's copy is
    /// current, a stored page, or `render` (run only then) stored for the
    /// next caller. Views that depend on the caller must not come here.
    ///
    /// # Errors
    /// What reading the version or `render` fails with; failures are not stored.
    pub(crate) async fn page<F, Fut>(
        &self,
        state: &AppState,
        req: &HttpRequest,
        render: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, ApiError>>,
    {
        let version = state.catalog.version().await?;
        // Weak: the compressor may change the bytes (ADR 0020).
        let validators = self.public(
            HeaderValue::from_str(&format!("W/\"catalog-{version}\""))
                .map_err(ApiError::internal)?,
        );
        if let Some(not_modified) = validators.not_modified(req) {
            return Ok(not_modified);
        }
        let key = format!("{version}:{}", req.uri());
        if let Some(page) = self.get(&key).await {
            return Ok(validators.ok(page));
        }
        let page = render().await?;
        self.put(key, page.clone());
        Ok(validators.ok(page))
    }
}

impl Shared {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut connection = self.connection.clone();
        let lookup = connection.get::<_, Option<Vec<u8>>>(format!("{}:{key}", self.prefix));
        match tokio::time::timeout(SHARED_TIMEOUT, lookup).await {
            Ok(Ok(page)) => page,
            Ok(Err(err)) => {
                store_error("get", &err.to_string());
                None
            }
            Err(_) => {
                store_error("get", "timed out");
                None
            }
        }
    }

    async fn put(&self, key: &str, page: &[u8], ttl: Duration) {
        let mut connection = self.connection.clone();
        let store = connection.set_ex::<_, _, ()>(
            format!("{}:{key}", self.prefix),
            page,
            ttl.as_secs().max(1),
        );
        match tokio::time::timeout(SHARED_TIMEOUT, store).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => store_error("set", &err.to_string()),
            Err(_) => store_error("set", "timed out"),
        }
    }
}

fn store_error(operation: &'static str, error: &str) {
    tracing::warn!(
        operation,
        error,
        "catalog cache store failed; rendering here"
    );
    metrics::counter!("strata_catalog_cache_store_errors_total").increment(1);
}
