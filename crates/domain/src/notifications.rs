//! Notifications: what happened to a user's things while they were away (a
//! comment on their post, a job of theirs that finished, their role
//! changing), kept until read and purged with the account.
//!
//! A notification is written in the same transaction as the change that
//! causes it, by the repository that makes that change, so one exists
//! exactly when its cause committed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::RepoError;
use crate::jobs::JobStatus;
use crate::page::{Page, PageRequest};
use crate::users::Role;

/// What a notification is about; its `data` has one shape per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// `{"post_id", "comment_id", "author"}`: someone else commented on the
    /// user's post.
    CommentCreated,
    /// `{"job_id", "kind", "status"}`: a job the user started reached
    /// `succeeded`, `failed` or `dead`.
    JobFinished,
    /// `{"role"}`: an admin changed the user's role.
    RoleChanged,
}

impl NotificationKind {
    pub const ALL: [Self; 3] = [Self::CommentCreated, Self::JobFinished, Self::RoleChanged];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CommentCreated => "comment.created",
            Self::JobFinished => "job.finished",
            Self::RoleChanged => "role.changed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub data: Value,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A notification to write with the change that causes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

impl NewNotification {
    fn new(user_id: Uuid, kind: NotificationKind, data: Value, now: DateTime<Utc>) -> Self {
        Self {
            // Time-ordered ids: newest first by id agrees with `created_at`.
            id: Uuid::now_v7(),
            user_id,
            kind,
            data,
            created_at: now,
        }
    }

    /// For the post's author, unless they commented on their own post.
    pub fn comment(
        post_author: Uuid,
        commenter: Uuid,
        commenter_name: &str,
        post_id: Uuid,
        comment_id: Uuid,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        (post_author != commenter).then(|| {
            Self::new(
                post_author,
                NotificationKind::CommentCreated,
                json!({"post_id": post_id, "comment_id": comment_id, "author": commenter_name}),
                now,
            )
        })
    }

    /// Whether a job reaching `status` is told to its creator: success,
    /// failure or death. Cancelling was the creator's own doing (or an
    /// admin's), and the live statuses are not ends.
    pub fn tells_of(status: JobStatus) -> bool {
        matches!(
            status,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Dead
        )
    }

    /// For the job's creator when it reached an end [`Self::tells_of`]
    /// admits; scheduled jobs have nobody to tell.
    pub fn job_finished(
        created_by: Option<Uuid>,
        job_id: Uuid,
        kind: &str,
        status: JobStatus,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let user = created_by.filter(|_| Self::tells_of(status))?;
        Some(Self::new(
            user,
            NotificationKind::JobFinished,
            json!({"job_id": job_id, "kind": kind, "status": status.as_str()}),
            now,
        ))
    }

    /// For the user whose role changed (nothing when it stayed the same).
    pub fn role_changed(user_id: Uuid, from: Role, to: Role, now: DateTime<Utc>) -> Option<Self> {
        (from != to).then(|| {
            Self::new(
                user_id,
                NotificationKind::RoleChanged,
                json!({"role": to.as_str()}),
                now,
            )
        })
    }
}

/// Which of a user's notifications a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotificationFilter {
    pub user_id: Uuid,
    /// Only those not yet read.
    pub unread_only: bool,
}

/// Reading and marking notifications. They are created by the repositories
/// of the changes that cause them, never through this port.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// The filter's notifications, newest first.
    ///
    /// # Errors
    /// Storage failures.
    async fn list(
        &self,
        filter: NotificationFilter,
        page: PageRequest,
    ) -> Result<Page<Notification>, RepoError>;

    /// Marks `user_id`'s notification `id` read at `now` (the first read
    /// time is kept when it already was) and returns it.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when no such notification is `user_id`'s;
    /// storage failures.
    async fn mark_read(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Notification, RepoError>;

    /// Marks every unread notification of `user_id` read; returns how many.
    ///
    /// # Errors
    /// Storage failures.
    async fn mark_all_read(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<u64, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_names() {
        for kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NotificationKind::parse("comment"), None);
    }

    #[test]
    fn nobody_is_told_of_their_own_comment_or_an_unchanged_role() {
        let (me, other, now) = (Uuid::now_v7(), Uuid::now_v7(), Utc::now());
        let (post, comment) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            NewNotification::comment(me, me, "me", post, comment, now),
            None
        );
        let told = NewNotification::comment(me, other, "bob", post, comment, now).unwrap();
        assert_eq!(told.user_id, me);
        assert_eq!(told.data["author"], "bob");
        assert_eq!(
            NewNotification::role_changed(me, Role::User, Role::User, now),
            None
        );
        let promoted = NewNotification::role_changed(me, Role::User, Role::Admin, now).unwrap();
        assert_eq!(promoted.data, json!({"role": "admin"}));
    }

    #[test]
    fn only_ends_the_creator_did_not_choose_are_told() {
        let (me, job, now) = (Uuid::now_v7(), Uuid::now_v7(), Utc::now());
        for status in [JobStatus::Succeeded, JobStatus::Failed, JobStatus::Dead] {
            let told =
                NewNotification::job_finished(Some(me), job, "export_users", status, now).unwrap();
            assert_eq!(told.data["status"], status.as_str());
        }
        for status in [JobStatus::Cancelled, JobStatus::Queued, JobStatus::Running] {
            assert_eq!(
                NewNotification::job_finished(Some(me), job, "export_users", status, now),
                None
            );
        }
        assert_eq!(
            NewNotification::job_finished(None, job, "purge_jobs", JobStatus::Succeeded, now),
            None
        );
    }
}
