//! The object store port: S3 in AWS, a folder in the data directory on one machine.
//!
//! Objects are only ever created, never replaced or deleted: a create names an object that must not
//! exist yet (S3's `If-None-Match: *`; a hard link locally), and the backup's role in AWS has no
//! permission to delete. A large object is written a part at a time (an S3 multipart upload whose
//! every part is one encrypted message), so memory holds one part, not the partition.

use std::future::Future;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("{0} does not exist")]
    NotFound(String),
    /// A create found the object already there.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The object ends before the bytes asked for (cut short or replaced by a shorter one).
    #[error("{key} is shorter than expected: wanted bytes {from}..{to}, got {got}")]
    Truncated {
        key: String,
        from: u64,
        to: u64,
        got: u64,
    },
    /// The store could not be reached or refused; the operation may be retried later.
    #[error("the object store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ObjectError {
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ObjectError::Unavailable(Box::new(e))
    }
}

/// One object being written, a part at a time. Dropped without [`ObjectWriter::finish`], nothing
/// becomes visible (an S3 multipart upload left incomplete is removed by the bucket's lifecycle).
pub trait ObjectWriter: Send {
    fn append(&mut self, part: Vec<u8>) -> impl Future<Output = Result<(), ObjectError>> + Send;

    /// Makes the object visible, if no object has its name yet.
    fn finish(self) -> impl Future<Output = Result<(), ObjectError>> + Send;
}

pub trait BackupObjects: Send + Sync + 'static {
    type Writer: ObjectWriter;

    /// The smallest part a writer takes except the last (S3: 5 MiB); 0 when any size will do.
    fn min_part_bytes(&self) -> usize;

    /// Starts writing a new object.
    fn create(&self, key: &str) -> impl Future<Output = Result<Self::Writer, ObjectError>> + Send;

    /// Writes a small object whole, if none has its name.
    fn put_new(
        &self,
        key: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), ObjectError>> + Send;

    /// A small object, whole.
    fn get(&self, key: &str) -> impl Future<Output = Result<Vec<u8>, ObjectError>> + Send;

    /// Exactly `len` bytes from `offset`, or [`ObjectError::Truncated`].
    fn get_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<u8>, ObjectError>> + Send;

    /// The object's size.
    fn size(&self, key: &str) -> impl Future<Output = Result<u64, ObjectError>> + Send;

    /// The names one level below `prefix` (which ends in `/`): sub-folders end in `/`, objects do
    /// not; sorted.
    fn children(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, ObjectError>> + Send;
}
