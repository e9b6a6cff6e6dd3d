//! The pages SuperOffice shows inside its own screens: the web panel on the company card
//! (`GET /panels/contact?ctx=<uctx>&user=<usid>`) and the page the navigator button opens
//! (`GET /panels/home?ctx=…&user=…`), both created in every tenant by the manifest; and the
//! sign-in hand-off that lets them know who is looking.
//!
//! **Where they run.** SuperOffice loads these URLs in an iframe of its own site, substituting the
//! tenant's context id and the user's associate id. Nothing in the URL proves anything (anyone can
//! type it, and SuperOffice never sends `usec` to an app), so the pages show data only to a person
//! signed in to the app for the same tenant (and, where the session knows it, as the same user).
//! In that iframe the browser does not send the app's `SameSite=Lax` session cookie, and
//! SuperOffice's sign-in pages refuse to be framed, so:
//!
//! 1. Without a session the page offers "Sign in". The static script [`PANEL_JS`] (CSP
//!    `script-src 'self'`, no inline script) opens `/login?return=/panels/handoff` in a pop-up: an
//!    ordinary, top-level sign-in. A blocked pop-up is said so, with a link that opens the same
//!    sign-in in a new tab (`rel=opener`, so it can still hand back).
//! 2. `GET /panels/handoff`, top-level with the new `Lax` session, mints a one-time code (hashed,
//!    60 s, bound to the session and its tenant: `domain::signin::panel`) and its page posts the
//!    code to `window.opener` for the app's exact origin, then closes.
//! 3. The panel's script accepts messages from the app's own origin only and posts the code to
//!    `POST /panels/session` (same origin, checked by `Origin` and `Sec-Fetch-Site`: the code is the
//!    credential, so no anti-forgery token is needed), which redeems it once and sets
//!    `__Host-panel` (`Secure; HttpOnly; SameSite=None; Partitioned`), then the panel reloads. A
//!    cookie set in the pop-up would not reach the iframe (partitioned storage), which is why the
//!    iframe's own request sets it.
//!
//! The panel cookie opens these two read-only pages and nothing else: the guard of every other
//! page reads only the session cookie. Signing out, the session's expiry and the uninstall's purge
//! end it with the session it is bound to.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use domain::Ports;
use domain::signin::Session;
use domain::signin::panel::RedeemError;
use domain::store::StoreError;
use http::{Method, StatusCode};
use superoffice::TenantId;
use web::{Denied, Problem, WebRequest, WebResponse, cookies};

use crate::{Install, Refusal, panels_view};

/// The panels' script: the pop-up sign-in in the panel, the hand-off in the pop-up.
pub(crate) const PANEL_JS: &str = include_str!("panel.js");
pub(crate) const SCRIPT_PATH: &str = "/panels/panel.js";
/// Where the sign-in button leads: an ordinary sign-in that comes back to the hand-off page.
pub(crate) const SIGN_IN: &str = "/login?return=/panels/handoff";

/// How long a panel waits for SuperOffice's tenant state (usually cached) before showing what the
/// app knows without it: a panel is on every company card, so it must be quick.
const STATE_WAIT: Duration = Duration::from_millis(1500);

/// The longest query string a panel reads: SuperOffice's is under 40 characters.
const MAX_QUERY: usize = 1024;

/// The longest associate id accepted (SuperOffice's are 32-bit integers).
const MAX_USER_DIGITS: usize = 10;

/// The script's path with a version of its content, so it can be cached for a year and a new
/// release is fetched at once.
pub(crate) fn script_src() -> &'static str {
    static SRC: OnceLock<String> = OnceLock::new();
    SRC.get_or_init(|| {
        let hash = domain::store::secret_key(PANEL_JS);
        format!("{SCRIPT_PATH}?v={}", &hash[..12])
    })
}

/// Which page SuperOffice opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PanelPage {
    /// The web panel on the company card: small, the essentials.
    Contact,
    /// The navigator button's page: the same facts and what the app added to SuperOffice.
    Home,
}

/// What SuperOffice put into the panel's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PanelAddress {
    pub tenant: TenantId,
    /// The associate id of the user SuperOffice shows the panel to.
    pub user: u32,
}

