//! `soapp usage`: the per-tenant daily usage the worker stored, read back from the local runner's
//! embedded store (`--data-dir`, or an env file's `APP_DATA_DIR`) and from a DynamoDB table in the
//! AWS API emulator (an env file's `APP_TABLE_NAME`), as CSV and JSON, per day and in total.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use domain::store::{Item, Items};
use domain::usage::DailyUsage;
use superoffice::TenantId;
use superoffice::clock::ManualClock;
use superoffice::usage::{CallRecord, UsageHook};

/// 2027-01-15 08:00 UTC.
const DAY_ONE: i64 = 1_800_000_000;

/// Stores two days of usage for Cust12345 and one for Cust67890, as the worker does, and the
/// records of three tenants (Cust11111 without usage).
async fn store_usage<I: Items>(items: Arc<I>) {
    for tenant in ["Cust11111", "Cust12345", "Cust67890"] {
        items
            .put(&Item::new(
                format!("TENANT#{tenant}"),
                "TENANT",
                serde_json::json!({"id": tenant}),
            ))
            .await
            .unwrap();
    }
    let clock = Arc::new(ManualClock::at_unix(DAY_ONE));
    let usage = DailyUsage::new(items, clock.clone());
    let (a, b) = (
        TenantId::parse("Cust12345").unwrap(),
        TenantId::parse("Cust67890").unwrap(),
    );
    let call = |tenant, status| CallRecord {
        tenant,
        method: &http::Method::GET,
        status,
        bytes_sent: 100,
        bytes_received: 1000,
        elapsed: Duration::from_millis(5),
    };
    for status in [Some(200), Some(429), Some(503), Some(200)] {
        usage.record(&call(&a, status));
    }
    usage.record(&call(&b, Some(200)));
    usage.flush().await.unwrap();
    clock.advance(Duration::from_secs(86_400));
    usage.record(&call(&a, Some(200)));
    usage.flush().await.unwrap();
}

