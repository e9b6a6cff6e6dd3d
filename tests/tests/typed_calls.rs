//! The typed SuperOffice calls (`superoffice::api`) against the simulator over HTTP: for each kind
//! of artifact a find, a create and a delete, checked through the simulator's own state; a second
//! delete finds it already gone. Every call made is checked against the vendor's Swagger
//! definitions vendored in `shared/simulator/vendor/` (method and path template).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use integration_tests::*;
use superoffice::api::webhooks::WebhookSpec;
use superoffice::api::webpanels::PanelSpec;
use superoffice::api::{Removed, Tenant, lists, preferences, udef, webhooks, webpanels};
use superoffice::usage::UsageCounters;
use superoffice::webapi::{ApiRequest, ApiResponse, TenantApi, TenantAuth, WebApi, WebApiError};
use superoffice::{Secret, TenantId};
use superoffice_simulator::SimulatorHandle;

/// The real client, recording (method, path) of every call.
struct Recording {
    inner: WebApi,
    calls: Mutex<Vec<(String, String)>>,
}

impl TenantApi for Recording {
    async fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> Result<ApiResponse, WebApiError> {
        self.calls
            .lock()
            .unwrap()
            .push((request.method.to_string(), request.path.clone()));
        self.inner.call(auth, request, deadline).await
    }
}

async fn client(sim: &SimulatorHandle) -> (Recording, TenantAuth) {
    let so = platform(sim);
    let tickets = Arc::new(so.system_user(partner_key()).await.unwrap());
    sim.grant_consent(TENANT, CLIENT_ID);
    let auth = TenantAuth {
        tenant: TenantId::parse(TENANT).unwrap(),
        system_token: Secret::new(sim.system_token(TENANT, CLIENT_ID).unwrap()),
    };
    let api = Recording {
        inner: so.webapi(tickets, Arc::new(UsageCounters::default()), None),
        calls: Mutex::default(),
    };
    (api, auth)
}

fn snapshot(sim: &SimulatorHandle) -> superoffice_simulator::WebApiSnapshot {
    sim.webapi_snapshot(TENANT).expect("the tenant exists")
}

#[tokio::test]
async fn lists_are_found_by_name_created_with_items_and_deleted() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let (api, auth) = client(&sim).await;
    let t = Tenant::new(&api, &auth, None);
    assert_eq!(
        lists::find_by_name(&t, "Typed regions").await.unwrap(),
        None
    );
    let id = lists::create(&t, "Typed regions", "A test list")
        .await
        .unwrap();
    lists::add_item(&t, id, r#"NO:"Nord";US:"North""#, 1)
        .await
        .unwrap();
    let found = lists::find_by_name(&t, "Typed regions")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, id);
    let items = lists::items(&t, id).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].name, r#"NO:"Nord";US:"North""#);
    assert!(
        snapshot(&sim)
            .lists
            .iter()
            .any(|l| l.list["Name"] == "Typed regions"),
        "the simulator holds the list"
    );
    assert_eq!(lists::remove(&t, id).await.unwrap(), Removed::Deleted);
    assert!(
        !snapshot(&sim)
            .lists
            .iter()
            .any(|l| l.list["Name"] == "Typed regions")
    );
    assert_eq!(lists::remove(&t, id).await.unwrap(), Removed::AlreadyGone);
    assert_eq!(
        lists::find_by_name(&t, "Typed regions").await.unwrap(),
        None
    );
    check_against_swagger(&api);
    sim.shutdown().await;
}

