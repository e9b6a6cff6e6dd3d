//! What lies behind a sign-in: the sign-in under way (between `/login` and `/callback`), the mark
//! that a state was used, and the session.
//!
//! **The sign-in under way lives in the browser** ([`StartedSignIn`], in its sign-in cookie), not in
//! the table: `/login` is the one page anybody can call without being anyone, and a table write
//! for each call would let anyone fill the table and would put a database call on the cold path of
//! the most common first request. No key is needed to keep it honest either (nothing to load from
//! Secrets Manager or KMS on that path): the cookie holds 256 random bits, and `state`, `nonce` and
//! the PKCE verifier are derived from them with HMAC-SHA-256, the state over every other field of
//! the cookie too. The state goes to SuperOffice and comes back; `/callback` recomputes it from the
//! cookie the browser sent and compares in constant time. So
//! * a callback without the cookie of the browser that started the sign-in is refused (login CSRF),
//!   before anything is spent or exchanged;
//! * a cookie whose return path, intent or start time was changed no longer matches its state;
//! * nothing in the cookie is secret from the browser that holds it: the verifier protects the code
//!   from anyone *without* the browser's cookie, exactly as the binding cookie did when the
//!   verifier was kept in the table, and our client secret is still needed to redeem a code.
//!
//! **Replays are refused by a short-lived mark** ([`SpentStates`]): when SuperOffice's id_token for a
//! state has validated, the callback creates `SPENT#{sha256(state)}` with a conditional write that
//! only one caller can win, and it expires with the sign-in's ten minutes. It is written only on
//! that path, which costs a sign-in at SuperOffice, so an anonymous caller cannot make the app write.
//!
//! Sessions are keyed by the SHA-256 of the cookie value, so the table never contains anything a
//! browser could present.
//!
//! The web panels SuperOffice shows in an iframe reach the same session through a one-time hand-off
//! code and a cookie of their own ([`panel`]), which end whenever the session ends.

use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use superoffice::{Secret, TenantId};

use crate::store::{Item, Items, StoreError, document, secret_key};

pub mod panel;

/// How long a started sign-in may take: SuperOffice's authorization codes live 10 minutes.
pub const SIGN_IN_SECONDS: i64 = 600;
/// Clock skew allowed between the instance that started a sign-in and the one that finishes it.
const START_SKEW_SECONDS: i64 = 60;
/// The longest return path a started sign-in carries (the `web` crate's limit for return paths).
const MAX_RETURN_BYTES: usize = 512;

/// Why the user is signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    SignIn,
    Install,
}

impl Intent {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "signin" | "sign_in" | "" => Some(Intent::SignIn),
            "install" => Some(Intent::Install),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Intent::SignIn => "sign_in",
            Intent::Install => "install",
        }
    }
}

/// A sign-in under way, carried by the browser (see the module docs for why and how it is kept
/// honest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedSignIn {
    /// 32 random bytes, base64url: the key every other value of the sign-in is derived from.
    key: Secret,
    pub intent: Intent,
    /// Where to go afterwards: a path the `web` crate accepted.
    pub return_to: String,
    pub started_at: i64,
    /// The OIDC `max_age` asked of SuperOffice, in seconds (the id_token's `auth_time` must then
    /// be at most that old).
    pub max_age: Option<u64>,
}

/// Why a sign-in could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The system's random source failed: nothing to do but try again.
    #[error("no randomness available")]
    NoRandomness,
    /// The return path is longer than a sign-in carries: use `/`.
    #[error("the return path is too long")]
    ReturnTooLong,
}

