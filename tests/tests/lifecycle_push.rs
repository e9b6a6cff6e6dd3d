//! SuperOffice's tenant state-change push over HTTP against `soapp serve`'s parts: each change end
//! to end (what the app records, which work runs, what the tenant holds afterwards), and every way
//! a push can be forged, replayed, misdirected or malformed, each refused with nothing changed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::tenant::InstallStatus;
use integration_tests::install_app::*;
use integration_tests::{ADMIN, TENANT};
use reqwest::StatusCode;
use serde_json::{Value, json};
use superoffice_simulator::{FaultAction, FaultRule, Route};

const CTX_CLAIM: &str = "http://schemes.superoffice.net/identity/ctx";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims a push token carries in the simulator's shape (see the platform crate's
/// `jwt::state_change`: SuperOffice does not document them).
fn claims(app: &App) -> Value {
    let now = now();
    json!({
        "iss": app.sim().issuer(),
        "aud": soapp::local::DEMO_CLIENT_ID,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": format!("{}", rand_id()),
        CTX_CLAIM: TENANT,
    })
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::SeqCst) ^ (now() as u64).rotate_left(20)
}

fn sign(app: &App, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": app.sim().signing_kid(), "typ": "JWT"});
    app.sim().sign_jwt(&header, claims)
}

fn body(change: Value, ctx: &str, token: &str) -> Value {
    json!({
        "ChangeType": change,
        "ContextIdentifier": ctx,
        "VersionName": "Release_10.3.8_2024.08.30-01",
        "FileVersion": "10.3.8.2024",
        "Token": token,
        "PublicEndpoint": "sod3.superoffice.com",
    })
}

