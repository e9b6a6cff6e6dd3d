//! Plain, self-contained HTML pages (no external resources) with a strict Content-Security-Policy.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::util::{html_escape, random_urlsafe};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}\
fieldset{border:1px solid #999;padding:1rem}\
.choice{margin:.4rem 0}\
button{font-size:1rem;padding:.4rem 1rem;margin:.8rem .5rem 0 0}\
.error{color:#a00}\
.ok{color:#060}\
table{border-collapse:collapse;margin:.5rem 0}\
th,td{border:1px solid #ccc;padding:.2rem .4rem;text-align:left;vertical-align:top}\
td form{display:inline}\
section{border-top:1px solid #999;margin-top:1.5rem}\
.note{color:#555;font-size:.9rem}";

/// A complete page. `body` is trusted HTML built by the caller from escaped parts; `script`, if
/// given, is inline JavaScript allowed by a per-response CSP nonce.
pub(crate) fn page(status: StatusCode, title: &str, body: &str, script: Option<&str>) -> Response {
    let nonce = random_urlsafe(18);
    let script_tag = script
        .map(|s| format!("<script nonce=\"{nonce}\">{s}</script>"))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} – SuperOffice simulator</title>\n\
         <style nonce=\"{nonce}\">{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n{script_tag}\n</body>\n</html>\n",
        title = html_escape(title),
    );
    let script_src = if script.is_some() {
        format!("'nonce-{nonce}'")
    } else {
        "'none'".to_owned()
    };
    // No form-action: browsers apply it to the redirect after a form POST too, and our consent
    // POST is answered with a redirect to the app.
    let csp = format!(
        "default-src 'none'; script-src {script_src}; style-src 'nonce-{nonce}'; base-uri 'none'; frame-ancestors 'none'"
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    // SuperID pages refuse to be framed (they cannot run inside a web panel).
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// An error page that does not send the user anywhere.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"error\" id=\"error\" role=\"alert\">{}</p>",
        html_escape(title),
        html_escape(message)
    );
    page(status, title, &body, None)
}
