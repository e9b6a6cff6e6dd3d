//! The state file (`SimulatorConfig::state_file`): a simulator restarted on the same file shows the
//! same tenants (WebAPI data, states, consents, system and refresh tokens), forgets what is
//! short-lived (tickets), writes changes without waiting for a shutdown, and refuses a file it
//! cannot load with an error that says what to do.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use superoffice_simulator::{
    SimulatorConfig, SimulatorError, SimulatorHandle, StateFileError, TenantStatus, WebApiSnapshot,
};

use crate::common::*;
use crate::webapi_support::*;

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "superoffice-simulator-state-{}-{n}-{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("simulator").join("state.json")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config_with(path: &Path) -> SimulatorConfig {
    let mut c = config();
    c.state_file = Some(path.to_owned());
    c
}

/// What a tenant's WebAPI holds, without the counts taken from the request log (a new process
/// has a new log).
fn holdings(sim: &SimulatorHandle, ctx: &str) -> WebApiSnapshot {
    let mut snap = sim.webapi_snapshot(ctx).expect("tenant");
    snap.calls.clear();
    snap.requests_before_retry_after = 0;
    snap
}

#[tokio::test]
async fn a_restarted_simulator_shows_the_same_tenants() {
    let dir = TempDir::new();
    let path = dir.file();
    let sim = start(config_with(&path)).await;
    let http = client();

    // An app installs itself the way the engine does: a list with an item, a list field on
    // Contact (published), a web panel visible for one group, a preference and a webhook.
    let api = system_api(&sim, "Cust12345").await;
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
    let (status, published) = api.post_empty("Contact/UdefLayout/Publish").await;
    assert_eq!(status, 200, "{published}");
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
    let rx = Receiver::start(200).await;
    let (status, hook) = api
        .post(
            "Webhook",
            &json!({"Name": "Acme contacts", "Events": ["contact.changed"], "TargetUrl": rx.url, "Secret": "s3cret-value", "Type": "webhook"}),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    // Tenant states, a move, and a refresh token from a user's sign-in.
    assert!(sim.set_tenant_state("Cust67890", TenantStatus::Suspended, None));
    assert!(sim.move_tenant("Cust12345", "sod9"));
    let tokens = tokens(&sim, &http, &Flow::default()).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    let before = holdings(&sim, "Cust12345");
    let other_before = holdings(&sim, "Cust67890");
    let system_token = sim.system_token("Cust12345", CLIENT_ID).unwrap();
    let old_ticket = api.authorization.clone();
    sim.shutdown().await;
    assert!(path.exists(), "the state file is written at shutdown");

    let sim = start(config_with(&path)).await;
    assert_eq!(holdings(&sim, "Cust12345"), before);
    assert_eq!(holdings(&sim, "Cust67890"), other_before);
    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    let level = snap.udef("Contact").unwrap().published_field("acme.level");
    assert_eq!(level.unwrap()["UDListDefinitionId"], list_id);
    let panel = snap.web_panel("acme.panel").unwrap();
    assert_eq!(panel.owner_client_id.as_deref(), Some(CLIENT_ID));
    assert_eq!(panel.visible_for_user_groups, Some(vec![3]));
    assert_eq!(snap.list("Acme levels").unwrap().items.len(), 1);
    assert_eq!(snap.preferences_for("AcmeSync", "BaseUrl").len(), 1);
    assert_eq!(snap.webhooks_named("Acme contacts").len(), 1);

    // Consent, system token, tenant states and shard are as they were.
    assert!(sim.has_consent("Cust12345", CLIENT_ID));
    assert!(!sim.has_consent("Cust67890", CLIENT_ID));
    assert_eq!(
        sim.system_token("Cust12345", CLIENT_ID).as_deref(),
        Some(system_token.as_str())
    );
    assert_eq!(sim.tenant_state("Cust67890"), Some(TenantStatus::Suspended));
    assert!(
        sim.webapi_url("Cust12345")
            .unwrap()
            .contains("/sod9/Cust12345/")
    );

    // A ticket is short-lived and not kept; the same system token gets a new one.
    let stale = Api {
        http: client(),
        root: format!("{}v1/", sim.webapi_url("Cust12345").unwrap()),
        authorization: old_ticket,
        app_token: Some(SECRET.to_owned()),
    };
    let (status, _) = stale.get("List").await;
    assert_eq!(status, 401);
    let api = system_api(&sim, "Cust12345").await;
    assert_eq!(
        sim.system_token("Cust12345", CLIENT_ID).as_deref(),
        Some(system_token.as_str())
    );
    // The id counters carry on: nothing new reuses an old id.
    let (status, next) = api.post("List", &json!({"Name": "Acme regions"})).await;
    assert_eq!(status, 200, "{next}");
    assert!(next["Id"].as_i64().unwrap() > list_id);
    let (status, again) = api.post("List", &json!({"Name": "Acme levels"})).await;
    assert_error(status, &again, 409);

    // The refresh token still works (it lasts until consent is revoked).
    let refreshed = refresh(&sim, &http, &refresh_token, SECRET).await;
    assert_eq!(refreshed.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn changes_reach_the_file_without_a_shutdown() {
    let dir = TempDir::new();
    let path = dir.file();
    let sim = start(config_with(&path)).await;
    assert!(!path.exists(), "nothing changed, nothing written");
    assert!(sim.grant_consent("Cust67890", CLIENT_ID));
    let deadline = Instant::now() + Duration::from_secs(10);
    let written = loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            break text;
        }
        assert!(Instant::now() < deadline, "the change was never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let doc: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(doc["format"], "superoffice-simulator-state");
    assert!(
        doc["consents"]
            .as_array()
            .unwrap()
            .contains(&json!({"context_id": "Cust67890", "client_id": CLIENT_ID}))
    );
    // Nothing short-lived is in it.
    for absent in [
        "codes",
        "tickets",
        "access_tokens",
        "sessions",
        "requests",
        "faults",
    ] {
        assert!(doc.get(absent).is_none(), "{absent}");
    }
    // A running simulator's file is whole at every moment: a second simulator could load it now.
    let copy = dir.0.join("copy.json");
    std::fs::copy(&path, &copy).unwrap();
    let second = start(config_with(&copy)).await;
    assert!(second.has_consent("Cust67890", CLIENT_ID));
    second.shutdown().await;
    // save_state writes at once.
    assert!(sim.revoke_consent("Cust67890", CLIENT_ID));
    sim.save_state().await.unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(doc["consents"], json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn records_the_configuration_no_longer_has_are_skipped() {
    let dir = TempDir::new();
    let path = dir.file();
    let sim = start(config_with(&path)).await;
    let api = system_api(&sim, "Cust67890").await;
    let (status, _) = api.post("List", &json!({"Name": "Eve's list"})).await;
    assert_eq!(status, 200);
    assert!(sim.grant_consent("Cust12345", CLIENT_ID));
    sim.shutdown().await;

    // The same file under a configuration without Cust67890: Cust12345 loads, the rest is skipped.
    let mut fewer = config_with(&path);
    fewer.tenants.retain(|t| t.context_id == "Cust12345");
    let sim = start(fewer).await;
    assert!(sim.has_consent("Cust12345", CLIENT_ID));
    assert!(sim.webapi_snapshot("Cust67890").is_none());
    sim.shutdown().await;
}

/// Starts a simulator on a state file holding `content`; the error it refuses to start with.
async fn refused(content: &[u8]) -> (PathBuf, StateFileError) {
    let dir = TempDir::new();
    let path = dir.file();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    let err =
        superoffice_simulator::Simulator::start(config_with(&path), "127.0.0.1:0".parse().unwrap())
            .await
            .expect_err("a state file it cannot load stops the start");
    // The file is left as it was, for a person to look at.
    assert_eq!(std::fs::read(&path).unwrap(), content);
    match err {
        SimulatorError::StateFile(e) => (path, e),
        other => panic!("a state-file error expected, got {other}"),
    }
}

#[tokio::test]
async fn a_corrupt_state_file_stops_the_start_with_a_clear_error() {
    let cases: [(&[u8], &str); 7] = [
        (b"{\"format\": \"superoffice-simulator-state\", \"vers", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"{\"tenants\": []}", "not a state file"),
        (b"[1, 2]", "not a state file"),
        (
            b"{\"format\": \"superoffice-simulator-state\", \"version\": 99}",
            "version 99 is not 1",
        ),
        (
            br#"{"format": "superoffice-simulator-state", "version": 1, "tenants": [], "consents": 7, "system_tokens": [], "refresh_tokens": []}"#,
            "expected a sequence",
        ),
        (
            br#"{"format": "superoffice-simulator-state", "version": 1, "tenants": [{"context_id": "Cust12345", "shard": "sod2", "state": "Running", "valid_until": null, "webapi": {}}], "consents": [], "system_tokens": [], "refresh_tokens": []}"#,
            "tenant Cust12345: missing field",
        ),
    ];
    for (content, says) in cases {
        let (path, err) = refused(content).await;
        assert!(matches!(err, StateFileError::Corrupt { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(says), "{message:?} should say {says:?}");
        assert!(message.contains("move it away"), "{message}");
    }
}

#[tokio::test]
async fn a_value_the_simulator_would_not_accept_is_refused_by_name() {
    // A real file, then one value edited by hand.
    let dir = TempDir::new();
    let path = dir.file();
    let sim = start(config_with(&path)).await;
    assert!(sim.grant_consent("Cust12345", CLIENT_ID));
    sim.shutdown().await;
    let good: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (pointer, value, says) in [
        (
            "/tenants/0/state",
            json!("Sleeping"),
            "tenant Cust12345: unknown tenant state \"Sleeping\"",
        ),
        (
            "/tenants/1/shard",
            json!("__sim"),
            "tenant Cust67890: shard \"__sim\"",
        ),
        (
            "/tenants/0/valid_until",
            json!("tomorrow"),
            "valid_until \"tomorrow\" is not RFC 3339",
        ),
        (
            "/tenants/1/context_id",
            json!("Cust12345"),
            "tenant Cust12345 appears twice",
        ),
    ] {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).expect(pointer) = value;
        let (_, err) = refused(&serde_json::to_vec(&bad).unwrap()).await;
        assert!(err.to_string().contains(says), "{err} should say {says}");
    }
}

#[tokio::test]
async fn a_state_file_that_cannot_be_read_is_reported_as_such() {
    let dir = TempDir::new();
    // A directory where the file should be.
    let path = dir.file();
    std::fs::create_dir_all(&path).unwrap();
    let err =
        superoffice_simulator::Simulator::start(config_with(&path), "127.0.0.1:0".parse().unwrap())
            .await
            .expect_err("an unreadable state file stops the start");
    let SimulatorError::StateFile(err @ StateFileError::Unreadable { .. }) = err else {
        panic!("Unreadable expected: {err}");
    };
    assert!(err.to_string().contains("cannot read"), "{err}");
}
