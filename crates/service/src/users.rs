//! The caller's own account: read, edit, delete.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::RepoError;
use strata_domain::auth::{Principal, RevocationScope};
use strata_domain::users::{Email, FullName, User, UserChanges, UserRepository, Username};

use crate::error::TokenRejection;
use crate::revocation::Revoker;
use crate::{PasswordHasher, ServiceError};

/// Changes a user may make to their own profile. Role and activation are
/// deliberately absent: only administrators change those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub email: Option<Email>,
    pub username: Option<Username>,
    /// `Some(None)` clears the name.
    pub full_name: Option<Option<FullName>>,
}

/// Use cases on the caller's own account.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserService: Send + Sync {
    /// # Errors
    /// [`ServiceError::Unauthenticated`] when the account no longer exists.
    async fn me(&self, principal: &Principal) -> Result<User, ServiceError>;

    /// # Errors
    /// [`ServiceError::Taken`] when the new e-mail or username is in use;
    /// [`ServiceError::Unauthenticated`] when the account no longer exists.
    async fn update_me(
        &self,
        principal: &Principal,
        changes: ProfileChanges,
    ) -> Result<User, ServiceError>;

    /// Deletes the caller's account after checking their password; every
    /// session of it is revoked first.
    ///
    /// # Errors
    /// [`ServiceError::InvalidCredentials`] for a wrong password (nothing is
    /// deleted then).
    async fn delete_me(&self, principal: &Principal, password: &str) -> Result<(), ServiceError>;
}

pub struct UserServiceImpl {
    users: Arc<dyn UserRepository>,
    hasher: PasswordHasher,
    revoker: Revoker,
}

impl std::fmt::Debug for UserServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserServiceImpl").finish_non_exhaustive()
    }
}

impl UserServiceImpl {
    pub fn new(users: Arc<dyn UserRepository>, hasher: PasswordHasher, revoker: Revoker) -> Self {
        Self {
            users,
            hasher,
            revoker,
        }
    }
}

/// A valid token whose account is gone: the client must log in again.
fn gone(err: RepoError) -> ServiceError {
    match err {
        RepoError::NotFound => ServiceError::Unauthenticated(TokenRejection::AccountDisabled),
        other => other.into(),
    }
}

#[async_trait]
impl UserService for UserServiceImpl {
    async fn me(&self, principal: &Principal) -> Result<User, ServiceError> {
        self.users.find_by_id(principal.user_id).await.map_err(gone)
    }

    async fn update_me(
        &self,
        principal: &Principal,
        changes: ProfileChanges,
    ) -> Result<User, ServiceError> {
        let changes = UserChanges {
            email: changes.email,
            username: changes.username,
            full_name: changes.full_name,
            role: None,
            is_active: None,
        };
        if changes.is_empty() {
            return self.me(principal).await;
        }
        self.users
            .update(principal.user_id, changes, Utc::now())
            .await
            .map_err(gone)
    }

    async fn delete_me(&self, principal: &Principal, password: &str) -> Result<(), ServiceError> {
        let credentials = self
            .users
            .find_credentials_by_id(principal.user_id)
            .await
            .map_err(gone)?;
        if !self
            .hasher
            .verify(password, &credentials.password_hash)
            .await?
        {
            return Err(ServiceError::InvalidCredentials);
        }
        // Revoke first: if the delete then fails the account survives but no
        // token of it works, which is the safe half-state.
        self.revoker
            .revoke(RevocationScope::User {
                user_id: principal.user_id,
                except: None,
            })
            .await?;
        self.users.delete(principal.user_id).await.map_err(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RevocationList;
    use strata_domain::auth::MockSessionRepository;
    use strata_domain::users::{MockUserRepository, PasswordHash, Role, UserCredentials};
    use uuid::Uuid;

    fn principal() -> Principal {
        Principal {
            user_id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
            role: Role::User,
        }
    }

    fn account(id: Uuid) -> User {
        let now = Utc::now();
        User {
            id,
            email: Email::parse("ada@example.com").unwrap(),
            username: Username::parse("ada").unwrap(),
            full_name: None,
            role: Role::User,
            is_active: true,
            created_at: now,
            updated_at: now,
        }
    }

    fn service(users: MockUserRepository, sessions: MockSessionRepository) -> UserServiceImpl {
        let revoker = Revoker::new(Arc::new(sessions), RevocationList::new(), 900);
        UserServiceImpl::new(Arc::new(users), PasswordHasher::new(4), revoker)
    }

    #[tokio::test]
    async fn update_me_never_touches_role_or_activation() {
        let p = principal();
        let mut users = MockUserRepository::new();
        users
            .expect_update()
            .withf(|_, changes, _| {
                changes.role.is_none() && changes.is_active.is_none() && changes.username.is_some()
            })
            .times(1)
            .returning(|id, _, _| Ok(account(id)));
        let changes = ProfileChanges {
            username: Some(Username::parse("ada2").unwrap()),
            ..Default::default()
        };
        let updated = service(users, MockSessionRepository::new())
            .update_me(&p, changes)
            .await
            .unwrap();
        assert_eq!(updated.id, p.user_id);
    }

    #[tokio::test]
    async fn an_empty_update_reads_instead_of_writing() {
        let p = principal();
        let mut users = MockUserRepository::new();
        users.expect_update().never();
        users
            .expect_find_by_id()
            .times(1)
            .returning(|id| Ok(account(id)));
        service(users, MockSessionRepository::new())
            .update_me(&p, ProfileChanges::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn me_for_a_deleted_account_is_unauthenticated() {
        let mut users = MockUserRepository::new();
        users
            .expect_find_by_id()
            .returning(|_| Err(RepoError::NotFound));
        assert!(matches!(
            service(users, MockSessionRepository::new())
                .me(&principal())
                .await,
            Err(ServiceError::Unauthenticated(
                TokenRejection::AccountDisabled
            ))
        ));
    }

    fn with_password(id: Uuid) -> UserCredentials {
        UserCredentials {
            user: account(id),
            password_hash: PasswordHash::new(bcrypt::hash("Secret123", 4).unwrap()),
        }
    }

    #[tokio::test]
    async fn delete_me_with_a_wrong_password_deletes_nothing() {
        let mut users = MockUserRepository::new();
        users
            .expect_find_credentials_by_id()
            .returning(|id| Ok(with_password(id)));
        users.expect_delete().never();
        let mut sessions = MockSessionRepository::new();
        sessions.expect_revoke().never();
        assert!(matches!(
            service(users, sessions)
                .delete_me(&principal(), "Wrong1234")
                .await,
            Err(ServiceError::InvalidCredentials)
        ));
    }

    #[tokio::test]
    async fn delete_me_revokes_every_session_then_deletes_the_account() {
        let p = principal();
        let mut seq = mockall::Sequence::new();
        let mut users = MockUserRepository::new();
        users
            .expect_find_credentials_by_id()
            .returning(|id| Ok(with_password(id)));
        let mut sessions = MockSessionRepository::new();
        sessions
            .expect_revoke()
            .withf(move |scope, _, _| {
                *scope
                    == RevocationScope::User {
                        user_id: p.user_id,
                        except: None,
                    }
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(vec![]));
        users
            .expect_delete()
            .withf(move |id| *id == p.user_id)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        service(users, sessions)
            .delete_me(&p, "Secret123")
            .await
            .unwrap();
    }
}
