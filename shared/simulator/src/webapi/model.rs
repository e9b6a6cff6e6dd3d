//! The WebAPI carriers the provisioning endpoints read and write, with the property names and
//! types of the Swagger definitions (`vendor/swagger-provisioning-subset.json`).
//!
//! Request bodies go through [`from_body`]: property names are matched ignoring case (as
//! Newtonsoft does), `null` means "default", unknown properties are ignored, and missing ones take
//! the carrier's default. Enumerations are strings and are checked with [`check_enum`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `SuperOffice.CRM.Services.UserDefinedFieldInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct UdefFieldInfo {
    #[serde(rename = "UDefFieldId")]
    pub(crate) udef_field_id: i32,
    pub(crate) column_id: i32,
    pub(crate) field_default: String,
    pub(crate) field_height: i32,
    pub(crate) field_label: String,
    pub(crate) field_left: i32,
    pub(crate) field_top: i32,
    pub(crate) field_type: String,
    pub(crate) field_width: i32,
    pub(crate) format_mask: String,
    pub(crate) hide_label: bool,
    pub(crate) is_indexed: bool,
    pub(crate) label_height: i32,
    pub(crate) label_left: i32,
    pub(crate) label_top: i32,
    pub(crate) label_width: i32,
    pub(crate) last_version_id: i32,
    pub(crate) list_table_id: i32,
    pub(crate) is_mandatory: bool,
    #[serde(rename = "Type")]
    pub(crate) owner_type: String,
    #[serde(rename = "Page1LineNo")]
    pub(crate) page1_line_no: i32,
    pub(crate) prog_id: String,
    pub(crate) is_read_only: bool,
    pub(crate) short_label: String,
    pub(crate) tab_order: i32,
    pub(crate) text_length: i32,
    pub(crate) tooltip: String,
    pub(crate) udef_identity: i32,
    #[serde(rename = "UDListDefinitionId")]
    pub(crate) ud_list_definition_id: i32,
    pub(crate) justification: String,
    pub(crate) version: i32,
    pub(crate) template_variable_name: String,
    pub(crate) has_been_published: bool,
    pub(crate) mdo_list_name: Option<String>,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

/// `UserDefinedFieldInfo.FieldType`.
pub(crate) const UDEF_FIELD_TYPES: &[&str] = &[
    "Number",
    "ShortText",
    "LongText",
    "Date",
    "UnlimitedDate",
    "Checkbox",
    "List",
    "Decimal",
];

/// `UserDefinedFieldInfo.Justification`.
pub(crate) const JUSTIFICATIONS: &[&str] = &["Default", "Left", "Center", "Right"];

/// `SuperOffice.CRM.Services.ListEntity` (and `ListEntityWithLinks` with `_Links`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ListEntity {
    pub(crate) id: i32,
    pub(crate) name: String,
    pub(crate) tooltip: String,
    pub(crate) deleted: bool,
    pub(crate) rank: i32,
    pub(crate) is_custom_list: bool,
    #[serde(rename = "IsMDOList")]
    pub(crate) is_mdo_list: bool,
    pub(crate) use_groups_and_headings: bool,
    pub(crate) list_type: Option<String>,
    pub(crate) in_use_by_user_defined_fields: bool,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

/// A carrier with the `_Links` the REST API adds (`…WithLinks`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WithLinks<T: Serialize> {
    #[serde(flatten)]
    pub(crate) entity: T,
    #[serde(rename = "_Links")]
    pub(crate) links: Map<String, Value>,
}

impl<T: Serialize> WithLinks<T> {
    pub(crate) fn new(entity: T, self_url: String) -> Self {
        let mut links = Map::new();
        links.insert("Self".into(), Value::String(self_url));
        Self { entity, links }
    }
}