/// Why a panel's URL is not usable. The person sees one page; the log gets the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadAddress {
    TooLong,
    Missing(&'static str),
    Repeated(&'static str),
    /// A template variable SuperOffice did not substitute (`<uctx>`): a misconfigured panel.
    Unsubstituted(&'static str),
    NotATenant,
    NotAUser,
}

impl BadAddress {
    pub(crate) fn code(self) -> &'static str {
        match self {
            BadAddress::TooLong => "panel_query_too_long",
            BadAddress::Missing("ctx") => "panel_ctx_missing",
            BadAddress::Missing(_) => "panel_user_missing",
            BadAddress::Repeated("ctx") => "panel_ctx_repeated",
            BadAddress::Repeated(_) => "panel_user_repeated",
            BadAddress::Unsubstituted("ctx") => "panel_ctx_unsubstituted",
            BadAddress::Unsubstituted(_) => "panel_user_unsubstituted",
            BadAddress::NotATenant => "panel_ctx_invalid",
            BadAddress::NotAUser => "panel_user_invalid",
        }
    }
}

/// Reads `ctx` (a tenant id) and `user` (an associate id: digits) from a panel's query string.
/// Anything else is refused, never interpreted: a parameter given twice, a value with a template
/// still in it, escapes that decode to something else, leading signs, a huge number.
pub(crate) fn parse_address(query: Option<&str>) -> Result<PanelAddress, BadAddress> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY {
        return Err(BadAddress::TooLong);
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let one = |name: &'static str| -> Result<String, BadAddress> {
        let value = web::single(&pairs, name)
            .map_err(|_| BadAddress::Repeated(name))?
            .ok_or(BadAddress::Missing(name))?;
        if value.contains(['<', '>']) {
            return Err(BadAddress::Unsubstituted(name));
        }
        Ok(value.to_owned())
    };
    let ctx = one("ctx")?;
    let user = one("user")?;
    let tenant = TenantId::parse(&ctx).map_err(|_| BadAddress::NotATenant)?;
    if user.is_empty() || user.len() > MAX_USER_DIGITS || !user.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(BadAddress::NotAUser);
    }
    let user = user
        .parse::<u32>()
        .ok()
        .filter(|u| *u > 0)
        .ok_or(BadAddress::NotAUser)?;
    Ok(PanelAddress { tenant, user })
}

/// Whether the session is the panel's user: the same associate id when the session knows one.
pub(crate) fn same_user(session: &Session, user: u32) -> bool {
    match session.associate_id.as_deref() {
        None => true,
        Some(id) => id.trim().parse::<u32>() == Ok(user),
    }
}

/// Who may frame the panels: SuperOffice's sites; and in local runs (the app on a loopback `http`
/// address, which a deployed configuration refuses), any loopback page, so the panels can be tried
/// in a test page of one's own.
pub(crate) fn frame_ancestors(base_url: &url::Url) -> String {
    let mut sources = "'self' https://*.superoffice.com".to_owned();
    let loopback = matches!(
        base_url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]")
    );
    if base_url.scheme() == "http" && loopback {
        sources.push_str(" http://localhost:* http://127.0.0.1:* http://[::1]:*");
    }
    sources
}

fn bad_address(why: BadAddress) -> Refusal {
    Refusal::Problem(Box::new(
        Problem::new(
            StatusCode::BAD_REQUEST,
            "panel_address",
            "This panel cannot be shown",
            "SuperOffice opened this panel with an address the app cannot read. Reload the page; if this message stays, tell the app's support the reference below.",
        )
        .no_onward()
        .detail(why.code()),
    ))
}

impl<P: Ports> Install<P> {
    /// `GET /panels/contact` and `GET /panels/home`.
    pub(crate) async fn panel(
        &self,
        req: &WebRequest,
        page: PanelPage,
    ) -> Result<WebResponse, Refusal> {
        let address = parse_address(req.uri().query()).map_err(bad_address)?;
        let now = self.now();
        let (viewer, stale) = self.panel_viewer(req, &address.tenant, now).await?;
        let mut response = match viewer {
            None => panels_view::sign_in(&self.manifest, &address, page),
            Some(s) if s.tenant != address.tenant => {
                tracing::info!(reason = "panel_other_tenant", tenant = %address.tenant, "the panel asks to sign in to its own tenant");
                panels_view::other_company(&self.manifest, &address, page, &s)
            }
            Some(s) if !same_user(&s, address.user) => {
                tracing::info!(reason = "panel_other_user", tenant = %address.tenant, "the panel asks to sign in as its own user");
                panels_view::other_user(&self.manifest, &address, page, &s)
            }
            Some(s) => self.panel_page(&s, page, now).await?,
        };
        if stale {
            web::set_cookie(&mut response, &cookies::clear_panel());
        }
        Ok(response)
    }

