//! The real SMTP server the account mails go to: the aiosmtpd sink that
//! `.ci/smtp-sink.sh` starts (and `.ci/run` exports). Tests that need it
//! skip with a note when `TEST_SMTP_URL` is unset, and fail when it is set
//! but unreachable, like the other backends.

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The sink, and how to point a server at it.
#[derive(Debug, Clone)]
pub struct MailSink {
    host: String,
    port: String,
    dir: PathBuf,
}

/// The base URL mailed links are built from in these tests.
pub const PUBLIC_URL: &str = "https://app.strata.test";

impl MailSink {
    /// `None`, after a note naming `test`, when `TEST_SMTP_URL` is unset.
    pub fn from_env(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("TEST_SMTP_URL") else {
            eprintln!("{test}: skipped, TEST_SMTP_URL is not set (see .ci/smtp-sink.sh)");
            return None;
        };
        let (host, port) = url
            .strip_prefix("smtp://")
            .and_then(|rest| rest.trim_end_matches('/').rsplit_once(':'))
            .unwrap_or_else(|| panic!("TEST_SMTP_URL must look like smtp://host:port: {url:?}"));
        let port_number: u16 = port.parse().expect("TEST_SMTP_URL names no valid port");
        TcpStream::connect((host, port_number))
            .unwrap_or_else(|err| panic!("TEST_SMTP_URL={url} is set but unreachable: {err}"));
        let dir = PathBuf::from(
            std::env::var("TEST_SMTP_SINK_DIR").expect("TEST_SMTP_URL needs TEST_SMTP_SINK_DIR"),
        );
        Some(Self {
            host: host.to_owned(),
            port: port.to_owned(),
            dir,
        })
    }

    /// The settings that send the server's mail here, unencrypted (the
    /// sink is on loopback).
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("APP__MAIL__TRANSPORT", "smtp".into()),
            ("APP__MAIL__SMTP_HOST", self.host.clone()),
            ("APP__MAIL__SMTP_PORT", self.port.clone()),
            ("APP__MAIL__SMTP_TLS", "none".into()),
            ("APP__MAIL__FROM", "Strata <noreply@strata.test>".into()),
            ("APP__APP__PUBLIC_URL", PUBLIC_URL.into()),
        ]
    }

    /// The messages the sink holds for `rcpt` whose subject is `subject`,
    /// oldest first.
    pub fn delivered(&self, rcpt: &str, subject: &str) -> Vec<Value> {
        let mut found: Vec<Value> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                // Complete records only: the sink renames them into place.
                (path.extension()? == "json").then_some(path)
            })
            .filter_map(|path| serde_json::from_slice::<Value>(&std::fs::read(path).ok()?).ok())
            .filter(|record| {
                record["subject"] == subject
                    && record["rcpt_tos"]
                        .as_array()
                        .is_some_and(|to| to.iter().any(|r| r == rcpt))
            })
            .collect();
        found.sort_by(|a, b| {
            let at = |r: &Value| r["received_at"].as_f64().unwrap_or_default();
            at(a).total_cmp(&at(b))
        });
        found
    }

    /// Waits (the `send_email` job runs in the background) until `count`
    /// such messages arrived, and returns them.
    pub async fn wait_for(&self, rcpt: &str, subject: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.delivered(rcpt, subject);
            if found.len() >= count || Instant::now() > deadline {
                assert_eq!(
                    found.len(),
                    count,
                    "{subject:?} mails to {rcpt}: {found:#?}"
                );
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The token a mailed link carries: the link must start with `prefix`
/// (`{PUBLIC_URL}/verify-email`, say) and hold the token in its fragment.
pub fn token_in(record: &Value, prefix: &str) -> String {
    let body = record["body"].as_str().expect("a plain-text body");
    let start = body
        .find(&format!("{prefix}#token="))
        .unwrap_or_else(|| panic!("no {prefix} link in {body}"));
    body[start..]
        .split_whitespace()
        .next()
        .and_then(|link| link.split_once("#token="))
        .map(|(_, token)| token.to_owned())
        .unwrap()
}
