//! A person signs in through the local runner in a real (headless) Chromium: from the start page,
//! through the SuperOffice simulator's sign-in and consent pages and its form_post back to our
//! callback, to the signed-in page; then signs out.

use integration_tests::browser::Browser;
use integration_tests::install_app::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_the_simulator_and_out_again() {
    let app = App::start().await;
    let b = Browser::start().await;

    b.client.goto(&app.url("/")).await.unwrap();
    b.wait_for("#sign-in", 15).await.click().await.unwrap();

    // The simulator's pages: choose the administrator, continue, approve.
    b.wait_for("input[id='user-ada@demo.example']", 15)
        .await
        .click()
        .await
        .unwrap();
    b.wait_for("#continue", 15).await.click().await.unwrap();
    b.wait_for("#approve", 15).await.click().await.unwrap();

    // The form_post page submits itself to our callback, which lands on the signed-in page.
    let user = b.wait_for("#user", 15).await;
    assert_eq!(user.text().await.unwrap(), "ada@demo.example");
    assert_eq!(
        b.wait_for("#tenant", 15).await.text().await.unwrap(),
        "Cust12345"
    );
    assert_eq!(
        b.wait_for("#administrator", 15).await.text().await.unwrap(),
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

    b.wait_for("#sign-out", 15).await.click().await.unwrap();
    b.wait_for("#sign-in", 15).await;
    let cookies = b.client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|c| c.name() != "__Host-session"),
        "the cookie is gone"
    );

    b.stop().await;
    app.app.stop().await;
}
