//! The hook's run: every probe against the new versions, then one status to CodeDeploy.
//!
//! CodeDeploy moves no traffic until the hook reports, and waits up to an hour for it: a hook that
//! hangs or dies holds the deployment (and the stack update) for that hour. So the run never waits
//! without a bound. The probes share one budget that ends well before the hook's own Lambda deadline,
//! each invocation has its own timeout on top, and whatever happens (a wrong answer, a function error,
//! an invocation that fails or times out, a missing setting) ends in a report: `Succeeded` only when
//! every probe passed, `Failed` otherwise. Only when CodeDeploy itself cannot be told does the run
//! return an error, so Lambda retries the whole hook (it is invoked asynchronously).
//!
//! The ports are narrow so tests can fake them: [`Invoke`] calls one function version with a
//! payload and returns its answer, [`ReportStatus`] tells CodeDeploy the outcome.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::expect::Expected;
use crate::probes::{self, Function, Probe};

/// What a function version answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoked {
    /// Lambda's `FunctionError` (`Unhandled`): the function crashed or timed out.
    pub function_error: Option<String>,
    pub payload: Vec<u8>,
}

/// Why an invocation did not return an answer, by what the hook can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// Worth asking again within the budget: throttling, a service error, or a permission not yet
    /// visible (the hook's role names the new versions, and IAM takes seconds to apply a change the
    /// same stack update just made).
    #[error("{0} (tried again)")]
    TryAgain(String),
    /// Asking again will not help (the version does not exist, the payload was refused).
    #[error("{0}")]
    GiveUp(String),
}

/// Calls a function version with a payload (Lambda `Invoke`, `RequestResponse`).
pub trait Invoke: Send + Sync {
    fn invoke(
        &self,
        version_arn: &str,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<Invoked, InvokeError>> + Send;
}

/// The status a lifecycle hook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookStatus {
    Succeeded,
    Failed,
}

impl HookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HookStatus::Succeeded => "Succeeded",
            HookStatus::Failed => "Failed",
        }
    }
}

/// Why CodeDeploy could not be told, by what the hook can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Try again (throttling, a service error, a timeout).
    #[error("{0}")]
    TryAgain(String),
    /// CodeDeploy refused the report for good (the deployment is over, or the ids are not one of its
    /// hooks): nothing more to do.
    #[error("{0}")]
    Refused(String),
}

/// Tells CodeDeploy the outcome of a lifecycle hook (`PutLifecycleEventHookExecutionStatus`).
pub trait ReportStatus: Send + Sync {
    fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: HookStatus,
    ) -> impl Future<Output = Result<(), ReportError>> + Send;
}

/// The event CodeDeploy invokes a lifecycle hook with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookEvent {
    #[serde(rename = "DeploymentId")]
    pub deployment_id: String,
    #[serde(rename = "LifecycleEventHookExecutionId")]
    pub execution_id: String,
}

/// What the hook checks against, from its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub expected: Expected,
    /// The host name the synthetic requests are addressed to (the base URL's).
    pub host: String,
    /// The version to call per function.
    pub versions: BTreeMap<Function, String>,
}

/// A setting the hook cannot run without; the hook reports `Failed` with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingMissing {
    pub variable: &'static str,
    pub problem: String,
}

