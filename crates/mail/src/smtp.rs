//! The production mailer: SMTP through lettre's pooled tokio transport,
//! TLS by rustls on ring.

use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use strata_service::mail::{Email, MailError, Mailer};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain text throughout: a relay on this host or a test sink only.
    None,
    /// Plain connect, then STARTTLS, which is required: a server that does
    /// not offer it gets no message (and no password), since falling back
    /// to plain text is exactly what an attacker on the path would provoke.
    /// Usually port 587.
    StartTls,
    /// TLS from the first byte ("implicit TLS", SMTPS). Usually port 465.
    Wrapper,
}

/// Where and how [`SmtpMailer`] delivers. Deserializes from the
/// application's configuration; `tls` is `none`, `starttls` or `wrapper`,
/// and an empty `username` or `password` counts as absent (so an unset
/// environment override can clear it).
#[derive(Clone, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    #[serde(default, deserialize_with = "empty_is_none")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "empty_is_none")]
    pub password: Option<String>,
    pub tls: Tls,
    /// The sender, `noreply@example.com` or `Strata <noreply@example.com>`.
    pub from: String,
    /// The limit for connecting and for each exchange with the server.
    pub timeout_secs: u64,
}

// By hand, so the password never reaches a log line or a panic message.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value.filter(|v| !v.is_empty()))
}

/// Settings that [`SmtpMailer::new`] refuses. None of the messages carries
/// the password.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("smtp host {host:?} is neither an IP address nor a host name")]
    InvalidHost { host: String },
    #[error("smtp port 0 is not a port")]
    ZeroPort,
    #[error("smtp timeout_secs must be at least 1")]
    ZeroTimeout,
    #[error("smtp sender address {from:?} is invalid: {reason}")]
    InvalidFrom { from: String, reason: String },
    #[error("smtp username and password must be given together")]
    IncompleteCredentials,
    /// A password sent in plain text to another machine can be read on the
    /// way; only a relay on this host may take one without TLS.
    #[error(
        "smtp credentials need tls = starttls or wrapper unless the host is a loopback address"
    )]
    CredentialsWithoutTls,
    #[error("smtp TLS cannot be set up: {reason}")]
    TlsSetup { reason: String },
}

/// Sends each [`Email`] over SMTP: `text/plain; charset=utf-8`, or
/// `multipart/alternative` with an HTML part when the message has one.
///
/// Connections are pooled and reused between messages. The pool is created
/// on the first send rather than in [`SmtpMailer::new`], because lettre
/// starts its idle-connection reaper as a tokio task, and `new` may run
/// before (or outside) the runtime, during wiring.
///
/// Errors: a 5xx reply ([`SmtpError::is_permanent`]) is
/// [`MailError::Permanent`]; everything else (connection refused, timeout,
/// TLS failure, 4xx reply) is [`MailError::Transient`], so the job retries it.
pub struct SmtpMailer {
    from: Mailbox,
    builder: AsyncSmtpTransportBuilder,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    /// Kept only to scrub it from error text, in case a server echoes it.
    password: Option<String>,
    host: String,
    port: u16,
    tls: Tls,
}

