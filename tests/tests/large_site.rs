//! Large sites: provisioning whose cost does not grow with the customer's tenant.
//!
//! The same install runs in an empty tenant and in one seeded with a large customer site (thousands
//! of lists and fields, other apps' panels, webhooks and preferences): it must create the same
//! artifacts with the same number of WebAPI calls and about the same bytes, because every lookup is
//! targeted (a list by name, a field by ProgId, a panel by ProgId), never a read of a whole
//! collection. A re-run that finds everything in place publishes nothing. Counts, not times.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use domain::ledger::Ledger;
use domain::provisioning::{Run, TenantApi};
use domain::tenant::{InstallStatus, Tenants};
use domain::usage::DailyUsage;
use integration_tests::TENANT;
use integration_tests::install_app::*;
use superoffice::clock::SystemClock;
use superoffice::usage::TenantUsage;
use superoffice::webapi::{ApiRequest, ApiResponse, TenantAuth, WebApiError};
use superoffice_simulator::SiteSize;

const EMPTY: SiteSize = SiteSize {
    lists: 0,
    items_per_list: 0,
    fields_per_entity: 0,
    web_panels: 0,
    webhooks: 0,
    preferences: 0,
    user_groups: 0,
};

/// What the tenant's WebAPI cost so far, as the app's own usage accounting counted it.
async fn usage(app: &App) -> TenantUsage {
    let days = DailyUsage::new(app.app.items.clone(), Arc::new(SystemClock))
        .days(&tenant())
        .await
        .unwrap();
    days.into_iter()
        .fold(TenantUsage::default(), |mut sum, (_, u)| {
            sum += u;
            sum
        })
}

/// Requests that create or change something of ours: a list, its items, a field, a panel, a webhook,
/// a preference (by method and the path after `/api/v1/`).
fn creations(app: &App) -> usize {
    app.sim()
        .requests()
        .iter()
        .filter(|r| r.route == superoffice_simulator::Route::WebApi)
        .filter(|r| {
            let Some((_, rest)) = r.path.split_once("/api/v1/") else {
                return false;
            };
            let segments: Vec<&str> = rest.split('/').collect();
            matches!(
                (r.method.as_str(), segments.as_slice()),
                ("POST", ["List"])
                    | ("POST", ["List", _, "Items"])
                    | ("POST", ["Webhook"])
                    | ("PUT", [_, "UdefLayout"])
                    | ("PUT", ["Preference", _, _])
            )
        })
        .count()
}

fn publishes(app: &App) -> usize {
    app.sim().webapi_calls(TENANT, "POST UdefLayout/Publish")
}

/// An installed app in a tenant seeded with `size`, and what the install cost.
async fn installed(size: SiteSize) -> (App, TenantUsage) {
    let app = App::start().await;
    assert!(app.sim().seed_site(TENANT, &size));
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    let cost = usage(&app).await;
    (app, cost)
}

fn minus(a: TenantUsage, b: TenantUsage) -> TenantUsage {
    TenantUsage {
        calls: a.calls - b.calls,
        bytes_sent: a.bytes_sent - b.bytes_sent,
        bytes_received: a.bytes_received - b.bytes_received,
        throttles: a.throttles - b.throttles,
        failures: a.failures - b.failures,
    }
}