    /// The session of whoever looks at a panel of `tenant`: the panel cookie's, else the ordinary
    /// session's (a panel opened outside an iframe, or a browser that sends it), preferring one of
    /// `tenant`; and whether the browser holds a panel cookie whose session has ended (to clear).
    async fn panel_viewer(
        &self,
        req: &WebRequest,
        tenant: &TenantId,
        now: i64,
    ) -> Result<(Option<Session>, bool), StoreError> {
        let (panel, stale) = match cookies::get(req, cookies::PANEL) {
            None => (None, false),
            Some(value) => match self.panels.find(value, now).await? {
                Some(s) => (Some(s), false),
                None => (None, true),
            },
        };
        if panel.as_ref().is_some_and(|s| &s.tenant == tenant) {
            return Ok((panel, stale));
        }
        let ordinary = self.guard.current(req, now).await?.map(|(_, s)| s);
        let viewer = match (panel, ordinary) {
            (_, Some(o)) if &o.tenant == tenant => Some(o),
            (Some(p), _) => Some(p),
            (None, o) => o,
        };
        Ok((viewer, stale))
    }

    async fn panel_page(
        &self,
        session: &Session,
        page: PanelPage,
        now: i64,
    ) -> Result<WebResponse, Refusal> {
        let tenant = self
            .tenants
            .get(&session.tenant, now)
            .await?
            .map(|t| t.value);
        // SuperOffice's state only for a tenant the app knows (the session's came from a validated
        // token anyway); usually from the cache.
        let state = match &tenant {
            None => None,
            Some(_) => {
                let deadline = self.clock.now() + STATE_WAIT;
                match self
                    .superoffice
                    .tenant_states()
                    .get(&session.tenant, Some(deadline))
                    .await
                {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(tenant = %session.tenant, reason = "tenant_state_unavailable", error = %e, "the panel shows no tenant state");
                        None
                    }
                }
            }
        };
        let entries = match (page, &tenant) {
            (PanelPage::Home, Some(_)) => self.ledger.entries(&session.tenant, now).await?,
            _ => Vec::new(),
        };
        Ok(panels_view::page(&panels_view::Facts {
            page,
            session,
            tenant: tenant.as_ref(),
            state: state.as_ref(),
            entries: &entries,
            manifest: &self.manifest,
            now,
        }))
    }

    /// `GET /panels/handoff`: in the sign-in pop-up, after the sign-in: a one-time code for the
    /// panel that opened it. `HEAD` mints nothing.
    pub(crate) async fn hand_off(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        let now = self.now();
        let Some((id, session)) = self.guard.current(req, now).await? else {
            // No loop back to /login: a browser that keeps no cookie at all would come back here.
            return Err(Refusal::Problem(Box::new(
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "signed_out",
                    "Please sign in",
                    "Signing in did not finish in this window. Sign in again; the window then closes by itself and the panel in SuperOffice shows who you are.",
                )
                .onward(SIGN_IN, "Sign in"),
            )));
        };
        if req.method() == Method::HEAD {
            return Ok(panels_view::hand_off(&self.manifest, &session, None));
        }
        let code = self
            .panels
            .mint(&id, &session, now)
            .await
            .map_err(|e| Refusal::Problem(Box::new(Problem::unavailable(e.to_string()))))?;
        tracing::info!(reason = "panel_hand_off", tenant = %session.tenant, "a panel hand-off code was issued");
        Ok(panels_view::hand_off(
            &self.manifest,
            &session,
            Some(code.expose()),
        ))
    }

    /// `POST /panels/session` (from the panel's script): redeem a hand-off code for the panel
    /// cookie. `204` with the cookie, or a refusal the script turns into words.
    pub(crate) async fn redeem(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        if !web::same_origin_fetch(req, &self.origin) {
            return Err(Denied::Forbidden("cross_origin_script").into());
        }
        let malformed = |detail: &'static str| {
            Refusal::Problem(Box::new(
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "panel_session_request",
                    "This request is not valid",
                    "Signing in to the panel did not finish. Reload the panel and sign in again.",
                )
                .detail(detail),
            ))
        };
        let form = web::form_pairs(req).ok_or_else(|| malformed("not_a_form"))?;
        let field = |name: &'static str| {
            web::single(&form, name)
                .ok()
                .flatten()
                .ok_or_else(|| malformed(name))
        };
        let code = field("code")?;
        let tenant = TenantId::parse(field("ctx")?).map_err(|_| malformed("ctx"))?;
        let now = self.now();
        let panel = self.panels.redeem(code, &tenant, now).await.map_err(|e| {
            let problem = match e {
                RedeemError::SignInAgain => Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "hand_off_invalid",
                    "Please sign in again",
                    "Signing in to the panel did not finish in time. Sign in again.",
                ),
                RedeemError::SignInToThisTenant => Problem::new(
                    StatusCode::CONFLICT,
                    "hand_off_other_tenant",
                    "You signed in to another company",
                    "Sign in with the account you use in this SuperOffice.",
                ),
                RedeemError::TryAgainLater(code) => Problem::unavailable(code),
            };
            Refusal::Problem(Box::new(problem.no_onward().detail(e.code())))
        })?;
        tracing::info!(reason = "panel_signed_in", tenant = %tenant, "a panel session started");
        let mut resp = http::Response::new(Bytes::new());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        web::secure_headers(&mut resp);
        web::set_cookie(
            &mut resp,
            &cookies::panel(panel.cookie.expose(), panel.max_age(now)),
        );
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<PanelAddress, BadAddress> {
        parse_address(Some(q))
    }

    #[test]
    fn what_superoffice_substitutes_is_read() {
        let a = parse("ctx=Cust12345&user=6").unwrap();
        assert_eq!(a.tenant.as_str(), "Cust12345");
        assert_eq!(a.user, 6);
        // Order, other parameters SuperOffice may add, and plain escapes do not matter.
        assert_eq!(parse("user=6&extra=1&ctx=Cust12345").unwrap(), a);
        assert_eq!(parse("ctx=%43ust12345&user=%36").unwrap(), a);
        assert_eq!(
            parse("ctx=Cust12345&user=4294967295").unwrap().user,
            u32::MAX
        );
    }

    #[test]
    fn every_other_address_is_refused_with_its_reason() {
        use BadAddress::*;
        let huge = format!("ctx=Cust12345&user=6&pad={}", "x".repeat(MAX_QUERY));
        for (query, why) in [
            ("", Missing("ctx")),
            ("user=6", Missing("ctx")),
            ("ctx=Cust12345", Missing("user")),
            ("ctx=<uctx>&user=<usid>", Unsubstituted("ctx")),
            ("ctx=Cust12345&user=<usid>", Unsubstituted("user")),
            ("ctx=%3Cuctx%3E&user=6", Unsubstituted("ctx")),
            ("ctx=Cust12345&ctx=Cust67890&user=6", Repeated("ctx")),
            ("ctx=Cust12345&user=6&user=7", Repeated("user")),
            ("ctx=&user=6", NotATenant),
            ("ctx=Cust12345%00&user=6", NotATenant),
            ("ctx=Cust12345%0d%0a&user=6", NotATenant),
            ("ctx=Cust%2012345&user=6", NotATenant),
            ("ctx=Cust12345x&user=6", NotATenant),
            ("ctx=../Cust12345&user=6", NotATenant),
            ("ctx=Cust1234567890123&user=6", NotATenant),
            ("ctx=Ｃust12345&user=6", NotATenant),
            ("ctx=Cust12345&user=", NotAUser),
            ("ctx=Cust12345&user=-6", NotAUser),
            ("ctx=Cust12345&user=+6", NotAUser),
            ("ctx=Cust12345&user=6.0", NotAUser),
            ("ctx=Cust12345&user=0", NotAUser),
            ("ctx=Cust12345&user=%206", NotAUser),
            ("ctx=Cust12345&user=٦", NotAUser),
            ("ctx=Cust12345&user=4294967296", NotAUser),
            ("ctx=Cust12345&user=99999999999999999999", NotAUser),
            (huge.as_str(), TooLong),
        ] {
            assert_eq!(parse(query), Err(why), "{query:?}");
        }
        assert_eq!(parse_address(None), Err(Missing("ctx")));
    }

    #[test]
    fn the_session_is_the_panels_user_when_it_knows_its_associate() {
        let mut s = Session {
            subject: "s".into(),
            email: None,
            tenant: TenantId::parse("Cust12345").unwrap(),
            company: None,
            associate_id: Some("6".into()),
            is_administrator: false,
            intent: domain::signin::Intent::SignIn,
            csrf_token: superoffice::Secret::new("c"),
            created_at: 0,
            expires_at: 1,
        };
        assert!(same_user(&s, 6));
        assert!(!same_user(&s, 5));
        s.associate_id = Some("x".into());
        assert!(!same_user(&s, 6));
        s.associate_id = None;
        assert!(same_user(&s, 5), "nothing to compare");
    }

    #[test]
    fn loopback_pages_may_frame_the_panels_only_in_local_runs() {
        let parse = |u: &str| url::Url::parse(u).unwrap();
        assert_eq!(
            frame_ancestors(&parse("https://app.example.com")),
            "'self' https://*.superoffice.com"
        );
        let local = frame_ancestors(&parse("http://127.0.0.1:8123"));
        assert!(local.contains("http://localhost:*"), "{local}");
        assert_eq!(
            frame_ancestors(&parse("https://localhost:8443")),
            "'self' https://*.superoffice.com"
        );
    }

    #[test]
    fn the_script_is_named_by_its_content() {
        let src = script_src();
        assert!(src.starts_with("/panels/panel.js?v="), "{src}");
        assert_eq!(src.len(), "/panels/panel.js?v=".len() + 12);
        assert!(!PANEL_JS.contains("eval("), "no eval: CSP forbids it");
    }
}
