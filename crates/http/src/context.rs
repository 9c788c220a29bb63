//! What is known about the request in flight, outside the handler: its id
//! (the `X-Request-Id` every response carries, and the task-local that lets
//! error rendering and logs name the request they belong to) and the user it
//! authenticated as (for the access log). A leaf: it imports nothing of this
//! crate, so errors, extractors and the edge can all use it.

use std::cell::RefCell;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::BytesMut;
use uuid::Uuid;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    pub(crate) static REQUEST_ID: RequestId;
}

/// Ids a worker carves out of one buffer before it takes another.
const IDS_PER_CHUNK: usize = 64;

thread_local! {
    /// The text of generated ids is written into a shared chunk per worker,
    /// so each header costs a reference count instead of an allocation. A
    /// chunk is freed when the last response holding one of its ids is gone.
    static ID_TEXT: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

fn generated_header(id: &Uuid) -> HeaderValue {
    let mut text = Uuid::encode_buffer();
    let text = id.hyphenated().encode_lower(&mut text).as_bytes();
    let shared = ID_TEXT.with_borrow_mut(|chunk| {
        if chunk.capacity() < text.len() {
            *chunk = BytesMut::with_capacity(text.len() * IDS_PER_CHUNK);
        }
        chunk.extend_from_slice(text);
        chunk.split().freeze()
    });
    // Hex digits and hyphens are always a valid header value.
    HeaderValue::from_maybe_shared(shared).unwrap_or(HeaderValue::from_static("-"))
}

/// A request's id: a fresh UUID, or the sane one the client sent. Kept as
/// the UUID's 16 bytes or the client's header bytes rather than a `String`,
/// so the common case costs no allocation until something prints it.
#[derive(Debug, Clone)]
pub(crate) enum RequestId {
    Generated(Uuid),
    Incoming(HeaderValue),
}

impl RequestId {
    /// Keeps a client's id when it is a sane token, so ids can be correlated
    /// across services without letting anyone inject text into logs.
    pub(crate) fn of(req: &ServiceRequest) -> Self {
        match req.headers().get(&REQUEST_ID_HEADER) {
            Some(value) if is_sane_request_id(value.as_bytes()) => Self::Incoming(value.clone()),
            // Random (v4): a request id only has to be unique, and unlike v7
            // it needs neither a clock read nor v7's process-wide lock.
            _ => Self::Generated(Uuid::new_v4()),
        }
    }

    pub(crate) fn header_value(&self) -> HeaderValue {
        match self {
            Self::Generated(id) => generated_header(id),
            Self::Incoming(value) => value.clone(),
        }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Generated(id) => id.hyphenated().fmt(f),
            // Only sane (ASCII token) values are ever kept.
            Self::Incoming(value) => f.write_str(value.to_str().unwrap_or("-")),
        }
    }
}

fn is_sane_request_id(value: &[u8]) -> bool {
    (1..=128).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The id of the request being served on this task, or `""` outside one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(ToString::to_string).unwrap_or_default()
}

/// Marker put in request extensions by the auth extractor, for the access log.
#[derive(Debug, Clone, Copy)]
pub struct AuthenticatedUser(pub Uuid);
