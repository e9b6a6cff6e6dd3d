//! A large customer site, seeded directly into a tenant's WebAPI state: many user-defined lists with
//! items, many published fields on Contact and Person, other apps' web panels, webhooks and
//! preferences, and more user groups. Tests and benchmarks install into such a site to show that an
//! app's cost does not grow with the customer's data (certification: "user experience must not
//! degrade on large sites").
//!
//! Everything seeded belongs to the customer or to other apps (other ProgId prefixes, other owners,
//! other names), so nothing of it may ever be touched by our app.

use serde_json::Map;

use super::data::{
    ListDef, ListKind, StoredWebhook, TenantData, UDLIST_TABLE_ID, UdefEntity, WebPanel,
};
use super::model::{
    ListEntity, ListItemEntity, Preference, PreferenceSpec, UdefFieldInfo, UserGroup,
    WebPanelEntity, Webhook,
};

/// How large a seeded site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteSize {
    pub lists: usize,
    pub items_per_list: usize,
    /// Published fields on each of Contact and Person.
    pub fields_per_entity: usize,
    pub web_panels: usize,
    pub webhooks: usize,
    pub preferences: usize,
    pub user_groups: usize,
}

impl SiteSize {
    /// The large site of the large-sites issue: 2,000 lists of 20 items, 1,500 published fields on
    /// each of Contact and Person, 500 other apps' web panels, 200 webhooks and 400 preferences. No
    /// user groups beyond the tenant's three: the one collection an install must read whole is the
    /// user groups (once per run, to show a new panel to every group), so they are measured on
    /// their own.
    pub const LARGE: SiteSize = SiteSize {
        lists: 2_000,
        items_per_list: 20,
        fields_per_entity: 1_500,
        web_panels: 500,
        webhooks: 200,
        preferences: 400,
        user_groups: 0,
    };

    /// Every count multiplied by `n`.
    pub fn times(self, n: usize) -> SiteSize {
        SiteSize {
            lists: self.lists * n,
            items_per_list: self.items_per_list,
            fields_per_entity: self.fields_per_entity * n,
            web_panels: self.web_panels * n,
            webhooks: self.webhooks * n,
            preferences: self.preferences * n,
            user_groups: self.user_groups * n,
        }
    }
}

impl TenantData {
    /// Adds the customer's and other apps' data of a site of `size`.
    pub(crate) fn seed(&mut self, size: &SiteSize) {
        for g in 0..size.user_groups {
            let id = 1_000 + g as i32;
            self.user_groups.push(UserGroup {
                value: format!("Customer group {g}"),
                tooltip: String::new(),
                id,
                rank: id,
                deleted: false,
                table_right: None,
                field_properties: Map::new(),
            });
        }
        for l in 0..size.lists {
            let id = self.next_list_id;
            self.next_list_id += 1;
            let items = (0..size.items_per_list)
                .map(|i| {
                    let item = self.next_list_item_id;
                    self.next_list_item_id += 1;
                    ListItemEntity {
                        id: item,
                        name: format!("NO:\"Verdi {i}\";US:\"Value {i}\""),
                        tooltip: String::new(),
                        deleted: false,
                        ud_list_definition_id: id,
                        rank: i as i32 + 1,
                        table_right: None,
                        field_properties: Map::new(),
                    }
                })
                .collect();
            self.lists.push(ListDef {
                entity: ListEntity {
                    id,
                    name: format!("Customer list {l}"),
                    tooltip: "A list of the customer's own".into(),
                    deleted: false,
                    rank: id,
                    is_custom_list: true,
                    is_mdo_list: true,
                    use_groups_and_headings: false,
                    list_type: Some("udlist".into()),
                    in_use_by_user_defined_fields: false,
                    table_right: None,
                    field_properties: Map::new(),
                },
                built_in: false,
                kind: ListKind::Plain,
                items,
            });
        }
        for entity in [UdefEntity::Contact, UdefEntity::Person] {
            for f in 0..size.fields_per_entity {
                let id = self.next_udef_field_id;
                self.next_udef_field_id += 1;
                let column = self.next_column_id;
                self.next_column_id += 1;
                let layout = self.udef_mut(entity);
                let identity = layout.next_identity;
                layout.next_identity += 1;
                let field = UdefFieldInfo {
                    udef_field_id: id,
                    column_id: column,
                    field_label: format!("Customer field {f}"),
                    short_label: format!("Field {f}"),
                    field_type: "ShortText".into(),
                    owner_type: entity.as_str().into(),
                    prog_id: format!("SuperOffice:{}", 1_000 + f),
                    text_length: 40,
                    tooltip: "A field of the customer's own".into(),
                    udef_identity: identity,
                    version: layout.version,
                    template_variable_name: format!("{}s{f}", entity.template_letter()),
                    has_been_published: true,
                    justification: "Default".into(),
                    list_table_id: if f % 10 == 0 { UDLIST_TABLE_ID } else { 0 },
                    ..UdefFieldInfo::default()
                };
                layout.admin.push(field.clone());
                layout.published.push(field);
            }
        }
        for p in 0..size.web_panels {
            let id = self.next_web_panel_id;
            self.next_web_panel_id += 1;
            self.web_panels.push(WebPanel {
                entity: WebPanelEntity {
                    web_panel_id: id,
                    name: format!("Other app panel {p}"),
                    visible_in: "ContactCard".into(),
                    url: format!("https://other-app.example/panel/{p}?ctx=<uctx>"),
                    prog_id: format!("OtherApp{}.Panel{p}", p % 25),
                    window_name: format!("OtherApp_{p}"),
                    rank: 100,
                    ..WebPanelEntity::default()
                },
                owner: Some(format!("other-app-{}", p % 25)),
            });
        }
        for h in 0..size.webhooks {
            let id = self.next_webhook_id;
            self.next_webhook_id += 1;
            self.webhooks.push(StoredWebhook {
                entity: Webhook {
                    webhook_id: id,
                    name: Some(format!("Other app hook {h}")),
                    events: vec!["contact.changed".into()],
                    target_url: Some(format!("https://other-app.example/hook/{h}")),
                    secret: Some(format!("other-secret-{h}")),
                    ..Webhook::default()
                },
                created_by_client_id: format!("other-app-{}", h % 25),
            });
        }
        for p in 0..size.preferences {
            let id = self.next_preference_id;
            self.next_preference_id += 1;
            self.preferences.push(Preference {
                level: "SystemWide".into(),
                raw_value: format!("{p}"),
                specification: PreferenceSpec {
                    section: format!("OtherApp{}", p % 40),
                    key: format!("Setting{p}"),
                    table_right: None,
                    field_properties: Map::new(),
                },
                display_value: format!("{p}"),
                display_type: "Text".into(),
                user_preference_id: id,
                ..Preference::default()
            });
        }
    }
}
