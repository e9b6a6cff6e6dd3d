//! `coldstart-bench`'s command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::bench::{Binary, Runner};
use crate::cgroup::{self, CpuCgroup};
use crate::redirect::{self, RedirectPlan};
use crate::suite::{self, Plan};

/// Measures process start to first handled request of Lambda binaries against a local Lambda
/// Runtime API stand-in, and prints min/median/p90 per binary as a Markdown table.
///
/// Without a subcommand: the default suite (coldstart-hello, coldstart-superoffice, or --binary).
/// `coldstart-bench redirect --help`: the suite of the real redirect function.
#[derive(Debug, Parser)]
#[command(name = "coldstart-bench", args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub default_suite: DefaultSuite,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The release `redirect` function (functions/redirect) under the stand-in with API Gateway
    /// HTTP API events, against the SuperOffice simulator (in-process) and the AWS API emulator
    /// (AWS_ENDPOINT_URL, required): cold start of GET / and GET /login against coldstart-hello,
    /// warm POST /callback of complete sign-ins with and without the network, peak memory. Under
    /// --cpu-quota-us each warm process gets a cgroup of its own and one idle period before each
    /// invocation.
    Redirect(RedirectArgs),
}

#[derive(Debug, clap::Args)]
pub struct RedirectArgs {
    /// Measured cold invocations per binary (hello, GET /, GET /login), each in a fresh process.
    #[arg(long, default_value_t = 40)]
    pub iterations: usize,

    /// Untimed cold rounds before the measured ones.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,

    /// Measured complete sign-ins per long-lived redirect process (and warm hello invocations).
    #[arg(long, default_value_t = 100)]
    pub sign_ins: usize,

    /// Untimed sign-ins before the measured ones (their times are listed on their own: they
    /// include the first Secrets Manager read and the first JWKS fetch of the process).
    #[arg(long, default_value_t = 1)]
    pub warm_warmup: usize,

    /// The redirect binary. Default: `redirect` next to this executable (target/release).
    #[arg(long, value_name = "PATH")]
    pub redirect: Option<PathBuf>,

    /// The hello binary. Default: `coldstart-hello` next to this executable.
    #[arg(long, value_name = "PATH")]
    pub hello: Option<PathBuf>,

    #[command(flatten)]
    pub cpu: CpuArgs,
}

/// CPU quota and timeout, shared by both suites.
#[derive(Debug, clap::Args)]
pub struct CpuArgs {
    /// Run every child in the cgroup v1 cpu cgroup /sys/fs/cgroup/cpu/coldstart-bench with this CFS
    /// quota (7200 is the CPU share of a 128 MB Lambda). Fails if the cgroup cannot be set up.
    #[arg(long, value_name = "MICROSECONDS")]
    pub cpu_quota_us: Option<u64>,

    /// The CFS period for --cpu-quota-us.
    #[arg(long, value_name = "MICROSECONDS", default_value_t = 100_000)]
    pub cpu_period_us: u64,

    /// A child that has not answered within this many seconds fails the run.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout_secs: u64,
}

impl CpuArgs {
    fn cgroup(&self) -> Result<Option<CpuCgroup>, String> {
        match self.cpu_quota_us {
            None => Ok(None),
            Some(quota) => CpuCgroup::create(
                Path::new(cgroup::DEFAULT_ROOT),
                cgroup::DEFAULT_NAME,
                quota,
                self.cpu_period_us,
            )
            .map(Some)
            .map_err(|e| format!("the CPU quota cannot be applied, not measuring: {e}")),
        }
    }
}

/// The default suite's options.
#[derive(Debug, clap::Args)]
pub struct DefaultSuite {
    /// Measured invocations per binary (each in a fresh process).
    #[arg(long, default_value_t = 40)]
    pub iterations: usize,

    /// Untimed rounds before the measured ones.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,

    /// A binary to measure, repeatable, in table order. A NAME containing "hello" must answer
    /// {"ok":true}; any other must answer like coldstart-superoffice. Default: coldstart-hello and
    /// coldstart-superoffice next to this executable.
    #[arg(long = "binary", value_name = "NAME=PATH", value_parser = parse_binary)]
    pub binaries: Vec<Binary>,

