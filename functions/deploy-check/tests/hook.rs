//! The hook's run against a fake Lambda (answers per function version, as the functions answer
//! behind API Gateway) and a fake CodeDeploy (records every status it is told): it reports
//! `Succeeded` only when every probe passed, `Failed` for a wrong answer, a crashed function, an
//! invocation that fails or never answers, or a missing setting, and it never waits past its budget.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use deploy_check::hook::{
    self, Budget, HookError, HookStatus, Invoke, InvokeError, Invoked, ReportError, ReportStatus,
    Settings,
};
use deploy_check::probes::Function;
use serde_json::{Value, json};

const CLIENT_ID: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const BASE: &str = "https://app.example.com";

fn arn(f: Function) -> String {
    format!(
        "arn:aws:lambda:eu-west-1:123456789012:function:superoffice-app-sod-{}:7",
        f.name()
    )
}

fn variables() -> BTreeMap<String, String> {
    let mut v: BTreeMap<String, String> = [
        ("SO_ENVIRONMENT", "sod"),
        ("SO_CLIENT_ID", CLIENT_ID),
        ("APP_BASE_URL", BASE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for f in Function::ALL {
        v.insert(f.variable().to_owned(), arn(f));
    }
    v
}

fn settings() -> Settings {
    let v = variables();
    Settings::from_lookup(|n| v.get(n).cloned()).unwrap()
}

fn event() -> Value {
    json!({"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "exec-1"})
}

fn budget() -> Budget {
    Budget {
        probes: Duration::from_secs(30),
        report: Duration::from_secs(10),
    }
}

/// What each function answers, like the real ones behind API Gateway.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Right,
    /// `/login` redirects to another environment's sign-in.
    WrongIssuer,
    /// The webhook receiver accepts an unsigned delivery.
    AcceptsUnsigned,
    /// Lambda reports `FunctionError: Unhandled` for this function.
    Crashes(Function),
    /// This function's invocation never returns.
    Hangs(Function),
    /// Lambda refuses to invoke this function for good.
    Missing(Function),
    /// The first `n` invocations of every function are denied (IAM not yet applied).
    DeniedFirst(usize),
    /// An error page that shows a panic.
    LeaksPanic,
}

struct FakeLambda {
    behaviour: Behaviour,
    calls: Mutex<Vec<(String, Value)>>,
}

impl FakeLambda {
    fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            calls: Mutex::new(Vec::new()),
        }
    }
}

fn http(status: u16, headers: Value, cookies: Value, body: &str) -> Vec<u8> {
    json!({"statusCode": status, "headers": headers, "cookies": cookies, "body": body, "isBase64Encoded": false})
        .to_string()
        .into_bytes()
}

const SECURE: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'self' https://*.superoffice.com; base-uri 'none'",
    ),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

fn headers(extra: &[(&str, &str)]) -> Value {
    let mut h = serde_json::Map::new();
    for (k, v) in SECURE.iter().chain(extra) {
        h.insert((*k).into(), json!(v));
    }
    Value::Object(h)
}

impl FakeLambda {
    fn answer(&self, function: &str, event: &Value) -> Vec<u8> {
        if function.ends_with("-worker") {
            assert_eq!(event, &json!({"Records": []}));
            return br#"{"batchItemFailures":[]}"#.to_vec();
        }
        let method = event["requestContext"]["http"]["method"].as_str().unwrap();
        let path = event["rawPath"].as_str().unwrap();
        assert_eq!(event["headers"]["host"], "app.example.com");
        match (method, path) {
            ("GET", "/") => {
                let body = if self.behaviour == Behaviour::LeaksPanic {
                    "thread 'main' panicked at functions/redirect/src/home.rs:12:5 <a href=\"/login\">"
                } else {
                    "<h1>Sign in</h1><a href=\"/login\">Sign in</a>"
                };
                http(
                    200,
                    headers(&[("content-type", "text/html; charset=utf-8")]),
                    json!([]),
                    body,
                )
            }
            ("GET", "/login") => {
                let issuer = if self.behaviour == Behaviour::WrongIssuer {
                    "https://online.superoffice.com"
                } else {
                    "https://sod.superoffice.com"
                };
                let location = format!(
                    "{issuer}/login/common/oauth/authorize?client_id={CLIENT_ID}&scope=openid&response_type=code&response_mode=form_post&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&state=st&nonce=no&code_challenge=cc&code_challenge_method=S256"
                );
                http(
                    303,
                    headers(&[("location", &location)]),
                    json!([
                        "__Host-signin-st=v; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=600"
                    ]),
                    "",
                )
            }
            ("GET", "/install") => http(
                303,
                headers(&[("location", "/login?intent=install&return=/install")]),
                json!([]),
                "",
            ),
            ("POST", "/state-change") => {
                let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
                assert_eq!(body["Token"].as_str().unwrap().split('.').count(), 3);
                http(
                    401,
                    json!({"content-type": "text/plain"}),
                    json!([]),
                    "not verified\n",
                )
            }
            ("POST", p) if p.starts_with("/webhooks/superoffice/") => {
                assert!(event["headers"].get("x-superoffice-signature").is_none());
                if self.behaviour == Behaviour::AcceptsUnsigned {
                    http(200, json!({}), json!([]), "ok\n")
                } else {
                    http(401, json!({}), json!([]), "signature required\n")
                }
            }
            other => panic!("unexpected probe {other:?}"),
        }
    }
}

