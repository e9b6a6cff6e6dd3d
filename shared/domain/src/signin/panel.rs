//! Sessions for the app's web panels, which SuperOffice shows in a cross-site iframe.
//!
//! **Why a second cookie.** The panel and the navigator button's page load in an iframe on
//! `*.superoffice.com`. Browsers do not send the app's own session cookie there (it is
//! `SameSite=Lax`, and third-party cookies are blocked or partitioned), and the sign-in itself cannot
//! happen in the iframe (SuperOffice's sign-in pages refuse to be framed). So the panel asks the
//! person to sign in in a pop-up, where the ordinary first-party session starts, and the pop-up
//! hands the iframe a **one-time code** ([`Panels::mint`]); the iframe redeems it
//! ([`Panels::redeem`]) for a cookie of its own, which the browser keeps partitioned under
//! SuperOffice's site (CHIPS). A cookie set by the top-level pop-up would not be visible in the
//! iframe, which is why the code travels and the cookie is set by the iframe's own request.
//!
//! **Bound to the session, not a session of its own.** The panel cookie names a `PANEL#` item
//! that holds only the key of the ordinary session record (`SESSION#{sha256(session id)}`). Every
//! lookup goes through that record, so whatever ends the session ends the panel's access too:
//! signing out, the session's expiry, the uninstall's purge and SuperOffice's Delete push (both end
//! every session of the tenant through its session index). The `PANEL#` item holds no tenant data
//! and expires with the session.
//!
//! **The hand-off code** is 256 random bits, kept only as its SHA-256 (like session ids), expires
//! after [`HAND_OFF_SECONDS`], is taken atomically (of two redemptions exactly one wins; a used,
//! expired or never issued code all look the same), and names the session and tenant it was minted
//! for: redeemed for another tenant it is refused, and spent all the same, so it cannot be tried
//! again elsewhere.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::{Secret, TenantId};

use super::{Session, session_pk_for_key};
use crate::store::{Item, Items, StoreError, secret_key};

/// How long a hand-off code may be redeemed: the pop-up posts it to the panel at once, so a minute
/// is plenty and keeps a leaked code short-lived.
pub const HAND_OFF_SECONDS: i64 = 60;

/// The length of every random value we issue (32 bytes, base64url without padding).
const TOKEN_LEN: usize = 43;

/// Whether `value` has the shape of a code or cookie value we issue: anything else is not worth a
/// store lookup.
pub fn is_token_shaped(value: &str) -> bool {
    value.len() == TOKEN_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why no hand-off code was minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// The system's random source or the store failed (the reason code says which): try again in a
    /// moment.
    #[error("no hand-off code could be made ({0})")]
    TryAgainLater(&'static str),
}

impl From<StoreError> for MintError {
    fn from(e: StoreError) -> Self {
        MintError::TryAgainLater(e.code())
    }
}

/// Why a hand-off code was not redeemed. None says which of used, expired or never issued a code
/// was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    /// Used, expired, never issued, or its session has ended since: sign in again.
    #[error("the hand-off code is not valid")]
    SignInAgain,
    /// Minted for a session of another tenant: sign in with an account of this tenant.
    #[error("the hand-off code belongs to another tenant")]
    SignInToThisTenant,
    /// The store or the random source failed (the reason code says which): try again in a moment.
    #[error("the hand-off code cannot be redeemed now ({0})")]
    TryAgainLater(&'static str),
}

impl From<StoreError> for RedeemError {
    fn from(e: StoreError) -> Self {
        RedeemError::TryAgainLater(e.code())
    }
}

impl RedeemError {
    /// The reason code for the log.
    pub fn code(&self) -> &'static str {
        match self {
            RedeemError::SignInAgain => "hand_off_invalid",
            RedeemError::SignInToThisTenant => "hand_off_other_tenant",
            RedeemError::TryAgainLater(code) => code,
        }
    }
}

/// A redeemed code: the panel cookie's value and the session it stands for.
#[derive(Debug)]
pub struct PanelSession {
    /// The value of the panel cookie (kept only as its hash).
    pub cookie: Secret,
    pub session: Session,
}

impl PanelSession {
    /// Seconds the panel cookie may live: as long as the session.
    pub fn max_age(&self, now: i64) -> u64 {
        u64::try_from(self.session.expires_at.saturating_sub(now)).unwrap_or(0)
    }
}

/// A hand-off code as stored (under the hash of the code).
#[derive(Debug, Serialize, Deserialize)]
struct HandOff {
    /// The key of the session record (`secret_key(session id)`).
    session: String,
    tenant: TenantId,
}

/// A panel cookie as stored (under the hash of the cookie value).
#[derive(Debug, Serialize, Deserialize)]
struct PanelRef {
    /// The key of the session record.
    session: String,
}