impl fmt::Debug for SmtpMailer {
    // By hand: lettre's builder would print the whole client configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Checks `settings` and prepares the transport; connects to nothing.
    ///
    /// # Errors
    /// [`MailConfigError`] for a host that is neither an IP address nor a
    /// host name, port 0, a zero timeout, a sender that is not an address, a
    /// username without a password (or the reverse), or credentials over
    /// plain text to another host.
    pub fn new(settings: SmtpSettings) -> Result<Self, MailConfigError> {
        let host = settings.host.trim().to_owned();
        // Checked here, since lettre would only fail on the first send.
        if !is_host(&host) {
            return Err(MailConfigError::InvalidHost { host });
        }
        if settings.port == 0 {
            return Err(MailConfigError::ZeroPort);
        }
        if settings.timeout_secs == 0 {
            return Err(MailConfigError::ZeroTimeout);
        }
        let from = match settings.from.parse::<Mailbox>() {
            Ok(from) => from,
            Err(err) => {
                return Err(MailConfigError::InvalidFrom {
                    from: settings.from,
                    reason: err.to_string(),
                });
            }
        };
        let credentials = match (settings.username, settings.password) {
            (Some(username), Some(password)) => Some((username, password)),
            (None, None) => None,
            _ => return Err(MailConfigError::IncompleteCredentials),
        };
        if credentials.is_some() && settings.tls == Tls::None && !is_loopback(&host) {
            return Err(MailConfigError::CredentialsWithoutTls);
        }

        let tls = match settings.tls {
            Tls::None => LettreTls::None,
            Tls::StartTls => LettreTls::Required(tls_parameters(&host)?),
            Tls::Wrapper => LettreTls::Wrapper(tls_parameters(&host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(settings.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(settings.timeout_secs)));
        let password = credentials.as_ref().map(|(_, password)| password.clone());
        if let Some((username, password)) = credentials {
            builder = builder.credentials(Credentials::new(username, password));
        }

        Ok(Self {
            from,
            builder,
            transport: OnceLock::new(),
            password,
            host,
            port: settings.port,
            tls: settings.tls,
        })
    }

    fn message(&self, email: &Email) -> Result<Message, MailError> {
        let to: Mailbox = email.to.parse().map_err(|err| {
            MailError::Permanent(format!("recipient {:?} is not an address: {err}", email.to))
        })?;
        // lettre would encode a line break into the subject rather than
        // start a header with it, but the reader would still see it: a
        // subject is one line (ADR 0010), so control characters become spaces.
        let subject: String = email
            .subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        let built = match &email.html {
            // Text first: multipart/alternative lists the least preferred part first.
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        };
        built.map_err(|err| MailError::Permanent(format!("the message cannot be built: {err}")))
    }

    fn classify(&self, err: &SmtpError) -> MailError {
        let text = self.scrub(format!("smtp {}:{}: {err}", self.host, self.port));
        if err.is_permanent() {
            MailError::Permanent(text)
        } else {
            MailError::Transient(text)
        }
    }

    /// Removes the password from `text`. lettre never formats it, but a
    /// server's reply is copied into the error verbatim, and the error ends
    /// up in the job's stored outcome and in logs.
    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(password) if !password.is_empty() && text.contains(password.as_str()) => {
                text.replace(password.as_str(), "***")
            }
            _ => text,
        }
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        // Before any connection: a message that cannot be built is refused
        // for good, whatever the server's state.
        let message = self.message(email)?;
        let transport = self.transport.get_or_init(|| self.builder.clone().build());
        transport
            .send(message)
            .await
            .map(|_response| ())
            .map_err(|err| self.classify(&err))
    }
}

impl Drop for SmtpMailer {
    fn drop(&mut self) {
        // lettre's pool spawns its clean-up on drop, which panics when no
        // tokio runtime is current (a mailer outliving the runtime at
        // shutdown). Then the process is ending: leaking the idle
        // connections is harmless, a panic in drop is not.
        if tokio::runtime::Handle::try_current().is_err()
            && let Some(transport) = self.transport.take()
        {
            std::mem::forget(transport);
        }
    }
}

fn tls_parameters(host: &str) -> Result<TlsParameters, MailConfigError> {
    TlsParameters::new(host.to_owned()).map_err(|err| MailConfigError::TlsSetup {
        reason: err.to_string(),
    })
}

