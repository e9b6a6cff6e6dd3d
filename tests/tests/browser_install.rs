//! An administrator installs the app in a real (headless) Chromium while SuperOffice throttles: the
//! status page says so and when the install continues, refreshes itself, and ends listing what was
//! created.

use fantoccini::Locator;
use integration_tests::browser::Browser;
use integration_tests::install_app::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_throttling_and_continues_to_installed_by_itself() {
    let app = App::start_with(&[("APP_MAX_INLINE_WAIT", "1")]).await;
    let b = Browser::start().await;

    // The App Store's Install link.
    b.client.goto(&app.url("/install")).await.unwrap();
    b.wait_for("input[id='user-ada@demo.example']", 15)
        .await
        .click()
        .await
        .unwrap();
    b.wait_for("#continue", 15).await.click().await.unwrap();
    b.wait_for("#approve", 15).await.click().await.unwrap();

    // Back at the confirmation page: what the app will create, and the Install button.
    let plan = b.wait_for("#plan", 15).await.text().await.unwrap();
    assert!(
        plan.contains("The panel \"Demo Partner App\" on company cards"),
        "{plan}"
    );
    app.sim().faults().push(
        superoffice_simulator::FaultRule::new(
            superoffice_simulator::Route::WebApi,
            superoffice_simulator::FaultAction::Status {
                status: 429,
                retry_after: Some("4".into()),
            },
        )
        .path_contains("UdefLayout")
        .times(1),
    );
    b.wait_for("#install", 5).await.click().await.unwrap();

    let waiting = b.wait_for("#waiting[data-reason='throttled']", 20).await;
    let text = waiting.text().await.unwrap();
    assert!(
        text.contains("SuperOffice asked the app to slow down"),
        "{text}"
    );
    assert!(text.contains("The install continues at"), "{text}");
    let at = b.wait_for("#continue-at", 5).await.text().await.unwrap();
    assert!(at.ends_with("UTC"), "{at}");

    // No click: the page refreshes itself until the install is done.
    b.wait_for("#status[data-status='installed']", 30).await;
    let rows = b.client.find_all(Locator::Css("#items li")).await.unwrap();
    assert_eq!(rows.len(), 8);
    b.stop().await;
    app.app.stop().await;
}
