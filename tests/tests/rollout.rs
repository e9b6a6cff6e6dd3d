//! A release that changes the manifest, rolled out to 20 installed tenants through the worker on
//! the in-process queue, at a capped rate, with one tenant in maintenance. What each tenant holds
//! is read from the simulator's own state.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use domain::jobs::JobKind;
use domain::tenant::InstallStatus;
use integration_tests::fleet::{Fleet, v1, v2};
use integration_tests::install_app::{expected_inventory, inventory_of};
use superoffice_simulator::TenantStatus;

const TENANTS: usize = 20;
const PER_MINUTE: usize = 3;

/// What release 1 leaves in a tenant (the demo manifest without its webhook).
fn expected_v1(user_groups: usize) -> Vec<String> {
    expected_inventory(user_groups)
        .into_iter()
        .filter(|l| !l.starts_with("webhook "))
        .collect()
}

/// What release 2 must leave: v1 with the new field and without the preference.
fn expected_v2(user_groups: usize) -> Vec<String> {
    let mut out: Vec<String> = expected_v1(user_groups)
        .into_iter()
        .filter(|l| !l.starts_with("preference "))
        .collect();
    out.push("field Contact:DemoPartnerApp.Segment ShortText".into());
    out.sort();
    out
}

fn contact_panel_url(fleet: &Fleet, tenant: &str) -> String {
    fleet
        .sim
        .webapi_snapshot(tenant)
        .unwrap()
        .web_panels
        .iter()
        .find(|p| p.panel["ProgId"] == "DemoPartnerApp.ContactPanel")
        .map(|p| p.panel["Url"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_release_reaches_every_tenant_at_the_capped_rate_and_a_tenant_in_maintenance_later() {
    let per_minute = PER_MINUTE.to_string();
    let mut fleet = Fleet::start(
        TENANTS,
        v1(),
        Duration::ZERO,
        &[("APP_ROLLOUT_PER_MINUTE", &per_minute)],
    )
    .await;
    fleet.install_all().await;
    let groups = fleet
        .sim
        .webapi_snapshot(fleet.ids[0].as_str())
        .unwrap()
        .user_groups
        .len();
    for t in &fleet.ids {
        assert_eq!(
            inventory_of(&fleet.sim, t.as_str()),
            expected_v1(groups),
            "{t} on v1"
        );
    }

    // One tenant goes into maintenance for a while.
    let resting = fleet.ids[7].clone();
    fleet.sim.set_tenant_state(
        resting.as_str(),
        TenantStatus::OfflineMaintenance,
        Some(SystemTime::now() + Duration::from_secs(2)),
    );

    // Release 2 is deployed; the rollout ticks once per (simulated) minute.
    fleet.deploy(v2());
    let rollout = app::rollout::of(&fleet.deployment);
    let start = superoffice::clock::unix_seconds(SystemTime::now());
    let mut queued_per_tick = Vec::new();
    let mut first_queued_at: BTreeMap<String, usize> = BTreeMap::new();
    let mut maintenance_over = false;
    for minute in 0.. {
        assert!(minute < 200, "the rollout never completed");
        let tick = rollout.tick(start + 60 * minute as i64).await.unwrap();
        queued_per_tick.push(tick.queued.len());
        for t in &tick.queued {
            first_queued_at.entry(t.to_string()).or_insert(minute);
        }
        if tick.done {
            break;
        }
        // Each "minute" lasts as long as the queued upgrades take (in-process, milliseconds).
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !maintenance_over && minute >= 8 {
            // SuperOffice's maintenance ends.
            fleet
                .sim
                .set_tenant_state(resting.as_str(), TenantStatus::Running, None);
            maintenance_over = true;
        }
    }

    // The cap held on every tick, and every tenant was queued (each once, unless its job was lost).
    assert!(
        queued_per_tick.iter().all(|&n| n <= PER_MINUTE),
        "a tick queued more than {PER_MINUTE}: {queued_per_tick:?}"
    );
    assert_eq!(
        first_queued_at.len(),
        TENANTS,
        "every tenant queued: {first_queued_at:?}"
    );
    assert!(
        queued_per_tick.len() >= TENANTS / PER_MINUTE,
        "20 tenants at 3 a minute take at least 7 ticks: {queued_per_tick:?}"
    );

    // Every tenant now holds release 2 exactly (counted in the simulator), the panel on its new
    // page, and its record says so.
    for (t, record) in fleet.ids.iter().zip(fleet.records().await) {
        assert_eq!(
            inventory_of(&fleet.sim, t.as_str()),
            expected_v2(groups),
            "{t} on v2"
        );
        assert!(
            contact_panel_url(&fleet, t.as_str()).contains("/panels/home?ctx=<uctx>"),
            "{t}: the panel's URL"
        );
        let record = record.expect("the tenant's record");
        assert_eq!(record.status, InstallStatus::Installed, "{t}");
        assert!(record.reconciling.is_none(), "{t}: still reconciling");
        assert_eq!(
            record.manifest.expect("applied manifest").version,
            "2",
            "{t}"
        );
    }

    // The tenant in maintenance was put back and done after its maintenance, not skipped: its
    // upgrade took more than one delivery.
    let deliveries = fleet.deployment.queue.deliveries();
    let upgrades_of = |t: &str| {
        deliveries
            .iter()
            .filter(|(id, tenant)| {
                tenant.as_str() == t && id.starts_with(JobKind::Upgrade.as_str())
            })
            .count()
    };
    assert!(
        upgrades_of(resting.as_str()) > 1,
        "the tenant in maintenance was not put back: {} deliveries",
        upgrades_of(resting.as_str())
    );
    assert_eq!(
        upgrades_of(fleet.ids[0].as_str()),
        1,
        "a running tenant takes one delivery"
    );

    // A later pass finds nothing to do and queues nothing.
    let again = rollout.tick(start + 60 * 500).await.unwrap();
    assert!(again.done && again.queued.is_empty());
    let progress = rollout.progress(start + 60 * 500).await.unwrap().unwrap();
    assert_eq!(progress.version, "2");
    assert!(progress.queued >= TENANTS as u64);
    fleet.stop().await;
}
