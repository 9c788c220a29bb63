//! Rate limiting: a default budget per client on every API route, and a
//! much stricter one for the credential endpoints, keyed by client IP and by
//! the submitted username (login, register) or refresh token.
//!
//! Budgets live in a [`RateLimitStore`]: in-process ([`MemoryStore`], the
//! governor crate's GCRA) by default, or in Redis ([`RedisStore`], the same
//! algorithm as one atomic script) so several instances share one budget.
//! Answers carry the IETF `RateLimit-Limit`/`-Remaining`/`-Reset` headers; a
//! refusal is a 429 problem with `Retry-After`.

mod memory;
mod redis;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use async_trait::async_trait;
use ipnet::IpNet;

pub use self::redis::RedisStore;
pub use memory::MemoryStore;

use crate::AppState;
use crate::error::ApiError;
pub use crate::throttle::Decision;
use crate::throttle::set_headers;

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Every API request, per user (or per IP when anonymous).
    Default,
    /// Login, register and refresh, per IP and per username/token.
    Credentials,
}

impl Bucket {
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Credentials => "credentials",
        }
    }
}

/// `limit` requests per `period`, refilled continuously.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit: limit.max(1),
            period: Duration::from_secs(60),
        }
    }
}

/// Where budgets are kept.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Counts one request against `key`'s budget in `bucket`.
    ///
    /// # Errors
    /// A description of the store's failure; callers let the request through
    /// (a limiter outage must not become an API outage) and log it.
    async fn check(&self, bucket: Bucket, key: &str, quota: Quota) -> Result<Decision, String>;
}

/// Rate limiting as configured: the store, the quotas, and who may speak for
/// the client's address.
#[derive(Clone)]
pub struct RateLimits {
    pub enabled: bool,
    pub default: Quota,
    pub credentials: Quota,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    store: Arc<dyn RateLimitStore>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("enabled", &self.enabled)
            .field("default", &self.default)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Default for RateLimits {
    /// Disabled; used by tests that build the app without configuration.
    fn default() -> Self {
        Self::new(
            false,
            Quota::per_minute(60),
            Quota::per_minute(5),
            Vec::new(),
            Arc::new(MemoryStore::default()),
        )
    }
}

impl RateLimits {
    pub fn new(
        enabled: bool,
        default: Quota,
        credentials: Quota,
        trusted_proxies: Vec<IpNet>,
        store: Arc<dyn RateLimitStore>,
    ) -> Self {
        Self {
            enabled,
            default,
            credentials,
            trusted_proxies,
            store,
        }
    }

    fn quota(&self, bucket: Bucket) -> Quota {
        match bucket {
            Bucket::Default => self.default,
            Bucket::Credentials => self.credentials,
        }
    }

    /// Counts the request against every key (each is charged), and returns the
    /// tightest verdict.
    pub async fn check(&self, bucket: Bucket, keys: &[String]) -> Option<Decision> {
        if !self.enabled {
            return None;
        }
        let quota = self.quota(bucket);
        let mut tightest: Option<Decision> = None;
        for key in keys {
            let decision = match self.store.check(bucket, key, quota).await {
                Ok(decision) => decision,
                Err(err) => {
                    tracing::warn!(bucket = bucket.name(), error = %err, "rate limit store failed; letting the request through");
                    metrics::counter!("strata_rate_limit_store_errors_total").increment(1);
                    continue;
                }
            };
            tightest = Some(match tightest {
                Some(t) if (t.allowed, t.remaining) <= (decision.allowed, decision.remaining) => t,
                _ => decision,
            });
        }
        if let Some(d) = tightest.filter(|d| !d.allowed) {
            metrics::counter!("strata_rate_limited_total", "bucket" => bucket.name()).increment(1);
            tracing::info!(
                bucket = bucket.name(),
                retry_after_secs = d.retry_after.as_secs(),
                "rate limited"
            );
        }
        tightest
    }

    /// Charges the credential budget for these subjects (case-folded
    /// username/e-mail, or a refresh token's hash) and, when `per_client`,
    /// for the client's address as well. Refresh is charged per token only:
    /// many users behind one NAT refresh all the time.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] when any of them is spent.
    pub async fn check_credentials(
        &self,
        req: &HttpRequest,
        subjects: &[String],
        per_client: bool,
    ) -> Result<Option<Decision>, ApiError> {
        let mut keys = Vec::with_capacity(subjects.len() + 1);
        if per_client {
            keys.push(self.ip_key(req));
        }
        keys.extend(subjects.iter().map(|s| format!("subject:{s}")));
        let decision = self.check(Bucket::Credentials, &keys).await;
        if let Some(d) = decision {
            // For the response headers, whatever the handler answers next.
            req.extensions_mut().insert(CredentialDecision(d));
        }
        match decision {
            Some(decision) if !decision.allowed => Err(ApiError::RateLimited(decision)),
            other => Ok(other),
        }
    }

