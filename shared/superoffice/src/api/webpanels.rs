//! Web panels and buttons. A button is a web panel too: SuperOffice's own provisioning samples build
//! a browser panel holding the page and a `NavigatorButton` panel whose URL is
//! `soprotocol:browser.{window}`. Panels are found by ProgId (the stable key partners give them)
//! through `Agents/List/GetWebPanelByProgId` (one panel, whatever the number of panels),
//! created through `List/WebPanel/Items`, shown to user groups through
//! `List/WebPanel/Items/{id}/UserGroups` (the generic list-item visibility call, with the list named
//! `WebPanel`), and removed for good through `Agents/List/DeleteWebPanel` (the REST `DELETE` only
//! marks a panel deleted). After changes the CRM's panel cache is flushed, otherwise the UI shows
//! them only after `?flush` (DevNet's WebPanelHelper).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Removed, Tenant, post, put};
use crate::webapi::{ApiRequest, TenantApi, WebApiError};

/// A panel as the app declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelSpec<'a> {
    pub prog_id: &'a str,
    pub name: &'a str,
    pub tooltip: &'a str,
    /// SuperOffice's `VisibleIn` (ContactCard, NavigatorButton, BrowserPanel, …).
    pub visible_in: &'a str,
    pub url: &'a str,
    pub window_name: &'a str,
}

/// A panel as the WebAPI lists it (the fields the app reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PanelEntity {
    #[serde(default)]
    pub web_panel_id: i64,
    #[serde(default)]
    pub prog_id: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tooltip: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub visible_in: String,
}

impl PanelEntity {
    /// Whether the panel shows what `spec` declares (name, tooltip, where, which page).
    pub fn matches(&self, spec: &PanelSpec<'_>) -> bool {
        self.name == spec.name
            && self.tooltip == spec.tooltip
            && self.url == spec.url
            && self.visible_in.eq_ignore_ascii_case(spec.visible_in)
    }
}

/// A user group (the fields the app reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserGroup {
    #[serde(default)]
    pub id: i64,
}

/// The live panel with this ProgId, if any. The agent's answer for an unknown ProgId is not
/// documented: `null`, an empty panel (id 0) and 404 all read as "none".
pub async fn find<A: TenantApi>(
    t: &Tenant<'_, A>,
    prog_id: &str,
) -> Result<Option<PanelEntity>, WebApiError> {
    let found: Option<Option<PanelEntity>> = t
        .find(&post("Agents/List/GetWebPanelByProgId").json(json!({"ProgId": prog_id})))
        .await?;
    Ok(found
        .flatten()
        .filter(|p| p.web_panel_id > 0 && !p.deleted && p.prog_id == prog_id))
}

/// Every web panel of the tenant (also other apps' and the tenant's own: on a large site, many).
pub async fn all<A: TenantApi>(t: &Tenant<'_, A>) -> Result<Vec<PanelEntity>, WebApiError> {
    Ok(
        t.json::<Option<Vec<PanelEntity>>>(&ApiRequest::get("List/WebPanel/Items"))
            .await?
            .unwrap_or_default(),
    )
}

/// The live panel with this ProgId in `panels`, if any.
pub fn find_by_prog_id<'p>(panels: &'p [PanelEntity], prog_id: &str) -> Option<&'p PanelEntity> {
    panels
        .iter()
        .find(|p| p.prog_id == prog_id && !p.deleted && p.web_panel_id > 0)
}

/// Creates a panel; the created entity.
pub async fn create<A: TenantApi>(
    t: &Tenant<'_, A>,
    spec: &PanelSpec<'_>,
) -> Result<PanelEntity, WebApiError> {
    let created: PanelEntity = t
        .json(&post("List/WebPanel/Items").json(body(spec)))
        .await?;
    if created.web_panel_id <= 0 {
        return Err(WebApiError::InvalidResponse(
            "the created panel has no WebPanelId".into(),
        ));
    }
    Ok(created)
}

/// Changes an existing panel to what `spec` declares (`PUT List/WebPanel/Items/{id}` with the whole
/// entity, as for a new one); its visibility to user groups is kept.
pub async fn update<A: TenantApi>(
    t: &Tenant<'_, A>,
    panel: i64,
    spec: &PanelSpec<'_>,
) -> Result<(), WebApiError> {
    let mut entity = body(spec);
    entity["WebPanelId"] = json!(panel);
    t.send(&put(format!("List/WebPanel/Items/{panel}")).json(entity))
        .await
        .map(|_| ())
}

/// The JSON body of a new panel: shown in the web client and Central, at SuperOffice's samples'
/// rank, never reloaded needlessly.
fn body(spec: &PanelSpec<'_>) -> Value {
    json!({
        "Name": spec.name,
        "Tooltip": spec.tooltip,
        "ProgId": spec.prog_id,
        "Url": spec.url,
        "VisibleIn": spec.visible_in,
        "UrlEncoding": "None",
        "WindowName": spec.window_name,
        "OnCentral": true,
        "OnSalesMarketingWeb": true,
        "OnSalesMarketingPocket": false,
        "OnSatellite": false,
        "OnTravel": false,
        "Rank": 100,
        "Deleted": false,
        "AlwaysReloadOnShow": false,
    })
}

/// The tenant's user groups.
pub async fn user_groups<A: TenantApi>(t: &Tenant<'_, A>) -> Result<Vec<UserGroup>, WebApiError> {
    Ok(
        t.json::<Option<Vec<UserGroup>>>(&ApiRequest::get("List/UserGroup/Items"))
            .await?
            .unwrap_or_default(),
    )
}

/// Makes the panel visible to exactly these user groups.
pub async fn show_to_groups<A: TenantApi>(
    t: &Tenant<'_, A>,
    panel: i64,
    groups: &[UserGroup],
) -> Result<(), WebApiError> {
    let selected: Vec<Value> = groups
        .iter()
        .filter(|g| g.id > 0)
        .map(|g| json!({"Id": g.id, "Selected": true}))
        .collect();
    t.send(&put(format!("List/WebPanel/Items/{panel}/UserGroups")).json(Value::Array(selected)))
        .await
        .map(|_| ())
}

/// The panels SuperOffice records as created by this app (Online only; needs the app token).
pub async fn app_panels<A: TenantApi>(t: &Tenant<'_, A>) -> Result<Vec<PanelEntity>, WebApiError> {
    Ok(
        t.json::<Option<Vec<PanelEntity>>>(&post("Agents/List/GetAppWebPanels"))
            .await?
            .unwrap_or_default(),
    )
}

/// Deletes the panel with this id for good.
pub async fn remove<A: TenantApi>(t: &Tenant<'_, A>, panel: i64) -> Result<Removed, WebApiError> {
    t.delete(&post("Agents/List/DeleteWebPanel").json(json!({"Id": panel})))
        .await
}

/// Makes panel changes visible in the CRM without `?flush`.
pub async fn flush_caches<A: TenantApi>(t: &Tenant<'_, A>) -> Result<(), WebApiError> {
    t.send(
        &post("Agents/Diagnostics/FlushCachesByName").json(json!({"CacheNames": ["ExtAppCache"]})),
    )
    .await
    .map(|_| ())
}
