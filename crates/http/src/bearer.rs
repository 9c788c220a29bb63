//! The bearer token of a request. A leaf, for the extractors, the rate
//! limiter (which keys budgets by user) and the metrics route alike.

use actix_web::HttpRequest;
use actix_web::http::header;

/// The token of an `Authorization: Bearer` header, if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
}
