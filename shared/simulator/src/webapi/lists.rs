//! Lists, list items, user groups and per-item user-group visibility.
//!
//! | Method and path | Effect |
//! |---|---|
//! | `GET List[?includeDeleted=true]` | every list (`ListEntity`) |
//! | `POST List` | creates a list: `{Name, Tooltip, UseGroupsAndHeadings}` → `ListEntityWithLinks` |
//! | `GET\|PUT\|DELETE List/{id or name}` | one list; built-in lists cannot be deleted (400) |
//! | `GET\|POST List/{id or name}/Items` | the items (`ListItemEntity`) |
//! | `GET\|PUT\|DELETE List/{id or name}/Items/{itemId}` | one item (DELETE removes it) |
//! | `GET\|PUT List/{id or name}/Items/{itemId}/UserGroups` | the user groups the item is visible for |
//! | `GET List/UserGroup`, `GET List/UserGroup/Items` | the user-group list and its `UserGroup`s |
//!
//! The built-in `webpanel` and `usergroup` lists show web panels and user groups as their items.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Map, Value};

use super::data::{ListDef, ListKind, TenantData, USERGROUP_LIST_ID};
use super::model::{
    DOTNET_MIN_DATE, ListEntity, ListItemEntity, SelectableMdoListItem, UserGroup, WithLinks,
    from_body,
};
use super::{
    ApiError, ApiResult, Caller, int_param, json_body, no_content, ok_json, query, query_bool,
    v1_root, webpanels,
};
use crate::state::AppState;
use crate::util::clip;

type St = State<Arc<AppState>>;
type Ext = Extension<Caller>;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/List", get(all_lists).post(create_list))
        .route("/v1/List/UserGroup", get(user_group_list))
        .route("/v1/List/UserGroup/Items", get(user_group_items))
        .route(
            "/v1/List/{list}",
            get(get_list).put(put_list).delete(delete_list),
        )
        .route("/v1/List/{list}/Items", get(get_items).post(add_item))
        .route(
            "/v1/List/{list}/Items/{item}",
            get(get_item).put(put_item).delete(delete_item),
        )
        .route(
            "/v1/List/{list}/Items/{item}/UserGroups",
            get(get_visibility).put(put_visibility),
        )
}

pub(crate) fn with_tenant<R>(
    st: &AppState,
    caller: &Caller,
    f: impl FnOnce(&mut TenantData) -> R,
) -> Result<R, ApiError> {
    st.webapi
        .with(&caller.ctx, f)
        .ok_or_else(|| ApiError::unknown_tenant(&caller.ctx))
}

fn no_such_list(key: &str) -> ApiError {
    ApiError::not_found(format!("No list {:?}", clip(key, 80)))
}

fn resolve(t: &TenantData, key: &str) -> Result<usize, ApiError> {
    t.list_index(key).ok_or_else(|| no_such_list(key))
}

fn with_links(st: &AppState, caller: &Caller, e: ListEntity) -> WithLinks<ListEntity> {
    let self_url = format!("{}List/{}/", v1_root(st, &caller.ctx), e.id);
    WithLinks::new(e, self_url)
}

async fn all_lists(State(st): St, Extension(caller): Ext, RawQuery(q): RawQuery) -> ApiResult {
    let include_deleted = query_bool(&query(q.as_deref()), "includeDeleted")?;
    let lists = with_tenant(&st, &caller, |t| {
        (0..t.lists.len())
            .map(|i| t.list_entity(i))
            .filter(|e| include_deleted || !e.deleted)
            .collect::<Vec<_>>()
    })?;
    ok_json(&lists)
}

