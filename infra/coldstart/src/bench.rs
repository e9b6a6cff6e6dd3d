//! Spawning a function binary against the stand-in and timing it: one invocation per process.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::apigw::HttpResponse;
use crate::cgroup::CpuCgroup;
use crate::fixture::Fixture;
use crate::runtime_api::{Outcome, RuntimeApi};
use crate::{SESSION_TOKEN_LEN, SUBJECT};

/// How long a killed child may take to be reaped before the run gives up on it.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a binary must answer, which depends on what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `{"ok":true}`.
    Hello,
    /// `{"sub": SUBJECT, "session_len": 43}`: the token was validated and a session id made.
    SuperOffice,
    /// An API Gateway HTTP API (payload format 2.0) response, see [`HttpExpect`].
    Http(HttpExpect),
}

/// What an API Gateway HTTP API response must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpExpect {
    pub status: u16,
    /// The `location` header must start with this.
    pub location_prefix: Option<String>,
    /// The `cookies` array must set a cookie of this name with a non-empty value.
    pub cookie: Option<String>,
}

impl Expect {
    /// Binaries whose name contains `hello` are hello functions; every other one must answer like
    /// `coldstart-superoffice` unless [`Binary::with_event`] says otherwise.
    pub fn for_name(name: &str) -> Self {
        if name.contains("hello") {
            Expect::Hello
        } else {
            Expect::SuperOffice
        }
    }

    /// The exact JSON body expected, for the two benchmark functions.
    pub fn body(&self) -> Option<serde_json::Value> {
        match self {
            Expect::Hello => Some(serde_json::json!({"ok": true})),
            Expect::SuperOffice => {
                Some(serde_json::json!({"sub": SUBJECT, "session_len": SESSION_TOKEN_LEN}))
            }
            Expect::Http(_) => None,
        }
    }

    /// Whether `answered` is what was expected; otherwise why not.
    pub fn check(&self, answered: &serde_json::Value) -> Result<(), String> {
        if let Some(expected) = self.body() {
            return if *answered == expected {
                Ok(())
            } else {
                Err(format!("wrong response {answered}, expected {expected}"))
            };
        }
        let Expect::Http(want) = self else {
            return Ok(());
        };
        let wrong = |why: String| Err(format!("wrong response ({why}): {}", shorten(answered)));
        let response = match HttpResponse::parse(answered) {
            Ok(r) => r,
            Err(e) => return wrong(e),
        };
        if response.status != want.status {
            return wrong(format!(
                "status {}, expected {}",
                response.status, want.status
            ));
        }
        if let Some(prefix) = &want.location_prefix
            && !response
                .header("location")
                .is_some_and(|l| l.starts_with(prefix.as_str()))
        {
            return wrong(format!("location does not start with {prefix}"));
        }
        if let Some(name) = &want.cookie
            && response.cookie(name).is_none_or(str::is_empty)
        {
            return wrong(format!("no {name} cookie"));
        }
        Ok(())
    }
}

/// At most 600 characters of a JSON value, for messages.
pub fn shorten(v: &serde_json::Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(600) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[derive(Debug, Clone)]
pub struct Binary {
    pub name: String,
    pub path: PathBuf,
    pub expect: Expect,
    /// The event of every invocation; `None`: a freshly signed token event from the [`Fixture`].
    pub event: Option<serde_json::Value>,
    /// Variables set for the child on top of the Lambda ones.
    pub env: Vec<(String, String)>,
}

impl Binary {
    pub fn new(name: &str, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.to_owned(),
            path: path.into(),
            expect: Expect::for_name(name),
            event: None,
            env: Vec::new(),
        }
    }

    /// Invoked with `event` instead of the token event, answering as `expect` says.
    pub fn with_event(mut self, event: serde_json::Value, expect: Expect) -> Self {
        self.event = Some(event);
        self.expect = expect;
        self
    }

    /// Extra environment variables for the child.
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.env = env;
        self
    }

    /// The ARN the stand-in reports as the invoked function.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:eu-west-1:000000000000:function:{}",
            sanitize(&self.name)
        )
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
        let mut cmd = command(
            &self.api,
            binary,
            &log_path,
            &self.fixture.jwks_path,
            self.cgroup.as_ref(),
        )
        .map_err(|e| Failure {
            binary: binary.name.clone(),
            what: format!("cannot create the log file {}: {e}", log_path.display()),
            log_tail: String::new(),
        })?;
        let event = match &binary.event {
            Some(event) => Bytes::from(event.to_string()),
            None => Bytes::from(self.fixture.event().to_string()),
        };
        let armed = self.api.arm(&request_id, &binary.arn(), event);

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
        binary.expect.check(&answered).map_err(fail)?;
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
}

