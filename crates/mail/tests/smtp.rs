//! `SmtpMailer` against a real SMTP server: `tests/smtp_sink.py` (aiosmtpd),
//! started by `.ci/smtp-sink.sh`, which prints `TEST_SMTP_URL` and
//! `TEST_SMTP_SINK_DIR`. Without `TEST_SMTP_URL` the tests that need the
//! server print a note and pass; with it, an unreachable server fails them.
//! The tests without a server (refused connection, invalid recipient,
//! dropping outside a runtime) always run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_mail::{SmtpMailer, SmtpSettings, Tls};
use strata_service::mail::{Email, MailError, Mailer};
use uuid::Uuid;

const SINK_LOGIN: &str = "strata";
const SINK_PASSWORD: &str = "sink-secret";

/// The running sink, or `None` (after a note) when `TEST_SMTP_URL` is unset.
struct Sink {
    host: String,
    port: u16,
    dir: PathBuf,
}

fn sink(test: &str) -> Option<Sink> {
    let Ok(url) = std::env::var("TEST_SMTP_URL") else {
        eprintln!("{test}: skipped, TEST_SMTP_URL is not set (see .ci/smtp-sink.sh)");
        return None;
    };
    let authority = url
        .strip_prefix("smtp://")
        .unwrap_or_else(|| panic!("TEST_SMTP_URL must look like smtp://host:port, got {url:?}"))
        .trim_end_matches('/');
    let (host, port) = authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("TEST_SMTP_URL must name a port, got {url:?}"));
    let port: u16 = port
        .parse()
        .unwrap_or_else(|_| panic!("TEST_SMTP_URL has no valid port: {url:?}"));
    // Fail here, with a clear message, rather than as a puzzling Transient.
    TcpStream::connect((host, port))
        .unwrap_or_else(|err| panic!("TEST_SMTP_URL={url} is set but unreachable: {err}"));
    let dir = std::env::var("TEST_SMTP_SINK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            panic!("TEST_SMTP_URL is set, so TEST_SMTP_SINK_DIR must name the sink's directory")
        });
    assert!(
        dir.is_dir(),
        "TEST_SMTP_SINK_DIR={} is not a directory",
        dir.display()
    );
    Some(Sink {
        host: host.to_owned(),
        port,
        dir,
    })
}

impl Sink {
    fn settings(&self) -> SmtpSettings {
        settings(&self.host, self.port)
    }

    fn mailer(&self) -> SmtpMailer {
        SmtpMailer::new(self.settings()).unwrap()
    }

