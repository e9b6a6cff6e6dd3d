//! The worker function: SQS FIFO batches in, the domain's job worker on each job, batch item
//! failures out for the jobs that go back to the queue.
//!
//! What a job does is the domain's (`domain::jobs::worker`); this crate only speaks SQS: see
//! [`batch`]. The same function also takes the rollout's minute tick from an EventBridge schedule
//! ([`event`]): the worker already holds what a rollout needs (the manifest, the store and the
//! queue), and a second function would only duplicate its configuration and permissions.

pub mod batch;
pub mod event;
