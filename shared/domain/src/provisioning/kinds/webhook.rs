//! Webhooks: found by name, created with the tenant's own secret and a target on this deployment
//! (`{path}/{tenant}`). SuperOffice tests the target when the webhook is saved; a refusal there
//! means it could not reach us, which waiting does not mend. Removal deletes by the recorded id.

use superoffice::api::webhooks::{self, WebhookSpec};
use superoffice::webapi::{TenantApi, WebApiError};

use super::{Ensured, Gone, Provision, recorded_id};
use crate::manifest::Webhook;
use crate::provisioning::Halt;
use crate::provisioning::plan::Observed;
use crate::provisioning::run::TenantRun;

impl<A: TenantApi> Provision<A> for Webhook {
    async fn ensure(&self, run: &mut TenantRun<'_, A>) -> Result<Ensured, Halt> {
        if let Some(id) = webhooks::find_by_name(&run.api, &self.name)
            .await
            .map_err(|e| run.halt(e))?
        {
            return Ok(Ensured::Exists(id.to_string()));
        }
        let secret = run
            .webhook_secret
            .as_ref()
            .ok_or_else(|| Halt::Stop("no webhook secret".into()))?;
        let target = self.target(run);
        let spec = WebhookSpec {
            name: &self.name,
            events: &self.events,
            target_url: &target,
            secret,
        };
        match webhooks::create(&run.api, &spec).await {
            Ok(id) => Ok(Ensured::Exists(id.to_string())),
            Err(e) => Err(refused(run, e, &target)),
        }
    }

    async fn observe(&self, run: &mut TenantRun<'_, A>) -> Result<Observed, Halt> {
        let target = self.target(run);
        let found = webhooks::find(&run.api, &self.name)
            .await
            .map_err(|e| run.halt(e))?;
        Ok(match found {
            None => Observed::Absent,
            Some(w) => {
                let mut have: Vec<&str> = w.events.iter().map(String::as_str).collect();
                let mut want: Vec<&str> = self.events.iter().map(String::as_str).collect();
                have.sort_unstable();
                want.sort_unstable();
                Observed::Present {
                    id: w.webhook_id.to_string(),
                    as_declared: have == want
                        && w.target_url == target
                        && w.state.eq_ignore_ascii_case("active"),
                }
            }
        })
    }

    async fn update(&self, run: &mut TenantRun<'_, A>, _id: Option<&str>) -> Result<Ensured, Halt> {
        let Some(found) = webhooks::find(&run.api, &self.name)
            .await
            .map_err(|e| run.halt(e))?
        else {
            return self.ensure(run).await;
        };
        let secret = run
            .webhook_secret
            .as_ref()
            .ok_or_else(|| Halt::Stop("no webhook secret".into()))?;
        let target = self.target(run);
        let spec = WebhookSpec {
            name: &self.name,
            events: &self.events,
            target_url: &target,
            secret,
        };
        if !found.matches(&spec) {
            webhooks::update(&run.api, found.webhook_id, &spec)
                .await
                .map_err(|e| refused(run, e, &target))?;
        }
        Ok(Ensured::Exists(found.webhook_id.to_string()))
    }

    async fn present(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        _id: Option<&str>,
    ) -> Result<bool, Halt> {
        Ok(webhooks::find_by_name(&run.api, identity)
            .await
            .map_err(|e| run.halt(e))?
            .is_some())
    }

    async fn remove(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        id: Option<&str>,
    ) -> Result<Gone, Halt> {
        let id = match recorded_id(id) {
            Some(id) => Some(id),
            // An intent: the webhook may exist under its name.
            None => webhooks::find_by_name(&run.api, identity)
                .await
                .map_err(|e| run.halt(e))?,
        };
        if let Some(id) = id {
            webhooks::remove(&run.api, id)
                .await
                .map_err(|e| run.halt(e))?;
        }
        Ok(Gone::Now)
    }
}

impl Webhook {
    /// Where SuperOffice sends this tenant's events: `{base}{path}/{tenant}`.
    fn target<A: TenantApi>(&self, run: &TenantRun<'_, A>) -> String {
        format!("{}/{}", run.url(&self.path), run.tenant)
    }
}

/// A refused save: 400 means SuperOffice could not reach the target (it tests it at save time),
/// which waiting does not mend.
fn refused<A: TenantApi>(run: &TenantRun<'_, A>, e: WebApiError, target: &str) -> Halt {
    match e {
        WebApiError::Rejected {
            status: 400,
            message,
        } => Halt::Stop(format!(
            "SuperOffice could not register the webhook: {message} (it must reach {target})"
        )),
        e => run.halt(e),
    }
}
