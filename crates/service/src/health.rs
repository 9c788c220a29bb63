//! Readiness: whether this instance can serve requests that need storage.

use std::sync::Arc;

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::events::EventBus;
use strata_domain::health::HealthRepository;
use strata_domain::jobs::JobRepository;

/// How the job queue is keeping up. Reported, never fatal: a backlog means
/// workers are too few or stopped, not that this instance cannot serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueHealth {
    Ok,
    /// A due job has waited longer than the configured age (in seconds).
    Backlog {
        oldest_secs: u64,
    },
    /// The queue could not be read.
    Unknown,
}

/// How long each check may take. A probe must answer before its caller
/// gives up (Kubernetes waits 1 s by default): a database that cannot be
/// reached would otherwise hold the answer for the pool's whole acquire
/// timeout, and the caller would see no verdict at all.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The result of each dependency check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub database: bool,
    /// `None` when this instance does not watch a queue.
    pub jobs: Option<QueueHealth>,
    /// Whether the event bus's transport listens (`None`: not watched, or a
    /// bus without a transport).
    /// Reported, never fatal: without it revocations from other instances
    /// arrive by the poll, and sockets catch up once it is back.
    pub events: Option<bool>,
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
    /// The queue and the age past which a waiting job counts as a backlog.
    queue: Option<(Arc<dyn JobRepository>, Duration)>,
    bus: Option<Arc<dyn EventBus>>,
}

impl std::fmt::Debug for HealthServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthServiceImpl").finish_non_exhaustive()
    }
}

impl HealthServiceImpl {
    pub fn new(database: Arc<dyn HealthRepository>) -> Self {
        Self {
            database,
            queue: None,
            bus: None,
        }
    }

    /// Also reports whether the event bus's transport listens.
    #[must_use]
    pub fn with_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Also reports the job queue: a due job older than `backlog_after` is
    /// a backlog.
    #[must_use]
    pub fn with_queue(mut self, jobs: Arc<dyn JobRepository>, backlog_after: Duration) -> Self {
        self.queue = Some((jobs, backlog_after));
        self
    }

    async fn queue(&self) -> Option<QueueHealth> {
        let (jobs, backlog_after) = self.queue.as_ref()?;
        let now = Utc::now();
        Some(match jobs.oldest_due(now).await {
            Ok(None) => QueueHealth::Ok,
            Ok(Some(oldest)) => {
                let waited = (now - oldest).to_std().unwrap_or_default();
                if waited > *backlog_after {
                    QueueHealth::Backlog {
                        oldest_secs: waited.as_secs(),
                    }
                } else {
                    QueueHealth::Ok
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "readiness: reading the job queue failed");
                QueueHealth::Unknown
            }
        })
    }
}

#[async_trait]
impl HealthService for HealthServiceImpl {
    async fn readiness(&self) -> Readiness {
        let (ping, queue) = tokio::join!(
            tokio::time::timeout(CHECK_TIMEOUT, self.database.ping()),
            tokio::time::timeout(CHECK_TIMEOUT, self.queue()),
        );
        let database = match ping {
            Ok(Ok(())) => true,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "readiness: database check failed");
                false
            }
            Err(_) => {
                tracing::warn!(after = ?CHECK_TIMEOUT, "readiness: database check timed out");
                false
            }
        };
        Readiness {
            database,
            jobs: queue.unwrap_or_else(|_| self.queue.as_ref().map(|_| QueueHealth::Unknown)),
            events: self.bus.as_ref().and_then(|bus| bus.connected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_domain::RepoError;
    use strata_domain::health::MockHealthRepository;

    /// A database that never answers, as when its server is gone and the
    /// pool keeps trying to connect.
    struct Hanging;

    #[async_trait]
    impl HealthRepository for Hanging {
        async fn ping(&self) -> Result<(), RepoError> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_database_that_does_not_answer_fails_readiness_within_the_check_timeout() {
        let service = HealthServiceImpl::new(Arc::new(Hanging));
        let started = tokio::time::Instant::now();
        let readiness = service.readiness().await;
        assert!(!readiness.is_ready());
        assert_eq!(started.elapsed(), CHECK_TIMEOUT);
    }

    #[tokio::test]
    async fn a_lost_bus_is_reported_without_failing_readiness() {
        use strata_domain::events::MockEventBus;

        let mut db = MockHealthRepository::new();
        db.expect_ping().returning(|| Ok(()));
        let mut bus = MockEventBus::new();
        bus.expect_connected().returning(|| Some(false));
        let readiness = HealthServiceImpl::new(Arc::new(db))
            .with_bus(Arc::new(bus))
            .readiness()
            .await;
        assert_eq!(readiness.events, Some(false));
        assert!(readiness.is_ready());
    }

    #[tokio::test]
    async fn a_failing_database_makes_the_instance_unready() {
        let mut db = MockHealthRepository::new();
        db.expect_ping()
            .returning(|| Err(RepoError::Unavailable("refused".into())));
        let readiness = HealthServiceImpl::new(Arc::new(db)).readiness().await;
        assert!(!readiness.is_ready());
    }

    #[tokio::test]
    async fn an_old_due_job_is_reported_as_a_backlog_without_failing_readiness() {
        use strata_domain::jobs::MockJobRepository;

        let mut db = MockHealthRepository::new();
        db.expect_ping().returning(|| Ok(()));
        let mut jobs = MockJobRepository::new();
        jobs.expect_oldest_due()
            .returning(|now| Ok(Some(now - chrono::Duration::seconds(600))));
        let readiness = HealthServiceImpl::new(Arc::new(db))
            .with_queue(Arc::new(jobs), Duration::from_secs(300))
            .readiness()
            .await;
        assert!(readiness.is_ready());
        assert!(matches!(
            readiness.jobs,
            Some(QueueHealth::Backlog { oldest_secs }) if oldest_secs >= 600
        ));
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