impl Invoke for FakeLambda {
    async fn invoke(&self, version_arn: &str, payload: Vec<u8>) -> Result<Invoked, InvokeError> {
        let event: Value = serde_json::from_slice(&payload).unwrap();
        let function = version_arn
            .strip_suffix(":7")
            .expect("only the published version is called, never the alias or $LATEST")
            .to_owned();
        let earlier = {
            let mut calls = self.calls.lock().unwrap();
            let earlier = calls.iter().filter(|(f, _)| f == &function).count();
            calls.push((function.clone(), event.clone()));
            earlier
        };
        let is = |f: Function| function.ends_with(&format!("-{}", f.name()));
        match self.behaviour {
            Behaviour::Crashes(f) if is(f) => {
                return Ok(Invoked {
                    function_error: Some("Unhandled".into()),
                    payload: br#"{"errorType":"Runtime.ExitError"}"#.to_vec(),
                });
            }
            Behaviour::Hangs(f) if is(f) => std::future::pending::<()>().await,
            Behaviour::Missing(f) if is(f) => {
                return Err(InvokeError::GiveUp(
                    "Invoke failed: ResourceNotFoundException".into(),
                ));
            }
            Behaviour::DeniedFirst(n) if earlier < n => {
                return Err(InvokeError::TryAgain(
                    "Invoke failed: AccessDeniedException".into(),
                ));
            }
            _ => {}
        }
        Ok(Invoked {
            function_error: None,
            payload: self.answer(&function, &event),
        })
    }
}

/// CodeDeploy: records each status; fails the first `fail_first` reports (or every one).
struct FakeCodeDeploy {
    told: Mutex<Vec<(String, String, HookStatus)>>,
    fail_first: usize,
    refuse: bool,
    attempts: Mutex<usize>,
}

impl FakeCodeDeploy {
    fn new() -> Self {
        Self::failing(0)
    }
    fn failing(n: usize) -> Self {
        Self {
            told: Mutex::new(Vec::new()),
            fail_first: n,
            refuse: false,
            attempts: Mutex::new(0),
        }
    }
    fn told(&self) -> Vec<(String, String, HookStatus)> {
        self.told.lock().unwrap().clone()
    }
}

impl ReportStatus for FakeCodeDeploy {
    async fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: HookStatus,
    ) -> Result<(), ReportError> {
        let attempt = {
            let mut a = self.attempts.lock().unwrap();
            *a += 1;
            *a
        };
        if self.refuse {
            return Err(ReportError::Refused(
                "LifecycleEventAlreadyCompletedException".into(),
            ));
        }
        if attempt <= self.fail_first {
            return Err(ReportError::TryAgain("ThrottlingException".into()));
        }
        self.told
            .lock()
            .unwrap()
            .push((deployment_id.into(), execution_id.into(), status));
        Ok(())
    }
}

async fn run_with(behaviour: Behaviour) -> (hook::Outcome, Vec<(String, String, HookStatus)>) {
    let lambda = FakeLambda::new(behaviour);
    let codedeploy = FakeCodeDeploy::new();
    let outcome = hook::run(&lambda, &codedeploy, Ok(settings()), event(), budget())
        .await
        .unwrap();
    (outcome, codedeploy.told())
}

fn failed_probes(outcome: &hook::Outcome) -> Vec<(&'static str, String)> {
    outcome
        .probes
        .iter()
        .filter_map(|p| p.verdict.clone().err().map(|e| (p.probe, e)))
        .collect()
}

