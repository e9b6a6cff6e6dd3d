//! A scripted user at the simulator's sign-in pages, over plain HTTP.
//!
//! Tests that need a signed-in user but not a browser use this: it opens the authorize URL the app
//! produced, picks a user, approves consent when asked, and returns what the browser would have sent to
//! the app's redirect URI (the form_post fields, or the redirect URL). Browser tests click the same
//! pages for real.
//!
//! [`sign_in`] is a fresh browser each time. A [`UserAgent`] is one browser that keeps SuperID's
//! session cookie, for tests of single sign-on: sign in once, then [`UserAgent::open`] an
//! authorization request and get a code without a prompt.

use std::sync::Mutex;
use std::time::Duration;

use url::Url;

use crate::SESSION_COOKIE;

/// What the browser would deliver to the app.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// `response_mode=form_post`: a POST of these fields to `action`.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
    /// `response_mode=query` (or an error): a redirect to this URL.
    Redirect(Url),
}

impl Delivery {
    /// A delivered parameter (`code`, `state`, `error`…).
    pub fn param(&self, name: &str) -> Option<String> {
        match self {
            Delivery::FormPost { fields, .. } => fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
            Delivery::Redirect(url) => url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
        }
    }
}

/// Who signs in and what they answer on the consent page.
#[derive(Debug, Clone)]
pub struct Choice<'a> {
    pub context_id: &'a str,
    pub email: &'a str,
    pub approve: bool,
}

/// Follows the sign-in pages from `authorize_url` as a person would, in a fresh browser (no sign-in
/// session is sent, and the one the sign-in starts is forgotten afterwards).
pub async fn sign_in(authorize_url: &Url, choice: &Choice<'_>) -> Result<Delivery, String> {
    UserAgent::new()?.sign_in(authorize_url, choice).await
}

/// What the simulator answers an authorization request with before anyone clicks anything.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The answer went straight back to the app: a code (single sign-on), or an error such as
    /// `login_required` or `consent_required`.
    Delivered(Delivery),
    /// The sign-in page: the browser has no session this request may use.
    SignInPage,
    /// The consent page: signed in, but the user's tenant has not approved the app yet.
    ConsentPage,
}

/// One browser: like [`sign_in`], but it keeps SuperID's session cookie (`SuperIdSession`) and
/// sends it back, so a test can sign in once and then get codes without a prompt, sign out, or
/// check what a request with a session is answered. Errors are plain text, as with [`sign_in`]: a
/// test can only report them.
pub struct UserAgent {
    http: reqwest::Client,
    /// `SuperIdSession={value}` as the browser sends it back, once a sign-in set it.
    session: Mutex<Option<String>>,
}

/// Never shows the cookie's value (it signs the browser in).
impl std::fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgent")
            .field("has_session", &self.session_slot().is_some())
            .finish_non_exhaustive()
    }
}

