//! Who may do what: one guard for every page that needs a signed-in person, an administrator, or a
//! state-changing form (install, sign-out, and the management page).
//!
//! The session comes from the `__Host-session` cookie (looked up by its hash). A state-changing form
//! must come from our own origin (`Sec-Fetch-Site`, else `Origin`) and carry the session's
//! anti-forgery token, compared in constant time.

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
