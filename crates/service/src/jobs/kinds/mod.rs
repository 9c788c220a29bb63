//! The job kinds Strata ships, one file each. A kind is a [`JobHandler`]
//! (see `handler.rs`) plus whatever its enqueuer needs; adding one means
//! adding a file here and registering the handler in the application.
//!
//! [`JobHandler`]: super::JobHandler

pub mod export_users;
pub mod import_items;
pub mod purge;
pub mod send_email;

use serde_json::{Value, json};
use strata_domain::files::FileKey;

/// How a job's result points at the file it produced:
/// `{"file": {"key", "content_type", "filename", "bytes"}}`.
pub(crate) fn file_result(
    key: &FileKey,
    content_type: &str,
    filename: &str,
    bytes: u64,
    mut rest: serde_json::Map<String, Value>,
) -> Value {
    rest.insert(
        "file".into(),
        json!({
            "key": key.as_str(),
            "content_type": content_type,
            "filename": filename,
            "bytes": bytes,
        }),
    );
    Value::Object(rest)
}

/// The key, content type and filename of a result's file, if it has one.
pub(crate) fn result_file(result: &Value) -> Option<(FileKey, String, String)> {
    let file = result.get("file")?;
    let key = FileKey::parse(file.get("key")?.as_str()?).ok()?;
    let content_type = file.get("content_type")?.as_str()?.to_owned();
    let filename = file.get("filename")?.as_str()?.to_owned();
    Some((key, content_type, filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_result_reads_back() {
        let key = FileKey::parse("exports/a.csv").unwrap();
        let result = file_result(&key, "text/csv", "users.csv", 12, serde_json::Map::new());
        assert_eq!(result["file"]["bytes"], 12);
        let (read, content_type, filename) = result_file(&result).unwrap();
        assert_eq!(read, key);
        assert_eq!(
            (content_type.as_str(), filename.as_str()),
            ("text/csv", "users.csv")
        );
        assert!(result_file(&json!({"file": {"key": "../x"}})).is_none());
        assert!(result_file(&json!({"rows": 1})).is_none());
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use strata_domain::jobs::{Job, NewJob};

    pub(crate) fn job_from(new: NewJob) -> Job {
        new.queued()
    }
}
