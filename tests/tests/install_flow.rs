//! Install end to end through the local runner: the Install link, the administrator's sign-in and
//! confirmation, the job worker, and SuperOffice (the simulator) holding exactly the manifest's
//! artifacts; installing twice; a user who is not an administrator.

use std::time::Duration;

use domain::manifest::Manifest;
use integration_tests::install_app::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_installs_from_the_install_link_and_the_tenant_holds_exactly_the_manifest()
{
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    let (_, confirm) = app.page("/install", &session).await;
    assert!(confirm.contains("Install Demo Partner App"));
    assert!(confirm.contains("Demo Company AS"));
    let r = app.press_install(&session).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/install/status");
    let page = app.wait_for_status(&session, "installed").await;
    assert!(page.contains("8 of 8 items created"), "{page}");

    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    // The status page lists what was created, in the customer's words, without internals.
    for a in Manifest::demo().artifacts() {
        assert!(
            page.contains(&maud_escape(&a.describe_for_customer())),
            "{}",
            a.key()
        );
    }
    for internal in ["&lt;uctx&gt;", "DemoPartnerApp.", "UDefFieldId"] {
        assert!(!page.contains(internal), "{internal} on the status page");
    }
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installing_twice_in_a_row_or_at_once_yields_one_set_of_artifacts() {
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    let csrf = app.csrf(&session).await;
    let (a, b) = tokio::join!(
        app.post_install(&session, &csrf),
        app.post_install(&session, &csrf)
    );
    assert_eq!(
        (a.status(), b.status()),
        (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER)
    );
    app.wait_for_status(&session, "installed").await;
    assert_eq!(
        app.app.queue.deliveries().len(),
        1,
        "one job for two presses"
    );
    let created = |app: &App| {
        [
            "POST List",
            "POST List/WebPanel/Items",
            "PUT UdefLayout",
            "POST Webhook",
            "PUT Preference",
        ]
        .map(|f| app.sim().webapi_calls("Cust12345", f))
    };
    let before = created(&app);

    // Pressing again after the install is a no-op; a redelivered job finds everything in place.
    let again = app.post_install(&session, &csrf).await;
    assert_eq!(again.headers()["location"], "/install/status");
    use domain::jobs::{Job, JobQueue};
    app.app
        .queue
        .send(&Job {
            id: "redelivered".into(),
            ..Job::install(&domain::TenantId::parse("Cust12345").unwrap(), 0)
        })
        .await
        .unwrap();
    // Handed out is not done: wait until the queue is drained, i.e. the handler has returned.
    let waited = std::time::Instant::now();
    while !(app.app.queue.deliveries().len() == 2 && app.app.queue.pending() == 0) {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the redelivered job never finished: deliveries {:?}, pending {}",
            app.app.queue.deliveries(),
            app.app.queue.pending()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.app.queue.deliveries().last().map(|(id, _)| id.as_str()),
        Some("redelivered")
    );
    assert_eq!(app.app.queue.pending(), 0, "nothing put back or left over");
    assert_eq!(created(&app), before, "nothing created twice");
    let (_, page) = app.page("/install/status", &session).await;
    assert!(page.contains("data-status=\"installed\""), "{page}");
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_is_not_an_administrator_is_refused_with_a_clear_page() {
    let app = App::start().await;
    app.sign_in_to_install("ada@demo.example").await;
    let session = app.sign_in_to_install("ulf@demo.example").await;
    let (status, page) = app.page("/install", &session).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("Only an administrator can install this app"),
        "{page}"
    );
    assert!(page.contains("ulf@demo.example"));
    let (status, _) = app.page("/install/status", &session).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_never_sends_a_request_early_and_the_status_page_says_when_it_continues() {
    // Retry-After above one second re-queues the job instead of waiting in place.
    let app = App::start_with(&[("APP_MAX_INLINE_WAIT", "1")]).await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.sim().faults().push(
        superoffice_simulator::FaultRule::new(
            superoffice_simulator::Route::WebApi,
            superoffice_simulator::FaultAction::Status {
                status: 429,
                retry_after: Some("3".into()),
            },
        )
        .path_contains("UdefLayout")
        .times(2),
    );
    app.press_install(&session).await;
    let page = app
        .wait_for_page(&session, "data-reason=\"throttled\"")
        .await;
    assert!(
        page.contains("SuperOffice asked the app to slow down"),
        "{page}"
    );
    assert!(page.contains("id=\"continue-at\""));
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "the page refreshes itself"
    );
    app.wait_for_status(&session, "installed").await;
    assert_eq!(
        app.sim().requests_before_retry_after("Cust12345"),
        0,
        "no request before Retry-After elapsed"
    );
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_maintenance_holds_every_webapi_call_until_the_tenant_runs_again() {
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    let until = std::time::SystemTime::now() + Duration::from_secs(2);
    app.sim().set_tenant_state(
        "Cust12345",
        superoffice_simulator::TenantStatus::OfflineMaintenance,
        Some(until),
    );
    app.press_install(&session).await;
    let page = app
        .wait_for_page(&session, "data-reason=\"maintenance\"")
        .await;
    assert!(
        page.contains("SuperOffice is in maintenance.") && page.contains("continues at"),
        "the page says why and when it continues, in words: {page}"
    );
    assert!(
        !page.contains("OfflineMaintenance"),
        "no internal state names"
    );
    assert_eq!(
        app.sim().count(superoffice_simulator::Route::WebApi),
        0,
        "no WebAPI call in maintenance"
    );
    app.sim().set_tenant_state(
        "Cust12345",
        superoffice_simulator::TenantStatus::Running,
        None,
    );
    app.wait_for_status(&session, "installed").await;
    let first_webapi = app
        .sim()
        .requests()
        .into_iter()
        .find(|r| r.route == superoffice_simulator::Route::WebApi)
        .expect("calls after maintenance");
    assert!(
        first_webapi.at >= until,
        "the first WebAPI call came after ValidUntil"
    );
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_moved_is_followed_to_its_new_host() {
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    // Slow every WebAPI answer a little so the move lands mid-install.
    app.sim()
        .faults()
        .push(superoffice_simulator::FaultRule::new(
            superoffice_simulator::Route::WebApi,
            superoffice_simulator::FaultAction::Latency(Duration::from_millis(150)),
        ));
    app.press_install(&session).await;
    for _ in 0..200 {
        if app.sim().count(superoffice_simulator::Route::WebApi) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.sim().move_tenant("Cust12345", "sod9");
    app.sim().faults().clear();
    app.wait_for_status(&session, "installed").await;
    let webapi: Vec<_> = app
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.route == superoffice_simulator::Route::WebApi)
        .collect();
    let moved_at = webapi
        .iter()
        .position(|r| r.status == Some(421))
        .expect("the old host answered 421 after the move");
    assert!(
        webapi[..moved_at]
            .iter()
            .all(|r| r.path.starts_with("/sod2/"))
    );
    assert!(
        webapi[moved_at + 1..]
            .iter()
            .all(|r| r.path.starts_with("/sod9/")),
        "every call after the 421 went to the new host"
    );
    assert_eq!(webapi.iter().filter(|r| r.status == Some(421)).count(), 1);
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_consent_stops_the_install_with_a_message_saying_what_to_do() {
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.sim()
        .revoke_consent("Cust12345", soapp::local::DEMO_CLIENT_ID);
    app.press_install(&session).await;
    let page = app.wait_for_status(&session, "failed").await;
    assert!(
        page.contains("An administrator must approve the app again"),
        "{page}"
    );
    assert!(page.contains("Revoked"));
    assert_eq!(app.sim().count(superoffice_simulator::Route::WebApi), 0);
    app.app.stop().await;
}
