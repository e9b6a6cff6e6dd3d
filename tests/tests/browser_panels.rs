//! The web panel as SuperOffice shows it, in a real (headless) Chromium: inside an iframe of a page
//! on another site (a stand-in for SuperOffice's CRM, served on `localhost` while the app is on
//! `127.0.0.1`, so the panel is cross-site and the app's `SameSite=Lax` session never reaches it),
//! with third-party cookies blocked as browsers block them. The person presses Sign in, signs in in
//! the pop-up (the simulator's sign-in page, which refuses to be framed), and the panel shows who
//! is signed in; the navigator button's page then knows them too. A blocked pop-up is said so.
//! Every step is captured as a screenshot in the target folder.
//!
//! With third-party cookies blocked, only a `Partitioned` cookie set by the iframe's own request
//! survives here: the panel cookie without that attribute makes the first test fail (tried), which
//! is what it is meant to catch.

use std::time::Duration;

use integration_tests::browser::Browser;
use integration_tests::install_app::App;
use integration_tests::{ADMIN, TENANT};

/// Where the screenshots go (the target folder).
const SHOTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/browser-panels");

/// A stand-in for SuperOffice's CRM screen on another site: `GET /{page}` frames the app's
/// `/panels/{page}` as SuperOffice would, with the tenant and Ulf's associate id substituted.
async fn crm_host(app_url: &str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app_url = app_url.to_owned();
    let router = axum::Router::new().route(
        "/{page}",
        axum::routing::get(move |axum::extract::Path(page): axum::extract::Path<String>| {
            let app_url = app_url.clone();
            async move {
                axum::response::Html(format!(
                    "<!doctype html><html><head><title>SuperOffice CRM (stand-in)</title></head>\
                     <body style=\"font-family:sans-serif;background:#dde3ea;margin:0\">\
                     <header style=\"padding:.6rem 1rem;background:#24344d;color:#fff\">SuperOffice CRM \
                     (a test page on another site)</header>\
                     <iframe id=\"panel\" title=\"Demo Partner App\" \
                     src=\"{app_url}/panels/{page}?ctx={TENANT}&amp;user=6\" \
                     style=\"width:640px;height:560px;border:1px solid #99a;margin:1rem;background:#fff\">\
                     </iframe></body></html>"
                ))
            }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    // `localhost`, not 127.0.0.1: another site than the app's, as superoffice.com is.
    (format!("http://localhost:{port}"), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_to_the_panel_in_a_pop_up_and_the_panel_shows_them() {
    let app = App::start().await;
    // Ada installs the app (over HTTP: the browser below is Ulf's).
    let ada = app.sign_in_to_install(ADMIN).await;
    app.press_install(&ada).await;
    app.wait_for_status(&ada, "installed").await;

    let (crm, host) = crm_host(&app.app.url).await;
    let b = Browser::start_with(&["--test-third-party-cookie-phaseout"]).await;
    b.client.goto(&format!("{crm}/contact")).await.unwrap();
    let crm_window = b.client.window().await.unwrap();

    // The panel in its iframe asks to sign in.
    b.wait_for("#panel", 15).await.enter_frame().await.unwrap();
    b.wait_for("#sign-in", 15).await;
    let text = b.look(SHOTS, "1-panel-asks-to-sign-in").await;
    assert!(
        text.contains("Sign in to see Demo Partner App here."),
        "{text}"
    );

    // Sign in: a pop-up with SuperOffice's (the simulator's) sign-in.
    b.wait_for("#sign-in", 5).await.click().await.unwrap();
    let mut popup = None;
    for _ in 0..100 {
        let windows = b.client.windows().await.unwrap();
        if let Some(w) = windows.into_iter().find(|w| *w != crm_window) {
            popup = Some(w);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let popup = popup.expect("the sign-in pop-up opened");
    b.client.switch_to_window(popup).await.unwrap();
    b.wait_for("input[id='user-ulf@demo.example']", 15)
        .await
        .click()
        .await
        .unwrap();
    let png = b.client.screenshot().await.unwrap();
    // The simulator's page, not ours: saved, not checked for the app's internals.
    std::fs::create_dir_all(SHOTS).unwrap();
    std::fs::write(
        std::path::Path::new(SHOTS).join("2-pop-up-sign-in.png"),
        png,
    )
    .unwrap();
    b.wait_for("#continue", 15).await.click().await.unwrap();

    // The pop-up hands the code to the panel and closes itself.
    let mut closed = false;
    for _ in 0..150 {
        if b.client.windows().await.unwrap().len() == 1 {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the pop-up closed itself");
    b.client.switch_to_window(crm_window).await.unwrap();
    b.wait_for("#panel", 5).await.enter_frame().await.unwrap();
    let who = b.wait_for("#signed-in-as", 20).await;
    assert_eq!(who.text().await.unwrap(), "ulf@demo.example");
    b.wait_for("[data-state='installed']", 5).await;
    let text = b.look(SHOTS, "3-panel-signed-in").await;
    for words in [
        "Demo Partner App is installed and ready in Demo Company AS's SuperOffice.",
        "Demo Company AS",
        "Open Demo Partner App",
    ] {
        assert!(text.contains(words), "{words:?} in the panel:\n{text}");
    }

    // The navigator button's page, in the same (SuperOffice's) partition: already signed in.
    b.client.enter_parent_frame().await.unwrap();
    b.client.goto(&format!("{crm}/home")).await.unwrap();
    b.wait_for("#panel", 15).await.enter_frame().await.unwrap();
    b.wait_for("#items", 15).await;
    let text = b.look(SHOTS, "4-home-signed-in").await;
    assert!(text.contains("ulf@demo.example"), "{text}");
    assert!(
        text.contains("The button \"Demo Partner App\" in the navigator"),
        "{text}"
    );

    // The app's own cookie is not the panel's: opened top-level, the app's start page knows Ulf
    // from the pop-up's sign-in, and the panel cookie never shows up there.
    b.client.enter_parent_frame().await.unwrap();
    b.client.goto(&app.url("/")).await.unwrap();
    let user = b.wait_for("#user", 15).await;
    assert_eq!(user.text().await.unwrap(), "ulf@demo.example");
    let cookies = b.client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().any(|c| c.name() == "__Host-session"),
        "the pop-up's first-party session"
    );
    assert!(
        cookies.iter().all(|c| c.name() != "__Host-panel"),
        "the panel cookie lives in SuperOffice's partition only"
    );

    b.stop().await;
    host.abort();
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_pop_up_is_said_so_with_a_link_that_opens_the_sign_in_in_a_tab() {
    let app = App::start().await;
    let (crm, host) = crm_host(&app.app.url).await;
    let b = Browser::start_with(&["--test-third-party-cookie-phaseout"]).await;
    b.client.goto(&format!("{crm}/contact")).await.unwrap();
    b.wait_for("#panel", 15).await.enter_frame().await.unwrap();
    b.wait_for("#sign-in", 15).await;
    // What a pop-up blocker does to window.open.
    b.client
        .execute("window.open = function () { return null; };", vec![])
        .await
        .unwrap();
    b.wait_for("#sign-in", 5).await.click().await.unwrap();
    let notice = b.wait_for("#popup-blocked", 5).await;
    assert!(notice.is_displayed().await.unwrap(), "the notice is shown");
    let text = b.look(SHOTS, "5-pop-up-blocked").await;
    assert!(
        text.contains("Your browser blocked the sign-in window."),
        "{text}"
    );
    let link = b.wait_for("#sign-in-tab", 5).await;
    assert_eq!(
        link.attr("href").await.unwrap().as_deref(),
        Some("/login?return=/panels/handoff")
    );
    assert_eq!(
        link.attr("target").await.unwrap().as_deref(),
        Some("_blank")
    );
    assert!(
        !b.wait_for("#waiting", 5)
            .await
            .is_displayed()
            .await
            .unwrap(),
        "only the notice"
    );
    b.stop().await;
    host.abort();
    app.app.stop().await;
}