/// `SuperOffice.CRM.Services.ListItemEntity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ListItemEntity {
    pub(crate) id: i32,
    pub(crate) name: String,
    pub(crate) tooltip: String,
    pub(crate) deleted: bool,
    pub(crate) ud_list_definition_id: i32,
    pub(crate) rank: i32,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

/// `SuperOffice.CRM.Services.WebPanelEntity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct WebPanelEntity {
    pub(crate) web_panel_id: i32,
    pub(crate) name: String,
    pub(crate) tooltip: String,
    pub(crate) deleted: bool,
    pub(crate) rank: i32,
    pub(crate) url_encoding: String,
    pub(crate) visible_in: String,
    pub(crate) on_central: bool,
    pub(crate) on_satellite: bool,
    pub(crate) on_travel: bool,
    pub(crate) on_sales_marketing_web: bool,
    pub(crate) on_sales_marketing_pocket: bool,
    pub(crate) show_in_menu_bar: bool,
    pub(crate) show_in_tool_bar: bool,
    pub(crate) show_in_address_bar: bool,
    pub(crate) show_in_status_bar: bool,
    pub(crate) window_name: String,
    pub(crate) url: String,
    pub(crate) prog_id: String,
    pub(crate) icon: i32,
    pub(crate) always_reload_on_show: bool,
    pub(crate) never_reload_on_current_change: bool,
    pub(crate) custom_object_entity: String,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

/// What `GET List/WebPanel/Items/Default` returns, and what a body's missing properties become.
impl Default for WebPanelEntity {
    fn default() -> Self {
        Self {
            web_panel_id: 0,
            name: String::new(),
            tooltip: String::new(),
            deleted: false,
            rank: 0,
            url_encoding: "None".into(),
            visible_in: "Invisible".into(),
            on_central: true,
            on_satellite: true,
            on_travel: true,
            on_sales_marketing_web: true,
            on_sales_marketing_pocket: false,
            show_in_menu_bar: false,
            show_in_tool_bar: false,
            show_in_address_bar: false,
            show_in_status_bar: false,
            window_name: String::new(),
            url: String::new(),
            prog_id: String::new(),
            icon: 0,
            always_reload_on_show: false,
            never_reload_on_current_change: false,
            custom_object_entity: String::new(),
            table_right: None,
            field_properties: Map::new(),
        }
    }
}

/// `WebPanelEntity.UrlEncoding`.
pub(crate) const URL_ENCODINGS: &[&str] = &["Unknown", "None", "ANSI", "Unicode"];

/// `WebPanelEntity.VisibleIn`.
pub(crate) const VISIBLE_IN: &[&str] = &[
    "Invisible",
    "ToolboxMenu",
    "NavigatorButton",
    "ViewMenu",
    "SelectionTaskCard",
    "ContactCard",
    "ContactArchive",
    "ProjectCard",
    "ProjectArchive",
    "SaleCard",
    "PersonCard",
    "ActivityDialog",
    "DocumentDialog",
    "BrowserPanel",
    "ContSelectionTask",
    "AppntSelectionTask",
    "SaleSelectionTask",
    "DocSelectionTask",
    "ProjSelectionTask",
    "CompanyMinicard",
    "ProjectMinicard",
    "DiaryMinicard",
    "SelectionMinicard",
    "ButtonPanelTask",
    "AppointmentDialogTask",
    "SaleDialogTask",
    "DocumentDialogTask",
    "PersonDialogTask",
    "SaleMinicard",
    "SaleArchive",
    "AppntSelectionShadowTask",
    "SaleSelectionShadowTask",
    "DocSelectionShadowTask",
    "ProjSelectionShadowTask",
    "DiaryArchive",
    "SelectionContactArchive",
    "SelectionProjectArchive",
    "SelectionSaleArchive",
    "SelectionAppointmentArchive",
    "SelectionDocumentArchive",
    "ContSelectionCustomTask",
    "AppntSelectionCustomTask",
    "SaleSelectionCustomTask",
    "DocSelectionCustomTask",
    "ProjSelectionCustomTask",
    "CustomArchiveMiniCard",
    "SelectionCard",
    "ReportMinicard",
    "QuoteDialog",
    "QuoteDialogTask",
    "QuoteDialogArchive",
    "QuoteLineDialogTask",
    "QuoteLineDialog",
    "QuoteLineSelectionMainTask",
    "QuoteLineSelectionShadowTask",
    "SelectionQuoteLineArchive",
    "QuoteLineSelectionCustomTask",
    "FindSystem",
    "MailingSelectionTask",
    "ContactSelectionMailingsTask",
    "AppointmentSelectionMailingsTask",
    "SaleSelectionMailingsTask",
    "DocumentSelectionMailingsTask",
    "ProjectSelectionMailingsTask",
    "QuoteLineSelectionMailingsTask",
    "TopPanelNewMenu",
    "Dashboard",
    "PersonArchive",
    "PersonMinicard",
    "CompanyCardTask",
    "ProjectCardTask",
    "TicketCard",
    "TicketMinicard",
    "CustomObjectCard",
    "CustomObjectArchive",
];