impl Settings {
    /// Reads `SO_ENVIRONMENT`, `SO_CLIENT_ID`, `APP_BASE_URL` (the functions' own) and one
    /// `<FUNCTION>_VERSION_ARN` per function.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingMissing> {
        let get = |variable: &'static str| {
            lookup(variable)
                .filter(|v| !v.trim().is_empty())
                .ok_or(SettingMissing {
                    variable,
                    problem: "not set".into(),
                })
        };
        let environment: superoffice::Environment = get("SO_ENVIRONMENT")?.parse().map_err(
            |e: superoffice::environment::EnvironmentError| SettingMissing {
                variable: "SO_ENVIRONMENT",
                problem: e.to_string(),
            },
        )?;
        let client_id = get("SO_CLIENT_ID")?;
        let base_url = get("APP_BASE_URL")?;
        let host = url::Url::parse(&base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or(SettingMissing {
                variable: "APP_BASE_URL",
                problem: "not an absolute URL".into(),
            })?;
        let mut versions = BTreeMap::new();
        for function in Function::ALL {
            let arn = get(function.variable())?;
            // A qualified ARN ends in the version number: the hook never calls $LATEST or an alias
            // (the alias still points at the old version while the hook runs).
            let qualified = arn
                .rsplit(':')
                .next()
                .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            if !arn.starts_with("arn:") || !qualified {
                return Err(SettingMissing {
                    variable: function.variable(),
                    problem: "not the ARN of a published version".into(),
                });
            }
            versions.insert(function, arn);
        }
        Ok(Self {
            expected: Expected::new(&environment.issuer(), Some(&client_id), &base_url),
            host,
            versions,
        })
    }
}

/// The longest the probes may take together, retries included, whatever the hook's Lambda timeout
/// would allow: long enough for a cold, slow function (10 s timeout) to answer after one retry.
pub const MAX_PROBES: Duration = Duration::from_secs(40);

/// How long the hook gives itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// All probes together, retries included.
    pub probes: Duration,
    /// Reporting to CodeDeploy, retries included.
    pub report: Duration,
}

impl Budget {
    /// The budget for a run that must end by `remaining` from now (the Lambda deadline): the report
    /// keeps up to 10 s of it (a third when less is left), two seconds stay spare, and the probes get
    /// the rest up to `max_probes`.
    pub fn within(remaining: Duration, max_probes: Duration) -> Self {
        let report = Duration::from_secs(10).min(remaining / 3);
        let margin = Duration::from_secs(2);
        let probes = remaining.saturating_sub(report + margin).min(max_probes);
        Self { probes, report }
    }
}

/// One probe's outcome, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub probe: &'static str,
    pub function: Function,
    pub verdict: Result<String, String>,
}

/// The whole run's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: HookStatus,
    pub probes: Vec<ProbeOutcome>,
    /// Why nothing was probed (a missing setting), if so.
    pub setup: Option<String>,
}

/// The run could not tell CodeDeploy: Lambda should run the hook again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("the event is not a CodeDeploy lifecycle hook event: {0}")]
    NotAHookEvent(String),
    #[error("CodeDeploy could not be told the outcome ({status}): {reason}")]
    NotReported {
        status: &'static str,
        reason: String,
    },
}

/// Runs the probes and reports; returns what was reported.
pub async fn run<I: Invoke, R: ReportStatus>(
    invoker: &I,
    reporter: &R,
    settings: Result<Settings, SettingMissing>,
    event: serde_json::Value,
    budget: Budget,
) -> Result<Outcome, HookError> {
    let event: HookEvent =
        serde_json::from_value(event).map_err(|e| HookError::NotAHookEvent(e.to_string()))?;
    let outcome = match settings {
        Ok(settings) => probe_all(invoker, &settings, budget.probes).await,
        Err(missing) => Outcome {
            status: HookStatus::Failed,
            probes: Vec::new(),
            setup: Some(missing.to_string()),
        },
    };
    log(&event, &outcome);
    report(reporter, &event, outcome.status, budget.report).await?;
    Ok(outcome)
}

async fn probe_all<I: Invoke>(invoker: &I, settings: &Settings, budget: Duration) -> Outcome {
    let deadline = Instant::now() + budget;
    let all = probes::probes();
    let runs = all
        .iter()
        .enumerate()
        .map(|(i, probe)| probe_one(invoker, settings, probe, i, deadline));
    // At once, not one after the other: the run takes as long as the slowest probe.
    let probes: Vec<ProbeOutcome> = futures_util::future::join_all(runs).await;
    let status = if probes.iter().all(|p| p.verdict.is_ok()) {
        HookStatus::Succeeded
    } else {
        HookStatus::Failed
    };
    Outcome {
        status,
        probes,
        setup: None,
    }
}

