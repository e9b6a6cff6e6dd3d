//! Who may do what: one guard for every page that needs a signed-in person, an administrator, or a
//! state-changing form (install, sign-out, and the management page).
//!
//! The session comes from the `__Host-session` cookie (looked up by its hash), and only from it: the
//! web panels' cookie (`__Host-panel`, sent in SuperOffice's cross-site iframe) is read by the
//! read-only panel pages alone, so it opens no install or management page and passes no form. A state-changing form
//! must come from our own origin (`Sec-Fetch-Site`, else `Origin`) and carry the session's
//! anti-forgery token, compared in constant time.
//!
//! A session lives for hours, and the `is_administrator` it holds is what SuperOffice said when it
//! started: an administrator whose rights were taken away an hour ago still has a session that says
//! "administrator". Actions that change a tenant (install, and the coming uninstall and management)
//! therefore ask for [`Guard::recent_administrator`]: a session started no longer than
//! [`RECENT_SIGN_IN`] ago, that is an id_token SuperOffice issued minutes ago with the administrator
//! claim. The sign-ins those actions start (`/login?intent=install`) also send OIDC `max_age`, so
//! SuperOffice asks for the password again when its own sign-in is older than that, and the callback
//! checks the id_token's `auth_time`.

use std::time::Duration;

use domain::signin::{Session, Sessions};
use domain::store::{Items, StoreError};
use http::StatusCode;

use crate::{Problem, WebRequest, cookies, form_pairs, same_origin, single};

/// Why the guard said no.
#[derive(Debug)]
pub enum Denied {
    /// No live session: sign in first.
    SignIn,
    /// Signed in, but not an administrator of the tenant.
    NotAdministrator(Box<Session>),
    /// Signed in, but too long ago for this action: sign in again (it proves the administrator
    /// rights anew).
    SignInAgain,
    /// A state-changing request without our anti-forgery token, or from another site.
    Forbidden(&'static str),
    /// The store failed.
    Unavailable(StoreError),
}

impl Denied {
    /// The page for a refusal, `action` saying what was refused in the customer's words ("install
    /// this app"). [`Denied::SignIn`] is a redirect each page builds itself; here it is a 401 page
    /// with a sign-in link.
    pub fn problem(&self, action: &str) -> Problem {
        match self {
            Denied::SignIn => Problem::new(
                StatusCode::UNAUTHORIZED,
                "signed_out",
                "Please sign in",
                "Your session has ended. Sign in again with your SuperOffice account.",
            )
            .onward("/login", "Sign in"),
            Denied::NotAdministrator(s) => Problem::new(
                StatusCode::FORBIDDEN,
                "not_administrator",
                format!("Only an administrator can {action}"),
                format!(
                    "You are signed in as {} of {}, who is not an administrator. Only administrators of your SuperOffice (users with the General Administrator or User Administrator right) can {action}: ask one of them.",
                    s.person(),
                    s.customer()
                ),
            ),
            Denied::SignInAgain => Problem::new(
                StatusCode::UNAUTHORIZED,
                "sign_in_again",
                "Please sign in again",
                format!("To {action}, sign in again with your SuperOffice account: this confirms you are still an administrator."),
            )
            .onward("/login?intent=install", "Sign in again"),
            Denied::Forbidden(reason) => Problem::forbidden_form(reason),
            Denied::Unavailable(e) => Problem::unavailable(e.code()),
        }
    }
}

impl From<StoreError> for Denied {
    fn from(e: StoreError) -> Self {
        Denied::Unavailable(e)
    }
}

/// How recent the sign-in behind a tenant-changing action must be.
pub const RECENT_SIGN_IN: Duration = Duration::from_secs(5 * 60);

pub struct Guard<I> {
    sessions: Sessions<I>,
    /// This deployment's origin (`scheme://host[:port]`).
    origin: String,
}

impl<I: Items> Guard<I> {
    pub fn new(sessions: Sessions<I>, origin: impl Into<String>) -> Self {
        Self {
            sessions,
            origin: origin.into(),
        }
    }

    /// The live session named by the request's session cookie, with its id; `None` without one.
    pub async fn current(
        &self,
        req: &WebRequest,
        now: i64,
    ) -> Result<Option<(String, Session)>, StoreError> {
        let Some(id) = cookies::get(req, cookies::SESSION) else {
            return Ok(None);
        };
        // A session id is 43 base64url characters; anything else is not worth a store lookup.
        if id.len() != 43
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        Ok(self
            .sessions
            .find(id, now)
            .await?
            .map(|s| (id.to_owned(), s)))
    }

    /// The signed-in person's session.
    pub async fn signed_in(&self, req: &WebRequest, now: i64) -> Result<Session, Denied> {
        self.current(req, now)
            .await?
            .map(|(_, s)| s)
            .ok_or(Denied::SignIn)
    }

    /// The session of an administrator of the signed-in tenant.
    pub async fn administrator(&self, req: &WebRequest, now: i64) -> Result<Session, Denied> {
        let session = self.signed_in(req, now).await?;
        if !session.is_administrator {
            return Err(Denied::NotAdministrator(Box::new(session)));
        }
        Ok(session)
    }

    /// The session of an administrator whose sign-in (and so the administrator claim) is at most
    /// `max_age` old; an older session gets [`Denied::SignInAgain`]. Use [`RECENT_SIGN_IN`] for
    /// actions that change a tenant.
    pub async fn recent_administrator(
        &self,
        req: &WebRequest,
        now: i64,
        max_age: Duration,
    ) -> Result<Session, Denied> {
        let session = self.administrator(req, now).await?;
        let age = now.saturating_sub(session.created_at);
        if age < 0 || age > i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX) {
            return Err(Denied::SignInAgain);
        }
        Ok(session)
    }

    /// Whether a state-changing request may act for `session`: it comes from our own origin and
    /// carries the session's anti-forgery token.
    pub fn form(&self, req: &WebRequest, session: &Session) -> Result<(), Denied> {
        if !same_origin(req, &self.origin) {
            return Err(Denied::Forbidden("cross_origin_form"));
        }
        let form = form_pairs(req).unwrap_or_default();
        let sent = single(&form, "csrf").ok().flatten().unwrap_or("");
        aws_lc_rs::constant_time::verify_slices_are_equal(
            sent.as_bytes(),
            session.csrf_token.expose().as_bytes(),
        )
        .map_err(|_| Denied::Forbidden("csrf_mismatch"))
    }

    /// Whether a request comes from our own origin (for forms that need no session).
    pub fn same_origin(&self, req: &WebRequest) -> bool {
        same_origin(req, &self.origin)
    }
}
