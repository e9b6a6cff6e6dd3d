//! `soapp smoke` as the pipeline runs it, against `soapp serve`'s app on loopback: every check passes
//! (and the install round trip installs, manages and uninstalls in the simulator's tenant); against
//! deliberately broken setups exactly the checks that should fail do, with exit 1; usage problems
//! exit 2 before anything is asked of anyone.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use soapp::local::{self, DEMO_CLIENT_ID, LocalApp, ServeOptions, SuperOfficeTarget};

/// Every check `soapp smoke` runs without a tenant, by name.
const CHECKS: &[&str] = &[
    "https",
    "superoffice",
    "front page",
    "front page by HEAD",
    "stylesheet",
    "sign-in redirect",
    "install link",
    "manage link",
    "web panel",
    "callback by GET",
    "forged callback",
    "forged state change",
    "unsigned webhook",
    "forged webhook signature",
    "unknown path",
];

/// The round trip's checks, with `--tenant`.
const TENANT_CHECKS: &[&str] = &[
    "tenant sign-in",
    "tenant install",
    "management page",
    "tenant uninstall",
];

async fn serve(data: &std::path::Path, public_url: Option<String>) -> LocalApp {
    local::start(ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.to_owned(),
        superoffice: SuperOfficeTarget::Simulator,
        public_url,
        manifest: None,
        settings: Vec::new(),
    })
    .await
    .expect("the local app starts")
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The tag (`ok`, `warn`, `FAIL`) of the line for check `name`.
    fn outcome(&self, name: &str) -> Option<&str> {
        let padded = format!("{name:<18} ");
        self.stdout
            .lines()
            .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(&padded)))
            .map(|l| l[..4].trim())
    }

    /// The checks that failed.
    fn failed(&self) -> Vec<&str> {
        CHECKS
            .iter()
            .chain(TENANT_CHECKS)
            .copied()
            .filter(|c| self.outcome(c) == Some("FAIL"))
            .collect()
    }

    fn line(&self, name: &str) -> &str {
        let padded = format!("{name:<18} ");
        self.stdout
            .lines()
            .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(&padded)))
            .unwrap_or("")
    }
}

/// Runs the `soapp` binary (off the test's runtime, which serves the app meanwhile).
async fn smoke(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_soapp"))
            .arg("smoke")
            .args(&args)
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .output()
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

fn args(url: &str, issuer: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--url",
        url,
        "--issuer",
        issuer,
        "--client-id",
        DEMO_CLIENT_ID,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_against_the_local_runner_and_the_round_trip_installs_and_uninstalls() {
    let data = tempfile::tempdir().unwrap();
    let app = serve(data.path(), None).await;
    let issuer = app.simulator.as_ref().unwrap().issuer();

    let run = smoke(args(
        &app.url,
        &issuer,
        &[
            "--tenant",
            "Cust12345",
            "--user",
            "ada@demo.example",
            "--tenant-wait",
            "60",
        ],
    ))
    .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    for check in CHECKS.iter().chain(TENANT_CHECKS) {
        let expected = if *check == "https" { "warn" } else { "ok" };
        assert_eq!(
            run.outcome(check),
            Some(expected),
            "{check}:\n{}",
            run.stdout
        );
    }
    // One line per check, nothing else on stdout.
    assert_eq!(
        run.stdout.lines().count(),
        CHECKS.len() + TENANT_CHECKS.len(),
        "{}",
        run.stdout
    );
    assert!(
        run.line("sign-in redirect").contains(DEMO_CLIENT_ID),
        "{}",
        run.line("sign-in redirect")
    );
    // Nothing secret in the output: no cookie, no token, not the client secret.
    let secret = std::fs::read_to_string(data.path().join("simulator/client-secret")).unwrap();
    for needle in ["__Host-", "eyJ", "state=", "code=", secret.trim()] {
        assert!(!run.stdout.contains(needle), "the output shows {needle:?}");
        assert!(!run.stderr.contains(needle), "stderr shows {needle:?}");
    }
    // The tenant holds nothing of the app afterwards, and the app nothing of the tenant but the
    // audit record (the uninstall's promise; checked in detail by tests/uninstall_flow.rs).
    let tenants = domain::tenant::Tenants::new(app.items.clone());
    let tenant = superoffice::TenantId::parse("Cust12345").unwrap();
    assert!(tenants.get(&tenant, 0).await.unwrap().is_none());

    // Without a tenant, the same checks and no round trip.
    let run = smoke(args(&app.url, &issuer, &[])).await;
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.stdout.lines().count(), CHECKS.len(), "{}", run.stdout);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_environment_or_another_client_fails_exactly_the_sign_in_checks() {
    let data = tempfile::tempdir().unwrap();
    let app = serve(data.path(), None).await;
    let issuer = app.simulator.as_ref().unwrap().issuer();

    // The deployment signs in for the demo client; the pipeline expected another one.
    let mut wrong_client = args(&app.url, &issuer, &[]);
    wrong_client[5] = "ffffffffffffffffffffffffffffffff".into();
    let run = smoke(wrong_client).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(run.failed(), vec!["sign-in redirect"], "{}", run.stdout);
    assert!(run.line("sign-in redirect").contains("for client"));

    // The pipeline expected another SuperOffice (an issuer where nothing answers): its discovery
    // fails, and the sign-in goes somewhere else.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = format!("http://{}", elsewhere.local_addr().unwrap());
    drop(elsewhere);
    let run = smoke(args(&app.url, &other, &["--timeout", "3"])).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(
        run.failed(),
        vec!["superoffice", "sign-in redirect"],
        "{}",
        run.stdout
    );
    assert!(
        run.line("sign-in redirect")
            .contains(&format!("instead of {other}/login/common/oauth/authorize")),
        "{}",
        run.line("sign-in redirect")
    );
    app.stop().await;
}

/// What the stand-in in front of the app breaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Drops the Content-Security-Policy header from every answer.
    DropsCsp,
    /// Answers webhook deliveries 200 whatever their signature, and an unknown path with a panic.
    AcceptsWebhooksAndLeaks,
}

struct Proxy {
    app: String,
    fault: Fault,
    client: reqwest::Client,
}

async fn proxy(State(p): State<Arc<Proxy>>, req: http::Request<Body>) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if p.fault == Fault::AcceptsWebhooksAndLeaks {
        if path.starts_with("/webhooks/") {
            return http::Response::new(Body::from("ok\n"));
        }
        if path.starts_with("/smoke-check/") {
            let mut r = http::Response::new(Body::from(
                "thread 'tokio-runtime-worker' panicked at functions/redirect/src/lib.rs:90:5:\nnot found\n",
            ));
            *r.status_mut() = http::StatusCode::NOT_FOUND;
            return r;
        }
    }
    let body = axum::body::to_bytes(body, 1024 * 1024).await.unwrap();
    let mut forward = p
        .client
        .request(parts.method.clone(), format!("{}{path}", p.app))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.unwrap();
    let mut out = http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if p.fault == Fault::DropsCsp && name == "content-security-policy" {
            continue;
        }
        out = out.header(name, value);
    }
    out.body(Body::from(answer.bytes().await.unwrap())).unwrap()
}

