//! The development mailer: nothing leaves the process.

use async_trait::async_trait;
use strata_service::mail::{Email, MailError, Mailer};

/// Logs every message at INFO instead of sending it, **body included**, so
/// that a developer can follow the links a mail carries (password resets,
/// confirmations) straight from the log. For development and tests only: in
/// production the body holds one-time secrets that must not reach a log, so
/// production wires [`SmtpMailer`](crate::SmtpMailer).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

impl LogMailer {
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        tracing::info!(
            to = %email.to,
            subject = %email.subject,
            text = %email.text,
            "mail logged, not sent (development mailer)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes, so the test can read the log.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn logs_recipient_subject_and_body_at_info() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // The default test runtime is single-threaded, so a thread-local
        // subscriber sees everything the send does.
        let _guard = tracing::subscriber::set_default(subscriber);

        let email = Email {
            to: "ada@example.com".into(),
            subject: "Reset your password".into(),
            text: "Open http://localhost:8080/reset?token=abc to continue.".into(),
            html: None,
        };
        LogMailer::new().send(&email).await.unwrap();

        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("INFO"), "{log}");
        assert!(log.contains("ada@example.com"), "{log}");
        assert!(log.contains("Reset your password"), "{log}");
        assert!(
            log.contains("http://localhost:8080/reset?token=abc"),
            "{log}"
        );
    }
}
