//! Web panels: found by ProgId with one targeted call (whoever created it, so one left without an
//! owner by an older install is found too), created with the page's URL on this deployment, and
//! shown to every user group (certification: "visible to all user groups by default"; the groups are
//! read once per run). An update changes its name, tooltip, place and page in place (same id, the
//! groups an administrator chose kept). Removal deletes the panel for good by the id the app
//! recorded.

use superoffice::api::webpanels::{self, PanelSpec};
use superoffice::webapi::TenantApi;

use super::{Ensured, Gone, Provision, recorded_id};
use crate::manifest::WebPanel;
use crate::provisioning::Halt;
use crate::provisioning::plan::Observed;
use crate::provisioning::run::TenantRun;

impl<A: TenantApi> Provision<A> for WebPanel {
    async fn ensure(&self, run: &mut TenantRun<'_, A>) -> Result<Ensured, Halt> {
        let (url, window) = (run.url(&self.path), window_name(&self.prog_id));
        let id = ensure_panel(run, &self.spec(&url, &window)).await?;
        Ok(Ensured::Exists(id.to_string()))
    }

    async fn observe(&self, run: &mut TenantRun<'_, A>) -> Result<Observed, Halt> {
        let (url, window) = (run.url(&self.path), window_name(&self.prog_id));
        observe_panel(run, &self.spec(&url, &window)).await
    }

    async fn update(&self, run: &mut TenantRun<'_, A>, _id: Option<&str>) -> Result<Ensured, Halt> {
        let (url, window) = (run.url(&self.path), window_name(&self.prog_id));
        let id = update_panel(run, &self.spec(&url, &window)).await?;
        Ok(Ensured::Exists(id.to_string()))
    }

    async fn present(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        _id: Option<&str>,
    ) -> Result<bool, Halt> {
        panel_present(run, identity).await
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

impl WebPanel {
    fn spec<'a>(&'a self, url: &'a str, window: &'a str) -> PanelSpec<'a> {
        PanelSpec {
            prog_id: &self.prog_id,
            name: &self.name,
            tooltip: &self.tooltip,
            visible_in: &self.visible_in,
            url,
            window_name: window,
        }
    }
}

/// The panel with this ProgId: absent, or present with its id and whether it is as declared.
pub(crate) async fn observe_panel<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    spec: &PanelSpec<'_>,
) -> Result<Observed, Halt> {
    Ok(
        match webpanels::find(&run.api, spec.prog_id)
            .await
            .map_err(|e| run.halt(e))?
        {
            None => Observed::Absent,
            Some(p) => Observed::Present {
                id: p.web_panel_id.to_string(),
                as_declared: p.matches(spec),
            },
        },
    )
}

/// Whether a live panel with this ProgId exists.
pub(crate) async fn panel_present<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    prog_id: &str,
) -> Result<bool, Halt> {
    Ok(webpanels::find(&run.api, prog_id)
        .await
        .map_err(|e| run.halt(e))?
        .is_some())
}

/// The panel with this ProgId changed to `spec` (created if missing); its id. The user groups it is
/// shown to are kept (an administrator may have narrowed them).
pub(crate) async fn update_panel<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    spec: &PanelSpec<'_>,
) -> Result<i64, Halt> {
    match webpanels::find(&run.api, spec.prog_id)
        .await
        .map_err(|e| run.halt(e))?
    {
        None => ensure_panel(run, spec).await,
        Some(p) if p.matches(spec) => Ok(p.web_panel_id),
        Some(p) => {
            webpanels::update(&run.api, p.web_panel_id, spec)
                .await
                .map_err(|e| run.halt(e))?;
            run.panels_changed = true;
            Ok(p.web_panel_id)
        }
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
