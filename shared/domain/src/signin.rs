//! The records behind sign-in: a pending sign-in (between `/login` and `/callback`) and a session.
//!
//! Both are keyed by the SHA-256 of the value the browser holds (the OAuth `state`, the session
//! cookie), so the table never contains anything a browser could present. A pending sign-in is
//! *taken* (read and deleted in one atomic step) at the callback: two concurrent callbacks with one
//! state give exactly one session, and a replayed callback finds nothing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::{Secret, TenantId};

use crate::store::{Item, Items, StoreError, document, secret_key};

/// How long a started sign-in may take: SuperOffice's authorization codes live 10 minutes.
pub const SIGN_IN_SECONDS: i64 = 600;

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
    format!("SESSION#{}", secret_key(id))
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
                .delete(&format!("SESSION#{key}"), "SESSION")
                .await?;
        }
        Ok(index.len())
    }
}
