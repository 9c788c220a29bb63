//! Readiness probing of the storage behind the ports.

use async_trait::async_trait;

use crate::RepoError;

/// A cheap round trip to the database, used by the readiness endpoint.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthRepository: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when no connection can be had, or
    /// [`RepoError::Unexpected`] when the query fails.
    async fn ping(&self) -> Result<(), RepoError>;
}
