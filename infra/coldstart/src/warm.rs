//! A long-lived function process: spawned once, then invoked again and again through its own
//! Runtime API stand-in, the way one Lambda execution environment serves request after request.
//!
//! Each invocation is timed from the moment the stand-in hands the event out (the process was
//! waiting in `next`) to the moment its response POST arrives: the time the function spent on the
//! request, with no process start in it.
//!
//! Under a CPU quota every warm process has a cgroup of its own (a sandbox does not share its CPU
//! with another), and each invocation is armed only after one idle CFS period, so the process
//! starts it with its whole quota, like a request arriving at an idle warm sandbox.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::bench::{self, Binary, Failure};
use crate::cgroup::CpuCgroup;
use crate::runtime_api::{Outcome, RuntimeApi};

/// One answered invocation.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The event was handed out by `next`.
    pub delivered_at: Instant,
    /// The response POST arrived.
    pub answered_at: Instant,
    pub body: serde_json::Value,
}

impl Invoked {
    pub fn duration(&self) -> Duration {
        self.answered_at
            .saturating_duration_since(self.delivered_at)
    }
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmHWM`: the peak resident set so far.
    pub peak_kib: Option<u64>,
    /// `VmRSS`: the resident set now.
    pub rss_kib: Option<u64>,
}

pub struct WarmProcess {
    api: RuntimeApi,
    binary: Binary,
    child: tokio::process::Child,
    pid: Option<u32>,
    log_path: PathBuf,
    timeout: Duration,
    /// One CFS period, waited before each invocation under a quota.
    rest: Option<Duration>,
    invocations: u64,
}

impl WarmProcess {
    /// Starts `binary` against a stand-in of its own, in `cgroup` if there is one (which should be
    /// its own); it waits in `next` until the first [`WarmProcess::invoke`]. Its output goes to
    /// `work_dir/{name}.log`.
    pub async fn spawn(
        binary: &Binary,
        work_dir: &Path,
        jwks_path: &Path,
        cgroup: Option<&CpuCgroup>,
        timeout: Duration,
    ) -> Result<Self, Failure> {
        let fail = |what: String| Failure {
            binary: binary.name.clone(),
            what,
            log_tail: String::new(),
        };
        let api = RuntimeApi::start()
            .await
            .map_err(|e| fail(format!("cannot start a runtime API stand-in: {e}")))?;
        let log_path = work_dir.join(format!("{}.log", bench::sanitize(&binary.name)));
        let mut cmd = bench::command(&api, binary, &log_path, jwks_path, cgroup)
            .map_err(|e| fail(format!("cannot create {}: {e}", log_path.display())))?;
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}", binary.path.display())))?;
        let pid = child.id();
        if let Some(cg) = cgroup
            && !pid.is_some_and(|pid| cg.contains(pid).unwrap_or(false))
        {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            return Err(fail(format!(
                "pid {pid:?} was not in the cpu cgroup {}",
                cg.dir().display()
            )));
        }
        Ok(Self {
            api,
            binary: binary.clone(),
            pid,
            child,
            log_path,
            timeout,
            rest: cgroup.map(|cg| Duration::from_micros(cg.period_us)),
            invocations: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.binary.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// A failure of this process, with the end of its log.
    pub fn failure(&self, what: String) -> Failure {
        Failure {
            binary: self.binary.name.clone(),
            what,
            log_tail: bench::log_tail(&self.log_path),
        }
    }

    /// Hands `event` to the process and waits for its answer. An error report, an exit or no answer
    /// within the timeout is a failure; the body is returned as it came, unchecked.
    pub async fn invoke(&mut self, event: &serde_json::Value) -> Result<Invoked, Failure> {
        if let Some(rest) = self.rest {
            tokio::time::sleep(rest).await;
        }
        self.invocations += 1;
        let request_id = format!(
            "warm-{}-{:06}",
            bench::sanitize(&self.binary.name),
            self.invocations
        );
        let armed = self.api.arm(
            &request_id,
            &self.binary.arn(),
            Bytes::from(event.to_string()),
        );
        let outcome = tokio::select! {
            biased;
            outcome = armed.outcome => outcome.map_err(|_| {
                "the runtime API stand-in dropped the invocation".to_owned()
            }),
            status = self.child.wait() => {
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                Err(format!("exited before answering invocation {} ({status})", self.invocations))
            }
            _ = tokio::time::sleep(self.timeout) => Err(format!(
                "no answer to invocation {} within {:?}",
                self.invocations, self.timeout
            )),
        };
        let outcome = outcome.map_err(|what| self.failure(what))?;
        match outcome {
            Outcome::Response {
                at,
                delivered_at,
                body,
            } => {
                let body = serde_json::from_slice(&body).map_err(|e| {
                    self.failure(format!(
                        "the response is not JSON ({e}): {}",
                        String::from_utf8_lossy(&body)
                    ))
                })?;
                Ok(Invoked {
                    delivered_at: delivered_at.unwrap_or(at),
                    answered_at: at,
                    body,
                })
            }
            Outcome::FunctionError { request_id, body } => Err(self.failure(format!(
                "the invocation {request_id} failed: {}",
                String::from_utf8_lossy(&body)
            ))),
            Outcome::InitError { body } => Err(self.failure(format!(
                "initialization failed: {}",
                String::from_utf8_lossy(&body)
            ))),
            Outcome::WrongRequestId { expected, found } => Err(self.failure(format!(
                "answered request id {found:?}, expected {expected:?}"
            ))),
        }
    }

    /// `VmHWM` and `VmRSS` of the process now.
    pub fn memory(&self) -> Memory {
        Memory {
            peak_kib: self.pid.and_then(bench::peak_rss_kib),
            rss_kib: self.pid.and_then(bench::rss_kib),
        }
    }

    /// Kills the process and waits for it; then releases the stand-in's held `next`.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        self.api.disarm();
    }
}