    #[command(flatten)]
    pub cpu: CpuArgs,
}

fn parse_binary(s: &str) -> Result<Binary, String> {
    let (name, path) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=PATH"))?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("{s:?} is not NAME=PATH"));
    }
    Ok(Binary::new(name, path))
}

impl Cli {
    pub async fn run(self) -> ExitCode {
        let result = match self.command {
            Some(Command::Redirect(args)) => args.execute().await,
            None => self.default_suite.execute().await,
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("\ncoldstart-bench: FAILED: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

/// The CPU the children get, for the report.
pub fn describe_cpu(cgroup: Option<&CpuCgroup>) -> String {
    match cgroup {
        Some(cg) => format!(
            "cgroup v1 CFS quota {} us per {} us ({:.1} % of one CPU) in {}",
            cg.quota_us,
            cg.period_us,
            cg.quota_us as f64 * 100.0 / cg.period_us as f64,
            cg.dir().display()
        ),
        None => "full (no quota)".into(),
    }
}

fn work_dir(suite: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("coldstart-{suite}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

impl RedirectArgs {
    async fn execute(self) -> Result<(), String> {
        let own_dir = own_dir()?;
        let plan = RedirectPlan {
            redirect: self.redirect.unwrap_or_else(|| own_dir.join("redirect")),
            hello: self
                .hello
                .unwrap_or_else(|| own_dir.join("coldstart-hello")),
            iterations: self.iterations,
            warmup: self.warmup,
            sign_ins: self.sign_ins,
            warm_warmup: self.warm_warmup,
            timeout: Duration::from_secs(self.cpu.timeout_secs),
            cgroup: self.cpu.cgroup()?,
            work_dir: work_dir("redirect")?,
        };
        let report = redirect::run(plan).await?;
        print!("{}", report.markdown());
        Ok(())
    }
}

impl DefaultSuite {
    async fn execute(self) -> Result<(), String> {
        if self.iterations == 0 {
            return Err("--iterations must be at least 1".into());
        }
        let binaries = if self.binaries.is_empty() {
            default_binaries()?
        } else {
            self.binaries.clone()
        };
        for b in &binaries {
            if !b.path.is_file() {
                return Err(format!("{}: no such file {}", b.name, b.path.display()));
            }
        }
        let cgroup = self.cpu.cgroup()?;
        let cpu = describe_cpu(cgroup.as_ref());

        let work_dir = work_dir("bench")?;
        let mut runner = Runner::start(
            &work_dir,
            cgroup,
            Duration::from_secs(self.cpu.timeout_secs),
        )
        .await
        .map_err(|e| format!("cannot start the runtime API stand-in: {e}"))?;
        let plan = Plan {
            binaries,
            iterations: self.iterations,
            warmup: self.warmup,
        };
        eprintln!(
            "coldstart-bench: runtime API stand-in on {}, CPU {cpu}, work dir {}",
            runner.api.addr(),
            work_dir.display()
        );
        let result = suite::run(&mut runner, &plan).await;
        if let Some(cg) = runner.cgroup.take() {
            cg.remove();
        }
        let result =
            result.map_err(|f| format!("{f}\n(child logs are kept in {})", work_dir.display()))?;
        let _ = std::fs::remove_dir_all(&work_dir);

        println!(
            "CPU: {cpu}. Host: {}. {} measured invocations per binary after {} warm-up round(s), interleaved; run took {:.1} s.",
            host(),
            plan.iterations,
            plan.warmup,
            result.elapsed.as_secs_f64()
        );
        println!();
        print!("{}", crate::report::table(&result.series));
        Ok(())
    }
}

fn own_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    exe.parent()
        .map(PathBuf::from)
        .ok_or_else(|| format!("{} has no parent directory", exe.display()))
}

fn default_binaries() -> Result<Vec<Binary>, String> {
    let dir = own_dir()?;
    Ok(["coldstart-hello", "coldstart-superoffice"]
        .iter()
        .map(|name| Binary::new(name, dir.join(name)))
        .collect())
}

/// CPU count and model, for the report.
pub fn host() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs, {model}")
}
