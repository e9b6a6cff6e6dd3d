//! The Markdown table printed at the end of a run.

use std::fmt::Write;
use std::time::Duration;

use crate::bench::Expect;
use crate::stats::{self, Summary};
use crate::suite::Series;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A table with one row per binary. Ratios are of medians, against the first hello binary (or the
/// first binary when there is no hello).
pub fn table(series: &[Series]) -> String {
    let baseline = series
        .iter()
        .find(|s| s.binary.expect == Expect::Hello)
        .or_else(|| series.first());
    let baseline_median = baseline.and_then(total_summary).map(|s| s.median);
    let baseline_name = baseline.map(|s| s.binary.name.as_str()).unwrap_or("-");

    let mut out = String::new();
    let _ = writeln!(
        out,
        "| binary | runs | min ms | median ms | p90 ms | median vs {baseline_name} | median to first `next` ms | peak RSS MiB (median) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for s in series {
        let Some(total) = total_summary(s) else {
            let _ = writeln!(out, "| {} | 0 | - | - | - | - | - | - |", s.binary.name);
            continue;
        };
        let ratio = match baseline_median {
            Some(b) if b > 0.0 => format!("{:.2}x", total.median / b),
            _ => "-".into(),
        };
        let to_next: Vec<f64> = s.samples.iter().filter_map(|x| x.to_next.map(ms)).collect();
        let rss: Vec<f64> = s
            .samples
            .iter()
            .filter_map(|x| x.peak_rss_kib.map(|k| k as f64 / 1024.0))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
            s.binary.name,
            total.count,
            total.min,
            total.median,
            total.p90,
            ratio,
            stats::median(&to_next).map_or("-".into(), |v| format!("{v:.1}")),
            stats::median(&rss).map_or("-".into(), |v| format!("{v:.1}")),
        );
    }
    out
}

fn total_summary(s: &Series) -> Option<Summary> {
    let totals: Vec<f64> = s.samples.iter().map(|x| ms(x.total)).collect();
    stats::summarize(&totals)
}