async fn create_list(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let new: ListEntity =
        from_body(json_body(&body)?, "ListEntity").map_err(ApiError::bad_request)?;
    let name = new.name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("Name is required"));
    }
    let created = with_tenant(&st, &caller, |t| -> Result<ListEntity, ApiError> {
        if name_taken(t, name, None) {
            return Err(ApiError::conflict(format!(
                "A list named {:?} already exists",
                clip(name, 80)
            )));
        }
        let id = t.next_list_id;
        t.next_list_id += 1;
        // As in the documented example response: a created list is not "custom" and has no type.
        let entity = ListEntity {
            id,
            name: name.to_owned(),
            tooltip: new.tooltip.clone(),
            deleted: false,
            rank: new.rank,
            is_custom_list: false,
            is_mdo_list: false,
            use_groups_and_headings: new.use_groups_and_headings,
            list_type: None,
            in_use_by_user_defined_fields: false,
            table_right: None,
            field_properties: Map::new(),
        };
        t.lists.push(ListDef {
            entity: entity.clone(),
            built_in: false,
            kind: ListKind::Plain,
            items: Vec::new(),
        });
        Ok(entity)
    })??;
    ok_json(&with_links(&st, &caller, created))
}

fn name_taken(t: &TenantData, name: &str, except_id: Option<i32>) -> bool {
    t.lists.iter().any(|l| {
        Some(l.entity.id) != except_id
            && !l.entity.deleted
            && l.entity.name.eq_ignore_ascii_case(name)
    })
}

async fn get_list(State(st): St, Extension(caller): Ext, Path(key): Path<String>) -> ApiResult {
    let e = with_tenant(&st, &caller, |t| resolve(t, &key).map(|i| t.list_entity(i)))??;
    ok_json(&with_links(&st, &caller, e))
}

async fn put_list(
    State(st): St,
    Extension(caller): Ext,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    let new: ListEntity =
        from_body(json_body(&body)?, "ListEntity").map_err(ApiError::bad_request)?;
    let e = with_tenant(&st, &caller, |t| -> Result<ListEntity, ApiError> {
        let i = resolve(t, &key)?;
        let id = t.lists[i].entity.id;
        if !t.lists[i].built_in {
            let name = new.name.trim();
            if !name.is_empty() && name != t.lists[i].entity.name {
                if name_taken(t, name, Some(id)) {
                    return Err(ApiError::conflict(format!(
                        "A list named {:?} already exists",
                        clip(name, 80)
                    )));
                }
                t.lists[i].entity.name = name.to_owned();
            }
            t.lists[i].entity.use_groups_and_headings = new.use_groups_and_headings;
            t.lists[i].entity.deleted = new.deleted;
        }
        // Built-in lists keep their name and type; tooltip and rank may change.
        t.lists[i].entity.tooltip = new.tooltip;
        t.lists[i].entity.rank = new.rank;
        Ok(t.list_entity(i))
    })??;
    ok_json(&with_links(&st, &caller, e))
}

async fn delete_list(State(st): St, Extension(caller): Ext, Path(key): Path<String>) -> ApiResult {
    with_tenant(&st, &caller, |t| -> Result<(), ApiError> {
        let i = resolve(t, &key)?;
        if t.lists[i].built_in {
            return Err(ApiError::bad_request(format!(
                "{:?} is a built-in list and cannot be deleted",
                t.lists[i].entity.name
            )));
        }
        let id = t.lists[i].entity.id;
        t.lists.remove(i);
        t.visibility.retain(|(list, _), _| *list != id);
        Ok(())
    })??;
    no_content()
}

/// `GET List/UserGroup`: the built-in user-group list.
async fn user_group_list(State(st): St, Extension(caller): Ext) -> ApiResult {
    let e = with_tenant(&st, &caller, |t| {
        t.list_index(&USERGROUP_LIST_ID.to_string())
            .map(|i| t.list_entity(i))
    })?
    .ok_or_else(|| no_such_list("UserGroup"))?;
    ok_json(&with_links(&st, &caller, e))
}

/// `GET List/UserGroup/Items`: the `UserGroup` carriers.
async fn user_group_items(
    State(st): St,
    Extension(caller): Ext,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let include_deleted = query_bool(&query(q.as_deref()), "includeDeleted")?;
    let groups = with_tenant(&st, &caller, |t| {
        t.user_groups
            .iter()
            .filter(|g| include_deleted || !g.deleted)
            .cloned()
            .collect::<Vec<UserGroup>>()
    })?;
    ok_json(&groups)
}

