//! The one error type every use case returns. The HTTP layer maps each variant
//! to a status exhaustively, so a new variant forces a decision there.

use std::error::Error as StdError;

use strata_domain::auth::Principal;
use strata_domain::{RepoError, UniqueField, ValidationErrors};

/// Why a token was refused. Clients all see the same 401; the reason is kept
/// for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Bad signature, algorithm, issuer, audience, shape or claims.
    Invalid,
    Expired,
    /// The session was logged out or otherwise revoked.
    Revoked,
    /// A refresh token that was already used: its session is now revoked.
    Reused,
    /// The account behind the token is gone or deactivated.
    AccountDisabled,
}

/// Why an OpenID Connect sign-in was refused after its state checked out.
/// Clients all see the same 401; the reason is kept for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcRejection {
    /// The provider redirected back with an error (the user declined).
    Denied,
    /// The token endpoint refused the code (used, expired, wrong verifier).
    CodeRefused,
    /// The ID token's algorithm is not allowed (`none`, HS*), or its
    /// header is unreadable.
    Algorithm,
    /// No published key matches the token, even after refetching.
    UnknownKey,
    /// Bad signature, issuer, audience, `azp` or shape.
    Invalid,
    Expired,
    /// The `nonce` is not the one this login sent.
    Nonce,
    /// The provider gave no usable e-mail address for a new account.
    NoEmail,
    /// The account behind the identity is deactivated.
    AccountDisabled,
}

impl OidcRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::CodeRefused => "code_refused",
            Self::Algorithm => "algorithm",
            Self::UnknownKey => "unknown_key",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::Nonce => "nonce",
            Self::NoEmail => "no_email",
            Self::AccountDisabled => "account_disabled",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    #[error("{0:?} is already taken")]
    Taken(UniqueField),
    /// Unknown login or wrong password: deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("token rejected: {0:?}")]
    Unauthenticated(TokenRejection),
    /// The caller is authenticated but may not do this.
    #[error("forbidden")]
    Forbidden,
    /// `auth.require_verified_email` is on and the caller's address is not
    /// verified.
    #[error("e-mail address not verified")]
    EmailNotVerified,
    /// An account token (verification, reset) that is unknown, used,
    /// superseded or expired; which one is deliberately not said.
    #[error("invalid or expired token")]
    InvalidToken,
    /// A WebSocket ticket that is unknown, already used or expired, or
    /// whose session was revoked since.
    #[error("invalid socket ticket")]
    InvalidTicket,
    /// The user holds as many sockets as `realtime.max_sockets_per_user`.
    #[error("too many sockets")]
    TooManySockets,
    #[error("not found")]
    NotFound,
    /// An OpenID Connect callback whose `state` is unknown, used, expired,
    /// for another provider, or not bound to this browser (cookie missing
    /// or different); which one is deliberately not said.
    #[error("invalid or expired sign-in state")]
    OidcState,
    /// The provider's answer did not prove an identity.
    #[error("OpenID Connect sign-in refused: {0:?}")]
    OidcRejected(OidcRejection),
    /// The provider's identity is unknown but its address belongs to an
    /// account that may not be linked automatically: the owner must sign
    /// in and link the identity explicitly.
    #[error("an account has this address; sign in and link the identity")]
    OidcLinkRequired,
    /// The identity is linked to another account already.
    #[error("the identity is linked to another account")]
    IdentityTaken,
    /// Unlinking would leave the account no way to sign in.
    #[error("the account's last way to sign in")]
    LastSignInMethod,
    /// The identity provider is unreachable or misbehaving.
    #[error("the identity provider is unavailable")]
    ProviderUnavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The request contradicts a business rule (e.g. an admin demoting themself).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A write that must name the version it replaces came without
    /// `If-Match` (admin catalog writes).
    #[error("precondition required")]
    PreconditionRequired,
    /// Fewer units in stock than an order asks for; nothing was reserved.
    #[error("not enough stock of product {product_id}")]
    OutOfStock { product_id: uuid::Uuid },
    /// An order status change the status machine forbids (or a status that
    /// moved on meanwhile).
    #[error("an order cannot go from {from} to {to}")]
    InvalidTransition {
        from: &'static str,
        to: &'static str,
    },
    /// The idempotency key was used before with another request.
    #[error("idempotency key reused with another request")]
    IdempotencyKeyReused,
    /// The first request under this idempotency key has not finished; retry
    /// after this many seconds.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyInProgress { retry_after_secs: u64 },
    /// An `If-Match` precondition no longer holds.
    #[error("precondition failed")]
    PreconditionFailed,
    /// Too much work is queued (e.g. password hashing during a login flood).
    #[error("overloaded")]
    Overloaded,
    #[error("a dependency is unavailable")]
    Unavailable(#[source] RepoError),
    #[error("{context}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl ServiceError {
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context,
            source: source.into(),
        }
    }
}

impl From<RepoError> for ServiceError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::NotFound => Self::NotFound,
            RepoError::Conflict(field) => Self::Taken(field),
            RepoError::VersionMismatch => Self::PreconditionFailed,
            RepoError::InUse => Self::Conflict("The resource is still in use."),
            // A retry took the key over while this attempt ran: it answers.
            RepoError::ClaimLost => Self::IdempotencyInProgress {
                retry_after_secs: 1,
            },
            err @ RepoError::Unavailable(_) => Self::Unavailable(err),
            err @ RepoError::Unexpected { .. } => Self::internal("Storage call failed", err),
        }
    }
}

/// Formats an error with every `source()` below it, one per line, so a 500 in
/// the log says what actually failed.
#[derive(Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Admin-only use cases start with this.
///
/// # Errors
/// [`ServiceError::Forbidden`] for a non-admin caller.
pub fn require_admin(caller: &Principal) -> Result<(), ServiceError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}
