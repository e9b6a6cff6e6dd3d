//! Backups on one machine: objects are files under a folder in the data directory, with the same
//! names as in S3 (`backups/{environment}/…`). A file is written under a temporary name and then
//! hard-linked to its own, which fails if that exists: created only if absent, like S3 with
//! `If-None-Match: *`, and never visible half-written.

use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};

use domain::backup::objects::{BackupObjects, ObjectError, ObjectWriter};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[derive(Clone, Debug)]
pub struct FolderObjects {
    root: PathBuf,
}

impl FolderObjects {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of an object; a key that would leave the folder is refused.
    fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        let relative = Path::new(key);
        let plain = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if key.is_empty() || !plain {
            return Err(ObjectError::NotFound(key.to_owned()));
        }
        Ok(self.root.join(relative))
    }
}

fn io(key: &str, e: std::io::Error) -> ObjectError {
    match e.kind() {
        std::io::ErrorKind::NotFound => ObjectError::NotFound(key.to_owned()),
        std::io::ErrorKind::AlreadyExists => ObjectError::AlreadyExists(key.to_owned()),
        _ => ObjectError::unavailable(e),
    }
}

/// A temporary file beside `path`, hidden from listings.
fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut suffix);
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    path.with_file_name(format!(".{name}.{suffix}.partial"))
}

impl BackupObjects for FolderObjects {
    type Writer = FolderWriter;

    async fn create(&self, key: &str) -> Result<FolderWriter, ObjectError> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| io(key, e))?;
        }
        let temp = temporary(&path);
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| io(key, e))?;
        Ok(FolderWriter {
            key: key.to_owned(),
            path,
            temp: Some(temp),
            file: Some(file),
        })
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        let mut writer = self.create(key).await?;
        writer.append(bytes).await?;
        writer.finish().await
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        tokio::fs::read(self.path(key)?)
            .await
            .map_err(|e| io(key, e))
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, ObjectError> {
        let mut file = tokio::fs::File::open(self.path(key)?)
            .await
            .map_err(|e| io(key, e))?;
        file.seek(SeekFrom::Start(offset))
            .await
            .map_err(|e| io(key, e))?;
        let mut out = Vec::new();
        let got = (&mut file)
            .take(len)
            .read_to_end(&mut out)
            .await
            .map_err(|e| io(key, e))?;
        if got as u64 != len {
            return Err(ObjectError::Truncated {
                key: key.to_owned(),
                from: offset,
                to: offset + len,
                got: got as u64,
            });
        }
        Ok(out)
    }

    async fn size(&self, key: &str) -> Result<u64, ObjectError> {
        let meta = tokio::fs::metadata(self.path(key)?)
            .await
            .map_err(|e| io(key, e))?;
        if meta.is_file() {
            Ok(meta.len())
        } else {
            Err(ObjectError::NotFound(key.to_owned()))
        }
    }

    async fn children(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let dir = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(prefix.trim_end_matches('/'))?
        };
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(prefix, e)),
        };
        let mut out = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(|e| io(prefix, e))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type().await.map_err(|e| io(prefix, e))?;
            out.push(if kind.is_dir() {
                format!("{name}/")
            } else {
                name
            });
        }
        out.sort();
        Ok(out)
    }
}

/// A file being written under a temporary name; removed if dropped unfinished.
pub struct FolderWriter {
    key: String,
    path: PathBuf,
    temp: Option<PathBuf>,
    file: Option<tokio::fs::File>,
}

impl ObjectWriter for FolderWriter {
    async fn append(&mut self, bytes: Vec<u8>) -> Result<(), ObjectError> {
        let key = self.key.clone();
        match self.file.as_mut() {
            Some(f) => f.write_all(&bytes).await.map_err(|e| io(&key, e)),
            None => Err(ObjectError::NotFound(key)),
        }
    }

    async fn finish(mut self) -> Result<(), ObjectError> {
        let key = self.key.clone();
        if let Some(mut f) = self.file.take() {
            f.flush().await.map_err(|e| io(&key, e))?;
            f.sync_all().await.map_err(|e| io(&key, e))?;
        }
        let Some(temp) = self.temp.take() else {
            return Err(ObjectError::NotFound(key));
        };
        // A hard link fails if the name exists: the object is created only if absent.
        let linked = tokio::fs::hard_link(&temp, &self.path).await;
        let _ = tokio::fs::remove_file(&temp).await;
        linked.map_err(|e| io(&key, e))
    }
}

impl Drop for FolderWriter {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_are_created_once_read_by_range_and_listed_by_level() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderObjects::new(dir.path());
        let mut w = store.create("backups/local/2027/a.esdk").await.unwrap();
        w.append(b"hello ".to_vec()).await.unwrap();
        assert_eq!(
            store.children("backups/local/2027/").await.unwrap(),
            Vec::<String>::new(),
            "nothing visible before finish"
        );
        w.append(b"world".to_vec()).await.unwrap();
        w.finish().await.unwrap();
        assert_eq!(store.size("backups/local/2027/a.esdk").await.unwrap(), 11);
        assert_eq!(
            store
                .get_range("backups/local/2027/a.esdk", 6, 5)
                .await
                .unwrap(),
            b"world"
        );
        assert!(matches!(
            store.get_range("backups/local/2027/a.esdk", 6, 6).await,
            Err(ObjectError::Truncated { got: 5, .. })
        ));
        assert!(matches!(
            store
                .put_new("backups/local/2027/a.esdk", b"x".to_vec())
                .await,
            Err(ObjectError::AlreadyExists(_))
        ));
        assert_eq!(
            store.get("backups/local/2027/a.esdk").await.unwrap(),
            b"hello world"
        );
        store
            .put_new("backups/local/2028/b", b"x".to_vec())
            .await
            .unwrap();
        assert_eq!(
            store.children("backups/local/").await.unwrap(),
            ["2027/", "2028/"]
        );
        assert!(matches!(
            store.get("../etc/passwd").await,
            Err(ObjectError::NotFound(_))
        ));
        // A writer dropped unfinished leaves nothing behind.
        let w = store.create("backups/local/2029/c").await.unwrap();
        drop(w);
        assert!(
            store
                .children("backups/local/2029/")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("backups/local/2029"))
                .unwrap()
                .count(),
            0
        );
    }
}
