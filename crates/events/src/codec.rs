//! The wire format of an event on Redis and PostgreSQL: a versioned JSON
//! object, kept apart from the domain types so they derive no `Serialize`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strata_domain::auth::Revocation;
use strata_domain::events::{Envelope, Event, EventError, EventPayload, Topic};
use strata_domain::realtime::{UserEvent, UserEventKind};
use uuid::Uuid;

/// The largest encoded event: PostgreSQL refuses a `NOTIFY` payload of
/// 8000 bytes or more, and one limit for every transport keeps the
/// adapters interchangeable.
pub const MAX_ENCODED_BYTES: usize = 7900;

/// Bumped on an incompatible change; a decoder refuses other versions.
const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u8,
    publisher: Uuid,
    topic: String,
    seq: u64,
    payload: WirePayload,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WirePayload {
    SessionsRevoked {
        revocations: Vec<WireRevocation>,
    },
    UserChanged {
        user_id: Uuid,
    },
    User {
        user_id: Uuid,
        seq: u64,
        #[serde(rename = "type")]
        kind: String,
        data: serde_json::Value,
    },
}

#[derive(Serialize, Deserialize)]
struct WireRevocation {
    session_id: Uuid,
    revoked_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed event: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("unsupported event version {0}")]
    Version(u8),
    #[error("invalid topic")]
    Topic,
    #[error("unknown user event type")]
    Kind,
}

/// # Errors
/// [`EventError::TooLarge`] beyond [`MAX_ENCODED_BYTES`].
pub fn encode(envelope: &Envelope) -> Result<String, EventError> {
    let payload = match &envelope.event.payload {
        EventPayload::SessionsRevoked(revocations) => WirePayload::SessionsRevoked {
            revocations: revocations
                .iter()
                .map(|r| WireRevocation {
                    session_id: r.session_id,
                    revoked_at: r.revoked_at,
                    expires_at: r.expires_at,
                })
                .collect(),
        },
        EventPayload::UserChanged { user_id } => WirePayload::UserChanged { user_id: *user_id },
        EventPayload::User(event) => WirePayload::User {
            user_id: event.user_id,
            seq: event.seq,
            kind: event.kind.as_str().to_owned(),
            data: event.data.clone(),
        },
    };
    let wire = Wire {
        v: VERSION,
        publisher: envelope.publisher,
        topic: envelope.event.topic.as_str().to_owned(),
        seq: envelope.seq,
        payload,
    };
    // Serializing these plain structs cannot fail; an empty string would
    // only be refused by the decoders.
    let encoded = serde_json::to_string(&wire).unwrap_or_default();
    if encoded.len() > MAX_ENCODED_BYTES {
        return Err(EventError::TooLarge {
            bytes: encoded.len(),
        });
    }
    Ok(encoded)
}

/// # Errors
/// [`DecodeError`] for anything that is not a version-1 event.
pub fn decode(raw: &[u8]) -> Result<Envelope, DecodeError> {
    let wire: Wire = serde_json::from_slice(raw)?;
    if wire.v != VERSION {
        return Err(DecodeError::Version(wire.v));
    }
    let topic = Topic::parse(&wire.topic).ok_or(DecodeError::Topic)?;
    let payload = match wire.payload {
        WirePayload::SessionsRevoked { revocations } => EventPayload::SessionsRevoked(
            revocations
                .into_iter()
                .map(|r| Revocation {
                    session_id: r.session_id,
                    revoked_at: r.revoked_at,
                    expires_at: r.expires_at,
                })
                .collect(),
        ),
        WirePayload::UserChanged { user_id } => EventPayload::UserChanged { user_id },
        WirePayload::User {
            user_id,
            seq,
            kind,
            data,
        } => EventPayload::User(UserEvent {
            user_id,
            seq,
            kind: UserEventKind::parse(&kind).ok_or(DecodeError::Kind)?,
            data,
        }),
    };
    Ok(Envelope {
        publisher: wire.publisher,
        seq: wire.seq,
        event: Event { topic, payload },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_envelope_survives_the_round_trip() {
        let now = Utc::now();
        let envelope = Envelope {
            publisher: Uuid::now_v7(),
            seq: 7,
            event: Event {
                topic: Topic::sessions(),
                payload: EventPayload::SessionsRevoked(vec![Revocation {
                    session_id: Uuid::now_v7(),
                    revoked_at: now,
                    expires_at: now,
                }]),
            },
        };
        let encoded = encode(&envelope).unwrap();
        assert_eq!(decode(encoded.as_bytes()).unwrap(), envelope);
    }

    #[test]
    fn a_user_event_survives_the_round_trip() {
        let user_id = Uuid::now_v7();
        let envelope = Envelope {
            publisher: Uuid::now_v7(),
            seq: 1,
            event: Event {
                topic: Topic::user(user_id),
                payload: EventPayload::User(UserEvent {
                    user_id,
                    seq: 42,
                    kind: UserEventKind::JobProgress,
                    data: serde_json::json!({"progress": {"percent": 40}}),
                }),
            },
        };
        let encoded = encode(&envelope).unwrap();
        assert_eq!(decode(encoded.as_bytes()).unwrap(), envelope);
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        assert!(decode(b"not json").is_err());
        let raw = br#"{"v":2,"publisher":"00000000-0000-0000-0000-000000000000","topic":"users","seq":1,"payload":{"kind":"user_changed","user_id":"00000000-0000-0000-0000-000000000000"}}"#;
        assert!(matches!(decode(raw), Err(DecodeError::Version(2))));
    }
}
