//! The metric lines the app writes while it works (issue 15), read back from the local runner:
//! one per request by route template, the sign-ins by outcome, the jobs from queued to finished
//! (the install and uninstall, and a repair a state-change push queues, put back while the tenant
//! is suspended), the tenant's WebAPI usage; every line checked against the embedded metric
//! format's rules, with bounded dimensions and the tenant only ever in a property. The release on
//! the management page. And the backup function's run and drill results.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::install_app::*;
use integration_tests::logs::metric_lines;
use integration_tests::{ADMIN, TENANT};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The metric lines with `member` = `value`.
fn lines_where(member: &str, value: &str) -> Vec<Value> {
    metric_lines()
        .into_iter()
        .filter(|v| v[member] == value)
        .collect()
}

/// Waits for a metric line with `member` = `value` that `also` accepts (the worker writes its
/// lines after the page shows the result).
async fn wait_for_line(member: &str, value: &str, also: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        if let Some(v) = lines_where(member, value).into_iter().find(&also) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no metric line with {member} = {value} as expected among {:#?}",
        lines_where(member, value)
    );
}

/// A state-change push of `change` for the demo tenant, signed as the simulator signs them (see
/// tests/lifecycle_push.rs).
async fn push(app: &App, change: i64) -> StatusCode {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let claims = json!({
        "iss": app.sim().issuer(),
        "aud": soapp::local::DEMO_CLIENT_ID,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": format!("metrics-{now}-{}", N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)),
        "http://schemes.superoffice.net/identity/ctx": TENANT,
    });
    let header = json!({"alg": "RS256", "kid": app.sim().signing_kid(), "typ": "JWT"});
    let token = app.sim().sign_jwt(&header, &claims);
    let body = json!({
        "ChangeType": change,
        "ContextIdentifier": TENANT,
        "VersionName": "Release_10.3.8_2024.08.30-01",
        "FileVersion": "10.3.8.2024",
        "Token": token,
        "PublicEndpoint": "sod3.superoffice.com",
    });
    app.http
        .post(app.url("/state-change"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
}

fn dimensions(v: &Value) -> Vec<(String, String)> {
    v["_aws"]["CloudWatchMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["Dimensions"][0].as_array().unwrap().clone())
        .map(|d| {
            let name = d.as_str().unwrap().to_owned();
            let value = v[&name].as_str().unwrap().to_owned();
            (name, value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_and_an_uninstall_write_their_requests_sign_ins_jobs_and_usage_as_metrics() {
    let app = App::start().await;

    // A sign-in, the install and its result.
    let session = app.sign_in_to_install(ADMIN).await;
    let r = app.press_install(&session).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.wait_for_status(&session, "installed").await;

    // The management page names the release.
    let (status, page) = app.page("/manage", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("version {}", telemetry::VERSION)) && page.contains("app-version"),
        "{page}"
    );

    // State-change pushes: suspended (2), restored from a backup (1: a repair is queued, and put
    // back while the tenant is suspended), resumed (3: the repair runs).
    assert_eq!(push(&app, 2).await, StatusCode::OK);
    assert_eq!(push(&app, 1).await, StatusCode::OK);
    let job = |kind: &str, outcome: &str| {
        let (kind, outcome) = (kind.to_owned(), outcome.to_owned());
        wait_for_line("tenant", TENANT, move |v| {
            v["Kind"] == kind.as_str() && v["Outcome"] == outcome.as_str()
        })
    };
    let queued = job("repair", "queued").await;
    assert_eq!(queued["reason"], "backup_restored");
    let put_back = job("repair", "put_back").await;
    assert_eq!(put_back["reason"], "tenant_suspended");
    assert_eq!(push(&app, 3).await, StatusCode::OK);
    let finished = job("repair", "finished").await;
    assert_eq!(finished["reason"], "done");

    // A callback that cannot finish a sign-in, and a webhook delivery without a signature.
    let (status, _) = app.page_as("/callback", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = app
        .http
        .post(app.url(&format!("/webhooks/superoffice/{TENANT}")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The uninstall, to its end.
    let r = app.press_uninstall(&session).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.wait_until_forgotten().await;

    // Requests: by route template and status class, timed.
    let request = |route: &str, class: &str| {
        lines_where("Route", route)
            .into_iter()
            .find(|v| v["StatusClass"] == class)
            .unwrap_or_else(|| panic!("no request line for {route} {class}"))
    };
    let callback = request("POST /callback", "3xx");
    assert_eq!(callback["Requests"], 1);
    assert!(callback["Latency"].as_f64().unwrap() > 0.0);
    assert_eq!(callback["status"], 303);
    assert!(
        callback["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    request("POST /install", "3xx");
    request("GET /manage", "2xx");
    request("POST /manage/uninstall", "3xx");
    request("GET /callback", "4xx");
    request("POST /webhooks/superoffice/{tenant}", "4xx");
    let pushes = request("POST /state-change", "2xx");
    assert_eq!(pushes["status"], 200);

    // Sign-ins by outcome class, the reason and the tenant as properties.
    let signed_in = lines_where("reason", "signed_in")
        .into_iter()
        .find(|v| v["Outcome"] == "signed_in" && v["intent"] == "install")
        .expect("the install sign-in");
    assert_eq!(signed_in["SignIns"], 1);
    assert_eq!(signed_in["tenant"], TENANT);
    let refused = lines_where("reason", "callback_not_form_post");
    assert!(
        refused.iter().any(|v| v["Outcome"] == "refused"),
        "{refused:#?}"
    );

    // Jobs: queued by the install function, finished by the worker.
    let queued = job("install", "queued").await;
    assert_eq!(queued["reason"], "install_queued");
    let finished = job("install", "finished").await;
    assert_eq!(finished["reason"], "done");
    job("uninstall", "queued").await;
    job("uninstall", "finished").await;

    // The tenant's WebAPI usage: summed over tenants by the metric, the tenant a property.
    let usage = wait_for_line("tenant", TENANT, |v| v.get("SuperOfficeCalls").is_some()).await;
    assert!(usage["SuperOfficeCalls"].as_u64().unwrap() > 0);
    assert!(usage["SuperOfficeBytesReceived"].as_u64().unwrap() > 0);
    assert!(usage["day"].as_str().is_some_and(|d| d.len() == 10));

    // Every line: the function's name, the release, and no dimension holding a tenant, a path
    // with one, or anything else a caller sent.
    let lines: Vec<Value> = metric_lines()
        .into_iter()
        .filter(|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] == telemetry::metrics::NAMESPACE)
        .collect();
    assert!(lines.len() >= 10, "{lines:#?}");
    for v in &lines {
        assert_eq!(v["Function"], "local", "{v}");
        assert_eq!(v["version"], telemetry::VERSION, "{v}");
        for (name, value) in dimensions(v) {
            assert!(
                !value.contains(TENANT) && !value.contains("Cust"),
                "dimension {name} = {value}: {v}"
            );
        }
    }
}

/// The backup function's lines: its own namespace (the template's `{stack}/backup`), no dimensions.
fn backup_lines(namespace: &str) -> Vec<Value> {
    metric_lines()
        .into_iter()
        .filter(|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] == namespace)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_function_writes_its_runs_and_restore_drills_as_metric_lines() {
    use app::backup::metrics::{
        BACKUP_COMPLETED, BACKUP_ITEMS, BACKUP_PARTITIONS, BACKUP_VERIFIED, METRICS,
        NEWEST_VERIFIED_BACKUP_AGE,
    };
    use domain::backup::config::{Target, Wrapping};
    use domain::store::{Item, Items};
    integration_tests::logs::capture();
    let namespace = "STACK/backup";
    let dir = tempfile::tempdir().unwrap();
    let config = soapp::local::backup_config(dir.path()).unwrap();
    let (Target::Folder { dir: folder }, Wrapping::Local { key_file }) =
        (&config.target, &config.wrapping)
    else {
        panic!("a local backup: {config:?}");
    };
    let items = Arc::new(
        adapters::local::embedded::EmbeddedItems::open(&dir.path().join("store")).unwrap(),
    );
    // The app's own records: one partition with an item in it.
    items
        .put(&Item::new("APP", "SETTING#metrics", json!({"n": 1})))
        .await
        .unwrap();
    let backups = app::backup::local_with(items, &config, folder, key_file).unwrap();
    let clock = Arc::new(superoffice::clock::SystemClock);
    let deadline = SystemTime::now() + Duration::from_secs(600);

    // A drill before any backup exists fails, and says so as BackupVerified 0.
    let drill = backup::handle(
        &backups,
        json!({"action": "verify"}),
        deadline,
        clock.clone(),
        namespace,
    )
    .await;
    assert!(drill.is_err(), "{drill:?}");
    let failed = backup_lines(namespace);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0][BACKUP_VERIFIED.0], 0.0);
    assert!(failed[0].get(NEWEST_VERIFIED_BACKUP_AGE.0).is_none());

    // A run: its line when it finishes.
    let summary = backup::handle(
        &backups,
        json!({"action": "backup"}),
        deadline,
        clock.clone(),
        namespace,
    )
    .await
    .unwrap();
    assert_eq!(summary["outcome"], "finished", "{summary}");
    let run = backup_lines(namespace)
        .into_iter()
        .find(|v| v.get(BACKUP_COMPLETED.0).is_some())
        .expect("the run's line");
    assert_eq!(run[BACKUP_COMPLETED.0], 1.0);
    assert!(run[BACKUP_PARTITIONS.0].as_f64().unwrap() >= 1.0, "{run}");
    assert!(run[BACKUP_ITEMS.0].as_f64().unwrap() >= 1.0, "{run}");
    assert_eq!(run["backup_id"], summary["backup_id"]);

    // The drill on it: verified, and how old the newest verified backup is.
    let summary = backup::handle(
        &backups,
        json!({"action": "verify"}),
        deadline,
        clock,
        namespace,
    )
    .await
    .unwrap();
    assert_eq!(summary["passed"], true, "{summary}");
    let verified = backup_lines(namespace)
        .into_iter()
        .find(|v| v[BACKUP_VERIFIED.0] == 1.0)
        .expect("the drill's line");
    let age = verified[NEWEST_VERIFIED_BACKUP_AGE.0].as_f64().unwrap();
    assert!((0.0..600.0).contains(&age), "{verified}");

    // Every line: only the catalogue's metrics with their units, no dimensions, the release.
    for v in backup_lines(namespace) {
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([[]]), "{v}");
        for m in directive["Metrics"].as_array().unwrap() {
            let (name, unit) = (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap());
            assert!(METRICS.contains(&(name, unit)), "{name} {unit}: {v}");
        }
        assert_eq!(v["version"], telemetry::VERSION, "{v}");
    }
}