fn hand_off_pk(code: &str) -> String {
    format!("HANDOFF#{}", secret_key(code))
}

fn panel_pk(cookie: &str) -> String {
    format!("PANEL#{}", secret_key(cookie))
}

fn random() -> Result<String, MintError> {
    superoffice::oidc::random_token().map_err(|_| MintError::TryAgainLater("randomness"))
}

/// The hand-off codes and the panel cookies they are redeemed for.
pub struct Panels<I> {
    items: Arc<I>,
}

impl<I> Clone for Panels<I> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

impl<I: Items> Panels<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// A new one-time code for the session whose cookie value is `session_id`. It expires after
    /// [`HAND_OFF_SECONDS`], or with the session if that comes first.
    pub async fn mint(
        &self,
        session_id: &str,
        session: &Session,
        now: i64,
    ) -> Result<Secret, MintError> {
        let code = random()?;
        let record = HandOff {
            session: secret_key(session_id),
            tenant: session.tenant.clone(),
        };
        let item = Item::new(
            hand_off_pk(&code),
            "HANDOFF",
            crate::store::document(&record)?,
        )
        .expiring_at(now.saturating_add(HAND_OFF_SECONDS).min(session.expires_at));
        self.items.put_new(&item, now).await?;
        Ok(Secret::new(code))
    }

    /// Redeems `code` for the panel of `tenant`, once: a panel cookie bound to the code's session.
    pub async fn redeem(
        &self,
        code: &str,
        tenant: &TenantId,
        now: i64,
    ) -> Result<PanelSession, RedeemError> {
        if !is_token_shaped(code) {
            return Err(RedeemError::SignInAgain);
        }
        // Taken first, whatever follows: a code is tried once, for one tenant.
        let Some(item) = self.items.take(&hand_off_pk(code), "HANDOFF", now).await? else {
            return Err(RedeemError::SignInAgain);
        };
        let hand_off: HandOff = item.parse()?;
        if &hand_off.tenant != tenant {
            return Err(RedeemError::SignInToThisTenant);
        }
        let Some(session) = self.session_by_key(&hand_off.session, now).await? else {
            return Err(RedeemError::SignInAgain);
        };
        // Defence in depth: the record and its session agree on the tenant.
        if &session.tenant != tenant {
            return Err(RedeemError::SignInToThisTenant);
        }
        let cookie = random().map_err(|_| RedeemError::TryAgainLater("randomness"))?;
        let item = Item::new(
            panel_pk(&cookie),
            "PANEL",
            crate::store::document(&PanelRef {
                session: hand_off.session,
            })?,
        )
        .expiring_at(session.expires_at);
        self.items.put_new(&item, now).await?;
        Ok(PanelSession {
            cookie: Secret::new(cookie),
            session,
        })
    }

    /// The live session behind a panel cookie value; `None` when the cookie is unknown or its
    /// session has ended (signed out, expired, purged).
    pub async fn find(&self, cookie: &str, now: i64) -> Result<Option<Session>, StoreError> {
        if !is_token_shaped(cookie) {
            return Ok(None);
        }
        let Some(item) = self.items.get(&panel_pk(cookie), "PANEL", now).await? else {
            return Ok(None);
        };
        let panel: PanelRef = item.parse()?;
        self.session_by_key(&panel.session, now).await
    }

    async fn session_by_key(&self, key: &str, now: i64) -> Result<Option<Session>, StoreError> {
        match self
            .items
            .get(&session_pk_for_key(key), "SESSION", now)
            .await?
        {
            Some(item) => item.parse().map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signin::{Intent, Sessions};
    use crate::store::memory::MemoryItems;

    const NOW: i64 = 10_000;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    fn session(of: &str) -> Session {
        Session {
            subject: "ulf".into(),
            email: Some("ulf@demo.example".into()),
            tenant: tenant(of),
            company: Some("Demo Company AS".into()),
            associate_id: Some("6".into()),
            is_administrator: false,
            intent: Intent::SignIn,
            csrf_token: Secret::new("csrf"),
            created_at: NOW - 100,
            expires_at: NOW + 3_600,
        }
    }

    /// A store with one session of `Cust12345`; its cookie value.
    async fn signed_in() -> (Arc<MemoryItems>, &'static str) {
        let items = Arc::new(MemoryItems::new());
        let id = "session-id-0123456789012345678901234567890";
        Sessions::new(items.clone())
            .create(id, &session("Cust12345"), NOW - 100)
            .await
            .unwrap();
        (items, id)
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_for_a_cookie_bound_to_the_session() {
        let (items, id) = signed_in().await;
        let panels = Panels::new(items.clone());
        let code = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        assert!(is_token_shaped(code.expose()));
        let got = panels
            .redeem(code.expose(), &tenant("Cust12345"), NOW + 5)
            .await
            .unwrap();
        assert_eq!(got.session, session("Cust12345"));
        assert_eq!(got.max_age(NOW + 5), 3_595);
        assert_ne!(got.cookie.expose(), code.expose());
        assert_ne!(got.cookie.expose(), id, "never the session id itself");
        assert_eq!(
            panels.find(got.cookie.expose(), NOW + 6).await.unwrap(),
            Some(session("Cust12345"))
        );
        // Replayed: the same answer as a code never issued.
        for replay in [code.expose(), &"A".repeat(43)] {
            assert!(matches!(
                panels
                    .redeem(replay, &tenant("Cust12345"), NOW + 6)
                    .await
                    .unwrap_err(),
                RedeemError::SignInAgain
            ));
        }
    }

    #[tokio::test]
    async fn of_two_concurrent_redemptions_exactly_one_wins() {
        let (items, id) = signed_in().await;
        let panels = Panels::new(items);
        let code = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        let t = tenant("Cust12345");
        let (a, b) = tokio::join!(
            panels.redeem(code.expose(), &t, NOW + 1),
            panels.redeem(code.expose(), &t, NOW + 1)
        );
        assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1);
    }

    #[tokio::test]
    async fn a_code_expires_after_a_minute() {
        let (items, id) = signed_in().await;
        let panels = Panels::new(items);
        let code = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        let late = panels
            .redeem(code.expose(), &tenant("Cust12345"), NOW + HAND_OFF_SECONDS)
            .await;
        assert!(matches!(late.unwrap_err(), RedeemError::SignInAgain));
        let code = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        assert!(
            panels
                .redeem(
                    code.expose(),
                    &tenant("Cust12345"),
                    NOW + HAND_OFF_SECONDS - 1
                )
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_code_for_another_tenant_is_refused_and_spent() {
        let (items, id) = signed_in().await;
        let panels = Panels::new(items);
        let code = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        let other = panels
            .redeem(code.expose(), &tenant("Cust67890"), NOW + 1)
            .await;
        assert!(matches!(
            other.unwrap_err(),
            RedeemError::SignInToThisTenant
        ));
        // Spent: not usable for the right tenant either after being tried elsewhere.
        let again = panels
            .redeem(code.expose(), &tenant("Cust12345"), NOW + 2)
            .await;
        assert!(matches!(again.unwrap_err(), RedeemError::SignInAgain));
    }

    #[tokio::test]
    async fn ending_the_session_ends_the_panel_and_its_unredeemed_codes() {
        let (items, id) = signed_in().await;
        let panels = Panels::new(items.clone());
        let sessions = Sessions::new(items.clone());
        let code = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        let unredeemed = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        let cookie = panels
            .redeem(code.expose(), &tenant("Cust12345"), NOW + 1)
            .await
            .unwrap()
            .cookie;
        sessions.end(id, &tenant("Cust12345")).await.unwrap();
        assert_eq!(panels.find(cookie.expose(), NOW + 2).await.unwrap(), None);
        assert!(matches!(
            panels
                .redeem(unredeemed.expose(), &tenant("Cust12345"), NOW + 2)
                .await
                .unwrap_err(),
            RedeemError::SignInAgain
        ));
    }

    #[tokio::test]
    async fn purging_the_tenant_ends_its_panels() {
        let (items, id) = signed_in().await;
        let panels = Panels::new(items.clone());
        let code = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        let cookie = panels
            .redeem(code.expose(), &tenant("Cust12345"), NOW + 1)
            .await
            .unwrap()
            .cookie;
        crate::purge::Purge::new(items.clone())
            .tenant(&tenant("Cust12345"))
            .await
            .unwrap();
        assert_eq!(panels.find(cookie.expose(), NOW + 2).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_panel_cookie_lives_no_longer_than_its_session() {
        let (items, id) = signed_in().await;
        let panels = Panels::new(items);
        let code = panels.mint(id, &session("Cust12345"), NOW).await.unwrap();
        let cookie = panels
            .redeem(code.expose(), &tenant("Cust12345"), NOW + 1)
            .await
            .unwrap()
            .cookie;
        let end = session("Cust12345").expires_at;
        assert!(
            panels
                .find(cookie.expose(), end - 1)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(panels.find(cookie.expose(), end).await.unwrap(), None);
    }

    #[tokio::test]
    async fn odd_values_are_nobodys_and_cost_no_lookup() {
        let panels = Panels::new(Arc::new(MemoryItems::new()));
        for odd in [
            "",
            "short",
            &"A".repeat(44),
            &format!("{}!", "A".repeat(42)),
        ] {
            assert_eq!(panels.find(odd, NOW).await.unwrap(), None, "{odd:?}");
            assert!(matches!(
                panels
                    .redeem(odd, &tenant("Cust12345"), NOW)
                    .await
                    .unwrap_err(),
                RedeemError::SignInAgain
            ));
        }
    }
}
