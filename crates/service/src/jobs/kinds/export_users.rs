//! `export_users`: every account written to a CSV or JSON file, in keyset
//! batches, with progress. The encoding is shared with the synchronous
//! streamed export of the HTTP layer, so both produce the same bytes.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use strata_domain::files::{FileKey, FileStore};
use strata_domain::jobs::Job;
use strata_domain::users::{User, UserRepository};
use uuid::Uuid;

use super::file_result;
use crate::jobs::{JobContext, JobError, JobHandler, RetryPolicy};

pub const KIND: &str = "export_users";
/// Accounts read and encoded per batch: a few hundred kilobytes.
pub const BATCH: u64 = 500;
pub const CSV_HEADER: &str =
    "id,email,username,full_name,role,is_active,email_verified,created_at,updated_at\r\n";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExportFormat {
    #[default]
    Csv,
    Json,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Csv, Self::Json]
            .into_iter()
            .find(|format| format.as_str() == raw)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
        }
    }

    pub fn filename(self) -> &'static str {
        match self {
            Self::Csv => "users.csv",
            Self::Json => "users.json",
        }
    }

    /// What comes before the first row.
    pub fn head(self) -> &'static [u8] {
        match self {
            Self::Csv => CSV_HEADER.as_bytes(),
            Self::Json => b"[",
        }
    }

    /// What comes after the last row.
    pub fn tail(self) -> &'static [u8] {
        match self {
            Self::Csv => b"",
            Self::Json => b"]",
        }
    }

    /// Encodes a batch of rows; `first` says whether it is the first batch
    /// (a JSON array's first element has no comma before it). CPU work: run
    /// it off the async executor.
    ///
    /// # Errors
    /// Only a serialisation failure, which cannot happen for these types.
    pub fn encode(self, users: &[User], first: bool) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::Csv => Ok(csv_rows(users)),
            Self::Json => json_rows(users, first),
        }
    }
}

/// One account as exported: the public profile fields, nothing else.
#[derive(Debug, Serialize)]
struct Row<'a> {
    id: Uuid,
    email: &'a str,
    username: &'a str,
    full_name: Option<&'a str>,
    role: &'static str,
    is_active: bool,
    email_verified: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl<'a> From<&'a User> for Row<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id,
            email: user.email.as_str(),
            username: user.username.as_str(),
            full_name: user.full_name.as_ref().map(|name| name.as_str()),
            role: user.role.as_str(),
            is_active: user.is_active,
            email_verified: user.email_verified(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// Appends one RFC 4180 field. Cells a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@`, tab, CR first) get a leading `'`, the OWASP advice
/// against CSV injection; such values cannot occur in e-mails, usernames,
/// roles or timestamps, only in free-text full names.
fn push_csv_field(out: &mut String, value: &str) {
    let guarded = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = guarded || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if guarded {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

fn csv_rows(users: &[User]) -> Vec<u8> {
    let mut out = String::with_capacity(users.len() * 160);
    for user in users {
        let fields = [
            user.id.to_string(),
            user.email.as_str().to_owned(),
            user.username.as_str().to_owned(),
            user.full_name
                .as_ref()
                .map(|name| name.as_str().to_owned())
                .unwrap_or_default(),
            user.role.as_str().to_owned(),
            user.is_active.to_string(),
            user.email_verified().to_string(),
            user.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            user.updated_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        ];
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_csv_field(&mut out, field);
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn json_rows(users: &[User], first: bool) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(users.len() * 220);
    for (i, user) in users.iter().enumerate() {
        if !(first && i == 0) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &Row::from(user))?;
    }
    Ok(out)
}

/// Writes `exports/{job id}.{csv|json}`. A retried attempt starts the file
/// again from its head, so a crash mid-export leaves no mixed file behind.
pub struct ExportUsers {
    users: Arc<dyn UserRepository>,
    files: Arc<dyn FileStore>,
}

impl std::fmt::Debug for ExportUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportUsers").finish_non_exhaustive()
    }
}

impl ExportUsers {
    pub fn new(users: Arc<dyn UserRepository>, files: Arc<dyn FileStore>) -> Self {
        Self { users, files }
    }

    async fn write(
        &self,
        job: &Job,
        format: ExportFormat,
        key: &FileKey,
        ctx: &dyn JobContext,
    ) -> Result<(u64, u64), JobError> {
        let total = self.users.stats(Utc::now()).await?.total;
        self.files.put(key, format.head().to_vec()).await?;
        let mut bytes = format.head().len() as u64;
        let (mut rows, mut after) = (0_u64, None);
        loop {
            let batch = self.users.export_batch(after, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            after = batch.last().map(|user| user.id);
            let full = batch.len() as u64 == BATCH;
            let first = rows == 0;
            rows += batch.len() as u64;
            let encoded = tokio::task::spawn_blocking(move || format.encode(&batch, first))
                .await
                .map_err(|err| JobError::Retry(format!("encoding task failed: {err}")))?
                .map_err(|err| JobError::Permanent(format!("encoding failed: {err}")))?;
            bytes += encoded.len() as u64;
            self.files.append(key, encoded).await?;
            let percent = (rows * 100).checked_div(total.max(rows)).unwrap_or(100);
            ctx.progress(
                u8::try_from(percent.min(99)).unwrap_or(99),
                &format!("{rows} of {total} accounts"),
            )
            .await?;
            if !full {
                break;
            }
        }
        let tail = format.tail();
        if !tail.is_empty() {
            self.files.append(key, tail.to_vec()).await?;
            bytes += tail.len() as u64;
        }
        tracing::debug!(job = %job.id, rows, bytes, "export written");
        Ok((rows, bytes))
    }
}

#[async_trait]
impl JobHandler for ExportUsers {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        }
    }

    async fn run(&self, job: &Job, ctx: &dyn JobContext) -> Result<Value, JobError> {
        let format = job
            .payload
            .get("format")
            .and_then(Value::as_str)
            .and_then(ExportFormat::parse)
            .ok_or_else(|| JobError::Permanent("the payload names no known format".into()))?;
        let key = FileKey::parse(&format!("exports/{}.{}", job.id, format.as_str()))?;
        match self.write(job, format, &key, ctx).await {
            Ok((rows, bytes)) => {
                let mut rest = serde_json::Map::new();
                rest.insert("rows".into(), rows.into());
                Ok(file_result(
                    &key,
                    format.content_type(),
                    format.filename(),
                    bytes,
                    rest,
                ))
            }
            Err(err) => {
                // A cancelled or failed export's partial file serves no one;
                // a retry writes it anew.
                if let Err(cleanup) = self.files.delete(&key).await {
                    tracing::warn!(job = %job.id, error = %cleanup, "could not remove a partial export");
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
#[path = "export_users_tests.rs"]
mod tests;
