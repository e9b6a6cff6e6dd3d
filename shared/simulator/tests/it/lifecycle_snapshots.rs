//! Snapshots and "backup restored": a restore gives back exactly the snapshot's WebAPI data, ids
//! created afterwards never reuse an old one, snapshots belong to their tenant, and they survive a
//! restart with a state file.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};
use superoffice_simulator::{
    CrmVersion, Lifecycle, LifecycleError, SimulatorHandle, SnapshotId, StateChange, WebApiSnapshot,
};

use crate::common::*;
use crate::lifecycle_support::*;
use crate::webapi_support::*;

/// The tenant's WebAPI data, without what a restore leaves counting (request-log counts, agent
/// calls, completed publishes).
fn data(sim: &SimulatorHandle, ctx: &str) -> WebApiSnapshot {
    let mut snap = sim.webapi_snapshot(ctx).expect("tenant");
    snap.calls.clear();
    snap.requests_before_retry_after = 0;
    snap.rebuild_udef_deltas_calls = 0;
    snap.flush_caches_by_name.clear();
    for layout in snap.udefs.values_mut() {
        layout.publishes = 0;
    }
    snap
}

/// Every id the tenant's data holds now: list, item, web panel, field, preference and webhook ids
/// (with what they are, since the kinds count separately).
fn ids(sim: &SimulatorHandle, ctx: &str) -> BTreeSet<(String, i64)> {
    let snap = sim.webapi_snapshot(ctx).unwrap();
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, v: &Value| {
        if let Some(n) = v.as_i64() {
            out.insert((kind.to_owned(), n));
        }
    };
    for l in &snap.lists {
        add("list", &l.list["Id"]);
        if l.list["ListType"] != "webpanel" && l.list["ListType"] != "usergroup" {
            for i in &l.items {
                add("item", &i["Id"]);
            }
        }
    }
    for p in &snap.web_panels {
        add("panel", &p.panel["WebPanelId"]);
    }
    for layout in snap.udefs.values() {
        for f in layout.admin.iter().chain(&layout.published) {
            add("field", &f["UDefFieldId"]);
        }
    }
    for p in &snap.preferences {
        add("preference", &p["UserPreferenceId"]);
    }
    for w in &snap.webhooks {
        add("webhook", &w.webhook["WebhookId"]);
    }
    out
}