#[tokio::test]
async fn right_answers_from_every_new_version_report_succeeded_once() {
    let lambda = FakeLambda::new(Behaviour::Right);
    let codedeploy = FakeCodeDeploy::new();
    let outcome = hook::run(&lambda, &codedeploy, Ok(settings()), event(), budget())
        .await
        .unwrap();
    assert_eq!(failed_probes(&outcome), Vec::new());
    assert_eq!(outcome.status, HookStatus::Succeeded);
    assert_eq!(
        codedeploy.told(),
        vec![(
            "d-ABCDEF123".to_owned(),
            "exec-1".to_owned(),
            HookStatus::Succeeded
        )]
    );
    // Every function's new version was called, and only its published version.
    let called: std::collections::BTreeSet<String> = lambda
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(f, _)| f.clone())
        .collect();
    assert_eq!(called.len(), Function::ALL.len(), "{called:?}");
}

#[tokio::test]
async fn a_sign_in_redirect_to_another_environment_fails_the_deployment() {
    let (outcome, told) = run_with(Behaviour::WrongIssuer).await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].2, HookStatus::Failed);
    let failed = failed_probes(&outcome);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "sign-in redirect");
    assert!(
        failed[0]
            .1
            .contains("https://sod.superoffice.com/login/common/oauth/authorize")
    );
    assert!(
        !failed[0].1.contains("state="),
        "no sign-in values in the reason"
    );
}

