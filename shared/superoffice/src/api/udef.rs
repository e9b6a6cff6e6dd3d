//! User-defined fields, through `{Entity}/UdefLayout` (Contact, Person, Project, Sale, Appointment,
//! Document).
//!
//! Creating one is SuperOffice's documented three steps: `POST …/UdefLayout?udefFieldType=T` returns
//! a default field (it creates nothing), the caller fills it in, and `PUT …/UdefLayout` with a JSON
//! array saves it into the admin layout. It shows in the CRM only after a publish: wait until
//! `GET …/UdefLayout/Publish` says no publish runs, `POST …/UdefLayout/Publish`, then
//! `POST Agents/Configuration/RebuildUdefDeltas`. Publishing renumbers every field of the entity, so
//! a field is known by its ProgId, never by its id. `DELETE …/UdefLayout/{progId}` removes a field
//! from the admin layout; a publish makes that visible too.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Removed, Tenant, delete, post, put};
use crate::webapi::{ApiRequest, TenantApi, WebApiError};

/// `ListTableId` of user-defined lists (a list-type field bound to a list the app created).
pub const USER_LIST_TABLE: i64 = 136;

/// A field as the app declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec<'a> {
    pub prog_id: &'a str,
    pub label: &'a str,
    /// Empty: the label is used.
    pub short_label: &'a str,
    pub tooltip: &'a str,
    pub mandatory: bool,
    pub text_length: Option<u32>,
    /// The user-defined list a list-type field shows (its SuperOffice list id).
    pub list: Option<i64>,
}

/// A published field (the fields the app reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishedField {
    #[serde(default)]
    pub prog_id: String,
    #[serde(rename = "UDefFieldId", default)]
    pub udef_field_id: i64,
    #[serde(default)]
    pub field_label: String,
    #[serde(default)]
    pub short_label: String,
    #[serde(default)]
    pub tooltip: String,
    #[serde(default)]
    pub is_mandatory: bool,
    #[serde(default)]
    pub text_length: Option<i64>,
}

impl PublishedField {
    /// Whether the published field shows what `spec` declares (labels, tooltip, mandatory, text
    /// length; its type and list cannot change in place).
    pub fn matches(&self, spec: &FieldSpec<'_>) -> bool {
        let short = if spec.short_label.is_empty() {
            spec.label
        } else {
            spec.short_label
        };
        self.field_label == spec.label
            && self.short_label == short
            && self.tooltip == spec.tooltip
            && self.is_mandatory == spec.mandatory
            && spec
                .text_length
                .is_none_or(|n| self.text_length == Some(i64::from(n)))
    }
}

/// The field with this ProgId in the entity's admin (unpublished) layout, if any.
pub async fn find_in_admin_layout<A: TenantApi>(
    t: &Tenant<'_, A>,
    entity: &str,
    prog_id: &str,
) -> Result<Option<Value>, WebApiError> {
    let found: Option<Value> = t
        .find(&ApiRequest::get(format!(
            "{entity}/UdefLayout/{}",
            super::segment(prog_id)
        )))
        .await?;
    Ok(found.filter(|v| !v.is_null()))
}

/// The published field with this ProgId, if any: one field, whatever the size of the layout
/// (`GET {Entity}/UdefLayout/Published/{progIdOrLabel}`).
pub async fn find_published<A: TenantApi>(
    t: &Tenant<'_, A>,
    entity: &str,
    prog_id: &str,
) -> Result<Option<PublishedField>, WebApiError> {
    let found: Option<Option<PublishedField>> = t
        .find(&ApiRequest::get(format!(
            "{entity}/UdefLayout/Published/{}",
            super::segment(prog_id)
        )))
        .await?;
    Ok(found
        .flatten()
        .filter(|f| f.udef_field_id > 0 && f.prog_id == prog_id))
}

