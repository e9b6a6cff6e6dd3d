//! Jobs: long work (install, later uninstall and repair) runs off the request path, one job at a
//! time per tenant across every Lambda instance.
//!
//! In AWS the queue is SQS FIFO with the tenant as message group: SQS hands out at most one message
//! of a group at a time, so a tenant's jobs never overlap and SuperOffice sees one stream of work per
//! tenant. A job that must wait (throttled, maintenance) is not slept on: its message is made
//! invisible for the wait and reported as not done, so it comes back when work can continue; a
//! crash or timeout brings it back after the visibility timeout and the ledger lets it resume.
//! Locally, the adapters crate's in-process queue keeps the same semantics.
//!
//! [`JobQueue`] is the sending side's port; [`JobHandler`] is what a queue delivers to, and
//! [`worker::Worker`] the handler that runs jobs with the provisioning engine.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

pub mod worker;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Install,
    /// Remove everything the app created in the tenant, then everything it keeps for it.
    Uninstall,
    /// Bring an installed tenant to a new release's manifest (the rollout queues these).
    Upgrade,
    /// Read what the tenant really holds and mend it (after SuperOffice restored or upgraded it).
    Repair,
    /// SuperOffice deleted the tenant: remove everything the app keeps for it, without calling it.
    Purge,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Install => "install",
            JobKind::Uninstall => "uninstall",
            JobKind::Upgrade => "upgrade",
            JobKind::Repair => "repair",
            JobKind::Purge => "purge",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Deduplication id: the same id sent twice within five minutes is one job.
    pub id: String,
    pub tenant: TenantId,
    pub kind: JobKind,
}

impl Job {
    /// An install job for a tenant. `run` names one queueing of the install (the tenant record
    /// keeps it): sending the same run again within five minutes is one job, and a later install
    /// (after a failure) is a new run, never swallowed as a duplicate of the last one.
    pub fn install(tenant: &TenantId, run: impl std::fmt::Display) -> Self {
        Self {
            id: format!("install-{tenant}-{run}"),
            tenant: tenant.clone(),
            kind: JobKind::Install,
        }
    }

    /// An uninstall job for a tenant (`run` as for [`Job::install`]).
    pub fn uninstall(tenant: &TenantId, run: impl std::fmt::Display) -> Self {
        Self {
            id: format!("uninstall-{tenant}-{run}"),
            tenant: tenant.clone(),
            kind: JobKind::Uninstall,
        }
    }
}

impl Job {
    /// A job of `kind` for a tenant; `run` names this queueing (as for [`Job::install`]: the same
    /// run sent twice within five minutes is one job).
    pub fn new(kind: JobKind, tenant: &TenantId, run: impl std::fmt::Display) -> Self {
        Self {
            id: format!("{}-{tenant}-{run}", kind.as_str()),
            tenant: tenant.clone(),
            kind,
        }
    }
}

/// What became of one delivery of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Finished (successfully, or for good with the reason recorded on the tenant): remove it.
    Done,
    /// Not finished; deliver it again after this long.
    RetryAfter(Duration),
}

/// SQS's longest visibility (12 hours, counted from the receive) less a margin; longer waits are
/// taken in steps.
pub const MAX_WAIT: Duration = Duration::from_secs(12 * 3600 - 600);

/// Deliveries a job may have (the queue's `maxReceiveCount`). Every wait is a delivery, so a job
/// near the limit is stopped with a message on the tenant rather than lost to the dead-letter queue.
pub const MAX_DELIVERIES: u32 = 1000;
/// From this delivery on, the worker stops the job and asks for a person.
pub const GIVE_UP_AT: u32 = MAX_DELIVERIES - 10;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the job queue is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Sending jobs (the install function's side).
pub trait JobQueue: Send + Sync + 'static {
    fn send(&self, job: &Job) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// What a queue hands each delivery to (the worker in Lambda and in the local runner).
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one delivery of `job` (its `delivery`-th, 1 for the first), to be done by `deadline`.
    fn process(
        &self,
        job: &Job,
        delivery: u32,
        deadline: std::time::SystemTime,
    ) -> impl Future<Output = Outcome> + Send;
}
