//! Repair and upgrade by reconciliation, against the simulator's own state: a tenant restored from
//! a backup (in both directions), and a release whose manifest adds, changes and drops items.
//! What the tenant holds is read from the simulator, never from the app's own records.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use domain::manifest::Manifest;
use domain::provisioning::Run;
use domain::tenant::Goal;
use integration_tests::install_app::*;
use integration_tests::{ADMIN, TENANT};
use superoffice_simulator::Lifecycle;

async fn installed(app: &App) {
    let session = app.sign_in_to_install(ADMIN).await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    assert_eq!(inventory(app), expected_inventory(user_groups(app)));
}

async fn wait_until_repaired(app: &App) {
    for _ in 0..600 {
        if app
            .tenant_record()
            .await
            .is_some_and(|t| t.reconciling.is_none())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the repair never finished: {:?}", app.tenant_record().await);
}

/// The demo manifest as release 2: a new field, the contact panel on the home page, the preference
/// dropped.
fn v2() -> Manifest {
    let mut m = Manifest::demo();
    m.app.version = Some("2".into());
    m.web_panels[0].path = "/panels/home?ctx=<uctx>&user=<usid>".into();
    m.preferences.clear();
    let mut segment = m.user_defined_fields[0].clone();
    segment.prog_id = "DemoPartnerApp.Segment".into();
    segment.field_type = "ShortText".into();
    segment.label = "Segment".into();
    segment.short_label = String::new();
    segment.text_length = Some(40);
    m.user_defined_fields.push(segment);
    m
}

/// What release 2 must leave in the tenant.
fn expected_v2(app: &App) -> Vec<String> {
    let mut out: Vec<String> = expected_inventory(user_groups(app))
        .into_iter()
        .filter(|l| !l.starts_with("preference "))
        .collect();
    out.push("field Contact:DemoPartnerApp.Segment ShortText".into());
    out.sort();
    out
}

/// The contact panel's URL as the simulator holds it.
fn contact_panel_url(app: &App) -> String {
    app.sim()
        .webapi_snapshot(TENANT)
        .unwrap()
        .web_panels
        .iter()
        .find(|p| p.panel["ProgId"] == "DemoPartnerApp.ContactPanel")
        .map(|p| p.panel["Url"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(600)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_restored_to_before_the_install_gets_the_apps_items_back() {
    let app = App::start().await;
    let before = app.sim().snapshot_tenant(TENANT).unwrap();
    installed(&app).await;
    let ids_before: Vec<String> = app
        .sim()
        .webapi_snapshot(TENANT)
        .unwrap()
        .web_panels
        .iter()
        .map(|p| p.panel["WebPanelId"].to_string())
        .collect();

    // SuperOffice restores the tenant from a backup taken before the app was installed and tells
    // the app (the simulator pushes to the local runner's /state-change).
    let delivery = app
        .sim()
        .tenant_lifecycle(TENANT, &Lifecycle::BackupRestored { snapshot: before })
        .await
        .unwrap();
    assert!(delivery.accepted(), "{}", delivery.describe());
    assert!(
        inventory(&app).is_empty(),
        "the restore took everything away"
    );
    wait_until_repaired(&app).await;
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    let t = app.tenant_record().await.unwrap();
    assert_eq!(t.status, domain::tenant::InstallStatus::Installed);
    assert!(t.manifest.is_some());
    // New items, not the old ids: the ledger follows what is there now.
    let ids_after: Vec<String> = app
        .sim()
        .webapi_snapshot(TENANT)
        .unwrap()
        .web_panels
        .iter()
        .map(|p| p.panel["WebPanelId"].to_string())
        .collect();
    assert_ne!(ids_before, ids_after);

    // A restore to a state that already holds everything repairs with reads only.
    let whole = app.sim().snapshot_tenant(TENANT).unwrap();
    app.sim().clear_requests();
    app.sim()
        .tenant_lifecycle(TENANT, &Lifecycle::BackupRestored { snapshot: whole })
        .await
        .unwrap();
    wait_until_repaired(&app).await;
    let writes: Vec<String> = app
        .sim()
        .requests()
        .iter()
        .filter(|r| r.route == superoffice_simulator::Route::WebApi)
        .filter(|r| r.method != "GET" && !r.path.contains("GetWebPanelByProgId"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        writes.is_empty(),
        "a repair with nothing to mend changes nothing: {writes:?}"
    );
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_follows_the_new_release_and_a_restore_behind_it_is_mended_both_ways() {
    let app = App::start().await;
    installed(&app).await;
    let access = app
        .tenant_access(Arc::new(
            superoffice::transport::ReqwestTransport::new().unwrap(),
        ))
        .await;
    let mut engine = app.engine(access.webapi.clone());
    let v1_state = app.sim().snapshot_tenant(TENANT).unwrap();

    // Release 2: one field more, the panel on another page, the preference dropped.
    engine.manifest = Arc::new(v2());
    let run = engine
        .reconcile_installed(&tenant(), Goal::Upgrade, deadline())
        .await
        .unwrap();
    assert_eq!(run, Run::Done);
    assert_eq!(inventory(&app), expected_v2(&app));
    assert!(contact_panel_url(&app).contains("/panels/home?ctx=<uctx>"));
    let t = app.tenant_record().await.unwrap();
    assert_eq!(t.manifest.as_ref().unwrap().version, "2");
    // The dropped preference is remembered as removed, not forgotten.
    let ledger = domain::ledger::Ledger::new(app.app.items.clone())
        .entries(&tenant(), 0)
        .await
        .unwrap();
    let pref = ledger
        .iter()
        .find(|e| e.key == "preference:DemoPartnerApp/Enabled")
        .expect("the preference's record");
    assert_eq!(pref.state, domain::ledger::EntryState::Removed);

    // Upgrading again changes nothing.
    app.sim().clear_requests();
    engine
        .reconcile_installed(&tenant(), Goal::Upgrade, deadline())
        .await
        .unwrap();
    assert!(
        app.sim()
            .requests()
            .iter()
            .all(|r| r.route != superoffice_simulator::Route::WebApi),
        "an up-to-date tenant costs no WebAPI call"
    );

    // SuperOffice restores the tenant to before the upgrade: the preference is back, the new
    // field gone, the panel on its old page. The repair mends each, as the ledger says.
    app.sim().restore_tenant(TENANT, v1_state).unwrap();
    assert!(inventory(&app).iter().any(|l| l.starts_with("preference ")));
    let run = engine
        .reconcile_installed(&tenant(), Goal::Repair, deadline())
        .await
        .unwrap();
    assert_eq!(run, Run::Done);
    assert_eq!(inventory(&app), expected_v2(&app));
    assert!(contact_panel_url(&app).contains("/panels/home?ctx=<uctx>"));
    app.app.stop().await;
}
