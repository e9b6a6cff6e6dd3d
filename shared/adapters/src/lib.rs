//! The domain's ports made real.
//!
//! * `aws` (feature `aws`): DynamoDB items, the SQS FIFO job queue, the KMS sealer, Secrets Manager
//!   secrets, and the SDK configuration they share (timeouts, Amazon's roots compiled in).
//! * `local` (feature `local`): the embedded (redb) store, the in-process queue, the local key file.
//! * [`sealer::AppSealer`] and [`secrets::SecretLoader`]: the sealer and secret source a
//!   configuration names, with whichever sides the program was built with.
//!
//! Every adapter passes the same port test suite as its counterpart (the storage suite in the domain
//! crate runs against DynamoDB in the AWS API emulator, the embedded store and the in-memory store),
//! so a handler tested against one behaves the same on the others. The deployed functions are built
//! with `aws` only; the local runner with both.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "backup")]
pub mod esdk;
#[cfg(feature = "local")]
pub mod local;
pub mod sealer;
pub mod secrets;
