//! Idempotency keys for creating requests (ADR 0019): the claim before a
//! keyed request runs, and giving the key up when it failed. Completing the
//! claim is the effect's repository's part, in the effect's transaction.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::auth::Principal;
use strata_domain::idempotency::{
    Attempt, Claim, IdempotencyKey, IdempotencyRepository, KeyedRequest, StoredResponse,
};

use crate::ServiceError;

/// What a keyed request does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyed {
    /// Run it, completing this attempt with its effect.
    Run(Attempt),
    /// Answer as the first request under this key was answered.
    Replay(StoredResponse),
}

/// How long keys and their leases last.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencySettings {
    /// How long a completed key replays its answer (`idempotency.ttl_secs`).
    pub ttl: Duration,
    /// How long an attempt holds its key before a retry may take it over
    /// (`idempotency.lease_secs`); longer than any request may run.
    pub lease: Duration,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(60),
        }
    }
}

/// Idempotency-Key use cases.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyService: Send + Sync {
    /// Claims `key` for the caller's request with this `fingerprint`.
    ///
    /// # Errors
    /// [`ServiceError::IdempotencyKeyReused`] when the key was used with
    /// another request; [`ServiceError::IdempotencyInProgress`] while the
    /// first request under it runs; [`ServiceError::Unavailable`].
    async fn claim(
        &self,
        caller: &Principal,
        key: IdempotencyKey,
        fingerprint: String,
    ) -> Result<Keyed, ServiceError>;

    /// Gives the key up after its request failed without an effect.
    ///
    /// # Errors
    /// Storage failures (the key is then free once its lease ends).
    async fn release(&self, attempt: &Attempt) -> Result<(), ServiceError>;
}

pub struct IdempotencyServiceImpl {
    keys: Arc<dyn IdempotencyRepository>,
    settings: IdempotencySettings,
}

impl std::fmt::Debug for IdempotencyServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyServiceImpl")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl IdempotencyServiceImpl {
    pub fn new(keys: Arc<dyn IdempotencyRepository>, settings: IdempotencySettings) -> Self {
        Self { keys, settings }
    }
}

fn after(now: chrono::DateTime<Utc>, span: Duration) -> chrono::DateTime<Utc> {
    now + chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX)
}

#[async_trait]
impl IdempotencyService for IdempotencyServiceImpl {
    async fn claim(
        &self,
        caller: &Principal,
        key: IdempotencyKey,
        fingerprint: String,
    ) -> Result<Keyed, ServiceError> {
        let request = KeyedRequest {
            principal_id: caller.user_id,
            key,
            fingerprint,
        };
        let now = Utc::now();
        let claim = self
            .keys
            .claim(
                &request,
                now,
                after(now, self.settings.lease),
                after(now, self.settings.ttl),
            )
            .await?;
        match claim {
            Claim::Granted(attempt) => Ok(Keyed::Run(attempt)),
            Claim::Replay(response) => Ok(Keyed::Replay(response)),
            Claim::Mismatch => Err(ServiceError::IdempotencyKeyReused),
            Claim::InProgress { locked_until } => {
                let left = (locked_until - now).num_seconds();
                Err(ServiceError::IdempotencyInProgress {
                    retry_after_secs: u64::try_from(left).unwrap_or(0).max(1),
                })
            }
        }
    }

    async fn release(&self, attempt: &Attempt) -> Result<(), ServiceError> {
        Ok(self.keys.release(attempt).await?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration as Span;
    use strata_domain::idempotency::MockIdempotencyRepository;
    use strata_domain::users::Role;
    use uuid::Uuid;

    use super::*;

    fn caller() -> Principal {
        Principal {
            user_id: Uuid::now_v7(),
            role: Role::User,
            session_id: Uuid::now_v7(),
        }
    }

    fn service(keys: MockIdempotencyRepository) -> IdempotencyServiceImpl {
        IdempotencyServiceImpl::new(Arc::new(keys), IdempotencySettings::default())
    }

    fn key() -> IdempotencyKey {
        IdempotencyKey::parse("order-1").unwrap()
    }

    #[tokio::test]
    async fn a_claim_is_scoped_to_the_caller_with_its_lease_and_expiry() {
        let who = caller();
        let user = who.user_id;
        let mut keys = MockIdempotencyRepository::new();
        keys.expect_claim()
            .withf(move |request, now, lease, expires| {
                request.principal_id == user
                    && request.fingerprint == "f"
                    && *lease - *now == Span::seconds(60)
                    && *expires - *now == Span::hours(24)
            })
            .times(1)
            .returning(|request, _, _, _| {
                Ok(Claim::Granted(Attempt {
                    principal_id: request.principal_id,
                    key: request.key.clone(),
                    token: Uuid::nil(),
                }))
            });
        let keyed = service(keys).claim(&who, key(), "f".into()).await.unwrap();
        assert!(matches!(keyed, Keyed::Run(attempt) if attempt.principal_id == user));
    }

    #[tokio::test]
    async fn a_reused_key_is_refused_and_a_busy_one_says_when_to_retry() {
        let mut keys = MockIdempotencyRepository::new();
        keys.expect_claim()
            .times(1)
            .returning(|_, _, _, _| Ok(Claim::Mismatch));
        let err = service(keys).claim(&caller(), key(), "f".into()).await;
        assert!(matches!(err, Err(ServiceError::IdempotencyKeyReused)));

        let mut keys = MockIdempotencyRepository::new();
        keys.expect_claim().times(1).returning(|_, now, _, _| {
            Ok(Claim::InProgress {
                locked_until: now + Span::seconds(30),
            })
        });
        let err = service(keys).claim(&caller(), key(), "f".into()).await;
        assert!(matches!(
            err,
            Err(ServiceError::IdempotencyInProgress {
                retry_after_secs: 29 | 30
            })
        ));
    }

    #[tokio::test]
    async fn a_completed_key_replays_its_answer() {
        let answer = StoredResponse {
            status: 201,
            headers: vec![("location".into(), "/api/v1/items/1".into())],
            body: b"{}".to_vec(),
        };
        let stored = answer.clone();
        let mut keys = MockIdempotencyRepository::new();
        keys.expect_claim()
            .times(1)
            .returning(move |_, _, _, _| Ok(Claim::Replay(stored.clone())));
        let keyed = service(keys)
            .claim(&caller(), key(), "f".into())
            .await
            .unwrap();
        assert_eq!(keyed, Keyed::Replay(answer));
    }
}