/// Creates the field in the entity's admin layout (not yet published).
pub async fn create<A: TenantApi>(
    t: &Tenant<'_, A>,
    entity: &str,
    field_type: &str,
    spec: &FieldSpec<'_>,
) -> Result<(), WebApiError> {
    let default: Value = t
        .json(&post(format!("{entity}/UdefLayout")).query("udefFieldType", field_type))
        .await?;
    let Value::Object(mut info) = default else {
        return Err(WebApiError::InvalidResponse(
            "the default field is not an object".into(),
        ));
    };
    fill(&mut info, spec);
    t.send(&put(format!("{entity}/UdefLayout")).json(json!([info])))
        .await
        .map(|_| ())
}

/// Changes the field with this ProgId in the admin layout to what `spec` declares (its labels,
/// tooltip, mandatory flag, text length); a publish makes the change visible. `false`: the admin
/// layout has no such field.
pub async fn update<A: TenantApi>(
    t: &Tenant<'_, A>,
    entity: &str,
    spec: &FieldSpec<'_>,
) -> Result<bool, WebApiError> {
    let Some(Value::Object(mut info)) = find_in_admin_layout(t, entity, spec.prog_id).await? else {
        return Ok(false);
    };
    fill(&mut info, spec);
    t.send(&put(format!("{entity}/UdefLayout")).json(json!([info])))
        .await
        .map(|_| true)
}

/// Sets what the app declares on SuperOffice's default field; everything else keeps SuperOffice's
/// defaults.
fn fill(info: &mut Map<String, Value>, spec: &FieldSpec<'_>) {
    info.insert("ProgId".into(), json!(spec.prog_id));
    info.insert("FieldLabel".into(), json!(spec.label));
    let short = if spec.short_label.is_empty() {
        spec.label
    } else {
        spec.short_label
    };
    info.insert("ShortLabel".into(), json!(short));
    info.insert("Tooltip".into(), json!(spec.tooltip));
    info.insert("IsMandatory".into(), json!(spec.mandatory));
    if let Some(n) = spec.text_length {
        info.insert("TextLength".into(), json!(n));
    }
    if let Some(list) = spec.list {
        info.insert("ListTableId".into(), json!(USER_LIST_TABLE));
        info.insert("UDListDefinitionId".into(), json!(list));
    }
}

/// Whether a publish of the entity's fields is running.
pub async fn is_publishing<A: TenantApi>(
    t: &Tenant<'_, A>,
    entity: &str,
) -> Result<bool, WebApiError> {
    let running: Value = t
        .json(&ApiRequest::get(format!("{entity}/UdefLayout/Publish")))
        .await?;
    Ok(running != json!(false))
}

/// Starts a publish of the entity's fields. [`WebApiError::Conflict`]: another publish started
/// first.
pub async fn publish<A: TenantApi>(t: &Tenant<'_, A>, entity: &str) -> Result<(), WebApiError> {
    t.send(&post(format!("{entity}/UdefLayout/Publish")))
        .await
        .map(|_| ())
}

/// Makes published changes visible in the CRM's screens.
pub async fn rebuild_deltas<A: TenantApi>(t: &Tenant<'_, A>) -> Result<(), WebApiError> {
    t.send(&post("Agents/Configuration/RebuildUdefDeltas"))
        .await
        .map(|_| ())
}

/// The entity's whole published layout (every field of the customer's too: on a large site this is
/// megabytes; the engine uses [`find_published`]).
pub async fn published<A: TenantApi>(
    t: &Tenant<'_, A>,
    entity: &str,
) -> Result<Vec<PublishedField>, WebApiError> {
    Ok(
        t.json::<Option<Vec<PublishedField>>>(&ApiRequest::get(format!(
            "{entity}/UdefLayout/Published"
        )))
        .await?
        .unwrap_or_default(),
    )
}

/// Removes the field with this ProgId from the admin layout (a publish makes it disappear).
pub async fn remove<A: TenantApi>(
    t: &Tenant<'_, A>,
    entity: &str,
    prog_id: &str,
) -> Result<Removed, WebApiError> {
    t.delete(&delete(format!(
        "{entity}/UdefLayout/{}",
        super::segment(prog_id)
    )))
    .await
}
