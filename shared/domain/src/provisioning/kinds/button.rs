//! Navigator buttons, as SuperOffice's own samples build them: a browser panel holding the app's
//! page, and a `NavigatorButton` panel that opens it (`soprotocol:browser.{window}`). The ledger
//! records both ids (`browser,button`); removal deletes both.

use superoffice::api::webpanels::PanelSpec;
use superoffice::webapi::TenantApi;

use super::panel::{
    ensure_panel, observe_panel, panel_present, remove_panel, remove_panel_by_prog_id,
    update_panel, window_name,
};
use super::{Ensured, Gone, Provision, recorded_id};
use crate::manifest::Button;
use crate::provisioning::Halt;
use crate::provisioning::plan::Observed;
use crate::provisioning::run::TenantRun;

impl<A: TenantApi> Provision<A> for Button {
    async fn ensure(&self, run: &mut TenantRun<'_, A>) -> Result<Ensured, Halt> {
        let p = self.parts(run);
        let browser = ensure_panel(run, &p.browser()).await?;
        let button = ensure_panel(run, &p.button()).await?;
        Ok(Ensured::Exists(format!("{browser},{button}")))
    }

    async fn observe(&self, run: &mut TenantRun<'_, A>) -> Result<Observed, Halt> {
        let p = self.parts(run);
        let browser = observe_panel(run, &p.browser()).await?;
        let button = observe_panel(run, &p.button()).await?;
        Ok(match (browser, button) {
            (
                Observed::Present {
                    id: b,
                    as_declared: b_ok,
                },
                Observed::Present {
                    id: n,
                    as_declared: n_ok,
                },
            ) => Observed::Present {
                id: format!("{b},{n}"),
                as_declared: b_ok && n_ok,
            },
            // Half a button opens nothing: it is made whole by a create (which finds the half).
            _ => Observed::Absent,
        })
    }

    async fn update(&self, run: &mut TenantRun<'_, A>, _id: Option<&str>) -> Result<Ensured, Halt> {
        let p = self.parts(run);
        let browser = update_panel(run, &p.browser()).await?;
        let button = update_panel(run, &p.button()).await?;
        Ok(Ensured::Exists(format!("{browser},{button}")))
    }

    async fn present(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        _id: Option<&str>,
    ) -> Result<bool, Halt> {
        Ok(panel_present(run, identity).await?
            || panel_present(run, &format!("{identity}.Browser")).await?)
    }

    async fn remove(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        id: Option<&str>,
    ) -> Result<Gone, Halt> {
        // The button first: a button left without its browser panel would open nothing.
        let ids: Vec<i64> = id
            .unwrap_or_default()
            .split(',')
            .filter_map(|part| recorded_id(Some(part)))
            .collect();
        if ids.is_empty() {
            // An intent: either panel may exist under its ProgId.
            remove_panel_by_prog_id(run, identity).await?;
            remove_panel_by_prog_id(run, &format!("{identity}.Browser")).await?;
        }
        for id in ids.iter().rev() {
            remove_panel(run, *id).await?;
        }
        Ok(Gone::Now)
    }
}

/// A button's two panels as declared: the browser panel holding the page, and the navigator button
/// that opens it.
struct Parts<'a> {
    button: &'a Button,
    window: String,
    browser_prog_id: String,
    url: String,
    opens: String,
}

impl Button {
    fn parts<A: TenantApi>(&self, run: &TenantRun<'_, A>) -> Parts<'_> {
        let window = window_name(&self.prog_id);
        Parts {
            button: self,
            browser_prog_id: format!("{}.Browser", self.prog_id),
            url: run.url(&self.path),
            opens: format!("soprotocol:browser.{window}"),
            window,
        }
    }
}

impl Parts<'_> {
    fn browser(&self) -> PanelSpec<'_> {
        PanelSpec {
            prog_id: &self.browser_prog_id,
            name: &self.button.name,
            tooltip: &self.button.tooltip,
            visible_in: "BrowserPanel",
            url: &self.url,
            window_name: &self.window,
        }
    }

    fn button(&self) -> PanelSpec<'_> {
        PanelSpec {
            prog_id: &self.button.prog_id,
            name: &self.button.name,
            tooltip: &self.button.tooltip,
            visible_in: "NavigatorButton",
            url: &self.opens,
            window_name: &self.window,
        }
    }
}
