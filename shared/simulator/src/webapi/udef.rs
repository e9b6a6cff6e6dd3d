//! User-defined fields: `{Entity}/UdefLayout` for Contact, Person, Project, Sale, Appointment and
//! Document, plus `Agents/Configuration/RebuildUdefDeltas` and `Agents/Diagnostics/FlushCachesByName`.
//!
//! | Method and path | Effect |
//! |---|---|
//! | `POST {E}/UdefLayout?udefFieldType=T` | a default `UserDefinedFieldInfo` (nothing is stored) |
//! | `PUT {E}/UdefLayout` | adds or updates the array's fields in the admin version (by `ProgId`, else `UDefFieldId`) |
//! | `GET {E}/UdefLayout`, `GET {E}/UdefLayout/{progIdOrLabel}` | the admin version |
//! | `DELETE {E}/UdefLayout/{progIdOrLabel}` | removes a field from the admin version |
//! | `GET {E}/UdefLayout/Published[/{progIdOrLabel}]` | the published version |
//! | `GET {E}/UdefLayout/Publish` | `true` while a publish runs |
//! | `POST {E}/UdefLayout/Publish` | publishes: every field gets a new `UDefFieldId`; 409 while one runs |

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::Value;

use super::data::{UDLIST_TABLE_ID, UdefEntity, UdefLayout, udef_default_field_properties};
use super::model::{JUSTIFICATIONS, UDEF_FIELD_TYPES, UdefFieldInfo, check_enum, from_body};
use super::{ApiError, ApiResult, Caller, json_body, no_content, ok_json, query};
use crate::state::AppState;
use crate::util::clip;

type St = State<Arc<AppState>>;
type Ext = Extension<Caller>;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    let mut r = Router::new();
    for e in UdefEntity::ALL {
        let base = format!("/v1/{}/UdefLayout", e.as_str());
        r = r
            .route(
                &base,
                get(move |s: St, c: Ext| get_layout(s, c, e, false))
                    .put(move |s: St, c: Ext, b: Bytes| save_layout(s, c, e, b))
                    .post(move |s: St, c: Ext, q: RawQuery| default_field(s, c, e, q)),
            )
            .route(
                &format!("{base}/Published"),
                get(move |s: St, c: Ext| get_layout(s, c, e, true)),
            )
            .route(
                &format!("{base}/Published/{{key}}"),
                get(move |s: St, c: Ext, p: Path<String>| get_field(s, c, e, p, true)),
            )
            .route(
                &format!("{base}/Publish"),
                get(move |s: St, c: Ext| is_publishing(s, c, e))
                    .post(move |s: St, c: Ext| publish(s, c, e)),
            )
            .route(
                &format!("{base}/{{key}}"),
                get(move |s: St, c: Ext, p: Path<String>| get_field(s, c, e, p, false))
                    .delete(move |s: St, c: Ext, p: Path<String>| delete_field(s, c, e, p)),
            );
    }
    r.route(
        "/v1/Agents/Configuration/RebuildUdefDeltas",
        post(rebuild_udef_deltas),
    )
    .route(
        "/v1/Agents/Diagnostics/FlushCachesByName",
        post(flush_caches_by_name),
    )
}

/// Runs `f` on the caller's tenant.
fn with_tenant<R>(
    st: &AppState,
    caller: &Caller,
    f: impl FnOnce(&mut super::data::TenantData) -> R,
) -> Result<R, ApiError> {
    st.webapi
        .with(&caller.ctx, f)
        .ok_or_else(|| ApiError::unknown_tenant(&caller.ctx))
}

async fn get_layout(
    State(st): St,
    Extension(caller): Ext,
    entity: UdefEntity,
    published: bool,
) -> ApiResult {
    let fields = with_tenant(&st, &caller, |t| {
        let l = t.udef(entity);
        if published {
            l.published.clone()
        } else {
            l.admin.clone()
        }
    })?;
    ok_json(&fields)
}

