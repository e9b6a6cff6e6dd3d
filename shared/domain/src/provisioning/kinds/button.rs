//! Navigator buttons, as SuperOffice's own samples build them: a browser panel holding the app's
//! page, and a `NavigatorButton` panel that opens it (`soprotocol:browser.{window}`). The ledger
//! records both ids (`browser,button`); removal deletes both.

use superoffice::api::webpanels::PanelSpec;
use superoffice::webapi::TenantApi;

use super::panel::{ensure_panel, remove_panel, remove_panel_by_prog_id, window_name};
use super::{Ensured, Gone, Provision, recorded_id};
use crate::manifest::Button;
use crate::provisioning::Halt;
use crate::provisioning::run::TenantRun;

impl<A: TenantApi> Provision<A> for Button {
    async fn ensure(&self, run: &mut TenantRun<'_, A>) -> Result<Ensured, Halt> {
        let window = window_name(&self.prog_id);
        let browser_prog_id = format!("{}.Browser", self.prog_id);
        let url = run.url(&self.path);
        let browser = ensure_panel(
            run,
            &PanelSpec {
                prog_id: &browser_prog_id,
                name: &self.name,
                tooltip: &self.tooltip,
                visible_in: "BrowserPanel",
                url: &url,
                window_name: &window,
            },
        )
        .await?;
        let opens = format!("soprotocol:browser.{window}");
        let button = ensure_panel(
            run,
            &PanelSpec {
                prog_id: &self.prog_id,
                name: &self.name,
                tooltip: &self.tooltip,
                visible_in: "NavigatorButton",
                url: &opens,
                window_name: &window,
            },
        )
        .await?;
        Ok(Ensured::Exists(format!("{browser},{button}")))
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
