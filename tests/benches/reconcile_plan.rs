//! The reconciler's plan for a tenant with 1,000 artifacts (a bench binary, prints Markdown).
//!
//! `domain::provisioning::plan::plan` runs at the start of every install, upgrade, repair and
//! uninstall run: it must cost nothing next to one WebAPI call. Measured against a baseline in the
//! same run: indexing the same ledger by key in a `HashMap` and computing every declaration's
//! fingerprint (the irreducible work: the plan cannot decide without both). Time is the median of
//! many runs; allocations are counted by a counting allocator (count and bytes per plan).
//!
//! Cases: an upgrade (10 % of the declarations changed, 5 % dropped, 5 % new), a repair with every
//! artifact observed, an uninstall.
//!
//! Run: `cargo bench -p integration-tests --bench reconcile_plan`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use domain::ledger::{EntryState, LedgerEntry};
use domain::manifest::{Artifact, Preference, WebPanel};
use domain::provisioning::plan::{self, Desired, Observations, Observed};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BASE: &str = "https://app.example.com";
const N: usize = 1_000;

/// `n` declarations: half web panels, half preferences (the kinds with the longest and the
/// shortest declarations).
fn declarations(n: usize, variant: &str) -> Vec<Artifact> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                Artifact::WebPanel(WebPanel {
                    prog_id: format!("Bench.Panel{i}"),
                    name: format!("Bench panel {i}"),
                    tooltip: format!("Bench panel number {i}"),
                    visible_in: "ContactCard".into(),
                    path: format!("/panels/p{i}?ctx=<uctx>&user=<usid>{variant}"),
                })
            } else {
                Artifact::Preference(Preference {
                    section: "Bench".into(),
                    key: format!("Key{i}"),
                    value: format!("{i}{variant}"),
                    level: "SystemWide".into(),
                })
            }
        })
        .collect()
}

fn ledger(artifacts: &[Artifact]) -> Vec<LedgerEntry> {
    artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| LedgerEntry {
            seq: i as u32,
            key: a.key(),
            kind: a.kind().into(),
            description: a.describe(BASE),
            shown_as: a.describe_for_customer(),
            state: EntryState::Created,
            superoffice_id: Some(format!("{}", 1000 + i)),
            fingerprint: Some(a.fingerprint(BASE)),
            updated_at: 1,
        })
        .collect()
}

/// Median duration and allocations (count, bytes) of each of `fs`, over `runs` rounds after a
/// warm-up. The functions run interleaved (one of each per round), so the machine's noise falls on
/// all of them alike.
fn measure(runs: usize, fs: &mut [&mut dyn FnMut() -> usize]) -> Vec<(Duration, usize, usize)> {
    for _ in 0..runs / 10 + 1 {
        for f in fs.iter_mut() {
            black_box(f());
        }
    }
    let mut times = vec![Vec::with_capacity(runs); fs.len()];
    let mut allocs = vec![(0usize, 0usize); fs.len()];
    for _ in 0..runs {
        for (i, f) in fs.iter_mut().enumerate() {
            let (a0, b0) = (
                ALLOCS.load(Ordering::Relaxed),
                BYTES.load(Ordering::Relaxed),
            );
            let start = Instant::now();
            black_box(f());
            times[i].push(start.elapsed());
            allocs[i].0 += ALLOCS.load(Ordering::Relaxed) - a0;
            allocs[i].1 += BYTES.load(Ordering::Relaxed) - b0;
        }
    }
    times
        .into_iter()
        .zip(allocs)
        .map(|(mut t, (a, b))| {
            t.sort();
            (t[runs / 2], a / runs, b / runs)
        })
        .collect()
}

fn row(name: &str, (t, a, b): (Duration, usize, usize), base: (Duration, usize, usize)) {
    println!(
        "| {name} | {:.0} µs | {:.2}x | {a} | {:.1} KiB | {:.2}x |",
        t.as_secs_f64() * 1e6,
        t.as_secs_f64() / base.0.as_secs_f64(),
        b as f64 / 1024.0,
        b as f64 / base.2.max(1) as f64,
    );
}

fn main() {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let installed = declarations(N, "");
    let ledger = ledger(&installed);

    // Release 2: 10 % changed, 5 % dropped, 5 % new.
    let mut release = declarations(N, "");
    for (i, a) in release.iter_mut().enumerate() {
        if i % 10 == 3
            && let Artifact::WebPanel(p) = a
        {
            p.path.push_str("&v=2");
        }
        if i % 10 == 7
            && let Artifact::Preference(p) = a
        {
            p.value.push_str("-2");
        }
    }
    let mut release: Vec<Artifact> = release
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 20 != 11)
        .map(|(_, a)| a)
        .collect();
    release.extend(declarations(N / 20, "-new").into_iter().map(|a| match a {
        Artifact::WebPanel(mut p) => {
            p.prog_id.push_str(".New");
            Artifact::WebPanel(p)
        }
        Artifact::Preference(mut p) => {
            p.key.push_str("New");
            Artifact::Preference(p)
        }
        other => other,
    }));
    let observed: Observations = installed
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let o = if i % 25 == 0 {
                Observed::Absent
            } else {
                Observed::Present {
                    id: format!("{}", 1000 + i),
                    as_declared: i % 33 != 0,
                }
            };
            (a.key(), o)
        })
        .collect();

    let fp = |a: &Artifact| a.fingerprint(BASE);
    let mut baseline = || {
        let by_key: HashMap<&str, &LedgerEntry> =
            ledger.iter().map(|e| (e.key.as_str(), e)).collect();
        let fps: Vec<String> = release.iter().map(fp).collect();
        by_key.len() + fps.len()
    };
    let mut upgrade = || {
        plan::plan(Desired::Manifest(&release), &ledger, None, fp)
            .steps
            .len()
    };
    let mut repair = || {
        plan::plan(Desired::Manifest(&installed), &ledger, Some(&observed), fp)
            .steps
            .len()
    };
    let mut uninstall = || plan::plan(Desired::Nothing, &ledger, None, fp).steps.len();
    let m = measure(
        runs,
        &mut [&mut baseline, &mut upgrade, &mut repair, &mut uninstall],
    );
    let (baseline, upgrade, repair, uninstall) = (m[0], m[1], m[2], m[3]);
    let p = plan::plan(Desired::Manifest(&release), &ledger, None, fp);
    let counts: Vec<String> = p
        .counts()
        .iter()
        .map(|(a, n)| format!("{} {n}", a.as_str()))
        .collect();

    println!("### The reconciler's plan for a tenant with {N} artifacts ({runs} runs, median)\n");
    println!(
        "Baseline: indexing the ledger by key and fingerprinting every declaration (the plan's irreducible work). Upgrade plan: {}.\n",
        counts.join(", ")
    );
    println!("| plan | time | vs baseline | allocations | bytes allocated | vs baseline |");
    println!("|---|---:|---:|---:|---:|---:|");
    row("baseline", baseline, baseline);
    row(
        "upgrade (10 % changed, 5 % dropped, 5 % new)",
        upgrade,
        baseline,
    );
    row("repair (every artifact observed)", repair, baseline);
    row("uninstall", uninstall, baseline);
}
