//! The findings of the security review (issue 11), one test (or a few) per item, against the local
//! runner over HTTP and the simulator as SuperOffice, or the handlers driven directly where a store
//! must be counted or a clock moved. Each refusal is checked as a person and an operator meet it: a
//! 4xx page with its reason code, nothing changed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use adapters::local::queue::LocalQueue;
use adapters::secrets::SecretLoader;
use aws_lc_rs::hmac;
use base64::Engine;
use bytes::Bytes;
use domain::config::AppConfig;
use domain::manifest::Manifest;
use domain::sealing::testing::TestSealer;
use domain::store::Items;
use domain::store::memory::MemoryItems;
use domain::tenant::{InstallStatus, Tenants};
use domain::{Deployment, Ports};
use integration_tests::install_app::{App, cookie, set_cookie};
use integration_tests::*;
use reqwest::StatusCode;
use superoffice::client::{PlatformConfig, SuperOffice};
use superoffice::clock::{BoxFuture, Clock, FixedJitter, ManualClock, unix_seconds};
use superoffice::jwt::{IdTokenRules, Reason, SystemUserRules};
use superoffice::system_user::{KnownSerials, SystemUserError};
use superoffice::testing::TestSigner;
use superoffice::transport::ReqwestTransport;
use superoffice::{Environment, Secret, TenantId};
use superoffice_simulator::Route;
use superoffice_simulator::user_agent::{self, Choice, Delivery};
use url::Url;
use web::{RequestContext, WebRequest, WebResponse};

fn fields_of(d: &Delivery) -> Vec<(String, String)> {
    match d {
        Delivery::FormPost { fields, .. } => fields.clone(),
        Delivery::Redirect(u) => u.query_pairs().into_owned().collect(),
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
}

fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

// ---------------------------------------------------------------------------------------------
// 1. Open redirect after sign-in
// ---------------------------------------------------------------------------------------------

/// `return` values an attacker may put in a sign-in link, as the app reads them (the query string
/// is encoded for transport). Every one must end on the app's own start page.
const HOSTILE_RETURNS: &[&str] = &[
    "//attacker.example",
    "///attacker.example",
    "/.//attacker.example",
    "/..//attacker.example",
    "/./..//attacker.example",
    "/install/..//attacker.example",
    "/%2e//attacker.example",
    "/%2E%2E//attacker.example",
    "/.%2e/attacker.example",
    "/%252e%252e//attacker.example",
    "/%2f%2fattacker.example",
    "/%5cattacker.example",
    "/\\attacker.example",
    "\\\\attacker.example",
    "/\t/attacker.example",
    "/\n/attacker.example",
    "/\r\n//attacker.example",
    "/install;//attacker.example",
    "/%00//attacker.example",
    "/\0//attacker.example",
    "/\u{ff0f}attacker.example",
    "/\u{ff0f}\u{ff0f}attacker.example",
    "/\u{3002}attacker.example",
    "/\u{2028}//attacker.example",
    "/@attacker.example",
    "//user@attacker.example",
    " //attacker.example",
    "https://attacker.example/",
    "https:attacker.example",
    "http://127.0.0.1:1/",
    "javascript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "attacker.example",
    "/install?next=//attacker.example",
    "/manage#//attacker.example",
    "/not-a-page-of-ours",
];

#[tokio::test]
async fn item01_every_hostile_return_value_ends_on_the_apps_own_origin() {
    assert!(HOSTILE_RETURNS.len() >= 20);
    let app = App::start().await;
    let origin = Url::parse(&app.url("/")).unwrap().origin();
    for hostile in HOSTILE_RETURNS {
        let query = format!(
            "?return={}",
            url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect::<String>()
        );
        let r = app.sign_in(ADMIN, &query).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "return={hostile:?}");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location, "/", "return={hostile:?}");
        let landed = Url::parse(&app.url("/")).unwrap().join(&location).unwrap();
        assert_eq!(landed.origin(), origin, "return={hostile:?}");
    }
    // The app's own pages are followed exactly.
    for own in [
        "/install",
        "/install/status",
        "/manage?tab=usage",
        "/panels/contact",
    ] {
        let query = format!(
            "?return={}",
            url::form_urlencoded::byte_serialize(own.as_bytes()).collect::<String>()
        );
        let r = app.sign_in(ADMIN, &query).await;
        assert_eq!(r.headers()["location"], own);
    }
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. The binding is compared before anything is spent
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn item02_a_state_without_its_browsers_cookie_can_neither_cancel_nor_finish_the_sign_in() {
    let app = App::start().await;
    let (authorize, victim) = app.begin("").await;
    let fields = fields_of(&app.consent(&authorize, ADMIN, true).await);
    let state = field(&fields, "state").to_owned();
    let (_, attackers_own) = app.begin("").await;

    // Cancelling the victim's sign-in with its state: without the cookie, and with another one.
    let cancel = vec![
        ("state".to_owned(), state.clone()),
        ("error".to_owned(), "access_denied".to_owned()),
    ];
    for cookie in [None, Some(attackers_own.as_str())] {
        let r = app.callback(&cancel, cookie).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{cookie:?}");
        assert!(
            r.headers().get_all("set-cookie").iter().next().is_none(),
            "nothing is cleared"
        );
    }
    // Finishing it with the victim's code: refused before the code is exchanged.
    for cookie in [None, Some(attackers_own.as_str())] {
        let r = app.callback(&fields, cookie).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(set_cookie(&r, "__Host-session").is_none());
    }
    assert_eq!(app.sim().count(Route::Token), 0, "no code was exchanged");

    // The victim's own browser still finishes its sign-in.
    let r = app.callback(&fields, Some(&victim)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&r, "__Host-session").is_some());
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. GET /callback
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn item03_a_code_in_a_query_string_is_refused_and_spends_nothing() {
    let app = App::start().await;
    let (authorize, binding) = app.begin("").await;
    let fields = fields_of(&app.consent(&authorize, ADMIN, true).await);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let r = app
        .http
        .get(app.url(&format!("/callback?{query}")))
        .header("cookie", &binding)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&r, "__Host-session").is_none());
    assert!(r.text().await.unwrap().contains("code_in_query"));
    let r = app.http.get(app.url("/callback")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("callback_not_form_post"));
    assert_eq!(
        app.sim().count(Route::Token),
        0,
        "the code was not exchanged"
    );
    // The sign-in itself is untouched: the form_post finishes it.
    let r = app.callback(&fields, Some(&binding)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. One cookie per sign-in
// ---------------------------------------------------------------------------------------------

/// A browser's cookies for the app, kept as a browser keeps them.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, r: &reqwest::Response) {
        for c in r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let pair = c.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn sign_ins(&self) -> usize {
        self.0
            .keys()
            .filter(|k| k.starts_with("__Host-signin-"))
            .count()
    }
}

