//! The cookies we set, and reading them back.
//!
//! * `__Host-session`: the session id. `Secure; HttpOnly; SameSite=Lax; Path=/`, no `Domain` (the
//!   `__Host-` prefix makes browsers enforce exactly that), expiring with the session.
//! * `__Host-signin`: binds a started sign-in to the browser that started it (login CSRF). It must
//!   survive SuperOffice's cross-site form POST back to `/callback`, which a `SameSite=Lax` cookie does
//!   not, so it is `SameSite=None; Secure` and lives only as long as a sign-in may take.

use http::header;

use super::WebRequest;

pub const SESSION: &str = "__Host-session";
pub const SIGN_IN: &str = "__Host-signin";

/// The value of cookie `name`, if sent exactly once.
pub fn get<'a>(req: &'a WebRequest, name: &str) -> Option<&'a str> {
    let mut found = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v);
    match (found.next(), found.next()) {
        (Some(v), None) if !v.is_empty() => Some(v),
        _ => None,
    }
}

pub fn session(value: &str, max_age_secs: u64) -> String {
    format!("{SESSION}={value}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=Lax")
}

pub fn sign_in(value: &str, max_age_secs: u64) -> String {
    format!("{SIGN_IN}={value}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=None")
}

/// Removes a cookie (same attributes, expired).
pub fn clear(name: &str) -> String {
    let same_site = if name == SIGN_IN { "None" } else { "Lax" };
    format!("{name}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite={same_site}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn cookies_are_read_once_and_exactly() {
        let req = http::Request::builder()
            .header("cookie", "a=1; __Host-session=abc")
            .header("cookie", "b=2")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(get(&req, SESSION), Some("abc"));
        assert_eq!(get(&req, "b"), Some("2"));
        assert_eq!(get(&req, "session"), None);
        let twice = http::Request::builder()
            .header("cookie", "__Host-session=a; __Host-session=b")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(get(&twice, SESSION), None, "ambiguous: refuse");
    }

    #[test]
    fn the_session_cookie_has_the_promised_attributes() {
        let c = session("v", 3600);
        for attr in [
            "__Host-session=v",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=3600",
        ] {
            assert!(c.contains(attr), "{attr}");
        }
        assert!(!c.contains("Domain"));
        assert!(
            sign_in("v", 600).contains("SameSite=None; ")
                || sign_in("v", 600).ends_with("SameSite=None")
        );
    }
}
