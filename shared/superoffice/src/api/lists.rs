//! Lists and list items: `GET List/{name}` finds a list by its name (one list, whatever the number of
//! lists the customer has), `POST List` creates one (`{Name, Tooltip, UseGroupsAndHeadings}`),
//! `List/{id}/Items` holds its items, `DELETE List/{id}` removes it (never a built-in list: the app
//! only deletes lists it created, by the id it recorded). Sources: SuperOffice's "create a list"
//! how-to and the REST Swagger ("Gets a ListEntity resolved by the provided name"; what it answers
//! for an unknown name is not documented: 404, as for every unknown resource, is assumed and a
//! `null` or empty answer is read the same way).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Removed, Tenant, delete, post};
use crate::webapi::{ApiRequest, TenantApi, WebApiError};

/// A list as `GET List` describes it (the fields the app reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListEntity {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub deleted: bool,
    /// The table a list belongs to: a built-in list's own (`category`, `business`, …); empty or
    /// `udlist` for a user-defined list. (`IsCustomList` does not tell: the documented answer to
    /// `POST List` says `false` for a list just created.)
    #[serde(default)]
    pub list_type: Option<String>,
}

impl ListEntity {
    /// Whether this is a user-defined list (one an app may have created), not one of SuperOffice's
    /// built-in lists, which an app must never take over or delete.
    pub fn is_user_defined(&self) -> bool {
        self.list_type
            .as_deref()
            .is_none_or(|t| t.is_empty() || t.eq_ignore_ascii_case("udlist"))
    }
}

/// A list item (the fields the app reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListItem {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub deleted: bool,
}

/// The tenant's live list named `name`, if any (SuperOffice matches names ignoring case).
pub async fn find_by_name<A: TenantApi>(
    t: &Tenant<'_, A>,
    name: &str,
) -> Result<Option<ListEntity>, WebApiError> {
    let found: Option<Option<ListEntity>> = t
        .find(&ApiRequest::get(format!("List/{}", super::segment(name))))
        .await?;
    Ok(found
        .flatten()
        .filter(|l| l.id > 0 && !l.deleted && l.name.eq_ignore_ascii_case(name)))
}

/// Creates a list; its id.
pub async fn create<A: TenantApi>(
    t: &Tenant<'_, A>,
    name: &str,
    tooltip: &str,
) -> Result<i64, WebApiError> {
    let created: Value = t
        .json(&post("List").json(json!({
            "Name": name,
            "Tooltip": tooltip,
            "UseGroupsAndHeadings": false,
        })))
        .await?;
    super::id_of(&created, "Id")
        .ok_or_else(|| WebApiError::InvalidResponse("the created list has no Id".into()))
}

/// The list's items.
pub async fn items<A: TenantApi>(
    t: &Tenant<'_, A>,
    list: i64,
) -> Result<Vec<ListItem>, WebApiError> {
    Ok(
        t.json::<Option<Vec<ListItem>>>(&ApiRequest::get(format!("List/{list}/Items")))
            .await?
            .unwrap_or_default(),
    )
}

/// Adds an item (`name` in SuperOffice's multi-language form, `NO:"Bil";US:"Car"`) at `rank`.
pub async fn add_item<A: TenantApi>(
    t: &Tenant<'_, A>,
    list: i64,
    name: &str,
    rank: usize,
) -> Result<(), WebApiError> {
    t.send(&post(format!("List/{list}/Items")).json(json!({
        "Name": name,
        "Tooltip": "",
        "Deleted": false,
        "Rank": rank,
    })))
    .await
    .map(|_| ())
}

/// Deletes the list with this id.
pub async fn remove<A: TenantApi>(t: &Tenant<'_, A>, list: i64) -> Result<Removed, WebApiError> {
    t.delete(&delete(format!("List/{list}"))).await
}
