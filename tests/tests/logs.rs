//! What reaches the log. This binary owns the process-wide subscriber, so it
//! can capture everything the server writes while a client logs in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use strata_tests::{Backend, TestApp, TestUser, Tokens};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn passwords_tokens_and_authorization_headers_never_reach_the_log() {
    let capture = Capture::default();
    // Everything down to debug, as JSON, as production ships it.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter("debug")
        .with_writer(capture.clone())
        .try_init()
        .unwrap();

    let app = TestApp::spawn_with(&Backend::Sqlite, &[("APP__RATE_LIMIT__ENABLED", "true")]).await;
    let user = TestUser::generate();
    let registered = app.registered(&user).await;
    let login: Value = app
        .login(&user.email, &user.password)
        .await
        .json()
        .await
        .unwrap();
    let tokens = Tokens::from(&login);
    let refreshed: Value = app.refresh(&tokens.refresh).await.json().await.unwrap();
    app.refresh(&tokens.refresh).await; // reuse: logged as a warning, without the token
    app.get("/api/v1/users/me", Some(&registered.access)).await;
    app.post_json("/api/v1/auth/logout", &json!({}), Some(&registered.access))
        .await;
    app.login(&user.username, "Wrong-Password-1").await;

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("\"request_id\""),
        "the access log was captured:\n{log}"
    );
    assert!(
        log.contains("refresh token reuse detected"),
        "security events are logged:\n{log}"
    );
    let secrets = [
        user.password.clone(),
        "Wrong-Password-1".to_owned(),
        registered.access.clone(),
        registered.refresh.clone(),
        tokens.access.clone(),
        tokens.refresh.clone(),
        refreshed["access_token"].as_str().unwrap().to_owned(),
        refreshed["refresh_token"].as_str().unwrap().to_owned(),
    ];
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret reached the log");
    }
    assert!(
        !log.to_lowercase().contains("bearer ey"),
        "an Authorization header reached the log"
    );
}
