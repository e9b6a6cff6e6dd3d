//! A running local app (the `soapp serve` runner) driven over HTTP the way a browser drives it: the
//! sign-in (with SuperOffice's cross-site form_post back), the Install link, the confirmation, the
//! status page; and a comparable inventory of what the simulated tenant holds.

use std::time::Duration;

use reqwest::StatusCode;
use soapp::local::{self, LocalApp, ServeOptions, SuperOfficeTarget};
use superoffice_simulator::user_agent::{self, Choice, Delivery, input_value};
use url::Url;

use crate::TENANT;

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
        // The app's logs are kept and scanned for secrets (crate::logs).
        crate::logs::capture();
        let data = tempfile::tempdir().unwrap();
        let app = local::start(ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_owned(),
            superoffice: SuperOfficeTarget::Simulator,
            public_url: None,
            manifest: None,
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

    /// The data folder, laid out as `soapp serve` keeps it.
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    pub fn sim(&self) -> &superoffice_simulator::SimulatorHandle {
        self.app.simulator.as_ref().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.url)
    }

    /// `GET /login{query}`: the authorize URL and the whole `Set-Cookie` line of the sign-in's
    /// cookie (`__Host-signin-{state id}`), attributes included.
    pub async fn login(&self, query: &str) -> (Url, String) {
        let r = self
            .http
            .get(self.url(&format!("/login{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let location = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        (location, sign_in_cookie(&r).expect("a sign-in cookie"))
    }

    /// `GET /login{query}`: the authorize URL and the browser-binding cookie as a browser sends it
    /// back (`name=value`).
    pub async fn begin(&self, query: &str) -> (Url, String) {
        let (location, set) = self.login(query).await;
        (location, pair(&set))
    }

    /// Signs in at the simulator to the demo tenant as `email` and returns what the browser would
    /// post back.
    pub async fn consent(&self, authorize: &Url, email: &str, approve: bool) -> Delivery {
        self.consent_at(TENANT, authorize, email, approve).await
    }

    /// [`Self::consent`] to tenant `tenant`.
    pub async fn consent_at(
        &self,
        tenant: &str,
        authorize: &Url,
        email: &str,
        approve: bool,
    ) -> Delivery {
        user_agent::sign_in(
            authorize,
            &Choice {
                context_id: tenant,
                email,
                approve,
            },
        )
        .await
        .expect("the simulator's pages")
    }

    /// Posts fields to `/callback` as SuperOffice's form_post page makes the browser do: a
    /// cross-site POST from the simulator's origin, carrying only `cookie` (the binding cookie; a
    /// `SameSite=Lax` cookie is not sent on a cross-site POST).
    pub async fn callback(
        &self,
        fields: &[(String, String)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url("/callback"))
            .header(
                "origin",
                self.sim().base_url().origin().ascii_serialization(),
            )
            .header("sec-fetch-site", "cross-site")
            .form(fields);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    /// A whole sign-in to the demo tenant (`/login{query}`, the simulator's pages with approval,
    /// the form_post back); returns the final callback response.
    pub async fn sign_in(&self, email: &str, query: &str) -> reqwest::Response {
        let (authorize, binding) = self.begin(query).await;
        let Delivery::FormPost { fields, .. } = self.consent(&authorize, email, true).await else {
            panic!("form_post expected");
        };
        self.callback(&fields, Some(&binding)).await
    }

    /// Follows the Install link as `email` of the demo tenant: returns the session cookie once
    /// signed in.
    pub async fn sign_in_to_install(&self, email: &str) -> String {
        self.sign_in_to_install_at(TENANT, email).await
    }

    /// Follows the Install link as `email` of tenant `tenant`: returns the session cookie once
    /// signed in.
    pub async fn sign_in_to_install_at(&self, tenant: &str, email: &str) -> String {
        let r = self.http.get(self.url("/install")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()["location"],
            "/login?intent=install&return=/install"
        );
        let (authorize, binding) = self.begin("?intent=install&return=/install").await;
        let Delivery::FormPost { fields, .. } =
            self.consent_at(tenant, &authorize, email, true).await
        else {
            panic!("form_post expected")
        };
        let r = self.callback(&fields, Some(&binding)).await;
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
        self.page_as(path, Some(session)).await
    }

    /// `GET path`, with the session cookie if there is one.
    pub async fn page_as(&self, path: &str, session: Option<&str>) -> (StatusCode, String) {
        let mut req = self.http.get(self.url(path));
        if let Some(s) = session {
            req = req.header("cookie", s);
        }
        let r = req.send().await.unwrap();
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

    /// Opens the uninstall confirmation and confirms it.
    pub async fn press_uninstall(&self, session: &str) -> reqwest::Response {
        let (status, page) = self.page("/manage/uninstall", session).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let csrf = input_value(&page, "csrf").expect("the confirmation form");
        self.post_uninstall(session, &csrf, true).await
    }

    /// `POST /manage/uninstall` as the confirmation form sends it (`confirm` sends `confirm=yes`).
    pub async fn post_uninstall(
        &self,
        session: &str,
        csrf: &str,
        confirm: bool,
    ) -> reqwest::Response {
        let mut form = vec![("csrf", csrf)];
        if confirm {
            form.push(("confirm", "yes"));
        }
        self.http
            .post(self.url("/manage/uninstall"))
            .header("cookie", session)
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Signs in as `email` of `tenant` the way the web panel's pop-up does
    /// (`/login?return=/panels/handoff`): the session cookie (`name=value`). The sign-in comes back
    /// to the hand-off page.
    pub async fn sign_in_for_panel(&self, tenant: &str, email: &str) -> String {
        let (authorize, binding) = self.begin("?return=/panels/handoff").await;
        let Delivery::FormPost { fields, .. } =
            self.consent_at(tenant, &authorize, email, true).await
        else {
            panic!("form_post expected")
        };
        let r = self.callback(&fields, Some(&binding)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/panels/handoff");
        cookie(&r, "__Host-session").expect("a session cookie")
    }

    /// `GET /panels/handoff` with `session`, as the pop-up opens it: the one-time code on the page.
    pub async fn hand_off_code(&self, session: &str) -> String {
        let (status, page) = self.page("/panels/handoff", session).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        data_attribute(&page, "data-code").expect("a hand-off code on the page")
    }

    /// `POST /panels/session` with `form` and `headers` (nothing else: no cookie).
    pub async fn post_panel_session(
        &self,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url("/panels/session")).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// Redeems a hand-off code for tenant `ctx` as the panel's script does: a same-origin POST.
    pub async fn redeem(&self, code: &str, ctx: &str) -> reqwest::Response {
        let origin = self.app.config.origin();
        self.post_panel_session(
            &[("code", code), ("ctx", ctx)],
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        )
        .await
    }

    /// The whole panel sign-in for `email` of `tenant`: (session cookie, panel cookie), each as
    /// `name=value`.
    pub async fn panel_sign_in(&self, tenant: &str, email: &str) -> (String, String) {
        let session = self.sign_in_for_panel(tenant, email).await;
        let code = self.hand_off_code(&session).await;
        let r = self.redeem(&code, tenant).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let panel = cookie(&r, "__Host-panel").expect("a panel cookie");
        (session, panel)
    }

    /// The demo tenant's record as the app keeps it, if any.
    pub async fn tenant_record(&self) -> Option<domain::tenant::Tenant> {
        domain::tenant::Tenants::new(self.app.items.clone())
            .get(&tenant(), 0)
            .await
            .unwrap()
            .map(|t| t.value)
    }

    /// Waits until the app keeps no record of the demo tenant (an uninstall finished); fails with
    /// the record's last state after a while.
    pub async fn wait_until_forgotten(&self) {
        for _ in 0..600 {
            if self.tenant_record().await.is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the uninstall never finished: {:?}",
            self.tenant_record().await
        );
    }

    /// Polls the management page until it says `status` (`data-status`).
    pub async fn wait_for_manage(&self, session: &str, status: &str) -> String {
        let marker = format!("data-status=\"{status}\"");
        for _ in 0..600 {
            let (_, page) = self.page("/manage", session).await;
            if page.contains(&marker) {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the management page never said {status}: {}",
            self.page("/manage", session).await.1
        );
    }

    /// Everything the store keeps in the demo tenant's partition (expired items too).
    pub async fn stored_for_tenant(&self) -> Vec<String> {
        use domain::store::Items;
        self.app
            .items
            .query("TENANT#Cust12345", "", 0)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.sk)
            .collect()
    }

    /// Waits until the status page shows `needle`.
    pub async fn wait_for_page(&self, session: &str, needle: &str) -> String {
        self.poll_status_page(
            session,
            Duration::from_millis(50),
            &format!("the status page never showed {needle:?}"),
            |page| page.contains(needle),
        )
        .await
    }

    /// Polls the status page until it says `status` (or fails after a while).
    pub async fn wait_for_status(&self, session: &str, status: &str) -> String {
        let marker = format!("data-status=\"{status}\"");
        self.poll_status_page(
            session,
            Duration::from_millis(100),
            &format!("the install never reached {status}"),
            |page| page.contains(&marker),
        )
        .await
    }

    /// Reads the status page every `interval` until `done` holds for it (returns it), at most 300
    /// times; then fails with `failure` and the last page.
    async fn poll_status_page(
        &self,
        session: &str,
        interval: Duration,
        failure: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        for _ in 0..300 {
            let (_, page) = self.page("/install/status", session).await;
            if done(&page) {
                return page;
            }
            tokio::time::sleep(interval).await;
        }
        panic!(
            "{failure}: {}",
            self.page("/install/status", session).await.1
        );
    }
}

/// The whole `Set-Cookie` line for cookie `name` on the response.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The whole `Set-Cookie` line of the sign-in cookie the response sets (not one it clears).
pub fn sign_in_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-signin-") && !c.contains("Max-Age=0"))
        .map(str::to_owned)
}

/// The value of the first `name="…"` attribute on a page.
pub fn data_attribute(page: &str, name: &str) -> Option<String> {
    let start = page.find(&format!("{name}=\""))? + name.len() + 2;
    let len = page[start..].find('"')?;
    Some(page[start..start + len].to_owned())
}

/// `name=value` of a `Set-Cookie` line.
pub fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_owned()
}

/// `name=value` of cookie `name` on the response, as a browser sends it back.
pub fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    set_cookie(r, name).map(|c| pair(&c))
}

/// Everything of ours the simulated tenant holds, in a comparable form: what carries the demo app's
/// names (ProgId prefix `DemoPartnerApp.`, section `DemoPartnerApp`, names starting "Demo Partner
/// App"). The customer's own data and other apps' (a seeded large site) are left out.
pub fn inventory(app: &App) -> Vec<String> {
    inventory_of(app.sim(), TENANT)
}

/// [`inventory`] of any simulated tenant.
pub fn inventory_of(sim: &superoffice_simulator::SimulatorHandle, tenant: &str) -> Vec<String> {
    const NAME: &str = "Demo Partner App";
    const PREFIX: &str = "DemoPartnerApp";
    let snap = sim.webapi_snapshot(tenant).unwrap();
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
        // The same fields on both sides, by ProgId (each as often): nothing left unpublished and
        // nothing published that the admin layout no longer has.
        let prog_ids = |fields: &[serde_json::Value]| {
            let mut ids: Vec<String> = fields.iter().map(|f| f["ProgId"].to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(
            prog_ids(&layout.admin),
            prog_ids(&layout.published),
            "{entity}: every field in the admin layout is published"
        );
    }
    for l in snap
        .lists
        .iter()
        .filter(|l| !l.built_in && l.list["Name"].as_str().is_some_and(|n| n.starts_with(NAME)))
    {
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
        .filter(|p| {
            p.panel["ProgId"]
                .as_str()
                .is_some_and(|id| id.starts_with(PREFIX))
        })
    {
        out.push(format!(
            "panel {} {} groups={}",
            p.panel["ProgId"].as_str().unwrap_or("?"),
            p.panel["VisibleIn"].as_str().unwrap_or("?"),
            p.visible_for_user_groups.as_ref().map_or(0, Vec::len)
        ));
    }
    for pref in snap
        .preferences
        .iter()
        .filter(|p| p["Specification"]["Section"] == PREFIX)
    {
        out.push(format!(
            "preference {}/{}={}",
            pref["Specification"]["Section"].as_str().unwrap_or("?"),
            pref["Specification"]["Key"].as_str().unwrap_or("?"),
            pref["RawValue"].as_str().unwrap_or("?")
        ));
    }
    for h in snap.webhooks.iter().filter(|h| {
        h.webhook["Name"]
            .as_str()
            .is_some_and(|n| n.starts_with(NAME))
    }) {
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

impl App {
    /// The system-user WebAPI client for the simulated tenants, as the worker builds it.
    pub async fn tenant_access(
        &self,
        transport: std::sync::Arc<dyn superoffice::transport::Transport>,
    ) -> app::platform::TenantAccess<adapters::local::embedded::EmbeddedItems> {
        app::platform::tenant_access(
            &self.app.config,
            &adapters::secrets::SecretLoader::local(),
            self.app.items.clone(),
            app::platform::Io {
                transport,
                clock: std::sync::Arc::new(superoffice::clock::SystemClock),
                jitter: std::sync::Arc::new(superoffice::clock::RandomJitter),
            },
        )
        .await
        .expect("the system user is set up in the local app")
    }

    /// The provisioning engine on the local app's store and key, calling SuperOffice through `api`.
    pub fn engine<A: domain::provisioning::TenantApi>(
        &self,
        api: std::sync::Arc<A>,
    ) -> domain::provisioning::Engine<
        adapters::local::embedded::EmbeddedItems,
        adapters::sealer::AppSealer,
        A,
    > {
        let d = &self.app.deployment;
        domain::provisioning::Engine {
            items: d.items.clone(),
            manifest: d.manifest.clone(),
            base_url: self.app.url.clone(),
            tenants: domain::tenant::Tenants::new(d.items.clone()),
            ledger: domain::ledger::Ledger::new(d.items.clone()),
            sealer: d.sealer.clone(),
            api,
            clock: std::sync::Arc::new(superoffice::clock::SystemClock),
        }
    }
}

/// The demo tenant's id.
pub fn tenant() -> domain::TenantId {
    domain::TenantId::parse(TENANT).expect("a tenant id")
}
