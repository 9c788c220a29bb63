//! Idempotency keys (draft-ietf-httpapi-idempotency-key-header): a create
//! retried under the same key replays its first answer instead of creating
//! twice.
//!
//! A request under a key first *claims* it (its own short write). The claim
//! is then completed **in the transaction of the effect it guards**, with the
//! answer to replay, through a [`Completion`] handed to the repository that
//! writes the effect. So either the effect and its stored answer both commit,
//! or neither does: a crash between them cannot leave an effect that a retry
//! would repeat.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::RepoError;

/// The longest key accepted, as Stripe allows.
pub const MAX_KEY_LEN: usize = 255;

/// A client's idempotency key: 1..=255 visible ASCII characters, without
/// `"` or `\` (the characters an RFC 8941 string would have to escape).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// # Errors
    /// The reason the key is refused, for the client.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("The Idempotency-Key is empty.");
        }
        if raw.len() > MAX_KEY_LEN {
            return Err("The Idempotency-Key is longer than 255 characters.");
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(
                "The Idempotency-Key may hold visible ASCII characters only, without quotes or backslashes.",
            );
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request made under a key: whose it is, the key, and a fingerprint of
/// what was asked (method, path and payload), so that the same key sent
/// with another request is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    pub principal_id: Uuid,
    pub key: IdempotencyKey,
    pub fingerprint: String,
}

/// The right to run a keyed request, held from the claim until the effect
/// commits. `token` tells this attempt from a later one that took over the
/// key after this one's lease ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub principal_id: Uuid,
    pub key: IdempotencyKey,
    pub token: Uuid,
}

/// An answer kept to be replayed: status, the headers that matter, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its earlier attempt was abandoned): run the request.
    Granted(Attempt),
    /// The request already ran under this key: answer as it was answered.
    Replay(StoredResponse),
    /// The key was used with another request.
    Mismatch,
    /// The first request under this key is still running.
    InProgress { locked_until: DateTime<Utc> },
}

/// Completes an [`Attempt`] inside the transaction that writes its effect,
/// storing the answer rendered from what was written.
pub struct Completion<T> {
    attempt: Attempt,
    render: Box<dyn FnOnce(&T) -> StoredResponse + Send>,
}

impl<T> Completion<T> {
    pub fn new(
        attempt: Attempt,
        render: impl FnOnce(&T) -> StoredResponse + Send + 'static,
    ) -> Self {
        Self {
            attempt,
            render: Box::new(render),
        }
    }

    pub fn attempt(&self) -> &Attempt {
        &self.attempt
    }

    /// The same completion for an effect that writes a `U` from which the
    /// `T` this one renders is derived.
    pub fn from_written<U>(self, derive: impl FnOnce(&U) -> T + Send + 'static) -> Completion<U>
    where
        T: 'static,
    {
        let render = self.render;
        Completion {
            attempt: self.attempt,
            render: Box::new(move |written: &U| render(&derive(written))),
        }
    }

    /// The attempt and the answer to store for `written`.
    pub fn finish(self, written: &T) -> (Attempt, StoredResponse) {
        let response = (self.render)(written);
        (self.attempt, response)
    }
}

impl<T> fmt::Debug for Completion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// Where keys, their leases and their stored answers are kept. Completing an
/// attempt is not part of this port: each repository that writes an effect
/// completes the attempt it was handed in the same transaction, and fails
/// with [`RepoError::ClaimLost`] (rolling the effect back) when the attempt
/// no longer holds the key.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// Claims `request.key` for `request.principal_id` until `lease_until`.
    /// A key not seen before, one whose record expired, or one whose earlier
    /// attempt outlived its lease without completing is granted (a record
    /// kept until `expires_at` is written); a completed key with the same
    /// fingerprint is replayed; another fingerprint is a mismatch; a live
    /// attempt is in progress. Two concurrent claims of a new key grant it
    /// to exactly one of them.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the store cannot be reached.
    async fn claim(
        &self,
        request: &KeyedRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Claim, RepoError>;

    /// Gives the key up after the attempt failed without an effect, so that
    /// a retry may run at once. Does nothing when the attempt completed or
    /// another attempt holds the key.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the store cannot be reached.
    async fn release(&self, attempt: &Attempt) -> Result<(), RepoError>;

    /// Deletes records that expired before `now`; returns how many.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the store cannot be reached.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii_without_quotes() {
        assert!(IdempotencyKey::parse("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("quo\"te").is_err());
        assert!(IdempotencyKey::parse("back\\slash").is_err());
        assert!(IdempotencyKey::parse("é").is_err());
    }

    #[test]
    fn a_completion_renders_the_answer_from_what_was_written() {
        let attempt = Attempt {
            principal_id: Uuid::nil(),
            key: IdempotencyKey::parse("k").unwrap(),
            token: Uuid::nil(),
        };
        let completion = Completion::new(attempt.clone(), |n: &u32| StoredResponse {
            status: 201,
            headers: vec![],
            body: n.to_string().into_bytes(),
        });
        let (done, response) = completion.finish(&42);
        assert_eq!(done, attempt);
        assert_eq!(response.body, b"42");
    }
}
