//! The provisioning manifest: what the app puts into a tenant, declared in one TOML file.
//!
//! A partner edits `manifest/demo.toml` (or their own file) to say which user-defined fields, lists,
//! web panels, buttons, preferences and webhooks the app needs. It is validated when a function
//! starts, with every problem reported at once. [`Manifest::artifacts`] gives the artifacts in the
//! order they are created (a list before the field bound to it); the uninstall walks the ledger in
//! reverse. Each artifact has a stable identity ([`Artifact::key`]) by which it is found again in
//! SuperOffice, so a retried install never duplicates anything.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Entities that carry user-defined fields (`/api/v1/{Entity}/UdefLayout`).
pub const UDF_ENTITIES: &[&str] = &[
    "Contact",
    "Person",
    "Project",
    "Sale",
    "Appointment",
    "Document",
];
/// `UserDefinedFieldInfo.FieldType` values (Swagger).
pub const UDF_TYPES: &[&str] = &[
    "Number",
    "ShortText",
    "LongText",
    "Date",
    "UnlimitedDate",
    "Checkbox",
    "List",
    "Decimal",
];
/// `Preference.Level` values (Swagger).
pub const PREFERENCE_LEVELS: &[&str] = &[
    "HardDefault",
    "SystemWide",
    "Database",
    "Group",
    "Individual",
    "PC",
];
/// Webhook event entities (SuperOffice's event list).
pub const WEBHOOK_ENTITIES: &[&str] = &[
    "activity",
    "associate",
    "contact",
    "chatsession",
    "document",
    "person",
    "project",
    "projectmember",
    "quote",
    "relation",
    "sale",
    "salestakeholder",
    "ticket",
];
/// `WebPanelEntity.VisibleIn` values a partner panel may use (a subset of the Swagger enum).
pub const PANEL_PLACES: &[&str] = &[
    "ContactCard",
    "ContactArchive",
    "PersonCard",
    "PersonArchive",
    "ProjectCard",
    "ProjectArchive",
    "SaleCard",
    "SaleArchive",
    "DiaryArchive",
    "Dashboard",
    "TicketCard",
    "CustomObjectCard",
    "CompanyMinicard",
    "ProjectMinicard",
    "SaleMinicard",
    "PersonMinicard",
    "BrowserPanel",
    "ButtonPanelTask",
    "CompanyCardTask",
    "ProjectCardTask",
    "SaleDialogTask",
    "PersonDialogTask",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub app: AppInfo,
    #[serde(default)]
    pub lists: Vec<List>,
    #[serde(default)]
    pub user_defined_fields: Vec<UserDefinedField>,
    #[serde(default)]
    pub web_panels: Vec<WebPanel>,
    #[serde(default)]
    pub buttons: Vec<Button>,
    #[serde(default)]
    pub preferences: Vec<Preference>,
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInfo {
    pub name: String,
    pub prog_id_prefix: String,
    /// The manifest's version as people read it (the management page, `soapp manifest diff`).
    /// Which tenants need an upgrade is decided by the manifest's fingerprint, not by this label,
    /// so a release that forgets to change it still reaches every tenant.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    /// How fields refer to this list in the manifest.
    pub key: String,
    /// The list's name in SuperOffice: its identity there.
    pub name: String,
    #[serde(default)]
    pub tooltip: String,
    /// Items as language → text, e.g. `{ NO = "Bil", US = "Car" }`.
    pub items: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDefinedField {
    pub prog_id: String,
    pub entity: String,
    #[serde(rename = "type")]
    pub field_type: String,
    pub label: String,
    #[serde(default)]
    pub short_label: String,
    #[serde(default)]
    pub tooltip: String,
    /// For `type = "List"`: the `key` of one of the manifest's lists.
    #[serde(default)]
    pub list: Option<String>,
    #[serde(default)]
    pub text_length: Option<u32>,
    #[serde(default)]
    pub mandatory: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebPanel {
    pub prog_id: String,
    pub name: String,
    #[serde(default)]
    pub tooltip: String,
    pub visible_in: String,
    /// Relative to the deployment's base URL; carries `<uctx>` and `<usid>`.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Button {
    pub prog_id: String,
    pub name: String,
    #[serde(default)]
    pub tooltip: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preference {
    pub section: String,
    pub key: String,
    pub value: String,
    #[serde(default = "system_wide")]
    pub level: String,
}

fn system_wide() -> String {
    "SystemWide".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub name: String,
    pub events: Vec<String>,
    pub path: String,
}

/// One thing the app puts into a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Artifact {
    List(List),
    UserDefinedField(UserDefinedField),
    WebPanel(WebPanel),
    Button(Button),
    Preference(Preference),
    Webhook(Webhook),
}

impl Artifact {
    pub fn kind(&self) -> &'static str {
        match self {
            Artifact::List(_) => "list",
            Artifact::UserDefinedField(_) => "user_defined_field",
            Artifact::WebPanel(_) => "web_panel",
            Artifact::Button(_) => "button",
            Artifact::Preference(_) => "preference",
            Artifact::Webhook(_) => "webhook",
        }
    }

    /// The identity by which the artifact is found again in SuperOffice.
    pub fn identity(&self) -> String {
        match self {
            Artifact::List(l) => l.name.clone(),
            Artifact::UserDefinedField(f) => format!("{}:{}", f.entity, f.prog_id),
            Artifact::WebPanel(p) => p.prog_id.clone(),
            Artifact::Button(b) => b.prog_id.clone(),
            Artifact::Preference(p) => format!("{}/{}", p.section, p.key),
            Artifact::Webhook(w) => w.name.clone(),
        }
    }

    /// `kind:identity`: the ledger's key for this artifact.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind(), self.identity())
    }

    /// What the artifact declares, as a short digest: a ledger entry whose fingerprint differs from
    /// the manifest's is updated in the tenant. URLs are made on this deployment, so the base URL
    /// counts for the kinds that carry one.
    pub fn fingerprint(&self, base_url: &str) -> String {
        let declared = serde_json::to_string(self).unwrap_or_default();
        let base = match self {
            Artifact::WebPanel(_) | Artifact::Button(_) | Artifact::Webhook(_) => {
                base_url.trim_end_matches('/')
            }
            _ => "",
        };
        crate::store::secret_key(&format!("{base}\n{declared}"))[..16].to_owned()
    }

    /// A one-line description for the provisioned-items list.
    pub fn describe(&self, base_url: &str) -> String {
        let base = base_url.trim_end_matches('/');
        match self {
            Artifact::List(l) => format!(
                "List \"{}\" with {} items: {}",
                l.name,
                l.items.len(),
                l.items
                    .iter()
                    .map(multi_language)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Artifact::UserDefinedField(f) => format!(
                "{} field \"{}\" ({}){} on {}",
                f.field_type,
                f.label,
                f.prog_id,
                f.list
                    .as_deref()
                    .map(|l| format!(" bound to list {l}"))
                    .unwrap_or_default(),
                f.entity
            ),
            Artifact::WebPanel(p) => {
                format!(
                    "Web panel \"{}\" in {} at {base}{}",
                    p.name, p.visible_in, p.path
                )
            }
            Artifact::Button(b) => {
                format!("Navigator button \"{}\" opening {base}{}", b.name, b.path)
            }
            Artifact::Preference(p) => format!(
                "Preference {}/{} = {} ({})",
                p.section, p.key, p.value, p.level
            ),
            Artifact::Webhook(w) => format!(
                "Webhook \"{}\" for {} to {base}{}/<tenant>",
                w.name,
                w.events.join(", "),
                w.path
            ),
        }
    }

    /// What the artifact is and where the customer sees it, in the customer's words: no ProgIds,
    /// no URLs or template variables, no list syntax. For the management and status pages.
    pub fn describe_for_customer(&self) -> String {
        match self {
            Artifact::List(l) => format!(
                "A list \"{}\" with the values {}",
                l.name,
                words_list(&l.items.iter().map(display_text).collect::<Vec<_>>())
            ),
            Artifact::UserDefinedField(f) => {
                format!("The field \"{}\" on {}", f.label, entity_words(&f.entity))
            }
            Artifact::WebPanel(p) => format!(
                "The panel \"{}\" {}",
                p.name,
                visible_in_words(&p.visible_in)
            ),
            Artifact::Button(b) => format!(
                "The button \"{}\" in the navigator, which opens the app",
                b.name
            ),
            Artifact::Preference(p) => format!("The app's setting \"{}\" ({})", p.key, p.section),
            Artifact::Webhook(w) => {
                format!("Notifications to the app when {}", events_words(&w.events))
            }
        }
    }
}

/// A list item as a person reads it: its English text if it has one, else its first language's.
pub fn display_text(item: &BTreeMap<String, String>) -> String {
    item.get("US")
        .or_else(|| item.get("GB"))
        .or_else(|| item.values().next())
        .cloned()
        .unwrap_or_default()
}

/// `a`, `a and b`, `a, b and c`.
fn words_list(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Where the fields of an entity show, in SuperOffice's own words.
fn entity_words(entity: &str) -> &'static str {
    match entity {
        "Contact" => "company cards",
        "Person" => "contact cards",
        "Project" => "project cards",
        "Sale" => "sales",
        "Appointment" => "follow-ups",
        "Document" => "documents",
        _ => "SuperOffice's cards",
    }
}

fn visible_in_words(visible_in: &str) -> String {
    let place = match visible_in {
        "ContactCard" | "ContactArchive" => "on company cards",
        "PersonCard" => "on contact cards",
        "SaleCard" => "on sale cards",
        "ProjectCard" => "on project cards",
        "NavigatorButton" => "in the navigator",
        "Dashboard" => "on the dashboard",
        "BrowserPanel" => "as a page in SuperOffice",
        _ => "in SuperOffice",
    };
    place.to_owned()
}

/// `contact.created, contact.changed, sale.deleted` → `companies are created or changed, and sales
/// are deleted`.
fn events_words(events: &[String]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for event in events {
        let (entity, action) = event.split_once('.').unwrap_or((event.as_str(), "changed"));
        let things = match entity {
            "contact" => "companies",
            "person" => "contacts",
            "sale" => "sales",
            "project" => "projects",
            "activity" | "appointment" => "follow-ups",
            "document" => "documents",
            "ticket" => "requests",
            other => other,
        };
        let verb = match action {
            "created" => "created",
            "deleted" | "softdeleted" => "deleted",
            _ => "changed",
        };
        match groups.iter_mut().find(|(t, _)| *t == things) {
            Some((_, verbs)) if !verbs.contains(&verb) => verbs.push(verb),
            Some(_) => {}
            None => groups.push((things, vec![verb])),
        }
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|(things, verbs)| {
            let verbs: Vec<String> = verbs.into_iter().map(str::to_owned).collect();
            let joined = match verbs.as_slice() {
                [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                _ => verbs.join(""),
            };
            format!("{things} are {joined}")
        })
        .collect();
    words_list(&parts)
}

/// A list item in SuperOffice's multi-language form: `NO:"Bil";US:"Car"`.
pub fn multi_language(item: &BTreeMap<String, String>) -> String {
    item.iter()
        .map(|(lang, text)| format!("{lang}:\"{text}\""))
        .collect::<Vec<_>>()
        .join(";")
}

/// Everything wrong with a manifest, reported at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestErrors(pub Vec<String>);

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the manifest has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestErrors {}

/// The demo manifest shipped with the project, built into every binary.
pub const DEMO: &str = include_str!("../../../manifest/demo.toml");

impl Manifest {
    pub fn parse(text: &str) -> Result<Self, ManifestErrors> {
        let manifest: Manifest = toml::from_str(text)
            .map_err(|e| ManifestErrors(vec![e.to_string().trim().to_owned()]))?;
        let problems = manifest.problems();
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(ManifestErrors(problems))
        }
    }

    pub fn demo() -> Self {
        Self::parse(DEMO).unwrap_or_else(|e| panic!("the shipped demo manifest is invalid: {e}"))
    }

    /// The artifacts in creation order: lists, fields, web panels, buttons, preferences, webhooks.
    pub fn artifacts(&self) -> Vec<Artifact> {
        let mut out = Vec::new();
        out.extend(self.lists.iter().cloned().map(Artifact::List));
        out.extend(
            self.user_defined_fields
                .iter()
                .cloned()
                .map(Artifact::UserDefinedField),
        );
        out.extend(self.web_panels.iter().cloned().map(Artifact::WebPanel));
        out.extend(self.buttons.iter().cloned().map(Artifact::Button));
        out.extend(self.preferences.iter().cloned().map(Artifact::Preference));
        out.extend(self.webhooks.iter().cloned().map(Artifact::Webhook));
        out
    }

    /// Every artifact's fingerprint in one digest: a tenant reconciled to this value holds exactly
    /// this manifest (the rollout compares it).
    pub fn fingerprint(&self, base_url: &str) -> String {
        let all: Vec<String> = self
            .artifacts()
            .iter()
            .map(|a| format!("{}={}", a.key(), a.fingerprint(base_url)))
            .collect();
        crate::store::secret_key(&all.join("\n"))[..16].to_owned()
    }

    /// The manifest's version label, or "unversioned".
    pub fn version_label(&self) -> &str {
        self.app.version.as_deref().unwrap_or("unversioned")
    }

    pub fn list(&self, key: &str) -> Option<&List> {
        self.lists.iter().find(|l| l.key == key)
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let app = &self.app.name;
        if app.trim().is_empty() || app.chars().count() > 64 {
            p.push(
                "app.name must be 1 to 64 characters (SuperOffice's limit for app names)".into(),
            );
        }
        let prefix = &self.app.prog_id_prefix;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            p.push("app.prog_id_prefix must be letters and digits only".into());
        }
        let mut prog_ids = HashSet::new();
        let mut check_prog_id = |what: &str, id: &str, p: &mut Vec<String>| {
            if !id.starts_with(&format!("{prefix}.")) {
                p.push(format!(
                    "{what} {id:?}: the ProgId must start with \"{prefix}.\""
                ));
            }
            if id.len() > 100
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                p.push(format!(
                    "{what} {id:?}: a ProgId is letters, digits, '.', '_' or '-' (at most 100)"
                ));
            }
            if !prog_ids.insert(id.to_owned()) {
                p.push(format!("{what} {id:?}: the ProgId is used twice"));
            }
        };

        let mut list_keys = HashSet::new();
        let mut list_names = HashSet::new();
        for l in &self.lists {
            let what = format!("list {:?}", l.key);
            if l.key.is_empty() || !list_keys.insert(l.key.clone()) {
                p.push(format!("{what}: the key is empty or used twice"));
            }
            if l.name.trim().is_empty() || !list_names.insert(l.name.clone()) {
                p.push(format!("{what}: the name is empty or used twice"));
            }
            if l.items.is_empty() {
                p.push(format!("{what}: a list needs at least one item"));
            }
            for (i, item) in l.items.iter().enumerate() {
                if item.is_empty() {
                    p.push(format!("{what}: item {} has no text", i + 1));
                }
                for (lang, text) in item {
                    if lang.len() != 2 || !lang.chars().all(|c| c.is_ascii_uppercase()) {
                        p.push(format!("{what}: item {} uses {lang:?}; languages are two capital letters like NO or US", i + 1));
                    }
                    if text.is_empty() || text.contains(['"', ';']) {
                        p.push(format!(
                            "{what}: item {} {lang} text must be non-empty without '\"' or ';'",
                            i + 1
                        ));
                    }
                }
            }
        }

        for f in &self.user_defined_fields {
            let what = format!("field {:?}", f.prog_id);
            check_prog_id("field", &f.prog_id, &mut p);
            if !UDF_ENTITIES.contains(&f.entity.as_str()) {
                p.push(format!(
                    "{what}: entity {:?} is not one of {}",
                    f.entity,
                    UDF_ENTITIES.join(", ")
                ));
            }
            if !UDF_TYPES.contains(&f.field_type.as_str()) {
                p.push(format!(
                    "{what}: type {:?} is not one of {}",
                    f.field_type,
                    UDF_TYPES.join(", ")
                ));
            }
            if f.label.trim().is_empty() || f.label.chars().count() > 50 {
                p.push(format!("{what}: the label must be 1 to 50 characters"));
            }
            match (&f.list, f.field_type == "List") {
                (Some(key), true) if !list_keys.contains(key) => {
                    p.push(format!(
                        "{what}: list {key:?} is not a list of this manifest"
                    ));
                }
                (None, true) => p.push(format!(
                    "{what}: a List field needs `list = \"<list key>\"`"
                )),
                (Some(_), false) => p.push(format!("{what}: only a List field takes `list`")),
                _ => {}
            }
            if let Some(n) = f.text_length
                && (!(f.field_type == "ShortText" || f.field_type == "LongText")
                    || n == 0
                    || n > 4000)
            {
                p.push(format!(
                    "{what}: text_length (1 to 4000) is only for ShortText and LongText"
                ));
            }
        }

        let check_path = |what: &str, path: &str, p: &mut Vec<String>| {
            if !path.starts_with('/') || path.starts_with("//") {
                p.push(format!(
                    "{what}: the path must start with '/' (it is relative to the app's base URL)"
                ));
            }
            for var in ["<uctx>", "<usid>"] {
                if !path.contains(var) {
                    p.push(format!("{what}: the path must carry {var} (certification)"));
                }
            }
            if path.to_ascii_lowercase().contains("usec") {
                p.push(format!("{what}: never put <usec> in a URL (certification)"));
            }
        };
        for w in &self.web_panels {
            let what = format!("web panel {:?}", w.prog_id);
            check_prog_id("web panel", &w.prog_id, &mut p);
            if !PANEL_PLACES.contains(&w.visible_in.as_str()) {
                p.push(format!(
                    "{what}: visible_in {:?} is not one of {}",
                    w.visible_in,
                    PANEL_PLACES.join(", ")
                ));
            }
            check_path(&what, &w.path, &mut p);
            if !w.name.contains(app.as_str()) && !w.tooltip.contains(app.as_str()) {
                p.push(format!(
                    "{what}: the name or tooltip must name the app (certification)"
                ));
            }
        }
        for b in &self.buttons {
            let what = format!("button {:?}", b.prog_id);
            check_prog_id("button", &b.prog_id, &mut p);
            check_path(&what, &b.path, &mut p);
            if !b.name.contains(app.as_str()) && !b.tooltip.contains(app.as_str()) {
                p.push(format!(
                    "{what}: the name or tooltip must name the app (certification)"
                ));
            }
        }

        let mut prefs = HashSet::new();
        for pr in &self.preferences {
            let what = format!("preference {}/{}", pr.section, pr.key);
            if pr.section.trim().is_empty() || pr.key.trim().is_empty() {
                p.push(format!("{what}: section and key must not be empty"));
            }
            if !prefs.insert((pr.section.clone(), pr.key.clone())) {
                p.push(format!("{what}: declared twice"));
            }
            if !PREFERENCE_LEVELS.contains(&pr.level.as_str()) {
                p.push(format!(
                    "{what}: level {:?} is not one of {}",
                    pr.level,
                    PREFERENCE_LEVELS.join(", ")
                ));
            }
        }

        let mut hook_names = HashSet::new();
        for h in &self.webhooks {
            let what = format!("webhook {:?}", h.name);
            if h.name.trim().is_empty() || !hook_names.insert(h.name.clone()) {
                p.push(format!("{what}: the name is empty or used twice"));
            }
            if !h.name.contains(app.as_str()) {
                p.push(format!(
                    "{what}: the name must contain the app name, so the uninstall finds it"
                ));
            }
            if h.events.is_empty() {
                p.push(format!("{what}: at least one event"));
            }
            for e in &h.events {
                let ok = e.split_once('.').is_some_and(|(entity, action)| {
                    WEBHOOK_ENTITIES.contains(&entity)
                        && matches!(action, "created" | "changed" | "deleted" | "softdeleted")
                });
                if !ok {
                    p.push(format!(
                        "{what}: event {e:?} is not entity.created|changed|deleted"
                    ));
                }
            }
            if !h.path.starts_with('/') || h.path.starts_with("//") {
                p.push(format!("{what}: the path must start with '/'"));
            }
        }
        p
    }
}

