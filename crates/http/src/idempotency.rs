//! `Idempotency-Key` on the creating POSTs (ADR 0019,
//! draft-ietf-httpapi-idempotency-key-header): a retry under the same key
//! replays the first answer with `Idempotent-Replayed: true` and creates
//! nothing; the same key with another request is 422; a retry while the
//! first runs is 409 with `Retry-After`.

use std::future::Future;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use strata_domain::auth::Principal;
use strata_domain::idempotency::{Attempt, Completion, IdempotencyKey, StoredResponse};
use strata_service::{IdempotencyService, Keyed};
use utoipa::IntoParams;

use crate::error::ApiError;

const IDEMPOTENCY_KEY: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";
/// The headers of a first answer that a replay repeats.
const KEPT_HEADERS: [HeaderName; 3] = [header::LOCATION, header::ETAG, header::CONTENT_TYPE];

/// The header as documented on each keyed operation.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyParam {
    /// Makes the request safe to retry: a retry under the same key (kept
    /// `idempotency.ttl_secs`, 24 h by default) replays the first answer with
    /// `Idempotent-Replayed: true` and creates nothing. 1..=255 visible ASCII
    /// characters without `"` or `\`, optionally as a quoted string. The
    /// same key with another request is 422 `IDEMPOTENCY_KEY_REUSED`; a retry
    /// while the first runs is 409 `IDEMPOTENCY_IN_PROGRESS`.
    #[param(rename = "Idempotency-Key", pattern = "^[!#-\\[\\]-~]{1,255}$")]
    pub key: Option<String>,
}

/// The request's `Idempotency-Key`, if it sent one.
#[derive(Debug, Clone)]
pub struct KeyHeader(pub Option<IdempotencyKey>);

/// A key with the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct KeyedRequest(Option<(IdempotencyKey, String)>);

impl KeyHeader {
    /// Pairs the key with `fingerprint()`, computed only when there is one.
    pub(crate) fn with(self, fingerprint: impl FnOnce() -> String) -> KeyedRequest {
        KeyedRequest(self.0.map(|key| (key, fingerprint())))
    }
}

impl FromRequest for KeyHeader {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse(req).map(KeyHeader))
    }
}

fn parse(req: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = req.headers().get_all(IDEMPOTENCY_KEY);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let refuse = |why: &str| ApiError::InvalidIdempotencyKey(why.to_owned());
    if values.next().is_some() {
        return Err(refuse("Send one Idempotency-Key header."));
    }
    let raw = value
        .to_str()
        .map_err(|_| refuse("The Idempotency-Key may hold visible ASCII characters only."))?;
    // The draft sends an RFC 8941 string ("…"); Stripe-style clients send it
    // bare. Both name the same key.
    let raw = raw
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(raw);
    IdempotencyKey::parse(raw).map(Some).map_err(refuse)
}

/// SHA-256 of the method, the path and the payload: what "the same request"
/// means for a key.
pub(crate) fn fingerprint(req: &HttpRequest, payload: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str().as_bytes());
    hash.update(b"\n");
    hash.update(req.path().as_bytes());
    hash.update(b"\n");
    hash.update(payload);
    strata_service::tokens::hex(&hash.finalize())
}

/// [`fingerprint`] of a JSON request, from its parsed body: key order and
/// white space do not make another request.
pub(crate) fn fingerprint_json(req: &HttpRequest, body: &impl serde::Serialize) -> String {
    fingerprint(req, &serde_json::to_vec(body).unwrap_or_default())
}