/// `SuperOffice.CRM.Services.UserGroup`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct UserGroup {
    pub(crate) value: String,
    pub(crate) tooltip: String,
    pub(crate) id: i32,
    pub(crate) rank: i32,
    pub(crate) deleted: bool,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

/// `SuperOffice.CRM.Services.SelectableMDOListItem` (output only).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SelectableMdoListItem {
    pub(crate) id: i32,
    pub(crate) name: String,
    #[serde(rename = "ToolTip")]
    pub(crate) tool_tip: String,
    pub(crate) deleted: bool,
    pub(crate) rank: i32,
    #[serde(rename = "Type")]
    pub(crate) item_type: String,
    pub(crate) color_block: i32,
    pub(crate) icon_hint: String,
    pub(crate) selected: bool,
    pub(crate) last_changed: String,
    pub(crate) child_items: Vec<Value>,
    pub(crate) extra_info: String,
    pub(crate) style_hint: String,
    pub(crate) hidden: bool,
    pub(crate) full_name: String,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

/// `SuperOffice.CRM.Services.MDOListItem` (output only).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MdoListItem {
    pub(crate) id: i32,
    pub(crate) name: String,
    #[serde(rename = "ToolTip")]
    pub(crate) tool_tip: String,
    pub(crate) deleted: bool,
    pub(crate) rank: i32,
    #[serde(rename = "Type")]
    pub(crate) item_type: String,
    pub(crate) child_items: Vec<Value>,
    pub(crate) icon_hint: String,
    pub(crate) color_block: i32,
    pub(crate) extra_info: String,
    pub(crate) style_hint: String,
    pub(crate) full_name: String,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

impl MdoListItem {
    pub(crate) fn new(id: i32, name: &str, item_type: &str, rank: i32) -> Self {
        Self {
            id,
            name: name.to_owned(),
            tool_tip: String::new(),
            deleted: false,
            rank,
            item_type: item_type.to_owned(),
            child_items: Vec::new(),
            icon_hint: String::new(),
            color_block: 0,
            extra_info: String::new(),
            style_hint: String::new(),
            full_name: name.to_owned(),
            table_right: None,
            field_properties: Map::new(),
        }
    }
}

/// `SuperOffice.CRM.Services.PreferenceSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct PreferenceSpec {
    pub(crate) section: String,
    pub(crate) key: String,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

/// `SuperOffice.CRM.Services.Preference`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Preference {
    pub(crate) level: String,
    pub(crate) raw_value: String,
    pub(crate) specification: PreferenceSpec,
    pub(crate) display_value: String,
    pub(crate) display_tooltip: String,
    pub(crate) display_type: String,
    pub(crate) tab_order: Option<Value>,
    pub(crate) target_id: i32,
    pub(crate) pref_desc_id: i32,
    pub(crate) table_name: String,
    pub(crate) user_preference_id: i32,
    pub(crate) table_right: Option<Value>,
    pub(crate) field_properties: Map<String, Value>,
}

