//! Per-tenant WebAPI state: user-defined fields, lists, user groups, web panels, preferences,
//! webhooks and a few call counters.
//!
//! One `std::sync::Mutex` guards all tenants; it is only held for short synchronous sections
//! (never across an `.await`, so webhook calls happen outside it).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::persist::Changes;

use super::model::{
    ListEntity, ListItemEntity, Preference, UdefFieldInfo, UserGroup, WebPanelEntity, Webhook,
};

/// The entities with a user-defined field layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum UdefEntity {
    Contact,
    Person,
    Project,
    Sale,
    Appointment,
    Document,
}

impl UdefEntity {
    pub(crate) const ALL: [UdefEntity; 6] = [
        UdefEntity::Contact,
        UdefEntity::Person,
        UdefEntity::Project,
        UdefEntity::Sale,
        UdefEntity::Appointment,
        UdefEntity::Document,
    ];

    /// The path segment and the `Type` of its fields.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UdefEntity::Contact => "Contact",
            UdefEntity::Person => "Person",
            UdefEntity::Project => "Project",
            UdefEntity::Sale => "Sale",
            UdefEntity::Appointment => "Appointment",
            UdefEntity::Document => "Document",
        }
    }

    /// Case-insensitive.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
    }

    /// First letter of the invented `TemplateVariableName` (`cl12` = contact, number, 12).
    pub(crate) fn template_letter(self) -> char {
        match self {
            UdefEntity::Contact => 'c',
            UdefEntity::Person => 'p',
            UdefEntity::Project => 'j',
            UdefEntity::Sale => 's',
            UdefEntity::Appointment => 'a',
            UdefEntity::Document => 'd',
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The admin (unpublished) and published versions of one entity's layout.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct UdefLayout {
    pub(crate) admin: Vec<UdefFieldInfo>,
    pub(crate) published: Vec<UdefFieldInfo>,
    /// The layout version: fields saved now get it; a publish increments it.
    pub(crate) version: i32,
    /// The next `UdefIdentity` (and `SuperOffice:{n}` prog-id number).
    pub(crate) next_identity: i32,
    /// A publish "runs" until then. Not kept in the state file: a restart ends a running publish.
    #[serde(skip)]
    pub(crate) publishing_until: Option<Instant>,
    pub(crate) publishes: u32,
}

impl UdefLayout {
    pub(crate) fn publish_running(&self, now: Instant) -> bool {
        self.publishing_until.is_some_and(|t| t > now)
    }

    /// Makes sure automatically assigned identities stay clear of `identity` and of a
    /// `SuperOffice:{n}` prog-id.
    pub(crate) fn reserve_identity(&mut self, identity: i32, prog_id: &str) {
        let from_prog_id = prog_id
            .strip_prefix("SuperOffice:")
            .and_then(|n| n.parse::<i32>().ok())
            .unwrap_or(0);
        let highest = identity.max(from_prog_id);
        if highest >= self.next_identity {
            self.next_identity = highest.saturating_add(1);
        }
    }
}

/// What a list's items are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ListKind {
    /// Items stored with the list.
    Plain,
    /// The built-in `webpanel` list: its items are the web panels.
    WebPanel,
    /// The built-in `usergroup` list: its items are the user groups.
    UserGroup,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ListDef {
    pub(crate) entity: ListEntity,
    pub(crate) built_in: bool,
    pub(crate) kind: ListKind,
    pub(crate) items: Vec<ListItemEntity>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WebPanel {
    pub(crate) entity: WebPanelEntity,
    /// The client id of the app that created it, when the request carried the app's
    /// `SO-AppToken` (always with a ticket; optional with a Bearer token).
    pub(crate) owner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredWebhook {
    pub(crate) entity: Webhook,
    pub(crate) created_by_client_id: String,
}

/// The id of the built-in `webpanel` list.
pub(crate) const WEBPANEL_LIST_ID: i32 = 22;
/// The id of the built-in `usergroup` list.
pub(crate) const USERGROUP_LIST_ID: i32 = 11;
/// `ListTableId` of user-defined lists (`udlist`), for list-type fields.
pub(crate) const UDLIST_TABLE_ID: i32 = 136;

/// One tenant's WebAPI data. It is also what the state file keeps of a tenant's WebAPI (see
/// [`crate::persist`]), in this layout: a change here that old files cannot be read into needs a
/// new state-file version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TenantData {
    /// By [`UdefEntity`] order; written by entity name.
    #[serde(with = "udef_layouts")]
    pub(crate) udefs: [UdefLayout; 6],
    pub(crate) next_udef_field_id: i32,
    pub(crate) next_column_id: i32,
    pub(crate) lists: Vec<ListDef>,
    pub(crate) next_list_id: i32,
    pub(crate) next_list_item_id: i32,
    pub(crate) user_groups: Vec<UserGroup>,
    pub(crate) web_panels: Vec<WebPanel>,
    pub(crate) next_web_panel_id: i32,
    /// (list id, item id) → the user groups the item is visible for; absent = all groups.
    #[serde(with = "visibility_entries")]
    pub(crate) visibility: Visibility,
    pub(crate) preferences: Vec<Preference>,
    pub(crate) next_preference_id: i32,
    pub(crate) webhooks: Vec<StoredWebhook>,
    pub(crate) next_webhook_id: i32,
    pub(crate) rebuild_udef_deltas_calls: u32,
    pub(crate) flush_caches_by_name: Vec<Vec<String>>,
}

fn built_in_list(
    id: i32,
    name: &str,
    list_type: &str,
    rank: i32,
    kind: ListKind,
    items: &[&str],
) -> ListDef {
    ListDef {
        entity: ListEntity {
            id,
            name: name.to_owned(),
            tooltip: String::new(),
            deleted: false,
            rank,
            is_custom_list: false,
            is_mdo_list: true,
            use_groups_and_headings: false,
            list_type: Some(list_type.to_owned()),
            in_use_by_user_defined_fields: false,
            table_right: None,
            field_properties: Map::new(),
        },
        built_in: true,
        kind,
        items: items
            .iter()
            .zip(1..)
            .map(|(name, rank)| ListItemEntity {
                id: id * 100 + rank,
                name: (*name).to_owned(),
                tooltip: String::new(),
                deleted: false,
                ud_list_definition_id: id,
                rank,
                table_right: None,
                field_properties: Map::new(),
            })
            .collect(),
    }
}

impl TenantData {
    pub(crate) fn new() -> Self {
        let layout = UdefLayout {
            version: 1,
            next_identity: 1,
            ..UdefLayout::default()
        };
        let user_groups = [(1, "Sales"), (2, "Support"), (3, "Administration")]
            .into_iter()
            .map(|(id, name)| UserGroup {
                value: name.to_owned(),
                tooltip: String::new(),
                id,
                rank: id,
                deleted: false,
                table_right: None,
                field_properties: Map::new(),
            })
            .collect();
        Self {
            udefs: std::array::from_fn(|_| layout.clone()),
            next_udef_field_id: 101,
            next_column_id: 9001,
            lists: vec![
                built_in_list(
                    1,
                    "Category",
                    "category",
                    1,
                    ListKind::Plain,
                    &["Customer", "Prospect", "Partner"],
                ),
                built_in_list(
                    2,
                    "Business",
                    "business",
                    2,
                    ListKind::Plain,
                    &["IT", "Finance", "Retail"],
                ),
                built_in_list(
                    4,
                    "Priority",
                    "priority",
                    3,
                    ListKind::Plain,
                    &["High", "Medium", "Low"],
                ),
                built_in_list(
                    USERGROUP_LIST_ID,
                    "User group",
                    "usergroup",
                    4,
                    ListKind::UserGroup,
                    &[],
                ),
                built_in_list(
                    WEBPANEL_LIST_ID,
                    "Web panel",
                    "webpanel",
                    5,
                    ListKind::WebPanel,
                    &[],
                ),
            ],
            next_list_id: 100,
            next_list_item_id: 1001,
            user_groups,
            web_panels: Vec::new(),
            next_web_panel_id: 1,
            visibility: HashMap::new(),
            preferences: Vec::new(),
            next_preference_id: 1,
            webhooks: Vec::new(),
            next_webhook_id: 1,
            rebuild_udef_deltas_calls: 0,
            flush_caches_by_name: Vec::new(),
        }
    }

    pub(crate) fn udef(&self, entity: UdefEntity) -> &UdefLayout {
        &self.udefs[entity.index()]
    }

    pub(crate) fn udef_mut(&mut self, entity: UdefEntity) -> &mut UdefLayout {
        &mut self.udefs[entity.index()]
    }

    /// A list by id, or by name or `ListType` (ignoring case) when `key` is not a number.
    pub(crate) fn list_index(&self, key: &str) -> Option<usize> {
        match key.parse::<i32>() {
            Ok(id) => self.lists.iter().position(|l| l.entity.id == id),
            Err(_) => self.lists.iter().position(|l| {
                l.entity.name.eq_ignore_ascii_case(key)
                    || l.entity
                        .list_type
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case(key))
            }),
        }
    }

    /// Whether a user-defined field (admin or published, any entity) uses the list.
    pub(crate) fn list_in_use_by_udefs(&self, list_id: i32) -> bool {
        self.udefs.iter().any(|l| {
            l.admin
                .iter()
                .chain(&l.published)
                .any(|f| f.list_table_id == UDLIST_TABLE_ID && f.ud_list_definition_id == list_id)
        })
    }

    /// The list entity as the API shows it (with `InUseByUserDefinedFields` worked out).
    pub(crate) fn list_entity(&self, idx: usize) -> ListEntity {
        let mut e = self.lists[idx].entity.clone();
        e.in_use_by_user_defined_fields = self.list_in_use_by_udefs(e.id);
        e
    }

    /// The items of a list as `ListItemEntity`s (web panels and user groups mapped for the
    /// built-in lists).
    pub(crate) fn list_items(&self, idx: usize) -> Vec<ListItemEntity> {
        let list = &self.lists[idx];
        let id = list.entity.id;
        match list.kind {
            ListKind::Plain => list.items.clone(),
            ListKind::WebPanel => self
                .web_panels
                .iter()
                .map(|p| ListItemEntity {
                    id: p.entity.web_panel_id,
                    name: p.entity.name.clone(),
                    tooltip: p.entity.tooltip.clone(),
                    deleted: p.entity.deleted,
                    ud_list_definition_id: id,
                    rank: p.entity.rank,
                    table_right: None,
                    field_properties: Map::new(),
                })
                .collect(),
            ListKind::UserGroup => self
                .user_groups
                .iter()
                .map(|g| ListItemEntity {
                    id: g.id,
                    name: g.value.clone(),
                    tooltip: g.tooltip.clone(),
                    deleted: g.deleted,
                    ud_list_definition_id: id,
                    rank: g.rank,
                    table_right: None,
                    field_properties: Map::new(),
                })
                .collect(),
        }
    }

    pub(crate) fn web_panel_index(&self, id: i32) -> Option<usize> {
        self.web_panels
            .iter()
            .position(|p| p.entity.web_panel_id == id)
    }

    /// Removes a web panel for good, with its visibility settings.
    pub(crate) fn hard_delete_web_panel(&mut self, idx: usize) {
        let panel = self.web_panels.remove(idx);
        self.visibility
            .remove(&(WEBPANEL_LIST_ID, panel.entity.web_panel_id));
    }

    pub(crate) fn webhook_index(&self, id: i32) -> Option<usize> {
        self.webhooks.iter().position(|w| w.entity.webhook_id == id)
    }

    /// The user groups an item is visible for (all when never set).
    pub(crate) fn visible_for(&self, list_id: i32, item_id: i32) -> Vec<i32> {
        match self.visibility.get(&(list_id, item_id)) {
            Some(groups) => groups.clone(),
            None => self.user_groups.iter().map(|g| g.id).collect(),
        }
    }
}

/// `udefs` in JSON: an object by entity name (`"Contact": {…}`), so the file does not depend on the
/// order of [`UdefEntity`]; every entity must be there once.
mod udef_layouts {
    use serde::de::Error as _;
    use serde::ser::SerializeMap as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{UdefEntity, UdefLayout};

    pub(super) fn serialize<S: Serializer>(
        layouts: &[UdefLayout; 6],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(UdefEntity::ALL.len()))?;
        for entity in UdefEntity::ALL {
            map.serialize_entry(entity.as_str(), &layouts[entity.index()])?;
        }
        map.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[UdefLayout; 6], D::Error> {
        let by_name = std::collections::BTreeMap::<String, UdefLayout>::deserialize(d)?;
        let mut layouts: [Option<UdefLayout>; 6] = Default::default();
        for (name, layout) in by_name {
            let entity = UdefEntity::parse(&name)
                .ok_or_else(|| D::Error::custom(format!("udefs: unknown entity {name:?}")))?;
            if layouts[entity.index()].replace(layout).is_some() {
                return Err(D::Error::custom(format!("udefs: {name} appears twice")));
            }
        }
        let missing: Vec<&str> = UdefEntity::ALL
            .into_iter()
            .filter(|e| layouts[e.index()].is_none())
            .map(UdefEntity::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(D::Error::custom(format!(
                "udefs: no layout for {}",
                missing.join(", ")
            )));
        }
        Ok(layouts.map(Option::unwrap_or_default))
    }
}

/// (list id, item id) → the user-group ids the item is visible for.
pub(crate) type Visibility = HashMap<(i32, i32), Vec<i32>>;

/// `visibility` in JSON, whose object keys must be strings: a list of
/// `{"list": 22, "item": 3, "groups": [1, 2]}`, sorted so that unchanged data serializes to the
/// same bytes (the state file is only rewritten when its bytes change).
mod visibility_entries {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Visibility;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        list: i32,
        item: i32,
        groups: Vec<i32>,
    }

    pub(super) fn serialize<S: Serializer>(map: &Visibility, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<Entry> = map
            .iter()
            .map(|(&(list, item), groups)| Entry {
                list,
                item,
                groups: groups.clone(),
            })
            .collect();
        entries.sort_by_key(|e| (e.list, e.item));
        entries.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Visibility, D::Error> {
        let entries = Vec::<Entry>::deserialize(d)?;
        Ok(entries
            .into_iter()
            .map(|e| ((e.list, e.item), e.groups))
            .collect())
    }
}

/// All tenants' WebAPI data, plus the settings that shape it.
pub(crate) struct WebApiStore {
    tenants: Mutex<HashMap<String, TenantData>>,
    /// Told after every mutable access, so the state file (if any) follows.
    changes: Changes,
    publish_duration: Mutex<Duration>,
    /// Sends webhook calls (the test POST at save time and scripted events).
    pub(crate) http: reqwest::Client,
    pub(crate) webhook_timeout: Duration,
}

impl WebApiStore {
    pub(crate) fn new<'a>(
        contexts: impl IntoIterator<Item = &'a str>,
        publish_duration: Duration,
        webhook_timeout: Duration,
        changes: Changes,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(webhook_timeout)
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        let tenants = contexts
            .into_iter()
            .map(|ctx| (ctx.to_ascii_lowercase(), TenantData::new()))
            .collect();
        Ok(Self {
            tenants: Mutex::new(tenants),
            changes,
            publish_duration: Mutex::new(publish_duration),
            http,
            webhook_timeout,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, TenantData>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the tenant's data; `None` for an unknown tenant. `f` may change it, so the state
    /// file writer is told (it writes only if the bytes changed): every handler goes through here,
    /// so no change can be missed by forgetting to report it.
    pub(crate) fn with<R>(&self, ctx: &str, f: impl FnOnce(&mut TenantData) -> R) -> Option<R> {
        let result = {
            let mut tenants = self.lock();
            tenants.get_mut(&ctx.to_ascii_lowercase()).map(f)
        };
        if result.is_some() {
            self.changes.mark();
        }
        result
    }

    /// Runs `f` on the tenant's data without changing it (nothing to tell the state file).
    pub(crate) fn read<R>(&self, ctx: &str, f: impl FnOnce(&TenantData) -> R) -> Option<R> {
        let tenants = self.lock();
        tenants.get(&ctx.to_ascii_lowercase()).map(f)
    }

    /// Replaces a tenant's data (loading the state file); false for an unknown tenant.
    pub(crate) fn replace(&self, ctx: &str, data: TenantData) -> bool {
        match self.lock().get_mut(&ctx.to_ascii_lowercase()) {
            Some(slot) => {
                *slot = data;
                true
            }
            None => false,
        }
    }

    pub(crate) fn publish_duration(&self) -> Duration {
        *self
            .publish_duration
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_publish_duration(&self, d: Duration) {
        *self
            .publish_duration
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = d;
    }
}

/// The `FieldProperties` of a default `UserDefinedFieldInfo`, as in
/// `vendor/udef-agent-create-response-example.json`.
pub(crate) fn udef_default_field_properties() -> Map<String, Value> {
    let boolean = json!({
        "FieldRight": {"Mask": "Update", "Reason": ""},
        "FieldType": "System.Boolean",
        "FieldLength": 0
    });
    let mut m = Map::new();
    m.insert("IsIndexed".into(), boolean.clone());
    m.insert("IsMandatory".into(), boolean);
    m
}
