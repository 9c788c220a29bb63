//! The RealWorld (Conduit) adapter, `strata-conduit`, mounted beside
//! Strata's own API (docs/conduit.md): its configuration, and the rate
//! limits it shares with `/api/v1`, so a client cannot escape its budget, or
//! the per-account login limit, by switching API.

use std::sync::Arc;

use actix_web::HttpRequest;
use anyhow::bail;
use async_trait::async_trait;
use serde::Deserialize;
use strata_conduit::Throttle;
use strata_http::RateLimits;
use strata_http::rate_limit::Bucket;
use uuid::Uuid;

/// `[conduit]`: where the RealWorld API is served, if at all.
#[derive(Debug, Clone, Deserialize)]
pub struct ConduitSettings {
    pub enabled: bool,
    /// The path prefix; RealWorld clients expect `/api`.
    pub path: String,
}

impl ConduitSettings {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        check_mount_path("conduit.path", &self.path)
    }
}

/// A prefix an adapter may be mounted at: absolute, without a trailing
/// slash, and clear of what Strata's own API and documents own.
///
/// # Errors
/// Naming `key` and what is wrong.
pub(crate) fn check_mount_path(key: &str, path: &str) -> anyhow::Result<()> {
    let shape_ok = path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'));
    if !shape_ok {
        bail!(
            "{key} must be an absolute path such as \"/api\" without a trailing slash, got {path:?}"
        );
    }
    // Strata's own API and its documents own these prefixes.
    for taken in ["/api/v1", "/docs", "/openapi.json", "/health", "/metrics"] {
        if within(path, taken) {
            bail!("{key} {path:?} would shadow {taken}: choose another prefix");
        }
    }
    Ok(())
}

/// Whether `path` is `prefix` or below it (where a scope at `prefix` would
/// claim it).
pub(crate) fn within(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// [`Throttle`] over the same budgets as `/api/v1`: a request is charged to
/// its user (or, anonymous, to its address), a login or registration to the
/// account's e-mail.
#[derive(Clone)]
pub(crate) struct SharedBudgets {
    pub(crate) limits: RateLimits,
}

impl SharedBudgets {
    async fn charge(&self, bucket: Bucket, key: String) -> Result<(), u64> {
        match self.limits.check(bucket, &[key]).await {
            Some(decision) if !decision.allowed => Err(decision.retry_after.as_secs().max(1)),
            _ => Ok(()),
        }
    }
}

#[async_trait(?Send)]
impl Throttle for SharedBudgets {
    async fn credentials(&self, _req: &HttpRequest, subject: &str) -> Result<(), u64> {
        self.charge(Bucket::Credentials, format!("subject:{subject}"))
            .await
    }

    async fn request(&self, req: &HttpRequest, user: Option<Uuid>) -> Result<(), u64> {
        let key = match user {
            Some(user) => format!("user:{user}"),
            None => self.limits.ip_key(req),
        };
        self.charge(Bucket::Default, key).await
    }
}

/// The throttle the adapter gets: none when rate limiting is off.
pub(crate) fn throttle(limits: &RateLimits) -> Arc<dyn Throttle> {
    if limits.enabled {
        Arc::new(SharedBudgets {
            limits: limits.clone(),
        })
    } else {
        Arc::new(strata_conduit::Unthrottled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> ConduitSettings {
        ConduitSettings {
            enabled: true,
            path: path.into(),
        }
    }

    #[test]
    fn the_path_is_an_absolute_prefix_that_shadows_nothing_of_strata() {
        assert!(at("/api").validate().is_ok());
        assert!(at("/conduit/api").validate().is_ok());
        for bad in [
            "",
            "/",
            "api",
            "/api/",
            "/api/v1",
            "/api/v1/x",
            "/docs",
            "/a b",
        ] {
            assert!(at(bad).validate().is_err(), "{bad:?}");
        }
        let off = ConduitSettings {
            enabled: false,
            path: String::new(),
        };
        assert!(off.validate().is_ok());
    }
}
