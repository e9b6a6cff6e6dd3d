//! Order statistics over a handful of samples.
//!
//! * median: the middle sample, or the mean of the two middle ones for an even count;
//! * p90: nearest rank, the smallest sample with at least 90 % of the samples at or below it
//!   (`ceil(0.9 n)`-th smallest), so it is always a value that was observed.

/// Summary of one series. All fields are in the samples' own unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    pub median: f64,
    pub p90: f64,
    pub max: f64,
}

/// `None` for an empty series. NaNs sort last (they never come from a clock).
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let sorted = sorted(samples);
    Some(Summary {
        count: sorted.len(),
        min: *sorted.first()?,
        median: median_of_sorted(&sorted)?,
        p90: percentile_of_sorted(&sorted, 90)?,
        max: *sorted.last()?,
    })
}

pub fn median(samples: &[f64]) -> Option<f64> {
    median_of_sorted(&sorted(samples))
}

/// Nearest-rank percentile, `pct` in 1..=100.
pub fn percentile(samples: &[f64], pct: u32) -> Option<f64> {
    percentile_of_sorted(&sorted(samples), pct)
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn median_of_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn percentile_of_sorted(sorted: &[f64], pct: u32) -> Option<f64> {
    if sorted.is_empty() || pct == 0 || pct > 100 {
        return None;
    }
    // ceil(pct/100 * n) in integers; rank is 1-based.
    let n = sorted.len();
    let rank = (pct as usize * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(range: std::ops::RangeInclusive<u32>) -> Vec<f64> {
        // Shuffled on purpose: the functions must sort.
        let mut v: Vec<f64> = range.map(f64::from).collect();
        v.reverse();
        let mid = v.len() / 2;
        v.swap(0, mid);
        v
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&series(1..=40)), Some(20.5));
    }

    #[test]
    fn p90_is_the_nearest_rank() {
        assert_eq!(percentile(&[], 90), None);
        assert_eq!(percentile(&[5.0], 90), Some(5.0));
        assert_eq!(percentile(&series(1..=10), 90), Some(9.0));
        // ceil(0.9 * 40) = 36; ceil(0.9 * 41) = 37; ceil(0.9 * 11) = 10.
        assert_eq!(percentile(&series(1..=40), 90), Some(36.0));
        assert_eq!(percentile(&series(1..=41), 90), Some(37.0));
        assert_eq!(percentile(&series(1..=11), 90), Some(10.0));
        assert_eq!(percentile(&series(1..=10), 100), Some(10.0));
        assert_eq!(percentile(&series(1..=10), 0), None);
    }

    #[test]
    fn summary_collects_everything() {
        let s = summarize(&series(1..=40)).expect("non-empty");
        assert_eq!(
            s,
            Summary {
                count: 40,
                min: 1.0,
                median: 20.5,
                p90: 36.0,
                max: 40.0
            }
        );
        assert_eq!(summarize(&[]), None);
    }
}