#[tokio::test]
async fn fields_are_created_published_found_and_deleted_by_prog_id() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let (api, auth) = client(&sim).await;
    let t = Tenant::new(&api, &auth, None);
    let prog_id = "Typed.CustomerNumber";
    assert_eq!(
        udef::find_in_admin_layout(&t, "Contact", prog_id)
            .await
            .unwrap(),
        None
    );
    let spec = udef::FieldSpec {
        prog_id,
        label: "Customer number",
        short_label: "",
        tooltip: "Our number for the customer",
        mandatory: false,
        text_length: None,
        list: None,
    };
    udef::create(&t, "Contact", "Number", &spec).await.unwrap();
    let admin = udef::find_in_admin_layout(&t, "Contact", prog_id)
        .await
        .unwrap()
        .expect("in the admin layout");
    assert_eq!(admin["FieldLabel"], "Customer number");
    assert_eq!(
        admin["ShortLabel"], "Customer number",
        "the label is the short label"
    );
    assert!(!udef::is_publishing(&t, "Contact").await.unwrap());
    udef::publish(&t, "Contact").await.unwrap();
    udef::rebuild_deltas(&t).await.unwrap();
    let published = udef::published(&t, "Contact").await.unwrap();
    let field = published
        .iter()
        .find(|f| f.prog_id == prog_id)
        .expect("published");
    assert!(field.udef_field_id > 0);

    assert_eq!(
        udef::remove(&t, "Contact", prog_id).await.unwrap(),
        Removed::Deleted
    );
    udef::publish(&t, "Contact").await.unwrap();
    let snap = snapshot(&sim);
    let contact = snap.udefs.get("Contact").expect("Contact layout");
    assert!(
        !contact
            .published
            .iter()
            .chain(&contact.admin)
            .any(|f| f["ProgId"] == prog_id),
        "gone from both layouts after the publish"
    );
    assert_eq!(
        udef::remove(&t, "Contact", prog_id).await.unwrap(),
        Removed::AlreadyGone
    );
    check_against_swagger(&api);
    sim.shutdown().await;
}

#[tokio::test]
async fn web_panels_are_created_for_every_user_group_found_by_prog_id_and_deleted_for_good() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let (api, auth) = client(&sim).await;
    let t = Tenant::new(&api, &auth, None);
    let spec = PanelSpec {
        prog_id: "Typed.Panel",
        name: "Typed panel",
        tooltip: "A test panel",
        visible_in: "ContactCard",
        url: "https://app.example.com/panels/contact?ctx=<uctx>",
        window_name: "Typed_Panel",
    };
    assert!(webpanels::find_by_prog_id(&webpanels::all(&t).await.unwrap(), spec.prog_id).is_none());
    let created = webpanels::create(&t, &spec).await.unwrap();
    let groups = webpanels::user_groups(&t).await.unwrap();
    assert!(!groups.is_empty());
    webpanels::show_to_groups(&t, created.web_panel_id, &groups)
        .await
        .unwrap();
    let all = webpanels::all(&t).await.unwrap();
    assert_eq!(
        webpanels::find_by_prog_id(&all, spec.prog_id).map(|p| p.web_panel_id),
        Some(created.web_panel_id)
    );
    let mine = webpanels::app_panels(&t).await.unwrap();
    assert!(
        mine.iter().any(|p| p.web_panel_id == created.web_panel_id),
        "SuperOffice records the panel as this app's"
    );
    let snap = snapshot(&sim);
    let panel = snap
        .web_panels
        .iter()
        .find(|p| p.panel["ProgId"] == spec.prog_id)
        .expect("in the simulator");
    assert_eq!(
        panel.visible_for_user_groups.as_ref().map(Vec::len),
        Some(groups.len()),
        "visible to every user group"
    );
    webpanels::flush_caches(&t).await.unwrap();
    assert_eq!(
        webpanels::remove(&t, created.web_panel_id).await.unwrap(),
        Removed::Deleted
    );
    assert!(
        !snapshot(&sim)
            .web_panels
            .iter()
            .any(|p| p.panel["ProgId"] == spec.prog_id),
        "deleted for good, not only marked deleted"
    );
    assert_eq!(
        webpanels::remove(&t, created.web_panel_id).await.unwrap(),
        Removed::AlreadyGone
    );
    check_against_swagger(&api);
    sim.shutdown().await;
}

