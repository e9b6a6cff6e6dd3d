//! HTTP plumbing shared by the functions and the local runner.
//!
//! Handlers take an `http::Request<Bytes>` and return an `http::Response<Bytes>`: the same code runs
//! behind API Gateway (through `lambda_http`, in the `app` crate), in `soapp serve` and in tests.
//! This crate holds what every page needs: reading cookies, forms and queries with limits; the
//! cookies we set; safe return paths; the page layout; one [`problem::Problem`] type for every error
//! page; one [`guard::Guard`] for who may do what (session, administrator, anti-forgery token, same
//! origin); security headers.

use std::future::Future;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

pub mod cookies;
pub mod guard;
pub mod pages;
pub mod problem;
pub mod return_to;

pub use guard::{Denied, Guard};
pub use problem::Problem;

pub type WebRequest = http::Request<Bytes>;
pub type WebResponse = http::Response<Bytes>;

/// Largest form body we read (a form_post callback is well under 8 kB).
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// An HTTP entry point: a function's routes, as API Gateway and the local runner call them.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        req: WebRequest,
        ctx: RequestContext,
    ) -> impl Future<Output = WebResponse> + Send;
}

/// The access log line every handled request gets (no query string: it may hold OAuth values).
pub fn log_request(ctx: &RequestContext, method: &http::Method, path: &str, status: StatusCode) {
    tracing::info!(
        request_id = %ctx.request_id,
        method = %method,
        path = %path,
        status = status.as_u16(),
        "request"
    );
}

/// The site's stylesheet, cacheable for an hour.
pub fn stylesheet() -> WebResponse {
    let mut resp = Response::new(Bytes::from_static(pages::STYLESHEET.as_bytes()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    secure_headers(&mut resp);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

/// What a handler knows about the request beyond HTTP.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Lambda's request id, or a random one locally: on every log line and error page.
    pub request_id: String,
}

/// Name/value pairs from the query string.
pub fn query_pairs(req: &WebRequest) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Name/value pairs from an `application/x-www-form-urlencoded` body, or `None` when the body is
/// something else or too large.
pub fn form_pairs(req: &WebRequest) -> Option<Vec<(String, String)>> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form || req.body().len() > MAX_FORM_BYTES {
        return None;
    }
    Some(
        url::form_urlencoded::parse(req.body())
            .into_owned()
            .collect(),
    )
}

/// A parameter that occurs more than once: an attack or a bug, never something to pick from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the parameter occurs more than once")]
pub struct Repeated;

/// The value of `name`, if it occurs exactly once.
pub fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, Repeated> {
    let mut found = pairs.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some((_, v)), None) => Ok(Some(v.as_str())),
        (Some(_), Some(_)) => Err(Repeated),
    }
}

/// A same-site path to return to after sign-in: one of the app's own pages, exactly as given, or
/// `None` (see [`return_to`] for the rules and why they decide on the final value).
pub fn safe_return_path(candidate: &str) -> Option<String> {
    return_to::check(candidate).ok().map(str::to_owned)
}

/// An untrusted value made safe for a text log line: at most `max` characters, every control,
/// quote, backslash and non-ASCII character escaped (`\n`, `\u{202e}`), so a value cannot start a
/// forged log line or hide itself. JSON logs escape anyway; the local runner's text logs do not.
pub fn log_text(untrusted: &str, max: usize) -> String {
    untrusted
        .chars()
        .take(max)
        .flat_map(char::escape_default)
        .collect()
}

/// The method a request is routed by: `HEAD` is answered as `GET` (uptime monitors use it), then
/// [`head_response`] drops the body.
pub fn routing_method(method: &http::Method) -> &http::Method {
    if method == http::Method::HEAD {
        &http::Method::GET
    } else {
        method
    }
}

/// The answer to `HEAD`: the `GET` answer's status and headers, its length, no body.
pub fn head_response(mut resp: WebResponse) -> WebResponse {
    let length = resp.body().len();
    *resp.body_mut() = Bytes::new();
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    resp
}

/// The header values every response carries. `Referrer-Policy: no-referrer` everywhere: responses
/// to URLs that carried OAuth parameters must not leak them (RFC 9700 §4.2.4), and no page of ours
/// needs to send a referrer.
pub fn secure_headers(resp: &mut WebResponse) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
}

/// The Content-Security-Policy of every page: our stylesheet and images, forms to ourselves, no
/// script, framed only by ourselves and SuperOffice.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
     frame-ancestors 'self' https://*.superoffice.com; base-uri 'none'";

/// The policy of the few pages that run the app's own script (the web panels and the sign-in
/// hand-off): [`PAGE_POLICY`] plus `script-src 'self'` (a static file of ours; no inline script,
/// no `eval`) and `connect-src 'self'` (the panel posts its hand-off code to us), framed only by
/// `frame_ancestors` (a CSP source list such as `https://*.superoffice.com`, or `'none'`).
pub fn script_page_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
         img-src 'self'; form-action 'self'; frame-ancestors {frame_ancestors}; base-uri 'none'"
    )
}