/// `Preference.Level`, farthest from the user first.
pub(crate) const PREF_LEVELS: &[&str] = &[
    "Undefined",
    "HardDefault",
    "SystemWide",
    "Database",
    "Group",
    "Individual",
    "PC",
];

/// `Preference.DisplayType`.
pub(crate) const PREF_DISPLAY_TYPES: &[&str] = &[
    "Unknown",
    "Number",
    "Text",
    "Bool",
    "ListOfValues",
    "ListTableRef",
    "TimeList",
    "ContactID",
    "PersonID",
    "ProjectID",
    "SelectionID",
    "PosSize",
    "TimeZone",
    "Time",
    "Password",
    "MultiLineText",
];

/// `SuperOffice.CRM.Services.Webhook` (and `WebhookWithLinks` with `_Links`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Webhook {
    pub(crate) webhook_id: i32,
    pub(crate) name: Option<String>,
    pub(crate) events: Vec<String>,
    pub(crate) target_url: Option<String>,
    pub(crate) secret: Option<String>,
    pub(crate) state: String,
    #[serde(rename = "Type")]
    pub(crate) hook_type: String,
    pub(crate) headers: Option<Map<String, Value>>,
    pub(crate) properties: Option<Map<String, Value>>,
    pub(crate) registered: String,
    pub(crate) registered_associate: Option<Value>,
    pub(crate) updated: String,
    pub(crate) updated_associate: Option<Value>,
    pub(crate) errors_email: Option<String>,
    pub(crate) error_emails: Vec<String>,
    pub(crate) error_associates: Vec<Value>,
    pub(crate) description: Option<String>,
    pub(crate) notify_via: String,
    pub(crate) notify_when: String,
    pub(crate) total_calls: i32,
    pub(crate) total_errors: i32,
    pub(crate) consecutive_errors: i32,
    pub(crate) last_error: Option<String>,
}

impl Webhook {
    /// `GET Webhook/default`, as in `vendor/webhook-default-entity.json`, plus the newer properties.
    pub(crate) fn documented_default() -> Self {
        Self {
            events: vec!["contact.created".into(), "contact.deleted".into()],
            ..Self::default()
        }
    }
}

/// What a body's missing properties become (no events).
impl Default for Webhook {
    fn default() -> Self {
        Self {
            webhook_id: 0,
            name: None,
            events: Vec::new(),
            target_url: None,
            secret: None,
            state: "Active".into(),
            hook_type: "webhook".into(),
            headers: None,
            properties: None,
            registered: DOTNET_MIN_DATE.into(),
            registered_associate: None,
            updated: DOTNET_MIN_DATE.into(),
            updated_associate: None,
            errors_email: None,
            error_emails: Vec::new(),
            error_associates: Vec::new(),
            description: None,
            notify_via: "None".into(),
            notify_when: "None".into(),
            total_calls: 0,
            total_errors: 0,
            consecutive_errors: 0,
            last_error: None,
        }
    }
}

/// .NET's `DateTime.MinValue` as the WebAPI writes it.
pub(crate) const DOTNET_MIN_DATE: &str = "0001-01-01T00:00:00";

/// `Webhook.State`.
pub(crate) const WEBHOOK_STATES: &[&str] = &["Unknown", "Active", "Stopped", "TooManyErrors"];
/// `Webhook.NotifyVia`.
pub(crate) const NOTIFY_VIA: &[&str] = &["None", "Email", "InApp"];
/// `Webhook.NotifyWhen` (flags; several may be combined with commas).
pub(crate) const NOTIFY_WHEN: &[&str] = &["None", "FirstFailure", "Disabling"];

