//! A rate-limit verdict as the client sees it: the budget's numbers and the
//! IETF `RateLimit-*` headers. A leaf shared by the limiter (which decides)
//! and the error type (whose 429 carries the verdict).

use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The verdict on one request and the numbers for the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the budget is whole again.
    pub reset_after: Duration,
    /// Until a refused client may try again.
    pub retry_after: Duration,
}

/// Whole seconds, rounded up: headers count in seconds, and telling a
/// client to come back a fraction too early only earns it another 429.
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Writes the IETF rate-limit headers for `decision`.
pub fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    for (name, value) in [
        (RATELIMIT_LIMIT, u64::from(decision.limit)),
        (RATELIMIT_REMAINING, u64::from(decision.remaining)),
        (RATELIMIT_RESET, whole_seconds(decision.reset_after)),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}