/// Finds a field by case-sensitive prog-id, then by `UDefFieldId`, then by label (ignoring case).
pub(crate) fn find_field(fields: &[UdefFieldInfo], key: &str) -> Option<usize> {
    fields
        .iter()
        .position(|f| !f.prog_id.is_empty() && f.prog_id == key)
        .or_else(|| {
            key.parse::<i32>()
                .ok()
                .and_then(|id| fields.iter().position(|f| f.udef_field_id == id))
        })
        .or_else(|| {
            fields
                .iter()
                .position(|f| !f.field_label.is_empty() && f.field_label.eq_ignore_ascii_case(key))
        })
}

async fn get_field(
    State(st): St,
    Extension(caller): Ext,
    entity: UdefEntity,
    Path(key): Path<String>,
    published: bool,
) -> ApiResult {
    let field = with_tenant(&st, &caller, |t| {
        let l = t.udef(entity);
        let fields = if published { &l.published } else { &l.admin };
        find_field(fields, &key).map(|i| fields[i].clone())
    })?;
    match field {
        Some(f) => ok_json(&f),
        None => Err(no_such_field(entity, &key, published)),
    }
}

fn no_such_field(entity: UdefEntity, key: &str, published: bool) -> ApiError {
    let version = if published { "published" } else { "admin" };
    ApiError::not_found(format!(
        "No {} user-defined field {:?} in the {version} layout",
        entity.as_str(),
        clip(key, 80)
    ))
}

async fn delete_field(
    State(st): St,
    Extension(caller): Ext,
    entity: UdefEntity,
    Path(key): Path<String>,
) -> ApiResult {
    let removed = with_tenant(&st, &caller, |t| {
        let l = t.udef_mut(entity);
        find_field(&l.admin, &key).map(|i| l.admin.remove(i))
    })?;
    match removed {
        Some(_) => no_content(),
        None => Err(no_such_field(entity, &key, false)),
    }
}

/// `TemplateVariableName` letter per field type (invented, except `cl` for a contact number).
fn type_letter(field_type: &str) -> char {
    match field_type {
        "Number" => 'l',
        "ShortText" => 's',
        "LongText" => 'x',
        "Date" => 'd',
        "UnlimitedDate" => 'u',
        "Checkbox" => 'b',
        "List" => 'i',
        _ => 'e',
    }
}

async fn default_field(
    State(st): St,
    Extension(caller): Ext,
    entity: UdefEntity,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = query(raw.as_deref());
    let Some(field_type) = params.get("udefFieldType") else {
        return Err(ApiError::bad_request(format!(
            "udefFieldType is required ({})",
            UDEF_FIELD_TYPES.join(", ")
        )));
    };
    let Some(field_type) = UDEF_FIELD_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(field_type))
    else {
        return Err(ApiError::bad_request(format!(
            "udefFieldType {:?} is not one of {}",
            clip(field_type, 40),
            UDEF_FIELD_TYPES.join(", ")
        )));
    };
    let field = with_tenant(&st, &caller, |t| {
        let column_id = t.next_column_id;
        t.next_column_id += 1;
        let l = t.udef_mut(entity);
        // Handing out a new identity each time keeps two defaults fetched before one save apart.
        let n = l.next_identity;
        l.next_identity += 1;
        let top = 17 * (n - 1).max(0);
        UdefFieldInfo {
            udef_field_id: 0,
            column_id,
            field_default: String::new(),
            field_height: 17,
            field_label: String::new(),
            field_left: 102,
            field_top: top,
            field_type: (*field_type).to_owned(),
            field_width: 100,
            format_mask: String::new(),
            hide_label: false,
            is_indexed: false,
            label_height: 17,
            label_left: 0,
            label_top: top,
            label_width: 100,
            last_version_id: 0,
            list_table_id: 0,
            is_mandatory: false,
            owner_type: entity.as_str().to_owned(),
            page1_line_no: 0,
            prog_id: format!("SuperOffice:{n}"),
            is_read_only: false,
            short_label: String::new(),
            tab_order: n,
            text_length: match *field_type {
                "ShortText" => 40,
                "LongText" => 200,
                _ => 0,
            },
            tooltip: String::new(),
            udef_identity: n,
            ud_list_definition_id: 0,
            justification: "Left".into(),
            version: l.version,
            template_variable_name: format!(
                "{}{}{n}",
                entity.template_letter(),
                type_letter(field_type)
            ),
            has_been_published: false,
            mdo_list_name: None,
            table_right: None,
            field_properties: udef_default_field_properties(),
        }
    })?;
    ok_json(&field)
}

