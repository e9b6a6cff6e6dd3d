//! `GET|POST /login/common/oauth/authorize`: validates the authorization request, shows a sign-in
//! page (one radio button per configured user), then a consent page when the tenant has not yet
//! approved the app, and finally returns `code` and `state` to the app by `form_post` or `query`.
//!
//! A browser with a sign-in session (see [`super::session`]) skips the sign-in page: it gets the
//! code at once when its tenant has approved the app, or the consent page when not. `prompt=login`
//! (or `select_account`) and a `max_age` the session is older than ask for a new sign-in;
//! `prompt=none` never shows a page and answers `login_required` or `consent_required` instead.
//!
//! Page element ids for browser tests: `user-{email}` (radio buttons), `continue`, `cancel`,
//! `approve`, `response-form` (the form_post form; its fallback button is `continue`), `error`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use super::session::{self, SignInSession};
use crate::html::{error_page, page};
use crate::routes::AUTHORIZE_PATH;
use crate::state::{App, AppState, AuthCode, PendingAuthorize, PkceMethod, SignedIn};
use crate::util::{Params, clip, html_escape, random_urlsafe, unix_seconds};

pub(crate) async fn authorize_get(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    start(&st, &headers, &params)
}

/// A POST either continues a pending sign-in (it carries `pending`) or is an authorization request
/// sent as a form (OpenID Connect allows both GET and POST).
pub(crate) async fn authorize_post(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::parse(&body);
    if params.get("pending").is_some() {
        step(&st, &headers, &params)
    } else {
        start(&st, &headers, &params)
    }
}

/// What the `prompt` parameter asks for (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Prompt {
    /// `none`: answer without showing any page.
    none: bool,
    /// `login` or `select_account`: show the sign-in page (it is also the account chooser) even
    /// with a session.
    login: bool,
}

impl Prompt {
    /// Space-separated values. `consent` is accepted and changes nothing: SuperOffice's consent is
    /// an authorization record an administrator makes once per tenant, and while it exists there is
    /// nothing to ask. Unknown values are refused rather than ignored, so a typo shows at once.
    fn parse(value: Option<&str>) -> Result<Self, String> {
        let mut prompt = Prompt::default();
        let mut values = 0;
        for v in value.unwrap_or_default().split_ascii_whitespace() {
            values += 1;
            match v {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => {}
                other => {
                    return Err(format!(
                        "prompt value {} is not one of none, login, consent, select_account",
                        clip(other, 40)
                    ));
                }
            }
        }
        if prompt.none && values > 1 {
            return Err("prompt=none cannot be combined with other prompt values".into());
        }
        Ok(prompt)
    }
}

/// `max_age`: at most this long since the user's last interactive sign-in, in whole seconds.
fn parse_max_age(value: Option<&str>) -> Result<Option<Duration>, &'static str> {
    match value {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(|secs| Some(Duration::from_secs(secs)))
            .map_err(|_| "max_age must be a whole number of seconds"),
    }
}

/// The browser's session if it can answer this request without a sign-in; otherwise why not (for
/// the `error_description` of `login_required`).
fn usable_session(
    st: &AppState,
    headers: &HeaderMap,
    prompt: Prompt,
    max_age: Option<Duration>,
    request: &PendingAuthorize,
) -> Result<SignInSession, &'static str> {
    if prompt.login {
        return Err("prompt asks for a new sign-in");
    }
    let s = session::current(st, headers).ok_or("there is no sign-in session")?;
    if let Some(max_age) = max_age {
        // A clock that went back counts as "just signed in". max_age=0 always asks (OpenID
        // Connect: it is equivalent to prompt=login), even within the same instant.
        let age = s.auth_time.elapsed().unwrap_or(Duration::ZERO);
        if max_age.is_zero() || age > max_age {
            return Err("the last sign-in is older than max_age");
        }
    }
    if request
        .tenant_filter
        .as_deref()
        .is_some_and(|f| !f.eq_ignore_ascii_case(&s.ctx))
    {
        // Users here belong to one tenant; another tenant means another user.
        return Err("the signed-in user is not in the tenant acr_values names");
    }
    if request
        .login_hint
        .as_deref()
        .is_some_and(|h| !h.eq_ignore_ascii_case(&s.email))
    {
        // Our decision (OpenID Connect leaves it open): the app asked for someone else, so the
        // session's user is not silently substituted.
        return Err("login_hint names another user than the signed-in one");
    }
    Ok(s)
}

