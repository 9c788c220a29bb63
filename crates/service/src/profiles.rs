//! Public profiles and follows. Profiles are public, so reading one needs no
//! caller; following needs one.

use std::sync::Arc;

use async_trait::async_trait;
use strata_domain::auth::Principal;
use strata_domain::profiles::{Profile, ProfileRepository, ProfileUpdate};
use strata_domain::validation::Violation;
use strata_domain::{RepoError, ValidationErrors};
use uuid::Uuid;

use crate::ServiceError;
use crate::error::TokenRejection;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ProfileService: Send + Sync {
    /// The profile of `username`, as `viewer` (if any) sees it.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown or deactivated account.
    async fn get(&self, viewer: Option<Principal>, username: &str)
    -> Result<Profile, ServiceError>;

    /// The profiles of `user_ids` as `viewer` sees them, in one query (what
    /// a page of posts or comments shows of its authors).
    ///
    /// # Errors
    /// Storage failures only.
    async fn many(
        &self,
        viewer: Option<Principal>,
        user_ids: Vec<Uuid>,
    ) -> Result<Vec<Profile>, ServiceError>;

    /// The caller's own profile.
    ///
    /// # Errors
    /// [`ServiceError::Unauthenticated`] when the account is gone.
    async fn mine(&self, caller: &Principal) -> Result<Profile, ServiceError>;

    /// Changes the caller's bio or image.
    ///
    /// # Errors
    /// [`ServiceError::Unauthenticated`] when the account is gone.
    async fn update(
        &self,
        caller: &Principal,
        update: ProfileUpdate,
    ) -> Result<Profile, ServiceError>;

    /// Follows `username` (again: no change) and returns its profile.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown account;
    /// [`ServiceError::Validation`] for the caller's own name.
    async fn follow(&self, caller: &Principal, username: &str) -> Result<Profile, ServiceError>;

    /// Stops following `username` (not following: no change).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] for an unknown account.
    async fn unfollow(&self, caller: &Principal, username: &str) -> Result<Profile, ServiceError>;
}

pub struct ProfileServiceImpl {
    profiles: Arc<dyn ProfileRepository>,
}

impl std::fmt::Debug for ProfileServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileServiceImpl").finish_non_exhaustive()
    }
}

impl ProfileServiceImpl {
    pub fn new(profiles: Arc<dyn ProfileRepository>) -> Self {
        Self { profiles }
    }
}

fn gone(err: RepoError) -> ServiceError {
    match err {
        RepoError::NotFound => ServiceError::Unauthenticated(TokenRejection::AccountDisabled),
        other => other.into(),
    }
}

#[async_trait]
impl ProfileService for ProfileServiceImpl {
    async fn get(
        &self,
        viewer: Option<Principal>,
        username: &str,
    ) -> Result<Profile, ServiceError> {
        Ok(self
            .profiles
            .find_by_username(username, viewer.map(|v| v.user_id))
            .await?)
    }

