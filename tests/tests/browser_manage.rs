//! The whole path a customer's administrator takes, in a real (headless) Chromium: install from the
//! Install link, the management page, the uninstall with its confirmation, the page that says what
//! is left to do in the App Store, and installing again. Every page is captured as a screenshot
//! (kept in the target folder for a person to look at) and checked for what a person reads: the
//! customer's words, a way onward and back, and none of the app's internals.

use std::time::Duration;

use integration_tests::browser::Browser;
use integration_tests::install_app::{App, inventory};

/// Where the screenshots go (the target folder).
const SHOTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/browser-manage");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_installs_manages_uninstalls_and_installs_again() {
    let app = App::start().await;
    let b = Browser::start().await;

    // The App Store's Install link: sign in, approve, install.
    b.client.goto(&app.url("/install")).await.unwrap();
    b.wait_for("input[id='user-ada@demo.example']", 15)
        .await
        .click()
        .await
        .unwrap();
    b.wait_for("#continue", 15).await.click().await.unwrap();
    b.wait_for("#approve", 15).await.click().await.unwrap();
    b.wait_for("#plan", 15).await;
    let text = b.look(SHOTS, "1-install-confirmation").await;
    assert!(
        text.contains("The field \"Customer number\" on company cards"),
        "{text}"
    );
    b.wait_for("#install", 5).await.click().await.unwrap();
    b.wait_for("#status[data-status='installed']", 30).await;
    let text = b.look(SHOTS, "2-installed").await;
    assert!(text.contains("Manage the app"), "a way onward: {text}");

    // The Configure link: the management page.
    b.wait_for("#to-manage", 5).await.click().await.unwrap();
    b.wait_for("#install-status[data-status='installed']", 15)
        .await;
    let text = b.look(SHOTS, "3-manage").await;
    for words in [
        "SuperOffice is running normally.",
        "The app is installed and ready.",
        "The button \"Demo Partner App\" in the navigator",
        "Notifications to the app when companies are created, changed or deleted",
        "Calls",
        "Sign out",
        "Start page",
    ] {
        assert!(
            text.contains(words),
            "{words:?} on the management page:\n{text}"
        );
    }

    // Uninstall: the confirmation says exactly what goes, then the work is followed to the end.
    b.wait_for("#uninstall", 5).await.click().await.unwrap();
    b.wait_for("#remove-items", 15).await;
    let text = b.look(SHOTS, "4-uninstall-confirmation").await;
    assert!(
        text.contains("A list \"Demo Partner App regions\" with the values North, South and West"),
        "{text}"
    );
    assert!(text.contains("Cancel"), "a way back: {text}");
    b.wait_for("#confirm-uninstall", 5)
        .await
        .click()
        .await
        .unwrap();
    // The page follows the uninstall; with the sessions purged at the end, it asks to sign in.
    for _ in 0..200 {
        if app.tenant_record().await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        app.tenant_record().await.is_none(),
        "the uninstall finished"
    );
    assert_eq!(inventory(&app), Vec::<String>::new());

    // The browser still has its SuperOffice sign-in: signing in again asks nothing.
    b.client
        .goto(&app.url("/login?return=/manage"))
        .await
        .unwrap();
    b.wait_for("#install-status[data-status='uninstalled']", 15)
        .await;
    let text = b.look(SHOTS, "5-uninstalled").await;
    assert!(text.contains("The app was removed on"), "{text}");
    assert!(
        text.contains("Installed apps"),
        "the App Store steps: {text}"
    );

    // Installing again starts from scratch. The browser still has its SuperOffice sign-in and the
    // App Store's approval was not withdrawn here, so SuperOffice asks nothing on the way.
    b.wait_for("#install-again", 5).await.click().await.unwrap();
    b.wait_for("#install", 15).await.click().await.unwrap();
    b.wait_for("#status[data-status='installed']", 30).await;
    b.look(SHOTS, "6-installed-again").await;
    assert_eq!(
        inventory(&app),
        integration_tests::install_app::expected_inventory(
            integration_tests::install_app::user_groups(&app)
        )
    );
    b.stop().await;
    app.app.stop().await;
}
