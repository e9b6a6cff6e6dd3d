//! The management page and the uninstall: who may, what is shown, what a request does.

use std::time::Duration;

use domain::Ports;
use domain::audit::pseudonym;
use domain::jobs::{Job, JobQueue};
use domain::ledger::EntryState;
use domain::tenant::InstallStatus;
use http::StatusCode;
use telemetry::metrics::JobOutcome;
use web::{Denied, Problem, WebRequest, WebResponse};

use crate::manage_view::{self, Overview};
use crate::{Install, Refusal};

/// How long the page waits for SuperOffice's tenant state before showing the page without it.
const STATE_WAIT: Duration = Duration::from_secs(3);

/// Days of usage the page shows.
const USAGE_DAYS: usize = 14;

impl<P: Ports> Install<P> {
    pub(crate) async fn manage(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        let session = self.admin(req, "/manage").await?;
        let now = self.now();
        let tenant = self
            .tenants
            .get(&session.tenant, now)
            .await?
            .map(|t| t.value);
        let entries = self.ledger.entries(&session.tenant, now).await?;
        let deadline = self.clock.now() + STATE_WAIT;
        let state = match self
            .superoffice
            .tenant_states()
            .get(&session.tenant, Some(deadline))
            .await
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(tenant = %session.tenant, reason = "tenant_state_unavailable", error = %e, "the management page shows no tenant state");
                None
            }
        };
        let mut usage = self.usage.days(&session.tenant).await?;
        let keep = usage.len().saturating_sub(USAGE_DAYS);
        usage.drain(..keep);
        usage.reverse();
        let removed = match &tenant {
            Some(_) => None,
            None => self
                .audit
                .records(&session.tenant, now)
                .await?
                .into_iter()
                .rfind(|r| r.action == "uninstall"),
        };
        let last_backup = match &tenant {
            Some(_) => self.backups.last_backup(&session.tenant, now).await?,
            None => None,
        };
        Ok(manage_view::page(&Overview {
            session: &session,
            tenant: tenant.as_ref(),
            entries: &entries,
            manifest: &self.manifest,
            state: state.as_ref(),
            usage: &usage,
            removed: removed.as_ref(),
            last_backup: last_backup.as_ref(),
            now,
        }))
    }

    pub(crate) async fn confirm_uninstall(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        let session = self.recent_admin(req, "/manage/uninstall").await?;
        let now = self.now();
        let Some(tenant) = self.tenants.get(&session.tenant, now).await? else {
            return Ok(web::see_other("/manage"));
        };
        if tenant.value.status == InstallStatus::Uninstalling {
            return Ok(web::see_other("/manage"));
        }
        let entries = self.ledger.entries(&session.tenant, now).await?;
        Ok(manage_view::confirm_uninstall(
            &session,
            &tenant.value,
            &entries,
            &self.manifest,
        ))
    }

    pub(crate) async fn queue_uninstall(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        if !self.guard.same_origin(req) {
            return Err(Denied::Forbidden("cross_origin_form").into());
        }
        let session = self.recent_admin(req, "/manage/uninstall").await?;
        self.guard.form(req, &session)?;
        let form = web::form_pairs(req).unwrap_or_default();
        if web::single(&form, "confirm").ok().flatten() != Some("yes") {
            // Not from the confirmation page: show it (nothing is removed without it).
            return Ok(web::see_other("/manage/uninstall"));
        }
        let now = self.now();
        let Some(current) = self.tenants.get(&session.tenant, now).await? else {
            // Nothing to remove (already uninstalled, or never installed).
            return Ok(web::see_other("/manage"));
        };
        if current.value.consent_revoked {
            return Err(Refusal::Problem(Box::new(
                Problem::new(
                    StatusCode::CONFLICT,
                    "consent_revoked",
                    "The app needs your approval first",
                    "SuperOffice no longer gives the app access to your SuperOffice, so it cannot remove its items there. Approve the app again (sign in below and approve when SuperOffice asks), then uninstall.",
                )
                .onward(crate::sign_in_url("/manage"), "Sign in and approve"),
            )));
        }
        let new_run = self.new_run()?;
        let by = pseudonym(&session.tenant, &session.subject);
        let run = self
            .tenants
            .update(&session.tenant, now, |t| {
                if t.status == InstallStatus::Uninstalling {
                    // Asked twice, or while it runs: one uninstall. Send the same run again in case
                    // the first send never happened (a duplicate of a sent one is dropped).
                    return t.job_run.get_or_insert(new_run.clone()).clone();
                }
                t.status = InstallStatus::Uninstalling;
                t.waiting = None;
                t.problem = None;
                t.job_run = Some(new_run.clone());
                t.uninstall_requested_by = Some(by.clone());
                new_run.clone()
            })
            .await?;
        let Some(run) = run else {
            return Ok(web::see_other("/manage"));
        };
        let job = Job::uninstall(&session.tenant, &run);
        self.queue.send(&job).await.map_err(|e| {
            tracing::error!(tenant = %session.tenant, error = %e, "the job queue is unavailable");
            Refusal::Queue
        })?;
        tracing::info!(reason = "uninstall_queued", tenant = %session.tenant, by = %by, "uninstall queued");
        telemetry::metrics::job(
            job.kind.as_str(),
            JobOutcome::Queued,
            session.tenant.as_str(),
            "uninstall_queued",
        );
        Ok(web::see_other("/manage"))
    }
}

/// Entries whose artifact may exist in SuperOffice.
pub(crate) fn still_there(entries: &[domain::ledger::LedgerEntry]) -> usize {
    entries
        .iter()
        .filter(|e| matches!(e.state, EntryState::Created | EntryState::Intent))
        .count()
}
