//! Preferences, by section and key: `GET`/`PUT Preference/{section}/{key}` with a `Preference`
//! body (`Level`, `RawValue`, `Specification {Section, Key}`), and
//! `Agents/Preference/DeleteFromSectionAndKey` to remove one (REST has no delete).

use serde_json::{Value, json};

use super::{Removed, Tenant, post, put};
use crate::webapi::{ApiRequest, TenantApi, WebApiError};

/// A preference as the app declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceSpec<'a> {
    pub section: &'a str,
    pub key: &'a str,
    /// SuperOffice's level (`Database`, `SystemWide`, …).
    pub level: &'a str,
    pub value: &'a str,
}

/// The preference's current value at its level, if set: (level, raw value). SuperOffice answers a
/// preference that is not set with level `Undefined` rather than 404: that is "not set" too.
pub async fn get<A: TenantApi>(
    t: &Tenant<'_, A>,
    section: &str,
    key: &str,
) -> Result<Option<(String, String)>, WebApiError> {
    let found: Option<Value> = t
        .find(&ApiRequest::get(format!("Preference/{section}/{key}")))
        .await?;
    Ok(found.filter(|v| !v.is_null()).and_then(|v| {
        let s = |name| {
            v.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let level = s("Level");
        (!level.is_empty() && level != "Undefined").then(|| (level, s("RawValue")))
    }))
}

/// Sets the preference.
pub async fn set<A: TenantApi>(
    t: &Tenant<'_, A>,
    p: &PreferenceSpec<'_>,
) -> Result<(), WebApiError> {
    t.send(
        &put(format!("Preference/{}/{}", p.section, p.key)).json(json!({
            "Level": p.level,
            "RawValue": p.value,
            "Specification": {"Section": p.section, "Key": p.key},
        })),
    )
    .await
    .map(|_| ())
}

/// Removes the preference at every level.
pub async fn remove<A: TenantApi>(
    t: &Tenant<'_, A>,
    section: &str,
    key: &str,
) -> Result<Removed, WebApiError> {
    t.delete(
        &post("Agents/Preference/DeleteFromSectionAndKey")
            .json(json!({"Section": section, "Key": key})),
    )
    .await
}