impl UserAgent {
    /// A browser without a session.
    pub fn new() -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            session: Mutex::new(None),
        })
    }

    /// `SuperIdSession={value}`, as the browser would send it, while it holds a session cookie.
    pub fn session_cookie(&self) -> Option<String> {
        self.session_slot().clone()
    }

    /// Drops the session cookie, as closing a private window would (the simulator's session itself
    /// lives on until it expires or is ended).
    pub fn forget_session(&self) {
        *self.session_slot() = None;
    }

    /// Opens `authorize_url` and, when a page asks, signs in as `choice` and answers the consent
    /// page. With a session the sign-in page may be skipped (and the consent page too). Returns
    /// what the browser delivers to the app.
    pub async fn sign_in(
        &self,
        authorize_url: &Url,
        choice: &Choice<'_>,
    ) -> Result<Delivery, String> {
        let page = self.get(authorize_url, "authorize page").await?;
        if page.status().is_redirection() {
            return delivery(page).await;
        }
        if page.status() != 200 {
            return Err(format!("authorize page answered {}", page.status()));
        }
        let html = page.text().await.map_err(|e| e.to_string())?;
        let mut post_url = authorize_url.clone();
        post_url.set_query(None);
        // A refused request in form_post mode, or a single sign-on, is answered at once with the
        // form_post page that carries `error` or `code` back to the app.
        let Some(pending) = input_value(&html, "pending") else {
            return form_post(&html);
        };
        if is_consent_page(&html) {
            return self.consent(&post_url, &pending, choice.approve).await;
        }
        let user = format!("{}/{}", choice.context_id, choice.email);
        let answer = self
            .post(
                &post_url,
                &[
                    ("pending", pending.as_str()),
                    ("user", user.as_str()),
                    ("action", "continue"),
                ],
                "sign-in",
            )
            .await?;
        if answer.status() != 200 {
            return delivery(answer).await;
        }
        let html = answer.text().await.map_err(|e| e.to_string())?;
        if is_consent_page(&html) {
            let pending = input_value(&html, "pending").ok_or("no pending consent on the page")?;
            return self.consent(&post_url, &pending, choice.approve).await;
        }
        form_post(&html)
    }

    /// Opens `authorize_url` with the browser's session (if any) and reports what the simulator
    /// answers without anyone clicking: a delivery to the app, or which page it shows.
    pub async fn open(&self, authorize_url: &Url) -> Result<Outcome, String> {
        let page = self.get(authorize_url, "authorize page").await?;
        if page.status().is_redirection() {
            return delivery(page).await.map(Outcome::Delivered);
        }
        if page.status() != 200 {
            return Err(format!("authorize page answered {}", page.status()));
        }
        let html = page.text().await.map_err(|e| e.to_string())?;
        if input_value(&html, "pending").is_none() {
            return form_post(&html).map(Outcome::Delivered);
        }
        Ok(if is_consent_page(&html) {
            Outcome::ConsentPage
        } else {
            Outcome::SignInPage
        })
    }

    /// Opens SuperID's sign-out endpoint (`end_session_endpoint`, e.g. `{base}login/logout`) with
    /// the session cookie: the simulator ends the session and the browser forgets the cookie.
    pub async fn sign_out(&self, end_session_url: &Url) -> Result<(), String> {
        let resp = self.get(end_session_url, "sign-out").await?;
        if resp.status().is_success() || resp.status().is_redirection() {
            Ok(())
        } else {
            Err(format!("the sign-out answered {}", resp.status()))
        }
    }

    async fn consent(
        &self,
        post_url: &Url,
        pending: &str,
        approve: bool,
    ) -> Result<Delivery, String> {
        let action = if approve { "approve" } else { "cancel" };
        let answer = self
            .post(
                post_url,
                &[("pending", pending), ("action", action)],
                "consent",
            )
            .await?;
        delivery(answer).await
    }

    async fn get(&self, url: &Url, what: &str) -> Result<reqwest::Response, String> {
        let mut req = self.http.get(url.clone());
        if let Some(cookie) = self.session_cookie() {
            req = req.header(reqwest::header::COOKIE, cookie);
        }
        let resp = req.send().await.map_err(|e| format!("{what}: {e}"))?;
        self.keep_cookie(&resp);
        Ok(resp)
    }

    async fn post(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        what: &str,
    ) -> Result<reqwest::Response, String> {
        let mut req = self.http.post(url.clone()).form(form);
        if let Some(cookie) = self.session_cookie() {
            req = req.header(reqwest::header::COOKIE, cookie);
        }
        let resp = req.send().await.map_err(|e| format!("{what}: {e}"))?;
        self.keep_cookie(&resp);
        Ok(resp)
    }

    /// Takes in the answer's `Set-Cookie` for the session, as a browser does: a value replaces the
    /// cookie, an empty value or `Max-Age=0` removes it.
    fn keep_cookie(&self, resp: &reqwest::Response) {
        let prefix = format!("{SESSION_COOKIE}=");
        for set in resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let Some(rest) = set.strip_prefix(&prefix) else {
                continue;
            };
            let mut parts = rest.split(';');
            let value = parts.next().unwrap_or_default().trim();
            let expired = parts.any(|a| a.trim().eq_ignore_ascii_case("Max-Age=0"));
            *self.session_slot() = if value.is_empty() || expired {
                None
            } else {
                Some(format!("{prefix}{value}"))
            };
        }
    }

    fn session_slot(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The consent page is the only page with an "I approve" button.
fn is_consent_page(html: &str) -> bool {
    html.contains("id=\"approve\"")
}

async fn delivery(resp: reqwest::Response) -> Result<Delivery, String> {
    if resp.status().is_redirection() {
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .ok_or("a redirect without Location")?;
        return Url::parse(location)
            .map(Delivery::Redirect)
            .map_err(|e| e.to_string());
    }
    if resp.status() != 200 {
        return Err(format!("the sign-in page answered {}", resp.status()));
    }
    let html = resp.text().await.map_err(|e| e.to_string())?;
    form_post(&html)
}

/// Reads a form_post page: its form's action and the delivered fields (a `code` or an `error`).
fn form_post(html: &str) -> Result<Delivery, String> {
    let action = form_action(html).ok_or("no form on the final page")?;
    let mut fields = Vec::new();
    for name in ["code", "state", "error", "error_description"] {
        if let Some(v) = input_value(html, name) {
            fields.push((name.to_owned(), v));
        }
    }
    if !fields.iter().any(|(k, _)| k == "code" || k == "error") {
        return Err("neither a code nor an error on the final page".into());
    }
    Ok(Delivery::FormPost { action, fields })
}

/// Undoes the simulator's HTML escaping of attribute values.
fn unescape_html(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `<input … name="{name}" value="…">`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(unescape_html(&html[start..end]))
}

/// The `action` of the first POST form.
pub fn form_action(html: &str) -> Option<String> {
    let needle = "<form method=\"post\" action=\"";
    let start = html.find(needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(unescape_html(&html[start..end]))
}