/// Checks one field of a PUT body and fills in what the entity implies.
fn check_field(
    mut f: UdefFieldInfo,
    entity: UdefEntity,
    list_exists: impl Fn(i32) -> bool,
    index: usize,
) -> Result<UdefFieldInfo, ApiError> {
    let at = |m: String| ApiError::bad_request(format!("Field #{index}: {m}"));
    if f.field_type.is_empty() {
        return Err(at(format!(
            "FieldType is required ({})",
            UDEF_FIELD_TYPES.join(", ")
        )));
    }
    check_enum(&f.field_type, UDEF_FIELD_TYPES, "FieldType", false).map_err(at)?;
    if f.owner_type.is_empty() {
        f.owner_type = entity.as_str().to_owned();
    } else if !f.owner_type.eq_ignore_ascii_case(entity.as_str()) {
        return Err(at(format!(
            "Type {:?} does not match the {} layout",
            clip(&f.owner_type, 40),
            entity.as_str()
        )));
    } else {
        f.owner_type = entity.as_str().to_owned();
    }
    if f.justification.is_empty() {
        f.justification = "Default".into();
    }
    check_enum(&f.justification, JUSTIFICATIONS, "Justification", false).map_err(at)?;
    if f.field_label.trim().is_empty() {
        return Err(at("FieldLabel is required".into()));
    }
    if f.field_type == "List" {
        if f.list_table_id == 0 {
            return Err(at("a List field needs ListTableId (136 for a user-defined list, plus UDListDefinitionId)".into()));
        }
        if f.list_table_id == UDLIST_TABLE_ID && !list_exists(f.ud_list_definition_id) {
            return Err(at(format!(
                "UDListDefinitionId {} is not an existing list",
                f.ud_list_definition_id
            )));
        }
    }
    Ok(f)
}

async fn save_layout(
    State(st): St,
    Extension(caller): Ext,
    entity: UdefEntity,
    body: Bytes,
) -> ApiResult {
    let Value::Array(items) = json_body(&body)? else {
        return Err(ApiError::bad_request(
            "The body must be a JSON array of UserDefinedFieldInfo",
        ));
    };
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let f: UdefFieldInfo = from_body(item, "UserDefinedFieldInfo")
            .map_err(|m| ApiError::bad_request(format!("Field #{i}: {m}")))?;
        parsed.push(f);
    }
    for (i, f) in parsed.iter().enumerate() {
        if !f.prog_id.is_empty() && parsed[..i].iter().any(|g| g.prog_id == f.prog_id) {
            return Err(ApiError::bad_request(format!(
                "ProgId {:?} appears twice in the array",
                clip(&f.prog_id, 80)
            )));
        }
    }
    let saved = with_tenant(&st, &caller, |t| -> Result<Vec<UdefFieldInfo>, ApiError> {
        let list_ids: Vec<i32> = t
            .lists
            .iter()
            .filter(|l| !l.entity.deleted)
            .map(|l| l.entity.id)
            .collect();
        let mut checked = Vec::with_capacity(parsed.len());
        for (i, f) in parsed.into_iter().enumerate() {
            checked.push(check_field(f, entity, |id| list_ids.contains(&id), i)?);
        }
        // Apply to a copy and commit only if every field is accepted.
        let mut layout: UdefLayout = t.udef(entity).clone();
        let mut next_id = t.next_udef_field_id;
        let mut next_column = t.next_column_id;
        let mut saved = Vec::with_capacity(checked.len());
        for (i, f) in checked.into_iter().enumerate() {
            let stored = apply_field(&mut layout, entity, f, &mut next_id, &mut next_column, i)?;
            saved.push(stored);
        }
        *t.udef_mut(entity) = layout;
        t.next_udef_field_id = next_id;
        t.next_column_id = next_column;
        Ok(saved)
    })??;
    ok_json(&saved)
}

