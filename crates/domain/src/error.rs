//! The error every repository port returns.

use std::error::Error as StdError;

/// Which uniqueness rule a write broke. Adapters translate their storage's
/// constraint names into this, so callers never parse driver messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Email,
    Username,
    /// A catalog slug (categories and products each have their own).
    Slug,
    /// A constraint that is not part of any user-facing rule.
    Other,
}

/// Failure of a repository call, shaped by what callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The addressed row does not exist (or no longer exists).
    #[error("record not found")]
    NotFound,
    /// A compare-and-set update found another version than expected.
    #[error("the record changed since it was read")]
    VersionMismatch,
    /// The row is still referred to (a category with products, a product
    /// that was ordered), so it cannot be deleted.
    #[error("the record is still in use")]
    InUse,
    /// A uniqueness constraint rejected the write.
    #[error("unique constraint violated on {0:?}")]
    Conflict(UniqueField),
    /// The idempotency key this write was to complete is no longer held by
    /// its attempt (its lease ran out and a retry took it over); the write
    /// was rolled back.
    #[error("the idempotency key was taken over by another attempt")]
    ClaimLost,
    /// The store could not be reached (pool exhausted, connection refused).
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// Anything else: a bug or an unexpected storage failure.
    #[error("unexpected storage error: {context}")]
    Unexpected {
        context: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl RepoError {
    /// Wraps an adapter failure with a short "Failed to ..." context.
    pub fn unexpected(
        context: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Unexpected {
            context,
            source: source.into(),
        }
    }
}