#[cfg(test)]
mod customer_words_tests {
    use super::*;

    #[test]
    fn the_demo_artifacts_are_described_in_the_customers_words() {
        let words: Vec<String> = Manifest::demo()
            .artifacts()
            .iter()
            .map(Artifact::describe_for_customer)
            .collect();
        assert_eq!(
            words,
            [
                "A list \"Demo Partner App regions\" with the values North, South and West",
                "The field \"Customer number\" on company cards",
                "The field \"Region\" on company cards",
                "The field \"Sync note\" on sales",
                "The panel \"Demo Partner App\" on company cards",
                "The button \"Demo Partner App\" in the navigator, which opens the app",
                "The app's setting \"Enabled\" (DemoPartnerApp)",
                "Notifications to the app when companies are created, changed or deleted",
            ]
        );
        for w in &words {
            assert!(
                !w.contains('<') && !w.contains("://") && !w.contains("NO:"),
                "{w}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_manifest_uses_every_kind_and_is_valid() {
        let m = Manifest::demo();
        let kinds: HashSet<_> = m.artifacts().iter().map(|a| a.kind()).collect();
        assert_eq!(kinds.len(), 6, "{kinds:?}");
        let order: Vec<_> = m.artifacts().iter().map(|a| a.kind()).collect();
        let first_field = order
            .iter()
            .position(|k| *k == "user_defined_field")
            .unwrap();
        assert!(
            order.iter().position(|k| *k == "list").unwrap() < first_field,
            "lists first"
        );
    }

    #[test]
    fn list_items_render_in_the_multi_language_form() {
        let m = Manifest::demo();
        assert_eq!(
            multi_language(&m.lists[0].items[0]),
            r#"NO:"Nord";US:"North""#
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = r#"
            [app]
            name = "Acme"
            prog_id_prefix = "Acme"
            [[lists]]
            key = "l"
            name = "Acme list"
            items = [{ no = "x;y" }]
            [[user_defined_fields]]
            prog_id = "Other.Field"
            entity = "Planet"
            type = "List"
            label = ""
            list = "missing"
            [[web_panels]]
            prog_id = "Acme.Panel"
            name = "Panel"
            visible_in = "Nowhere"
            path = "https://evil.example/?s=<usec>"
            [[webhooks]]
            name = "hook"
            events = ["contact.exploded"]
            path = "webhooks"
        "#;
        let err = Manifest::parse(bad).unwrap_err();
        let text = err.to_string();
        for expected in [
            "two capital letters",
            "without '\"' or ';'",
            "must start with \"Acme.\"",
            "entity \"Planet\"",
            "the label must be",
            "list \"missing\" is not a list",
            "visible_in \"Nowhere\"",
            "must carry <uctx>",
            "never put <usec>",
            "must name the app",
            "must contain the app name",
            "contact.exploded",
            "must start with '/'",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(err.0.len() >= 13);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let err =
            Manifest::parse("[app]\nname = \"A\"\nprog_id_prefix = \"A\"\ncolour = \"red\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn artifacts_have_stable_keys() {
        let m = Manifest::demo();
        let keys: Vec<_> = m.artifacts().iter().map(Artifact::key).collect();
        assert!(
            keys.contains(&"user_defined_field:Contact:DemoPartnerApp.CustomerNumber".to_owned())
        );
        assert!(keys.contains(&"preference:DemoPartnerApp/Enabled".to_owned()));
        let unique: HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }
}
