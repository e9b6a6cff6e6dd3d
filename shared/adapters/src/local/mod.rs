//! The local side, for `soapp serve` and tests: an embedded database in the data folder, an
//! in-process queue with SQS FIFO's semantics, and a key file in place of KMS.

pub mod embedded;
pub mod queue;
pub mod sealer;
