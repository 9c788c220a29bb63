//! The `strata` binary as an operator runs it: a real process, real signals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::zombie_processes)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_strata");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn command(db: &Path, port: u16) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "test")
        .env(
            "APP_CONFIG_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config"),
        )
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db.display()),
        )
        .env("PORT", port.to_string())
        .env("APP__SERVER__WORKERS", "1");
    cmd
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &Path) -> Self {
        let port = free_port();
        let child = command(db, port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if get(&format!("{base}/health")).is_some_and(|(status, _)| status == 200) {
                return Self { child, base };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("strata did not start on port {port}");
    }

    fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP client (curl), to keep this test free of an async runtime.
fn curl(args: &[&str]) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n')?;
    Some((status.trim().parse().ok()?, body.to_owned()))
}

fn get(url: &str) -> Option<(u16, String)> {
    curl(&[url])
}

fn post(url: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("authorization: Bearer {t}"));
    let mut args = vec!["-X", "POST", "-H", "content-type: application/json"];
    let body = body.to_string();
    args.extend(["-d", &body]);
    if let Some(auth) = &auth {
        args.extend(["-H", auth]);
    }
    args.push(url);
    let (status, text) = curl(&args).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn bearer_get(url: &str, token: &str) -> u16 {
    curl(&["-H", &format!("authorization: Bearer {token}"), url])
        .unwrap()
        .0
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

#[test]
fn a_sigkill_right_after_a_201_loses_nothing_and_revocations_stay() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("strata.db");
    let server = Server::start(&db);
    let user = json!({"email": "kill@example.com", "username": "killme", "password": "Secret123"});
    let (status, body) = post(
        &format!("{}/api/v1/auth/register", server.base),
        &user,
        None,
    );
    assert_eq!(status, 201);
    let revoked = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = post(
        &format!("{}/api/v1/auth/logout", server.base),
        &json!({}),
        Some(&revoked),
    );
    assert_eq!(status, 204);
    let (status, _) = post(
        &format!("{}/api/v1/auth/register", server.base),
        &json!({"email": "last@example.com", "username": "lastone", "password": "Secret123"}),
        None,
    );
    assert_eq!(status, 201);
    server.sigkill();

    let server = Server::start(&db);
    let login = |name: &str| {
        post(
            &format!("{}/api/v1/auth/login", server.base),
            &json!({"username": name, "password": "Secret123"}),
            None,
        )
        .0
    };
    assert_eq!(login("killme"), 200);
    assert_eq!(
        login("lastone"),
        200,
        "the write acknowledged just before SIGKILL survived"
    );
    assert_eq!(
        bearer_get(&format!("{}/api/v1/users/me", server.base), &revoked),
        401
    );
}

#[test]
fn sigterm_and_sigint_drain_in_flight_requests_then_exit() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start(&dir.path().join("strata.db"));
        let address = server.base.trim_start_matches("http://").to_owned();
        // A login whose body is only half sent when the signal arrives.
        let body = br#"{"username":"nobody","password":"Secret123"}"#;
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..10]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let pid = server.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        std::thread::sleep(Duration::from_millis(300));
        stream.write_all(&body[10..]).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{signal}: the in-flight request was answered: {answer}"
        );

        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                assert!(status.success(), "{signal}: exit status {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{signal}: still running 15 s after the signal"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn production_without_a_secret_refuses_to_start_and_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(command(&dir.path().join("x.db"), free_port()).env("APP_ENV", "production"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    let out = run(command(&dir.path().join("x.db"), free_port())
        .env("APP_ENV", "production")
        .env("JWT_SECRET", "too-short"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
}

#[test]
fn openapi_prints_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(command(&dir.path().join("x.db"), 0).arg("openapi"));
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/v1/auth/refresh"]["post"].is_object());
}

#[test]
fn migrate_and_create_admin_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("strata.db");
    let out = run(command(&db, 0).args(["migrate", "up"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(command(&db, 0).args(["migrate", "status"]));
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.lines().count() >= 8 && status.lines().all(|l| l.starts_with("Applied")),
        "every migration is applied: {status}"
    );

    let admin = || {
        let mut cmd = command(&db, 0);
        cmd.args([
            "create-admin",
            "--email",
            "root@example.com",
            "--username",
            "root",
        ]);
        cmd
    };
    let out = run(admin().env("STRATA_ADMIN_PASSWORD", "weak"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
    let out = run(admin().env("STRATA_ADMIN_PASSWORD", "Admin12345"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(admin().env("STRATA_ADMIN_PASSWORD", "Admin12345"));
    assert!(
        !out.status.success(),
        "a second admin with the same e-mail is refused"
    );

    let server = Server::start(&db);
    let (status, body) = post(
        &format!("{}/api/v1/auth/login", server.base),
        &json!({"username": "root", "password": "Admin12345"}),
        None,
    );
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap();
    let (_, me) = curl(&[
        "-H",
        &format!("authorization: Bearer {token}"),
        &format!("{}/api/v1/users/me", server.base),
    ])
    .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&me).unwrap()["role"], "admin");
}
