//! Outgoing mail, behind a port: the SMTP adapter and the development
//! adapter that only logs live outside this crate.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A message to one recipient: plain text, and optionally the same content
/// as HTML for clients that prefer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Absent from jobs queued before HTML mail existed, hence the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later (connection refused, 4xx reply, timeout).
    #[error("mail delivery failed for now: {0}")]
    Transient(String),
    /// Will never be accepted (malformed address, 5xx reply).
    #[error("mail delivery refused: {0}")]
    Permanent(String),
}

/// Hands messages to a mail system.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Returns once the mail system has accepted the message.
    ///
    /// # Errors
    /// [`MailError`], saying whether a later attempt may succeed.
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}