/// An IP address or a DNS name: dot-separated labels of letters, digits,
/// `-` and `_` (container and intranet names use it; rustls accepts it).
fn is_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    host.len() <= 253
        && host.trim_end_matches('.').split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            username: Some("strata".into()),
            password: Some("s3cret-Pa55".into()),
            tls: Tls::StartTls,
            from: "Strata <noreply@example.com>".into(),
            timeout_secs: 10,
        }
    }

    #[test]
    fn accepts_a_complete_configuration() {
        let mailer = SmtpMailer::new(settings()).unwrap();
        assert_eq!(mailer.from.to_string(), "Strata <noreply@example.com>");
    }

    #[test]
    fn refuses_a_sender_that_is_not_an_address() {
        for from in [
            "",
            "noreply",
            "noreply@",
            "Strata <noreply>",
            "a b@example.com",
        ] {
            let err = SmtpMailer::new(SmtpSettings {
                from: from.into(),
                ..settings()
            })
            .unwrap_err();
            assert!(
                matches!(err, MailConfigError::InvalidFrom { .. }),
                "{from:?}: {err:?}"
            );
        }
    }

    #[test]
    fn refuses_incomplete_credentials() {
        for (username, password) in [(Some("strata"), None), (None, Some("s3cret-Pa55"))] {
            let err = SmtpMailer::new(SmtpSettings {
                username: username.map(Into::into),
                password: password.map(Into::into),
                ..settings()
            })
            .unwrap_err();
            assert!(
                matches!(err, MailConfigError::IncompleteCredentials),
                "{err:?}"
            );
        }
    }

    #[test]
    fn refuses_a_password_in_plain_text_to_another_host() {
        let err = SmtpMailer::new(SmtpSettings {
            tls: Tls::None,
            ..settings()
        })
        .unwrap_err();
        assert!(
            matches!(err, MailConfigError::CredentialsWithoutTls),
            "{err:?}"
        );

        for host in ["localhost", "127.0.0.1", "::1"] {
            SmtpMailer::new(SmtpSettings {
                host: host.into(),
                tls: Tls::None,
                ..settings()
            })
            .unwrap_or_else(|err| panic!("{host}: {err}"));
        }
        SmtpMailer::new(SmtpSettings {
            tls: Tls::None,
            username: None,
            password: None,
            ..settings()
        })
        .unwrap();
    }

    #[test]
    fn refuses_zero_port_and_zero_timeout() {
        let err = SmtpMailer::new(SmtpSettings {
            port: 0,
            ..settings()
        })
        .unwrap_err();
        assert!(matches!(err, MailConfigError::ZeroPort), "{err:?}");
        let err = SmtpMailer::new(SmtpSettings {
            timeout_secs: 0,
            ..settings()
        })
        .unwrap_err();
        assert!(matches!(err, MailConfigError::ZeroTimeout), "{err:?}");
    }

    #[test]
    fn refuses_a_host_that_is_no_host() {
        for host in [
            "",
            "  ",
            "mail server",
            "mail..example.com",
            "smtp://mail",
            "[::1]",
            "mail:25",
        ] {
            let err = SmtpMailer::new(SmtpSettings {
                host: host.into(),
                ..settings()
            })
            .unwrap_err();
            assert!(
                matches!(err, MailConfigError::InvalidHost { .. }),
                "{host:?}: {err:?}"
            );
        }
        for host in [
            "smtp.example.com",
            "mail_relay",
            "localhost",
            "192.0.2.1",
            "2001:db8::1",
            "mail.example.com.",
        ] {
            SmtpMailer::new(SmtpSettings {
                host: host.into(),
                ..settings()
            })
            .unwrap_or_else(|err| panic!("{host}: {err}"));
        }
    }

    #[test]
    fn never_shows_the_password() {
        let shown = format!("{:?}", settings());
        assert!(!shown.contains("s3cret-Pa55"), "{shown}");
        let mailer = SmtpMailer::new(settings()).unwrap();
        let shown = format!("{mailer:?}");
        assert!(!shown.contains("s3cret-Pa55"), "{shown}");
        assert_eq!(
            mailer.scrub("535 bad credentials for s3cret-Pa55".into()),
            "535 bad credentials for ***"
        );
    }

    #[test]
    fn deserializes_from_configuration() {
        let settings: SmtpSettings = serde_json::from_value(serde_json::json!({
            "host": "smtp.example.com",
            "port": 465,
            "username": "",
            "password": "",
            "tls": "wrapper",
            "from": "noreply@example.com",
            "timeout_secs": 30,
        }))
        .unwrap();
        assert_eq!(settings.tls, Tls::Wrapper);
        assert_eq!(settings.username, None);
        assert_eq!(settings.password, None);
        let tls: Tls = serde_json::from_value(serde_json::json!("starttls")).unwrap();
        assert_eq!(tls, Tls::StartTls);
    }
}
