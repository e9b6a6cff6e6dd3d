//! A whole run: warm-up, then the binaries interleaved per iteration (A, B, C, A, B, C, …) so that
//! machine noise falls on all of them alike.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::bench::{Binary, Failure, Runner, Sample};

pub struct Plan {
    pub binaries: Vec<Binary>,
    pub iterations: usize,
    /// Untimed rounds first (page cache, CPU frequency): not part of the statistics.
    pub warmup: usize,
}

/// The samples of one binary, in iteration order.
pub struct Series {
    pub binary: Binary,
    pub samples: Vec<Sample>,
}

pub struct RunResult {
    pub series: Vec<Series>,
    pub elapsed: Duration,
}

/// Runs the plan; the first failed invocation stops the run.
pub async fn run(runner: &mut Runner, plan: &Plan) -> Result<RunResult, Failure> {
    let started = Instant::now();
    let mut series: Vec<Series> = plan
        .binaries
        .iter()
        .map(|b| Series {
            binary: b.clone(),
            samples: Vec::with_capacity(plan.iterations),
        })
        .collect();
    let rounds = plan.warmup + plan.iterations;
    for round in 0..rounds {
        for s in series.iter_mut() {
            let sample = runner.run_once(&s.binary).await?;
            if round >= plan.warmup {
                s.samples.push(sample);
            }
        }
        progress(round + 1, rounds, plan.warmup);
    }
    eprintln!();
    Ok(RunResult {
        series,
        elapsed: started.elapsed(),
    })
}

fn progress(done: usize, total: usize, warmup: usize) {
    let mut err = std::io::stderr().lock();
    let _ = if done <= warmup {
        write!(err, "\rwarm-up {done}/{warmup}        ")
    } else {
        write!(
            err,
            "\riteration {}/{}        ",
            done - warmup,
            total - warmup
        )
    };
    let _ = err.flush();
}
