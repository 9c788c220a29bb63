//! `send_email`: one message through the [`Mailer`], retried with backoff
//! while the mail system is unreachable. Enqueue it in the transaction of
//! the write that calls for the mail, so the mail goes if and only if the
//! write happened.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use strata_domain::jobs::{Job, NewJob};

use crate::jobs::{JobContext, JobError, JobHandler, RetryPolicy};
use crate::mail::{Email, MailError, Mailer};

pub const KIND: &str = "send_email";

/// The job that will send `email`.
pub fn job(email: &Email, max_attempts: i32, now: DateTime<Utc>) -> NewJob {
    let payload = serde_json::to_value(email).unwrap_or(Value::Null);
    NewJob::new(KIND, payload, max_attempts, now)
}

pub struct SendEmail {
    mailer: Arc<dyn Mailer>,
}

impl std::fmt::Debug for SendEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendEmail").finish_non_exhaustive()
    }
}

impl SendEmail {
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        Self { mailer }
    }
}

#[async_trait]
impl JobHandler for SendEmail {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn policy(&self) -> RetryPolicy {
        // A mail server down for a while should not lose the message: keep
        // trying for about a day.
        RetryPolicy {
            max_attempts: 10,
            backoff_base: std::time::Duration::from_secs(30),
            backoff_factor: 2.5,
            backoff_cap: std::time::Duration::from_secs(4 * 3600),
            concurrency: Some(4),
        }
    }

    async fn run(&self, job: &Job, _ctx: &dyn JobContext) -> Result<Value, JobError> {
        let email: Email = serde_json::from_value(job.payload.clone())
            .map_err(|err| JobError::Permanent(format!("the payload is not a message: {err}")))?;
        match self.mailer.send(&email).await {
            Ok(()) => Ok(serde_json::json!({ "sent": true })),
            Err(MailError::Transient(reason)) => Err(JobError::Retry(reason)),
            Err(MailError::Permanent(reason)) => Err(JobError::Permanent(reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::MockJobContext;
    use crate::mail::MockMailer;

    fn email() -> Email {
        Email {
            to: "ada@example.com".into(),
            subject: "Welcome".into(),
            text: "Hello".into(),
            html: None,
        }
    }

    fn queued(email: &Email) -> Job {
        let new = job(email, 10, Utc::now());
        crate::jobs::kinds::tests_support::job_from(new)
    }

    #[tokio::test]
    async fn a_message_is_handed_to_the_mailer() {
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .withf(|e| e.to == "ada@example.com" && e.subject == "Welcome")
            .times(1)
            .returning(|_| Ok(()));
        let handler = SendEmail::new(Arc::new(mailer));
        let result = handler
            .run(&queued(&email()), &MockJobContext::new())
            .await
            .unwrap();
        assert_eq!(result["sent"], true);
    }

    #[tokio::test]
    async fn transient_failures_retry_and_refusals_fail() {
        let mut mailer = MockMailer::new();
        let mut calls = 0;
        mailer.expect_send().times(2).returning(move |_| {
            calls += 1;
            if calls == 1 {
                Err(MailError::Transient("connection refused".into()))
            } else {
                Err(MailError::Permanent("550 no such user".into()))
            }
        });
        let handler = SendEmail::new(Arc::new(mailer));
        let job = queued(&email());
        let ctx = MockJobContext::new();
        assert!(matches!(
            handler.run(&job, &ctx).await,
            Err(JobError::Retry(_))
        ));
        assert!(matches!(
            handler.run(&job, &ctx).await,
            Err(JobError::Permanent(_))
        ));
    }

    #[tokio::test]
    async fn a_malformed_payload_fails_for_good() {
        let handler = SendEmail::new(Arc::new(MockMailer::new()));
        let mut job = queued(&email());
        job.payload = serde_json::json!({"to": 1});
        assert!(matches!(
            handler.run(&job, &MockJobContext::new()).await,
            Err(JobError::Permanent(_))
        ));
    }
}