/// Runs a creating request under its key, if it has one.
///
/// `run` gets the completion to hand to the service, which completes the
/// key in the transaction of the effect; `render` answers for what was
/// created, the first time and (through the stored answer) on replays.
pub(crate) async fn once<T, Fut>(
    keys: &Arc<dyn IdempotencyService>,
    caller: &Principal,
    keyed: KeyedRequest,
    render: fn(&T) -> HttpResponse,
    run: impl FnOnce(Option<Completion<T>>) -> Fut,
) -> Result<HttpResponse, ApiError>
where
    T: 'static,
    Fut: Future<Output = Result<T, strata_service::ServiceError>>,
{
    let Some((key, fingerprint)) = keyed.0 else {
        return Ok(render(&run(None).await?));
    };
    let attempt = match keys.claim(caller, key, fingerprint).await? {
        Keyed::Replay(stored) => return Ok(replay(stored)),
        Keyed::Run(attempt) => attempt,
    };
    let release = Release {
        keys: Arc::clone(keys),
        attempt: Some(attempt.clone()),
    };
    let completion = Completion::new(attempt, move |created: &T| stored(render(created)));
    let created = run(Some(completion)).await;
    match created {
        Ok(created) => {
            release.disarm();
            Ok(render(&created))
        }
        // Nothing was created: the key is given up before the answer, so
        // the client's immediate retry runs again.
        Err(err) => {
            release.now().await;
            Err(err.into())
        }
    }
}

/// Gives the key up unless disarmed: when the request failed, and when its
/// client went away mid-request (actix then drops the handler's future), so
/// a retry need not wait for the lease to run out. After a completed effect
/// the release matches nothing, so a late one is harmless.
struct Release {
    keys: Arc<dyn IdempotencyService>,
    attempt: Option<Attempt>,
}

impl Release {
    fn disarm(mut self) {
        self.attempt = None;
    }

    async fn now(mut self) {
        if let Some(attempt) = self.attempt.take() {
            release(&*self.keys, &attempt).await;
        }
    }
}

async fn release(keys: &dyn IdempotencyService, attempt: &Attempt) {
    if let Err(err) = keys.release(attempt).await {
        tracing::warn!(error = %err, "could not release an idempotency key; it frees itself when its lease ends");
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let Some(attempt) = self.attempt.take() else {
            return;
        };
        let keys = Arc::clone(&self.keys);
        tokio::spawn(async move { release(&*keys, &attempt).await });
    }
}

/// What a replay needs of a first answer.
fn stored(response: HttpResponse) -> StoredResponse {
    let status = response.status().as_u16();
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    // Answers built with `.json()` hold their bytes already.
    let body = response
        .into_body()
        .try_into_bytes()
        .map(|bytes| bytes.to_vec())
        .unwrap_or_default();
    StoredResponse {
        status,
        headers,
        body,
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((REPLAYED, "true"));
    response.body(stored.body)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn key_of(value: &str) -> Result<Option<IdempotencyKey>, ApiError> {
        parse(
            &TestRequest::default()
                .insert_header((IDEMPOTENCY_KEY, value))
                .to_http_request(),
        )
    }

    #[test]
    fn a_key_may_be_quoted_or_bare_and_is_bounded() {
        assert_eq!(key_of("\"abc\"").unwrap().unwrap().as_str(), "abc");
        assert_eq!(key_of("abc").unwrap().unwrap().as_str(), "abc");
        assert!(key_of("\"\"").is_err());
        assert!(key_of(&"k".repeat(256)).is_err());
        assert!(key_of("a b").is_err());
        assert!(
            parse(&TestRequest::default().to_http_request())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn fingerprints_differ_by_path_and_payload() {
        let a = TestRequest::post().uri("/api/v1/items").to_http_request();
        let b = TestRequest::post().uri("/api/v1/posts").to_http_request();
        assert_eq!(fingerprint(&a, b"{}"), fingerprint(&a, b"{}"));
        assert_ne!(fingerprint(&a, b"{}"), fingerprint(&b, b"{}"));
        assert_ne!(fingerprint(&a, b"{}"), fingerprint(&a, b"{\"x\":1}"));
    }

    #[test]
    fn a_replay_repeats_status_kept_headers_and_body() {
        let first = HttpResponse::Created()
            .insert_header((header::LOCATION, "/api/v1/items/1"))
            .insert_header(("x-request-id", "not kept"))
            .json(serde_json::json!({"id": 1}));
        let kept = stored(first);
        assert_eq!(kept.status, 201);
        assert_eq!(kept.body, br#"{"id":1}"#);
        assert!(kept.headers.iter().all(|(name, _)| name != "x-request-id"));
        let again = replay(kept);
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(
            again.headers().get(header::LOCATION).unwrap(),
            "/api/v1/items/1"
        );
        assert_eq!(again.headers().get(REPLAYED).unwrap(), "true");
        assert_eq!(
            again.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
    }
}
