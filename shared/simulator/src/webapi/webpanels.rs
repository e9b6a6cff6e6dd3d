//! Web panels (and buttons, which are web panels too), owned by the app that created them.
//!
//! | Method and path | Effect |
//! |---|---|
//! | `GET List/WebPanel` | the built-in `webpanel` list |
//! | `GET\|POST List/WebPanel/Items` | every panel / creates one (owned by the calling app) |
//! | `GET List/WebPanel/Items/Default` | a default `WebPanelEntity` |
//! | `GET\|PUT List/WebPanel/Items/{id}` | one panel |
//! | `DELETE List/WebPanel/Items/{id}` | marks it deleted (`Deleted: true`) |
//! | `GET\|PUT List/WebPanel/Items/{id}/UserGroups` | its user-group visibility |
//! | `POST Agents/List/SaveWebPanelEntity` | creates (`WebPanelId` 0) or updates |
//! | `POST Agents/List/GetWebPanelEntity?webPanelEntityId=` | one panel (`null` if none) |
//! | `POST Agents/List/GetWebPanelByProgId` `{"ProgId"}` | one panel (`null` if none) |
//! | `POST Agents/List/GetWebPanelList` | every panel |
//! | `POST Agents/List/DeleteWebPanel` `{"Id"}` | deletes it for good |
//! | `POST Agents/List/GetAppWebPanels` | the panels owned by the calling app |
//! | `POST Agents/List/DeleteAppWebPanels` | deletes the calling app's panels for good |
//!
//! "The calling app" is known only when the request carries its `SO-AppToken` (always with a
//! ticket); otherwise panels are created without an owner and the app calls see nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::Value;

use super::data::{TenantData, WEBPANEL_LIST_ID, WebPanel};
use super::lists::{get_visibility, put_visibility, with_tenant};
use super::model::{URL_ENCODINGS, VISIBLE_IN, WebPanelEntity, WithLinks, check_enum, from_body};
use super::{
    ApiError, ApiResult, Caller, int_param, json_body, no_content, ok_json, query, v1_root,
};
use crate::state::AppState;
use crate::util::clip;

type St = State<Arc<AppState>>;
type Ext = Extension<Caller>;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/List/WebPanel", get(webpanel_list))
        .route(
            "/v1/List/WebPanel/Items",
            get(all_panels).post(create_panel),
        )
        .route("/v1/List/WebPanel/Items/Default", get(default_panel))
        .route(
            "/v1/List/WebPanel/Items/{id}",
            get(get_panel).put(put_panel).delete(soft_delete_panel),
        )
        .route(
            "/v1/List/WebPanel/Items/{id}/UserGroups",
            get(get_panel_visibility).put(put_panel_visibility),
        )
        .route("/v1/Agents/List/SaveWebPanelEntity", post(agent_save))
        .route("/v1/Agents/List/GetWebPanelEntity", post(agent_get))
        .route(
            "/v1/Agents/List/GetWebPanelByProgId",
            post(agent_get_by_prog_id),
        )
        .route("/v1/Agents/List/GetWebPanelList", post(all_panels))
        .route("/v1/Agents/List/DeleteWebPanel", post(agent_delete))
        .route("/v1/Agents/List/GetAppWebPanels", post(app_panels))
        .route(
            "/v1/Agents/List/DeleteAppWebPanels",
            post(delete_app_panels),
        )
}

async fn webpanel_list(State(st): St, Extension(caller): Ext) -> ApiResult {
    let e = with_tenant(&st, &caller, |t| {
        t.list_index(&WEBPANEL_LIST_ID.to_string())
            .map(|i| t.list_entity(i))
    })?
    .ok_or_else(|| ApiError::not_found("No webpanel list"))?;
    let self_url = format!("{}List/{}/", v1_root(&st, &caller.ctx), e.id);
    ok_json(&WithLinks::new(e, self_url))
}

pub(crate) async fn all_panels(State(st): St, Extension(caller): Ext) -> ApiResult {
    let panels = with_tenant(&st, &caller, |t| {
        t.web_panels
            .iter()
            .map(|p| p.entity.clone())
            .collect::<Vec<_>>()
    })?;
    ok_json(&panels)
}

async fn default_panel() -> ApiResult {
    ok_json(&WebPanelEntity::default())
}

fn parse_panel(body: &Bytes) -> Result<WebPanelEntity, ApiError> {
    let p: WebPanelEntity =
        from_body(json_body(body)?, "WebPanelEntity").map_err(ApiError::bad_request)?;
    if p.name.trim().is_empty() {
        return Err(ApiError::bad_request("Name is required"));
    }
    check_enum(&p.visible_in, VISIBLE_IN, "VisibleIn", false).map_err(ApiError::bad_request)?;
    check_enum(&p.url_encoding, URL_ENCODINGS, "UrlEncoding", false)
        .map_err(ApiError::bad_request)?;
    Ok(p)
}

fn no_such_panel(id: i32) -> ApiError {
    ApiError::not_found(format!("No web panel {id}"))
}

