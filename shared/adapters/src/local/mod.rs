//! The local side, for `soapp serve` and tests: an embedded database in the data folder, an
//! in-process queue with SQS FIFO's semantics, and a key file in place of KMS.

#[cfg(feature = "backup")]
pub mod backup_keys;
pub mod embedded;
#[cfg(feature = "backup")]
pub mod folder;
pub mod queue;
pub mod sealer;
