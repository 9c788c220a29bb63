use strata_domain::RepoError;
use strata_domain::health::HealthRepository;
use strata_repository::SeaHealthRepository;

use crate::common::test_databases;

#[tokio::test]
async fn ping_succeeds_on_a_live_database() {
    for db in test_databases().await {
        let health = SeaHealthRepository::new(db.conn.clone());
        health
            .ping()
            .await
            .unwrap_or_else(|err| panic!("{}: {err:?}", db.backend));
    }
}

#[tokio::test]
async fn ping_on_a_closed_pool_is_unavailable() {
    for db in test_databases().await {
        let health = SeaHealthRepository::new(db.conn.clone());
        db.conn.close_by_ref().await.unwrap();
        let err = health.ping().await.unwrap_err();
        assert!(
            matches!(err, RepoError::Unavailable(_)),
            "{}: {err:?}",
            db.backend
        );
    }
}
