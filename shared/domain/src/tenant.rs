//! A tenant as the app knows it: who installed the app, the sealed system token, and where its
//! install (or uninstall) stands. One item per tenant (`TENANT#{id}` / `TENANT`), changed only by
//! versioned writes, so the pages, the worker and a second request never overwrite each other.
//!
//! The same partition holds everything else the app keeps for the tenant (the ledger, usage,
//! webhook events, an index of its sessions), so removing the tenant is deleting one partition.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

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
    /// An uninstall is queued or running: everything the app created is being removed, then
    /// everything it keeps for the tenant. An install job that finds this status ends at once.
    Uninstalling,
    /// The uninstall cannot continue without a person (usually consent revoked: removing the
    /// app's items from SuperOffice needs the app's access to the tenant).
    UninstallStopped,
}

impl InstallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallStatus::Consented => "consented",
            InstallStatus::Queued => "queued",
            InstallStatus::Installing => "installing",
            InstallStatus::Installed => "installed",
            InstallStatus::Failed => "failed",
            InstallStatus::Uninstalling => "uninstalling",
            InstallStatus::UninstallStopped => "uninstall_stopped",
        }
    }

    /// Whether an uninstall was asked for (running, waiting or stopped).
    pub fn is_uninstall(self) -> bool {
        matches!(
            self,
            InstallStatus::Uninstalling | InstallStatus::UninstallStopped
        )
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
    /// Stored as `context_id` by earlier versions.
    #[serde(alias = "context_id")]
    pub id: TenantId,
    pub company: Option<String>,
    pub status: InstallStatus,
    /// The system-user token, sealed under the app's key (context: tenant, "system_token").
    pub sealed_system_token: String,
    /// The webhook secret, sealed (context: tenant, "webhook_secret").
    pub sealed_webhook_secret: Option<String>,
    pub installed_by: String,
    pub consented_at: i64,
    /// The run id of the job queued for this tenant (see [`crate::jobs::Job::install`]): new each
    /// time an install or uninstall is queued, sent again when a page finds the tenant still
    /// queued (a send that failed, or a process that died between recording and sending).
    #[serde(default, alias = "install_job")]
    pub job_run: Option<String>,
    /// SuperOffice refused the app's access to the tenant (consent revoked): nothing can be done in
    /// the tenant until an administrator approves the app again (a new consent clears it).
    #[serde(default)]
    pub consent_revoked: bool,
    /// Who asked for the uninstall, as a pseudonym (see [`crate::audit::pseudonym`]).
    #[serde(default)]
    pub uninstall_requested_by: Option<String>,
    pub waiting: Option<Waiting>,
    /// A sentence for the status page when the install failed.
    pub problem: Option<String>,
    /// The manifest the tenant was last brought to in full (install, upgrade or repair finished).
    #[serde(default)]
    pub manifest: Option<AppliedManifest>,
    /// An upgrade or repair asked for and not finished yet.
    #[serde(default)]
    pub reconciling: Option<Reconciling>,
    /// SuperOffice suspended the tenant (a state-change push): its jobs are put back until it
    /// resumes.
    #[serde(default)]
    pub suspended: bool,
    /// SuperOffice deleted the tenant (a state-change push): every run ends at its next step, and
    /// the queued purge removes everything the app keeps for it.
    #[serde(default)]
    pub deleted: bool,
    /// What SuperOffice last told the app about the tenant (state-change pushes).
    #[serde(default)]
    pub platform: PlatformNotes,
    pub updated_at: i64,
}

/// A manifest a tenant was brought to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedManifest {
    /// [`crate::manifest::Manifest::fingerprint`].
    pub fingerprint: String,
    /// The manifest's version label.
    pub version: String,
    pub at: i64,
}

/// Why the app is changing an installed tenant's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// A new release of the app declares other items: follow the manifest, trusting the ledger.
    Upgrade,
    /// SuperOffice restored or upgraded the tenant: read what is really there and mend it.
    Repair,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Upgrade => "upgrade",
            Goal::Repair => "repair",
        }
    }
}

/// An upgrade or repair under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciling {
    pub goal: Goal,
    /// Unix seconds.
    pub asked_at: i64,
    /// Why, in the customer's words (`SuperOffice restored your company's SuperOffice from a
    /// backup`): the management page shows it.
    pub why: String,
    /// For an upgrade, the manifest's fingerprint it brings the tenant to.
    #[serde(default)]
    pub target: Option<String>,
}

