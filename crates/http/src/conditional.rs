//! Conditional GETs: `If-None-Match` (RFC 9110 §13.1.2, weak comparison)
//! and the 304 that answers it with every header a 200 would carry
//! (§15.4.5): `ETag`, `Cache-Control` and `Vary`, never an empty set.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use crate::error::ApiError;

/// `Cache-Control` of what only its owner may see: kept by the client
/// alone, and revalidated before every use.
const PRIVATE: &str = "private, no-cache";
/// What a response depends on besides its URL: the caller (a bearer token
/// or the session cookie) and the encoding the compressor chose.
pub(crate) const VARY: &str = "Authorization, Cookie, Accept-Encoding";

/// The header as documented on each revalidating operation (the document
/// then lists its 304, see `openapi_responses`).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfNoneMatchParam {
    /// `ETag`s of copies the client holds (or `*`): when one is current the
    /// answer is 304 with no body and the headers a 200 would carry. Compared
    /// weakly (RFC 9110 §13.1.2).
    #[param(rename = "If-None-Match")]
    pub tags: Option<String>,
}

/// The headers a 200 and the 304 that stands for it both carry.
#[derive(Debug, Clone)]
pub(crate) struct Validators {
    pub etag: HeaderValue,
    pub cache_control: HeaderValue,
}

impl Validators {
    /// What only its owner may see: `private, no-cache` with `etag`.
    pub fn private(etag: HeaderValue) -> Self {
        Self {
            etag,
            cache_control: HeaderValue::from_static(PRIVATE),
        }
    }

    fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        [
            (header::ETAG, self.etag.clone()),
            (header::CACHE_CONTROL, self.cache_control.clone()),
            (header::VARY, HeaderValue::from_static(VARY)),
        ]
    }

    /// 304 when the client's copy is current, otherwise `None`.
    pub fn not_modified(&self, req: &HttpRequest) -> Option<HttpResponse> {
        none_match(req, &self.etag).then(|| {
            let mut response = HttpResponse::NotModified();
            for h in self.headers() {
                response.insert_header(h);
            }
            response.finish()
        })
    }

    /// A 200 carrying `body` (JSON) and these headers.
    pub fn ok(&self, body: Bytes) -> HttpResponse {
        let mut response = HttpResponse::Ok();
        for h in self.headers() {
            response.insert_header(h);
        }
        response.content_type("application/json").body(body)
    }

    /// The 304, or the 200 carrying `body`.
    pub fn answer(&self, req: &HttpRequest, body: Bytes) -> HttpResponse {
        self.not_modified(req).unwrap_or_else(|| self.ok(body))
    }
}

/// Whether an `If-None-Match` of the request names `etag` or is `*`.
/// Comparison is weak (the `W/` prefix is ignored on both sides), as RFC
/// 9110 requires for this header; a header that is not text matches nothing.
pub(crate) fn none_match(req: &HttpRequest, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    let ours = opaque(etag);
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || opaque(tag) == ours)
}

fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// A weak tag for a body that has no version of its own (a list, an order):
/// it saves the transfer, not the query, and is weak because the
/// compressor may change the bytes.
pub(crate) fn body_tag(body: &[u8]) -> HeaderValue {
    let hex = strata_service::tokens::hex(&Sha256::digest(body)[..12]);
    HeaderValue::from_str(&format!("W/\"{hex}\"")).unwrap_or(HeaderValue::from_static("W/\"0\""))
}

/// `value` as a JSON body.
///
/// # Errors
/// [`ApiError::Internal`] if `value` cannot be serialised.
pub(crate) fn to_json(value: &impl Serialize) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

/// A caller's own resource as JSON, `private, no-cache`, with `etag` (or a
/// tag of the body when it has no version), answered 304 when current.
///
/// # Errors
/// [`ApiError::Internal`] if `value` cannot be serialised.
pub(crate) fn private_json(
    req: &HttpRequest,
    value: &impl Serialize,
    etag: Option<HeaderValue>,
) -> Result<HttpResponse, ApiError> {
    let body = to_json(value)?;
    Ok(Validators::private(etag.unwrap_or_else(|| body_tag(&body))).answer(req, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn tagged(values: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default();
        for v in values {
            req = req.append_header((header::IF_NONE_MATCH, *v));
        }
        req.to_http_request()
    }

    #[test]
    fn weak_comparison_lists_and_star_match() {
        let tag = HeaderValue::from_static("W/\"c7\"");
        assert!(none_match(&tagged(&["W/\"c7\""]), &tag));
        assert!(none_match(&tagged(&["\"c7\""]), &tag));
        assert!(none_match(&tagged(&["\"a\", W/\"c7\""]), &tag));
        assert!(none_match(&tagged(&["\"a\"", "\"c7\""]), &tag));
        assert!(none_match(&tagged(&["*"]), &tag));
        assert!(!none_match(&tagged(&["\"c8\""]), &tag));
        assert!(!none_match(&tagged(&["c7"]), &tag));
        assert!(!none_match(&tagged(&[]), &tag));
    }

    #[test]
    fn a_304_carries_the_headers_of_the_200() {
        let validators = Validators {
            etag: HeaderValue::from_static("\"3\""),
            cache_control: HeaderValue::from_static(PRIVATE),
        };
        let fresh = validators.answer(&tagged(&[]), Bytes::from_static(b"{}"));
        let cached = validators.answer(&tagged(&["\"3\""]), Bytes::from_static(b"{}"));
        assert_eq!(fresh.status(), 200);
        assert_eq!(cached.status(), 304);
        for name in [header::ETAG, header::CACHE_CONTROL, header::VARY] {
            assert_eq!(
                fresh.headers().get(&name),
                cached.headers().get(&name),
                "{name}"
            );
        }
    }

    #[test]
    fn body_tags_are_weak_and_follow_the_bytes() {
        let a = body_tag(b"{\"a\":1}");
        assert!(a.to_str().unwrap().starts_with("W/\""));
        assert_eq!(a, body_tag(b"{\"a\":1}"));
        assert_ne!(a, body_tag(b"{\"a\":2}"));
    }
}
