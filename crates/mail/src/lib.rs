//! Outgoing mail: the adapters behind the service's
//! [`Mailer`](strata_service::mail::Mailer) port. Only `app` names this
//! crate; `service` and `http` see the port alone and never lettre
//! (DESIGN.md §1, ADR 0011).
//!
//! - [`LogMailer`]: development. Logs each message, body included, and
//!   sends nothing.
//! - [`SmtpMailer`]: production. SMTP through lettre's pooled tokio
//!   transport, TLS by rustls with ring as its only crypto provider, server
//!   certificates checked against the bundled Mozilla roots (`webpki-roots`).
//!   Configured by [`SmtpSettings`]; a 5xx reply is
//!   [`MailError::Permanent`](strata_service::mail::MailError::Permanent),
//!   anything else that fails is `Transient`.
//!
//! # Tests against a real SMTP server
//!
//! `tests/smtp.rs` delivers to a real server: the Python `aiosmtpd` package
//! running `tests/smtp_sink.py`, which stores every accepted message as a
//! JSON file (envelope, decoded headers and body) in a directory, refuses
//! recipients at `reject.invalid` with 550 and defers those at
//! `defer.invalid` with 451, and accepts the login `strata` / `sink-secret`.
//! `.ci/smtp-sink.sh` installs the pinned aiosmtpd
//! (`tests/smtp_sink_requirements.txt`) into a virtual environment under
//! `$CARGO_TARGET_DIR/mail-venv`, starts the sink on 127.0.0.1 (port
//! `$SMTP_SINK_PORT`, default 2525; it fails if the port is taken) and
//! prints the variables the tests read:
//!
//! ```sh
//! export CARGO_TARGET_DIR=$HOME/.cache/strata-target
//! eval "$(bash .ci/smtp-sink.sh)"   # TEST_SMTP_URL, TEST_SMTP_SINK_DIR, SMTP_SINK_PID
//! cargo test -p strata-mail
//! kill "$SMTP_SINK_PID"
//! ```
//!
//! Without `TEST_SMTP_URL` the tests that need the server print a note and
//! pass; the others (configuration, connection refused, invalid recipient)
//! always run. With `TEST_SMTP_URL` set, an unreachable server fails them,
//! as an unreachable `TEST_POSTGRES_URL` fails the repository tests.

mod log;
mod smtp;

pub use log::LogMailer;
pub use smtp::{MailConfigError, SmtpMailer, SmtpSettings, Tls};
