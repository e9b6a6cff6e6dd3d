//! Web panels: found by ProgId with one targeted call (whoever created it, so one left without an
//! owner by an older install is found too), created with the page's URL on this deployment, and
//! shown to every user group (certification: "visible to all user groups by default"; the groups are
//! read once per run). Removal deletes the panel for good by the id the app recorded.

use superoffice::api::webpanels::{self, PanelSpec};
use superoffice::webapi::TenantApi;

use super::{Ensured, Gone, Provision, recorded_id};
use crate::manifest::WebPanel;
use crate::provisioning::Halt;
use crate::provisioning::run::TenantRun;

impl<A: TenantApi> Provision<A> for WebPanel {
    async fn ensure(&self, run: &mut TenantRun<'_, A>) -> Result<Ensured, Halt> {
        let url = run.url(&self.path);
        let window = window_name(&self.prog_id);
        let id = ensure_panel(
            run,
            &PanelSpec {
                prog_id: &self.prog_id,
                name: &self.name,
                tooltip: &self.tooltip,
                visible_in: &self.visible_in,
                url: &url,
                window_name: &window,
            },
        )
        .await?;
        Ok(Ensured::Exists(id.to_string()))
    }

    async fn remove(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        id: Option<&str>,
    ) -> Result<Gone, Halt> {
        match recorded_id(id) {
            Some(id) => remove_panel(run, id).await?,
            None => remove_panel_by_prog_id(run, identity).await?,
        }
        Ok(Gone::Now)
    }
}

/// The window a panel's page opens in: its ProgId with anything but letters and digits as `_`.
pub(crate) fn window_name(prog_id: &str) -> String {
    prog_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The panel with this ProgId: found, or created and shown to every user group.
pub(crate) async fn ensure_panel<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    spec: &PanelSpec<'_>,
) -> Result<i64, Halt> {
    if let Some(found) = webpanels::find(&run.api, spec.prog_id)
        .await
        .map_err(|e| run.halt(e))?
    {
        return Ok(found.web_panel_id);
    }
    let id = webpanels::create(&run.api, spec)
        .await
        .map_err(|e| run.halt(e))?
        .web_panel_id;
    run.panels_changed = true;
    if run.user_groups.is_none() {
        let groups = webpanels::user_groups(&run.api)
            .await
            .map_err(|e| run.halt(e))?;
        run.user_groups = Some(groups);
    }
    let groups = run.user_groups.as_deref().unwrap_or_default();
    webpanels::show_to_groups(&run.api, id, groups)
        .await
        .map_err(|e| run.halt(e))?;
    Ok(id)
}

/// Deletes the panel with this ProgId, if there is one (an intent's artifact).
pub(crate) async fn remove_panel_by_prog_id<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    prog_id: &str,
) -> Result<(), Halt> {
    if let Some(found) = webpanels::find(&run.api, prog_id)
        .await
        .map_err(|e| run.halt(e))?
    {
        remove_panel(run, found.web_panel_id).await?;
    }
    Ok(())
}

/// Deletes one panel for good; gone already counts.
pub(crate) async fn remove_panel<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    id: i64,
) -> Result<(), Halt> {
    webpanels::remove(&run.api, id)
        .await
        .map_err(|e| run.halt(e))?;
    run.panels_changed = true;
    Ok(())
}
