//! A person signs in through the local runner in a real (headless) Chromium: from the start page,
//! through the SuperOffice simulator's sign-in and consent pages and its form_post back to our
//! callback, to the signed-in page; then signs out.

use std::time::Duration;

use fantoccini::Locator;
use integration_tests::browser::Browser;
use integration_tests::install_app::App;

async fn wait_for(b: &Browser, css: &str) -> fantoccini::elements::Element {
    b.client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_the_simulator_and_out_again() {
    let app = App::start().await;
    let b = Browser::start().await;

    b.client.goto(&app.url("/")).await.unwrap();
    wait_for(&b, "#sign-in").await.click().await.unwrap();

    // The simulator's pages: choose the administrator, continue, approve.
    wait_for(&b, "input[id='user-ada@demo.example']")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&b, "#continue").await.click().await.unwrap();
    wait_for(&b, "#approve").await.click().await.unwrap();

    // The form_post page submits itself to our callback, which lands on the signed-in page.
    let user = wait_for(&b, "#user").await;
    assert_eq!(user.text().await.unwrap(), "ada@demo.example");
    assert_eq!(
        wait_for(&b, "#tenant").await.text().await.unwrap(),
        "Cust12345"
    );
    assert_eq!(
        wait_for(&b, "#administrator").await.text().await.unwrap(),
        "yes"
    );
    let url = b.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/", "a clean URL without code or state");
    assert!(url.query().is_none());

    let cookies = b.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "__Host-session")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), Some(true));

    wait_for(&b, "#sign-out").await.click().await.unwrap();
    wait_for(&b, "#sign-in").await;
    let cookies = b.client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|c| c.name() != "__Host-session"),
        "the cookie is gone"
    );

    b.stop().await;
    app.app.stop().await;
}
