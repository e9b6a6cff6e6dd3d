//! `soapp serve` restarted on the same data folder: the simulated tenant an administrator installed
//! the app into still holds what the install created (the simulator's state file), with the same
//! consent and system token, so the restarted runner and the app agree about the tenant.

use std::time::Duration;

use soapp::local::{self, DEMO_CLIENT_ID, LocalApp, ServeOptions, SuperOfficeTarget};
use superoffice_simulator::WebApiSnapshot;
use superoffice_simulator::user_agent::{self, Choice, Delivery};

const TENANT: &str = "Cust12345";

async fn serve(data: &std::path::Path) -> LocalApp {
    local::start(ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.to_owned(),
        superoffice: SuperOfficeTarget::Simulator,
        public_url: None,
        manifest: None,
        settings: Vec::new(),
    })
    .await
    .expect("the local app starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `name=value` of the response's Set-Cookie for `name`.
fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        // A name ending in `-` is a prefix (`__Host-signin-`: one sign-in cookie per state).
        .find(|c| {
            c.starts_with(&format!("{name}=")) || (name.ends_with('-') && c.starts_with(name))
        })
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
}

/// Ada signs in for the install (the Install link's sign-in, approving at the simulator); returns
/// the app's session cookie.
async fn sign_in_to_install(app: &LocalApp) -> String {
    let http = http();
    let url = &app.url;
    let login = http
        .get(format!("{url}/login?intent=install&return=/install"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let authorize = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let binding = cookie(&login, "__Host-signin-").expect("a sign-in binding cookie");
    let Delivery::FormPost { fields, .. } = user_agent::sign_in(
        &authorize,
        &Choice {
            context_id: TENANT,
            email: "ada@demo.example",
            approve: true,
        },
    )
    .await
    .unwrap() else {
        panic!("form_post expected")
    };
    let signed_in = http
        .post(format!("{url}/callback"))
        .header("cookie", &binding)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/install");
    cookie(&signed_in, "__Host-session").expect("a session cookie")
}

/// Presses Install on the confirmation page and waits until the status page says it is done.
async fn install(app: &LocalApp, session: &str) {
    let http = http();
    let url = &app.url;
    let page = http
        .get(format!("{url}/install"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = user_agent::input_value(&page.text().await.unwrap(), "csrf")
        .expect("the install confirmation form");
    let pressed = http
        .post(format!("{url}/install"))
        .header("cookie", session)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        pressed.status().is_success() || pressed.status().is_redirection(),
        "{}",
        pressed.status()
    );
    let mut status = String::new();
    for _ in 0..300 {
        status = status_page(app, session).await;
        if status.contains("data-status=\"installed\"") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the install never finished: {status}");
}

async fn status_page(app: &LocalApp, session: &str) -> String {
    http()
        .get(format!("{}/install/status", app.url))
        .header("cookie", session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// What the simulated tenant holds, without the counts taken from the request log (a restarted
/// runner has a new log).
fn holdings(app: &LocalApp) -> WebApiSnapshot {
    let sim = app.simulator.as_ref().expect("the built-in simulator");
    let mut snap = sim.webapi_snapshot(TENANT).expect("the demo tenant");
    snap.calls.clear();
    snap.requests_before_retry_after = 0;
    snap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_runner_still_shows_the_installed_tenant() {
    let data = tempfile::tempdir().unwrap();
    let app = serve(data.path()).await;
    let session = sign_in_to_install(&app).await;
    install(&app, &session).await;
    let installed = holdings(&app);
    let sim = app.simulator.as_ref().unwrap();
    let system_token = sim
        .system_token(TENANT, DEMO_CLIENT_ID)
        .expect("a system token");
    assert!(
        installed
            .web_panels
            .iter()
            .any(|p| p.owner_client_id.as_deref() == Some(DEMO_CLIENT_ID)),
        "the install created the app's web panel: {installed:?}"
    );
    assert!(
        installed
            .udef("Contact")
            .unwrap()
            .published_field("DemoPartnerApp.CustomerNumber")
            .is_some()
    );
    app.stop().await;
    assert!(
        data.path().join("simulator/state.json").is_file(),
        "the simulator's state is in the data folder"
    );

    let app = serve(data.path()).await;
    assert_eq!(holdings(&app), installed);
    let sim = app.simulator.as_ref().unwrap();
    assert!(sim.has_consent(TENANT, DEMO_CLIENT_ID));
    assert_eq!(
        sim.system_token(TENANT, DEMO_CLIENT_ID).as_deref(),
        Some(system_token.as_str())
    );

    // The app, whose own store survived too, still says the tenant is installed, and now the
    // tenant agrees: an administrator following the Install link again is sent to the status page.
    let session = sign_in_to_install(&app).await;
    let again = http()
        .get(format!("{}/install", app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"], "/install/status");
    let status = status_page(&app, &session).await;
    assert!(status.contains("data-status=\"installed\""), "{status}");
    assert_eq!(holdings(&app), installed, "nothing changed by looking");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_simulator_state_stops_the_runner_with_a_message() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("simulator")).unwrap();
    std::fs::write(data.path().join("simulator/state.json"), b"{ not json").unwrap();
    let err = local::start(ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_owned(),
        superoffice: SuperOfficeTarget::Simulator,
        public_url: None,
        manifest: None,
        settings: Vec::new(),
    })
    .await
    .err()
    .expect("a damaged state file stops the start");
    let message = err.to_string();
    assert!(message.contains("state.json"), "{message}");
    assert!(message.contains("move it away"), "{message}");
}