impl StartedSignIn {
    pub fn new(
        intent: Intent,
        return_to: &str,
        started_at: i64,
        max_age: Option<u64>,
    ) -> Result<Self, StartError> {
        if return_to.len() > MAX_RETURN_BYTES {
            return Err(StartError::ReturnTooLong);
        }
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StartError::NoRandomness)?;
        Ok(Self {
            key: Secret::new(URL_SAFE_NO_PAD.encode(bytes)),
            intent,
            return_to: return_to.to_owned(),
            started_at,
            max_age,
        })
    }

    fn derive(&self, message: &[u8]) -> String {
        // The key is 43 base64url characters by construction (new, or checked when parsed).
        let key_bytes = URL_SAFE_NO_PAD
            .decode(self.key.expose())
            .unwrap_or_default();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
        URL_SAFE_NO_PAD.encode(hmac::sign(&key, message).as_ref())
    }

    /// The OAuth `state`: commits to every field, so the cookie cannot be edited unnoticed.
    pub fn state(&self) -> String {
        let message = format!(
            "soapp/sign-in/state/v1\0{}\0{}\0{}\0{}",
            self.started_at,
            self.intent.as_str(),
            self.max_age.unwrap_or(0),
            self.return_to
        );
        self.derive(message.as_bytes())
    }

    /// The OIDC `nonce` the id_token must carry.
    pub fn nonce(&self) -> String {
        self.derive(b"soapp/sign-in/nonce/v1")
    }

    /// The PKCE verifier (43 base64url characters, as RFC 7636 requires).
    pub fn code_verifier(&self) -> Secret {
        Secret::new(self.derive(b"soapp/sign-in/pkce-verifier/v1"))
    }

    /// Whether `state` is this sign-in's (constant time).
    pub fn is_for(&self, state: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.state().as_bytes(), state.as_bytes())
            .is_ok()
    }

    /// When the sign-in can no longer be finished.
    pub fn expires_at(&self) -> i64 {
        self.started_at.saturating_add(SIGN_IN_SECONDS)
    }

    /// Whether it may still be finished at `now` (started no later than a small skew from now).
    pub fn is_live(&self, now: i64) -> bool {
        now < self.expires_at() && self.started_at <= now.saturating_add(START_SKEW_SECONDS)
    }

    /// The cookie value: `v1.{key}.{started_at}.{intent}.{max_age or 0}.{base64url(return_to)}`,
    /// all cookie-safe characters.
    pub fn cookie_value(&self) -> String {
        format!(
            "v1.{}.{}.{}.{}.{}",
            self.key.expose(),
            self.started_at,
            self.intent.as_str(),
            self.max_age.unwrap_or(0),
            URL_SAFE_NO_PAD.encode(self.return_to.as_bytes())
        )
    }

    /// Reads a cookie value written by [`Self::cookie_value`]; anything else is `None`.
    pub fn from_cookie_value(value: &str) -> Option<Self> {
        let mut parts = value.split('.');
        let (Some("v1"), Some(key), Some(started), Some(intent), Some(max_age), Some(ret), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        if key.len() != 43 || URL_SAFE_NO_PAD.decode(key).ok()?.len() != 32 {
            return None;
        }
        if !digits(started, 12) || !digits(max_age, 7) {
            return None;
        }
        let return_to = String::from_utf8(URL_SAFE_NO_PAD.decode(ret).ok()?).ok()?;
        if return_to.len() > MAX_RETURN_BYTES {
            return None;
        }
        let max_age: u64 = max_age.parse().ok()?;
        Some(Self {
            key: Secret::new(key),
            intent: Intent::parse(intent)?,
            return_to,
            started_at: started.parse().ok()?,
            max_age: (max_age > 0).then_some(max_age),
        })
    }
}

/// What marking a state as used found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// This call used the state: go on.
    Now,
    /// The state was used before (a replay, or the loser of two concurrent callbacks): refuse.
    Before,
}

/// The marks of used states (see the module docs).
pub struct SpentStates<I> {
    items: Arc<I>,
}

impl<I> Clone for SpentStates<I> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

fn spent_pk(state: &str) -> String {
    format!("SPENT#{}", secret_key(state))
}

impl<I: Items> SpentStates<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// Marks the state of `sign_in` as used, once: of any number of callers exactly one gets
    /// [`Spent::Now`]. The mark lasts as long as the sign-in could be finished.
    pub async fn spend(&self, sign_in: &StartedSignIn, now: i64) -> Result<Spent, StoreError> {
        let item = Item::new(
            spent_pk(&sign_in.state()),
            "STATE",
            serde_json::json!({"at": now}),
        )
        .expiring_at(sign_in.expires_at().saturating_add(START_SKEW_SECONDS));
        match self.items.put_new(&item, now).await {
            Ok(()) => Ok(Spent::Now),
            Err(StoreError::AlreadyExists) => Ok(Spent::Before),
            Err(e) => Err(e),
        }
    }
}

