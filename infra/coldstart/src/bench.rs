//! Spawning a function binary against the stand-in and timing it: one invocation per process.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::cgroup::CpuCgroup;
use crate::fixture::Fixture;
use crate::runtime_api::{Outcome, RuntimeApi};
use crate::{SESSION_TOKEN_LEN, SUBJECT};

/// How long a killed child may take to be reaped before the run gives up on it.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a binary must answer, which depends on what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `{"ok":true}`.
    Hello,
    /// `{"sub": SUBJECT, "session_len": 43}`: the token was validated and a session id made.
    SuperOffice,
}

impl Expect {
    /// Binaries whose name contains `hello` are hello functions; every other one must answer like
    /// `coldstart-superoffice`.
    pub fn for_name(name: &str) -> Self {
        if name.contains("hello") {
            Expect::Hello
        } else {
            Expect::SuperOffice
        }
    }

    pub fn body(self) -> serde_json::Value {
        match self {
            Expect::Hello => serde_json::json!({"ok": true}),
            Expect::SuperOffice => {
                serde_json::json!({"sub": SUBJECT, "session_len": SESSION_TOKEN_LEN})
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Binary {
    pub name: String,
    pub path: PathBuf,
    pub expect: Expect,
}

impl Binary {
    pub fn new(name: &str, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.to_owned(),
            path: path.into(),
            expect: Expect::for_name(name),
        }
    }
}

/// One measured invocation.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Just before spawn to the arrival of the response POST.
    pub total: Duration,
    /// Just before spawn to the event being handed out by `next` (runtime and client set up).
    pub to_next: Option<Duration>,
    /// `VmHWM` of the child just before it was killed.
    pub peak_rss_kib: Option<u64>,
}

/// Why an invocation did not count. Always fatal for the run.
#[derive(Debug)]
pub struct Failure {
    pub binary: String,
    pub what: String,
    /// The last lines the child wrote to stdout and stderr.
    pub log_tail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.binary, self.what)?;
        if !self.log_tail.is_empty() {
            write!(f, "\n--- last output of the child ---\n{}", self.log_tail)?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Everything needed to run one binary once: the stand-in, the key material, the CPU cgroup.
pub struct Runner {
    pub api: RuntimeApi,
    pub fixture: Fixture,
    pub cgroup: Option<CpuCgroup>,
    pub timeout: Duration,
    work_dir: PathBuf,
    invocations: u64,
}

enum Waited {
    Reported(Outcome),
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    StandInGone,
}

impl Runner {
    /// Starts the stand-in and writes the JWKS into `work_dir` (which must exist).
    pub async fn start(
        work_dir: &Path,
        cgroup: Option<CpuCgroup>,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        Ok(Self {
            api: RuntimeApi::start().await?,
            fixture: Fixture::create(work_dir)?,
            cgroup,
            timeout,
            work_dir: work_dir.to_owned(),
            invocations: 0,
        })
    }

    /// Spawns `binary`, hands it one event, times it to its response, checks the response, kills it.
    pub async fn run_once(&mut self, binary: &Binary) -> Result<Sample, Failure> {
        self.invocations += 1;
        if let Some(cgroup) = &self.cgroup {
            // Let a full CFS period pass with the cgroup empty, so that every child starts with the
            // whole quota of a period, as a fresh Lambda sandbox would, and not with whatever its
            // predecessor left of the current one.
            tokio::time::sleep(Duration::from_micros(cgroup.period_us)).await;
        }
        let request_id = format!("coldstart-{:06}", self.invocations);
        let log_path = self
            .work_dir
            .join(format!("{}.log", sanitize(&binary.name)));
        let fail = |what: String| Failure {
            binary: binary.name.clone(),
            what,
            log_tail: log_tail(&log_path),
        };
        let mut cmd = self.command(binary, &log_path).map_err(|e| Failure {
            binary: binary.name.clone(),
            what: format!("cannot create the log file {}: {e}", log_path.display()),
            log_tail: String::new(),
        })?;
        let event = Bytes::from(self.fixture.event().to_string());
        let arn = format!(
            "arn:aws:lambda:eu-west-1:000000000000:function:{}",
            binary.name
        );
        let armed = self.api.arm(&request_id, &arn, event);

        let started = Instant::now();
        let spawned = cmd.spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                self.api.disarm();
                return Err(fail(format!("cannot start {}: {e}", binary.path.display())));
            }
        };
        let pid = child.id();
        let waited = tokio::select! {
            biased;
            outcome = armed.outcome => match outcome {
                Ok(outcome) => Waited::Reported(outcome),
                Err(_) => Waited::StandInGone,
            },
            status = child.wait() => Waited::Exited(status),
            _ = tokio::time::sleep(self.timeout) => Waited::TimedOut,
        };

        // Read what needs the live process, then kill it.
        let peak_rss_kib = pid.and_then(peak_rss_kib);
        let confined = match (&self.cgroup, pid) {
            (Some(cg), Some(pid)) => Some(cg.contains(pid).unwrap_or(false)),
            _ => None,
        };
        let _ = child.start_kill();
        let reaped = tokio::time::timeout(REAP_TIMEOUT, child.wait()).await;
        self.api.disarm();
        if reaped.is_err() {
            return Err(fail(format!(
                "pid {pid:?} was not reaped within {REAP_TIMEOUT:?} after SIGKILL"
            )));
        }

        let (at, delivered_at, body) = match waited {
            Waited::Reported(Outcome::Response {
                at,
                delivered_at,
                body,
            }) => (at, delivered_at, body),
            Waited::Reported(Outcome::FunctionError { request_id, body }) => {
                return Err(fail(format!(
                    "the invocation {request_id} failed: {}",
                    String::from_utf8_lossy(&body)
                )));
            }
            Waited::Reported(Outcome::InitError { body }) => {
                return Err(fail(format!(
                    "initialization failed: {}",
                    String::from_utf8_lossy(&body)
                )));
            }
            Waited::Reported(Outcome::WrongRequestId { expected, found }) => {
                return Err(fail(format!(
                    "answered request id {found:?}, expected {expected:?}"
                )));
            }
            Waited::Exited(status) => {
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                return Err(fail(format!("exited before answering ({status})")));
            }
            Waited::TimedOut => {
                return Err(fail(format!("no answer within {:?}; killed", self.timeout)));
            }
            Waited::StandInGone => {
                return Err(fail(
                    "the runtime API stand-in dropped the invocation".into(),
                ));
            }
        };
        let answered: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            fail(format!(
                "the response is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        let expected = binary.expect.body();
        if answered != expected {
            return Err(fail(format!(
                "wrong response {answered}, expected {expected}"
            )));
        }
        if confined == Some(false) {
            return Err(fail(format!(
                "pid {pid:?} was not in the cpu cgroup {}",
                self.cgroup
                    .as_ref()
                    .map(|c| c.dir().display().to_string())
                    .unwrap_or_default()
            )));
        }
        Ok(Sample {
            total: at.saturating_duration_since(started),
            to_next: delivered_at.map(|d| d.saturating_duration_since(started)),
            peak_rss_kib,
        })
    }

    fn command(
        &self,
        binary: &Binary,
        log_path: &Path,
    ) -> std::io::Result<tokio::process::Command> {
        let stdout = File::create(log_path)?;
        let stderr = stdout.try_clone()?;
        let mut cmd = tokio::process::Command::new(&binary.path);
        cmd.env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", self.api.endpoint())
            .env("AWS_LAMBDA_FUNCTION_NAME", &binary.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]00000000000000000000000000000000",
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", binary.name),
            )
            .env("COLDSTART_JWKS", &self.fixture.jwks_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        if let Some(cgroup) = &self.cgroup {
            cgroup.confine(&mut cmd);
        }
        Ok(cmd)
    }
}

/// `VmHWM` (peak resident set) from `/proc/PID/status`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn log_tail(path: &Path) -> String {
    const LINES: usize = 30;
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LINES)..].join("\n")
}
