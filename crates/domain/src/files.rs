//! Files that outlive a request: job inputs (uploaded imports) and outputs
//! (exports), addressed by a key the application chooses.

use async_trait::async_trait;
use thiserror::Error;

/// A file key: one to four `/`-separated segments of ASCII letters, digits,
/// `-`, `_` and `.`, none empty or starting with a dot, so a key can never
/// name a path outside the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey(String);

impl FileKey {
    /// # Errors
    /// [`FileError::InvalidKey`] for anything but the shape above.
    pub fn parse(raw: &str) -> Result<Self, FileError> {
        let segments: Vec<&str> = raw.split('/').collect();
        let valid = (1..=4).contains(&segments.len())
            && raw.len() <= 200
            && segments.iter().all(|segment| {
                !segment.is_empty()
                    && !segment.starts_with('.')
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FileError::InvalidKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Error)]
pub enum FileError {
    #[error("no such file")]
    NotFound,
    #[error("invalid file key")]
    InvalidKey,
    #[error("file storage failed: {0}")]
    Io(#[source] std::io::Error),
}

/// Durable file storage.
///
/// A completed [`FileStore::put`] or [`FileStore::append`] is on stable
/// storage; readers never see a partially written `put`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Creates or replaces the file at `key` with `bytes`, atomically.
    ///
    /// # Errors
    /// [`FileError::Io`].
    async fn put(&self, key: &FileKey, bytes: Vec<u8>) -> Result<(), FileError>;

    /// Appends `bytes`, creating the file if needed.
    ///
    /// # Errors
    /// [`FileError::Io`].
    async fn append(&self, key: &FileKey, bytes: Vec<u8>) -> Result<(), FileError>;

    /// Up to `max` bytes from `offset`; empty at or past the end.
    ///
    /// # Errors
    /// [`FileError::NotFound`] or [`FileError::Io`].
    async fn read(&self, key: &FileKey, offset: u64, max: usize) -> Result<Vec<u8>, FileError>;

    /// The file's size in bytes.
    ///
    /// # Errors
    /// [`FileError::NotFound`] or [`FileError::Io`].
    async fn size(&self, key: &FileKey) -> Result<u64, FileError>;

    /// Removes the file; removing a missing file is not an error.
    ///
    /// # Errors
    /// [`FileError::Io`].
    async fn delete(&self, key: &FileKey) -> Result<(), FileError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_store() {
        assert!(FileKey::parse("exports/0190-ab.csv").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            ".hidden",
            "a\\b",
            "a b",
        ] {
            assert!(FileKey::parse(bad).is_err(), "{bad}");
        }
    }
}