/// Where and how the result goes back to the app.
struct Delivery {
    app_name: String,
    redirect_uri: String,
    form_post: bool,
    state: Option<String>,
}

impl Delivery {
    fn from_pending(app: &App, p: &PendingAuthorize) -> Self {
        Self {
            app_name: app.reg.name.clone(),
            redirect_uri: p.redirect_uri.clone(),
            form_post: p.form_post,
            state: p.state.clone(),
        }
    }

    fn error(&self, error: &str, description: &str) -> Response {
        self.send(vec![
            ("error", error.to_owned()),
            ("error_description", description.to_owned()),
        ])
    }

    fn code(&self, code: String) -> Response {
        self.send(vec![("code", code)])
    }

    fn send(&self, mut fields: Vec<(&'static str, String)>) -> Response {
        if let Some(state) = &self.state {
            fields.push(("state", state.clone()));
        }
        if self.form_post {
            return form_post_page(&self.app_name, &self.redirect_uri, &fields);
        }
        let Ok(mut url) = Url::parse(&self.redirect_uri) else {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Invalid redirect URL",
                "The registered redirect URL is not an absolute URL, so the result cannot be sent back.",
            );
        };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in &fields {
                q.append_pair(k, v);
            }
        }
        let mut resp = Redirect::to(url.as_str()).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

fn start(st: &AppState, headers: &HeaderMap, p: &Params) -> Response {
    // Until client_id and redirect_uri are known good, errors are shown here and never redirected.
    let Some(client_id) = p.get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The sign-in request has no client_id.",
        );
    };
    let Some(app) = st.app(client_id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Unknown application",
            &format!(
                "No application with client_id \"{}\" is registered.",
                clip(client_id, 80)
            ),
        );
    };
    let Some(redirect_uri) = p.get("redirect_uri") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URL",
            "The sign-in request has no redirect_uri.",
        );
    };
    if !app.reg.redirect_uris.iter().any(|u| u == redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URL",
            &format!(
                "The redirect_uri \"{}\" is not registered for {}.",
                clip(redirect_uri, 200),
                app.reg.name
            ),
        );
    }
    if matches!(p.repeated.as_deref(), Some("client_id" | "redirect_uri")) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "client_id or redirect_uri was given more than once.",
        );
    }

    let state = p.get("state").map(str::to_owned);
    let mut delivery = Delivery {
        app_name: app.reg.name.clone(),
        redirect_uri: redirect_uri.to_owned(),
        form_post: false,
        state,
    };
    match p.get("response_mode") {
        None | Some("query") => {}
        Some("form_post") => delivery.form_post = true,
        Some("fragment") => {
            return delivery.error(
                "unsupported_response_mode",
                "response_mode=fragment is not supported by the simulator; use form_post or query",
            );
        }
        Some(_) => {
            return delivery.error(
                "unsupported_response_mode",
                "response_mode must be form_post or query",
            );
        }
    }
    if let Some(name) = &p.repeated {
        return delivery.error(
            "invalid_request",
            &format!("parameter {} was given more than once", clip(name, 40)),
        );
    }
    match p.get("response_type") {
        None => return delivery.error("invalid_request", "response_type is required"),
        Some("code") => {}
        Some(_) => {
            return delivery.error(
                "unsupported_response_type",
                "only response_type=code is supported (implicit and hybrid flows are deprecated)",
            );
        }
    }
    if !p
        .get("scope")
        .is_some_and(|s| s.split_ascii_whitespace().any(|s| s == "openid"))
    {
        return delivery.error("invalid_scope", "scope must include openid");
    }
    let prompt = match Prompt::parse(p.get("prompt")) {
        Ok(prompt) => prompt,
        Err(e) => return delivery.error("invalid_request", &e),
    };
    let max_age = match parse_max_age(p.get("max_age")) {
        Ok(max_age) => max_age,
        Err(e) => return delivery.error("invalid_request", e),
    };
    let code_challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
        (None, None) => None,
        (None, Some(_)) => {
            return delivery.error(
                "invalid_request",
                "code_challenge_method given without code_challenge",
            );
        }
        (Some(challenge), method) => {
            let method = match method {
                None | Some("plain") => PkceMethod::Plain,
                Some("S256") => PkceMethod::S256,
                Some(_) => {
                    return delivery.error(
                        "invalid_request",
                        "code_challenge_method must be S256 or plain",
                    );
                }
            };
            if !is_pkce_string(challenge) {
                return delivery.error(
                    "invalid_request",
                    "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
                );
            }
            Some((challenge.to_owned(), method))
        }
    };
    let tenant_filter = match p.get("acr_values").and_then(|acr| {
        acr.split_ascii_whitespace()
            .find_map(|v| v.strip_prefix("tenant:"))
            .map(str::to_owned)
    }) {
        None => None,
        Some(ctx) => match st.store().tenant(&ctx) {
            Some(t) => Some(t.cfg.context_id.clone()),
            None => {
                return delivery.error(
                    "invalid_request",
                    &format!("acr_values names unknown tenant {}", clip(&ctx, 40)),
                );
            }
        },
    };

    let pending = PendingAuthorize {
        client_id: app.reg.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        form_post: delivery.form_post,
        state: delivery.state.clone(),
        nonce: p.get("nonce").map(str::to_owned),
        code_challenge,
        login_hint: p.get("login_hint").map(str::to_owned),
        tenant_filter,
        chosen: None,
        created: Instant::now(),
    };

    match usable_session(st, headers, prompt, max_age, &pending) {
        Ok(signed_in) => single_sign_on(st, app, prompt, pending, signed_in, &delivery),
        Err(why) if prompt.none => {
            delivery.error("login_required", &format!("prompt=none, but {why}"))
        }
        Err(_) => {
            let id = remember(st, pending.clone());
            signin_page(st, app, &id, &pending, None)
        }
    }
}