#[tokio::test]
async fn preferences_are_set_read_and_deleted_by_section_and_key() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    let (api, auth) = client(&sim).await;
    let t = Tenant::new(&api, &auth, None);
    assert_eq!(
        preferences::get(&t, "TypedApp", "Enabled").await.unwrap(),
        None
    );
    let spec = preferences::PreferenceSpec {
        section: "TypedApp",
        key: "Enabled",
        level: "SystemWide",
        value: "1",
    };
    preferences::set(&t, &spec).await.unwrap();
    assert_eq!(
        preferences::get(&t, "TypedApp", "Enabled").await.unwrap(),
        Some(("SystemWide".to_owned(), "1".to_owned()))
    );
    assert_eq!(
        preferences::remove(&t, "TypedApp", "Enabled")
            .await
            .unwrap(),
        Removed::Deleted
    );
    assert!(
        !snapshot(&sim)
            .preferences
            .iter()
            .any(|p| p["Specification"]["Section"] == "TypedApp")
    );
    assert_eq!(
        preferences::get(&t, "TypedApp", "Enabled").await.unwrap(),
        None
    );
    check_against_swagger(&api);
    sim.shutdown().await;
}

#[tokio::test]
async fn webhooks_are_found_by_name_created_with_their_secret_and_deleted_by_id() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    // The simulator tests the target at save time like SuperOffice: a receiver that answers 200.
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/hook", receiver.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "ok" });
        axum::serve(receiver, app).await.unwrap();
    });
    let (api, auth) = client(&sim).await;
    let t = Tenant::new(&api, &auth, None);
    assert_eq!(
        webhooks::find_by_name(&t, "Typed hook").await.unwrap(),
        None
    );
    let events = vec!["contact.created".to_owned()];
    let secret = Secret::new("typed-hook-secret");
    let id = webhooks::create(
        &t,
        &WebhookSpec {
            name: "Typed hook",
            events: &events,
            target_url: &target,
            secret: &secret,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        webhooks::find_by_name(&t, "Typed hook").await.unwrap(),
        Some(id)
    );
    assert!(
        snapshot(&sim)
            .webhooks
            .iter()
            .any(|h| h.webhook["Name"] == "Typed hook")
    );
    assert_eq!(webhooks::remove(&t, id).await.unwrap(), Removed::Deleted);
    assert_eq!(
        webhooks::find_by_name(&t, "Typed hook").await.unwrap(),
        None
    );
    assert_eq!(
        webhooks::remove(&t, id).await.unwrap(),
        Removed::AlreadyGone
    );
    check_against_swagger(&api);
    server.abort();
    sim.shutdown().await;
}

/// Every (method, path) the calls made is an operation of the vendor's Swagger definitions: a path
/// template's `{param}` segments match any segment.
fn check_against_swagger(api: &Recording) {
    let operations = swagger_operations();
    let calls: BTreeSet<(String, String)> = api.calls.lock().unwrap().iter().cloned().collect();
    assert!(!calls.is_empty());
    for (method, path) in calls {
        let path = format!("/api/v1/{path}");
        let found = operations.iter().any(|(m, template)| {
            *m == method.to_ascii_lowercase() && matches_template(template, &path)
        });
        assert!(
            found,
            "{method} {path} is not an operation of the vendored Swagger definitions"
        );
    }
}

fn swagger_operations() -> Vec<(String, String)> {
    // The workspace's own simulator crate (shared/simulator in this repository), which keeps the
    // vendor's Swagger files it was checked against.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace");
    let vendor = workspace.join("shared/simulator/vendor");
    let mut out = Vec::new();
    for file in [
        "swagger-rest-provisioning.json",
        "swagger-agents-provisioning.json",
    ] {
        let text = std::fs::read_to_string(vendor.join(file)).expect("the vendored Swagger");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                out.push((method.to_ascii_lowercase(), path.clone()));
            }
        }
    }
    out
}

fn matches_template(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}
