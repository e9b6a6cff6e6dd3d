//! Rollout benchmark (a bench binary, prints Markdown): release 2 of the demo manifest rolled out
//! to N installed tenants (default 1,000) through the worker on the in-process queue, the rollout
//! ticked every TICK_MS (default 1,000 ms) standing in for its minute, PER_TICK tenants per tick
//! (default 100).
//!
//! Reported: wall time from the first tick to the tick that finds every tenant on release 2,
//! against the rate-cap bound (ceil(N / PER_TICK) ticks: the rollout can never be faster); WebAPI
//! and other SuperOffice calls per tenant during the rollout; peak live heap during the rollout
//! above what the installed fleet already held (a counting allocator; the in-process simulator's
//! work is included, so it is an upper bound of the app's own).
//!
//! Run: `cargo bench -p integration-tests --bench rollout` (ROLLOUT_TENANTS, PER_TICK, TICK_MS).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use integration_tests::fleet::{Fleet, v1, v2};
use superoffice_simulator::Route;

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

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = setting("ROLLOUT_TENANTS", 1000);
    let per_tick = setting("PER_TICK", 100);
    let tick = Duration::from_millis(setting("TICK_MS", 1000) as u64);
    let per_tick_s = per_tick.to_string();
    let setup = Instant::now();
    let mut fleet = Fleet::start(
        n,
        v1(),
        Duration::ZERO,
        &[
            ("APP_ROLLOUT_PER_MINUTE", &per_tick_s),
            ("APP_TENANT_RATE", "100"),
        ],
    )
    .await;
    fleet.install_all().await;
    eprintln!(
        "{n} tenants installed in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    fleet.deploy(v2());
    let rollout = app::rollout::of(&fleet.deployment);
    fleet.sim.clear_requests();
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let started = Instant::now();
    let mut ticks = 0usize;
    let mut most_in_a_tick = 0usize;
    let mut minute = 0i64;
    let t0 = superoffice::clock::unix_seconds(std::time::SystemTime::now());
    loop {
        let at = Instant::now();
        let t = rollout.tick(t0 + 60 * minute).await.expect("tick");
        minute += 1;
        ticks += 1;
        most_in_a_tick = most_in_a_tick.max(t.queued.len());
        if t.done {
            break;
        }
        assert!(
            ticks < 10 * n.div_ceil(per_tick) + 100,
            "the rollout never completed"
        );
        tokio::time::sleep(tick.saturating_sub(at.elapsed())).await;
    }
    let wall = started.elapsed();
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    let on_v2 = fleet
        .records()
        .await
        .iter()
        .filter(|r| {
            r.as_ref()
                .and_then(|r| r.manifest.as_ref())
                .is_some_and(|m| m.version == "2")
        })
        .count();
    let webapi = fleet.sim.count(Route::WebApi);
    let all = fleet.sim.requests().len();
    // The bound: every tenant must wait for its tick; the last ones are queued in tick
    // ceil(n / per_tick), and the rollout is seen complete one tick after they finish.
    let bound_ticks = n.div_ceil(per_tick);
    let bound = tick * bound_ticks as u32;
    println!(
        "\n### Rollout of release 2 to {n} tenants, {per_tick} per tick, a tick every {} ms\n",
        tick.as_millis()
    );
    println!(
        "| tenants on v2 | ticks | most queued in a tick | wall time | rate-cap bound ({bound_ticks} ticks) | ratio | WebAPI calls per tenant | all SuperOffice calls per tenant | peak memory |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {on_v2} | {ticks} | {most_in_a_tick} | {:.1} s | {:.1} s | {:.2} | {:.1} | {:.1} | {:.1} MiB |",
        wall.as_secs_f64(),
        bound.as_secs_f64(),
        wall.as_secs_f64() / bound.as_secs_f64(),
        webapi as f64 / n as f64,
        all as f64 / n as f64,
        peak as f64 / (1024.0 * 1024.0)
    );
    assert_eq!(on_v2, n, "every tenant on release 2");
    assert!(most_in_a_tick <= per_tick);
    fleet.stop().await;
}