    /// The records of the messages the sink accepted for `rcpt`.
    fn delivered_to(&self, rcpt: &str) -> Vec<Value> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            // Only renamed, complete records (the sink writes `.…json.tmp` first).
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            let to_rcpt = record["rcpt_tos"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == rcpt);
            if to_rcpt {
                found.push(record);
            }
        }
        found.sort_by(|a, b| {
            a["received_at"]
                .as_f64()
                .partial_cmp(&b["received_at"].as_f64())
                .unwrap()
        });
        found
    }

    /// Waits briefly for `count` messages to `rcpt`. The sink stores a
    /// message before it answers DATA, so they are normally there at once.
    fn wait_for(&self, rcpt: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found = self.delivered_to(rcpt);
            if found.len() >= count || Instant::now() > deadline {
                assert_eq!(
                    found.len(),
                    count,
                    "messages to {rcpt} in the sink: {found:#?}"
                );
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn settings(host: &str, port: u16) -> SmtpSettings {
    SmtpSettings {
        host: host.to_owned(),
        port,
        username: None,
        password: None,
        tls: Tls::None,
        from: "Strata <noreply@strata.test>".to_owned(),
        timeout_secs: 5,
    }
}

/// A recipient no other test (or earlier run against the same sink) uses.
fn unique_rcpt(domain: &str) -> String {
    format!("user-{}@{domain}", Uuid::new_v4().simple())
}

fn email(to: &str) -> Email {
    Email {
        to: to.to_owned(),
        subject: "Grüße aus Strata ✓".to_owned(),
        // A lone "." line would end the DATA phase if it were not escaped.
        text: "Grüße, Ada!\n\nConfirm: https://strata.test/confirm?token=abc\n.\nThe end.\n"
            .to_owned(),
        html: None,
    }
}

/// The delivered body without its final line breaks: lettre ends DATA with
/// CRLF.CRLF even after a body that already ends in a line break, so the
/// server sees one more (empty) line than was written.
fn body(record: &Value) -> &str {
    record["body"].as_str().unwrap().trim_end_matches('\n')
}

/// A port on which nothing listens (bound, then released).
fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn delivers_a_utf8_plain_text_message() {
    let Some(sink) = sink("delivers_a_utf8_plain_text_message") else {
        return;
    };
    let to = unique_rcpt("example.com");
    let sent = email(&to);
    sink.mailer().send(&sent).await.unwrap();

    let records = sink.wait_for(&to, 1);
    let record = &records[0];
    assert_eq!(record["mail_from"], "noreply@strata.test");
    assert_eq!(record["rcpt_tos"], serde_json::json!([to]));
    assert_eq!(record["from"], "Strata <noreply@strata.test>");
    assert_eq!(record["to"], to);
    assert_eq!(record["subject"], sent.subject);
    assert_eq!(record["content_type"], "text/plain");
    assert_eq!(record["charset"], "utf-8");
    assert_eq!(body(record), sent.text.trim_end_matches('\n'));
    assert_eq!(record["authenticated"], false);
}

#[tokio::test]
async fn a_message_with_html_goes_as_multipart_alternative_with_the_text_kept() {
    let Some(sink) = sink("a_message_with_html_goes_as_multipart_alternative") else {
        return;
    };
    let to = unique_rcpt("example.com");
    let sent = Email {
        html: Some("<p>Grüße, <a href=\"https://strata.test/x\">Ada</a>!</p>".to_owned()),
        ..email(&to)
    };
    sink.mailer().send(&sent).await.unwrap();

    let records = sink.wait_for(&to, 1);
    assert_eq!(records[0]["content_type"], "multipart/alternative");
    // The sink reads the plain part, as a text-only client would.
    assert_eq!(body(&records[0]), sent.text.trim_end_matches('\n'));
}

#[tokio::test]
async fn a_subject_cannot_add_headers() {
    let Some(sink) = sink("a_subject_cannot_add_headers") else {
        return;
    };
    let to = unique_rcpt("example.com");
    let extra = unique_rcpt("example.com");
    let sent = Email {
        subject: format!("Hello\r\nBcc: {extra}\r\nX-Injected: yes"),
        ..email(&to)
    };
    sink.mailer().send(&sent).await.unwrap();

    let records = sink.wait_for(&to, 1);
    let headers = records[0]["headers"].as_array().unwrap();
    let names: Vec<&str> = headers.iter().map(|h| h[0].as_str().unwrap()).collect();
    assert!(
        !names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("bcc") || n.eq_ignore_ascii_case("x-injected")),
        "{headers:#?}"
    );
    assert_eq!(records[0]["rcpt_tos"], serde_json::json!([to]));
    // One line, as written but for the line breaks.
    assert_eq!(
        records[0]["subject"],
        format!("Hello  Bcc: {extra}  X-Injected: yes")
    );
    assert!(sink.delivered_to(&extra).is_empty());
}

#[tokio::test]
async fn reuses_the_pooled_connection() {
    let Some(sink) = sink("reuses_the_pooled_connection") else {
        return;
    };
    let mailer = sink.mailer();
    let to = unique_rcpt("example.com");
    mailer.send(&email(&to)).await.unwrap();
    // lettre parks the connection from a task of its own once a send is
    // done; give that task its turn before the next send.
    tokio::time::sleep(Duration::from_millis(200)).await;
    mailer.send(&email(&to)).await.unwrap();

    let records = sink.wait_for(&to, 2);
    // One client port: the second message went over the first connection.
    assert_eq!(records[0]["peer"], records[1]["peer"], "{records:#?}");
}

#[tokio::test]
async fn a_5xx_rejection_is_permanent_and_the_connection_recovers() {
    let Some(sink) = sink("a_5xx_rejection_is_permanent_and_the_connection_recovers") else {
        return;
    };
    let mailer = sink.mailer();
    let rejected = unique_rcpt("reject.invalid");
    let err = mailer.send(&email(&rejected)).await.unwrap_err();
    let MailError::Permanent(reason) = &err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(reason.contains("550"), "{reason}");
    assert!(sink.delivered_to(&rejected).is_empty());

    // The aborted transaction does not poison the pool for the next message.
    let to = unique_rcpt("example.com");
    mailer.send(&email(&to)).await.unwrap();
    sink.wait_for(&to, 1);
}

#[tokio::test]
async fn a_4xx_deferral_is_transient() {
    let Some(sink) = sink("a_4xx_deferral_is_transient") else {
        return;
    };
    let deferred = unique_rcpt("defer.invalid");
    let err = sink.mailer().send(&email(&deferred)).await.unwrap_err();
    let MailError::Transient(reason) = &err else {
        panic!("expected Transient, got {err:?}");
    };
    assert!(reason.contains("451"), "{reason}");
}

#[tokio::test]
async fn authenticates_with_credentials() {
    let Some(sink) = sink("authenticates_with_credentials") else {
        return;
    };
    let mailer = SmtpMailer::new(SmtpSettings {
        username: Some(SINK_LOGIN.to_owned()),
        password: Some(SINK_PASSWORD.to_owned()),
        ..sink.settings()
    })
    .unwrap();
    let to = unique_rcpt("example.com");
    mailer.send(&email(&to)).await.unwrap();

    let records = sink.wait_for(&to, 1);
    assert_eq!(records[0]["authenticated"], true);
    assert_eq!(records[0]["login"], SINK_LOGIN);
}

#[tokio::test]
async fn a_refused_login_is_permanent_and_never_shows_the_password() {
    let Some(sink) = sink("a_refused_login_is_permanent_and_never_shows_the_password") else {
        return;
    };
    let password = "wrong-Pa55word-7f3c";
    let mailer = SmtpMailer::new(SmtpSettings {
        username: Some(SINK_LOGIN.to_owned()),
        password: Some(password.to_owned()),
        ..sink.settings()
    })
    .unwrap();
    let to = unique_rcpt("example.com");
    let err = mailer.send(&email(&to)).await.unwrap_err();
    let MailError::Permanent(reason) = &err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(reason.contains("535"), "{reason}");
    // The sink echoes the password in its reply, as a careless server might.
    assert!(!err.to_string().contains(password), "{err}");
    assert!(!format!("{err:?}").contains(password), "{err:?}");
    assert!(sink.delivered_to(&to).is_empty());
}

#[tokio::test]
async fn starttls_never_falls_back_to_plain_text() {
    let Some(sink) = sink("starttls_never_falls_back_to_plain_text") else {
        return;
    };
    // The sink offers no STARTTLS: the message must not go in the clear.
    let mailer = SmtpMailer::new(SmtpSettings {
        tls: Tls::StartTls,
        ..sink.settings()
    })
    .unwrap();
    let to = unique_rcpt("example.com");
    let err = mailer.send(&email(&to)).await.unwrap_err();
    assert!(matches!(err, MailError::Transient(_)), "{err:?}");
    assert!(sink.delivered_to(&to).is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let mailer = SmtpMailer::new(settings("127.0.0.1", unused_port())).unwrap();
    let err = mailer.send(&email("ada@example.com")).await.unwrap_err();
    let MailError::Transient(reason) = &err else {
        panic!("expected Transient, got {err:?}");
    };
    assert!(reason.contains("127.0.0.1"), "{reason}");
}

#[tokio::test]
async fn an_invalid_recipient_is_permanent_without_connecting() {
    // Were it to connect, the refused connection would make it Transient.
    let mailer = SmtpMailer::new(settings("127.0.0.1", unused_port())).unwrap();
    for to in [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example.com\r\nRCPT TO:<eve@example.com>",
    ] {
        let err = mailer.send(&email(to)).await.unwrap_err();
        assert!(matches!(err, MailError::Permanent(_)), "{to:?}: {err:?}");
    }
}

#[test]
fn dropping_outside_a_runtime_does_not_panic() {
    let mailer = SmtpMailer::new(settings("127.0.0.1", unused_port())).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The first send creates the pool (and its tokio task) inside the runtime.
    let result = runtime.block_on(mailer.send(&email("ada@example.com")));
    assert!(matches!(result, Err(MailError::Transient(_))), "{result:?}");
    drop(runtime);
    drop(mailer);
}