/// The local app behind a stand-in with `fault`; the app's public URL is the stand-in's.
async fn behind(fault: Fault, data: &std::path::Path) -> (LocalApp, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let public = format!("http://{addr}");
    let app = serve(data, Some(public.clone())).await;
    // The app listens on its own port; the stand-in forwards there.
    let state = Arc::new(Proxy {
        app: format!("http://{}", app.listen),
        fault,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap(),
    });
    let router = axum::Router::new().fallback(proxy).with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (app, public)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_that_drops_the_content_security_policy_fails_the_header_checks() {
    let data = tempfile::tempdir().unwrap();
    let (app, public) = behind(Fault::DropsCsp, data.path()).await;
    let issuer = app.simulator.as_ref().unwrap().issuer();
    let run = smoke(args(&public, &issuer, &[])).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(
        run.failed(),
        vec![
            "front page",
            "front page by HEAD",
            "sign-in redirect",
            "web panel"
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.line("front page")
            .contains("no Content-Security-Policy")
    );
    assert!(run.line("front page").contains("fix: the app sets them"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_that_accepts_unsigned_webhooks_and_shows_a_panic_fails_those_checks() {
    let data = tempfile::tempdir().unwrap();
    let (app, public) = behind(Fault::AcceptsWebhooksAndLeaks, data.path()).await;
    let issuer = app.simulator.as_ref().unwrap().issuer();
    let run = smoke(args(&public, &issuer, &[])).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(
        run.failed(),
        vec![
            "unsigned webhook",
            "forged webhook signature",
            "unknown path"
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.line("unsigned webhook")
            .contains("answered 200 instead of 401")
    );
    assert!(run.line("unsigned webhook").contains("roll back"));
    assert!(run.line("unknown path").contains("internals"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_problems_exit_2_before_any_request() {
    for (args, says) in [
        (vec!["--url", "https://app.example.com"], "--env <ENV>"),
        (
            vec![
                "--url",
                "https://app.example.com",
                "--env",
                "sod",
                "--issuer",
                "http://127.0.0.1:1",
            ],
            "cannot be used with",
        ),
        (
            vec!["--url", "http://app.example.com", "--env", "sod"],
            "plain http is allowed only on loopback",
        ),
        (
            vec!["--url", "https://app.example.com/?x=1", "--env", "online"],
            "query",
        ),
        (
            vec!["--url", "https://app.example.com", "--env", "qa"],
            "invalid value",
        ),
        (
            vec![
                "--url",
                "https://app.example.com",
                "--env",
                "sod",
                "--tenant",
                "Cust1",
                "--user",
                "ada@example.com",
            ],
            "SuperOffice's own pages",
        ),
        (
            vec![
                "--url",
                "https://app.example.com",
                "--env",
                "sod",
                "--tenant",
                "Cust1",
            ],
            "--user",
        ),
    ] {
        let run = smoke(args.iter().map(|s| (*s).to_owned()).collect()).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}
