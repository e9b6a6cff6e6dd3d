//! Large-site benchmark (a bench binary): the demo manifest installed and then uninstalled (the
//! engine's removal walk) in an empty tenant, a large one (2,000 lists of 20 items, 1,500 published
//! fields on each of Contact and Person, 500 other apps' panels, 200 webhooks, 400 preferences) and
//! a twice-large one, every SuperOffice answer 50 ms late. Reports WebAPI calls, response bytes
//! (the app's own usage accounting), wall time and peak memory, each as a ratio against the empty
//! site measured in the same run; and, on its own, how the one whole-collection read (the user
//! groups, once per run) grows with the number of groups.
//!
//! Peak memory is the peak of live heap bytes above what was allocated before the run, counted by
//! an allocator that leaves out the simulator's threads: the local app and its simulator run on a
//! runtime of their own, the engine (with its HTTP client and store) on the benchmark's, so what is
//! measured is the app's side only.
//!
//! Run: `cargo bench -p integration-tests --bench large_site` (prints Markdown).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use domain::TenantId;
use domain::provisioning::Run;
use integration_tests::install_app::App;
use superoffice::clock::SystemClock;
use superoffice::transport::ReqwestTransport;
use superoffice::usage::TenantUsage;
use superoffice_simulator::{FaultAction, FaultRule, Route, SiteSize};

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

thread_local! {
    /// Set on the simulator's threads: their allocations are not the app's.
    static EXCLUDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn counted() -> bool {
    !EXCLUDED.try_with(|e| e.get()).unwrap_or(true)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && counted() {
            let size = layout.size() as i64;
            let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        // A block freed on another thread than it was allocated on can make LIVE drift a little;
        // peaks are read against a baseline taken just before each run.
        if counted() {
            LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        }
    }
}

/// Starts the local app (and its simulator) on a runtime of its own, whose threads are left out
/// of the count.
fn start_app_elsewhere() -> App {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        EXCLUDED.with(|e| e.set(true));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_start(|| EXCLUDED.with(|e| e.set(true)))
            .build()
            .unwrap();
        let app = rt.block_on(App::start());
        tx.send(app).unwrap();
        rt.block_on(std::future::pending::<()>());
    });
    rx.recv().unwrap()
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const EMPTY: SiteSize = SiteSize {
    lists: 0,
    items_per_list: 0,
    fields_per_entity: 0,
    web_panels: 0,
    webhooks: 0,
    preferences: 0,
    user_groups: 0,
};

#[derive(Clone, Copy)]
struct Figures {
    calls: u64,
    bytes: u64,
    wall: Duration,
    peak: usize,
}

async fn usage(app: &App) -> TenantUsage {
    let usage = domain::usage::DailyUsage::new(app.app.items.clone(), Arc::new(SystemClock));
    usage
        .days(&TenantId::parse("Cust12345").unwrap())
        .await
        .unwrap()
        .into_iter()
        .fold(TenantUsage::default(), |mut s, (_, u)| {
            s += u;
            s
        })
}

/// Install then remove in a tenant seeded with `size`.
async fn measure(size: SiteSize) -> (Figures, Figures) {
    let app = tokio::task::spawn_blocking(start_app_elsewhere)
        .await
        .unwrap();
    assert!(app.sim().seed_site("Cust12345", &size));
    app.sign_in_to_install("ada@demo.example").await;
    for route in [Route::WebApi, Route::TenantState, Route::SystemUser] {
        app.sim().faults().push(FaultRule::new(
            route,
            FaultAction::Latency(Duration::from_millis(50)),
        ));
    }
    let access = app
        .tenant_access(Arc::new(ReqwestTransport::new().unwrap()))
        .await;
    let engine = app.engine(access.webapi.clone());
    let tenant = TenantId::parse("Cust12345").unwrap();
    let mut figures = Vec::new();
    for removing in [false, true] {
        access.usage.flush().await.unwrap();
        let before = usage(&app).await;
        let base = LIVE.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        let started = Instant::now();
        let deadline = SystemTime::now() + Duration::from_secs(600);
        let run = if removing {
            engine.remove_all(&tenant, deadline).await.unwrap()
        } else {
            engine.install(&tenant, deadline).await.unwrap()
        };
        let wall = started.elapsed();
        let peak = (PEAK.load(Ordering::SeqCst) - base).max(0) as usize;
        assert_eq!(run, Run::Done);
        access.usage.flush().await.unwrap();
        let after = usage(&app).await;
        figures.push(Figures {
            calls: after.calls - before.calls,
            bytes: after.bytes_received - before.bytes_received,
            wall,
            peak,
        });
    }
    app.app.stop().await;
    (figures[0], figures[1])
}

fn row(name: &str, f: Figures, base: Figures) {
    println!(
        "| {name} | {} ({:.2}x) | {:.1} KiB ({:.2}x) | {:.2} s ({:.2}x) | {:.2} MiB ({:.2}x) |",
        f.calls,
        f.calls as f64 / base.calls as f64,
        f.bytes as f64 / 1024.0,
        f.bytes as f64 / base.bytes as f64,
        f.wall.as_secs_f64(),
        f.wall.as_secs_f64() / base.wall.as_secs_f64(),
        f.peak as f64 / (1024.0 * 1024.0),
        f.peak as f64 / base.peak as f64,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Criterion-style arguments (`--bench`) are ignored: this binary always runs everything once.
    let sites = [
        ("empty", EMPTY),
        ("large", SiteSize::LARGE),
        ("twice large", SiteSize::LARGE.times(2)),
    ];
    let mut results = Vec::new();
    for (name, size) in sites {
        results.push((name, measure(size).await));
    }
    let (_, (base_install, base_remove)) = results[0];
    for (title, pick) in [("Install", 0), ("Uninstall (the engine's removal walk)", 1)] {
        println!("\n### {title}: 50 ms per SuperOffice answer, ratios against the empty site\n");
        println!("| site | WebAPI calls | response bytes | wall time | peak memory |");
        println!("|---|---:|---:|---:|---:|");
        for (name, (install, remove)) in &results {
            let (f, base) = if pick == 0 {
                (*install, base_install)
            } else {
                (*remove, base_remove)
            };
            row(name, f, base);
        }
    }

    println!("\n### The one whole-collection read: user groups (install, no latency)\n");
    println!("| user groups | WebAPI calls | response bytes |");
    println!("|---:|---:|---:|");
    for groups in [0, 50, 500] {
        let app = App::start().await;
        assert!(app.sim().seed_site(
            "Cust12345",
            &SiteSize {
                user_groups: groups,
                ..EMPTY
            }
        ));
        app.sign_in_to_install("ada@demo.example").await;
        let access = app
            .tenant_access(Arc::new(ReqwestTransport::new().unwrap()))
            .await;
        let engine = app.engine(access.webapi.clone());
        let run = engine
            .install(
                &TenantId::parse("Cust12345").unwrap(),
                SystemTime::now() + Duration::from_secs(600),
            )
            .await
            .unwrap();
        assert_eq!(run, Run::Done);
        access.usage.flush().await.unwrap();
        let u = usage(&app).await;
        println!(
            "| {} | {} | {:.1} KiB |",
            groups + 3,
            u.calls,
            u.bytes_received as f64 / 1024.0
        );
        app.app.stop().await;
    }
}
