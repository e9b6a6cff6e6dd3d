//! Install end to end through the local runner: the Install link, the administrator's sign-in and
//! confirmation, the job worker, and SuperOffice (the simulator) holding exactly the manifest's
//! artifacts; installing twice; a user who is not an administrator.

use std::time::Duration;

use domain::manifest::Manifest;

fn maud_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
use reqwest::StatusCode;
use soapp::local::{self, LocalApp, ServeOptions, SuperOfficeTarget};
use superoffice_simulator::user_agent::{self, Choice, Delivery, input_value};

pub struct App {
    pub app: LocalApp,
    pub http: reqwest::Client,
    _data: tempfile::TempDir,
}

impl App {
    pub async fn start() -> App {
        Self::start_with(&[]).await
    }

    pub async fn start_with(settings: &[(&str, &str)]) -> App {
        let data = tempfile::tempdir().unwrap();
        let app = local::start(ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_owned(),
            superoffice: SuperOfficeTarget::Simulator,
            public_url: None,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .await
        .expect("the local app starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        App {
            app,
            http,
            _data: data,
        }
    }

    pub fn sim(&self) -> &superoffice_simulator::SimulatorHandle {
        self.app.simulator.as_ref().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.url)
    }

    /// Follows the Install link as `email`: returns the session cookie once signed in.
    pub async fn sign_in_to_install(&self, email: &str) -> String {
        let r = self.http.get(self.url("/install")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()["location"],
            "/login?intent=install&return=/install"
        );
        let r = self
            .http
            .get(self.url("/login?intent=install&return=/install"))
            .send()
            .await
            .unwrap();
        let authorize = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let binding = cookie(&r, "__Host-signin").unwrap();
        let Delivery::FormPost { fields, .. } = user_agent::sign_in(
            &authorize,
            &Choice {
                context_id: "Cust12345",
                email,
                approve: true,
            },
        )
        .await
        .unwrap() else {
            panic!("form_post expected")
        };
        let r = self
            .http
            .post(self.url("/callback"))
            .header("cookie", &binding)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap()
        );
        assert_eq!(r.headers()["location"], "/install");
        cookie(&r, "__Host-session").unwrap()
    }

    pub async fn page(&self, path: &str, session: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(self.url(path))
            .header("cookie", session)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// The confirmation page's anti-forgery token.
    pub async fn csrf(&self, session: &str) -> String {
        let (status, page) = self.page("/install", session).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        input_value(&page, "csrf").expect("the confirmation form")
    }

    /// Presses Install on the confirmation page.
    pub async fn press_install(&self, session: &str) -> reqwest::Response {
        let csrf = self.csrf(session).await;
        self.post_install(session, &csrf).await
    }

    pub async fn post_install(&self, session: &str, csrf: &str) -> reqwest::Response {
        self.http
            .post(self.url("/install"))
            .header("cookie", session)
            .header("sec-fetch-site", "same-origin")
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap()
    }

    /// Waits until the status page shows `needle`.
    pub async fn wait_for_page(&self, session: &str, needle: &str) -> String {
        for _ in 0..300 {
            let (_, page) = self.page("/install/status", session).await;
            if page.contains(needle) {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the status page never showed {needle:?}: {}",
            self.page("/install/status", session).await.1
        );
    }

    /// Polls the status page until it says `status` (or fails after a while).
    pub async fn wait_for_status(&self, session: &str, status: &str) -> String {
        for _ in 0..300 {
            let (_, page) = self.page("/install/status", session).await;
            if page.contains(&format!("data-status=\"{status}\"")) {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the install never reached {status}: {}",
            self.page("/install/status", session).await.1
        );
    }
}

pub fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// Everything of ours the simulated tenant holds, in a comparable form.
pub fn inventory(app: &App) -> Vec<String> {
    let snap = app.sim().webapi_snapshot("Cust12345").unwrap();
    let mut out = Vec::new();
    for (entity, layout) in &snap.udefs {
        for f in &layout.published {
            if let Some(p) = f["ProgId"]
                .as_str()
                .filter(|p| p.starts_with("DemoPartnerApp."))
            {
                out.push(format!(
                    "field {entity}:{p} {}",
                    f["FieldType"].as_str().unwrap_or("?")
                ));
            }
        }
        let admin_only = layout.admin.len() != layout.published.len();
        assert!(
            !admin_only,
            "{entity}: every field in the admin layout is published"
        );
    }
    for l in snap.lists.iter().filter(|l| !l.built_in) {
        let items: Vec<_> = l.items.iter().filter_map(|i| i["Name"].as_str()).collect();
        out.push(format!(
            "list {} [{}]",
            l.list["Name"].as_str().unwrap_or("?"),
            items.join(" | ")
        ));
    }
    for p in snap
        .web_panels
        .iter()
        .filter(|p| p.panel["Deleted"] != serde_json::json!(true))
    {
        out.push(format!(
            "panel {} {} groups={}",
            p.panel["ProgId"].as_str().unwrap_or("?"),
            p.panel["VisibleIn"].as_str().unwrap_or("?"),
            p.visible_for_user_groups.as_ref().map_or(0, Vec::len)
        ));
    }
    for pref in &snap.preferences {
        out.push(format!(
            "preference {}/{}={}",
            pref["Specification"]["Section"].as_str().unwrap_or("?"),
            pref["Specification"]["Key"].as_str().unwrap_or("?"),
            pref["RawValue"].as_str().unwrap_or("?")
        ));
    }
    for h in &snap.webhooks {
        out.push(format!(
            "webhook {}",
            h.webhook["Name"].as_str().unwrap_or("?")
        ));
    }
    out.sort();
    out
}

/// What the demo manifest must produce.
pub fn expected_inventory(user_groups: usize) -> Vec<String> {
    let mut out = vec![
        "field Contact:DemoPartnerApp.CustomerNumber Number".to_owned(),
        "field Contact:DemoPartnerApp.Region List".to_owned(),
        "field Sale:DemoPartnerApp.SyncNote ShortText".to_owned(),
        r#"list Demo Partner App regions [NO:"Nord";US:"North" | NO:"Sør";US:"South" | NO:"Vest";US:"West"]"#.to_owned(),
        format!("panel DemoPartnerApp.ContactPanel ContactCard groups={user_groups}"),
        format!("panel DemoPartnerApp.OpenButton.Browser BrowserPanel groups={user_groups}"),
        format!("panel DemoPartnerApp.OpenButton NavigatorButton groups={user_groups}"),
        "preference DemoPartnerApp/Enabled=1".to_owned(),
        "webhook Demo Partner App contact changes".to_owned(),
    ];
    out.sort();
    out
}

pub fn user_groups(app: &App) -> usize {
    app.sim()
        .webapi_snapshot("Cust12345")
        .unwrap()
        .user_groups
        .len()
}

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
    // The status page lists what was created, with SuperOffice's ids.
    for a in Manifest::demo().artifacts() {
        assert!(
            page.contains(&maud_escape(&a.describe(&app.app.url))),
            "{}",
            a.key()
        );
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
            ..Job::install("Cust12345", 0)
        })
        .await
        .unwrap();
    for _ in 0..100 {
        if app.app.queue.deliveries().len() == 2 && app.app.queue.pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.app.queue.deliveries().len(), 2);
    assert_eq!(created(&app), before, "nothing created twice");
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
        page.contains("is in maintenance (OfflineMaintenance)"),
        "{page}"
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
