//! A tenant as the app knows it: who installed the app, the sealed system token, and where its
//! install stands. One item per tenant (`TENANT#{ctx}` / `TENANT`), changed only by versioned writes,
//! so the install page, the worker and a second install never overwrite each other.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::{Item, Items, StoreError, document};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallStatus {
    /// An administrator approved the app and the system token is recorded; nothing queued yet.
    Consented,
    /// An install job is queued.
    Queued,
    /// The worker is creating artifacts.
    Installing,
    /// Every artifact of the manifest exists.
    Installed,
    /// The install cannot continue without a person (consent revoked, a refused request).
    Failed,
}

impl InstallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallStatus::Consented => "consented",
            InstallStatus::Queued => "queued",
            InstallStatus::Installing => "installing",
            InstallStatus::Installed => "installed",
            InstallStatus::Failed => "failed",
        }
    }
}

/// Why work for the tenant is waiting, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// Unix seconds.
    pub until: i64,
    /// `throttled`, `maintenance`, `unavailable`.
    pub reason: String,
    /// Words for the status page, e.g. the tenant state ("OfflineMaintenance").
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub context_id: String,
    pub company: Option<String>,
    pub status: InstallStatus,
    /// The system-user token, sealed under the app's key (context: tenant, "system_token").
    pub sealed_system_token: String,
    /// The webhook secret, sealed (context: tenant, "webhook_secret").
    pub sealed_webhook_secret: Option<String>,
    pub installed_by: String,
    pub consented_at: i64,
    pub artifacts_done: u32,
    pub artifacts_total: u32,
    pub waiting: Option<Waiting>,
    /// A sentence for the status page when the install failed.
    pub problem: Option<String>,
    pub updated_at: i64,
}

/// A tenant read from the store with its version, for a versioned write back.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

pub fn tenant_pk(ctx: &str) -> String {
    format!("TENANT#{ctx}")
}

pub struct Tenants<I> {
    items: Arc<I>,
}

impl<I> Clone for Tenants<I> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

/// An administrator's approval, as recorded at the redirect (intent `install`).
#[derive(Debug, Clone)]
pub struct Consent {
    pub context_id: String,
    pub company: Option<String>,
    pub sealed_system_token: String,
    pub approved_by: String,
}

impl<I: Items> Tenants<I> {
    /// Records (or refreshes) the tenant from an administrator's sign-in: a new tenant starts as
    /// `Consented`; a known one keeps its install state and gets the current system token (it
    /// changes when consent was rescinded and given again).
    pub async fn record_consent(&self, consent: &Consent, now: i64) -> Result<(), StoreError> {
        for _ in 0..5 {
            let (tenant, version) = match self.get(&consent.context_id, now).await? {
                Some(mut current) => {
                    current.value.sealed_system_token = consent.sealed_system_token.clone();
                    current.value.company = consent.company.clone().or(current.value.company);
                    current.value.installed_by = consent.approved_by.clone();
                    current.value.consented_at = now;
                    if current.value.status == InstallStatus::Failed {
                        // A fresh approval is what a failed install (revoked consent) waited for.
                        current.value.problem = None;
                    }
                    current.value.updated_at = now;
                    (current.value, current.version)
                }
                None => (
                    Tenant {
                        context_id: consent.context_id.clone(),
                        company: consent.company.clone(),
                        status: InstallStatus::Consented,
                        sealed_system_token: consent.sealed_system_token.clone(),
                        sealed_webhook_secret: None,
                        installed_by: consent.approved_by.clone(),
                        consented_at: now,
                        artifacts_done: 0,
                        artifacts_total: 0,
                        waiting: None,
                        problem: None,
                        updated_at: now,
                    },
                    0,
                ),
            };
            match self.save(&tenant, version).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    pub async fn get(&self, ctx: &str, now: i64) -> Result<Option<Versioned<Tenant>>, StoreError> {
        match self.items.get(&tenant_pk(ctx), "TENANT", now).await? {
            Some(item) => Ok(Some(Versioned {
                version: item.version,
                value: item.parse()?,
            })),
            None => Ok(None),
        }
    }

    /// Writes the tenant if its stored version is still `version` (0 for a new tenant);
    /// [`StoreError::Conflict`] otherwise.
    pub async fn save(&self, tenant: &Tenant, version: u64) -> Result<(), StoreError> {
        let mut item = Item::new(tenant_pk(&tenant.context_id), "TENANT", document(tenant)?);
        item.version = version;
        self.items.put_versioned(&item).await
    }

    /// Reads, changes and writes back, retrying a few times when someone else wrote in between.
    pub async fn update<T>(
        &self,
        ctx: &str,
        now: i64,
        mut change: impl FnMut(&mut Tenant) -> T,
    ) -> Result<Option<T>, StoreError> {
        for _ in 0..5 {
            let Some(mut current) = self.get(ctx, now).await? else {
                return Ok(None);
            };
            let out = change(&mut current.value);
            current.value.updated_at = now;
            match self.save(&current.value, current.version).await {
                Ok(()) => return Ok(Some(out)),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }
}