async fn probe_one<I: Invoke>(
    invoker: &I,
    settings: &Settings,
    probe: &Probe,
    index: usize,
    deadline: Instant,
) -> ProbeOutcome {
    let verdict = match settings.versions.get(&probe.function) {
        None => Err(format!("no version of {} to call", probe.function.name())),
        Some(arn) => {
            let request_id = format!("deploy-check-{index}");
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
            let payload = probe.payload(&settings.host, &request_id, now_ms);
            match invoke_until(invoker, arn, payload, deadline).await {
                Err(reason) => Err(reason),
                Ok(Invoked {
                    function_error: Some(kind),
                    ..
                }) => Err(format!(
                    "the function failed ({kind}): see its log for request {request_id}"
                )),
                Ok(Invoked { payload, .. }) => probe.check(&payload, &settings.expected),
            }
        }
    };
    ProbeOutcome {
        probe: probe.name,
        function: probe.function,
        verdict,
    }
}

/// Invokes, asking again after `TryAgain` with a growing pause, until an answer, a `GiveUp`, or the
/// deadline.
async fn invoke_until<I: Invoke>(
    invoker: &I,
    arn: &str,
    payload: Vec<u8>,
    deadline: Instant,
) -> Result<Invoked, String> {
    let mut pause = Duration::from_millis(500);
    let mut last = String::from("no answer");
    loop {
        match tokio::time::timeout_at(deadline, invoker.invoke(arn, payload.clone())).await {
            Err(_) => return Err(format!("no answer within the hook's budget ({last})")),
            Ok(Ok(invoked)) => return Ok(invoked),
            Ok(Err(InvokeError::GiveUp(reason))) => return Err(reason),
            Ok(Err(InvokeError::TryAgain(reason))) => last = reason,
        }
        if Instant::now() + pause >= deadline {
            return Err(format!("no answer within the hook's budget: {last}"));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(4));
    }
}

async fn report<R: ReportStatus>(
    reporter: &R,
    event: &HookEvent,
    status: HookStatus,
    budget: Duration,
) -> Result<(), HookError> {
    let deadline = Instant::now() + budget;
    let mut pause = Duration::from_millis(300);
    let not_reported = |reason: String| HookError::NotReported {
        status: status.as_str(),
        reason,
    };
    loop {
        let attempt = reporter.report(&event.deployment_id, &event.execution_id, status);
        match tokio::time::timeout_at(deadline, attempt).await {
            Err(_) => return Err(not_reported("no answer from CodeDeploy in time".into())),
            Ok(Ok(())) => return Ok(()),
            Ok(Err(ReportError::Refused(reason))) => {
                // Nothing to retry: the deployment no longer waits for this hook.
                tracing::warn!(
                    deployment = %event.deployment_id,
                    reason = "report_refused",
                    error = %reason,
                    "CodeDeploy refused the hook's status"
                );
                return Ok(());
            }
            Ok(Err(ReportError::TryAgain(reason))) => {
                if Instant::now() + pause >= deadline {
                    return Err(not_reported(reason));
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

/// One line per probe and one for the outcome: what was seen or why it is wrong (never a token,
/// cookie or sign-in value: the verdicts do not carry them).
fn log(event: &HookEvent, outcome: &Outcome) {
    if let Some(setup) = &outcome.setup {
        tracing::error!(deployment = %event.deployment_id, reason = "setting_missing", problem = %setup, "deploy check cannot run");
    }
    for p in &outcome.probes {
        match &p.verdict {
            Ok(seen) => tracing::info!(
                deployment = %event.deployment_id,
                probe = p.probe,
                function = p.function.name(),
                result = "pass",
                detail = %seen,
                "deploy check"
            ),
            Err(why) => tracing::error!(
                deployment = %event.deployment_id,
                probe = p.probe,
                function = p.function.name(),
                result = "fail",
                detail = %why,
                "deploy check"
            ),
        }
    }
    tracing::info!(
        deployment = %event.deployment_id,
        status = outcome.status.as_str(),
        "deploy check finished"
    );
}
