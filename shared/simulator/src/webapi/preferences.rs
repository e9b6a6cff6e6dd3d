//! Preferences, stored per (section, key, level).
//!
//! | Method and path | Effect |
//! |---|---|
//! | `GET Preference` | the sections (`MDOListItem`s) |
//! | `GET Preference/{section}` | the keys of a section (`MDOListItem`s) |
//! | `GET Preference/{section}/{key}` | the value closest to the user (`Level: "Undefined"` if none) |
//! | `PUT\|POST Preference/{section}/{key}` | saves a `Preference` body at its `Level` (204) |
//! | `GET Preference/{section}/{key}/{level}` | the raw value at that level (a JSON string) |
//! | `PUT\|POST Preference/{section}/{key}/{level}?value=` | saves a raw value (204) |
//! | `POST Agents/Preference/DeleteFromSectionAndKey` `{Section, Key}` | deletes the key at every level |
//! | `POST Agents/Preference/DeletePreference` `{Id}` | deletes one value by `UserPreferenceId` |
//! | `POST Agents/Preference/DeletePreferences` `{Ids}` | deletes several |
//!
//! Section and key names are matched ignoring case. `Undefined` (or no level) saves at `Database`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Map, Value};

use super::data::TenantData;
use super::lists::with_tenant;
use super::model::{
    MdoListItem, PREF_DISPLAY_TYPES, PREF_LEVELS, Preference, PreferenceSpec, check_enum, from_body,
};
use super::webpanels::body_field;
use super::{ApiError, ApiResult, Caller, json_body, no_content, ok_json};
use crate::state::AppState;
use crate::util::clip;

type St = State<Arc<AppState>>;
type Ext = Extension<Caller>;

/// The level a save without one (or with `Undefined`) goes to.
const DEFAULT_LEVEL: &str = "Database";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/Preference", get(sections))
        .route("/v1/Preference/{section}", get(keys))
        .route(
            "/v1/Preference/{section}/{key}",
            get(get_pref).put(set_pref).post(set_pref),
        )
        .route(
            "/v1/Preference/{section}/{key}/{level}",
            get(get_at_level).put(set_at_level).post(set_at_level),
        )
        .route(
            "/v1/Agents/Preference/DeleteFromSectionAndKey",
            post(delete_from_section_and_key),
        )
        .route(
            "/v1/Agents/Preference/DeletePreference",
            post(delete_preference),
        )
        .route(
            "/v1/Agents/Preference/DeletePreferences",
            post(delete_preferences),
        )
}

fn level_rank(level: &str) -> usize {
    PREF_LEVELS.iter().position(|l| *l == level).unwrap_or(0)
}

fn same_key(p: &Preference, section: &str, key: &str) -> bool {
    p.specification.section.eq_ignore_ascii_case(section)
        && p.specification.key.eq_ignore_ascii_case(key)
}

/// The stored value closest to the user.
fn closest<'a>(t: &'a TenantData, section: &str, key: &str) -> Option<&'a Preference> {
    t.preferences
        .iter()
        .filter(|p| same_key(p, section, key))
        .max_by_key(|p| level_rank(&p.level))
}

/// A level from a path or body: the documented names (ignoring case); empty = Undefined.
fn parse_level(level: &str) -> Result<&'static str, ApiError> {
    if level.is_empty() {
        return Ok("Undefined");
    }
    PREF_LEVELS
        .iter()
        .find(|l| l.eq_ignore_ascii_case(level))
        .copied()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Level {:?} is not one of {}",
                clip(level, 40),
                PREF_LEVELS.join(", ")
            ))
        })
}

fn undefined(section: &str, key: &str) -> Preference {
    Preference {
        level: "Undefined".into(),
        display_type: "Unknown".into(),
        specification: PreferenceSpec {
            section: section.to_owned(),
            key: key.to_owned(),
            table_right: None,
            field_properties: Map::new(),
        },
        ..Preference::default()
    }
}

async fn sections(State(st): St, Extension(caller): Ext) -> ApiResult {
    let items = with_tenant(&st, &caller, |t| {
        let mut names: Vec<&str> = Vec::new();
        for p in &t.preferences {
            let s = p.specification.section.as_str();
            if !names.iter().any(|n| n.eq_ignore_ascii_case(s)) {
                names.push(s);
            }
        }
        names
            .iter()
            .zip(1..)
            .map(|(n, i)| MdoListItem::new(i, n, "preferencesection", i))
            .collect::<Vec<_>>()
    })?;
    ok_json(&items)
}

