//! The cookies we set, and reading them back.
//!
//! * `__Host-session`: the session id. `Secure; HttpOnly; SameSite=Lax; Path=/`, no `Domain` (the
//!   `__Host-` prefix makes browsers enforce exactly that), expiring with the session.
//! * `__Host-signin-{id}`: one per started sign-in, named after its `state` (`id` is the state's
//!   first [`SIGN_IN_ID_LEN`] characters), holding the pending sign-in itself (see
//!   `domain::signin::StartedSignIn`). One cookie per state, so a second sign-in (another tab, or a
//!   cross-site navigation to `/login`) never overwrites the first. It must survive SuperOffice's
//!   cross-site form POST back to `/callback`, which a `SameSite=Lax` cookie does not, so it is
//!   `SameSite=None; Secure` and lives only as long as a sign-in may take. `/login` keeps at most
//!   [`MAX_SIGN_INS`] of them, so no page can pile cookies up in a browser.
//! * `__Host-panel`: the web panels' cookie (see `domain::signin::panel`). The panels load in a
//!   cross-site iframe inside SuperOffice, where the `Lax` session cookie is never sent, so this one
//!   is `SameSite=None; Secure; HttpOnly; Path=/` and `Partitioned` (CHIPS): the browser keeps it in
//!   a jar of SuperOffice's site only, where browsers that block third-party cookies still allow
//!   it, and it is useless anywhere else. It expires with the session it is bound to, and only the
//!   read-only panel pages read it ([`crate::guard`] never does).

use http::header;

use super::WebRequest;

pub const SESSION: &str = "__Host-session";
/// The web panels' cookie.
pub const PANEL: &str = "__Host-panel";
/// The name of every sign-in cookie starts with this.
pub const SIGN_IN_PREFIX: &str = "__Host-signin-";
/// How much of the state names its cookie (96 bits: no two sign-ins of one browser collide).
pub const SIGN_IN_ID_LEN: usize = 16;
/// Sign-ins one browser may have under way at once (tabs); `/login` clears the oldest beyond it.
pub const MAX_SIGN_INS: usize = 4;

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

/// `Set-Cookie` for the panel cookie (see the module docs for each attribute's reason).
pub fn panel(value: &str, max_age_secs: u64) -> String {
    format!(
        "{PANEL}={value}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=None; Partitioned"
    )
}

/// Removes the panel cookie: a partitioned cookie is only replaced by a `Set-Cookie` that is
/// partitioned too.
pub fn clear_panel() -> String {
    panel("", 0)
}

/// The name of the sign-in cookie for `state`, or `None` for a state we never issue (too short, or
/// characters outside base64url: nothing worth looking up).
pub fn sign_in_name(state: &str) -> Option<String> {
    let id = state.get(..SIGN_IN_ID_LEN)?;
    id.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        .then(|| format!("{SIGN_IN_PREFIX}{id}"))
}

/// `Set-Cookie` for the sign-in `name` (from [`sign_in_name`]).
pub fn sign_in(name: &str, value: &str, max_age_secs: u64) -> String {
    format!("{name}={value}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=None")
}

/// Every sign-in cookie the request carries, as (name, value).
pub fn sign_ins(req: &WebRequest) -> Vec<(&str, &str)> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| k.starts_with(SIGN_IN_PREFIX))
        .collect()
}

/// Removes a cookie (same attributes, expired).
pub fn clear(name: &str) -> String {
    let same_site = if name.starts_with(SIGN_IN_PREFIX) {
        "None"
    } else {
        "Lax"
    };
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
        assert!(sign_in("__Host-signin-x", "v", 600).ends_with("SameSite=None"));
        let p = panel("v", 60);
        for attr in [
            "__Host-panel=v",
            "Path=/",
            "Max-Age=60",
            "Secure",
            "HttpOnly",
            "SameSite=None",
            "Partitioned",
        ] {
            assert!(p.contains(attr), "{attr}");
        }
        assert!(!p.contains("Domain"));
        assert!(clear_panel().contains("Max-Age=0") && clear_panel().contains("Partitioned"));
        assert!(clear("__Host-signin-x").ends_with("SameSite=None"));
    }

    #[test]
    fn each_state_names_its_own_cookie_and_odd_states_name_none() {
        let a = sign_in_name("AAAAAAAAAAAAAAAAxyz").unwrap();
        let b = sign_in_name("BAAAAAAAAAAAAAAAxyz").unwrap();
        assert_eq!(a, "__Host-signin-AAAAAAAAAAAAAAAA");
        assert_ne!(a, b);
        for odd in ["", "short", "AAAAAAAAAAAAAA;=x", "AAAAAAAAAAAAAA\u{e9}x"] {
            assert_eq!(sign_in_name(odd), None, "{odd:?}");
        }
        let req = http::Request::builder()
            .header("cookie", format!("{a}=1; __Host-session=s; {b}=2"))
            .body(Bytes::new())
            .unwrap();
        assert_eq!(sign_ins(&req), vec![(a.as_str(), "1"), (b.as_str(), "2")]);
    }
}
