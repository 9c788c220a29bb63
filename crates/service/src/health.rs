//! Readiness: whether this instance can serve requests that need storage.

use std::sync::Arc;

use async_trait::async_trait;
use strata_domain::health::HealthRepository;

/// The result of each dependency check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub database: bool,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database
    }
}

/// Dependency checks for the readiness probe.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthService: Send + Sync {
    /// Checks each dependency; failures are logged, never returned, because a
    /// probe wants a verdict rather than an error.
    async fn readiness(&self) -> Readiness;
}

pub struct HealthServiceImpl {
    database: Arc<dyn HealthRepository>,
}

impl std::fmt::Debug for HealthServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthServiceImpl").finish_non_exhaustive()
    }
}

impl HealthServiceImpl {
    pub fn new(database: Arc<dyn HealthRepository>) -> Self {
        Self { database }
    }
}

#[async_trait]
impl HealthService for HealthServiceImpl {
    async fn readiness(&self) -> Readiness {
        let database = match self.database.ping().await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %err, "readiness: database check failed");
                false
            }
        };
        Readiness { database }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_domain::RepoError;
    use strata_domain::health::MockHealthRepository;

    #[tokio::test]
    async fn a_failing_database_makes_the_instance_unready() {
        let mut db = MockHealthRepository::new();
        db.expect_ping()
            .returning(|| Err(RepoError::Unavailable("refused".into())));
        let readiness = HealthServiceImpl::new(Arc::new(db)).readiness().await;
        assert!(!readiness.is_ready());
    }

    #[tokio::test]
    async fn an_answering_database_makes_the_instance_ready() {
        let mut db = MockHealthRepository::new();
        db.expect_ping().returning(|| Ok(()));
        assert!(
            HealthServiceImpl::new(Arc::new(db))
                .readiness()
                .await
                .is_ready()
        );
    }
}