async fn keys(State(st): St, Extension(caller): Ext, Path(section): Path<String>) -> ApiResult {
    let items = with_tenant(&st, &caller, |t| {
        let mut out: Vec<MdoListItem> = Vec::new();
        for p in t
            .preferences
            .iter()
            .filter(|p| p.specification.section.eq_ignore_ascii_case(&section))
        {
            let key = p.specification.key.as_str();
            if out.iter().any(|i| i.name.eq_ignore_ascii_case(key)) {
                continue;
            }
            let id = closest(t, &section, key).map_or(0, |c| c.user_preference_id);
            let rank = i32::try_from(out.len() + 1).unwrap_or(i32::MAX);
            out.push(MdoListItem::new(id, key, "preferencekey", rank));
        }
        out
    })?;
    ok_json(&items)
}

async fn get_pref(
    State(st): St,
    Extension(caller): Ext,
    Path((section, key)): Path<(String, String)>,
) -> ApiResult {
    let p = with_tenant(&st, &caller, |t| closest(t, &section, &key).cloned())?
        .unwrap_or_else(|| undefined(&section, &key));
    ok_json(&p)
}

/// Saves a value at a level; returns nothing (the REST answer is 204).
fn store(t: &mut TenantData, section: &str, key: &str, level: &str, mut p: Preference) {
    let level = if level == "Undefined" {
        DEFAULT_LEVEL
    } else {
        level
    };
    if let Some(existing) = t
        .preferences
        .iter_mut()
        .find(|e| same_key(e, section, key) && e.level == level)
    {
        existing.raw_value = p.raw_value;
        existing.display_value = p.display_value;
        existing.display_tooltip = p.display_tooltip;
        if !p.display_type.is_empty() {
            existing.display_type = p.display_type;
        }
        existing.target_id = p.target_id;
        existing.pref_desc_id = p.pref_desc_id;
        existing.table_name = p.table_name;
        return;
    }
    p.level = level.to_owned();
    p.specification = PreferenceSpec {
        section: section.to_owned(),
        key: key.to_owned(),
        table_right: None,
        field_properties: Map::new(),
    };
    if p.display_type.is_empty() {
        p.display_type = "Unknown".into();
    }
    p.user_preference_id = t.next_preference_id;
    t.next_preference_id += 1;
    p.tab_order = None;
    p.table_right = None;
    t.preferences.push(p);
}

async fn set_pref(
    State(st): St,
    Extension(caller): Ext,
    Path((section, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let p: Preference =
        from_body(json_body(&body)?, "Preference").map_err(ApiError::bad_request)?;
    let level = parse_level(&p.level)?;
    check_enum(&p.display_type, PREF_DISPLAY_TYPES, "DisplayType", true)
        .map_err(ApiError::bad_request)?;
    // The URL's section and key win over the body's Specification.
    with_tenant(&st, &caller, |t| store(t, &section, &key, level, p))?;
    no_content()
}

async fn get_at_level(
    State(st): St,
    Extension(caller): Ext,
    Path((section, key, level)): Path<(String, String, String)>,
) -> ApiResult {
    let level = parse_level(&level)?;
    let value = with_tenant(&st, &caller, |t| {
        if level == "Undefined" {
            closest(t, &section, &key).map(|p| p.raw_value.clone())
        } else {
            t.preferences
                .iter()
                .find(|p| same_key(p, &section, &key) && p.level == level)
                .map(|p| p.raw_value.clone())
        }
    })?
    .unwrap_or_default();
    ok_json(&value)
}

async fn set_at_level(
    State(st): St,
    Extension(caller): Ext,
    Path((section, key, level)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let level = parse_level(&level)?;
    let raw = q.unwrap_or_default();
    let value = url::form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == "value")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::bad_request("value is required"))?;
    let p = Preference {
        raw_value: value,
        ..Preference::default()
    };
    with_tenant(&st, &caller, |t| store(t, &section, &key, level, p))?;
    no_content()
}

async fn delete_from_section_and_key(
    State(st): St,
    Extension(caller): Ext,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    let text = |name: &str| {
        body_field(&body, name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (Some(section), Some(key)) = (text("Section"), text("Key")) else {
        return Err(ApiError::bad_request(
            "The body must be {\"Section\": \"…\", \"Key\": \"…\"}",
        ));
    };
    with_tenant(&st, &caller, |t| {
        t.preferences.retain(|p| !same_key(p, &section, &key));
    })?;
    no_content()
}

async fn delete_preference(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let id = body_field(&body, "Id")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("The body must be {\"Id\": <UserPreferenceId>}"))?;
    with_tenant(&st, &caller, |t| {
        t.preferences
            .retain(|p| i64::from(p.user_preference_id) != id);
    })?;
    no_content()
}

async fn delete_preferences(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let ids = body_field(&body, "Ids")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<i64>>>())
        .ok_or_else(|| {
            ApiError::bad_request("The body must be {\"Ids\": [<UserPreferenceId>…]}")
        })?;
    with_tenant(&st, &caller, |t| {
        t.preferences
            .retain(|p| !ids.contains(&i64::from(p.user_preference_id)));
    })?;
    no_content()
}
