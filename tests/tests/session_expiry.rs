//! Sessions end on time: the redirect handler driven directly (no HTTP server) with a manual clock,
//! against the simulator for the sign-in itself.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use domain::config::AppConfig;
use domain::manifest::Manifest;
use integration_tests::*;
use redirect::Redirect;
use superoffice::client::{PlatformConfig, SuperOffice};
use superoffice::clock::{FixedJitter, ManualClock};
use superoffice::transport::ReqwestTransport;
use superoffice_simulator::user_agent::{self, Choice, Delivery};
use web::{RequestContext, WebRequest, WebResponse};

const BASE: &str = "http://127.0.0.1:9";

fn ctx() -> RequestContext {
    RequestContext {
        request_id: "test".into(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> WebRequest {
    let mut b = http::Request::get(path);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.body(Bytes::new()).unwrap()
}

fn cookie(resp: &WebResponse, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        // A name ending in `-` is a prefix (`__Host-signin-`: one sign-in cookie per state).
        .find(|c| {
            c.starts_with(&format!("{name}=")) || (name.ends_with('-') && c.starts_with(name))
        })
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn body(resp: &WebResponse) -> String {
    String::from_utf8_lossy(resp.body()).into_owned()
}

#[tokio::test]
async fn a_session_expires_after_the_configured_hours_and_the_page_asks_to_sign_in_again() {
    let sim = simulator(vec![format!("{BASE}/callback")]).await;
    let data = tempfile::tempdir().unwrap();
    let vars = [
        ("SO_ENVIRONMENT", sim.issuer()),
        ("SO_CLIENT_ID", CLIENT_ID.to_owned()),
        ("SO_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("APP_BASE_URL", BASE.to_owned()),
        ("APP_DATA_DIR", data.path().display().to_string()),
        ("APP_SESSION_HOURS", "2".to_owned()),
    ];
    let config =
        AppConfig::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
            .expect("valid configuration");
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let so = SuperOffice::new(
        PlatformConfig::new(
            config.environment.clone(),
            CLIENT_ID,
            superoffice::Secret::new(""),
        ),
        Arc::new(ReqwestTransport::new().unwrap()),
        clock.clone(),
        Arc::new(FixedJitter(1.0)),
    );
    // The local deployment with SuperOffice and the app on the manual clock.
    let mut deployment = app::local::deployment(
        Arc::new(config),
        Arc::new(Manifest::demo()),
        Duration::from_secs(60),
    )
    .unwrap();
    deployment.superoffice = Arc::new(so);
    deployment.clock = clock.clone();
    let app = Redirect::new(&deployment);

    let login = app.handle(get("/login", None), &ctx()).await;
    let authorize = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let binding = cookie(&login, "__Host-signin-").unwrap();
    let Delivery::FormPost { fields, .. } = user_agent::sign_in(
        &authorize,
        &Choice {
            context_id: TENANT,
            email: ADMIN,
            approve: true,
        },
    )
    .await
    .unwrap() else {
        panic!("form_post expected")
    };
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let callback = http::Request::post("/callback")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &binding)
        .body(Bytes::from(form))
        .unwrap();
    let done = app.handle(callback, &ctx()).await;
    assert_eq!(done.status(), 303, "{}", body(&done));
    let session = cookie(&done, "__Host-session").unwrap();

    clock.advance(Duration::from_secs(2 * 3600 - 1));
    assert!(body(&app.handle(get("/", Some(&session)), &ctx()).await).contains(ADMIN));
    clock.advance(Duration::from_secs(1));
    let page = body(&app.handle(get("/", Some(&session)), &ctx()).await);
    assert!(
        page.contains("Sign in with SuperOffice"),
        "expired after exactly 2 hours"
    );
    sim.shutdown().await;
}
