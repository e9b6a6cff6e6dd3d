//! A running local app (the `soapp serve` runner) driven over HTTP the way an administrator's browser
//! drives it: the Install link, the sign-in, the confirmation, the status page; and a comparable
//! inventory of what the simulated tenant holds.

use std::time::Duration;

use reqwest::StatusCode;
use soapp::local::{self, LocalApp, ServeOptions, SuperOfficeTarget};
use superoffice_simulator::user_agent::{self, Choice, Delivery, input_value};

pub fn maud_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

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
