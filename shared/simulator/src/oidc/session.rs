//! SuperID's sign-in session (single sign-on): after an interactive sign-in the browser holds a
//! session cookie for the simulator's own origin, and later authorization requests from any app
//! are answered without a prompt while it lasts (unless the request asks for a new sign-in).
//!
//! The cookie value is an opaque random id; what it stands for (user, tenant, when they signed in)
//! stays here, so nothing a browser holds can be edited into another user. Sessions live in memory
//! only: a restarted simulator asks everyone to sign in again, as it would after SuperID forgot a
//! session, and the state file never holds anything that signs a browser in.

use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, HeaderValue, header};

use crate::state::{AppState, Store};
use crate::util::random_urlsafe;

/// The cookie's name. SuperID's own cookie name is not documented (nor needed: only SuperID reads
/// it); this one cannot collide with the app's `__Host-` cookies on the same loopback host.
pub(crate) const COOKIE: &str = crate::SESSION_COOKIE;

/// Where the browser sends the cookie: the authorize and logout endpoints are both under
/// `/login/`. With the trailing slash it is not sent to an app's own `/login` path on the same
/// host (cookies ignore ports, and the local runner serves `/login` on another port of 127.0.0.1).
const COOKIE_PATH: &str = "/login/";

/// How long a session lasts after the sign-in (a working day, like a typical SSO session).
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct SignInSession {
    pub(crate) ctx: String,
    pub(crate) email: String,
    /// When the user last signed in interactively: the id_token's `auth_time`, and what `max_age`
    /// is measured against.
    pub(crate) auth_time: SystemTime,
    pub(crate) expires: Instant,
}

/// The session id the request's `Cookie` header carries, if any.
pub(crate) fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The live session the request's cookie names (expired ones are pruned first).
pub(crate) fn current(st: &AppState, headers: &HeaderMap) -> Option<SignInSession> {
    let id = cookie_value(headers)?;
    let mut store = st.store();
    prune(&mut store);
    store.sessions.get(&id).cloned()
}

/// Starts a session for an interactive sign-in at `auth_time` and returns its `Set-Cookie`. A session the browser
/// already had ends: every sign-in gets a fresh id, so an id seen before the sign-in (a planted
/// cookie) never becomes a signed-in one.
pub(crate) fn start(
    st: &AppState,
    headers: &HeaderMap,
    ctx: &str,
    email: &str,
    auth_time: SystemTime,
) -> HeaderValue {
    let id = random_urlsafe(32);
    {
        let mut store = st.store();
        prune(&mut store);
        if let Some(old) = cookie_value(headers) {
            store.sessions.remove(&old);
        }
        store.sessions.insert(
            id.clone(),
            SignInSession {
                ctx: ctx.to_owned(),
                email: email.to_owned(),
                auth_time,
                expires: Instant::now() + SESSION_LIFETIME,
            },
        );
    }
    set_cookie(&id, SESSION_LIFETIME.as_secs())
}

/// Ends the session the request's cookie names (if any) and returns the `Set-Cookie` that makes the
/// browser forget the cookie, which is sent either way.
pub(crate) fn end(st: &AppState, headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = cookie_value(headers) {
        st.store().sessions.remove(&id);
    }
    set_cookie("", 0)
}

/// Ends every session (as if every browser had signed out); returns how many there were.
pub(crate) fn end_all(st: &AppState) -> usize {
    let mut store = st.store();
    prune(&mut store);
    let n = store.sessions.len();
    store.sessions.clear();
    n
}

/// How many sessions are live.
pub(crate) fn count(st: &AppState) -> usize {
    let mut store = st.store();
    prune(&mut store);
    store.sessions.len()
}

/// Moves every live session's sign-in `by` into the past (for tests of `max_age` and of checks on
/// `auth_time`, without waiting); returns how many sessions there were. The sessions still expire
/// [`SESSION_LIFETIME`] after their real start: only what `max_age` and `auth_time` see changes.
pub(crate) fn age_all(st: &AppState, by: Duration) -> usize {
    let mut store = st.store();
    prune(&mut store);
    for s in store.sessions.values_mut() {
        s.auth_time = s
            .auth_time
            .checked_sub(by)
            .unwrap_or(SystemTime::UNIX_EPOCH);
    }
    store.sessions.len()
}

fn prune(store: &mut Store) {
    let now = Instant::now();
    store.sessions.retain(|_, s| s.expires > now);
}

/// HttpOnly (scripts never need it) and SameSite=Lax (sent on the top-level GET that brings the
/// browser from an app to the authorize endpoint, not on cross-site POSTs). Not `Secure`: the
/// simulator is served over plain HTTP on loopback, where a browser would drop a `Secure` cookie.
fn set_cookie(value: &str, max_age_secs: u64) -> HeaderValue {
    let cookie = format!(
        "{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax"
    );
    // The value is base64url (or empty), so the header is always valid; fall back to a clearing
    // cookie rather than panic if that ever changes.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| {
        HeaderValue::from_static("SuperIdSession=; Path=/login/; Max-Age=0; HttpOnly; SameSite=Lax")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-session=abc; SuperIdSessionX=no"),
        );
        assert_eq!(cookie_value(&h), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=b;  SuperIdSession=s3ss10n ; c=d"),
        );
        assert_eq!(cookie_value(&h).as_deref(), Some("s3ss10n"));
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, HeaderValue::from_static("SuperIdSession="));
        assert_eq!(cookie_value(&empty), None);
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_scoped_to_login() {
        let c = set_cookie("v", 28800);
        assert_eq!(
            c.to_str().unwrap(),
            "SuperIdSession=v; Path=/login/; Max-Age=28800; HttpOnly; SameSite=Lax"
        );
    }
}
