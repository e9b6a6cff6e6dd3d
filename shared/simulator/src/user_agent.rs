//! A scripted user at the simulator's sign-in pages, over plain HTTP.
//!
//! Tests that need a signed-in user but not a browser use this: it opens the authorize URL the app
//! produced, picks a user, approves consent when asked, and returns what the browser would have sent to
//! the app's redirect URI (the form_post fields, or the redirect URL). Browser tests click the same
//! pages for real.

use std::time::Duration;

use url::Url;

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

/// Follows the sign-in pages from `authorize_url` as a person would.
pub async fn sign_in(authorize_url: &Url, choice: &Choice<'_>) -> Result<Delivery, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    let page = http
        .get(authorize_url.clone())
        .send()
        .await
        .map_err(|e| format!("authorize page: {e}"))?;
    if page.status().is_redirection() {
        return delivery(page).await;
    }
    if page.status() != 200 {
        return Err(format!("authorize page answered {}", page.status()));
    }
    let html = page.text().await.map_err(|e| e.to_string())?;
    // A refused request in form_post mode is answered at once with the form_post page that carries
    // `error` back to the app, not with a sign-in page.
    let Some(pending) = input_value(&html, "pending") else {
        return form_post(&html);
    };
    let user = format!("{}/{}", choice.context_id, choice.email);
    let mut post_url = authorize_url.clone();
    post_url.set_query(None);
    let answer = http
        .post(post_url.clone())
        .form(&[
            ("pending", pending.as_str()),
            ("user", user.as_str()),
            ("action", "continue"),
        ])
        .send()
        .await
        .map_err(|e| format!("sign-in: {e}"))?;
    if answer.status() != 200 {
        return delivery(answer).await;
    }
    let html = answer.text().await.map_err(|e| e.to_string())?;
    if html.contains("id=\"approve\"") {
        let pending = input_value(&html, "pending").ok_or("no pending consent on the page")?;
        let action = if choice.approve { "approve" } else { "cancel" };
        let answer = http
            .post(post_url)
            .form(&[("pending", pending.as_str()), ("action", action)])
            .send()
            .await
            .map_err(|e| format!("consent: {e}"))?;
        return delivery(answer).await;
    }
    form_post(&html)
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
