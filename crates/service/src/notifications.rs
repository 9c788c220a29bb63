//! The caller's notifications: listing and marking them read. Each user sees
//! only their own, admins included: a notification is addressed to one
//! person, and another's is reported as not found.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::auth::Principal;
use strata_domain::notifications::{Notification, NotificationFilter, NotificationRepository};
use strata_domain::page::{Page, PageRequest};
use uuid::Uuid;

use crate::ServiceError;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NotificationService: Send + Sync {
    /// The caller's notifications, newest first; only unread ones with
    /// `unread_only`.
    ///
    /// # Errors
    /// Storage failures only.
    async fn list(
        &self,
        caller: &Principal,
        unread_only: bool,
        page: PageRequest,
    ) -> Result<Page<Notification>, ServiceError>;

    /// Marks one of the caller's notifications read (again is harmless: the
    /// first read time stays) and returns it.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when it does not exist or is another
    /// user's.
    async fn mark_read(&self, caller: &Principal, id: Uuid) -> Result<Notification, ServiceError>;

    /// Marks all the caller's unread notifications read; returns how many.
    ///
    /// # Errors
    /// Storage failures only.
    async fn mark_all_read(&self, caller: &Principal) -> Result<u64, ServiceError>;
}

pub struct NotificationServiceImpl {
    notifications: Arc<dyn NotificationRepository>,
}

impl std::fmt::Debug for NotificationServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationServiceImpl")
            .finish_non_exhaustive()
    }
}

impl NotificationServiceImpl {
    pub fn new(notifications: Arc<dyn NotificationRepository>) -> Self {
        Self { notifications }
    }
}

#[async_trait]
impl NotificationService for NotificationServiceImpl {
    async fn list(
        &self,
        caller: &Principal,
        unread_only: bool,
        page: PageRequest,
    ) -> Result<Page<Notification>, ServiceError> {
        let filter = NotificationFilter {
            user_id: caller.user_id,
            unread_only,
        };
        Ok(self.notifications.list(filter, page).await?)
    }

    async fn mark_read(&self, caller: &Principal, id: Uuid) -> Result<Notification, ServiceError> {
        Ok(self
            .notifications
            .mark_read(caller.user_id, id, Utc::now())
            .await?)
    }

    async fn mark_all_read(&self, caller: &Principal) -> Result<u64, ServiceError> {
        Ok(self
            .notifications
            .mark_all_read(caller.user_id, Utc::now())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::caller;
    use mockall::predicate::{always, eq};
    use strata_domain::RepoError;
    use strata_domain::notifications::MockNotificationRepository;
    use strata_domain::users::Role;

    fn service(repo: MockNotificationRepository) -> NotificationServiceImpl {
        NotificationServiceImpl::new(Arc::new(repo))
    }

    #[tokio::test]
    async fn everyone_lists_only_their_own_admins_included() {
        let admin = caller(Role::Admin);
        let mut repo = MockNotificationRepository::new();
        let expected = NotificationFilter {
            user_id: admin.user_id,
            unread_only: true,
        };
        repo.expect_list()
            .with(eq(expected), always())
            .times(1)
            .returning(|_, page| Ok(Page::new(Vec::new(), 0, page)));
        let page = PageRequest::new(Some(5), None).unwrap();
        let listed = service(repo).list(&admin, true, page).await.unwrap();
        assert_eq!(listed.total, 0);
    }

    #[tokio::test]
    async fn another_users_notification_is_not_found_when_marked() {
        let me = caller(Role::Admin);
        let id = Uuid::now_v7();
        let mut repo = MockNotificationRepository::new();
        repo.expect_mark_read()
            .with(eq(me.user_id), eq(id), always())
            .returning(|_, _, _| Err(RepoError::NotFound));
        let err = service(repo).mark_read(&me, id).await.unwrap_err();
        assert!(matches!(err, ServiceError::NotFound), "{err:?}");
    }

    #[tokio::test]
    async fn read_all_marks_the_callers_and_says_how_many() {
        let me = caller(Role::User);
        let mut repo = MockNotificationRepository::new();
        repo.expect_mark_all_read()
            .with(eq(me.user_id), always())
            .returning(|_, _| Ok(3));
        assert_eq!(service(repo).mark_all_read(&me).await.unwrap(), 3);
    }
}
