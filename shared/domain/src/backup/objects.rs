//! The object store port: S3 in AWS, a folder in the data directory on one machine.
//!
//! Objects are only ever created, never replaced or deleted: a create names an object that must not
//! exist yet (S3's `If-None-Match: *`; a hard link locally), and the backup's role in AWS has no
//! permission to delete. An object is written a message at a time; the S3 adapter gathers messages
//! into upload parts of at least 5 MiB (S3's minimum) for a multipart upload, so memory holds one
//! upload part, not the partition.

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

/// One object being written, a message at a time. Dropped without [`ObjectWriter::finish`], nothing
/// becomes visible (an S3 multipart upload left incomplete is removed by the bucket's lifecycle).
pub trait ObjectWriter: Send {
    /// Adds bytes at the end of the object.
    fn append(&mut self, bytes: Vec<u8>) -> impl Future<Output = Result<(), ObjectError>> + Send;

    /// Makes the object visible, if no object has its name yet.
    fn finish(self) -> impl Future<Output = Result<(), ObjectError>> + Send;
}

pub trait BackupObjects: Send + Sync + 'static {
    type Writer: ObjectWriter;

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