/// A pending sign-in as the table used to keep it. `/login` no longer writes these (see
/// [`StartedSignIn`]); the type and [`SignIns`] stay because the storage port's test suite
/// (`store::suite`) exercises the atomic `take` through them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub nonce: String,
    #[serde(with = "superoffice::secret::stored")]
    pub code_verifier: Secret,
    /// SHA-256 of the random value in the browser-binding cookie set at `/login`.
    pub browser_binding: String,
    /// Where to go after sign-in: always a relative path on this site.
    pub return_to: String,
    pub intent: Intent,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub subject: String,
    pub email: Option<String>,
    pub tenant: TenantId,
    pub company: Option<String>,
    pub associate_id: Option<String>,
    pub is_administrator: bool,
    /// Why the user signed in (an install sign-in also recorded the tenant's system token).
    #[serde(default = "sign_in_intent")]
    pub intent: Intent,
    /// Sent back in every state-changing form and compared in constant time.
    #[serde(with = "superoffice::secret::stored")]
    pub csrf_token: Secret,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Session {
    /// The person in words: the e-mail address SuperOffice gave, else the subject.
    pub fn person(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.subject)
    }

    /// The customer in words: the company name SuperOffice gave, else the tenant id.
    pub fn customer(&self) -> &str {
        self.company.as_deref().unwrap_or(self.tenant.as_str())
    }
}

fn sign_in_intent() -> Intent {
    Intent::SignIn
}

/// The table of [`PendingSignIn`]s (see there: used by the storage suite only).
pub struct SignIns<I> {
    items: Arc<I>,
}

impl<I> Clone for SignIns<I> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

fn sign_in_pk(state: &str) -> String {
    format!("SIGNIN#{}", secret_key(state))
}

impl<I: Items> SignIns<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// Records a started sign-in under its `state`.
    pub async fn start(
        &self,
        state: &str,
        pending: &PendingSignIn,
        now: i64,
    ) -> Result<(), StoreError> {
        let item = Item::new(sign_in_pk(state), "STATE", document(pending)?)
            .expiring_at(pending.expires_at);
        self.items.put_new(&item, now).await
    }

    /// Takes the sign-in started with `state`, if it exists and has not expired. Once.
    pub async fn finish(&self, state: &str, now: i64) -> Result<Option<PendingSignIn>, StoreError> {
        match self.items.take(&sign_in_pk(state), "STATE", now).await? {
            Some(item) => item.parse().map(Some),
            None => Ok(None),
        }
    }
}

pub struct Sessions<I> {
    items: Arc<I>,
}

impl<I> Clone for Sessions<I> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

fn session_pk(id: &str) -> String {
    session_pk_for_key(&secret_key(id))
}

/// The session record's key from the hash of its cookie value (what the tenant's session index and
/// the panel cookies keep).
fn session_pk_for_key(key: &str) -> String {
    format!("SESSION#{key}")
}

/// Sort-key prefix of the session index in a tenant's partition.
const SESSION_INDEX: &str = "SESSIONREF#";

