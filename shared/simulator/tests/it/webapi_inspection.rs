//! The inspection API (Rust and `/__sim`), call counting, tenant-limited path-filtered faults and
//! the "no request before Retry-After" check.

use std::time::Duration;

use serde_json::json;
use superoffice_simulator::{FaultAction, FaultRule, Route};

use crate::common::*;
use crate::webapi_support::*;

#[tokio::test]
async fn snapshot_over_http_and_in_rust_agree() {
    let sim = demo().await;
    let api = system_api(&sim, "Cust12345").await;
    api.put(
        "Contact/UdefLayout",
        &json!([{"FieldType": "Number", "FieldLabel": "Score", "ProgId": "Acme:Score"}]),
    )
    .await;
    api.post_empty("Contact/UdefLayout/Publish").await;
    api.post("List", &json!({"Name": "Acme list"})).await;
    api.post(
        "List/WebPanel/Items",
        &json!({"Name": "Acme", "ProgId": "acme", "VisibleIn": "ContactCard"}),
    )
    .await;
    api.put("Preference/Acme/Key", &json!({"RawValue": "v"}))
        .await;
    api.post_empty("Agents/Configuration/RebuildUdefDeltas")
        .await;

    let (status, over_http) = admin_get(&sim, "tenants/cust12345/webapi").await;
    assert_eq!(status, 200);
    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    assert_eq!(over_http["context_id"], "Cust12345");
    for k in [
        "udefs",
        "lists",
        "user_groups",
        "web_panels",
        "preferences",
        "webhooks",
        "rebuild_udef_deltas_calls",
        "flush_caches_by_name",
        "requests_before_retry_after",
        "calls",
    ] {
        assert!(over_http.get(k).is_some(), "{k}");
    }
    assert_eq!(
        over_http["udefs"]["Contact"]["published"][0]["ProgId"],
        "Acme:Score"
    );
    assert_eq!(over_http["web_panels"][0]["owner_client_id"], CLIENT_ID);
    assert_eq!(over_http["rebuild_udef_deltas_calls"], 1);
    assert_eq!(over_http["calls"]["POST /v1/Contact/UdefLayout/Publish"], 1);
    assert_eq!(over_http["calls"]["PUT /v1/Preference/Acme/Key"], 1);
    assert_eq!(
        serde_json::to_value(&snap).unwrap()["udefs"],
        over_http["udefs"]
    );
    assert!(snap.list("Acme list").is_some());
    assert_eq!(snap.preferences_for("Acme", "Key").len(), 1);

    let (_, calls) = admin_get(
        &sim,
        "tenants/Cust12345/webapi/calls?family=POST%20UdefLayout/Publish",
    )
    .await;
    assert_eq!(calls["calls"], 1);
    assert_eq!(sim.webapi_calls("Cust12345", "List"), 2);
    assert_eq!(sim.webapi_calls("Cust12345", "POST List/WebPanel/Items"), 1);
    let (status, body) = admin_get(&sim, "tenants/Cust99999/webapi").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown tenant"))
    );
    assert!(sim.webapi_snapshot("Cust99999").is_none());
    // Scripted publish over HTTP.
    let running = json!({"duration_ms": 60_000});
    let publish_running =
        |ctx: &str, entity: &str| format!("tenants/{ctx}/udef/{entity}/publish-running");
    let (status, _) = admin_post(&sim, &publish_running("Cust12345", "Contact"), &running).await;
    assert_eq!(status, 200);
    assert_eq!(api.get("Contact/UdefLayout/Publish").await.1, json!(true));
    let (status, body) = admin_post(&sim, &publish_running("Cust12345", "Ticket"), &running).await;
    assert_eq!(status, 404);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown entity ("),
        "{body}"
    );
    let (status, body) = admin_post(&sim, &publish_running("Cust99999", "Contact"), &running).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown tenant"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_need_credentials() {
    let sim = demo().await;
    let http = client();
    let root = format!("{}v1/", sim.webapi_url("Cust12345").unwrap());
    for path in [
        "Contact/UdefLayout",
        "List",
        "List/WebPanel/Items",
        "Preference/A/B",
        "Webhook",
    ] {
        let resp = http.get(format!("{root}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }
    // A ticket of another tenant does not work here.
    let other = system_api(&sim, "Cust67890").await;
    let resp = http
        .get(format!("{root}List"))
        .header("Authorization", &other.authorization)
        .header("SO-AppToken", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_tenant_limited_path_filtered_429_and_early_retries() {
    let sim = demo().await;
    let ours = system_api(&sim, "Cust12345").await;
    let other = system_api(&sim, "Cust67890").await;
    sim.faults().push(
        FaultRule::new(
            Route::WebApi,
            FaultAction::Status {
                status: 429,
                retry_after: Some("1".into()),
            },
        )
        .for_tenant("Cust12345")
        .path_contains("UdefLayout")
        .times(1),
    );
    let (status, body) = ours.get("Contact/UdefLayout").await;
    assert_eq!(status, 429, "{body}");
    // Other families and other tenants are not throttled...
    assert_eq!(ours.get("List").await.0, 200);
    assert_eq!(other.get("Contact/UdefLayout").await.0, 200);
    assert_eq!(sim.requests_before_retry_after("Cust12345"), 0);
    // ...and a retry before Retry-After is noticed even though the rule is used up.
    assert_eq!(ours.get("Person/UdefLayout").await.0, 200);
    assert_eq!(sim.requests_before_retry_after("Cust12345"), 1);
    assert_eq!(sim.requests_before_retry_after("Cust67890"), 0);
    let early: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.before_retry_after)
        .collect();
    assert_eq!(early.len(), 1);
    assert!(early[0].path.ends_with("/Person/UdefLayout"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ours.get("Contact/UdefLayout").await.0, 200);
    assert_eq!(sim.requests_before_retry_after("Cust12345"), 1);
    let snap = sim.webapi_snapshot("Cust12345").unwrap();
    assert_eq!(snap.requests_before_retry_after, 1);
    assert_eq!(snap.calls["GET /v1/Contact/UdefLayout"], 2);
    assert_eq!(sim.webapi_calls("Cust12345", "UdefLayout"), 3);

    // The same over HTTP, with a 503 that has no Retry-After (no window).
    sim.clear_requests();
    let rule = json!({"route": "WebApi", "action": "status", "status": 503, "tenant": "Cust67890", "path_contains": "webhook", "times": 1});
    assert_eq!(admin_post(&sim, "faults", &rule).await.0, 200);
    let (_, rules) = admin_get(&sim, "faults").await;
    assert_eq!(rules[0]["path_contains"], "webhook");
    assert_eq!(ours.get("Webhook").await.0, 200);
    assert_eq!(other.get("List").await.0, 200);
    assert_eq!(other.get("Webhook").await.0, 503);
    assert_eq!(other.get("Webhook").await.0, 200);
    assert_eq!(sim.requests_before_retry_after("Cust67890"), 0);
    let (_, log) = admin_get(&sim, "requests").await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|r| r["before_retry_after"] == false)
    );
    sim.shutdown().await;
}
