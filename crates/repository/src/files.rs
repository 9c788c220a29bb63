//! Files that outlive a request, in a directory of the local file system.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use strata_domain::files::{FileError, FileKey, FileStore};
use uuid::Uuid;

/// [`FileStore`] over a root directory: a key's segments are the path below
/// it ([`FileKey`] admits no `..`, absolute path or hidden name).
///
/// Every call runs its blocking I/O on tokio's blocking pool. Durability
/// follows the port's promise: data is synced before a call returns, and a
/// `put` becomes visible whole through an atomic rename, itself synced by
/// syncing the directory.
#[derive(Debug, Clone)]
pub struct LocalFileStore {
    root: PathBuf,
}

impl LocalFileStore {
    /// A store under `root`, created (with parents) on the first write.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, key: &FileKey) -> PathBuf {
        key.as_str()
            .split('/')
            .fold(self.root.clone(), |path, segment| path.join(segment))
    }

    async fn run<T: Send + 'static>(
        &self,
        key: &FileKey,
        work: impl FnOnce(&Path) -> io::Result<T> + Send + 'static,
    ) -> Result<T, FileError> {
        let path = self.path(key);
        match tokio::task::spawn_blocking(move || work(&path)).await {
            Ok(result) => result.map_err(file_error),
            Err(join) => Err(FileError::Io(io::Error::other(join))),
        }
    }
}

fn file_error(err: io::Error) -> FileError {
    if err.kind() == io::ErrorKind::NotFound {
        FileError::NotFound
    } else {
        FileError::Io(err)
    }
}

/// The directory holding `path`, created if missing.
fn parent_dir(path: &Path) -> io::Result<&Path> {
    let parent = path
        .parent()
        .ok_or_else(|| io::Error::other("a file key always has a parent directory"))?;
    fs::create_dir_all(parent)?;
    Ok(parent)
}

/// Makes the directory's entries (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn put(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path)?;
    // In the same directory, so the rename cannot cross file systems. A
    // leading dot keeps it out of every key's reach.
    let temp = dir.join(format!(".{}.tmp", Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    sync_dir(dir)
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path)?;
    let existed = path.exists();
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if !existed {
        // The new file's directory entry must survive a crash too.
        sync_dir(dir)?;
    }
    Ok(())
}

fn read(path: &Path, offset: u64, max: usize) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    if offset >= size {
        return Ok(Vec::new());
    }
    file.seek(SeekFrom::Start(offset))?;
    // Never more than is left, whatever `max` says.
    let left = usize::try_from(size - offset).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(max.min(left));
    file.take(u64::try_from(max).unwrap_or(u64::MAX))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[async_trait]
impl FileStore for LocalFileStore {
    async fn put(&self, key: &FileKey, bytes: Vec<u8>) -> Result<(), FileError> {
        self.run(key, move |path| put(path, &bytes)).await
    }

    async fn append(&self, key: &FileKey, bytes: Vec<u8>) -> Result<(), FileError> {
        self.run(key, move |path| append(path, &bytes)).await
    }

    async fn read(&self, key: &FileKey, offset: u64, max: usize) -> Result<Vec<u8>, FileError> {
        self.run(key, move |path| read(path, offset, max)).await
    }

    async fn size(&self, key: &FileKey) -> Result<u64, FileError> {
        self.run(key, |path| Ok(fs::metadata(path)?.len())).await
    }

    async fn delete(&self, key: &FileKey) -> Result<(), FileError> {
        self.run(key, |path| match fs::remove_file(path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(raw: &str) -> FileKey {
        FileKey::parse(raw).unwrap()
    }

    fn store() -> (tempfile::TempDir, LocalFileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::new(dir.path().join("files"));
        (dir, store)
    }

    #[tokio::test]
    async fn put_creates_directories_and_replaces_whole_files() {
        let (dir, store) = store();
        let k = key("exports/2026/a.csv");
        store.put(&k, b"first version".to_vec()).await.unwrap();
        store.put(&k, b"second".to_vec()).await.unwrap();
        assert_eq!(store.read(&k, 0, 100).await.unwrap(), b"second");
        assert_eq!(store.size(&k).await.unwrap(), 6);
        // No temporary file is left beside it.
        let names: Vec<_> = fs::read_dir(dir.path().join("files/exports/2026"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.csv"]);
    }

    #[tokio::test]
    async fn append_creates_then_extends() {
        let (_dir, store) = store();
        let k = key("imports/job-1.ndjson");
        store.append(&k, b"one\n".to_vec()).await.unwrap();
        store.append(&k, b"two\n".to_vec()).await.unwrap();
        assert_eq!(store.read(&k, 0, 100).await.unwrap(), b"one\ntwo\n");
    }

    #[tokio::test]
    async fn read_honours_offset_and_max_and_is_empty_past_the_end() {
        let (_dir, store) = store();
        let k = key("f.bin");
        store.put(&k, b"0123456789".to_vec()).await.unwrap();
        assert_eq!(store.read(&k, 2, 3).await.unwrap(), b"234");
        assert_eq!(store.read(&k, 8, 100).await.unwrap(), b"89");
        assert!(store.read(&k, 10, 5).await.unwrap().is_empty());
        assert!(store.read(&k, 99, 5).await.unwrap().is_empty());
        assert!(store.read(&k, 0, 0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn missing_files_are_not_found_and_deleting_them_is_fine() {
        let (_dir, store) = store();
        let k = key("nope/missing.csv");
        assert!(matches!(
            store.read(&k, 0, 1).await,
            Err(FileError::NotFound)
        ));
        assert!(matches!(store.size(&k).await, Err(FileError::NotFound)));
        store.delete(&k).await.unwrap();

        store.put(&k, b"x".to_vec()).await.unwrap();
        store.delete(&k).await.unwrap();
        assert!(matches!(store.size(&k).await, Err(FileError::NotFound)));
    }
}
