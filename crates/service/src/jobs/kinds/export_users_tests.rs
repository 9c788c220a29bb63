#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use serde_json::json;
use strata_domain::files::MockFileStore;
use strata_domain::jobs::NewJob;
use strata_domain::users::{Email, MockUserRepository, Role, User, UserStats, Username};
use uuid::Uuid;

use super::*;
use crate::jobs::MockJobContext;
use crate::jobs::kinds::tests_support::job_from;

fn user(n: u128) -> User {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    User {
        id: Uuid::from_u128(n),
        email: Email::parse(&format!("u{n}@example.com")).unwrap(),
        username: Username::parse(&format!("user{n}")).unwrap(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified_at: None,
        created_at: at,
        updated_at: at,
    }
}

fn stats(total: u64) -> UserStats {
    UserStats {
        total,
        active: total,
        admins: 0,
        signups: Vec::new(),
    }
}

#[test]
fn csv_fields_are_quoted_only_when_needed_and_formulas_are_neutralised() {
    let field = |value: &str| {
        let mut out = String::new();
        push_csv_field(&mut out, value);
        out
    };
    assert_eq!(field("plain"), "plain");
    assert_eq!(field("a,b"), "\"a,b\"");
    assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    assert_eq!(field("@SUM(A1)"), "\"'@SUM(A1)\"");
}

#[test]
fn json_batches_join_into_one_array() {
    let format = ExportFormat::Json;
    let mut out = format.head().to_vec();
    out.extend(format.encode(&[user(1), user(2)], true).unwrap());
    out.extend(format.encode(&[user(3)], false).unwrap());
    out.extend(format.tail());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["username"], "user1");
    assert_eq!(rows[2]["role"], "user");
}

#[tokio::test]
async fn an_export_writes_every_batch_reports_progress_and_points_at_its_file() {
    let mut users = MockUserRepository::new();
    users.expect_stats().returning(|_| Ok(stats(2)));
    users
        .expect_export_batch()
        .times(1)
        .returning(|_, _| Ok(vec![user(1), user(2)]));
    let written = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut files = MockFileStore::new();
    let sink = written.clone();
    files.expect_put().times(1).returning(move |_, bytes| {
        *sink.lock().unwrap() = bytes;
        Ok(())
    });
    let sink = written.clone();
    files.expect_append().returning(move |_, bytes| {
        sink.lock().unwrap().extend(bytes);
        Ok(())
    });
    let mut ctx = MockJobContext::new();
    ctx.expect_progress()
        .withf(|percent, message| *percent == 99 && message == "2 of 2 accounts")
        .times(1)
        .returning(|_, _| Ok(()));

    let job = job_from(NewJob::new(KIND, json!({"format": "csv"}), 3, Utc::now()));
    let handler = ExportUsers::new(Arc::new(users), Arc::new(files));
    let result = handler.run(&job, &ctx).await.unwrap();

    let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
    assert!(text.starts_with(CSV_HEADER));
    assert_eq!(text.lines().count(), 3);
    assert_eq!(result["rows"], 2);
    assert_eq!(result["file"]["key"], format!("exports/{}.csv", job.id));
    assert_eq!(result["file"]["bytes"], text.len() as u64);
}

#[tokio::test]
async fn a_cancelled_export_removes_its_partial_file() {
    let mut users = MockUserRepository::new();
    users.expect_stats().returning(|_| Ok(stats(1)));
    users
        .expect_export_batch()
        .returning(|_, _| Ok(vec![user(1)]));
    let mut files = MockFileStore::new();
    files.expect_put().returning(|_, _| Ok(()));
    files.expect_append().returning(|_, _| Ok(()));
    files.expect_delete().times(1).returning(|_| Ok(()));
    let mut ctx = MockJobContext::new();
    ctx.expect_progress()
        .returning(|_, _| Err(JobError::Cancelled));

    let job = job_from(NewJob::new(KIND, json!({"format": "json"}), 3, Utc::now()));
    let handler = ExportUsers::new(Arc::new(users), Arc::new(files));
    assert!(matches!(
        handler.run(&job, &ctx).await,
        Err(JobError::Cancelled)
    ));
}

#[tokio::test]
async fn an_unknown_format_fails_for_good() {
    let handler = ExportUsers::new(
        Arc::new(MockUserRepository::new()),
        Arc::new(MockFileStore::new()),
    );
    let job = job_from(NewJob::new(KIND, json!({"format": "xml"}), 3, Utc::now()));
    assert!(matches!(
        handler.run(&job, &MockJobContext::new()).await,
        Err(JobError::Permanent(_))
    ));
}
