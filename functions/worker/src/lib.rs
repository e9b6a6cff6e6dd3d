//! The worker function: SQS FIFO batches in, the domain's job worker on each job, batch item
//! failures out for the jobs that go back to the queue.
//!
//! What a job does is the domain's (`domain::jobs::worker`); this crate only speaks SQS: see
//! [`batch`].

pub mod batch;