#[tokio::test]
async fn a_webhook_receiver_that_accepts_an_unsigned_delivery_fails_the_deployment() {
    let (outcome, told) = run_with(Behaviour::AcceptsUnsigned).await;
    assert_eq!(told[0].2, HookStatus::Failed);
    assert_eq!(
        failed_probes(&outcome),
        vec![(
            "unsigned webhook",
            "a forged request was not refused: answered 200 instead of 401".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_page_that_shows_a_panic_fails_the_deployment() {
    let (outcome, told) = run_with(Behaviour::LeaksPanic).await;
    assert_eq!(told[0].2, HookStatus::Failed);
    let failed = failed_probes(&outcome);
    assert_eq!(failed[0].0, "front page");
    assert!(failed[0].1.contains("internals"), "{failed:?}");
}

#[tokio::test]
async fn a_crashed_or_missing_version_fails_the_deployment() {
    let (outcome, told) = run_with(Behaviour::Crashes(Function::Lifecycle)).await;
    assert_eq!(told[0].2, HookStatus::Failed);
    let failed = failed_probes(&outcome);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "forged state change");
    assert!(failed[0].1.contains("Unhandled"), "{failed:?}");

    let (outcome, told) = run_with(Behaviour::Missing(Function::Worker)).await;
    assert_eq!(told[0].2, HookStatus::Failed);
    assert_eq!(failed_probes(&outcome)[0].0, "worker starts");
}

#[tokio::test(start_paused = true)]
async fn a_version_that_never_answers_fails_within_the_budget() {
    let lambda = FakeLambda::new(Behaviour::Hangs(Function::Install));
    let codedeploy = FakeCodeDeploy::new();
    let started = tokio::time::Instant::now();
    let outcome = hook::run(&lambda, &codedeploy, Ok(settings()), event(), budget())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took <= budget().probes + Duration::from_secs(1),
        "took {took:?}"
    );
    assert_eq!(codedeploy.told()[0].2, HookStatus::Failed);
    let failed = failed_probes(&outcome);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "install needs sign-in");
    assert!(failed[0].1.contains("budget"), "{failed:?}");
}

#[tokio::test(start_paused = true)]
async fn a_permission_not_yet_applied_is_asked_again_and_then_passes() {
    let lambda = FakeLambda::new(Behaviour::DeniedFirst(2));
    let codedeploy = FakeCodeDeploy::new();
    let outcome = hook::run(&lambda, &codedeploy, Ok(settings()), event(), budget())
        .await
        .unwrap();
    assert_eq!(failed_probes(&outcome), Vec::new());
    assert_eq!(codedeploy.told()[0].2, HookStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn a_permission_that_never_comes_fails_within_the_budget() {
    let lambda = FakeLambda::new(Behaviour::DeniedFirst(usize::MAX));
    let codedeploy = FakeCodeDeploy::new();
    let started = tokio::time::Instant::now();
    let outcome = hook::run(&lambda, &codedeploy, Ok(settings()), event(), budget())
        .await
        .unwrap();
    assert!(started.elapsed() <= budget().probes + Duration::from_secs(1));
    assert_eq!(codedeploy.told()[0].2, HookStatus::Failed);
    let failed = failed_probes(&outcome);
    assert_eq!(failed.len(), 6, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|(_, why)| why.contains("AccessDeniedException"))
    );
}

#[tokio::test]
async fn a_missing_setting_is_reported_as_failed_without_calling_anything() {
    let mut v = variables();
    v.remove("WEBHOOKS_VERSION_ARN");
    let settings = Settings::from_lookup(|n| v.get(n).cloned());
    let lambda = FakeLambda::new(Behaviour::Right);
    let codedeploy = FakeCodeDeploy::new();
    let outcome = hook::run(&lambda, &codedeploy, settings, event(), budget())
        .await
        .unwrap();
    assert_eq!(outcome.status, HookStatus::Failed);
    assert!(outcome.setup.unwrap().contains("WEBHOOKS_VERSION_ARN"));
    assert!(lambda.calls.lock().unwrap().is_empty());
    assert_eq!(codedeploy.told()[0].2, HookStatus::Failed);
}

#[test]
fn only_published_versions_of_a_superoffice_environment_are_accepted() {
    for (name, value) in [
        (
            "REDIRECT_VERSION_ARN",
            "arn:aws:lambda:eu-west-1:1:function:x-redirect:live",
        ),
        (
            "REDIRECT_VERSION_ARN",
            "arn:aws:lambda:eu-west-1:1:function:x-redirect",
        ),
        (
            "REDIRECT_VERSION_ARN",
            "arn:aws:lambda:eu-west-1:1:function:x-redirect:$LATEST",
        ),
        ("SO_ENVIRONMENT", "http://example.com"),
        ("APP_BASE_URL", "not a url"),
    ] {
        let mut v = variables();
        v.insert(name.into(), value.into());
        let e = Settings::from_lookup(|n| v.get(n).cloned()).unwrap_err();
        assert_eq!(e.variable, name, "{value}");
    }
    let s = settings();
    assert_eq!(s.host, "app.example.com");
    assert_eq!(s.expected.issuer, "https://sod.superoffice.com");
    let v = {
        let mut v = variables();
        v.insert("SO_ENVIRONMENT".into(), "qaonline".into());
        v
    };
    let stage = Settings::from_lookup(|n| v.get(n).cloned()).unwrap();
    assert_eq!(stage.expected.issuer, "https://qaonline.superoffice.com");
}

#[tokio::test(start_paused = true)]
async fn codedeploy_is_asked_again_when_busy_and_the_run_errs_when_it_never_answers() {
    let lambda = FakeLambda::new(Behaviour::Right);
    let busy = FakeCodeDeploy::failing(2);
    hook::run(&lambda, &busy, Ok(settings()), event(), budget())
        .await
        .unwrap();
    assert_eq!(busy.told().len(), 1);

    // Lambda runs the hook again after an error (asynchronous invocation): that is the way out when
    // CodeDeploy cannot be told at all.
    let down = FakeCodeDeploy::failing(usize::MAX);
    let started = tokio::time::Instant::now();
    let e = hook::run(&lambda, &down, Ok(settings()), event(), budget())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            HookError::NotReported {
                status: "Succeeded",
                ..
            }
        ),
        "{e}"
    );
    assert!(started.elapsed() <= budget().probes + budget().report + Duration::from_secs(1));

    // A report CodeDeploy refuses for good (the deployment moved on) is not retried.
    let mut refusing = FakeCodeDeploy::new();
    refusing.refuse = true;
    hook::run(&lambda, &refusing, Ok(settings()), event(), budget())
        .await
        .unwrap();
    assert_eq!(*refusing.attempts.lock().unwrap(), 1);
}

#[tokio::test]
async fn an_event_without_codedeploys_ids_is_an_error_and_reports_nothing() {
    let lambda = FakeLambda::new(Behaviour::Right);
    let codedeploy = FakeCodeDeploy::new();
    let e = hook::run(
        &lambda,
        &codedeploy,
        Ok(settings()),
        json!({"Records": []}),
        budget(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, HookError::NotAHookEvent(_)));
    assert!(codedeploy.told().is_empty());
    assert!(lambda.calls.lock().unwrap().is_empty());
}

#[test]
fn the_budget_leaves_time_to_report_before_the_lambda_deadline() {
    let b = Budget::within(Duration::from_secs(60), Duration::from_secs(40));
    assert_eq!(b.probes, Duration::from_secs(40));
    let b = Budget::within(Duration::from_secs(30), Duration::from_secs(40));
    assert!(b.probes + b.report < Duration::from_secs(30), "{b:?}");
    let b = Budget::within(Duration::from_secs(5), Duration::from_secs(40));
    assert!(b.probes + b.report < Duration::from_secs(5), "{b:?}");
}