/// Stores a pending request until the next step of the pages; returns its id.
fn remember(st: &AppState, pending: PendingAuthorize) -> String {
    let id = random_urlsafe(24);
    let mut store = st.store();
    store.prune(st.code_lifetime);
    store.pending.insert(id.clone(), pending);
    id
}

/// Answers a request for a browser that is already signed in: the code at once when the user's
/// tenant has approved the app, else the consent page (for an administrator).
fn single_sign_on(
    st: &AppState,
    app: &App,
    prompt: Prompt,
    mut pending: PendingAuthorize,
    s: SignInSession,
    delivery: &Delivery,
) -> Response {
    let (consented, found) = {
        let store = st.store();
        (
            store.has_consent(&s.ctx, &app.reg.client_id),
            store
                .user(&s.ctx, &s.email)
                .map(|(t, u)| (t.cfg.company_name.clone(), u.clone())),
        )
    };
    let Some((company, user)) = found else {
        // Users are fixed at start, so a session always names one; answer as if signed out.
        return delivery.error("login_required", "the signed-in user no longer exists");
    };
    pending.chosen = Some(SignedIn {
        ctx: s.ctx.clone(),
        email: user.email.clone(),
        auth_time: s.auth_time,
    });
    if consented {
        return issue_code(st, pending, delivery);
    }
    if prompt.none {
        return delivery.error(
            "consent_required",
            &format!(
                "prompt=none, but {company} has not approved {}",
                app.reg.name
            ),
        );
    }
    if !user.is_administrator {
        return delivery.error("access_denied", &not_approved(app, &company));
    }
    let id = remember(st, pending);
    consent_page(app, &id, &company, &s.ctx, &user.full_name(), &user.email)
}

fn not_approved(app: &App, company: &str) -> String {
    format!(
        "{} has not been approved for {company}; an administrator must sign in and approve it first.",
        app.reg.name
    )
}