/// Forgets the install (no ledger, tenant back to approved) and installs again: a re-run without a
/// ledger, which must find every artifact in place.
async fn reinstall_without_ledger(app: &App) -> TenantUsage {
    let before = usage(app).await;
    let ledger = Ledger::new(app.app.items.clone());
    for entry in ledger.entries(&tenant(), 0).await.unwrap() {
        ledger.forget(&tenant(), &entry).await.unwrap();
    }
    Tenants::new(app.app.items.clone())
        .update(&tenant(), 0, |t| t.status = InstallStatus::Consented)
        .await
        .unwrap();
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    assert_eq!(inventory(app), expected_inventory(user_groups(app)));
    minus(usage(app).await, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_on_a_large_site_costs_what_it_costs_on_an_empty_one() {
    let (empty, empty_cost) = installed(EMPTY).await;
    let (large, large_cost) = installed(SiteSize::LARGE).await;
    assert_eq!(
        large_cost.calls, empty_cost.calls,
        "the same calls, whatever the customer's data"
    );
    let ratio = large_cost.bytes_received as f64 / empty_cost.bytes_received as f64;
    assert!(
        ratio <= 1.5,
        "response bytes {} on the large site vs {} on the empty one ({ratio:.2}x)",
        large_cost.bytes_received,
        empty_cost.bytes_received
    );
    assert_eq!(publishes(&large), publishes(&empty));

    // A re-run without a ledger finds everything by its identity: nothing created, nothing published.
    for app in [&empty, &large] {
        let publishes_before = publishes(app);
        let created_before = creations(app);
        assert!(created_before > 0);
        reinstall_without_ledger(app).await;
        assert_eq!(publishes(app), publishes_before, "no publish on a re-run");
        assert_eq!(creations(app), created_before, "nothing created twice");
    }
    let rerun_empty = reinstall_without_ledger(&empty).await;
    let rerun_large = reinstall_without_ledger(&large).await;
    assert_eq!(rerun_large.calls, rerun_empty.calls);
    let ratio = rerun_large.bytes_received as f64 / rerun_empty.bytes_received as f64;
    assert!(ratio <= 1.5, "re-run bytes {ratio:.2}x");
    empty.app.stop().await;
    large.app.stop().await;
}

/// The real client until it has made `allowed` calls; then SuperOffice "throttles" every call.
struct ThrottledAfter<A> {
    inner: Arc<A>,
    allowed: usize,
    made: std::sync::atomic::AtomicUsize,
}

impl<A: TenantApi> TenantApi for ThrottledAfter<A> {
    async fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> Result<ApiResponse, WebApiError> {
        let n = self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n >= self.allowed {
            return Err(WebApiError::Throttled {
                retry_after: Duration::from_secs(1),
            });
        }
        self.inner.call(auth, request, deadline).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_install_on_a_large_site_finishes_with_one_set_and_publishes_each_entity_once() {
    let app = App::start().await;
    assert!(app.sim().seed_site(TENANT, &SiteSize::LARGE));
    app.sign_in_to_install("ada@demo.example").await;
    let access = app
        .tenant_access(Arc::new(
            superoffice::transport::ReqwestTransport::new().unwrap(),
        ))
        .await;
    let deadline = SystemTime::now() + Duration::from_secs(120);
    // Stopped after the fields of Contact were saved, before their publish.
    let first = app.engine(Arc::new(ThrottledAfter {
        inner: access.webapi.clone(),
        allowed: 9,
        made: Default::default(),
    }));
    let run = first.install(&tenant(), deadline).await.unwrap();
    assert!(matches!(run, Run::Continue { .. }), "{run:?}");
    let second = app.engine(access.webapi.clone());
    assert_eq!(
        second.install(&tenant(), deadline).await.unwrap(),
        Run::Done
    );
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    assert_eq!(
        publishes(&app),
        2,
        "Contact and Sale, each published once over both runs"
    );
    // And again: everything is recorded, nothing is called.
    let calls = app.sim().webapi_calls(TENANT, "");
    assert_eq!(
        second.install(&tenant(), deadline).await.unwrap(),
        Run::Done
    );
    assert_eq!(app.sim().webapi_calls(TENANT, ""), calls);
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_with_five_thousand_fields_on_contact_installs() {
    let size = SiteSize {
        fields_per_entity: 5_000,
        ..EMPTY
    };
    let (app, _) = installed(size).await;
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_body_cap_stops_the_install_with_the_problem_after_one_attempt() {
    let app = App::start().await;
    // So many user groups that their list is more than the client accepts (4 MiB).
    let size = SiteSize {
        user_groups: 40_000,
        ..EMPTY
    };
    assert!(app.sim().seed_site(TENANT, &size));
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.press_install(&session).await;
    let page = app.wait_for_status(&session, "failed").await;
    assert!(
        page.contains("more than the app accepts"),
        "the status page says what stopped the install: {page}"
    );
    assert_eq!(
        app.sim().webapi_calls(TENANT, "GET List/UserGroup/Items"),
        1,
        "asked once, not retried as if the network had failed"
    );
    app.app.stop().await;
}