async fn login_in(app: &App, jar: &mut Jar, query: &str) -> Url {
    let r = app
        .http
        .get(app.url(&format!("/login{query}")))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    jar.take(&r);
    Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn item04_a_second_sign_in_in_another_tab_does_not_break_the_first() {
    let app = App::start().await;
    let mut jar = Jar::default();
    let first = login_in(&app, &mut jar, "?return=/install/status").await;
    let second = login_in(&app, &mut jar, "").await;
    assert_eq!(jar.sign_ins(), 2, "one cookie per sign-in");
    let first_fields = fields_of(&app.consent(&first, ADMIN, true).await);
    let second_fields = fields_of(&app.consent(&second, ADMIN, true).await);
    // The first tab finishes after the second one started, and the second after that.
    let r = app.callback(&first_fields, Some(&jar.header())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/install/status");
    jar.take(&r);
    let r = app.callback(&second_fields, Some(&jar.header())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    jar.take(&r);
    assert_eq!(jar.sign_ins(), 0, "finished sign-ins clear their cookies");

    // A page that sends the browser to /login over and over leaves at most a few cookies, and the
    // newest sign-in still works.
    let mut last = None;
    for _ in 0..12 {
        last = Some(login_in(&app, &mut jar, "").await);
    }
    assert_eq!(jar.sign_ins(), web::cookies::MAX_SIGN_INS);
    let fields = fields_of(&app.consent(&last.unwrap(), ADMIN, true).await);
    let r = app.callback(&fields, Some(&jar.header())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Handlers on a store we can count, with a clock we can move
// ---------------------------------------------------------------------------------------------

struct Counted;

impl Ports for Counted {
    type Items = MemoryItems;
    type Sealer = TestSealer;
    type Queue = LocalQueue;
    type Secrets = SecretLoader;
}

const BASE: &str = "http://127.0.0.1:9";

struct Handlers {
    sim: superoffice_simulator::SimulatorHandle,
    items: Arc<MemoryItems>,
    clock: Arc<ManualClock>,
    redirect: redirect::Redirect<Counted>,
    install: install::Install<Counted>,
    _data: tempfile::TempDir,
}

fn ctx() -> RequestContext {
    RequestContext {
        request_id: "test".into(),
    }
}

fn request(method: &str, path: &str, cookie: &str, form: Option<&str>) -> WebRequest {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin");
    if form.is_some() {
        b = b.header("content-type", "application/x-www-form-urlencoded");
    }
    b.body(Bytes::from(form.unwrap_or("").to_owned())).unwrap()
}

fn set_cookies(resp: &WebResponse) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

fn pair_of(set_cookies: &[String], prefix: &str) -> Option<String> {
    set_cookies
        .iter()
        .find(|c| c.starts_with(prefix) && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn body(resp: &WebResponse) -> String {
    String::from_utf8_lossy(resp.body()).into_owned()
}

impl Handlers {
    async fn start() -> Self {
        integration_tests::logs::capture();
        let sim = simulator(vec![format!("{BASE}/callback")]).await;
        let data = tempfile::tempdir().unwrap();
        let vars = [
            ("SO_ENVIRONMENT", sim.issuer()),
            ("SO_CLIENT_ID", CLIENT_ID.to_owned()),
            ("SO_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("APP_BASE_URL", BASE.to_owned()),
            ("APP_DATA_DIR", data.path().display().to_string()),
        ];
        let config =
            AppConfig::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
                .expect("valid configuration");
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let so = SuperOffice::new(
            PlatformConfig::new(config.environment.clone(), CLIENT_ID, Secret::new("")),
            Arc::new(ReqwestTransport::new().unwrap()),
            clock.clone(),
            Arc::new(FixedJitter(1.0)),
        );
        let items = Arc::new(MemoryItems::new());
        let deployment: Deployment<Counted> = Deployment {
            config: Arc::new(config),
            manifest: Arc::new(Manifest::demo()),
            items: items.clone(),
            sealer: Arc::new(TestSealer),
            queue: Arc::new(LocalQueue::new(Duration::from_secs(60))),
            secrets: Arc::new(SecretLoader::local()),
            superoffice: Arc::new(so),
            clock: clock.clone(),
        };
        Handlers {
            sim,
            items,
            clock,
            redirect: redirect::Redirect::new(&deployment),
            install: install::Install::new(&deployment),
            _data: data,
        }
    }

    async fn redirect(&self, req: WebRequest) -> WebResponse {
        self.redirect.handle(req, &ctx()).await
    }

    async fn install(&self, req: WebRequest) -> WebResponse {
        self.install.handle(req, &ctx()).await
    }

    /// `GET /login{query}`: the authorize URL and the sign-in cookie.
    async fn login(&self, query: &str) -> (Url, String) {
        let resp = self
            .redirect(request("GET", &format!("/login{query}"), "", None))
            .await;
        assert_eq!(resp.status(), 303, "{}", body(&resp));
        let authorize = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        let cookie = pair_of(&set_cookies(&resp), "__Host-signin-").expect("a sign-in cookie");
        (authorize, cookie)
    }

    async fn consent(&self, authorize: &Url) -> String {
        let delivery = user_agent::sign_in(
            authorize,
            &Choice {
                context_id: TENANT,
                email: ADMIN,
                approve: true,
            },
        )
        .await
        .unwrap();
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields_of(&delivery))
            .finish()
    }

    async fn callback(&self, form: &str, cookie: &str) -> WebResponse {
        self.redirect(request("POST", "/callback", cookie, Some(form)))
            .await
    }

    /// A whole sign-in; the callback's answer.
    async fn sign_in(&self, query: &str) -> WebResponse {
        let (authorize, cookie) = self.login(query).await;
        let form = self.consent(&authorize).await;
        self.callback(&form, &cookie).await
    }
}

// ---------------------------------------------------------------------------------------------
// 5. /login writes nothing; a used state is refused
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn item05_login_writes_nothing_and_a_state_is_used_once() {
    let h = Handlers::start().await;
    for query in [
        "",
        "?intent=install",
        "?return=/install/status",
        "?intent=install&return=/install",
    ] {
        for _ in 0..25 {
            h.login(query).await;
        }
    }
    assert!(
        h.items.all().is_empty(),
        "100 anonymous sign-in starts wrote {:?}",
        h.items.all()
    );

    let (authorize, cookie) = h.login("").await;
    let form = h.consent(&authorize).await;
    let resp = h.callback(&form, &cookie).await;
    assert_eq!(resp.status(), 303, "{}", body(&resp));
    let mut keys: Vec<String> = h
        .items
        .all()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i.pk.split('#').next().unwrap(),
                i.sk.split('#').next().unwrap()
            )
        })
        .collect();
    keys.sort();
    // The session, the spent state, and the session's entry in its tenant's session index (so an
    // uninstall or a deleted tenant ends it); no tenant record for an ordinary sign-in.
    assert_eq!(
        keys,
        ["SESSION SESSION", "SPENT STATE", "TENANT SESSIONREF"],
        "the first writes of a sign-in"
    );

    // SuperOffice issues a new code for the same state (the same authorize request signed in
    // again): the code is good, the state is spent.
    let again = h.consent(&authorize).await;
    let tokens_before = h.sim.count(Route::Token);
    let resp = h.callback(&again, &cookie).await;
    assert_eq!(resp.status(), 400);
    assert!(body(&resp).contains("state_unknown"), "{}", body(&resp));
    assert_eq!(
        h.sim.count(Route::Token),
        tokens_before + 1,
        "SuperOffice accepted it"
    );
    assert_eq!(
        h.items.all().len(),
        keys.len(),
        "no second session (nor its index entry)"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Installing rests on a recent sign-in
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn item06_installing_rests_on_a_recent_sign_in_and_a_recent_authentication() {
    let h = Handlers::start().await;
    let (authorize, _) = h.login("?intent=install&return=/install").await;
    assert_eq!(
        query_value(&authorize, "max_age").as_deref(),
        Some("300"),
        "the install sign-in asks SuperOffice for a recent authentication"
    );
    let (plain, _) = h.login("").await;
    assert_eq!(query_value(&plain, "max_age"), None);

    let resp = h.sign_in("?intent=install&return=/install").await;
    assert_eq!(resp.status(), 303, "{}", body(&resp));
    let session = pair_of(&set_cookies(&resp), "__Host-session=").unwrap();
    h.clock.advance(Duration::from_secs(60));
    let page = h.install(request("GET", "/install", &session, None)).await;
    assert_eq!(page.status(), 200, "{}", body(&page));
    let csrf = user_agent::input_value(&body(&page), "csrf").unwrap();

    // Six minutes later the same administrator's session no longer installs.
    h.clock.advance(Duration::from_secs(6 * 60));
    let sign_in_again = "/login?intent=install&return=/install";
    let page = h.install(request("GET", "/install", &session, None)).await;
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], sign_in_again);
    let form = format!("csrf={csrf}");
    let pressed = h
        .install(request("POST", "/install", &session, Some(&form)))
        .await;
    assert_eq!(pressed.status(), 303);
    assert_eq!(pressed.headers()["location"], sign_in_again);
    let tenant = TenantId::parse(TENANT).unwrap();
    let tenants = Tenants::new(h.items.clone());
    let now = unix_seconds(h.clock.now());
    assert_eq!(
        tenants
            .get(&tenant, now)
            .await
            .unwrap()
            .unwrap()
            .value
            .status,
        InstallStatus::Consented,
        "nothing was queued"
    );
    // The session still shows who is signed in: only tenant-changing actions ask again.
    let home = h.redirect(request("GET", "/", &session, None)).await;
    assert!(body(&home).contains(ADMIN));

    // SuperOffice reusing an authentication older than max_age is refused at the callback.
    h.clock.set(SystemTime::now());
    h.sim.remember_sign_in(Some(Duration::from_secs(3600)));
    let stale = h.sign_in("?intent=install&return=/install").await;
    assert_eq!(stale.status(), 401, "{}", body(&stale));
    assert!(body(&stale).contains("token_invalid"));
    assert!(
        set_cookies(&stale)
            .iter()
            .all(|c| !c.starts_with("__Host-session="))
    );
    assert!(logs::captured().contains("auth_time_too_old"));
    // A plain sign-in asks for no max_age and is not refused for it.
    let plain = h.sign_in("").await;
    assert_eq!(plain.status(), 303);
    h.sim.remember_sign_in(None);

    // A fresh install sign-in installs.
    let resp = h.sign_in("?intent=install&return=/install").await;
    let session = pair_of(&set_cookies(&resp), "__Host-session=").unwrap();
    let page = h.install(request("GET", "/install", &session, None)).await;
    let csrf = user_agent::input_value(&body(&page), "csrf").unwrap();
    let pressed = h
        .install(request(
            "POST",
            "/install",
            &session,
            Some(&format!("csrf={csrf}")),
        ))
        .await;
    assert_eq!(pressed.headers()["location"], "/install/status");
    let now = unix_seconds(h.clock.now());
    assert_eq!(
        tenants
            .get(&tenant, now)
            .await
            .unwrap()
            .unwrap()
            .value
            .status,
        InstallStatus::Queued
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Webhook deliveries outside the retry horizon
// ---------------------------------------------------------------------------------------------

async fn installed() -> (App, String) {
    let app = App::start().await;
    let session = app.sign_in_to_install(ADMIN).await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    let snap = app.sim().webapi_snapshot(TENANT).unwrap();
    let secret = snap.webhooks[0].webhook["Secret"]
        .as_str()
        .expect("the webhook's secret")
        .to_owned();
    (app, secret)
}

async fn deliver(app: &App, secret: &str, event_id: &str, timestamp: &str) -> reqwest::Response {
    let body = serde_json::json!({
        "EventId": event_id,
        "Timestamp": timestamp,
        "Changes": ["contact_id"],
        "Event": "contact.changed",
        "PrimaryKey": 42,
        "Entity": "contact",
        "ContextIdentifier": TENANT,
        "ChangedByAssociateId": 1,
        "WebhookName": "Demo Partner App contact changes"
    })
    .to_string();
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let signature =
        base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, body.as_bytes()));
    app.http
        .post(app.url(&format!("/webhooks/superoffice/{TENANT}")))
        .header("content-type", "application/json")
        .header("x-superoffice-signature", signature)
        .header("x-superoffice-event", "contact.changed")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn rfc3339(at: SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn recorded_events(app: &App) -> usize {
    app.app
        .items
        .query(&format!("TENANT#{TENANT}"), "EVENT#", 0)
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item07_a_signed_delivery_outside_the_retry_horizon_is_refused_and_changes_nothing() {
    let (app, secret) = installed().await;
    let now = SystemTime::now();
    let before = recorded_events(&app).await;
    for (i, timestamp) in [
        rfc3339(now - Duration::from_secs(11 * 60)),
        rfc3339(now - Duration::from_secs(86_400)),
        rfc3339(now - Duration::from_secs(40 * 86_400)),
        rfc3339(now + Duration::from_secs(6 * 60)),
        "2018-04-24T07:50:50.6812131Z".to_owned(),
        "not a time".to_owned(),
        String::new(),
    ]
    .iter()
    .enumerate()
    {
        let r = deliver(&app, &secret, &format!("stale-{i}"), timestamp).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{timestamp:?}");
    }
    assert_eq!(recorded_events(&app).await, before, "nothing recorded");

    // SuperOffice's own deliveries and retries (seconds old) are recorded once, as before.
    let fresh = rfc3339(now - Duration::from_secs(5));
    let r = deliver(&app, &secret, "fresh-1", &fresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = deliver(&app, &secret, "fresh-1", &fresh).await;
    assert_eq!(r.status(), StatusCode::OK, "a retry");
    assert_eq!(recorded_events(&app).await, before + 1, "recorded once");
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Untrusted values in text logs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn item08_untrusted_values_cannot_forge_a_log_line() {
    let app = App::start().await;
    let forged =
        "2030-01-01T00:00:00.000000Z  INFO session started reason=\"signed_in\" tenant=Cust99999";
    let (authorize, binding) = app.begin("").await;
    let state = query_value(&authorize, "state").unwrap();
    let r = app
        .callback(
            &[
                ("state".into(), state),
                ("error".into(), format!("access_denied\n{forged}")),
            ],
            Some(&binding),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A header value cannot hold a line break, but it can hold bytes a terminal or a log viewer
    // reads as one (U+2028, NEL) or as control (tab).
    let r = app
        .http
        .post(app.url(&format!("/webhooks/superoffice/{TENANT}")))
        .header(
            "x-superoffice-event",
            reqwest::header::HeaderValue::from_bytes(
                "contact.changed\u{2028}FORGED\u{85}LINE\tX".as_bytes(),
            )
            .unwrap(),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let logs = logs::captured();
    assert!(
        logs.lines().all(|l| !l.starts_with("2030-01-01")),
        "a forged line: {logs}"
    );
    assert!(logs.contains("access_denied\\n2030-01-01"), "{logs}");
    assert!(
        logs.contains("contact.changed\\u{2028}FORGED\\u{85}LINE\\tX"),
        "{logs}"
    );
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 9. Service URLs per environment
// ---------------------------------------------------------------------------------------------

#[test]
fn item09_a_token_pointing_at_another_environments_host_is_refused() {
    let signer = TestSigner::generate("k");
    let keys = signer.key_set();
    let now = SystemTime::now();
    let claims = |env: &Environment, host: &str| {
        let t = unix_seconds(now);
        serde_json::json!({
            "iss": env.issuer(), "aud": CLIENT_ID, "sub": "ada", "iat": t, "exp": t + 300,
            "http://schemes.superoffice.net/identity/ctx": "Cust12345",
            "http://schemes.superoffice.net/identity/webapi_url": format!("https://{host}.superoffice.com/Cust12345/api/"),
        })
    };
    let hosts: [(Environment, &[&str]); 3] = [
        (Environment::Sod, &["sod", "sod2", "app-sod"]),
        (Environment::Stage, &["qaonline", "stage", "app-stage"]),
        (Environment::Online, &["online", "online2", "app"]),
    ];
    for (env, own) in &hosts {
        let rules = IdTokenRules::new(env.clone(), CLIENT_ID);
        for (other_env, other_hosts) in &hosts {
            for host in *other_hosts {
                let token = signer.sign(&claims(env, host));
                let result = superoffice::jwt::validate_id_token(&token, &keys, &rules, now, None);
                if other_env == env {
                    assert!(result.is_ok(), "{env}: {host}: {result:?}");
                    assert!(own.contains(host));
                } else {
                    assert!(
                        matches!(result, Err(Reason::HostNotAllowed { .. })),
                        "{env} accepted {host}: {result:?}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 10. System-user tokens: ctx required, serial the tenant's
// ---------------------------------------------------------------------------------------------

struct Serials(Mutex<BTreeMap<String, String>>);

impl KnownSerials for Serials {
    fn serial<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<String>, &'static str>> {
        let found = self.0.lock().unwrap().get(tenant.as_str()).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}

#[tokio::test]
async fn item10_a_ticket_for_another_database_or_without_a_tenant_is_refused() {
    let sim = simulator(vec![REDIRECT.into()]).await;
    assert!(sim.grant_consent(TENANT, CLIENT_ID));
    let system_token = Secret::new(sim.system_token(TENANT, CLIENT_ID).unwrap());
    let tenant = TenantId::parse(TENANT).unwrap();
    let so = platform(&sim);
    let serials = Arc::new(Serials(Mutex::new(BTreeMap::from([(
        TENANT.to_owned(),
        "1801550194".to_owned(), // the other demo tenant's database
    )]))));
    let client = so
        .system_user_with_serials(partner_key(), serials.clone())
        .await
        .unwrap();
    let refused = client
        .ticket(&tenant, &system_token, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            SystemUserError::InvalidToken(Reason::SerialMismatch { .. })
        ),
        "{refused}"
    );
    serials
        .0
        .lock()
        .unwrap()
        .insert(TENANT.into(), "1801550193".into());
    client
        .ticket(&tenant, &system_token, None)
        .await
        .expect("the tenant's own database");

    // Tokens the simulator would not issue: no ctx, another tenant's ctx.
    let signer = TestSigner::generate("su");
    let t = unix_seconds(SystemTime::now());
    let token = |ctx: Option<&str>| {
        let mut c = serde_json::json!({
            "iss": "SuperOffice AS", "aud": "spn:1801550193", "exp": t + 300,
            "http://schemes.superoffice.net/identity/serial": "1801550193",
            "http://schemes.superoffice.net/identity/ticket": "7T:abc",
        });
        if let Some(ctx) = ctx {
            c["http://schemes.superoffice.net/identity/ctx"] = ctx.into();
        }
        signer.sign(&c)
    };
    let rules = SystemUserRules::new(tenant.clone(), Some("1801550193".into()));
    let check = |tok: &str| {
        superoffice::jwt::validate_system_user_token(
            tok,
            &signer.key_set(),
            &rules,
            SystemTime::now(),
        )
    };
    assert!(matches!(
        check(&token(None)),
        Err(Reason::MissingClaim("so:ctx"))
    ));
    assert!(matches!(
        check(&token(Some("Cust67890"))),
        Err(Reason::ContextMismatch { .. })
    ));
    assert!(check(&token(Some(TENANT))).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item10_the_install_sign_in_records_the_tenants_database_serial() {
    let app = App::start().await;
    app.sign_in_to_install(ADMIN).await;
    let serials = domain::tenant_serial::TenantSerials::new(
        app.app.items.clone(),
        Arc::new(superoffice::clock::SystemClock),
    );
    assert_eq!(
        serials
            .get(&TenantId::parse(TENANT).unwrap())
            .await
            .unwrap()
            .as_deref(),
        Some("1801550193")
    );
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 11. Local secrets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn item11_the_local_runners_secrets_and_keys_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    // A secret an earlier version left world-readable.
    let sim_dir = data.path().join("simulator");
    std::fs::create_dir_all(&sim_dir).unwrap();
    std::fs::write(sim_dir.join("client-secret"), "an-earlier-secret").unwrap();
    std::fs::set_permissions(
        sim_dir.join("client-secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let start = || {
        soapp::local::start(soapp::local::ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_owned(),
            superoffice: soapp::local::SuperOfficeTarget::Simulator,
            public_url: None,
            manifest: None,
            settings: Vec::new(),
        })
    };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // Twice: files created on the first start, files found on the second.
    for _ in 0..2 {
        let app = start().await.expect("the local app starts");
        assert_eq!(mode(&sim_dir), 0o700, "the simulator folder");
        for file in [
            "client-secret",
            "system-user-key.pem",
            "system-user-key.der",
            "superoffice-signing-key.der",
        ] {
            assert_eq!(mode(&sim_dir.join(file)), 0o600, "{file}");
        }
        assert_eq!(
            mode(&data.path().join("store/sealing.key")),
            0o600,
            "the sealing key"
        );
        app.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// 14. HEAD
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item14_head_answers_like_get_without_a_body() {
    let app = App::start().await;
    let session = app.sign_in_to_install(ADMIN).await;
    for (path, cookie) in [
        ("/", None),
        ("/", Some(session.as_str())),
        ("/app.css", None),
        ("/install", Some(session.as_str())),
        ("/install/status", Some(session.as_str())),
        ("/install", None),
    ] {
        let send = |method: reqwest::Method| {
            let mut r = app.http.request(method, app.url(path));
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            r.send()
        };
        let get = send(reqwest::Method::GET).await.unwrap();
        let head = send(reqwest::Method::HEAD).await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        for h in [
            "content-type",
            "cache-control",
            "content-security-policy",
            "location",
        ] {
            assert_eq!(head.headers().get(h), get.headers().get(h), "{path}: {h}");
        }
        let get_len = get.bytes().await.unwrap().len();
        assert_eq!(
            head.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok()),
            Some(get_len),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Catalogue 91, inside one process: the flows above logged nothing secret
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_secret_reaches_the_log_in_a_sign_in_an_install_sign_in_and_their_refusals() {
    let app = App::start().await;
    let r = app.sign_in(ADMIN, "").await;
    let session = cookie(&r, "__Host-session").unwrap();
    app.sign_in_to_install(ADMIN).await;
    let (authorize, binding) = app.begin("").await;
    let fields = fields_of(&app.consent(&authorize, ADMIN, true).await);
    let _ = app.callback(&fields, None).await;
    let _ = app
        .http
        .get(app.url(&format!(
            "/callback?code=abcdefghijkl&state={}",
            field(&fields, "state")
        )))
        .send()
        .await
        .unwrap();
    let _ = app.callback(&fields, Some(&binding)).await;
    let _ = app.page("/", &session).await;
    let logs = logs::captured();
    assert!(logs.contains("session started"), "the flows were logged");
    let found: Vec<_> = logs.lines().flat_map(logs::findings).collect();
    assert!(found.is_empty(), "{found:#?}");
    // And the values themselves, by name.
    let domain::secrets::SecretRef::File(secret_file) = &app.app.config.client_secret else {
        panic!("the local runner keeps its client secret in a file")
    };
    let client_secret = std::fs::read_to_string(secret_file).unwrap();
    for (what, value) in [
        ("the code", field(&fields, "code")),
        ("the state", field(&fields, "state")),
        ("the session cookie", session.split_once('=').unwrap().1),
        ("the sign-in cookie", binding.split_once('=').unwrap().1),
        ("the client secret", client_secret.trim()),
    ] {
        assert!(value.len() >= 8, "{what}");
        assert!(!logs.contains(value), "the log contains {what}");
    }
    app.app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Catalogue 69 and 70 through the WebAPI client: a failing tenant stops costing requests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn catalogue_69_70_a_failing_tenant_stops_costing_requests_and_is_probed_again() {
    use superoffice::breaker::BreakerSettings;
    use superoffice::usage::NoUsage;
    use superoffice::webapi::{ApiRequest, TenantAuth, WebApiError};
    use superoffice_simulator::{FaultAction, FaultRule};

    let sim = simulator(vec![REDIRECT.into()]).await;
    let other = "Cust67890";
    for ctx in [TENANT, other] {
        assert!(sim.grant_consent(ctx, CLIENT_ID));
    }
    let env: Environment = sim.base_url().as_str().parse().unwrap();
    let config = PlatformConfig {
        // A short wait, so the test can see the probes.
        breaker: BreakerSettings {
            open_for: Duration::from_millis(300),
            ..BreakerSettings::default()
        },
        ..PlatformConfig::new(env, CLIENT_ID, Secret::new(CLIENT_SECRET))
    };
    // No jitter: retries go out at once, so the test does not sleep through backoffs.
    let so = SuperOffice::new(
        config,
        Arc::new(ReqwestTransport::new().unwrap()),
        Arc::new(superoffice::clock::SystemClock),
        Arc::new(FixedJitter(0.0)),
    );
    let tickets = Arc::new(so.system_user(partner_key()).await.unwrap());
    let webapi = so.webapi(tickets, Arc::new(NoUsage), None);
    let auth = |ctx: &str| TenantAuth {
        tenant: TenantId::parse(ctx).unwrap(),
        system_token: Secret::new(sim.system_token(ctx, CLIENT_ID).unwrap()),
    };
    let principal = ApiRequest::get("User/currentPrincipal");

    sim.faults().push(
        FaultRule::new(
            Route::WebApi,
            FaultAction::Status {
                status: 503,
                retry_after: None,
            },
        )
        .for_tenant(TENANT),
    );
    let mut waits = Vec::new();
    for _ in 0..10 {
        match webapi.call(&auth(TENANT), &principal, None).await {
            Err(WebApiError::Unavailable { retry_after }) => waits.push(retry_after),
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
    let sent = sim.count(Route::WebApi);
    assert!(
        (10..=12).contains(&sent),
        "the circuit opened after about min_calls failures, not 10 calls x 4 attempts: {sent}"
    );
    for _ in 0..20 {
        assert!(webapi.call(&auth(TENANT), &principal, None).await.is_err());
    }
    assert_eq!(
        sim.count(Route::WebApi),
        sent,
        "no request while the circuit is open"
    );
    let last = waits
        .last()
        .copied()
        .flatten()
        .expect("a time to try again");
    assert!(last <= Duration::from_millis(300), "{last:?}");
    // Another tenant's endpoint has a circuit of its own.
    webapi
        .call(&auth(other), &principal, None)
        .await
        .expect("the other tenant is called as usual");

    // The tenant recovers: after the wait the probes go through and the circuit closes.
    sim.faults().clear();
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..5 {
        webapi
            .call(&auth(TENANT), &principal, None)
            .await
            .expect("probes, then calls as usual");
    }
    assert!(sim.count(Route::WebApi) > sent + 5);
}
