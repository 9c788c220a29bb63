//! `import_items`: a CSV upload (`title,description` after a header row)
//! becomes the uploader's items, in batches, with a report of the rows it
//! refused. Each item's id is derived from the job and the row's line, so an
//! attempt repeated after a crash inserts nothing twice.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use strata_domain::ValidationErrors;
use strata_domain::files::{FileKey, FileStore};
use strata_domain::items::{Description, ItemRepository, NewItem, Title};
use strata_domain::jobs::Job;
use strata_domain::validation::Violation;
use uuid::Uuid;

use crate::ServiceError;
use crate::jobs::{JobContext, JobError, JobHandler};

pub const KIND: &str = "import_items";
/// Items inserted per transaction.
const BATCH: usize = 500;
/// Refused rows listed in the result; the count covers all of them.
const REJECTED_LISTED: usize = 1000;
const HEADER: [&str; 2] = ["title", "description"];

/// Where an import's upload is kept until the job is purged.
///
/// # Errors
/// Never for a UUID; the key shape is checked all the same.
pub fn upload_key(job: Uuid) -> Result<FileKey, ServiceError> {
    FileKey::parse(&format!("imports/{job}.csv"))
        .map_err(|err| ServiceError::internal("Invalid upload key", err))
}

fn body_error(message: &str) -> ServiceError {
    ServiceError::Validation(ValidationErrors::single(
        "body",
        Violation::new("format", message),
    ))
}

/// Checks what can be checked before queueing: UTF-8 and the header row.
///
/// # Errors
/// [`ServiceError::Validation`] on field `body`.
pub fn check_upload(csv: &[u8]) -> Result<(), ServiceError> {
    let text = std::str::from_utf8(csv).map_err(|_| body_error("the file is not UTF-8"))?;
    let mut reader = reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|err| body_error(&format!("unreadable header row: {err}")))?;
    if header.iter().map(str::trim).ne(HEADER) {
        return Err(body_error("the header row must be `title,description`"));
    }
    Ok(())
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        // A row with too few or too many cells is reported, not fatal.
        .flexible(true)
        .from_reader(bytes)
}

/// A row checked: the item, or why it was refused.
#[derive(Debug, PartialEq)]
pub(crate) enum Row {
    Item {
        line: u64,
        title: Title,
        description: Option<Description>,
    },
    Rejected {
        line: u64,
        reason: String,
    },
}

/// The 1-based line of `text` on which the record at `position` starts,
/// counted from its byte offset: the reader's own line count differs between
/// LF and CRLF files. After a CRLF the offset points at the `\n`, so line
/// breaks at the offset are skipped (a record never starts with one: blank
/// lines are not records).
struct Lines<'a> {
    text: &'a [u8],
    /// Where the last count stopped, and the line there: records come in
    /// file order, so each byte is counted once (a count from the start for
    /// every record made a large import quadratic).
    counted_to: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            counted_to: 0,
            line: 1,
        }
    }

    fn of(&mut self, position: &csv::Position) -> u64 {
        let mut start = usize::try_from(position.byte())
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while self
            .text
            .get(start)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            start += 1;
        }
        if start > self.counted_to {
            let newlines = self.text[self.counted_to..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.line += newlines as u64;
            self.counted_to = start;
        }
        self.line
    }
}

