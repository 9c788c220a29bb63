//! Readiness probe.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use strata_domain::RepoError;
use strata_domain::health::HealthRepository;

/// Answers readiness by a real round trip through the pool, so an exhausted
/// pool or a lost server shows up as "not ready".
#[derive(Debug, Clone)]
pub struct SeaHealthRepository {
    db: DatabaseConnection,
}

impl SeaHealthRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl HealthRepository for SeaHealthRepository {
    /// Any failure counts as unavailable: for readiness, a database that
    /// cannot answer `SELECT 1` is not ready, whatever the reason.
    async fn ping(&self) -> Result<(), RepoError> {
        let backend = self.db.get_database_backend();
        self.db
            .query_one_raw(Statement::from_string(backend, "SELECT 1"))
            .await
            .map(|_| ())
            .map_err(|err| RepoError::Unavailable(Box::new(err)))
    }
}