    /// The budget key of the client's address (`ip:<address>`).
    pub fn ip_key(&self, req: &HttpRequest) -> String {
        self.client_ip(req)
            .map_or_else(|| "ip:unknown".to_owned(), |ip| format!("ip:{ip}"))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy,
    /// in which case the nearest untrusted hop of `X-Forwarded-For`. A
    /// forwarded header from anyone else is ignored, so it cannot be spoofed.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        Some(nearest_untrusted_hop(&hops, peer, |ip| self.is_trusted(ip)))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }
}

/// Walks `X-Forwarded-For` from the nearest hop outwards: proxies we trust
/// appended what they saw, so the first untrusted address is the client as
/// far as anyone we trust can tell. Entries further left were written by
/// the client itself and prove nothing; an entry that is not an address ends
/// the walk at the last hop vouched for.
fn nearest_untrusted_hop(hops: &[&str], peer: IpAddr, trusted: impl Fn(IpAddr) -> bool) -> IpAddr {
    let mut vouched = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            return vouched;
        };
        if !trusted(ip) {
            return ip;
        }
        vouched = ip;
    }
    vouched
}

/// The credential budget's verdict on this request; its headers win over the
/// default budget's, being the stricter limit the client is up against.
#[derive(Debug, Clone, Copy)]
struct CredentialDecision(Decision);

/// The default budget of the client IP, for a route outside the `/api/v1`
/// scope (the socket handshake).
///
/// # Errors
/// [`ApiError::RateLimited`] when the budget is spent.
pub(crate) async fn charge_ip(req: &actix_web::HttpRequest) -> Result<(), ApiError> {
    let Some(limits) = req
        .app_data::<web::Data<RateLimits>>()
        .filter(|l| l.enabled)
    else {
        return Ok(());
    };
    match limits.check(Bucket::Default, &[limits.ip_key(req)]).await {
        Some(d) if !d.allowed => Err(ApiError::RateLimited(d)),
        _ => Ok(()),
    }
}

/// The default budget, applied to every `/api/v1` route. The key is the user
/// when the bearer token is valid (the verified principal is kept for the
/// extractor, so the token is checked once), else the client IP.
pub async fn default_budget(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(limits) = req
        .app_data::<web::Data<RateLimits>>()
        .cloned()
        .filter(|l| l.enabled)
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let principal = req.app_data::<web::Data<AppState>>().and_then(|state| {
        let token = crate::bearer::bearer_token(req.request())?;
        state.auth.authenticate(token).ok()
    });
    let key = match principal {
        Some(p) => {
            req.extensions_mut().insert(p);
            format!("user:{}", p.user_id)
        }
        None => limits.ip_key(req.request()),
    };
    let decision = limits.check(Bucket::Default, &[key]).await;
    if let Some(d) = decision.filter(|d| !d.allowed) {
        let (http_req, _) = req.into_parts();
        let response = actix_web::ResponseError::error_response(&ApiError::RateLimited(d));
        return Ok(ServiceResponse::new(http_req, response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    let credential = response
        .request()
        .extensions()
        .get::<CredentialDecision>()
        .map(|c| c.0);
    if let Some(d) = credential.or(decision) {
        set_headers(response.headers_mut(), &d);
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(hops: &[&str]) -> IpAddr {
        let proxy: IpNet = "10.0.0.0/8".parse().unwrap();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        nearest_untrusted_hop(hops, peer, |ip| proxy.contains(&ip))
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        assert_eq!(
            client(&["203.0.113.9"]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client(&["203.0.113.9", "10.1.1.1"]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn addresses_the_client_wrote_itself_are_ignored() {
        // The client sent "1.2.3.4"; our proxy appended the real address.
        assert_eq!(
            client(&["1.2.3.4", "203.0.113.9"]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // Garbage in the middle cannot make an earlier, forged entry count.
        assert_eq!(
            client(&["1.2.3.4", "garbage", "203.0.113.9"]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client(&["1.2.3.4", "garbage"]),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn without_a_header_or_with_only_proxies_the_last_vouched_hop_counts() {
        assert_eq!(client(&[]), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(client(&["10.2.2.2"]), "10.2.2.2".parse::<IpAddr>().unwrap());
    }
}
