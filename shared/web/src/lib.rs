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
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'self' https://*.superoffice.com; base-uri 'none'",
        ),
    );
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