/// Reads every row after the header. CPU work: run it off the executor.
pub(crate) fn parse(csv: &[u8]) -> Result<Vec<Row>, JobError> {
    let text = std::str::from_utf8(csv)
        .map_err(|_| JobError::Permanent("the file is not UTF-8".into()))?;
    let bom_free = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = reader(bom_free.as_bytes());
    let mut rows = Vec::new();
    let mut lines = Lines::new(bom_free);
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                let line = err.position().map_or(0, |p| lines.of(p));
                rows.push(Row::Rejected {
                    line,
                    reason: format!("unreadable row: {err}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.of(p));
        if record.len() != HEADER.len() {
            rows.push(Row::Rejected {
                line,
                reason: format!("expected 2 cells, found {}", record.len()),
            });
            continue;
        }
        let title = Title::parse(&record[0]);
        let description = match &record[1] {
            "" => Ok(None),
            raw => Description::parse(raw).map(Some),
        };
        rows.push(match (title, description) {
            (Ok(title), Ok(description)) => Row::Item {
                line,
                title,
                description,
            },
            (Err(violation), _) => Row::Rejected {
                line,
                reason: format!("title: {}", violation.message),
            },
            (_, Err(violation)) => Row::Rejected {
                line,
                reason: format!("description: {}", violation.message),
            },
        });
    }
    Ok(rows)
}

/// The id of the item from `line` of `job`'s file: a UUIDv7 stamped with the
/// job's creation time, its random bits taken from a hash of job and line.
pub(crate) fn item_id(job: &Job, line: u64) -> Uuid {
    let digest = Sha256::new()
        .chain_update(job.id.as_bytes())
        .chain_update(line.to_be_bytes())
        .finalize();
    let mut random = [0_u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(job.created_at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

pub struct ImportItems {
    items: Arc<dyn ItemRepository>,
    files: Arc<dyn FileStore>,
}

impl std::fmt::Debug for ImportItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportItems").finish_non_exhaustive()
    }
}

impl ImportItems {
    pub fn new(items: Arc<dyn ItemRepository>, files: Arc<dyn FileStore>) -> Self {
        Self { items, files }
    }
}

fn payload(job: &Job) -> Result<(FileKey, Uuid), JobError> {
    let bad = || JobError::Permanent("the payload names no upload and owner".into());
    let file = job
        .payload
        .get("file")
        .and_then(Value::as_str)
        .ok_or_else(bad)?;
    let owner = job
        .payload
        .get("owner_id")
        .and_then(Value::as_str)
        .and_then(|raw| Uuid::parse_str(raw).ok())
        .ok_or_else(bad)?;
    Ok((FileKey::parse(file)?, owner))
}

#[async_trait]
impl JobHandler for ImportItems {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, job: &Job, ctx: &dyn JobContext) -> Result<Value, JobError> {
        let (key, owner_id) = payload(job)?;
        let size = self.files.size(&key).await?;
        let bytes = self
            .files
            .read(&key, 0, usize::try_from(size).unwrap_or(usize::MAX))
            .await?;
        let rows = tokio::task::spawn_blocking(move || parse(&bytes))
            .await
            .map_err(|err| JobError::Retry(format!("parsing task failed: {err}")))??;
        let total = rows.len();
        let mut rejected = Vec::new();
        let mut rejected_count = 0_usize;
        let mut imported = 0_usize;
        let mut batch = Vec::with_capacity(BATCH);
        for (done, row) in rows.into_iter().enumerate() {
            match row {
                Row::Item {
                    line,
                    title,
                    description,
                } => batch.push(NewItem {
                    id: item_id(job, line),
                    title,
                    description,
                    owner_id,
                    created_at: job.created_at,
                }),
                Row::Rejected { line, reason } => {
                    rejected_count += 1;
                    if rejected.len() < REJECTED_LISTED {
                        rejected.push(json!({ "line": line, "reason": reason }));
                    }
                }
            }
            let last = done + 1 == total;
            if batch.len() == BATCH || (last && !batch.is_empty()) {
                imported += batch.len();
                self.items
                    .create_batch(std::mem::take(&mut batch))
                    .await
                    .map_err(|err| match err {
                        strata_domain::RepoError::NotFound => {
                            JobError::Permanent("the importing account no longer exists".into())
                        }
                        other => other.into(),
                    })?;
                let percent = (done + 1) * 100 / total.max(1);
                ctx.progress(
                    u8::try_from(percent.min(99)).unwrap_or(99),
                    &format!("{} of {total} rows", done + 1),
                )
                .await?;
            }
        }
        Ok(json!({
            "rows": total,
            "imported": imported,
            "rejected_count": rejected_count,
            "rejected": rejected,
        }))
    }
}

#[cfg(test)]
#[path = "import_items_tests.rs"]
mod tests;
