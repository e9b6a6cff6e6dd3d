//! Lifecycle changes: what each does to the tenant (state API, WebAPI, consents, host, CRM
//! version), the variant without a push, and the same over the `/__sim/` scripting API.

use serde_json::{Value, json};
use superoffice_simulator::{
    CrmVersion, Lifecycle, LifecycleError, NETSERVER_LABEL, SimulatorHandle, SnapshotId,
    StateChange, TenantStatus, WRONG_SUBDOMAIN_TEXT,
};

use crate::common::*;
use crate::lifecycle_support::*;
use crate::webapi_support::*;

async fn state_api(sim: &SimulatorHandle, ctx: &str) -> Value {
    client()
        .get(url(sim, &format!("/api/state/{ctx}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The same credentials on the tenant's current host.
fn api_on_current_host(sim: &SimulatorHandle, api: &Api) -> Api {
    Api {
        http: client(),
        root: format!("{}v1/", sim.webapi_url("Cust12345").unwrap()),
        authorization: api.authorization.clone(),
        app_token: api.app_token.clone(),
    }
}

#[tokio::test]
async fn suspend_and_resume_switch_the_state_and_the_webapi() {
    let sim = demo().await;
    let rx = registered_receiver(&sim).await;
    let api = system_api(&sim, "Cust12345").await;
    assert_eq!(api.get("User/currentPrincipal").await.0, 200);

    let d = sim
        .tenant_lifecycle("Cust12345", &Lifecycle::Suspend)
        .await
        .unwrap();
    assert_eq!(d.change, StateChange::Suspend);
    assert_eq!(d.status, Some(200));
    assert_eq!(last_push(&rx)["ChangeType"], 2);
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Suspended));
    let s = state_api(&sim, "Cust12345").await;
    assert_eq!(
        (s["State"].as_str(), s["IsRunning"].as_bool()),
        (Some("Suspended"), Some(false))
    );
    let (status, body) = api.get("User/currentPrincipal").await;
    assert_eq!(status, 503, "{body}");

    sim.tenant_lifecycle("Cust12345", &Lifecycle::Resume)
        .await
        .unwrap();
    assert_eq!(last_push(&rx)["ChangeType"], 3);
    assert_eq!(state_api(&sim, "Cust12345").await["State"], "Running");
    assert_eq!(api.get("User/currentPrincipal").await.0, 200);
    // The other tenant was not touched.
    assert_eq!(sim.tenant_state("Cust67890"), Some(TenantStatus::Running));
    assert_eq!(rx.hits().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_upgrade_changes_the_crm_version_everywhere_it_shows() {
    let sim = demo().await;
    let rx = registered_receiver(&sim).await;
    assert_eq!(
        sim.crm_version(),
        CrmVersion::new(NETSERVER_LABEL, "11.10.721.0")
    );
    let to = CrmVersion::new("Release_11.11_2026.06.01-01", "11.11.100.0");
    sim.tenant_lifecycle(
        "Cust12345",
        &Lifecycle::Upgrade {
            to: Some(to.clone()),
        },
    )
    .await
    .unwrap();
    let push = last_push(&rx);
    assert_eq!(push["ChangeType"], 0);
    assert_eq!(push["VersionName"], "Release_11.11_2026.06.01-01");
    assert_eq!(push["FileVersion"], "11.11.100.0");
    assert_eq!(sim.crm_version(), to);
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    let s = state_api(&sim, "Cust12345").await;
    assert_eq!(s["Version"], "Release_11.11_2026.06.01-01");
    let info: Value = client()
        .get(format!("{}/sod2/Cust12345/api", sim.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["NetServerLabel"], "Release_11.11_2026.06.01-01");
    assert_eq!(info["NetServerVersion"], "11.11.100.0");

    // Without a version: the next build.
    sim.tenant_lifecycle("Cust12345", &Lifecycle::Upgrade { to: None })
        .await
        .unwrap();
    assert_eq!(last_push(&rx)["VersionName"], "Release_11.11_2026.06.01-02");
    assert_eq!(last_push(&rx)["FileVersion"], "11.11.100.1");

    // A version that is not one: nothing sent, nothing changed.
    let err = sim
        .tenant_lifecycle(
            "Cust12345",
            &Lifecycle::Upgrade {
                to: Some(CrmVersion::new("", "1")),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::InvalidVersion(_)), "{err}");
    assert_eq!(rx.hits().len(), 2);
    assert_eq!(
        sim.crm_version().version_name,
        "Release_11.11_2026.06.01-02"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_move_sends_the_new_host_and_the_old_one_answers_421() {
    let sim = demo().await;
    let rx = registered_receiver(&sim).await;
    let api = system_api(&sim, "Cust12345").await;
    sim.tenant_lifecycle(
        "Cust12345",
        &Lifecycle::Move {
            shard: "sod9".into(),
        },
    )
    .await
    .unwrap();
    let push = last_push(&rx);
    assert_eq!(push["ChangeType"], 5);
    // The host the shard stands for; the state API says where the simulator serves it.
    assert_eq!(push["PublicEndpoint"], "sod9.superoffice.com");
    assert_eq!(
        sim.webapi_url("Cust12345").unwrap(),
        format!("{}/sod9/Cust12345/api/", sim.issuer())
    );
    let (status, body) = api.get("User/currentPrincipal").await;
    assert_eq!((status, body), (421, json!(WRONG_SUBDOMAIN_TEXT)));
    let moved = api_on_current_host(&sim, &api);
    assert_eq!(moved.get("User/currentPrincipal").await.0, 200);
    assert_eq!(
        state_api(&sim, "Cust12345").await["Endpoint"],
        format!("{}/sod9/Cust12345", sim.issuer()).as_str()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_delete_ends_the_tenant_and_every_approval() {
    let sim = demo().await;
    let rx = registered_receiver(&sim).await;
    let api = system_api(&sim, "Cust12345").await;
    let system_token = sim.system_token("Cust12345", CLIENT_ID).unwrap();
    assert!(sim.has_consent("Cust12345", CLIENT_ID));
    sim.tenant_lifecycle("Cust12345", &Lifecycle::Delete)
        .await
        .unwrap();
    assert_eq!(last_push(&rx)["ChangeType"], 4);
    assert_eq!(state_api(&sim, "Cust12345").await["State"], "Deleted");
    assert_eq!(api.get("User/currentPrincipal").await.0, 503);
    assert!(!sim.has_consent("Cust12345", CLIENT_ID));
    assert_ne!(
        sim.system_token("Cust12345", CLIENT_ID).unwrap(),
        system_token
    );
    // Were the tenant to run again, the old ticket would be dead.
    assert!(sim.set_tenant_state("Cust12345", TenantStatus::Running, None));
    assert_eq!(api.get("User/currentPrincipal").await.0, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn changes_without_a_push_need_no_url() {
    let sim = demo().await;
    sim.apply_tenant_lifecycle("Cust12345", &Lifecycle::Suspend)
        .unwrap();
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Suspended));
    sim.apply_tenant_lifecycle(
        "Cust12345",
        &Lifecycle::Upgrade {
            to: Some(CrmVersion::new("R-1", "1.0")),
        },
    )
    .unwrap();
    assert_eq!(sim.crm_version(), CrmVersion::new("R-1", "1.0"));
    assert_eq!(
        sim.apply_tenant_lifecycle(
            "Cust12345",
            &Lifecycle::BackupRestored {
                snapshot: SnapshotId::new(7)
            }
        ),
        Err(LifecycleError::UnknownSnapshot(SnapshotId::new(7)))
    );
    assert_eq!(
        sim.apply_tenant_lifecycle("Nobody", &Lifecycle::Resume),
        Err(LifecycleError::UnknownTenant("Nobody".into()))
    );
    // The push can follow later, about the tenant as it is then.
    let rx = registered_receiver(&sim).await;
    sim.push_state_change("Cust12345", StateChange::Suspend)
        .await
        .unwrap();
    assert_eq!(last_push(&rx)["VersionName"], "R-1");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_scripting_api_drives_lifecycles() {
    let sim = demo().await;
    let path = |p: &str| format!("tenants/Cust12345/{p}");

    // No URL yet: 409, and nothing changed.
    let (status, body) = admin_post(&sim, &path("lifecycle/suspend"), &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("state-change URL"),
        "{body}"
    );
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));

    let rx = Receiver::start(200).await;
    rx.set_answer("thanks");
    let (status, _) = admin_post(
        &sim,
        &format!("apps/{CLIENT_ID}/state-change-url"),
        &json!({"url": rx.url}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, info) = admin_get(&sim, "info").await;
    assert_eq!(info["apps"][0]["StateChangeUrl"], rx.url.as_str());
    assert_eq!(info["crm_version"]["version_name"], NETSERVER_LABEL);
    let (status, body) = admin_post(
        &sim,
        &format!("apps/{CLIENT_ID}/state-change-url"),
        &json!({"url": "http://example.com/x"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // An empty body is fine.
    let resp = client()
        .post(url(&sim, "/__sim/tenants/Cust12345/lifecycle/suspend"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["change"], "Suspend");
    assert_eq!(body["change_type"], 2);
    assert_eq!(body["context_id"], "Cust12345");
    let d = &body["delivery"];
    assert_eq!(d["status"], 200);
    assert_eq!(d["response_body"], "thanks");
    assert_eq!(d["url"], rx.url.as_str());
    assert_eq!(d["client_id"], CLIENT_ID);
    assert_eq!(d["error"], Value::Null);
    assert_eq!(
        d["request_body"].as_str().unwrap().as_bytes(),
        &rx.hits()[0].body[..]
    );
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Suspended));

    // Resume without a push.
    let (status, body) = admin_post(&sim, &path("lifecycle/resume"), &json!({"push": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["delivery"], Value::Null);
    assert_eq!(rx.hits().len(), 1);
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));

    let (status, body) = admin_post(&sim, &path("lifecycle/move"), &json!({"shard": "sod5"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_push(&rx)["PublicEndpoint"], "sod5.superoffice.com");
    let (status, _) = admin_post(
        &sim,
        &path("lifecycle/upgrade"),
        &json!({"version_name": "Release_12.0_2027.01.01-01", "file_version": "12.0.1.0"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, v) = admin_get(&sim, "crm-version").await;
    assert_eq!(
        v,
        json!({"version_name": "Release_12.0_2027.01.01-01", "file_version": "12.0.1.0"})
    );
    let (status, _) = admin_post(
        &sim,
        "crm-version",
        &json!({"version_name": "A-1", "file_version": "1.0"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sim.crm_version(), CrmVersion::new("A-1", "1.0"));

    // Snapshot and restore.
    let (status, snap) = admin_post(&sim, &path("snapshots"), &json!({"label": "clean"})).await;
    assert_eq!(status, 200);
    let id = snap["snapshot"].as_u64().unwrap();
    let (_, list) = admin_get(&sim, &path("snapshots")).await;
    assert_eq!(list[0]["snapshot"], id);
    assert_eq!(list[0]["label"], "clean");
    assert_eq!(list[0]["context_id"], "Cust12345");
    assert_eq!(list[0]["contents"]["lists"], 5);
    assert!(list[0]["taken_at"].as_str().unwrap().ends_with('Z'));
    let (status, body) =
        admin_post(&sim, &path("lifecycle/restore"), &json!({"snapshot": id})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["change"], "BackupRestored");
    assert_eq!(last_push(&rx)["ChangeType"], 1);

    // Push options: a foreign key, no aud; a push changes nothing.
    let (status, body) = admin_post(
        &sim,
        &path("push/delete"),
        &json!({"token": {"omit_aud": true, "foreign_key": true, "jti": "j-1"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["delivery"]["token"].as_str().unwrap();
    let claims = jwt_claims(token);
    assert!(claims.get("aud").is_none());
    assert_eq!(claims["jti"], "j-1");
    assert_ne!(jwt_header(token)["kid"], sim.signing_kid().as_str());
    assert_eq!(last_push(&rx)["ChangeType"], 4);
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    let (status, _) = admin_post(
        &sim,
        &path("push/2"),
        &json!({"raw_body": "nope", "token": {"iat": 0, "exp": 1}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&rx.hits().last().unwrap().body[..], b"nope");
    let (status, body) = admin_post(
        &sim,
        &path("push/suspend"),
        &json!({"token": {"iat": 1000, "exp": 2000, "issuer": "https://sod.superoffice.com"}, "omit_public_endpoint": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let push = last_push(&rx);
    assert!(push.get("PublicEndpoint").is_none());
    let claims = jwt_claims(push["Token"].as_str().unwrap());
    assert_eq!(
        (claims["iat"].as_i64(), claims["exp"].as_i64()),
        (Some(1000), Some(2000))
    );
    assert_eq!(claims["iss"], "https://sod.superoffice.com");

    // Mistakes.
    for (p, body, want) in [
        ("lifecycle/frobnicate", json!({}), 404),
        ("lifecycle/upgrade", json!({"version_name": "x"}), 400),
        ("lifecycle/resume", json!({"shard": "sod1"}), 400),
        ("lifecycle/restore", json!({}), 400),
        ("lifecycle/restore", json!({"snapshot": 999}), 404),
        ("lifecycle/move", json!({"shard": "__sim"}), 400),
        (
            "lifecycle/suspend",
            json!({"push": false, "raw_body": "x"}),
            400,
        ),
        ("lifecycle/suspend", json!({"surprise": 1}), 400),
        ("push/suspend", json!({"shard": "sod1"}), 400),
        ("push/suspend", json!({"token": {"alg": 5}}), 400),
    ] {
        let (status, answer) = admin_post(&sim, &path(p), &body).await;
        assert_eq!(status, want, "{p} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let (status, _) = admin_post(&sim, "tenants/Cust99999/lifecycle/suspend", &json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = admin_get(&sim, "tenants/Cust99999/snapshots").await;
    assert_eq!(status, 404);
    let resp = client()
        .delete(url(
            &sim,
            &format!("/__sim/tenants/Cust12345/snapshots/{id}"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client()
        .delete(url(
            &sim,
            &format!("/__sim/tenants/Cust12345/snapshots/{id}"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    sim.shutdown().await;
}