fn soapp(args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_soapp"));
    command
        .arg("usage")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const TENANTS: &[&str] = &["--tenant", "Cust67890", "--tenant", "Cust12345"];

/// The same report, whichever store `store` names.
fn check_reports(store: &[&str], env: &[(&str, String)]) {
    let with = |extra: &[&str]| {
        let mut args = store.to_vec();
        args.extend_from_slice(TENANTS);
        args.extend_from_slice(extra);
        soapp(&args, env)
    };

    let (code, out, err) = with(&["--from", "2027-01-01", "--to", "2027-01-31"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "tenant,day,calls,bytes_sent,bytes_received,throttled,failures\n\
         Cust12345,2027-01-15,4,400,4000,1,1\n\
         Cust12345,2027-01-16,1,100,1000,0,0\n\
         Cust67890,2027-01-15,1,100,1000,0,0\n"
    );

    // One day only.
    let (code, out, err) = with(&["--from", "2027-01-16", "--to", "2027-01-16"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("Cust12345,2027-01-16,1,"), "{out}");

    // Totals per tenant, as JSON.
    let (code, out, err) = with(&[
        "--from",
        "2027-01-01",
        "--to",
        "2027-01-31",
        "--total",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"tenant": "Cust12345", "from": "2027-01-01", "to": "2027-01-31", "calls": 5,
             "bytes_sent": 500, "bytes_received": 5000, "throttled": 1, "failures": 1},
            {"tenant": "Cust67890", "from": "2027-01-01", "to": "2027-01-31", "calls": 1,
             "bytes_sent": 100, "bytes_received": 1000, "throttled": 0, "failures": 0}
        ])
    );

    // A range without usage: a header, or zeros in total.
    let (_, out, _) = with(&["--from", "2026-01-01", "--to", "2026-01-31"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let (_, out, _) = with(&["--from", "2026-01-01", "--to", "2026-01-31", "--total"]);
    assert!(
        out.contains("Cust67890,2026-01-01,2026-01-31,0,0,0,0,0"),
        "{out}"
    );

    // Without --tenant: every tenant the store holds a record for, Cust11111 (no usage) too.
    let mut every = store.to_vec();
    every.extend_from_slice(&["--from", "2027-01-01", "--to", "2027-01-31"]);
    let (code, out, err) = soapp(&every, env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "tenant,day,calls,bytes_sent,bytes_received,throttled,failures\n\
         Cust12345,2027-01-15,4,400,4000,1,1\n\
         Cust12345,2027-01-16,1,100,1000,0,0\n\
         Cust67890,2027-01-15,1,100,1000,0,0\n"
    );
    every.push("--total");
    let (code, out, err) = soapp(&every, env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "tenant,from,to,calls,bytes_sent,bytes_received,throttled,failures\n\
         Cust11111,2027-01-01,2027-01-31,0,0,0,0,0\n\
         Cust12345,2027-01-01,2027-01-31,5,500,5000,1,1\n\
         Cust67890,2027-01-01,2027-01-31,1,100,1000,0,0\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_from_the_local_runners_store_per_day_and_in_total() {
    let dir = tempfile::tempdir().unwrap();
    {
        let items = Arc::new(
            adapters::local::embedded::EmbeddedItems::open(&dir.path().join("store")).unwrap(),
        );
        store_usage(items).await;
        // Dropped here: the embedded store is one process's at a time.
    }
    let data_dir = dir.path().to_str().unwrap();
    check_reports(&["--data-dir", data_dir], &[]);

    // The same store named by an env file's APP_DATA_DIR.
    let env_file = dir.path().join("local.env");
    std::fs::write(
        &env_file,
        format!("APP_DATA_DIR={}\n", dir.path().join("store").display()),
    )
    .unwrap();
    check_reports(&["--env-file", env_file.to_str().unwrap()], &[]);

    // Usage errors: exit 2 and a message that says what to do.
    for (args, says) in [
        (vec!["--from", "2027-02-01", "--to", "2027-01-01"], "after"),
        (
            vec!["--from", "2027-02-30", "--to", "2027-03-01"],
            "not a date",
        ),
        (
            vec![
                "--from",
                "2027-01-01",
                "--to",
                "2027-01-02",
                "--tenant",
                "x y",
            ],
            "tenant id",
        ),
    ] {
        let mut all = vec!["--data-dir", data_dir];
        all.extend(args);
        let (code, _, err) = soapp(&all, &[]);
        assert_eq!(code, 2, "{all:?}");
        assert!(err.contains(says), "{all:?}: {err}");
    }
    let missing = dir.path().join("nothing-here");
    let (code, _, err) = soapp(
        &[
            "--data-dir",
            missing.to_str().unwrap(),
            "--from",
            "2027-01-01",
            "--to",
            "2027-01-02",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("not a store folder"), "{err}");
    assert!(!missing.exists(), "nothing is created");
}

/// The AWS API emulator the test command started (`scripts/test`: moto, `AWS_ENDPOINT_URL`).
fn aws_emulator() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs the AWS API emulator: run it through scripts/test, which starts moto \
             and sets AWS_ENDPOINT_URL (with dummy credentials and AWS_REGION)"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_from_a_deployments_dynamodb_table_named_by_its_env_file() {
    let endpoint = aws_emulator();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!(
        "usage-{}",
        superoffice::oidc::random_token().unwrap()[..8]
            .to_ascii_lowercase()
            .replace(['-', '_'], "x")
    );
    // The deployed table's shape, with the inverted index that lists the tenants.
    adapters::aws::dynamo::create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("the emulator: {e}"));
    store_usage(Arc::new(adapters::aws::dynamo::DynamoItems::new(
        client.clone(),
        table.clone(),
    )))
    .await;

    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("sod.env");
    std::fs::write(
        &env_file,
        format!("# the function's variables\nAPP_TABLE_NAME={table}\nSO_ENVIRONMENT=sod\n"),
    )
    .unwrap();
    // The SDK's own variables come from the environment, as for `soapp doctor`.
    let env: Vec<(&str, String)> = [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ]
    .into_iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
    .collect();
    check_reports(&["--env-file", env_file.to_str().unwrap()], &env);

    client
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}
