//! What `deploy/` promises, checked offline: the Dockerfile names a user, paths
//! and subcommands that the release build really has (the image itself
//! cannot be built here: no registry for base images), `strata healthcheck`
//! answers for a server started as the image starts it, and, with
//! `TEST_DEPLOY_TOOLS=1` (set by `.ci/run`, which installs nginx), nginx and
//! systemd accept the configuration and units as written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_strata");

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap()
}

/// The instructions of a Dockerfile, continuation lines joined.
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    dockerfile
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (op, rest) = line.split_once(' ')?;
            Some((op.to_uppercase(), rest.trim().to_owned()))
        })
        .collect()
}

fn strata(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn the_dockerfile_names_what_the_release_build_has() {
    let steps = instructions(&read("Dockerfile"));
    let all = |op: &str| -> Vec<String> {
        steps
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, rest)| rest.clone())
            .collect()
    };
    // Build and run on the same Debian release (glibc).
    let from = all("FROM");
    assert_eq!(from.len(), 2, "{from:?}");
    assert!(from[0].contains("-bookworm"), "{}", from[0]);
    assert!(from[1].contains("debian12"), "{}", from[1]);

    // A non-root user, who owns the writable data directory.
    assert_eq!(all("USER"), vec!["65532:65532"]);
    assert!(
        all("COPY")
            .iter()
            .any(|c| c.contains("--chown=65532:65532") && c.ends_with("/app/data")),
        "{:?}",
        all("COPY")
    );
    // ... which is where the default SQLite file lives, relative to WORKDIR.
    assert_eq!(all("WORKDIR").last().map(String::as_str), Some("/app"));
    let defaults = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml"),
    )
    .unwrap();
    assert!(defaults.contains(r#"url = "sqlite://data/strata.db?mode=rwc""#));
    assert!(defaults.contains(r#"dir = "data/files""#));

    // Every subcommand the image runs exists, without a shell.
    let entry = all("ENTRYPOINT");
    assert_eq!(entry, vec![r#"["/usr/local/bin/strata"]"#]);
    assert_eq!(all("CMD"), vec![r#"["serve"]"#]);
    let health = all("HEALTHCHECK");
    assert!(
        health[0].ends_with(r#"CMD ["/usr/local/bin/strata", "healthcheck"]"#),
        "{health:?}"
    );
    for sub in ["serve", "healthcheck", "migrate"] {
        let out = strata(&[sub, "--help"]);
        assert!(out.status.success(), "strata {sub} --help: {out:?}");
    }
    assert!(all("ENV").iter().any(|e| e.contains("PORT=8080")));
    assert!(all("ENV").iter().any(|e| e.contains("APP_ENV=production")));
}

/// Kills the server when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn production<'a>(command: &'a mut Command, db: &str, port: u16) -> &'a mut Command {
    command
        .env("APP_ENV", "production")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", db)
        .env("JWT_SECRET", "a-test-secret-of-at-least-thirty-two-bytes!")
        .env("APP__LOG__LEVEL", "error")
        .env("APP__JOBS__WORKERS", "0")
}

fn healthcheck(db: &str, port: u16, ready: bool) -> bool {
    let mut command = Command::new(BIN);
    command.arg("healthcheck");
    if ready {
        command.arg("--ready");
    }
    production(&mut command, db, port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn healthcheck_passes_for_a_server_started_as_the_image_starts_it_and_fails_without() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Nothing listens yet.
    assert!(!healthcheck(&db, port, false));

    // The release step, then the server (production never migrates at start).
    let migrated = production(Command::new(BIN).args(["migrate", "up"]), &db, port)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let server = Server(
        production(&mut Command::new(BIN), &db, port)
            .arg("serve")
            .env("APP__STORAGE__DIR", dir.path().join("files"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while !healthcheck(&db, port, false) {
        assert!(start.elapsed() < Duration::from_secs(20), "never healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(healthcheck(&db, port, true), "ready");
    drop(server);
    assert!(!healthcheck(&db, port, false), "healthy after the kill");
}

/// `nginx -t` on the shipped configuration inside a throw-away main file.
#[test]
fn nginx_and_systemd_accept_the_shipped_files() {
    if std::env::var("TEST_DEPLOY_TOOLS").as_deref() != Ok("1") {
        eprintln!("TEST_DEPLOY_TOOLS is not 1: nginx and systemd-analyze checks run in CI");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().display();
    let main = format!(
        "pid {p}/nginx.pid;\nerror_log {p}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n    \
         client_body_temp_path {p}/body;\n    proxy_temp_path {p}/proxy;\n    include {};\n}}\n",
        deploy("nginx/strata.conf").display()
    );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    let out = Command::new("nginx")
        .args(["-t", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .expect("nginx is installed when TEST_DEPLOY_TOOLS=1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // systemd-analyze wants instance names for templates; the binary's
    // absence (it is installed by the operator) is the only complaint allowed.
    for (unit, as_name) in [
        ("strata@.service", "strata@8081.service"),
        ("strata-worker@.service", "strata-worker@1.service"),
        ("strata-migrate.service", "strata-migrate.service"),
    ] {
        let path = dir.path().join(as_name);
        std::fs::copy(deploy(&format!("systemd/{unit}")), &path).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .expect("systemd-analyze is installed when TEST_DEPLOY_TOOLS=1");
        let complaints: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.contains("/usr/local/bin/strata is not executable"))
            .map(str::to_owned)
            .collect();
        assert!(complaints.is_empty(), "{unit}: {complaints:?}");
    }
}

/// `strata backup` copies a live SQLite database to a new file, never over
/// an existing one, and sends PostgreSQL users to their own tools.
#[test]
fn backup_copies_the_sqlite_database_and_overwrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let run = |args: &[&str], url: &str| {
        Command::new(BIN)
            .args(args)
            .env("APP_ENV", "test")
            .env("DATABASE_URL", url)
            .env("STRATA_ADMIN_PASSWORD", "Secret123")
            .output()
            .unwrap()
    };
    assert!(run(&["migrate", "up"], &db).status.success());
    let admin = [
        "create-admin",
        "--email",
        "a@example.com",
        "--username",
        "admin",
    ];
    assert!(run(&admin, &db).status.success());

    let copy = dir.path().join("copy.db");
    let out = run(&["backup", copy.to_str().unwrap()], &db);
    assert!(out.status.success(), "{out:?}");
    // The copy is a database of its own, with the account in it.
    let copy_url = format!("sqlite://{}", copy.display());
    let out = run(&["migrate", "status"], &copy_url);
    assert!(out.status.success(), "{out:?}");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(!status.contains("Pending"), "{status}");
    let bytes = std::fs::read(&copy).unwrap();
    assert!(bytes.windows(13).any(|w| w == b"a@example.com"));

    let again = run(&["backup", copy.to_str().unwrap()], &db);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    if let Ok(postgres) = std::env::var("TEST_POSTGRES_URL") {
        let refused = run(&["backup", "x.db"], &postgres);
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"));
    }
}