/// Creates (`id` 0) or updates a panel. `ProgId` must be unique among panels not marked deleted.
fn save(
    t: &mut TenantData,
    caller: &Caller,
    mut p: WebPanelEntity,
    id: i32,
) -> Result<WebPanelEntity, ApiError> {
    let existing = match id {
        0 => None,
        id => Some(t.web_panel_index(id).ok_or_else(|| no_such_panel(id))?),
    };
    if !p.prog_id.is_empty()
        && t.web_panels.iter().any(|o| {
            o.entity.web_panel_id != id && !o.entity.deleted && o.entity.prog_id == p.prog_id
        })
    {
        return Err(ApiError::conflict(format!(
            "A web panel with ProgId {:?} already exists",
            clip(&p.prog_id, 80)
        )));
    }
    p.web_panel_id = id;
    match existing {
        Some(i) => t.web_panels[i].entity = p.clone(),
        None => {
            p.web_panel_id = t.next_web_panel_id;
            t.next_web_panel_id += 1;
            p.deleted = false;
            t.web_panels.push(WebPanel {
                entity: p.clone(),
                owner: caller.owning_app().map(str::to_owned),
            });
        }
    }
    Ok(p)
}

pub(crate) async fn create_panel(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let p = parse_panel(&body)?;
    let saved = with_tenant(&st, &caller, |t| save(t, &caller, p, 0))??;
    ok_json(&saved)
}

async fn get_panel(State(st): St, Extension(caller): Ext, Path(id): Path<String>) -> ApiResult {
    let id = int_param(&id, "web panel id")?;
    let p = with_tenant(&st, &caller, |t| {
        t.web_panel_index(id)
            .map(|i| t.web_panels[i].entity.clone())
    })?
    .ok_or_else(|| no_such_panel(id))?;
    ok_json(&p)
}

async fn put_panel(
    State(st): St,
    Extension(caller): Ext,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = int_param(&id, "web panel id")?;
    let p = parse_panel(&body)?;
    if id == 0 {
        return Err(no_such_panel(0));
    }
    let saved = with_tenant(&st, &caller, |t| save(t, &caller, p, id))??;
    ok_json(&saved)
}

async fn soft_delete_panel(
    State(st): St,
    Extension(caller): Ext,
    Path(id): Path<String>,
) -> ApiResult {
    let id = int_param(&id, "web panel id")?;
    with_tenant(&st, &caller, |t| {
        t.web_panel_index(id)
            .map(|i| t.web_panels[i].entity.deleted = true)
    })?
    .ok_or_else(|| no_such_panel(id))?;
    no_content()
}

async fn get_panel_visibility(st: St, caller: Ext, Path(id): Path<String>) -> ApiResult {
    get_visibility(st, caller, Path((WEBPANEL_LIST_ID.to_string(), id))).await
}

async fn put_panel_visibility(
    st: St,
    caller: Ext,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    put_visibility(st, caller, Path((WEBPANEL_LIST_ID.to_string(), id)), body).await
}

async fn agent_save(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let p = parse_panel(&body)?;
    let id = p.web_panel_id;
    let saved = with_tenant(&st, &caller, |t| save(t, &caller, p, id))??;
    ok_json(&saved)
}

async fn agent_get(State(st): St, Extension(caller): Ext, RawQuery(q): RawQuery) -> ApiResult {
    let params = query(q.as_deref());
    let id = params
        .get("webPanelEntityId")
        .ok_or_else(|| ApiError::bad_request("webPanelEntityId is required"))?;
    let id = int_param(id, "webPanelEntityId")?;
    let p = with_tenant(&st, &caller, |t| {
        t.web_panel_index(id)
            .map(|i| t.web_panels[i].entity.clone())
    })?;
    ok_json(&p)
}

/// A property of an agent request body, ignoring the case of its name.
pub(crate) fn body_field<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

async fn agent_get_by_prog_id(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let prog_id = body_field(&body, "ProgId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("The body must be {\"ProgId\": \"…\"}"))?;
    let p = with_tenant(&st, &caller, |t| {
        t.web_panels
            .iter()
            .filter(|p| p.entity.prog_id == prog_id)
            .min_by_key(|p| p.entity.deleted)
            .map(|p| p.entity.clone())
    })?;
    ok_json(&p)
}

async fn agent_delete(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let id = body_field(&body, "Id")
        .and_then(Value::as_i64)
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| ApiError::bad_request("The body must be {\"Id\": <web panel id>}"))?;
    with_tenant(&st, &caller, |t| {
        t.web_panel_index(id).map(|i| t.hard_delete_web_panel(i))
    })?
    .ok_or_else(|| no_such_panel(id))?;
    no_content()
}

async fn app_panels(State(st): St, Extension(caller): Ext) -> ApiResult {
    let owner = caller.owning_app().map(str::to_owned);
    let panels = with_tenant(&st, &caller, |t| {
        t.web_panels
            .iter()
            .filter(|p| owner.is_some() && p.owner == owner)
            .map(|p| p.entity.clone())
            .collect::<Vec<_>>()
    })?;
    ok_json(&panels)
}

async fn delete_app_panels(State(st): St, Extension(caller): Ext) -> ApiResult {
    let Some(owner) = caller.owning_app().map(str::to_owned) else {
        // "otherwise nothing happens"
        return no_content();
    };
    with_tenant(&st, &caller, |t| {
        while let Some(i) = t
            .web_panels
            .iter()
            .position(|p| p.owner.as_deref() == Some(owner.as_str()))
        {
            t.hard_delete_web_panel(i);
        }
    })?;
    no_content()
}
