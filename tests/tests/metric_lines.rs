//! The metric lines the app writes while it works (issue 15), read back from the local runner:
//! one per request by route template, the sign-ins by outcome, the jobs from queued to finished,
//! the tenant's WebAPI usage; every line checked against the embedded metric format's rules, with
//! bounded dimensions and the tenant only ever in a property. And the release on the management
//! page.

use std::time::Duration;

use integration_tests::install_app::*;
use integration_tests::logs::metric_lines;
use integration_tests::{ADMIN, TENANT};
use reqwest::StatusCode;
use serde_json::Value;

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
    let job = |kind: &str, outcome: &str| {
        let (kind, outcome) = (kind.to_owned(), outcome.to_owned());
        wait_for_line("tenant", TENANT, move |v| {
            v["Kind"] == kind.as_str() && v["Outcome"] == outcome.as_str()
        })
    };
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
    let lines = metric_lines();
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