async fn get_items(
    State(st): St,
    Extension(caller): Ext,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let include_deleted = query_bool(&query(q.as_deref()), "includeDeleted")?;
    // IIS routing ignores case, so `List/webpanel/Items` is the web-panel endpoint.
    if key.eq_ignore_ascii_case("WebPanel") {
        return webpanels::all_panels(State(st), Extension(caller)).await;
    }
    if key.eq_ignore_ascii_case("UserGroup") {
        return user_group_items(State(st), Extension(caller), RawQuery(q)).await;
    }
    let items = with_tenant(&st, &caller, |t| {
        resolve(t, &key).map(|i| {
            t.list_items(i)
                .into_iter()
                .filter(|it| include_deleted || !it.deleted)
                .collect::<Vec<_>>()
        })
    })??;
    ok_json(&items)
}

/// Index of a plain (item-storing) list, or 400 for the built-in web-panel and user-group lists.
fn plain_list(t: &TenantData, key: &str) -> Result<usize, ApiError> {
    let i = resolve(t, key)?;
    match t.lists[i].kind {
        ListKind::Plain => Ok(i),
        ListKind::WebPanel => Err(ApiError::bad_request(
            "The items of the webpanel list are web panels: use List/WebPanel/Items",
        )),
        ListKind::UserGroup => Err(ApiError::bad_request(
            "The items of the usergroup list are user groups, which the simulator does not let you change",
        )),
    }
}

async fn add_item(
    State(st): St,
    Extension(caller): Ext,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    if key.eq_ignore_ascii_case("WebPanel") {
        return webpanels::create_panel(State(st), Extension(caller), body).await;
    }
    let new: ListItemEntity =
        from_body(json_body(&body)?, "ListItemEntity").map_err(ApiError::bad_request)?;
    if new.name.trim().is_empty() {
        return Err(ApiError::bad_request("Name is required"));
    }
    let item = with_tenant(&st, &caller, |t| -> Result<ListItemEntity, ApiError> {
        let i = plain_list(t, &key)?;
        let id = t.next_list_item_id;
        t.next_list_item_id += 1;
        let list_id = t.lists[i].entity.id;
        // Names such as `NO:"Bil";US:"Car"` are stored as given.
        let item = ListItemEntity {
            id,
            name: new.name.clone(),
            tooltip: new.tooltip.clone(),
            deleted: new.deleted,
            ud_list_definition_id: list_id,
            rank: new.rank,
            table_right: None,
            field_properties: Map::new(),
        };
        t.lists[i].items.push(item.clone());
        Ok(item)
    })??;
    ok_json(&item)
}

fn no_such_item(key: &str, item: i32) -> ApiError {
    ApiError::not_found(format!("List {:?} has no item {item}", clip(key, 80)))
}

async fn get_item(
    State(st): St,
    Extension(caller): Ext,
    Path((key, item)): Path<(String, String)>,
) -> ApiResult {
    let item = int_param(&item, "item id")?;
    let found = with_tenant(&st, &caller, |t| {
        resolve(t, &key).map(|i| t.list_items(i).into_iter().find(|it| it.id == item))
    })??;
    match found {
        Some(it) => ok_json(&it),
        None => Err(no_such_item(&key, item)),
    }
}

