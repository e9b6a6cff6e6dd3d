//! The job worker: runs the jobs a queue delivers with the provisioning engine.
//!
//! A job never sleeps past its time: when the engine says "continue at T" (throttled, maintenance,
//! out of time), the job goes back to the queue to be delivered at T. Jobs of one tenant never run
//! at once (the queue's message group); a crash or a timeout brings the job back and the ledger lets
//! it resume where it stopped.
//!
//! Every delivery ends in one metric line (`Jobs` by kind and outcome: finished, failed for good,
//! or put back; `telemetry::metrics::job`), with the tenant and the reason as properties.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use telemetry::metrics::JobOutcome;

use super::{GIVE_UP_AT, Job, JobHandler, JobKind, Outcome};
use crate::provisioning::{Engine, Run, TenantApi};
use crate::sealing::Sealer;
use crate::store::Items;
use crate::tenant::Goal;
use crate::usage::DailyUsage;

pub struct Worker<I, S, A> {
    pub engine: Engine<I, S, A>,
    pub usage: Arc<DailyUsage<I>>,
}

/// How long a job of a suspended tenant is put back for before it looks again.
pub const SUSPENDED_RECHECK: Duration = Duration::from_secs(15 * 60);

impl<I: Items, S: Sealer, A: TenantApi> Worker<I, S, A> {
    /// SuperOffice deleted the tenant: everything kept for it goes, nothing is called. A tenant
    /// already purged (or never known) is done.
    async fn purge(&self, job: &Job) -> Result<Run, crate::store::StoreError> {
        match self.engine.tenants.get(&job.tenant, 0).await? {
            Some(t) if t.value.deleted => {
                self.engine
                    .purge(&job.tenant, "deleted_by_superoffice", None)
                    .await?;
            }
            Some(_) => {
                tracing::warn!(tenant = %job.tenant, reason = "purge_not_marked", "a purge job for a tenant not marked deleted; nothing removed");
            }
            None => {}
        }
        Ok(Run::Done)
    }
}

/// Writes the delivery's metric line.
fn count(job: &Job, outcome: JobOutcome, reason: &str) {
    telemetry::metrics::job(job.kind.as_str(), outcome, job.tenant.as_str(), reason);
}

impl<I: Items, S: Sealer, A: TenantApi> JobHandler for Worker<I, S, A> {
    async fn process(&self, job: &Job, delivery: u32, deadline: SystemTime) -> Outcome {
        if job.kind != JobKind::Purge {
            match self.engine.tenants.get(&job.tenant, 0).await {
                Ok(Some(t)) if t.value.suspended && !t.value.deleted => {
                    // Put back, not dropped: it runs when SuperOffice resumes the tenant (the
                    // Resume push queues the work again at once; this is the fallback).
                    tracing::info!(tenant = %job.tenant, job = job.kind.as_str(), reason = "tenant_suspended", "job put back while the tenant is suspended");
                    count(job, JobOutcome::PutBack, "tenant_suspended");
                    return Outcome::RetryAfter(SUSPENDED_RECHECK);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(tenant = %job.tenant, reason = "store_unavailable", error = %e, "job failed; retrying");
                    count(job, JobOutcome::PutBack, "store_unavailable");
                    return Outcome::RetryAfter(Duration::from_secs(30));
                }
            }
        }
        if delivery >= GIVE_UP_AT && job.kind != JobKind::Purge {
            let what = job.kind.as_str();
            let problem = format!(
                "The {what} was put back {delivery} times (SuperOffice kept throttling or was unavailable) and has stopped. Press Try again to continue where it stopped."
            );
            if let Err(e) = self.engine.stop(&job.tenant, problem).await {
                tracing::error!(tenant = %job.tenant, error = %e, "could not record the stop");
                count(job, JobOutcome::PutBack, "store_unavailable");
                return Outcome::RetryAfter(Duration::from_secs(30));
            }
            count(job, JobOutcome::Failed, "gave_up");
            return Outcome::Done;
        }
        let run = match job.kind {
            JobKind::Install => self.engine.install(&job.tenant, deadline).await,
            JobKind::Uninstall => self.engine.uninstall(&job.tenant, deadline).await,
            JobKind::Upgrade => {
                self.engine
                    .reconcile_installed(&job.tenant, Goal::Upgrade, deadline)
                    .await
            }
            JobKind::Repair => {
                self.engine
                    .reconcile_installed(&job.tenant, Goal::Repair, deadline)
                    .await
            }
            JobKind::Purge => self.purge(job).await,
        };
        let outcome = match run {
            Ok(Run::Done) => {
                count(job, JobOutcome::Finished, "done");
                Outcome::Done
            }
            Ok(Run::Stopped { .. }) => {
                count(job, JobOutcome::Failed, "stopped");
                Outcome::Done
            }
            Ok(Run::Continue { until, reason }) => {
                let wait = until
                    .duration_since(self.engine.clock.now())
                    .unwrap_or_default()
                    .max(Duration::from_secs(1));
                tracing::info!(tenant = %job.tenant, reason = %reason, wait_s = wait.as_secs(), "job put back");
                count(job, JobOutcome::PutBack, &reason);
                Outcome::RetryAfter(wait)
            }
            Err(e) => {
                tracing::error!(tenant = %job.tenant, reason = "store_unavailable", error = %e, "job failed; retrying");
                count(job, JobOutcome::PutBack, "store_unavailable");
                Outcome::RetryAfter(Duration::from_secs(30))
            }
        };
        if matches!(job.kind, JobKind::Uninstall | JobKind::Purge)
            && outcome == Outcome::Done
            && matches!(self.engine.tenants.get(&job.tenant, 0).await, Ok(None))
        {
            // The tenant is gone: its last calls are not written back into its emptied partition.
            self.usage.forget(&job.tenant);
        }
        if let Err(e) = self.usage.flush_tenant(&job.tenant).await {
            tracing::warn!(reason = "usage_flush_failed", error = %e, "usage not recorded yet");
        }
        outcome
    }
}