/// RFC 7636: 43..=128 characters of the unreserved set.
pub(crate) fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn step(st: &AppState, headers: &HeaderMap, p: &Params) -> Response {
    let id = p.get("pending").unwrap_or_default();
    let pending = {
        let mut store = st.store();
        store.prune(st.code_lifetime);
        store.pending.get(id).cloned()
    };
    let expired = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in request has expired or was already completed. Start again from the application.",
        )
    };
    let Some(pending) = pending else {
        return expired();
    };
    let Some(app) = st.app(&pending.client_id) else {
        return expired();
    };
    let delivery = Delivery::from_pending(app, &pending);
    let action = p.get("action").unwrap_or("continue");

    if action == "cancel" {
        st.store().pending.remove(id);
        return delivery.error("access_denied", "The user cancelled the sign-in.");
    }

    if let Some(choice) = p.get("user") {
        let found = choice.split_once('/').and_then(|(ctx, email)| {
            let store = st.store();
            let (tenant, user) = store.user(ctx, email)?;
            let allowed = pending
                .tenant_filter
                .as_deref()
                .is_none_or(|f| f == tenant.cfg.context_id);
            allowed.then(|| {
                (
                    tenant.cfg.context_id.clone(),
                    tenant.cfg.company_name.clone(),
                    user.clone(),
                )
            })
        });
        let Some((ctx, company, user)) = found else {
            return signin_page(
                st,
                app,
                id,
                &pending,
                Some("Choose one of the listed users."),
            );
        };
        // The user has signed in: from now on the browser's session answers for them, whatever
        // happens next on these pages (as at SuperID, where the sign-in comes before the consent).
        let auth_time = SystemTime::now();
        let cookie = session::start(st, headers, &ctx, &user.email, auth_time);
        let consented = {
            let mut store = st.store();
            if let Some(pend) = store.pending.get_mut(id) {
                pend.chosen = Some(SignedIn {
                    ctx: ctx.clone(),
                    email: user.email.clone(),
                    auth_time,
                });
            }
            store.has_consent(&ctx, &app.reg.client_id)
        };
        let resp = if consented {
            finish(st, id, &delivery)
        } else if !user.is_administrator {
            st.store().pending.remove(id);
            delivery.error("access_denied", &not_approved(app, &company))
        } else {
            consent_page(app, id, &company, &ctx, &user.full_name(), &user.email)
        };
        return with_cookie(resp, cookie);
    }

    if action == "approve" {
        let Some(signed_in) = pending.chosen.as_ref() else {
            return signin_page(st, app, id, &pending, Some("Sign in first."));
        };
        let is_admin = st
            .store()
            .user(&signed_in.ctx, &signed_in.email)
            .is_some_and(|(_, u)| u.is_administrator);
        if !is_admin {
            st.store().pending.remove(id);
            return delivery.error("access_denied", "Only an administrator can approve.");
        }
        st.grant_consent(&signed_in.ctx, &app.reg.client_id);
        return finish(st, id, &delivery);
    }

    signin_page(st, app, id, &pending, Some("Choose a user to sign in as."))
}

fn with_cookie(mut resp: Response, cookie: HeaderValue) -> Response {
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

/// Issues the code for a pending request whose user has signed in and approved, and ends it.
fn finish(st: &AppState, id: &str, delivery: &Delivery) -> Response {
    let Some(p) = st.store().pending.remove(id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in request was already completed.",
        );
    };
    issue_code(st, p, delivery)
}

/// Issues a code for a request whose user has signed in (`chosen`) and sends it to the app.
fn issue_code(st: &AppState, p: PendingAuthorize, delivery: &Delivery) -> Response {
    let Some(signed_in) = p.chosen else {
        return error_page(StatusCode::BAD_REQUEST, "Sign-in", "No user was chosen.");
    };
    let code = random_urlsafe(48);
    {
        let mut store = st.store();
        store.prune(st.code_lifetime);
        let auth_time = match store.remembered_sign_in {
            // A provider that reuses an older sign-in and ignores max_age.
            Some(age) => {
                unix_seconds(SystemTime::now()) - i64::try_from(age.as_secs()).unwrap_or(i64::MAX)
            }
            None => unix_seconds(signed_in.auth_time),
        };
        store.codes.insert(
            code.clone(),
            AuthCode {
                client_id: p.client_id,
                redirect_uri: p.redirect_uri,
                ctx: signed_in.ctx,
                email: signed_in.email,
                nonce: p.nonce,
                code_challenge: p.code_challenge,
                auth_time,
                issued: Instant::now(),
                used: false,
                refresh_token: None,
            },
        );
    }
    delivery.code(code)
}

