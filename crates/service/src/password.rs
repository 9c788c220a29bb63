//! Password hashing with bcrypt, run on the blocking pool: a cost-12 hash
//! takes ~250 ms of CPU, which on the async executor would stall every other
//! request on that worker.

use std::sync::Arc;

use strata_domain::users::{Password, PasswordHash};
use tokio::sync::OnceCell;

use crate::ServiceError;

/// Hashes and verifies passwords at a fixed bcrypt cost.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: u32,
    /// A real hash of a random password, verified against when a login names
    /// no account, so that case costs the same time as a wrong password.
    dummy: Arc<OnceCell<PasswordHash>>,
}

impl PasswordHasher {
    /// `cost` is clamped to bcrypt's valid range (4..=31).
    pub fn new(cost: u32) -> Self {
        Self {
            cost: cost.clamp(4, 31),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// # Errors
    /// [`ServiceError::Internal`] when the blocking pool or bcrypt fails.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, ServiceError> {
        let clear = password.expose().to_owned();
        let cost = self.cost;
        let encoded = tokio::task::spawn_blocking(move || bcrypt::hash(clear, cost))
            .await
            .map_err(|e| ServiceError::internal("Password hashing task failed", e))?
            .map_err(|e| ServiceError::internal("Failed to hash password", e))?;
        Ok(PasswordHash::new(encoded))
    }

    /// `true` when `clear` matches `hash`. A malformed stored hash counts as a
    /// mismatch (and is logged), never as a server error the client could
    /// tell apart.
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when the blocking pool fails.
    pub async fn verify(&self, clear: &str, hash: &PasswordHash) -> Result<bool, ServiceError> {
        let clear = clear.to_owned();
        let encoded = hash.as_str().to_owned();
        let outcome = tokio::task::spawn_blocking(move || bcrypt::verify(clear, &encoded))
            .await
            .map_err(|e| ServiceError::internal("Password verification task failed", e))?;
        Ok(outcome.unwrap_or_else(|err| {
            tracing::error!(error = %err, "stored password hash is malformed");
            false
        }))
    }

    /// Spends the same work as [`verify`](Self::verify) on a hash no password
    /// matches, to keep "no such user" as slow as "wrong password".
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when the blocking pool or bcrypt fails.
    pub async fn verify_dummy(&self, clear: &str) -> Result<(), ServiceError> {
        let dummy = self
            .dummy
            .get_or_try_init(|| async {
                let random: [u8; 16] = rand::random();
                let cost = self.cost;
                let encoded = tokio::task::spawn_blocking(move || bcrypt::hash(random, cost))
                    .await
                    .map_err(|e| ServiceError::internal("Password hashing task failed", e))?
                    .map_err(|e| ServiceError::internal("Failed to hash password", e))?;
                Ok::<_, ServiceError>(PasswordHash::new(encoded))
            })
            .await?;
        self.verify(clear, dummy).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = PasswordHasher::new(4);
        let password = Password::parse("Secret123").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$2"));
        assert!(hasher.verify("Secret123", &hash).await.unwrap());
        assert!(!hasher.verify("Secret124", &hash).await.unwrap());
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_a_mismatch_not_an_error() {
        let hasher = PasswordHasher::new(4);
        let broken = PasswordHash::new("not-a-hash".into());
        assert!(!hasher.verify("Secret123", &broken).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_verification_succeeds_without_a_user() {
        let hasher = PasswordHasher::new(4);
        hasher.verify_dummy("whatever").await.unwrap();
        hasher.verify_dummy("again").await.unwrap();
    }

    #[test]
    fn cost_is_clamped_to_bcrypts_range() {
        assert_eq!(PasswordHasher::new(1).cost(), 4);
        assert_eq!(PasswordHasher::new(40).cost(), 31);
        assert_eq!(PasswordHasher::new(12).cost(), 12);
    }
}
