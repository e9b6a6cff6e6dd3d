//! The harness against the real function binaries (built by cargo for this test, debug profile):
//! one invocation each, a failing invocation must be reported as a failure, and a long-lived
//! process is invoked again and again through its stand-in.

use std::path::PathBuf;
use std::time::Duration;

use coldstart::bench::{Binary, Runner};

/// A scratch directory (JWKS, child logs), removed when the test ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn runner(name: &str) -> (Runner, WorkDir) {
    let dir = std::env::temp_dir().join(format!("coldstart-harness-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the work dir");
    let runner = Runner::start(&dir, None, Duration::from_secs(30))
        .await
        .expect("start the runtime API stand-in");
    (runner, WorkDir(dir))
}

#[tokio::test]
async fn the_stand_in_times_one_invocation_of_the_hello_binary() {
    let (mut runner, _dir) = runner("hello").await;
    let hello = Binary::new("coldstart-hello", env!("CARGO_BIN_EXE_coldstart-hello"));
    let sample = runner
        .run_once(&hello)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    let to_next = sample.to_next.expect("the event was handed out");
    assert!(to_next <= sample.total, "{sample:?}");
    assert!(sample.total < Duration::from_secs(30), "{sample:?}");
    assert!(sample.peak_rss_kib.is_some_and(|k| k > 0), "{sample:?}");
}

#[tokio::test]
async fn the_superoffice_binary_validates_the_token_and_answers() {
    let (mut runner, _dir) = runner("superoffice").await;
    let so = Binary::new(
        "coldstart-superoffice",
        env!("CARGO_BIN_EXE_coldstart-superoffice"),
    );
    runner.run_once(&so).await.unwrap_or_else(|f| panic!("{f}"));
}

#[tokio::test]
async fn a_wrong_answer_fails_loudly() {
    let (mut runner, _dir) = runner("wrong").await;
    // The hello binary under a non-hello name must answer like coldstart-superoffice: it does not.
    let impostor = Binary::new("impostor", env!("CARGO_BIN_EXE_coldstart-hello"));
    let failure = runner
        .run_once(&impostor)
        .await
        .expect_err("a wrong response must fail");
    assert!(failure.what.contains("wrong response"), "{failure}");
}

#[tokio::test]
async fn a_failed_invocation_fails_loudly() {
    let (mut runner, _dir) = runner("error").await;
    // A nonce the token does not carry: the function reports the invocation as failed.
    runner.fixture.event_nonce = "not-the-nonce".into();
    let so = Binary::new(
        "coldstart-superoffice",
        env!("CARGO_BIN_EXE_coldstart-superoffice"),
    );
    let failure = runner.run_once(&so).await.expect_err("must fail");
    assert!(failure.what.contains("failed"), "{failure}");
}

#[tokio::test]
async fn a_warm_process_answers_one_invocation_after_the_other() {
    let (runner, dir) = runner("warm").await;
    let hello = Binary::new("coldstart-hello", env!("CARGO_BIN_EXE_coldstart-hello"));
    let mut process = coldstart::warm::WarmProcess::spawn(
        &hello,
        &dir.0,
        &runner.fixture.jwks_path,
        None,
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|f| panic!("{f}"));
    let mut last = None;
    for i in 0..5 {
        let invoked = process
            .invoke(&serde_json::json!({ "n": i }))
            .await
            .unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(invoked.body, serde_json::json!({"ok": true}));
        assert!(invoked.answered_at >= invoked.delivered_at);
        if let Some(previous) = last {
            assert!(invoked.delivered_at > previous, "a new delivery each time");
        }
        last = Some(invoked.answered_at);
    }
    let memory = process.memory();
    assert!(memory.peak_kib.is_some_and(|k| k > 0), "{memory:?}");
    assert!(memory.rss_kib.is_some_and(|k| k > 0), "{memory:?}");
    process.stop().await;
}