fn signin_page(
    st: &AppState,
    app: &App,
    id: &str,
    pending: &PendingAuthorize,
    error: Option<&str>,
) -> Response {
    struct Choice {
        value: String,
        email: String,
        label: String,
    }
    let choices: Vec<Choice> = {
        let store = st.store();
        store
            .tenants
            .iter()
            .filter(|t| {
                pending
                    .tenant_filter
                    .as_deref()
                    .is_none_or(|f| f == t.cfg.context_id)
            })
            .flat_map(|t| {
                t.cfg.users.iter().map(move |u| Choice {
                    value: format!("{}/{}", t.cfg.context_id, u.email),
                    email: u.email.clone(),
                    label: format!(
                        "{} — {} ({}){}",
                        u.full_name(),
                        t.cfg.company_name,
                        t.cfg.context_id,
                        if u.is_administrator {
                            ", administrator"
                        } else {
                            ""
                        }
                    ),
                })
            })
            .collect()
    };
    let mut radios = String::new();
    for c in &choices {
        // Ids are `user-{email}`; an email listed in several tenants gets the context id appended.
        let shared = choices
            .iter()
            .filter(|o| o.email.eq_ignore_ascii_case(&c.email))
            .count()
            > 1;
        let dom_id = if shared {
            format!("user-{}", c.value.replace('/', "-"))
        } else {
            format!("user-{}", c.email)
        };
        let checked = pending
            .login_hint
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&c.email));
        radios.push_str(&format!(
            "<div class=\"choice\"><input type=\"radio\" name=\"user\" id=\"{id}\" value=\"{value}\" required{checked}> <label for=\"{id}\">{label}</label></div>\n",
            id = html_escape(&dom_id),
            value = html_escape(&c.value),
            checked = if checked { " checked" } else { "" },
            label = html_escape(&c.label),
        ));
    }
    if choices.is_empty() {
        radios.push_str("<p>No users are configured.</p>\n");
    }
    let error_html = error
        .map(|e| {
            format!(
                "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>\n",
                html_escape(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in to SuperOffice</h1>\n\
         <p>Sign in to continue to <strong>{app}</strong>.</p>\n{error_html}\
         <form method=\"post\" action=\"{AUTHORIZE_PATH}\">\n\
         <input type=\"hidden\" name=\"pending\" value=\"{id}\">\n\
         <fieldset>\n<legend>Choose a user</legend>\n{radios}</fieldset>\n\
         <button type=\"submit\" name=\"action\" value=\"continue\" id=\"continue\">Continue</button>\n\
         <button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\" formnovalidate>Cancel</button>\n\
         </form>\n\
         <p class=\"note\">SuperOffice simulator: no password is needed.</p>",
        app = html_escape(&app.reg.name),
        id = html_escape(id),
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page(status, "Sign in", &body, None)
}

fn consent_page(
    app: &App,
    id: &str,
    company: &str,
    ctx: &str,
    user_name: &str,
    email: &str,
) -> Response {
    let body = format!(
        "<h1>Approve application</h1>\n\
         <p id=\"consent-text\"><strong>{app}</strong> wants to access <strong>{company}</strong>.</p>\n\
         <p class=\"note\">Signed in as {user} ({email}) in {ctx}. Approving creates an authorization record for the whole tenant.</p>\n\
         <form method=\"post\" action=\"{AUTHORIZE_PATH}\">\n\
         <input type=\"hidden\" name=\"pending\" value=\"{id}\">\n\
         <button type=\"submit\" name=\"action\" value=\"approve\" id=\"approve\">I approve</button>\n\
         <button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button>\n\
         </form>",
        app = html_escape(&app.reg.name),
        company = html_escape(company),
        user = html_escape(user_name),
        email = html_escape(email),
        ctx = html_escape(ctx),
        id = html_escape(id),
    );
    page(StatusCode::OK, "Approve application", &body, None)
}

/// The `form_post` response: a form that posts the result to the app, submitted by a tiny inline
/// script (allowed by the page's CSP nonce), with a visible button for when scripts do not run.
fn form_post_page(app_name: &str, redirect_uri: &str, fields: &[(&str, String)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let body = format!(
        "<h1>Returning to {app}</h1>\n\
         <form method=\"post\" action=\"{action}\" id=\"response-form\">\n{inputs}\
         <p>If nothing happens, press Continue.</p>\n\
         <button type=\"submit\" id=\"continue\">Continue</button>\n\
         </form>",
        app = html_escape(app_name),
        action = html_escape(redirect_uri),
    );
    page(
        StatusCode::OK,
        "Returning to the application",
        &body,
        Some("document.getElementById('response-form').submit();"),
    )
}