impl<I: Items> Sessions<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// Creates the session, and its entry in the tenant's session index (so removing the tenant
    /// ends its sessions; the index holds the session's key, never the cookie value).
    pub async fn create(&self, id: &str, session: &Session, now: i64) -> Result<(), StoreError> {
        let item = Item::new(session_pk(id), "SESSION", document(session)?)
            .expiring_at(session.expires_at);
        self.items.put_new(&item, now).await?;
        let index = Item::new(
            crate::tenant::tenant_pk(&session.tenant),
            format!("{SESSION_INDEX}{}", secret_key(id)),
            serde_json::json!({}),
        )
        .expiring_at(session.expires_at);
        self.items.put(&index).await
    }

    /// The live session for a cookie value.
    pub async fn find(&self, id: &str, now: i64) -> Result<Option<Session>, StoreError> {
        match self.items.get(&session_pk(id), "SESSION", now).await? {
            Some(item) => item.parse().map(Some),
            None => Ok(None),
        }
    }

    /// Ends the session (signed out).
    pub async fn end(&self, id: &str, tenant: &TenantId) -> Result<(), StoreError> {
        self.items.delete(&session_pk(id), "SESSION").await?;
        self.items
            .delete(
                &crate::tenant::tenant_pk(tenant),
                &format!("{SESSION_INDEX}{}", secret_key(id)),
            )
            .await
    }

    /// Ends every session of the tenant (its index entries are removed with the tenant's partition).
    pub async fn end_all(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        // `now = 0`: expired index entries too, so no session key is left behind.
        let index = self
            .items
            .query(&crate::tenant::tenant_pk(tenant), SESSION_INDEX, 0)
            .await?;
        for entry in &index {
            let key = entry.sk.trim_start_matches(SESSION_INDEX);
            self.items
                .delete(&session_pk_for_key(key), "SESSION")
                .await?;
        }
        Ok(index.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryItems;

    fn started() -> StartedSignIn {
        StartedSignIn::new(Intent::Install, "/install", 1_000, Some(300)).unwrap()
    }

    #[test]
    fn a_cookie_reads_back_as_the_same_sign_in_with_the_same_derived_values() {
        let s = started();
        let back = StartedSignIn::from_cookie_value(&s.cookie_value()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.state(), s.state());
        assert_eq!(back.nonce(), s.nonce());
        assert_eq!(back.code_verifier(), s.code_verifier());
        let values = [s.state(), s.nonce(), s.code_verifier().expose().to_owned()];
        for v in &values {
            assert_eq!(v.len(), 43, "{v}");
        }
        assert!(values[0] != values[1] && values[1] != values[2] && values[0] != values[2]);
        assert!(
            s.cookie_value()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')),
            "cookie-safe"
        );
        assert_ne!(
            started().state(),
            s.state(),
            "every sign-in has its own state"
        );
    }

    #[test]
    fn every_edit_of_the_cookie_breaks_its_state() {
        let s = started();
        let state = s.state();
        assert!(s.is_for(&state));
        let edits = [
            StartedSignIn {
                return_to: "/manage".into(),
                ..s.clone()
            },
            StartedSignIn {
                intent: Intent::SignIn,
                ..s.clone()
            },
            StartedSignIn {
                started_at: s.started_at + 600,
                ..s.clone()
            },
            StartedSignIn {
                max_age: None,
                ..s.clone()
            },
        ];
        for edited in edits {
            assert!(!edited.is_for(&state), "{edited:?}");
        }
        assert!(!started().is_for(&state), "another browser's sign-in");
    }

    #[test]
    fn malformed_cookies_are_nobodys_sign_in() {
        let good = started().cookie_value();
        let parts: Vec<&str> = good.split('.').collect();
        let with = |i: usize, v: &str| {
            let mut p = parts.clone();
            p[i] = v;
            p.join(".")
        };
        for bad in [
            String::new(),
            "v1".into(),
            format!("{good}.extra"),
            with(0, "v2"),
            with(1, "short"),
            with(1, &"!".repeat(43)),
            with(2, "-5"),
            with(2, "9999999999999"),
            with(3, "admin"),
            with(4, "x"),
            with(5, "%%%"),
            with(5, &URL_SAFE_NO_PAD.encode("/".repeat(600))),
        ] {
            assert_eq!(StartedSignIn::from_cookie_value(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_sign_in_lives_ten_minutes_from_its_start() {
        let s = started();
        assert!(s.is_live(1_000));
        assert!(s.is_live(1_599));
        assert!(!s.is_live(1_600));
        assert!(!s.is_live(900), "started in the future beyond the skew");
        assert!(s.is_live(950), "within the skew");
    }

    #[tokio::test]
    async fn a_state_is_spent_exactly_once_even_when_raced() {
        let spent = SpentStates::new(Arc::new(MemoryItems::new()));
        let s = started();
        let (a, b) = tokio::join!(spent.spend(&s, 1_010), spent.spend(&s, 1_010));
        let mut got = [a.unwrap(), b.unwrap()];
        got.sort_by_key(|x| *x == Spent::Before);
        assert_eq!(got, [Spent::Now, Spent::Before]);
        assert_eq!(spent.spend(&s, 1_500).await.unwrap(), Spent::Before);
        assert_eq!(spent.spend(&started(), 1_010).await.unwrap(), Spent::Now);
    }
}
