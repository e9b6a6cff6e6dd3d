//! `soapp smoke`: the post-deploy verification, from outside, over the internet.
//!
//! The deploy check (CodeDeploy's PreTraffic hook) judged each new function version before any
//! traffic reached it. What it cannot see is the whole path a browser and SuperOffice take: DNS and
//! TLS, API Gateway's routes and throttles, the alias the API invokes, anything placed in front of
//! the API that could drop a header. This runs once a deploy has finished, in the pipeline before the
//! next environment, and by hand: every public route answers as it should (status, the security
//! headers, nothing of the app's insides; the web panel SuperOffice frames too), the sign-in goes to the environment's SuperOffice for the
//! right client, whose discovery and keys answer as SuperOffice's, and forged input is refused.
//!
//! With a test tenant (`--tenant`, `--user`) it also installs the app, opens the management page and
//! uninstalls again: the round trip an administrator makes. That path drives the simulator's sign-in
//! pages (`superoffice_simulator::user_agent`), so it runs against `soapp serve`; SuperOffice's own
//! sign-in pages are for people (see infra/DEPLOY.md for doing that round trip by hand on SOD).
//!
//! Each check is one function returning a [`Check`] (one line, `doctor`'s format); a check never
//! prints a cookie, token or sign-in value. The answers are judged by `deploy_check::expect`, the
//! same rules the PreTraffic hook applies.

use std::time::{Duration, Instant};

use deploy_check::expect::{self, Answer, Expected, Verdict};
use deploy_check::probes;
use superoffice::Environment;
use superoffice::discovery::Discovery;
use superoffice::jwks::fetch_jwks;
use superoffice::transport::ReqwestTransport;
use superoffice_simulator::user_agent::{self, Choice, Delivery};
use url::Url;

use crate::doctor::Check;

/// What is checked, and against what.
#[derive(Debug, Clone)]
pub struct Target {
    /// The deployment's base URL (the stack's `BaseUrl` output), without a trailing slash.
    pub base_url: Url,
    /// The SuperOffice environment the deployment must sign in against.
    pub environment: Environment,
    /// The app's client id there, when known (the sign-in must name it; otherwise any client id).
    pub client_id: Option<String>,
    /// How long one request may take.
    pub timeout: Duration,
}

/// A test tenant's administrator for the install round trip.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub tenant: String,
    pub email: String,
    /// How long the install and the uninstall may each take.
    pub wait: Duration,
}

