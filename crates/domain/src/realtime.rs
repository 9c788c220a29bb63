//! What a user's WebSocket reports (docs/realtime.md): their notifications
//! and the jobs they started, as numbered events, and the single-use tickets
//! that open a socket without putting an access token in a URL.
//!
//! Every event takes the next number of its user in the transaction of the
//! change it reports, so a user's numbers commit in order. The rows keep the
//! number of their last event, which is how a reconnecting client is sent
//! what it missed: from the tables, not from the bus (which may drop).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::RepoError;
use crate::jobs::Job;
use crate::notifications::Notification;

/// The largest replay one query returns; a client further behind gets the
/// rest in further batches.
pub const MAX_REPLAY: u64 = 200;

/// What an event reports; `data` has one shape per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserEventKind {
    /// `{"job_id", "kind", "status", "progress": {"percent", "message"}}`: a
    /// job of the user's reported progress or went back to the queue.
    JobProgress,
    /// As `JobProgress`, plus `"error"`: the job reached an end.
    JobFinished,
    /// The notification as `GET /notifications` lists it.
    NotificationCreated,
}

impl UserEventKind {
    pub const ALL: [Self; 3] = [
        Self::JobProgress,
        Self::JobFinished,
        Self::NotificationCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobProgress => "job.progress",
            Self::JobFinished => "job.finished",
            Self::NotificationCreated => "notification.created",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// One numbered event of one user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserEvent {
    pub user_id: Uuid,
    /// 1 for the user's first event, then +1 per event.
    pub seq: u64,
    pub kind: UserEventKind,
    pub data: Value,
}

impl UserEvent {
    /// The state `job` is in, as its creator's event number `seq`; `None`
    /// for a job nobody asked for (scheduled ones).
    pub fn of_job(job: &Job, seq: u64) -> Option<Self> {
        let user_id = job.created_by?;
        let (kind, mut data) = (
            if job.status.is_terminal() {
                UserEventKind::JobFinished
            } else {
                UserEventKind::JobProgress
            },
            json!({
                "job_id": job.id,
                "kind": job.kind,
                "status": job.status.as_str(),
                "progress": {"percent": job.progress, "message": job.progress_message},
            }),
        );
        if kind == UserEventKind::JobFinished {
            data["error"] = json!(job.last_error);
        }
        Some(Self {
            user_id,
            seq,
            kind,
            data,
        })
    }

    /// `notification` as its user's event number `seq`.
    pub fn of_notification(notification: &Notification, seq: u64) -> Self {
        Self {
            user_id: notification.user_id,
            seq,
            kind: UserEventKind::NotificationCreated,
            data: json!({
                "id": notification.id,
                "kind": notification.kind.as_str(),
                "data": notification.data,
                "read": notification.read_at.is_some(),
                "read_at": notification.read_at,
                "created_at": notification.created_at,
            }),
        }
    }
}

/// A ticket to store: only the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    /// SHA-256 of the secret, hex.
    pub token_hash: String,
    pub user_id: Uuid,
    /// The session the ticket was asked for; its revocation closes the socket.
    pub session_id: Uuid,
    /// When the access token the ticket was asked with expires: the socket
    /// closes then.
    pub access_expires_at: DateTime<Utc>,
    /// Unused after this, the ticket opens nothing.
    pub expires_at: DateTime<Utc>,
}

/// A ticket as it was when it was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub access_expires_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Storage of tickets and of the events a socket replays.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RealtimeRepository: Send + Sync {
    /// Stores `ticket`, and forgets tickets that expired before `now`.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the user no longer exists; storage failures.
    async fn store_ticket(&self, ticket: NewTicket, now: DateTime<Utc>) -> Result<(), RepoError>;

    /// Removes the ticket whose secret hashes to `token_hash` and returns it,
    /// expired or not; `None` when there is none (never issued, or already
    /// used). Of concurrent calls with one hash, at most one gets it.
    ///
    /// # Errors
    /// Storage failures only.
    async fn take_ticket(&self, token_hash: &str) -> Result<Option<Ticket>, RepoError>;

    /// The user's last event number (0 before their first event).
    ///
    /// # Errors
    /// Storage failures only.
    async fn latest_seq(&self, user_id: Uuid) -> Result<u64, RepoError>;

    /// The user's events numbered above `after`, in order, at most
    /// [`MAX_REPLAY`]: every notification, and each job once, in the state
    /// of its last event (a job's earlier progress is not kept).
    ///
    /// # Errors
    /// Storage failures only.
    async fn events_after(&self, user_id: Uuid, after: u64) -> Result<Vec<UserEvent>, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobStatus;

    fn job(status: JobStatus, created_by: Option<Uuid>) -> Job {
        Job {
            id: Uuid::nil(),
            kind: "export_users".into(),
            payload: json!({}),
            status,
            attempts: 1,
            max_attempts: 3,
            run_at: DateTime::UNIX_EPOCH,
            lease_owner: None,
            lease_expires_at: None,
            progress: 40,
            progress_message: Some("rows".into()),
            result: None,
            last_error: Some("boom".into()),
            cancel_requested: false,
            created_by,
            unique_key: None,
            created_at: DateTime::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_job_reports_progress_until_it_ends() {
        let user = Uuid::now_v7();
        let running = UserEvent::of_job(&job(JobStatus::Running, Some(user)), 3);
        let running = running.as_ref().map(|e| (e.kind, e.seq, e.user_id));
        assert_eq!(running, Some((UserEventKind::JobProgress, 3, user)));
        let dead = UserEvent::of_job(&job(JobStatus::Dead, Some(user)), 4);
        let dead = dead.as_ref().map(|e| (e.kind, e.data["error"].clone()));
        assert_eq!(dead, Some((UserEventKind::JobFinished, json!("boom"))));
    }

    #[test]
    fn scheduled_jobs_report_to_nobody() {
        assert_eq!(UserEvent::of_job(&job(JobStatus::Running, None), 1), None);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in UserEventKind::ALL {
            assert_eq!(UserEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(UserEventKind::parse("job"), None);
    }
}
