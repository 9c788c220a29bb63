#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::json;
use strata_domain::files::MockFileStore;
use strata_domain::items::MockItemRepository;
use strata_domain::jobs::NewJob;

use super::*;
use crate::jobs::MockJobContext;
use crate::jobs::kinds::tests_support::job_from;

const FILE: &str = "title,description\r\nMilk,two litres\r\n,no title\r\n\"Eggs\",\"a dozen,\nfree range\"\r\nonly one cell\r\nBread,\r\n";

#[test]
fn uploads_must_be_utf8_with_the_header_row() {
    assert!(check_upload(FILE.as_bytes()).is_ok());
    assert!(check_upload(b"title, description\nx,y\n").is_ok());
    assert!(check_upload(b"name,description\nx,y\n").is_err());
    assert!(check_upload(b"title\nx\n").is_err());
    assert!(check_upload(&[0xff, 0xfe, b'a']).is_err());
    assert!(check_upload(b"").is_err());
}

#[test]
fn rows_are_numbered_by_their_line_in_the_file() {
    let rows = parse(FILE.as_bytes()).unwrap();
    let lines: Vec<(u64, bool)> = rows
        .iter()
        .map(|row| match row {
            Row::Item { line, .. } => (*line, true),
            Row::Rejected { line, .. } => (*line, false),
        })
        .collect();
    // The quoted cell spans lines 4 and 5; the header is line 1.
    assert_eq!(
        lines,
        vec![(2, true), (3, false), (4, true), (6, false), (7, true)]
    );
    match &rows[1] {
        Row::Rejected { reason, .. } => assert!(reason.starts_with("title"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn line_numbers_are_the_same_for_lf_and_crlf_files() {
    let lines = |file: &str| -> Vec<u64> {
        parse(file.as_bytes())
            .unwrap()
            .iter()
            .map(|row| match row {
                Row::Item { line, .. } | Row::Rejected { line, .. } => *line,
            })
            .collect()
    };
    assert_eq!(lines(FILE), lines(&FILE.replace("\r\n", "\n")));
    assert_eq!(lines(&format!("\u{feff}{FILE}")), lines(FILE));
}

#[test]
fn item_ids_depend_only_on_job_and_line() {
    let job = job_from(NewJob::new(KIND, json!({}), 3, Utc::now()));
    let other = job_from(NewJob::new(KIND, json!({}), 3, Utc::now()));
    assert_eq!(item_id(&job, 2), item_id(&job, 2));
    assert_ne!(item_id(&job, 2), item_id(&job, 3));
    assert_ne!(item_id(&job, 2), item_id(&other, 2));
    assert_eq!(item_id(&job, 2).get_version_num(), 7);
}

#[tokio::test]
async fn an_import_creates_the_good_rows_and_reports_the_bad_ones() {
    let owner = uuid::Uuid::now_v7();
    let job = job_from(NewJob::new(
        KIND,
        json!({"file": "imports/a.csv", "owner_id": owner}),
        3,
        Utc::now(),
    ));
    let mut files = MockFileStore::new();
    files.expect_size().returning(|_| Ok(FILE.len() as u64));
    files
        .expect_read()
        .returning(|_, _, _| Ok(FILE.as_bytes().to_vec()));
    let created = Arc::new(Mutex::new(Vec::new()));
    let sink = created.clone();
    let mut items = MockItemRepository::new();
    items
        .expect_create_batch()
        .times(1)
        .returning(move |batch| {
            let n = batch.len() as u64;
            sink.lock().unwrap().extend(batch);
            Ok(n)
        });
    let mut ctx = MockJobContext::new();
    ctx.expect_progress().returning(|_, _| Ok(()));

    let result = ImportItems::new(Arc::new(items), Arc::new(files))
        .run(&job, &ctx)
        .await
        .unwrap();

    assert_eq!(result["rows"], 5);
    assert_eq!(result["imported"], 3);
    assert_eq!(result["rejected_count"], 2);
    assert_eq!(result["rejected"][0]["line"], 3);
    assert_eq!(result["rejected"][1]["line"], 6);
    let created = created.lock().unwrap();
    assert!(created.iter().all(|item| item.owner_id == owner));
    assert_eq!(
        created[1].description.as_ref().unwrap().as_str(),
        "a dozen,\nfree range"
    );
    assert!(created[2].description.is_none());
    assert_eq!(created[0].id, item_id(&job, 2));
}

#[tokio::test]
async fn a_missing_upload_fails_for_good() {
    let job = job_from(NewJob::new(
        KIND,
        json!({"file": "imports/gone.csv", "owner_id": uuid::Uuid::now_v7()}),
        3,
        Utc::now(),
    ));
    let mut files = MockFileStore::new();
    files
        .expect_size()
        .returning(|_| Err(strata_domain::files::FileError::NotFound));
    let handler = ImportItems::new(Arc::new(MockItemRepository::new()), Arc::new(files));
    assert!(matches!(
        handler.run(&job, &MockJobContext::new()).await,
        Err(JobError::Permanent(_))
    ));
}