/// Replaces the response's Content-Security-Policy (a policy from [`script_page_policy`]).
pub fn set_policy(resp: &mut WebResponse, policy: &str) {
    if let Ok(v) = HeaderValue::from_str(policy) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// A static script of ours. Pages name it with a version of its content in the query, so it may be
/// cached for a year.
pub fn script(source: &'static str) -> WebResponse {
    let mut resp = Response::new(Bytes::from_static(source.as_bytes()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    secure_headers(&mut resp);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}

/// An HTML response with the security headers.
pub fn html(status: StatusCode, markup: maud::Markup) -> WebResponse {
    let mut resp = Response::new(Bytes::from(markup.into_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(&mut resp);
    resp
}

/// `303 See Other` to a location (absolute for external targets, a path for our own pages).
pub fn see_other(location: &str) -> WebResponse {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(&mut resp);
    resp
}

/// Whether a state-changing request comes from our own pages (defence in depth; the anti-forgery
/// token is the primary check). Browsers that send `Sec-Fetch-Site` (which a page cannot forge) must
/// say `same-origin`; otherwise a sent `Origin` must be ours. Chromium sends `Origin: null` for form
/// posts from pages reached through a `no-referrer` redirect, so `null` alone does not decide.
pub fn same_origin(req: &WebRequest, origin: &str) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    match header("sec-fetch-site") {
        Some(site) => site == "same-origin",
        None => header("origin").is_none_or(|o| o == origin || o == "null"),
    }
}

/// Whether a script's request (`fetch`) comes from our own pages. Stricter than [`same_origin`],
/// which forms need: a script's POST always carries `Origin`, so it must be sent and be exactly ours
/// (`null` is refused), and a sent `Sec-Fetch-Site` must say `same-origin`.
pub fn same_origin_fetch(req: &WebRequest, origin: &str) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    header("sec-fetch-site").is_none_or(|site| site == "same-origin")
        && header("origin").is_some_and(|o| o == origin)
}

/// Adds a `Set-Cookie` header (responses may carry several).
pub fn set_cookie(resp: &mut WebResponse, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A random id for requests that did not come with one.
pub fn new_request_id() -> String {
    superoffice::oidc::random_token()
        .map(|t| t[..16].to_owned())
        .unwrap_or_else(|_| "local".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_log_values_cannot_start_a_line() {
        let forged = "access_denied\n2026-01-01T00:00:00Z INFO signed_in tenant=Cust1\r\u{202e}";
        let safe = log_text(forged, 200);
        assert!(!safe.contains('\n') && !safe.contains('\r'), "{safe}");
        assert!(safe.chars().all(|c| c.is_ascii() && !c.is_ascii_control()));
        assert!(safe.starts_with("access_denied\\n2026"), "{safe}");
        assert_eq!(log_text(&"x".repeat(100), 64).len(), 64);
    }

    #[test]
    fn head_is_routed_as_get_and_answered_without_a_body() {
        assert_eq!(routing_method(&http::Method::HEAD), http::Method::GET);
        assert_eq!(routing_method(&http::Method::POST), http::Method::POST);
        let page = || html(StatusCode::OK, maud::html! { p { "hello" } });
        let get = page();
        let length = get.body().len();
        let head = head_response(page());
        assert!(head.body().is_empty());
        assert_eq!(head.status(), get.status());
        assert_eq!(
            head.headers()[header::CONTENT_LENGTH],
            length.to_string().as_str()
        );
        assert_eq!(
            head.headers()[header::CONTENT_TYPE],
            get.headers()[header::CONTENT_TYPE]
        );
    }

    #[test]
    fn script_requests_must_say_they_come_from_our_origin() {
        let req = |headers: &[(&str, &str)]| {
            let mut b = http::Request::builder().method("POST");
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(Bytes::new()).unwrap()
        };
        let ours = "https://app.example";
        for (headers, ok) in [
            (
                vec![("sec-fetch-site", "same-origin"), ("origin", ours)],
                true,
            ),
            (vec![("origin", ours)], true),
            (
                vec![("sec-fetch-site", "same-site"), ("origin", ours)],
                false,
            ),
            (
                vec![
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            (vec![("sec-fetch-site", "same-origin")], false),
            (vec![("origin", "null")], false),
            (vec![], false),
        ] {
            assert_eq!(same_origin_fetch(&req(&headers), ours), ok, "{headers:?}");
        }
    }

    #[test]
    fn script_pages_may_run_our_script_and_nothing_else() {
        let policy = script_page_policy("https://*.superoffice.com");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(policy.contains("connect-src 'self';"), "{policy}");
        assert!(policy.contains("frame-ancestors https://*.superoffice.com;"));
        assert!(!policy.contains("unsafe"), "{policy}");
        let mut page = html(StatusCode::OK, maud::html! { p { "x" } });
        assert!(
            !page.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src")
        );
        set_policy(&mut page, &policy);
        assert_eq!(
            page.headers()[header::CONTENT_SECURITY_POLICY],
            policy.as_str()
        );
        let js = script("/* x */");
        assert_eq!(
            js.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            js.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let pairs = vec![
            ("state".to_owned(), "a".to_owned()),
            ("state".to_owned(), "b".to_owned()),
        ];
        assert!(single(&pairs, "state").is_err());
        assert_eq!(single(&pairs, "code"), Ok(None));
    }

    #[test]
    fn forms_are_read_only_with_the_right_type_and_size() {
        let req = |ct: &str, body: &str| {
            http::Request::builder()
                .header("content-type", ct)
                .body(Bytes::from(body.to_owned()))
                .unwrap()
        };
        assert_eq!(
            form_pairs(&req(
                "application/x-www-form-urlencoded; charset=utf-8",
                "a=1&b=%20"
            )),
            Some(vec![("a".into(), "1".into()), ("b".into(), " ".into())])
        );
        assert_eq!(form_pairs(&req("application/json", "{}")), None);
        assert_eq!(
            form_pairs(&req(
                "application/x-www-form-urlencoded",
                &"a".repeat(MAX_FORM_BYTES + 1)
            )),
            None
        );
    }
}