    async fn many(
        &self,
        viewer: Option<Principal>,
        mut user_ids: Vec<Uuid>,
    ) -> Result<Vec<Profile>, ServiceError> {
        user_ids.sort_unstable();
        user_ids.dedup();
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .profiles
            .find_many(user_ids, viewer.map(|v| v.user_id))
            .await?)
    }

    async fn mine(&self, caller: &Principal) -> Result<Profile, ServiceError> {
        self.profiles
            .find_many(vec![caller.user_id], None)
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::Unauthenticated(
                TokenRejection::AccountDisabled,
            ))
    }

    async fn update(
        &self,
        caller: &Principal,
        update: ProfileUpdate,
    ) -> Result<Profile, ServiceError> {
        if update.is_empty() {
            return self.mine(caller).await;
        }
        self.profiles
            .update(caller.user_id, update)
            .await
            .map_err(gone)
    }

    async fn follow(&self, caller: &Principal, username: &str) -> Result<Profile, ServiceError> {
        let profile = self
            .profiles
            .find_by_username(username, Some(caller.user_id))
            .await?;
        if profile.user_id == caller.user_id {
            return Err(ValidationErrors::single(
                "username",
                Violation::new("self", "cannot follow yourself"),
            )
            .into());
        }
        self.profiles
            .follow(caller.user_id, profile.user_id)
            .await?;
        Ok(Profile {
            following: true,
            ..profile
        })
    }

    async fn unfollow(&self, caller: &Principal, username: &str) -> Result<Profile, ServiceError> {
        let profile = self
            .profiles
            .find_by_username(username, Some(caller.user_id))
            .await?;
        self.profiles
            .unfollow(caller.user_id, profile.user_id)
            .await?;
        Ok(Profile {
            following: false,
            ..profile
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::caller;
    use mockall::predicate::eq;
    use strata_domain::profiles::MockProfileRepository;
    use strata_domain::users::Role;

    fn profile(user_id: Uuid, following: bool) -> Profile {
        Profile {
            user_id,
            username: "celeb".into(),
            bio: None,
            image: None,
            following,
        }
    }

    #[tokio::test]
    async fn following_looks_the_name_up_as_the_caller_and_reports_the_new_state() {
        let me = caller(Role::User);
        let celeb = Uuid::now_v7();
        let mut repo = MockProfileRepository::new();
        repo.expect_find_by_username()
            .withf(move |name, viewer| name == "Celeb" && *viewer == Some(me.user_id))
            .returning(move |_, _| Ok(profile(celeb, false)));
        repo.expect_follow()
            .with(eq(me.user_id), eq(celeb))
            .times(1)
            .returning(|_, _| Ok(()));
        let service = ProfileServiceImpl::new(Arc::new(repo));
        let followed = service.follow(&me, "Celeb").await.unwrap();
        assert!(followed.following);
        assert_eq!(followed.user_id, celeb);
    }

    #[tokio::test]
    async fn nobody_follows_themself_and_unknown_names_are_not_found() {
        let me = caller(Role::User);
        let mut repo = MockProfileRepository::new();
        repo.expect_find_by_username()
            .withf(|name, _| name == "me")
            .returning(move |_, _| Ok(profile(me.user_id, false)));
        repo.expect_find_by_username()
            .withf(|name, _| name == "ghost")
            .returning(|_, _| Err(RepoError::NotFound));
        repo.expect_follow().never();
        repo.expect_unfollow().never();
        let service = ProfileServiceImpl::new(Arc::new(repo));
        assert!(matches!(
            service.follow(&me, "me").await,
            Err(ServiceError::Validation(_))
        ));
        assert!(matches!(
            service.follow(&me, "ghost").await,
            Err(ServiceError::NotFound)
        ));
        assert!(matches!(
            service.unfollow(&me, "ghost").await,
            Err(ServiceError::NotFound)
        ));
    }

    #[tokio::test]
    async fn an_empty_update_writes_nothing_and_a_vanished_account_is_unauthenticated() {
        let me = caller(Role::User);
        let mut repo = MockProfileRepository::new();
        repo.expect_update().never();
        repo.expect_find_many()
            .with(eq(vec![me.user_id]), eq(None))
            .returning(|_, _| Ok(Vec::new()));
        let service = ProfileServiceImpl::new(Arc::new(repo));
        assert!(matches!(
            service.update(&me, ProfileUpdate::default()).await,
            Err(ServiceError::Unauthenticated(
                TokenRejection::AccountDisabled
            ))
        ));
    }

    #[tokio::test]
    async fn many_asks_once_for_distinct_ids_and_not_at_all_for_none() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let mut repo = MockProfileRepository::new();
        let mut expected = vec![a, b];
        expected.sort_unstable();
        repo.expect_find_many()
            .with(eq(expected), eq(None))
            .times(1)
            .returning(move |_, _| Ok(vec![profile(a, false), profile(b, false)]));
        let service = ProfileServiceImpl::new(Arc::new(repo));
        assert_eq!(service.many(None, vec![a, b, a]).await.unwrap().len(), 2);
        assert!(service.many(None, Vec::new()).await.unwrap().is_empty());
    }
}
