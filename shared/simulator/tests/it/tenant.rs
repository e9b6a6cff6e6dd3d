//! Tenant state API, moves (421), non-running tenants and the WebAPI placeholder.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use serde_json::json;
use superoffice_simulator::{CLAIM_PREFIX, Route, TenantStatus, WRONG_SUBDOMAIN_TEXT};

use crate::common::*;

async fn state(
    sim: &superoffice_simulator::SimulatorHandle,
    http: &reqwest::Client,
    ctx: &str,
) -> (u16, Value) {
    let resp = http
        .get(url(sim, &format!("/api/state/{ctx}")))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn parse_valid_until(s: &str) -> SystemTime {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    SystemTime::from(t)
}

#[tokio::test]
async fn state_reports_endpoint_api_and_valid_until() {
    let mut config = config();
    config.state_valid_for = Duration::from_secs(120);
    let sim = start(config).await;
    let http = client();
    let base = sim.issuer();
    let (status, s) = state(&sim, &http, "Cust12345").await;
    assert_eq!(status, 200);
    assert_eq!(s["ContextIdentifier"], "Cust12345");
    assert_eq!(s["Endpoint"], format!("{base}/sod2/Cust12345").as_str());
    assert_eq!(s["Api"], format!("{base}/sod2/Cust12345/api").as_str());
    assert_eq!(s["State"], "Running");
    assert_eq!(s["IsRunning"], true);
    assert_eq!(s["Version"], "Release_11.10_2026.02.24-02");
    let vu = parse_valid_until(s["ValidUntil"].as_str().unwrap());
    let ahead = vu.duration_since(SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_secs(110) && ahead <= Duration::from_secs(121),
        "{ahead:?}"
    );

    let (status, s) = state(&sim, &http, "Cust67890").await;
    assert_eq!(status, 200);
    assert_eq!(s["Endpoint"], format!("{base}/sod3/Cust67890").as_str());

    let (status, body) = state(&sim, &http, "Cust99999").await;
    assert_eq!(status, 404);
    assert_eq!(body["Error"], true);
    assert_eq!(body["ErrorType"], "NotFound");
    assert_eq!(sim.count(Route::TenantState), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn all_documented_states() {
    let sim = demo().await;
    let http = client();
    let fixed = SystemTime::UNIX_EPOCH + Duration::new(1_771_840_321, 934_296_500);
    // Name, documented number (7 and 9 are not used), IsRunning.
    let expected = [
        ("Unknown", 0, false),
        ("Provisioning", 1, false),
        ("Running", 2, true),
        ("Deleted", 3, false),
        ("Suspended", 4, false),
        ("OnlineMaintenance", 5, true),
        ("OfflineMaintenance", 6, false),
        ("ProvisioningFailed", 8, false),
        ("Deleting", 10, false),
        ("DeleteFailed", 11, false),
        ("MigrationPending", 12, false),
    ];
    assert_eq!(TenantStatus::ALL.len(), expected.len());
    assert_eq!(sim.tenant_state("Cust12345"), Some(TenantStatus::Running));
    for (st, (name, number, running)) in TenantStatus::ALL.into_iter().zip(expected) {
        assert!(sim.set_tenant_state("Cust12345", st, Some(fixed)));
        assert_eq!(sim.tenant_state("Cust12345"), Some(st));
        let (_, s) = state(&sim, &http, "Cust12345").await;
        assert_eq!(s["State"], name);
        assert_eq!(s["IsRunning"], running, "{name}");
        assert_eq!(s["ValidUntil"], "2026-02-23T09:52:01.9342965Z");
        assert_eq!(st.is_running(), running);
        assert_eq!(st.as_str(), name);
        assert_eq!(st.to_string(), name);
        assert_eq!(st.value(), number, "{name}");
        assert_eq!(name.parse::<TenantStatus>(), Ok(st));
        assert_eq!(name.to_ascii_lowercase().parse::<TenantStatus>(), Ok(st));
        assert_eq!(number.to_string().parse::<TenantStatus>(), Ok(st));
    }
    for unknown in ["7", "9", "13", "-1", "02", "", "Sleeping"] {
        assert!(unknown.parse::<TenantStatus>().is_err(), "{unknown:?}");
    }
    // The scripting API takes the numbers too.
    let (status, _) = admin_post(&sim, "tenants/Cust12345/state", &json!({"state": "8"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.tenant_state("Cust12345"),
        Some(TenantStatus::ProvisioningFailed)
    );
    assert_eq!(
        state(&sim, &http, "Cust12345").await.1["State"],
        "ProvisioningFailed"
    );
    let (status, body) = admin_post(&sim, "tenants/Cust12345/state", &json!({"state": "9"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unknown tenant state \"9\"");
    assert_eq!(
        sim.tenant_state("Cust12345"),
        Some(TenantStatus::ProvisioningFailed)
    );
    assert!(!sim.set_tenant_state("Cust99999", TenantStatus::Running, None));
    assert_eq!(sim.tenant_state("Cust99999"), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_moved_tenant_answers_421_on_the_old_shard() {
    let sim = demo().await;
    let http = client();
    let ticket = ticket(&sim, &http, "Cust12345").await;
    let base = sim.issuer();
    let call = |shard: &str| {
        http.get(format!(
            "{base}/{shard}/Cust12345/api/v1/User/currentPrincipal"
        ))
        .header("Authorization", format!("SOTicket {ticket}"))
        .header("SO-AppToken", SECRET)
        .send()
    };
    assert_eq!(call("sod2").await.unwrap().status(), 200);
    assert!(sim.move_tenant("Cust12345", "sod7"));
    let resp = call("sod2").await.unwrap();
    assert_eq!(resp.status(), 421);
    assert_eq!(resp.text().await.unwrap(), WRONG_SUBDOMAIN_TEXT);
    // 421 comes before authentication.
    let resp = http
        .get(format!(
            "{base}/sod2/Cust12345/api/v1/User/currentPrincipal"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 421);
    assert_eq!(call("sod7").await.unwrap().status(), 200);
    let (_, s) = state(&sim, &http, "Cust12345").await;
    assert_eq!(s["Endpoint"], format!("{base}/sod7/Cust12345").as_str());
    assert_eq!(s["Api"], format!("{base}/sod7/Cust12345/api").as_str());
    // New tokens point at the new shard.
    let tokens = tokens(&sim, &http, &Flow::default()).await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        claims[format!("{CLAIM_PREFIX}webapi_url")],
        format!("{base}/sod7/Cust12345/api/").as_str()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn webapi_placeholder_behaviour() {
    let sim = demo().await;
    let http = client();
    let base = sim.issuer();
    // Version info on the Api URL, no credentials needed.
    let info: Value = http
        .get(format!("{base}/sod2/Cust12345/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["ServicesCurrent"], "Services88");

    let ticket = ticket(&sim, &http, "Cust12345").await;
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .header("Authorization", format!("SOTicket {ticket}"))
            .header("SO-AppToken", SECRET)
            .send()
    };
    // Unknown resource: the documented error shape.
    let resp = get("/sod2/Cust12345/api/v1/Contact/1").await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["Error"], true);
    assert_eq!(body["ErrorType"], "NotFound");
    assert!(body["ErrorMessage"].is_string());
    assert!(body["ErrorSource"].is_string());
    // Unknown tenant.
    let resp = get("/sod2/Cust99999/api/v1/User/currentPrincipal")
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // Unsupported method.
    let resp = http
        .delete(format!(
            "{base}/sod2/Cust12345/api/v1/User/currentPrincipal"
        ))
        .header("Authorization", format!("SOTicket {ticket}"))
        .header("SO-AppToken", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    // Not running → 503; OnlineMaintenance keeps the API available.
    sim.set_tenant_state("Cust12345", TenantStatus::OfflineMaintenance, None);
    let resp = get("/sod2/Cust12345/api/v1/User/currentPrincipal")
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    sim.set_tenant_state("Cust12345", TenantStatus::OnlineMaintenance, None);
    let resp = get("/sod2/Cust12345/api/v1/User/currentPrincipal")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Anything outside the known endpoints.
    let resp = http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(sim.count(Route::Other), 1);
    assert_eq!(sim.count(Route::WebApi), 6);
    sim.shutdown().await;
}