/// The command for one child: a cleared environment with the Lambda variables, the stand-in's
/// address, the JWKS file and the binary's own variables; output to `log_path`; killed on drop;
/// confined to `cgroup` if there is one.
pub(crate) fn command(
    api: &RuntimeApi,
    binary: &Binary,
    log_path: &Path,
    jwks_path: &Path,
    cgroup: Option<&CpuCgroup>,
) -> std::io::Result<tokio::process::Command> {
    let stdout = File::create(log_path)?;
    let stderr = stdout.try_clone()?;
    let mut cmd = tokio::process::Command::new(&binary.path);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
        .env("AWS_LAMBDA_FUNCTION_NAME", sanitize(&binary.name))
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]00000000000000000000000000000000",
        )
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", sanitize(&binary.name)),
        )
        .env("COLDSTART_JWKS", jwks_path)
        .envs(binary.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    if let Some(cgroup) = cgroup {
        cgroup.confine(&mut cmd);
    }
    Ok(cmd)
}

/// `VmRSS` (resident set now) from `/proc/PID/status`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// `VmHWM` (peak resident set) from `/proc/PID/status`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `name` with everything but ASCII letters, digits, `-` and `_` replaced by `_` (file names, the
/// function name).
pub fn sanitize(name: &str) -> String {
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

/// The last 30 lines of a child's log file.
pub fn log_tail(path: &Path) -> String {
    const LINES: usize = 30;
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn login_expect() -> Expect {
        Expect::Http(HttpExpect {
            status: 303,
            location_prefix: Some("http://127.0.0.1:1/login/common/oauth/authorize".into()),
            cookie: Some("__Host-signin".into()),
        })
    }

    #[test]
    fn http_answers_are_checked_for_status_location_and_cookie() {
        let good = json!({
            "statusCode": 303,
            "headers": {"location": "http://127.0.0.1:1/login/common/oauth/authorize?x=1"},
            "cookies": ["__Host-signin=abc; Path=/; Secure"],
        });
        assert_eq!(login_expect().check(&good), Ok(()));

        let mut wrong_status = good.clone();
        wrong_status["statusCode"] = json!(503);
        let e = login_expect().check(&wrong_status).unwrap_err();
        assert!(e.contains("status 503, expected 303"), "{e}");

        let mut elsewhere = good.clone();
        elsewhere["headers"]["location"] = json!("https://evil.example/");
        assert!(login_expect().check(&elsewhere).is_err());

        let mut no_cookie = good.clone();
        no_cookie["cookies"] = json!(["__Host-signin=; Max-Age=0"]);
        let e = login_expect().check(&no_cookie).unwrap_err();
        assert!(e.contains("no __Host-signin cookie"), "{e}");

        assert!(login_expect().check(&json!({"ok": true})).is_err());
    }

    #[test]
    fn the_benchmark_functions_must_answer_exactly() {
        assert_eq!(Expect::Hello.check(&json!({"ok": true})), Ok(()));
        let e = Expect::Hello.check(&json!({"ok": false})).unwrap_err();
        assert!(e.contains("wrong response"), "{e}");
        assert_eq!(Expect::for_name("warm hello"), Expect::Hello);
        assert_eq!(Expect::for_name("superoffice-jitter"), Expect::SuperOffice);
    }
}