/// Why a smoke run cannot start (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("--url {0}: {1}")]
    BadUrl(String, &'static str),
    #[error(
        "--tenant drives the simulator's sign-in pages; {0} signs people in on SuperOffice's own \
         pages. Run the install round trip by hand there (infra/DEPLOY.md, \"Smoke checks\")"
    )]
    TenantNeedsSimulator(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl Target {
    /// Checks the base URL's shape: an http(s) origin without a query, fragment or credentials; plain
    /// http only on loopback (a local run).
    pub fn new(
        base_url: &str,
        environment: Environment,
        client_id: Option<String>,
        timeout: Duration,
    ) -> Result<Self, SmokeError> {
        let bad = |why| SmokeError::BadUrl(base_url.to_owned(), why);
        let url = Url::parse(base_url.trim_end_matches('/')).map_err(|_| bad("not a URL"))?;
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(bad("carries a query, fragment or credentials"));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(bad("plain http is allowed only on loopback")),
            _ => return Err(bad("not an http(s) URL")),
        }
        Ok(Self {
            base_url: url,
            environment,
            client_id,
            timeout,
        })
    }

    fn base(&self) -> String {
        self.base_url.as_str().trim_end_matches('/').to_owned()
    }

    fn expected(&self) -> Expected {
        Expected::new(
            &self.environment.issuer(),
            self.client_id.as_deref(),
            &self.base(),
        )
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The HTTP client of a run: no redirects followed (a redirect is an answer to judge), a timeout per
/// request, no proxy for loopback (a local run must reach the local app).
struct Http {
    client: reqwest::Client,
    base: String,
}

/// The most of a body read: pages are a few kilobytes.
const MAX_BODY: usize = 1024 * 1024;

impl Http {
    fn new(target: &Target) -> Result<Self, SmokeError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(target.timeout)
            .user_agent(concat!("soapp-smoke/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&target.base_url) {
            builder = builder.no_proxy();
        }
        Ok(Self {
            client: builder
                .build()
                .map_err(|e| SmokeError::Client(e.to_string()))?,
            base: target.base(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, String> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_owned()
            } else {
                format!("no answer: {}", crate::error_chain(&e))
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("the answer broke off: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(format!("the answer is larger than {MAX_BODY} bytes"));
            }
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send(self.client.get(self.url(path))).await
    }
}

/// `name` passes with what was seen, or fails with why and `fix`.
fn judged(name: &'static str, verdict: Verdict, fix: &str) -> Check {
    match verdict {
        Ok(seen) => Check::ok(name, seen),
        Err(why) => Check::fail(name, why, fix),
    }
}

/// All of a list of verdicts, or the first failure.
fn all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let mut first = None;
    for v in verdicts {
        let seen = v?;
        first.get_or_insert(seen);
    }
    Ok(first.unwrap_or_default())
}

const FIX_PAGES: &str = "see the redirect function's log; check the API reaches the live alias";
const FIX_HEADERS: &str = "the app sets them on every page (web::secure_headers): something in front of the API drops or rewrites them";
const FIX_FORGED: &str = "the deployment accepts forged requests: roll back to the previous version and investigate before anything else";

/// Runs every check, calling `each` with each result as it comes (for output line by line).
pub async fn run(
    target: &Target,
    tenant: Option<&TestTenant>,
    mut each: impl FnMut(&Check),
) -> Result<Vec<Check>, SmokeError> {
    if let Some(t) = tenant
        && !target.environment.is_custom()
    {
        return Err(SmokeError::TenantNeedsSimulator(format!(
            "{} ({})",
            target.environment.name(),
            t.tenant
        )));
    }
    let http = Http::new(target)?;
    let mut checks = Vec::new();
    let mut record = |c: Check| {
        each(&c);
        checks.push(c);
    };
    record(transport(target));
    for check in [
        discovery_and_keys(target).await,
        front_page(&http).await,
        front_page_by_head(&http).await,
        stylesheet(&http).await,
        sign_in_redirect(&http, target).await,
        needs_sign_in(&http, "install link", "/install").await,
        needs_sign_in(&http, "manage link", "/manage").await,
        web_panel(&http).await,
        callback_by_get(&http).await,
        forged_callback(&http).await,
        forged_state_change(&http).await,
        unsigned_webhook(&http).await,
        forged_webhook_signature(&http).await,
        unknown_path(&http).await,
    ] {
        record(check);
    }
    if let Some(t) = tenant {
        round_trip(&http, t, &mut record).await;
    }
    Ok(checks)
}

/// HTTPS for a deployment; plain http only for a local run on loopback.
fn transport(target: &Target) -> Check {
    const NAME: &str = "https";
    match target.base_url.scheme() {
        "https" => Check::ok(NAME, format!("{} is served over HTTPS", target.base())),
        _ => Check::warn(
            NAME,
            format!("{} is plain http on loopback (a local run)", target.base()),
            "nothing to do locally; a deployment is always https",
        ),
    }
}

/// SuperOffice's discovery document names the expected issuer, and its keys are usable: the
/// sign-ins this deployment starts end at the environment it was deployed for.
async fn discovery_and_keys(target: &Target) -> Check {
    const NAME: &str = "superoffice";
    let transport = match ReqwestTransport::new() {
        Ok(t) => t,
        Err(e) => return Check::fail(NAME, e.to_string(), "report this as a bug"),
    };
    let discovery = match Discovery::fetch(&transport, &target.environment, target.timeout).await {
        Ok(d) => d,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("discovery: {}", crate::error_chain(&e)),
                "check --env (or --issuer) and that this machine reaches SuperOffice",
            );
        }
    };
    let authorize = target.expected().authorize_endpoint();
    if discovery
        .authorization_endpoint
        .as_str()
        .trim_end_matches('/')
        != authorize
    {
        return Check::fail(
            NAME,
            format!(
                "discovery names the authorize endpoint {}, not {authorize}",
                discovery.authorization_endpoint
            ),
            "the issuer is not a SuperOffice environment",
        );
    }
    match fetch_jwks(&transport, &discovery.jwks_uri, target.timeout).await {
        Ok((keys, _)) if !keys.is_empty() => Check::ok(
            NAME,
            format!(
                "issuer {} as pinned, {} usable signing key(s)",
                discovery.issuer,
                keys.len()
            ),
        ),
        Ok(_) => Check::fail(
            NAME,
            "the JWKS has no usable key",
            "contact SuperOffice; sign-ins will fail",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("signing keys: {}", crate::error_chain(&e)),
            "retry later; check SuperOffice's status page",
        ),
    }
}

async fn front_page(http: &Http) -> Check {
    let verdict = match http.get("/").await {
        Ok(a) => all([
            expect::front_page(&a),
            expect::security_headers(&a),
            expect::no_internals(&a),
        ]),
        Err(e) => Err(e),
    };
    let fix = match &verdict {
        Err(why) if why.contains("Content-Security-Policy") || why.contains("Strict-Transport") => {
            FIX_HEADERS
        }
        _ => FIX_PAGES,
    };
    judged("front page", verdict, fix)
}

/// `HEAD /` answers like `GET /` without a body (uptime monitors use it).
async fn front_page_by_head(http: &Http) -> Check {
    let verdict = match http.send(http.client.head(http.url("/"))).await {
        Ok(a) if a.status == 200 && a.body.is_empty() => all([
            Ok("200 without a body".to_owned()),
            expect::security_headers(&a),
        ]),
        Ok(a) => Err(format!(
            "answered {} with {} bytes of body",
            a.status,
            a.body.len()
        )),
        Err(e) => Err(e),
    };
    judged("front page by HEAD", verdict, FIX_PAGES)
}

async fn stylesheet(http: &Http) -> Check {
    let verdict = match http.get("/app.css").await {
        Ok(a) if a.status != 200 => Err(format!("answered {} instead of 200", a.status)),
        Ok(a)
            if !a
                .header("content-type")
                .unwrap_or("")
                .starts_with("text/css") =>
        {
            Err("not served as text/css".to_owned())
        }
        Ok(a) if a.header("x-content-type-options") != Some("nosniff") => {
            Err("no X-Content-Type-Options: nosniff".to_owned())
        }
        Ok(_) => Ok("200 text/css".to_owned()),
        Err(e) => Err(e),
    };
    judged("stylesheet", verdict, FIX_PAGES)
}

async fn sign_in_redirect(http: &Http, target: &Target) -> Check {
    let verdict = match http.get("/login").await {
        Ok(a) => all([
            expect::sign_in_redirect(&a, &target.expected()),
            expect::security_headers(&a),
            expect::no_internals(&a),
        ]),
        Err(e) => Err(e),
    };
    judged(
        "sign-in redirect",
        verdict,
        "the stack signs in against another environment or client: check SuperOfficeEnvironment, ClientId and the base URL in samconfig.toml",
    )
}

async fn needs_sign_in(http: &Http, name: &'static str, path: &str) -> Check {
    let verdict = match http.get(path).await {
        Ok(a) => all([expect::needs_sign_in(&a, path), expect::no_internals(&a)]),
        Err(e) => Err(e),
    };
    judged(
        name,
        verdict,
        "see the install function's log; a page for administrators must never show without a sign-in",
    )
}

/// The web panel SuperOffice frames in a contact card, opened without a session: a 200 page offering
/// the pop-up sign-in, with the panels' headers (framing by SuperOffice only, not stored), nothing
/// about the tenant, and its script served from our origin.
async fn web_panel(http: &Http) -> Check {
    let path = format!("/panels/contact?ctx={}&user=1", probes::PROBE_TENANT);
    let verdict = match http.get(&path).await {
        Ok(a) if a.status != 200 => Err(format!("answered {} instead of 200", a.status)),
        Ok(a) if !a.text().contains("data-panel=\"sign-in\"") => {
            Err("the page offers no sign-in".to_owned())
        }
        Ok(a) if a.text().contains("data-state=") => {
            Err("the page tells the app's state before a sign-in".to_owned())
        }
        Ok(a) if a.header("cache-control") != Some("no-store") => {
            Err("the page may be stored (no Cache-Control: no-store)".to_owned())
        }
        Ok(a) => match all([expect::security_headers(&a), expect::no_internals(&a)]) {
            Err(why) => Err(why),
            Ok(_) => match http.get("/panels/panel.js").await {
                Ok(js)
                    if js.status == 200
                        && js
                            .header("content-type")
                            .unwrap_or("")
                            .starts_with("text/javascript") =>
                {
                    Ok("200, a sign-in, its script served".to_owned())
                }
                Ok(js) => Err(format!(
                    "the panel's script answered {} ({})",
                    js.status,
                    js.header("content-type").unwrap_or("no content type")
                )),
                Err(e) => Err(e),
            },
        },
        Err(e) => Err(e),
    };
    let fix = match &verdict {
        Err(why) if why.contains("Content-Security-Policy") || why.contains("Strict-Transport") => {
            FIX_HEADERS
        }
        _ => "see the install function's log; the panels are its routes (/panels/*)",
    };
    judged("web panel", verdict, fix)
}

/// A refusal: a 4xx (never a 5xx, never a success), no session started, nothing internal shown.
fn refused_4xx(a: &Answer) -> Verdict {
    if !(400..500).contains(&a.status) {
        return Err(format!("answered {} instead of refusing", a.status));
    }
    if a.all("set-cookie")
        .any(|c| c.starts_with("__Host-session="))
    {
        return Err("a session cookie was set".into());
    }
    expect::no_internals(a)?;
    Ok(format!("{}, refused", a.status))
}

/// `GET /callback` with a code in the query: the flow is `form_post`, so it is refused.
async fn callback_by_get(http: &Http) -> Check {
    let verdict = match http
        .get("/callback?code=smoke-forged&state=smoke-forged")
        .await
    {
        Ok(a) => refused_4xx(&a),
        Err(e) => Err(e),
    };
    judged("callback by GET", verdict, FIX_FORGED)
}

/// A callback with a made-up code and state and no sign-in cookie: refused before SuperOffice is
/// asked.
async fn forged_callback(http: &Http) -> Check {
    let request = http
        .client
        .post(http.url("/callback"))
        .form(&[("code", "smoke-forged"), ("state", "smoke-forged-state")]);
    let verdict = match http.send(request).await {
        Ok(a) => refused_4xx(&a),
        Err(e) => Err(e),
    };
    judged("forged callback", verdict, FIX_FORGED)
}

/// A state change whose token no SuperOffice key signed: `401`.
async fn forged_state_change(http: &Http) -> Check {
    let request = http
        .client
        .post(http.url("/state-change"))
        .header("content-type", "application/json")
        .body(probes::forged_state_change(probes::PROBE_TENANT));
    let verdict = match http.send(request).await {
        Ok(a) => all([expect::refused(&a), expect::no_internals(&a)]),
        Err(e) => Err(e),
    };
    judged("forged state change", verdict, FIX_FORGED)
}

fn webhook(http: &Http) -> reqwest::RequestBuilder {
    http.client
        .post(http.url(&format!("/webhooks/superoffice/{}", probes::PROBE_TENANT)))
        .header("content-type", "application/json")
        .header("x-superoffice-event", "contact.changed")
        .body(probes::unsigned_webhook(probes::PROBE_TENANT))
}

/// A webhook delivery without `X-SuperOffice-Signature`: `401`.
async fn unsigned_webhook(http: &Http) -> Check {
    let verdict = match http.send(webhook(http)).await {
        Ok(a) => all([expect::refused(&a), expect::no_internals(&a)]),
        Err(e) => Err(e),
    };
    judged("unsigned webhook", verdict, FIX_FORGED)
}

/// A webhook delivery with a signature no secret of ours made: `401`.
async fn forged_webhook_signature(http: &Http) -> Check {
    let request = webhook(http).header(
        "x-superoffice-signature",
        "c21va2UtZm9yZ2VkLXNpZ25hdHVyZS0wMDAwMDAwMDAwMDAwMDA=",
    );
    let verdict = match http.send(request).await {
        Ok(a) => all([expect::refused(&a), expect::no_internals(&a)]),
        Err(e) => Err(e),
    };
    judged("forged webhook signature", verdict, FIX_FORGED)
}

/// A path the app does not serve: `404`, and nothing of the app's insides.
async fn unknown_path(http: &Http) -> Check {
    let verdict = match http.get("/smoke-check/does-not-exist").await {
        Ok(a) if a.status != 404 => Err(format!("answered {} instead of 404", a.status)),
        Ok(a) => all([Ok("404".to_owned()), expect::no_internals(&a)]),
        Err(e) => Err(e),
    };
    judged("unknown path", verdict, FIX_PAGES)
}

// ---------------------------------------------------------------------------------------------
// The install round trip in a test tenant (simulator-backed runs)
// ---------------------------------------------------------------------------------------------

/// The cookie `name`'s `name=value` from an answer (sent back, never shown).
fn cookie(a: &Answer, name: &str) -> Option<String> {
    a.all("set-cookie")
        .filter(|c| !c.contains("Max-Age=0"))
        .find(|c| c.starts_with(name))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

/// Signs the test administrator in through `/login{query}` and the simulator's pages; returns the
/// session cookie.
async fn sign_in(
    http: &Http,
    t: &TestTenant,
    query: &str,
    back_to: &str,
) -> Result<String, String> {
    let login = http.get(&format!("/login{query}")).await?;
    if login.status != 303 {
        return Err(format!("/login answered {}", login.status));
    }
    let authorize = login
        .header("location")
        .and_then(|l| Url::parse(l).ok())
        .ok_or("/login gave no authorize URL")?;
    let binding = cookie(&login, "__Host-signin-").ok_or("/login set no sign-in cookie")?;
    let delivery = user_agent::sign_in(
        &authorize,
        &Choice {
            context_id: &t.tenant,
            email: &t.email,
            approve: true,
        },
    )
    .await
    .map_err(|e| format!("the sign-in pages: {e}"))?;
    let Delivery::FormPost { fields, .. } = delivery else {
        return Err("the sign-in did not come back as a form post".into());
    };
    // As SuperOffice's form_post page makes the browser send it: cross-site, from the issuer.
    let callback = http
        .client
        .post(http.url("/callback"))
        .header("cookie", binding)
        .header("origin", authorize.origin().ascii_serialization())
        .header("sec-fetch-site", "cross-site")
        .form(&fields);
    let answer = http.send(callback).await?;
    if answer.status != 303 || answer.header("location") != Some(back_to) {
        return Err(format!(
            "the callback answered {} to {:?} instead of 303 to {back_to}",
            answer.status,
            answer.header("location").unwrap_or("")
        ));
    }
    cookie(&answer, "__Host-session=").ok_or_else(|| "the callback started no session".into())
}

async fn page(http: &Http, path: &str, session: &str) -> Result<Answer, String> {
    http.send(http.client.get(http.url(path)).header("cookie", session))
        .await
}

async fn post_form(
    http: &Http,
    path: &str,
    session: &str,
    form: &[(&str, &str)],
) -> Result<Answer, String> {
    let request = http
        .client
        .post(http.url(path))
        .header("cookie", session)
        .header("origin", http.base.clone())
        .header("sec-fetch-site", "same-origin")
        .form(form);
    http.send(request).await
}

/// Polls `path` until its page says `data-status="<status>"` (or, with `None`, until the session is
/// gone: a 303 to the sign-in), for at most `wait`.
async fn wait_for(
    http: &Http,
    path: &str,
    session: &str,
    status: Option<&str>,
    wait: Duration,
) -> Result<Answer, String> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let a = page(http, path, session).await?;
        match status {
            Some(s) if a.text().contains(&format!("data-status=\"{s}\"")) => return Ok(a),
            None if a.status == 303 => return Ok(a),
            _ => {}
        }
        last = status_of(&a).unwrap_or(last);
        if started.elapsed() >= wait {
            return Err(format!(
                "{path} did not reach {} within {} s (last: {})",
                status.unwrap_or("the end of the session"),
                wait.as_secs(),
                if last.is_empty() { "no status" } else { &last }
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The `data-status` a status or management page shows.
fn status_of(a: &Answer) -> Option<String> {
    let text = a.text();
    let at = text.find("data-status=\"")? + "data-status=\"".len();
    text[at..].split('"').next().map(str::to_owned)
}

async fn round_trip(http: &Http, t: &TestTenant, record: &mut impl FnMut(Check)) {
    const LEFT_INSTALLED: &str =
        "the app may be left installed in the test tenant: uninstall it from /manage by hand";
    // 1. The Install link's sign-in, as the App Store sends the administrator.
    let session = match sign_in(http, t, "?intent=install&return=/install", "/install").await {
        Ok(s) => {
            record(Check::ok(
                "tenant sign-in",
                format!("{} signed in to {} for the install", t.email, t.tenant),
            ));
            s
        }
        Err(why) => {
            record(Check::fail(
                "tenant sign-in",
                why,
                "check --tenant and --user (an administrator of that tenant)",
            ));
            return;
        }
    };

    // 2. The install: confirm, then follow the status page until it is done.
    let installed = async {
        let status = page(http, "/install/status", &session).await?;
        if status_of(&status).as_deref() != Some("installed") {
            let confirm = page(http, "/install", &session).await?;
            let csrf = user_agent::input_value(&confirm.text(), "csrf")
                .ok_or("the install page has no confirmation form")?;
            let pressed = post_form(http, "/install", &session, &[("csrf", &csrf)]).await?;
            if !(200..400).contains(&pressed.status) {
                return Err(format!("pressing Install answered {}", pressed.status));
            }
        }
        let done = wait_for(http, "/install/status", &session, Some("installed"), t.wait).await?;
        expect::no_internals(&done)?;
        Ok::<_, String>(())
    }
    .await;
    match installed {
        Ok(()) => record(Check::ok(
            "tenant install",
            "the status page says installed",
        )),
        Err(why) => {
            record(Check::fail("tenant install", why, LEFT_INSTALLED));
            return;
        }
    }

    // 3. The management page (the App Store's Configure link).
    let manage = match page(http, "/manage", &session).await {
        Ok(a) if a.status == 200 && status_of(&a).as_deref() == Some("installed") => {
            all([expect::security_headers(&a), expect::no_internals(&a)])
                .map(|_| "200, installed, with what the app created".to_owned())
        }
        Ok(a) => Err(format!(
            "answered {} with status {:?}",
            a.status,
            status_of(&a).unwrap_or_default()
        )),
        Err(e) => Err(e),
    };
    let managed = manage.is_ok();
    record(judged("management page", manage, LEFT_INSTALLED));
    if !managed {
        return;
    }

    // 4. The uninstall: confirm, wait until the app has forgotten the tenant (the session ends with
    // it), then sign in again and see the page say so.
    let uninstalled = async {
        let confirm = page(http, "/manage/uninstall", &session).await?;
        let csrf = user_agent::input_value(&confirm.text(), "csrf")
            .ok_or("the uninstall page has no confirmation form")?;
        let pressed = post_form(
            http,
            "/manage/uninstall",
            &session,
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await?;
        if pressed.status != 303 {
            return Err(format!(
                "confirming the uninstall answered {}",
                pressed.status
            ));
        }
        wait_for(http, "/manage", &session, None, t.wait).await?;
        let again = sign_in(http, t, "?return=/manage", "/manage").await?;
        wait_for(http, "/manage", &again, Some("uninstalled"), t.wait).await?;
        Ok::<_, String>(())
    }
    .await;
    record(judged(
        "tenant uninstall",
        uninstalled.map(|()| "everything removed; the page says uninstalled".to_owned()),
        LEFT_INSTALLED,
    ));
}
