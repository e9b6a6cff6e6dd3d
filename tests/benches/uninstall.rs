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
use domain::sealing::{self, Sealer};
use domain::store::Items;
use domain::tenant::{Consent, InstallStatus, Tenants};
use domain::{Deployment, TenantId};
use integration_tests::install_app::App;
use integration_tests::*;
use superoffice_simulator::{
    FaultAction, FaultRule, Route, Simulator, SimulatorConfig, TenantConfig, UserConfig,
};

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

fn tenant_name(i: usize) -> String {
    format!("Bench{i:05}")
}

async fn hundred_tenants(n: usize) {
    // The simulator with `n` tenants, each with an administrator, and our app registered.
    let mut config = SimulatorConfig::demo(app_registration(vec![REDIRECT.into()]));
    config.tenants = (0..n)
        .map(|i| TenantConfig {
            context_id: tenant_name(i),
            company_name: format!("Bench Company {i}"),
            serial: format!("{}", 1_900_000_000 + i),
            shard: "sod2".into(),
            users: vec![UserConfig {
                email: format!("admin{i}@bench.example"),
                associate_id: 5,
                first_name: "Admin".into(),
                last_name: format!("{i}"),
                initials: "AB".into(),
                is_administrator: true,
            }],
        })
        .collect();
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("system-user-key.pem");
    std::fs::write(&key, partner_key_pem()).unwrap();
    let vars = [
        ("SO_ENVIRONMENT", sim.issuer()),
        ("SO_CLIENT_ID", CLIENT_ID.to_owned()),
        ("SO_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("SO_SYSTEM_USER_KEY_FILE", key.display().to_string()),
        ("APP_BASE_URL", "http://127.0.0.1:9".to_owned()),
        (
            "APP_DATA_DIR",
            dir.path().join("store").display().to_string(),
        ),
        ("APP_TENANT_RATE", "100".to_owned()),
    ];
    let config = domain::config::AppConfig::from_lookup(|k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .unwrap();
    // The demo manifest without its webhook (no receiver listens in this benchmark).
    let mut manifest = domain::manifest::Manifest::demo();
    manifest.webhooks.clear();
    let d: Deployment<app::local::Local> = app::local::deployment(
        Arc::new(config),
        Arc::new(manifest),
        Duration::from_secs(120),
    )
    .unwrap();
    let worker = d.queue.serve(app::worker::lazy(&d));
    let tenants = Tenants::new(d.items.clone());
    let ids: Vec<TenantId> = (0..n)
        .map(|i| TenantId::parse(&tenant_name(i)).unwrap())
        .collect();
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let started = Instant::now();
    for (i, t) in ids.iter().enumerate() {
        sim.grant_consent(t.as_str(), CLIENT_ID);
        let token = superoffice::Secret::new(sim.system_token(t.as_str(), CLIENT_ID).unwrap());
        let sealed = d
            .sealer
            .seal(&token, &sealing::context(t, "system_token"))
            .await
            .unwrap();
        tenants
            .record_consent(
                &Consent {
                    tenant: t.clone(),
                    company: None,
                    sealed_system_token: sealed,
                    approved_by: format!("admin{i}"),
                },
                0,
            )
            .await
            .unwrap();
        tenants
            .update(t, 0, |r| r.status = InstallStatus::Queued)
            .await
            .unwrap();
        d.queue.send(&Job::install(t, "bench")).await.unwrap();
    }
    wait_all(&tenants, &ids, |s| s == Some(InstallStatus::Installed)).await;
    let installed_in = started.elapsed();
    let artifacts: usize = ids.iter().map(|t| ours(&sim, t.as_str())).sum();
    for t in &ids {
        tenants
            .update(t, 0, |r| r.status = InstallStatus::Uninstalling)
            .await
            .unwrap();
        d.queue.send(&Job::uninstall(t, "bench")).await.unwrap();
    }
    wait_all(&tenants, &ids, |s| s.is_none()).await;
    let total = started.elapsed();
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    let left_in_tenants: usize = ids.iter().map(|t| ours(&sim, t.as_str())).sum();
    let mut left_in_store = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for t in &ids {
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
    worker.abort();
    sim.shutdown().await;
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

async fn wait_all<I: Items>(
    tenants: &Tenants<I>,
    ids: &[TenantId],
    done: impl Fn(Option<InstallStatus>) -> bool,
) {
    let started = Instant::now();
    loop {
        let mut all = true;
        for t in ids {
            let s = tenants.get(t, 0).await.unwrap().map(|v| v.value.status);
            if !done(s) {
                all = false;
                break;
            }
        }
        if all {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the jobs never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    critical_path().await;
    hundred_tenants(100).await;
}
