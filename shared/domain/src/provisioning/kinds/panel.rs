//! Web panels: found by ProgId among the tenant's panels (read once per run, every panel, so one
//! left without an owner by an older install is found too), created with the page's URL on this
//! deployment, and shown to every user group (certification: "visible to all user groups by
//! default"). Removal deletes the panel for good by the id the app recorded.

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
        _identity: &str,
        id: Option<&str>,
    ) -> Result<Gone, Halt> {
        if let Some(id) = recorded_id(id) {
            remove_panel(run, id).await?;
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
    if run.panels.is_none() {
        let all = webpanels::all(&run.api).await.map_err(|e| run.halt(e))?;
        run.panels = Some(all);
    }
    if let Some(found) = run
        .panels
        .as_deref()
        .and_then(|p| webpanels::find_by_prog_id(p, spec.prog_id))
    {
        return Ok(found.web_panel_id);
    }
    let created = webpanels::create(&run.api, spec)
        .await
        .map_err(|e| run.halt(e))?;
    let id = created.web_panel_id;
    if let Some(panels) = &mut run.panels {
        panels.push(created);
    }
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

/// Deletes one panel for good; gone already counts.
pub(crate) async fn remove_panel<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    id: i64,
) -> Result<(), Halt> {
    webpanels::remove(&run.api, id)
        .await
        .map_err(|e| run.halt(e))?;
    if let Some(panels) = &mut run.panels {
        panels.retain(|p| p.web_panel_id != id);
    }
    run.panels_changed = true;
    Ok(())
}