/// Adds or updates one field in `layout.admin`; returns the stored field.
fn apply_field(
    layout: &mut UdefLayout,
    entity: UdefEntity,
    mut f: UdefFieldInfo,
    next_id: &mut i32,
    next_column: &mut i32,
    index: usize,
) -> Result<UdefFieldInfo, ApiError> {
    let by_prog_id = (!f.prog_id.is_empty())
        .then(|| layout.admin.iter().position(|g| g.prog_id == f.prog_id))
        .flatten();
    let by_id = (f.udef_field_id != 0)
        .then(|| {
            layout
                .admin
                .iter()
                .position(|g| g.udef_field_id == f.udef_field_id)
        })
        .flatten();
    let existing = match (by_prog_id, by_id) {
        (Some(i), _) => Some(i),
        (None, Some(i)) => Some(i),
        (None, None) if f.prog_id.is_empty() && f.udef_field_id != 0 => {
            return Err(ApiError::not_found(format!(
                "Field #{index}: no field with UDefFieldId {} in the admin layout (ids change when the layout is published; match on ProgId)",
                f.udef_field_id
            )));
        }
        (None, None) => None,
    };
    match existing {
        Some(i) => {
            let old = &layout.admin[i];
            if f.prog_id.is_empty() {
                f.prog_id = old.prog_id.clone();
            }
            f.udef_field_id = old.udef_field_id;
            f.last_version_id = old.last_version_id;
            f.has_been_published = old.has_been_published;
            f.version = layout.version;
            if f.column_id == 0 {
                f.column_id = old.column_id;
            }
            if f.udef_identity == 0 {
                f.udef_identity = old.udef_identity;
            }
            layout.reserve_identity(f.udef_identity, &f.prog_id);
            layout.admin[i] = f.clone();
        }
        None => {
            if f.prog_id.is_empty() {
                f.prog_id = format!("SuperOffice:{}", layout.next_identity);
            }
            if f.udef_identity == 0 {
                f.udef_identity = layout.next_identity;
            }
            layout.reserve_identity(f.udef_identity, &f.prog_id);
            if f.tab_order == 0 {
                f.tab_order = f.udef_identity;
            }
            if f.column_id == 0 {
                f.column_id = *next_column;
                *next_column += 1;
            }
            if f.template_variable_name.is_empty() {
                f.template_variable_name = format!(
                    "{}{}{}",
                    entity.template_letter(),
                    type_letter(&f.field_type),
                    f.udef_identity
                );
            }
            f.udef_field_id = *next_id;
            *next_id += 1;
            f.last_version_id = 0;
            f.has_been_published = false;
            f.version = layout.version;
            layout.admin.push(f.clone());
        }
    }
    Ok(f)
}

async fn is_publishing(State(st): St, Extension(caller): Ext, entity: UdefEntity) -> ApiResult {
    let now = Instant::now();
    let running = with_tenant(&st, &caller, |t| t.udef(entity).publish_running(now))?;
    ok_json(&running)
}

async fn publish(State(st): St, Extension(caller): Ext, entity: UdefEntity) -> ApiResult {
    let duration = st.webapi.publish_duration();
    let now = Instant::now();
    let version = with_tenant(&st, &caller, |t| -> Result<i32, ApiError> {
        if t.udef(entity).publish_running(now) {
            return Err(ApiError::conflict(format!(
                "A publish of the {} user-defined field layout is already running",
                entity.as_str()
            )));
        }
        let mut next_id = t.next_udef_field_id;
        let l = t.udef_mut(entity);
        l.version += 1;
        for f in &mut l.admin {
            f.last_version_id = f.udef_field_id;
            f.udef_field_id = next_id;
            next_id += 1;
            f.version = l.version;
            f.has_been_published = true;
        }
        l.published = l.admin.clone();
        l.publishes += 1;
        l.publishing_until = (!duration.is_zero()).then(|| now + duration);
        let version = l.version;
        t.next_udef_field_id = next_id;
        Ok(version)
    })??;
    ok_json(&version)
}

async fn rebuild_udef_deltas(State(st): St, Extension(caller): Ext) -> ApiResult {
    with_tenant(&st, &caller, |t| t.rebuild_udef_deltas_calls += 1)?;
    no_content()
}

async fn flush_caches_by_name(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let value = json_body(&body)?;
    let names = value
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("CacheNames"))
                .map(|(_, v)| v)
        })
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "The body must be {\"CacheNames\": [\"…\"]} (an array of strings)",
            )
        })?;
    with_tenant(&st, &caller, |t| t.flush_caches_by_name.push(names))?;
    no_content()
}