async fn post(app: &App, body: impl Into<reqwest::Body>) -> (StatusCode, String) {
    let r = app
        .http
        .post(app.url("/state-change"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A push of `change` for the demo tenant, properly signed.
async fn push(app: &App, change: i64) -> StatusCode {
    let token = sign(app, &claims(app));
    post(app, body(json!(change), TENANT, &token).to_string())
        .await
        .0
}

async fn installed(app: &App) -> String {
    let session = app.sign_in_to_install(ADMIN).await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    assert_eq!(inventory(app), expected_inventory(user_groups(app)));
    session
}

async fn wait_for(app: &App, what: &str, done: impl Fn(&domain::tenant::Tenant) -> bool) {
    for _ in 0..600 {
        if app.tenant_record().await.as_ref().is_some_and(&done) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:?}", app.tenant_record().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_replayed_misdirected_or_malformed_pushes_change_nothing() {
    let app = App::start().await;
    installed(&app).await;
    let before = app.tenant_record().await.unwrap();
    let stored = app.stored_for_tenant().await;

    let good = claims(&app);
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let other_key = superoffice::testing::TestSigner::generate(&app.sim().signing_kid());
    let mut cases: Vec<(&str, String, StatusCode)> = vec![
        (
            "another key under our kid",
            body(json!(4), TENANT, &other_key.sign(&good)).to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "alg none",
            body(
                json!(4),
                TENANT,
                &format!(
                    "{}.{}.",
                    superoffice::testing::b64url(br#"{"alg":"none","typ":"JWT"}"#),
                    superoffice::testing::b64url(good.to_string().as_bytes())
                ),
            )
            .to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another environment",
            body(
                json!(4),
                TENANT,
                &sign(&app, &with("iss", json!("https://online.superoffice.com"))),
            )
            .to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "expired",
            body(
                json!(4),
                TENANT,
                &sign(&app, &with("exp", json!(now() - 120))),
            )
            .to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another app",
            body(
                json!(4),
                TENANT,
                &sign(&app, &with("aud", json!("someone-else"))),
            )
            .to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a token for another tenant",
            body(
                json!(4),
                TENANT,
                &sign(&app, &with(CTX_CLAIM, json!("Cust67890"))),
            )
            .to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "the documentation's placeholder token",
            body(json!(4), TENANT, "eyJ234ASD...1234#").to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        ("not JSON", "ChangeType=4".into(), StatusCode::BAD_REQUEST),
        (
            "no token",
            json!({"ChangeType": 4, "ContextIdentifier": TENANT}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a field twice",
            format!(
                r#"{{"ChangeType":2,"ChangeType":4,"ContextIdentifier":"{TENANT}","Token":"{}"}}"#,
                sign(&app, &good)
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not a tenant id",
            body(json!(4), "Cust12345/../x", &sign(&app, &good)).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a change type that is not a number or a name",
            body(json!("4"), TENANT, &sign(&app, &good)).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a move without a host name",
            {
                let mut b = body(json!(5), TENANT, &sign(&app, &good));
                b["PublicEndpoint"] = json!("https://evil.example/x");
                b.to_string()
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            "oversized",
            {
                let mut b = body(json!(4), TENANT, &sign(&app, &good));
                b["VersionName"] = json!("x".repeat(20 * 1024));
                b.to_string()
            },
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    // The token bound to Cust12345 presented for another (known) tenant.
    cases.push((
        "the right token for another tenant's push",
        body(json!(4), "Cust67890", &sign(&app, &good)).to_string(),
        StatusCode::UNAUTHORIZED,
    ));
    for (what, body, expected) in cases {
        let (status, text) = post(&app, body).await;
        assert_eq!(status, expected, "{what}: {text}");
        assert!(!text.contains("eyJ"), "{what}: nothing of the token echoed");
    }
    let r = app.http.get(app.url("/state-change")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // A replay: the same signed push twice; the second changes nothing and says so.
    let token = sign(&app, &good);
    let suspend = body(json!(2), TENANT, &token).to_string();
    assert_eq!(post(&app, suspend.clone()).await.0, StatusCode::OK);
    assert!(app.tenant_record().await.unwrap().suspended);
    assert_eq!(push(&app, 3).await, StatusCode::OK);
    assert!(!app.tenant_record().await.unwrap().suspended);
    assert_eq!(post(&app, suspend).await.0, StatusCode::CONFLICT);
    assert!(
        !app.tenant_record().await.unwrap().suspended,
        "the replayed suspend did nothing"
    );

    // Nothing the refused pushes carried reached the record or the store.
    let after = app.tenant_record().await.unwrap();
    assert_eq!(after.status, before.status);
    assert!(!after.deleted);
    assert_eq!(after.sealed_system_token, before.sealed_system_token);
    assert_eq!(app.stored_for_tenant().await, stored);
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tenants_and_unknown_changes_are_accepted_and_store_nothing() {
    let app = App::start().await;
    // Nothing installed: the demo tenant is unknown to the app.
    assert_eq!(push(&app, 4).await, StatusCode::OK);
    assert!(app.tenant_record().await.is_none());
    assert!(app.stored_for_tenant().await.is_empty());
    installed(&app).await;
    let before = app.tenant_record().await.unwrap();
    assert_eq!(push(&app, 42).await, StatusCode::OK);
    let after = app.tenant_record().await.unwrap();
    assert_eq!(
        after.platform, before.platform,
        "an unknown change records nothing"
    );
    assert_eq!(after.status, InstallStatus::Installed);
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_puts_jobs_back_and_resume_runs_them() {
    let app = App::start().await;
    let session = installed(&app).await;
    assert_eq!(push(&app, 2).await, StatusCode::OK);
    // A restore while suspended: the repair is queued, and put back while the tenant is suspended.
    app.sim().clear_requests();
    assert_eq!(push(&app, 1).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = app.tenant_record().await.unwrap();
    assert!(t.suspended);
    assert!(t.reconciling.is_some(), "the repair waits: {t:?}");
    assert!(
        app.sim()
            .requests()
            .iter()
            .all(|r| r.tenant.as_deref() != Some(TENANT)),
        "nothing sent about the suspended tenant"
    );
    // The management page says so, in the customer's words.
    let (_, page) = app.page("/manage", &session).await;
    assert!(page.contains("id=\"suspended\""), "{page}");
    assert!(page.contains("data-goal=\"repair\""), "{page}");
    assert!(
        page.contains("restored your company's SuperOffice from a backup"),
        "{page}"
    );
    assert!(!page.contains("Cust12345"), "no internal ids on the page");
    assert_eq!(push(&app, 3).await, StatusCode::OK);
    wait_for(&app, "the repair ran after the resume", |t| {
        !t.suspended && t.reconciling.is_none()
    })
    .await;
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    let (_, page) = app.page("/manage", &session).await;
    assert!(!page.contains("id=\"suspended\""), "{page}");
    assert!(!page.contains("id=\"updating\""), "{page}");
    assert!(page.contains("id=\"app-version\""), "{page}");
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_move_push_the_next_call_goes_to_the_new_host_without_a_421() {
    let app = App::start().await;
    installed(&app).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(app.sim().move_tenant(TENANT, "sod9"));
    assert_eq!(push(&app, 5).await, StatusCode::OK);
    let t = app.tenant_record().await.unwrap();
    assert_eq!(
        t.platform.public_endpoint.as_deref(),
        Some("sod3.superoffice.com")
    );
    app.sim().clear_requests();
    // A restore makes the worker call the tenant (a repair reads every artifact).
    assert_eq!(push(&app, 1).await, StatusCode::OK);
    wait_for(&app, "the repair finished", |t| t.reconciling.is_none()).await;
    let requests = app.sim().requests();
    assert!(
        requests.iter().any(|r| r.route == Route::TenantState),
        "the tenant's state was read again"
    );
    let misdirected: Vec<_> = requests
        .iter()
        .filter(|r| r.status == Some(421))
        .map(|r| r.path.clone())
        .collect();
    assert!(misdirected.is_empty(), "421s: {misdirected:?}");
    assert!(
        requests
            .iter()
            .filter(|r| r.route == Route::WebApi)
            .all(|r| r.path.contains("/sod9/")),
        "every WebAPI call went to the new host"
    );
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_during_an_install_stops_it_and_leaves_nothing_kept() {
    let app = App::start().await;
    // Slow SuperOffice: the install is still running when the push comes.
    app.sim().faults().push(FaultRule::new(
        Route::WebApi,
        FaultAction::Latency(Duration::from_millis(150)),
    ));
    let session = app.sign_in_to_install(ADMIN).await;
    app.press_install(&session).await;
    wait_for(&app, "the install started", |t| {
        t.status == InstallStatus::Installing
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(push(&app, 4).await, StatusCode::OK);
    app.wait_until_forgotten().await;
    let calls_after = app.sim().requests().len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.sim().requests().len(),
        calls_after,
        "nothing more is sent about the deleted tenant"
    );
    assert!(app.stored_for_tenant().await.is_empty(), "nothing kept");
    let audit = domain::audit::Audit::new(app.app.items.clone())
        .records(&tenant(), 0)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "deleted_by_superoffice");
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_tenant_controls_drive_the_app_through_its_state_change_url() {
    let app = App::start().await;
    installed(&app).await;
    let sim = app.sim().base_url();
    for (action, suspended) in [("suspend", true), ("resume", false)] {
        let r = app
            .http
            .post(format!("{sim}__sim/tenants/{TENANT}/lifecycle/{action}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let answer: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{action}: {answer}");
        assert_eq!(
            answer["delivery"]["status"],
            json!(200),
            "{action}: {answer}"
        );
        assert_eq!(app.tenant_record().await.unwrap().suspended, suspended);
    }
    app.app.stop().await;
}
