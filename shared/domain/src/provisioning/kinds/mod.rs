//! One module per kind of artifact, each implementing [`Provision`]: how the engine makes an
//! artifact of that kind exist in a tenant, and how it takes it away again. The SuperOffice side of
//! each (paths, bodies) is in the platform crate's `api` module; here is the app's side: what
//! counts as "already there", what the ledger records, what a removal must leave behind.

use std::future::Future;

use superoffice::webapi::TenantApi;

use super::Halt;
use super::plan::Observed;
use super::run::TenantRun;
use crate::ledger::LedgerEntry;
use crate::manifest::Artifact;

mod button;
pub(crate) mod field;
mod list;
mod panel;
mod preference;
mod webhook;

/// What `ensure` achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ensured {
    /// The artifact exists; the ledger records this SuperOffice id.
    Exists(String),
    /// A field saved in the admin layout: it counts as created once its entity is published.
    AwaitsPublish { entity: String },
}

/// What `remove` achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gone {
    Now,
    /// A field deleted from the admin layout: gone from the CRM once its entity is published.
    AfterPublish {
        entity: String,
    },
}

/// One kind of artifact, as the engine walks it.
pub(crate) trait Provision<A: TenantApi> {
    /// Makes the artifact exist as declared: finds it by its identity, or creates it.
    fn ensure(
        &self,
        run: &mut TenantRun<'_, A>,
    ) -> impl Future<Output = Result<Ensured, Halt>> + Send;

    /// Looks for the declared artifact in the tenant by its identity (targeted calls only): absent,
    /// or present with the id the ledger records and whether it shows what is declared.
    fn observe(
        &self,
        run: &mut TenantRun<'_, A>,
    ) -> impl Future<Output = Result<Observed, Halt>> + Send;

    /// Changes the artifact in the tenant to the declaration (an app upgrade, or a repair that found
    /// it changed); one found missing is created. `id` as the ledger recorded it.
    fn update(
        &self,
        run: &mut TenantRun<'_, A>,
        id: Option<&str>,
    ) -> impl Future<Output = Result<Ensured, Halt>> + Send;

    /// Whether an artifact the ledger recorded (and the manifest may no longer declare) is in the
    /// tenant: by its recorded id where the kind has a lookup by id, else by its identity.
    fn present(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        id: Option<&str>,
    ) -> impl Future<Output = Result<bool, Halt>> + Send;

    /// Removes what the ledger recorded for an artifact of this kind (`identity` as in its key, `id`
    /// as recorded; `None` for an intent, whose artifact may exist without its id recorded: it is
    /// found by its identity). Already gone counts as removed; nothing the app did not create is
    /// touched.
    fn remove(
        run: &mut TenantRun<'_, A>,
        identity: &str,
        id: Option<&str>,
    ) -> impl Future<Output = Result<Gone, Halt>> + Send;
}

/// Calls `$f` of the kind a ledger entry names (`$f(run, identity, id)`).
macro_rules! by_kind {
    ($entry:expr, $f:ident, $run:expr) => {{
        let entry: &LedgerEntry = $entry;
        let identity = entry
            .key
            .strip_prefix(&format!("{}:", entry.kind))
            .unwrap_or(&entry.key);
        let id = entry.superoffice_id.as_deref();
        match entry.kind.as_str() {
            "list" => <crate::manifest::List as Provision<A>>::$f($run, identity, id).await,
            "user_defined_field" => {
                <crate::manifest::UserDefinedField as Provision<A>>::$f($run, identity, id).await
            }
            "web_panel" => <crate::manifest::WebPanel as Provision<A>>::$f($run, identity, id).await,
            "button" => <crate::manifest::Button as Provision<A>>::$f($run, identity, id).await,
            "preference" => {
                <crate::manifest::Preference as Provision<A>>::$f($run, identity, id).await
            }
            "webhook" => <crate::manifest::Webhook as Provision<A>>::$f($run, identity, id).await,
            other => Err(Halt::Stop(format!(
                "The app's records name an item of a kind it does not know ({other}). The app's support has the details."
            ))),
        }
    }};
}

/// Removes a recorded artifact through its kind.
pub(crate) async fn remove<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    entry: &LedgerEntry,
) -> Result<Gone, Halt> {
    by_kind!(entry, remove, run)
}

/// Whether a recorded artifact is in the tenant, through its kind.
pub(crate) async fn present<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    entry: &LedgerEntry,
) -> Result<bool, Halt> {
    by_kind!(entry, present, run)
}

/// Makes a declared artifact exist, through its kind.
pub(crate) async fn ensure<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    artifact: &Artifact,
) -> Result<Ensured, Halt> {
    match artifact {
        Artifact::List(a) => a.ensure(run).await,
        Artifact::UserDefinedField(a) => a.ensure(run).await,
        Artifact::WebPanel(a) => a.ensure(run).await,
        Artifact::Button(a) => a.ensure(run).await,
        Artifact::Preference(a) => a.ensure(run).await,
        Artifact::Webhook(a) => a.ensure(run).await,
    }
}

/// Changes a declared artifact to its declaration, through its kind.
pub(crate) async fn update<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    artifact: &Artifact,
    id: Option<&str>,
) -> Result<Ensured, Halt> {
    match artifact {
        Artifact::List(a) => a.update(run, id).await,
        Artifact::UserDefinedField(a) => a.update(run, id).await,
        Artifact::WebPanel(a) => a.update(run, id).await,
        Artifact::Button(a) => a.update(run, id).await,
        Artifact::Preference(a) => a.update(run, id).await,
        Artifact::Webhook(a) => a.update(run, id).await,
    }
}

/// Looks for a declared artifact, through its kind.
pub(crate) async fn observe<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    artifact: &Artifact,
) -> Result<Observed, Halt> {
    match artifact {
        Artifact::List(a) => a.observe(run).await,
        Artifact::UserDefinedField(a) => a.observe(run).await,
        Artifact::WebPanel(a) => a.observe(run).await,
        Artifact::Button(a) => a.observe(run).await,
        Artifact::Preference(a) => a.observe(run).await,
        Artifact::Webhook(a) => a.observe(run).await,
    }
}

/// Removes the panels SuperOffice still records as created by this app (read back after the
/// ledger's panels are gone: a panel created by a run that died before recording it is found
/// here). `GetAppWebPanels` exists only in Online; where the tenant refuses it, the ledger's own
/// removal stands.
pub(crate) async fn remove_app_panels_left<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
) -> Result<(), Halt> {
    use superoffice::webapi::WebApiError;
    let left = match superoffice::api::webpanels::app_panels(&run.api).await {
        Ok(panels) => panels,
        Err(WebApiError::NotFound | WebApiError::Rejected { .. }) => {
            tracing::info!(tenant = %run.tenant, reason = "app_panels_unsupported", "the tenant does not list the app's panels; the ledger's removal stands");
            return Ok(());
        }
        Err(e) => return Err(run.halt(e)),
    };
    for panel in left.iter().filter(|p| p.web_panel_id > 0) {
        tracing::info!(tenant = %run.tenant, reason = "app_panel_left", prog_id = %panel.prog_id, "removing a panel of the app's the ledger did not hold");
        panel::remove_panel(run, panel.web_panel_id).await?;
    }
    Ok(())
}

/// An id the app recorded, as a number.
pub(crate) fn recorded_id(id: Option<&str>) -> Option<i64> {
    id.and_then(|s| s.trim().parse().ok()).filter(|n| *n > 0)
}