/// The body of a webhook call (`WebhookPayload`), in the documented property order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WebhookPayload {
    pub(crate) event_id: String,
    pub(crate) timestamp: String,
    pub(crate) changes: Vec<String>,
    pub(crate) event: String,
    pub(crate) primary_key: i32,
    pub(crate) entity: String,
    pub(crate) context_identifier: String,
    pub(crate) changed_by_associate_id: i32,
    pub(crate) webhook_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) field_values: Option<Map<String, Value>>,
    /// The webhook's `Properties`, injected into the body.
    #[serde(flatten)]
    pub(crate) properties: Map<String, Value>,
}

/// Parses a carrier from a request body value. See the module documentation for the leniencies.
pub(crate) fn from_body<T>(value: Value, what: &str) -> Result<T, String>
where
    T: Default + Serialize + DeserializeOwned,
{
    let template = serde_json::to_value(T::default()).map_err(|e| e.to_string())?;
    let normalized = normalize(value, &template, what)?;
    serde_json::from_value(normalized).map_err(|e| format!("invalid {what}: {e}"))
}

/// Renames the keys of `value` to the spelling of `template`'s keys (ignoring case), drops `null`s
/// and unknown keys, and does the same one level down for nested carriers (e.g. `Specification`).
fn normalize(value: Value, template: &Value, what: &str) -> Result<Value, String> {
    let Value::Object(input) = value else {
        return Err(format!("{what} must be a JSON object"));
    };
    let Some(known) = template.as_object() else {
        return Ok(Value::Object(input));
    };
    let mut out = Map::new();
    for (k, v) in input {
        if v.is_null() {
            continue;
        }
        let Some((canonical, tmpl)) = known.iter().find(|(name, _)| name.eq_ignore_ascii_case(&k))
        else {
            continue;
        };
        let v = match (tmpl, v) {
            // A nested carrier: normalise its keys too.
            (Value::Object(t), v @ Value::Object(_)) if !t.is_empty() => {
                normalize(v, tmpl, canonical)?
            }
            (_, v) => v,
        };
        out.insert(canonical.clone(), v);
    }
    Ok(Value::Object(out))
}

/// Checks an enumeration value; `""` is allowed only when `empty_ok`.
pub(crate) fn check_enum(
    value: &str,
    allowed: &[&str],
    property: &str,
    empty_ok: bool,
) -> Result<(), String> {
    if (value.is_empty() && empty_ok) || allowed.contains(&value) {
        return Ok(());
    }
    Err(format!(
        "{property} {value:?} is not one of {}",
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_keys_ignore_case_and_nulls_mean_default() {
        let p: Preference = from_body(
            json!({"level": "Database", "RAWVALUE": "x", "specification": {"section": "S", "KEY": "k"}, "TabOrder": null, "Nope": 1}),
            "Preference",
        )
        .unwrap();
        assert_eq!(p.level, "Database");
        assert_eq!(p.raw_value, "x");
        assert_eq!(p.specification.section, "S");
        assert_eq!(p.specification.key, "k");
        let w: WebPanelEntity = from_body(json!({"Name": "n", "OnCentral": null}), "x").unwrap();
        assert!(w.on_central);
        assert!(from_body::<WebPanelEntity>(json!([1]), "x").is_err());
        assert!(from_body::<WebPanelEntity>(json!({"Rank": "high"}), "x").is_err());
    }

    #[test]
    fn property_names_follow_swagger() {
        let v = serde_json::to_value(UdefFieldInfo::default()).unwrap();
        for k in [
            "UDefFieldId",
            "UDListDefinitionId",
            "Page1LineNo",
            "Type",
            "MdoListName",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        let v = serde_json::to_value(ListEntity::default()).unwrap();
        assert!(v.get("IsMDOList").is_some());
        let v = serde_json::to_value(ListItemEntity::default()).unwrap();
        assert!(v.get("UdListDefinitionId").is_some());
    }
}
