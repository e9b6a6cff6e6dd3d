//! Webhooks: found by name, created with the tenant's own secret and a target on this deployment
//! (`{path}/{tenant}`). SuperOffice tests the target when the webhook is saved; a refusal there
//! means it could not reach us, which waiting does not mend. Removal deletes by the recorded id.

use superoffice::api::webhooks::{self, WebhookSpec};
use superoffice::webapi::{TenantApi, WebApiError};

use super::{Ensured, Gone, Provision, recorded_id};
use crate::manifest::Webhook;
use crate::provisioning::Halt;
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
        let target = format!("{}/{}", run.url(&self.path), run.tenant);
        let spec = WebhookSpec {
            name: &self.name,
            events: &self.events,
            target_url: &target,
            secret,
        };
        match webhooks::create(&run.api, &spec).await {
            Ok(id) => Ok(Ensured::Exists(id.to_string())),
            Err(WebApiError::Rejected {
                status: 400,
                message,
            }) => Err(Halt::Stop(format!(
                "SuperOffice could not register the webhook: {message} (it must reach {target})"
            ))),
            Err(e) => Err(run.halt(e)),
        }
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
