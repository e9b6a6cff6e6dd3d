//! API Gateway HTTP API (payload format 2.0) events and responses, as the redirect function sees
//! them in Lambda.
//!
//! The events start from the fixtures in `infra/events/` (the ones `sam local invoke` uses), so
//! their headers and request context are those of a real HTTP API; the runner only sets what a
//! sign-in changes: the `cookies` array, and for `POST /callback` the form body (base64, as API
//! Gateway sends a form) with its `content-length`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

const GET_ROOT: &str = include_str!("../../events/get-root.json");
const GET_LOGIN: &str = include_str!("../../events/get-login.json");
const POST_CALLBACK: &str = include_str!("../../events/post-callback.json");

fn fixture(text: &str) -> Value {
    // The fixtures are part of the repository and checked by this crate's tests.
    serde_json::from_str(text).unwrap_or_else(|e| panic!("infra/events fixture: {e}"))
}

fn with_cookies(mut event: Value, cookies: &[String]) -> Value {
    if let Some(obj) = event.as_object_mut() {
        if cookies.is_empty() {
            obj.remove("cookies");
        } else {
            obj.insert("cookies".into(), json!(cookies));
        }
    }
    event
}

/// `GET /` with the given cookies (`name=value`); none: a visitor who is not signed in.
pub fn get_root(cookies: &[String]) -> Value {
    with_cookies(fixture(GET_ROOT), cookies)
}

/// `GET /login`.
pub fn get_login() -> Value {
    with_cookies(fixture(GET_LOGIN), &[])
}

/// `POST /callback` with `fields` as an `application/x-www-form-urlencoded` body, the way
/// SuperOffice's form_post page makes the browser send it (cross-site, from `origin`).
pub fn post_callback(fields: &[(String, String)], cookies: &[String], origin: &str) -> Value {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut event = with_cookies(fixture(POST_CALLBACK), cookies);
    if let Some(obj) = event.as_object_mut() {
        obj.insert("body".into(), json!(STANDARD.encode(body.as_bytes())));
        obj.insert("isBase64Encoded".into(), json!(true));
        if let Some(headers) = obj.get_mut("headers").and_then(Value::as_object_mut) {
            headers.insert("content-length".into(), json!(body.len().to_string()));
            headers.insert("origin".into(), json!(origin));
            headers.insert("referer".into(), json!(format!("{origin}/")));
        }
    }
    event
}

/// The parts of a payload 2.0 response the runner checks.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Map<String, Value>,
    /// `Set-Cookie` values: in payload 2.0 they are in `cookies`, not in the headers.
    pub cookies: Vec<String>,
}

impl HttpResponse {
    pub fn parse(v: &Value) -> Result<Self, String> {
        let status = v
            .get("statusCode")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("no statusCode")?;
        let headers = v
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let cookies = v
            .get("cookies")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            status,
            headers,
            cookies,
        })
    }

    /// A header by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    /// The name and value a `Set-Cookie` of this name sets; a name ending in `-` is a prefix
    /// (`__Host-signin-`: the sign-in cookie is named after its state), and then the first cookie
    /// it sets (not clears) is meant.
    fn named_cookie(&self, name: &str) -> Option<(&str, &str)> {
        self.cookies.iter().find_map(|c| {
            let pair = c.split(';').next()?.trim();
            let (n, v) = pair.split_once('=')?;
            let prefix = name.ends_with('-') && n.starts_with(name) && !v.is_empty();
            (n == name || prefix).then_some((n, v))
        })
    }

    /// The value a `Set-Cookie` of this name sets.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.named_cookie(name).map(|(_, v)| v)
    }

    /// `name=value` of the cookie, as a browser sends it back.
    pub fn cookie_pair(&self, name: &str) -> Option<String> {
        self.named_cookie(name).map(|(n, v)| format!("{n}={v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_parse_and_take_what_a_sign_in_changes() {
        let root = get_root(&[]);
        assert_eq!(root["rawPath"], "/");
        assert!(root.get("cookies").is_none(), "a visitor without a cookie");
        assert_eq!(get_login()["routeKey"], "GET /login");

        let fields = vec![
            ("code".to_owned(), "a b&c".to_owned()),
            ("state".to_owned(), "xyz".to_owned()),
        ];
        let cb = post_callback(&fields, &["__Host-signin=v".into()], "http://127.0.0.1:1");
        assert_eq!(cb["isBase64Encoded"], true);
        let body = STANDARD.decode(cb["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, b"code=a+b%26c&state=xyz");
        assert_eq!(cb["headers"]["content-length"], body.len().to_string());
        assert_eq!(
            cb["headers"]["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(cb["cookies"], json!(["__Host-signin=v"]));
    }

    #[test]
    fn responses_give_status_headers_and_cookies() {
        let r = HttpResponse::parse(&json!({
            "statusCode": 303,
            "headers": {"location": "/", "cache-control": "no-store"},
            "multiValueHeaders": {},
            "cookies": [
                "__Host-session=abc; Path=/; Secure; HttpOnly; SameSite=Lax",
                "__Host-signin=; Path=/; Max-Age=0"
            ],
            "isBase64Encoded": false
        }))
        .unwrap();
        assert_eq!(r.status, 303);
        assert_eq!(r.header("Location"), Some("/"));
        assert_eq!(r.cookie("__Host-session"), Some("abc"));
        assert_eq!(r.cookie("__Host-signin"), Some(""));
        assert_eq!(
            r.cookie_pair("__Host-session").as_deref(),
            Some("__Host-session=abc")
        );
        assert!(HttpResponse::parse(&json!({"ok": true})).is_err());
    }
}