/// What SuperOffice's state-change pushes said about the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformNotes {
    /// The CRM version (`VersionName`) of the last push.
    #[serde(default)]
    pub crm_version: Option<String>,
    /// The host the tenant moved to (`PublicEndpoint` of a Move push).
    #[serde(default)]
    pub public_endpoint: Option<String>,
    /// When SuperOffice said it moved (unix seconds).
    #[serde(default)]
    pub moved_at: Option<i64>,
    /// The last push: its change and when it came.
    #[serde(default)]
    pub last_change: Option<(String, i64)>,
}

/// A tenant read from the store with its version, for a versioned write back.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// The partition that holds everything the app keeps for one tenant.
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
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
    pub tenant: TenantId,
    pub company: Option<String>,
    pub sealed_system_token: String,
    pub approved_by: String,
}

impl<I: Items> Tenants<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// Records (or refreshes) the tenant from an administrator's sign-in: a new tenant starts as
    /// `Consented`; a known one keeps its install state and gets the current system token (it
    /// changes when consent was rescinded and given again). A failed install becomes `Consented`
    /// again: a fresh approval is what it waited for, and the install page offers it anew.
    pub async fn record_consent(&self, consent: &Consent, now: i64) -> Result<(), StoreError> {
        self.write(&consent.tenant, now, |current| {
            let tenant = match current {
                Some(mut t) => {
                    t.sealed_system_token = consent.sealed_system_token.clone();
                    t.company = consent.company.clone().or(t.company);
                    t.installed_by = consent.approved_by.clone();
                    t.consented_at = now;
                    t.consent_revoked = false;
                    match t.status {
                        InstallStatus::Failed => {
                            t.status = InstallStatus::Consented;
                            t.problem = None;
                        }
                        // The approval the stopped uninstall waited for: the page offers to continue.
                        InstallStatus::UninstallStopped => t.problem = None,
                        _ => {}
                    }
                    t
                }
                None => Tenant {
                    id: consent.tenant.clone(),
                    company: consent.company.clone(),
                    status: InstallStatus::Consented,
                    sealed_system_token: consent.sealed_system_token.clone(),
                    sealed_webhook_secret: None,
                    installed_by: consent.approved_by.clone(),
                    consented_at: now,
                    job_run: None,
                    consent_revoked: false,
                    uninstall_requested_by: None,
                    waiting: None,
                    problem: None,
                    manifest: None,
                    reconciling: None,
                    suspended: false,
                    deleted: false,
                    platform: PlatformNotes::default(),
                    updated_at: now,
                },
            };
            Some((tenant, ()))
        })
        .await
        .map(|_| ())
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        now: i64,
    ) -> Result<Option<Versioned<Tenant>>, StoreError> {
        match self.items.get(&tenant_pk(tenant), "TENANT", now).await? {
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
        let mut item = Item::new(tenant_pk(&tenant.id), "TENANT", document(tenant)?);
        item.version = version;
        self.items.put_versioned(&item).await
    }

    /// Reads, changes and writes back a known tenant, retrying a few times when someone else wrote
    /// in between; `None` when the tenant is unknown.
    pub async fn update<T>(
        &self,
        tenant: &TenantId,
        now: i64,
        mut change: impl FnMut(&mut Tenant) -> T,
    ) -> Result<Option<T>, StoreError> {
        self.write(tenant, now, |current| {
            let mut tenant = current?;
            let out = change(&mut tenant);
            Some((tenant, out))
        })
        .await
    }

    /// Marks the install stopped until a person acts, with the problem in words for the status page.
    /// The install or uninstall under way (whichever the status says) stops until a person acts.
    pub async fn fail(&self, tenant: &TenantId, now: i64, problem: &str) -> Result<(), StoreError> {
        self.update(tenant, now, |t| {
            t.status = if t.status.is_uninstall() {
                InstallStatus::UninstallStopped
            } else {
                InstallStatus::Failed
            };
            t.waiting = None;
            t.problem = Some(problem.to_owned());
        })
        .await
        .map(|_| ())
    }

    /// The one read-change-write loop: `next` gets the stored tenant (if any) and returns what to
    /// write, or `None` to write nothing.
    async fn write<T>(
        &self,
        tenant: &TenantId,
        now: i64,
        mut next: impl FnMut(Option<Tenant>) -> Option<(Tenant, T)>,
    ) -> Result<Option<T>, StoreError> {
        for _ in 0..5 {
            let (current, version) = match self.get(tenant, now).await? {
                Some(v) => (Some(v.value), v.version),
                None => (None, 0),
            };
            let Some((mut tenant, out)) = next(current) else {
                return Ok(None);
            };
            tenant.updated_at = now;
            match self.save(&tenant, version).await {
                Ok(()) => return Ok(Some(out)),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }
}
