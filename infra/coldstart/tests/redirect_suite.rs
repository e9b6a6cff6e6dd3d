//! The redirect suite end to end with a small N: the real `redirect` binary (functions/redirect, in
//! this test's profile) cold and warm, against the SuperOffice simulator and the AWS API emulator.
//!
//! Needs the emulator: `scripts/test` starts moto and sets `AWS_ENDPOINT_URL`. Without it the test
//! fails and says so; it never passes silently.
//!
//! The `redirect` binary belongs to another package. Cargo builds a package's binaries for
//! `cargo test` only when that package itself has integration tests, which functions/redirect
//! does not, so neither `cargo test -p coldstart` nor `cargo test --workspace` builds it. This
//! test therefore runs `cargo build -p redirect` (same profile, same target directory, `--locked`)
//! before it starts: a no-op when the binary is fresh, and the guarantee that the binary measured
//! is the one of this checkout. Cargo holds no lock on the target directory while tests run, so
//! the nested build does not wait on the outer one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use coldstart::aws;
use coldstart::redirect::{self, RedirectPlan};

/// `target/{debug,release}` of this test binary (`target/{profile}/deps/redirect_suite-…`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("the test binary lives in target/{profile}/deps")
}

/// Builds `redirect` into `profile_dir` and returns its path.
fn redirect_binary(profile_dir: &Path) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let target_dir = profile_dir.parent().expect("target/{profile} has a parent");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(&workspace)
        .args(["build", "--locked", "-p", "redirect", "--bin", "redirect"])
        .env("CARGO_TARGET_DIR", target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cargo.arg("--release");
        }
        other => {
            cargo.args(["--profile", other]);
        }
    }
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", env!("CARGO")));
    let path = profile_dir.join("redirect");
    assert!(
        status.success() && path.is_file(),
        "`cargo build -p redirect` ({profile}) failed ({status}) or did not produce {}; build it \
         with `cargo build -p redirect` and run the test again",
        path.display()
    );
    path
}

#[tokio::test]
async fn the_redirect_suite_signs_in_cold_and_warm_and_reports_every_figure() {
    // The same message coldstart-bench prints: what is missing and how to get it.
    if let Err(message) = aws::endpoint_from_env() {
        panic!("{message}. For the tests: scripts/test starts moto and runs them all.");
    }
    let dir = profile_dir();
    let redirect = redirect_binary(&dir);
    let work_dir = std::env::temp_dir().join(format!(
        "coldstart-redirect-suite-test-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&work_dir).expect("a work dir");
    let plan = RedirectPlan {
        redirect,
        hello: PathBuf::from(env!("CARGO_BIN_EXE_coldstart-hello")),
        iterations: 1,
        warmup: 0,
        sign_ins: 3,
        warm_warmup: 1,
        timeout: Duration::from_secs(60),
        cgroup: None,
        work_dir: work_dir.clone(),
    };
    let report = redirect::run(plan).await.unwrap_or_else(|e| panic!("{e}"));

    // Cold: hello, GET / and GET /login once each, all answered as expected (checked by the run).
    let names: Vec<&str> = report
        .cold
        .series
        .iter()
        .map(|s| s.binary.name.as_str())
        .collect();
    assert_eq!(names, ["hello", "redirect GET /", "redirect GET /login"]);
    assert!(report.cold.series.iter().all(|s| s.samples.len() == 1));

    // Warm: every sign-in ended in a session (checked by the run); the proxied callbacks saw the
    // token exchange at the simulator and DynamoDB calls (taking the sign-in, writing the session)
    // inside the invocation.
    let w = &report.warm;
    assert_eq!((w.direct.len(), w.proxied.len(), w.hello.len()), (3, 3, 3));
    // The twins with metric lines switched off took their sign-ins in the same rounds.
    assert_eq!(
        (w.direct_no_metrics.len(), w.proxied_no_metrics.len()),
        (3, 3)
    );
    assert_eq!((w.first_direct.len(), w.first_proxied.len()), (1, 1));
    for s in &w.proxied {
        let calls: Vec<&str> = s.outbound.iter().map(|e| e.what.as_str()).collect();
        assert!(
            calls.contains(&"POST /login/common/oauth/tokens")
                && calls.iter().any(|c| c.starts_with("DynamoDB ")),
            "the outbound calls of a warm /callback: {calls:?}"
        );
        assert!(s.outbound.iter().all(|e| e.status == 200), "{s:?}");
    }
    let first: Vec<&str> = w.first_proxied[0]
        .outbound
        .iter()
        .map(|e| e.what.as_str())
        .collect();
    assert!(
        first.contains(&"SecretsManager GetSecretValue")
            && first.contains(&"GET /login/.well-known/jwks"),
        "the first /callback reads the client secret and the JWKS: {first:?}"
    );
    let excluding = report
        .callback_excluding_network_median_ms()
        .expect("a median");
    assert!(excluding > 0.0, "{excluding}");
    assert!(w.memory_direct.peak_kib.is_some_and(|k| k > 1024));

    let md = report.markdown();
    for needle in [
        "### Cold start",
        "| redirect GET /login |",
        "excluding network",
        "metrics off",
        "DynamoDB PutItem",
        "VmHWM",
    ] {
        assert!(md.contains(needle), "{needle:?} missing from\n{md}");
    }
    // The run removes its work dir when it succeeds.
    assert!(!work_dir.exists());
}