/// What an install leaves: a list with an item, a published list field on Contact, a web panel
/// visible for one group, a preference and a webhook. Returns the list's and the panel's ids.
async fn install(api: &Api, hook_target: &str) -> (i64, i64) {
    let (status, list) = api
        .post("List", &json!({"Name": "Acme levels", "Tooltip": "Levels"}))
        .await;
    assert_eq!(status, 200, "{list}");
    let list_id = list["Id"].as_i64().unwrap();
    let (status, item) = api
        .post(&format!("List/{list_id}/Items"), &json!({"Name": "Gold"}))
        .await;
    assert_eq!(status, 200, "{item}");
    let (_, mut field) = api
        .post_empty("Contact/UdefLayout?udefFieldType=List")
        .await;
    field["FieldLabel"] = json!("Acme level");
    field["ProgId"] = json!("acme.level");
    field["ListTableId"] = json!(136);
    field["UDListDefinitionId"] = json!(list_id);
    let (status, saved) = api.put("Contact/UdefLayout", &json!([field])).await;
    assert_eq!(status, 200, "{saved}");
    let (status, _) = api.post_empty("Contact/UdefLayout/Publish").await;
    assert_eq!(status, 200);
    let (status, panel) = api
        .post(
            "List/WebPanel/Items",
            &json!({"Name": "Acme", "ProgId": "acme.panel", "VisibleIn": "ContactCard", "Url": "https://acme.example/panel"}),
        )
        .await;
    assert_eq!(status, 200, "{panel}");
    let panel_id = panel["WebPanelId"].as_i64().unwrap();
    let (status, _) = api
        .put(
            &format!("List/WebPanel/Items/{panel_id}/UserGroups"),
            &json!([3]),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .put(
            "Preference/AcmeSync/BaseUrl",
            &json!({"Level": "Database", "RawValue": "https://acme.example"}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, hook) = api
        .post(
            "Webhook",
            &json!({"Name": "Acme contacts", "Events": ["contact.changed"], "TargetUrl": hook_target, "Type": "webhook"}),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    (list_id, panel_id)
}

#[tokio::test]
async fn a_restore_gives_back_the_snapshot_and_new_ids_do_not_collide() {
    let sim = demo().await;
    let rx = registered_receiver(&sim).await;
    let hooks = Receiver::start(200).await;
    let api = system_api(&sim, "Cust12345").await;
    let (list_id, panel_id) = install(&api, &hooks.url).await;
    let other_before = data(&sim, "Cust67890");

    let id = sim
        .snapshot_tenant_labelled("Cust12345", Some("after install"))
        .unwrap();
    let at_snapshot = data(&sim, "Cust12345");
    let ids_at_snapshot = ids(&sim, "Cust12345");

    // The customer (or an upgrade) changes things: a new panel, the list deleted, the preference
    // changed, the panel shown to everyone, another field published, the webhook gone.
    let (_, later) = api
        .post(
            "List/WebPanel/Items",
            &json!({"Name": "Later", "ProgId": "later.panel", "VisibleIn": "ContactCard", "Url": "https://later.example/"}),
        )
        .await;
    assert_eq!(api.delete(&format!("List/{list_id}")).await.0, 204);
    let (status, _) = api
        .put(
            "Preference/AcmeSync/BaseUrl",
            &json!({"Level": "Database", "RawValue": "https://changed.example"}),
        )
        .await;
    assert_eq!(status, 204);
    api.put(
        &format!("List/WebPanel/Items/{panel_id}/UserGroups"),
        &json!([1, 2, 3]),
    )
    .await;
    let (_, mut field) = api
        .post_empty("Contact/UdefLayout?udefFieldType=ShortText")
        .await;
    field["FieldLabel"] = json!("Later field");
    field["ProgId"] = json!("later.field");
    assert_eq!(api.put("Contact/UdefLayout", &json!([field])).await.0, 200);
    assert_eq!(api.post_empty("Contact/UdefLayout/Publish").await.0, 200);
    let (_, hooks_now) = api.get("Webhook").await;
    let hook_id = hooks_now[0]["WebhookId"].as_i64().unwrap();
    assert_eq!(api.delete(&format!("Webhook/{hook_id}")).await.0, 204);
    assert_ne!(data(&sim, "Cust12345"), at_snapshot);
    let ids_before_restore = ids(&sim, "Cust12345");
    let handed_out: BTreeSet<_> = ids_at_snapshot
        .union(&ids_before_restore)
        .cloned()
        .collect();

    // Backup restored: the data of the snapshot, exactly, and a push about it.
    let d = sim
        .tenant_lifecycle("Cust12345", &Lifecycle::BackupRestored { snapshot: id })
        .await
        .unwrap();
    assert_eq!(d.change, StateChange::BackupRestored);
    assert_eq!(last_push(&rx)["ChangeType"], 1);
    assert_eq!(data(&sim, "Cust12345"), at_snapshot);
    assert_eq!(
        data(&sim, "Cust67890"),
        other_before,
        "other tenants untouched"
    );
    // The WebAPI serves it too.
    let (status, list) = api.get(&format!("List/{list_id}")).await;
    assert_eq!(status, 200, "{list}");
    let (_, pref) = api.get("Preference/AcmeSync/BaseUrl").await;
    assert_eq!(pref["RawValue"], "https://acme.example");
    let (_, groups) = api
        .get(&format!("List/WebPanel/Items/{panel_id}/UserGroups"))
        .await;
    assert_eq!(groups.as_array().unwrap().len(), 1, "{groups}");
    let later_id = later["WebPanelId"].as_i64().unwrap();
    assert_eq!(
        api.get(&format!("List/WebPanel/Items/{later_id}")).await.0,
        404
    );

    // New things get ids never handed out before: not the snapshot's, not those made after it.
    let (_, panel) = api
        .post(
            "List/WebPanel/Items",
            &json!({"Name": "New", "ProgId": "new.panel", "VisibleIn": "ContactCard", "Url": "https://new.example/"}),
        )
        .await;
    let new_panel = panel["WebPanelId"].as_i64().unwrap();
    assert!(new_panel > later_id, "{new_panel} after {later_id}");
    let (_, list) = api.post("List", &json!({"Name": "New list"})).await;
    let new_list = list["Id"].as_i64().unwrap();
    let (_, item) = api
        .post(&format!("List/{new_list}/Items"), &json!({"Name": "One"}))
        .await;
    api.put(
        "Preference/AcmeSync/Other",
        &json!({"Level": "Database", "RawValue": "x"}),
    )
    .await;
    let (_, mut field) = api
        .post_empty("Contact/UdefLayout?udefFieldType=Number")
        .await;
    field["FieldLabel"] = json!("New field");
    assert_eq!(api.put("Contact/UdefLayout", &json!([field])).await.0, 200);
    let (status, hook) = api
        .post(
            "Webhook",
            &json!({"Name": "New hook", "Events": ["contact.created"], "TargetUrl": hooks.url, "Type": "webhook"}),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    let new_ids: BTreeSet<_> = ids(&sim, "Cust12345")
        .difference(&ids_at_snapshot)
        .cloned()
        .collect();
    let kinds: BTreeSet<&str> = new_ids.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["field", "item", "list", "panel", "preference", "webhook"]
            .into_iter()
            .collect(),
        "{new_ids:?}"
    );
    for id in &new_ids {
        assert!(
            !handed_out.contains(id),
            "{id:?} was handed out before the restore"
        );
    }
    assert!(item["Id"].as_i64().is_some());

    // The snapshot is still there, and a restore without a push works too.
    assert_eq!(sim.tenant_snapshots("Cust12345").len(), 1);
    sim.restore_tenant("Cust12345", id).unwrap();
    assert_eq!(data(&sim, "Cust12345"), at_snapshot);
    assert_eq!(rx.hits().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn snapshots_belong_to_their_tenant() {
    let sim = demo().await;
    let a = sim.snapshot_tenant("Cust12345").unwrap();
    let b = sim.snapshot_tenant("Cust67890").unwrap();
    assert_eq!((a.get(), b.get()), (1, 2), "ids count up across tenants");
    assert_eq!(
        sim.restore_tenant("Cust12345", b),
        Err(LifecycleError::UnknownSnapshot(b))
    );
    assert_eq!(
        sim.snapshot_tenant("Cust99999"),
        Err(LifecycleError::UnknownTenant("Cust99999".into()))
    );
    let list = sim.tenant_snapshots("cust12345");
    assert_eq!(list.len(), 1);
    let info = &list[0];
    assert_eq!(info.snapshot, a);
    assert_eq!(info.context_id, "Cust12345");
    assert_eq!(info.label, None);
    assert_eq!((info.contents.lists, info.contents.web_panels), (5, 0));
    sim.forget_snapshot("Cust12345", a).unwrap();
    assert!(sim.tenant_snapshots("Cust12345").is_empty());
    assert_eq!(
        sim.forget_snapshot("Cust12345", a),
        Err(LifecycleError::UnknownSnapshot(a))
    );
    // Ids are not reused after a forget.
    assert_eq!(
        sim.snapshot_tenant("Cust12345").unwrap(),
        SnapshotId::new(3)
    );
    // Labels are one line and short.
    let id = sim
        .snapshot_tenant_labelled("Cust12345", Some(&format!(" a\nb{} ", "x".repeat(300))))
        .unwrap();
    let label = sim
        .tenant_snapshots("Cust12345")
        .into_iter()
        .find(|s| s.snapshot == id)
        .unwrap()
        .label
        .unwrap();
    assert!(
        label.starts_with("a b") && label.chars().count() <= 200,
        "{label}"
    );
    sim.shutdown().await;
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "superoffice-simulator-lifecycle-{}-{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn snapshots_and_the_crm_version_survive_a_restart_with_a_state_file() {
    let dir = TempDir::new();
    let path = dir.0.join("state.json");
    let config_with_file = || {
        let mut c = config();
        c.state_file = Some(path.clone());
        c
    };
    let sim = start(config_with_file()).await;
    let api = system_api(&sim, "Cust12345").await;
    let (status, _) = api.post("List", &json!({"Name": "Before"})).await;
    assert_eq!(status, 200);
    let id = sim
        .snapshot_tenant_labelled("Cust12345", Some("before"))
        .unwrap();
    let at_snapshot = data(&sim, "Cust12345");
    let forgotten = sim.snapshot_tenant("Cust12345").unwrap();
    sim.forget_snapshot("Cust12345", forgotten).unwrap();
    api.post("List", &json!({"Name": "After"})).await;
    let version = CrmVersion::new("Release_11.11_2026.06.01-01", "11.11.100.0");
    sim.set_crm_version(version.clone()).unwrap();
    let infos = sim.tenant_snapshots("Cust12345");
    sim.shutdown().await;

    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["version"], 1);
    assert_eq!(file["snapshots"][0]["snapshot"], id.get());
    assert_eq!(file["last_snapshot_id"], forgotten.get());

    let sim = start(config_with_file()).await;
    assert_eq!(sim.crm_version(), version);
    assert_eq!(sim.tenant_snapshots("Cust12345"), infos);
    sim.restore_tenant("Cust12345", id).unwrap();
    assert_eq!(data(&sim, "Cust12345"), at_snapshot);
    // The forgotten snapshot's id is not handed out again.
    assert_eq!(
        sim.snapshot_tenant("Cust12345").unwrap().get(),
        forgotten.get() + 1
    );
    sim.shutdown().await;

    // A state file written before snapshots existed still loads.
    let mut old = file.clone();
    let obj = old.as_object_mut().unwrap();
    obj.remove("snapshots");
    obj.remove("last_snapshot_id");
    obj.remove("crm_version");
    std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
    let sim = start(config_with_file()).await;
    assert!(sim.tenant_snapshots("Cust12345").is_empty());
    assert_eq!(sim.crm_version(), CrmVersion::default());
    sim.shutdown().await;
}
