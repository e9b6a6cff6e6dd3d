//! Uninstall benchmarks (a bench binary, prints Markdown):
//!
//! 1. **Wall time vs the critical path**: the demo manifest uninstalled with 50 ms on every
//!    SuperOffice answer, against the lower bound "calls that must be sequential × 50 ms".
//! 2. **100 tenants** installed and then uninstalled through the worker on the in-process queue
//!    (one job per tenant at a time, as SQS FIFO): what is left in the simulated tenants and in the
//!    store afterwards (goal 0 and 0), wall time, and peak live heap (a counting allocator; the
//!    in-process simulator's work is included, so it is an upper bound of the app's own).
//!
//! Run: `cargo bench -p integration-tests --bench uninstall`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use domain::jobs::{Job, JobQueue};
use domain::provisioning::Run;
use domain::store::Items;
use domain::tenant::{InstallStatus, Tenants};
use integration_tests::fleet::{self, Fleet};
use integration_tests::install_app::App;
use superoffice_simulator::{FaultAction, FaultRule, Route};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The uninstall's dependency chain: tenant state → ticket → the removals (independent of each
/// other: 1) → the publish flow (is-a-publish-running, publish, rebuild deltas) → the read-back of
/// the app's panels → the cache flush.
const CRITICAL_PATH_CALLS: u32 = 2 + 1 + 3 + 1 + 1;

async fn critical_path() {
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    for route in [Route::WebApi, Route::TenantState, Route::SystemUser] {
        app.sim().faults().push(FaultRule::new(
            route,
            FaultAction::Latency(Duration::from_millis(50)),
        ));
    }
    Tenants::new(app.app.items.clone())
        .update(&integration_tests::install_app::tenant(), 0, |t| {
            t.status = InstallStatus::Uninstalling
        })
        .await
        .unwrap();
    let access = app
        .tenant_access(Arc::new(
            superoffice::transport::ReqwestTransport::new().unwrap(),
        ))
        .await;
    let engine = app.engine(access.webapi.clone());
    let before = app.sim().webapi_calls("Cust12345", "");
    let started = Instant::now();
    let run = engine
        .uninstall(
            &integration_tests::install_app::tenant(),
            SystemTime::now() + Duration::from_secs(600),
        )
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(run, Run::Done);
    let calls = app.sim().webapi_calls("Cust12345", "") - before;
    let bound = Duration::from_millis(50) * CRITICAL_PATH_CALLS;
    println!("### Uninstall of the demo manifest, 50 ms per SuperOffice answer\n");
    println!(
        "| WebAPI calls | wall time | critical path ({CRITICAL_PATH_CALLS} calls × 50 ms) | ratio |"
    );
    println!("|---:|---:|---:|---:|");
    println!(
        "| {calls} | {:.2} s | {:.2} s | {:.2}x |",
        took.as_secs_f64(),
        bound.as_secs_f64(),
        took.as_secs_f64() / bound.as_secs_f64()
    );
    app.app.stop().await;
}

async fn hundred_tenants(n: usize) {
    // `n` simulated tenants with an administrator each; the demo manifest without its webhook (no
    // receiver listens here); the worker on the in-process queue.
    let fleet = Fleet::start(
        n,
        fleet::v1(),
        Duration::ZERO,
        &[("APP_TENANT_RATE", "100")],
    )
    .await;
    let (d, sim, ids) = (&fleet.deployment, &fleet.sim, &fleet.ids);
    let tenants = fleet.tenants();
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let started = Instant::now();
    fleet.install_all().await;
    let installed_in = started.elapsed();
    let artifacts: usize = ids.iter().map(|t| ours(sim, t.as_str())).sum();
    for t in ids {
        tenants
            .update(t, 0, |r| r.status = InstallStatus::Uninstalling)
            .await
            .unwrap();
        d.queue.send(&Job::uninstall(t, "bench")).await.unwrap();
    }
    fleet
        .wait_until(Duration::from_secs(900), "uninstalled", |r| r.is_none())
        .await;
    let total = started.elapsed();
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    let left_in_tenants: usize = ids.iter().map(|t| ours(sim, t.as_str())).sum();
    let mut left_in_store = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for t in ids {
        let left = d.items.query(&format!("TENANT#{t}"), "", 0).await.unwrap();
        left_in_store += left.len();
        kinds.extend(
            left.into_iter()
                .map(|i| i.sk.split('#').next().unwrap_or("").to_owned()),
        );
    }
    if !kinds.is_empty() {
        eprintln!("items left in the store, by kind: {kinds:?}");
    }
    println!(
        "\n### {n} tenants installed, then uninstalled, through the worker (in-process queue)\n"
    );
    println!(
        "| tenants | artifacts created | left in the tenants | items left in the store | install | install + uninstall | peak memory |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {n} | {artifacts} | {left_in_tenants} | {left_in_store} | {:.1} s | {:.1} s | {:.1} MiB |",
        installed_in.as_secs_f64(),
        total.as_secs_f64(),
        peak as f64 / (1024.0 * 1024.0)
    );
    fleet.stop().await;
}

/// Everything of the demo app's in a simulated tenant.
fn ours(sim: &superoffice_simulator::SimulatorHandle, tenant: &str) -> usize {
    let snap = sim.webapi_snapshot(tenant).unwrap();
    let fields: usize = snap
        .udefs
        .values()
        .map(|l| {
            l.published
                .iter()
                .chain(&l.admin)
                .filter(|f| {
                    f["ProgId"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("DemoPartnerApp"))
                })
                .count()
        })
        .sum();
    fields
        + snap
            .lists
            .iter()
            .filter(|l| {
                l.list["Name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("Demo Partner App"))
            })
            .count()
        + snap
            .web_panels
            .iter()
            .filter(|p| {
                p.panel["ProgId"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("DemoPartnerApp"))
            })
            .count()
        + snap
            .preferences
            .iter()
            .filter(|p| p["Specification"]["Section"] == "DemoPartnerApp")
            .count()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    critical_path().await;
    hundred_tenants(100).await;
}
