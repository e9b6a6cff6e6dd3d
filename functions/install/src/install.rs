//! The install flow: the Install link, the administrator's confirmation, the status page.

use domain::Ports;
use domain::jobs::{Job, JobQueue};
use domain::signin::Intent;
use domain::tenant::InstallStatus;
use telemetry::metrics::JobOutcome;
use web::{Denied, WebRequest, WebResponse};

use crate::{Install, Refusal, view};

impl<P: Ports> Install<P> {
    pub(crate) async fn start(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        let session = self.recent_admin(req, "/install").await?;
        let tenant = self.tenants.get(&session.tenant, self.now()).await?;
        match tenant.map(|t| t.value) {
            // The session came from an ordinary sign-in: sign in for the install, which records
            // the tenant's system token.
            None if session.intent != Intent::Install => Err(Refusal::SignIn("/install")),
            None => Ok(view::no_system_token(&session)),
            Some(t)
                if matches!(
                    t.status,
                    InstallStatus::Installed | InstallStatus::Queued | InstallStatus::Installing
                ) =>
            {
                Ok(web::see_other("/install/status"))
            }
            // An uninstall is under way or stopped: its page is the management page.
            Some(t) if t.status.is_uninstall() => Ok(web::see_other("/manage")),
            Some(t) => Ok(view::confirm(&session, &t, &self.manifest)),
        }
    }

    pub(crate) async fn queue_install(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        if !self.guard.same_origin(req) {
            return Err(Denied::Forbidden("cross_origin_form").into());
        }
        let session = self.recent_admin(req, "/install").await?;
        self.guard.form(req, &session)?;
        // A new run id for each install queued; made before the write so the closure stays pure.
        let new_run = self.new_run()?;
        let run = self
            .tenants
            .update(&session.tenant, self.now(), |t| match t.status {
                InstallStatus::Consented | InstallStatus::Failed => {
                    t.status = InstallStatus::Queued;
                    t.problem = None;
                    t.waiting = None;
                    t.job_run = Some(new_run.clone());
                    t.job_run.clone()
                }
                // Still queued: the job may never have been sent (a failed send, a process that
                // died in between). Sending the same run again is one job if it was.
                InstallStatus::Queued => t.job_run.get_or_insert(new_run.clone()).clone().into(),
                // Running or done: installing twice is one install. An uninstall goes first.
                InstallStatus::Installing
                | InstallStatus::Installed
                | InstallStatus::Uninstalling
                | InstallStatus::UninstallStopped => None,
            })
            .await?;
        let Some(run) = run else {
            // No tenant recorded: only an install sign-in records one.
            return Err(Refusal::SignIn("/install"));
        };
        if let Some(run) = run {
            let job = Job::install(&session.tenant, &run);
            self.queue.send(&job).await.map_err(|e| {
                tracing::error!(tenant = %session.tenant, error = %e, "the job queue is unavailable");
                Refusal::Queue
            })?;
            tracing::info!(reason = "install_queued", tenant = %session.tenant, "install queued");
            telemetry::metrics::job(
                job.kind.as_str(),
                JobOutcome::Queued,
                session.tenant.as_str(),
                "install_queued",
            );
        }
        Ok(web::see_other("/install/status"))
    }

    pub(crate) async fn status(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        let session = self.admin(req, "/install/status").await?;
        let now = self.now();
        let Some(tenant) = self.tenants.get(&session.tenant, now).await? else {
            return Ok(web::see_other("/install"));
        };
        if tenant.value.status.is_uninstall() {
            return Ok(web::see_other("/manage"));
        }
        let entries = self.ledger.entries(&session.tenant, now).await?;
        let total = self.manifest.artifacts().len();
        Ok(view::status(
            &session,
            &tenant.value,
            &entries,
            &self.manifest,
            total,
            now,
        ))
    }
}