async fn put_item(
    State(st): St,
    Extension(caller): Ext,
    Path((key, item)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let item = int_param(&item, "item id")?;
    let new: ListItemEntity =
        from_body(json_body(&body)?, "ListItemEntity").map_err(ApiError::bad_request)?;
    let saved = with_tenant(&st, &caller, |t| -> Result<ListItemEntity, ApiError> {
        let i = plain_list(t, &key)?;
        let it = t.lists[i]
            .items
            .iter_mut()
            .find(|it| it.id == item)
            .ok_or_else(|| no_such_item(&key, item))?;
        if !new.name.trim().is_empty() {
            it.name = new.name;
        }
        it.tooltip = new.tooltip;
        it.rank = new.rank;
        it.deleted = new.deleted;
        Ok(it.clone())
    })??;
    ok_json(&saved)
}

async fn delete_item(
    State(st): St,
    Extension(caller): Ext,
    Path((key, item)): Path<(String, String)>,
) -> ApiResult {
    let item = int_param(&item, "item id")?;
    with_tenant(&st, &caller, |t| -> Result<(), ApiError> {
        let i = plain_list(t, &key)?;
        let list_id = t.lists[i].entity.id;
        let pos = t.lists[i]
            .items
            .iter()
            .position(|it| it.id == item)
            .ok_or_else(|| no_such_item(&key, item))?;
        t.lists[i].items.remove(pos);
        t.visibility.remove(&(list_id, item));
        Ok(())
    })??;
    no_content()
}

fn selectable(g: &UserGroup) -> SelectableMdoListItem {
    SelectableMdoListItem {
        id: g.id,
        name: g.value.clone(),
        tool_tip: g.tooltip.clone(),
        deleted: g.deleted,
        rank: g.rank,
        item_type: "usergroup".into(),
        color_block: 0,
        icon_hint: String::new(),
        selected: true,
        last_changed: DOTNET_MIN_DATE.into(),
        child_items: Vec::new(),
        extra_info: String::new(),
        style_hint: String::new(),
        hidden: false,
        full_name: g.value.clone(),
        table_right: None,
        field_properties: Map::new(),
    }
}

/// (list id, item id) of an existing item whose visibility can be set.
fn visibility_target(t: &TenantData, key: &str, item: i32) -> Result<(i32, i32), ApiError> {
    let i = resolve(t, key)?;
    if t.lists[i].kind == ListKind::UserGroup {
        return Err(ApiError::bad_request(
            "User groups have no user-group visibility",
        ));
    }
    if !t.list_items(i).iter().any(|it| it.id == item) {
        return Err(no_such_item(key, item));
    }
    Ok((t.lists[i].entity.id, item))
}

fn visible_groups(t: &TenantData, list_id: i32, item: i32) -> Vec<SelectableMdoListItem> {
    let ids = t.visible_for(list_id, item);
    t.user_groups
        .iter()
        .filter(|g| ids.contains(&g.id))
        .map(selectable)
        .collect()
}

pub(crate) async fn get_visibility(
    State(st): St,
    Extension(caller): Ext,
    Path((key, item)): Path<(String, String)>,
) -> ApiResult {
    let item = int_param(&item, "item id")?;
    let groups = with_tenant(&st, &caller, |t| {
        visibility_target(t, &key, item).map(|(l, i)| visible_groups(t, l, i))
    })??;
    ok_json(&groups)
}

/// The group ids of a `UserGroups` PUT body: `SelectableMDOListItem`s (those with `Selected: false`
/// are left out) or plain ids.
fn group_ids(body: Value) -> Result<Vec<i32>, ApiError> {
    let Value::Array(items) = body else {
        return Err(ApiError::bad_request(
            "The body must be a JSON array of SelectableMDOListItem (or user-group ids)",
        ));
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let (id, selected) = match &item {
            Value::Number(n) => (n.as_i64(), true),
            Value::Object(o) => {
                let get = |name: &str| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                };
                let id = get("Id").and_then(Value::as_i64);
                let selected = get("Selected").and_then(Value::as_bool).unwrap_or(true);
                (id, selected)
            }
            _ => (None, false),
        };
        let id = id
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| ApiError::bad_request("Every element needs an integer Id"))?;
        if selected && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) async fn put_visibility(
    State(st): St,
    Extension(caller): Ext,
    Path((key, item)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let item = int_param(&item, "item id")?;
    let ids = group_ids(json_body(&body)?)?;
    let groups = with_tenant(&st, &caller, |t| -> Result<_, ApiError> {
        let (list_id, item) = visibility_target(t, &key, item)?;
        if let Some(bad) = ids
            .iter()
            .find(|id| !t.user_groups.iter().any(|g| g.id == **id))
        {
            return Err(ApiError::bad_request(format!("No user group {bad}")));
        }
        t.visibility.insert((list_id, item), ids.clone());
        Ok(visible_groups(t, list_id, item))
    })??;
    ok_json(&groups)
}
