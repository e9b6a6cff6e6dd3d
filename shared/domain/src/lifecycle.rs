//! SuperOffice's tenant state-change pushes, once their sender is verified: what each change means
//! for what the app keeps, and which work it queues.
//!
//! The push answers fast: this records a flag or a note on the tenant and queues the work in the
//! tenant's own job group, where it never overlaps an install, upgrade or uninstall of the same
//! tenant. What each change does:
//!
//! | change | recorded now | queued |
//! |---|---|---|
//! | Delete | `deleted`: every run ends at its next step | a purge: everything kept for the tenant removed, nothing called |
//! | Suspend | `suspended`: jobs are put back, not dropped | nothing |
//! | Resume | `suspended` cleared | the work the tenant was waiting for, at once |
//! | Move | the new host, and when | nothing: the next WebAPI call reads where the tenant lives first |
//! | BackupRestored | a repair is due | a repair (every artifact looked up and mended) |
//! | Upgrade | the CRM version; a repair is due | a repair (an upgrade can reset customisations) |
//! | anything else | nothing | nothing (logged and counted: SuperOffice may add changes) |
//!
//! A push for a tenant the app does not know changes nothing and is answered as accepted, so
//! SuperOffice does not retry it for ever. Replays are refused before this runs ([`Replays`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

use crate::jobs::{Job, JobKind, JobQueue, QueueError};
use crate::store::{Item, Items, StoreError};
use crate::tenant::{Goal, InstallStatus, Reconciling, Tenant, Tenants};

/// SuperOffice's `ChangeType` (documented as an enum: 0 to 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Upgrade,
    BackupRestored,
    Suspend,
    Resume,
    Delete,
    Move,
    /// A value SuperOffice added after this was written.
    Unknown(i64),
}

impl ChangeType {
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => ChangeType::Upgrade,
            1 => ChangeType::BackupRestored,
            2 => ChangeType::Suspend,
            3 => ChangeType::Resume,
            4 => ChangeType::Delete,
            5 => ChangeType::Move,
            other => ChangeType::Unknown(other),
        }
    }

    /// The change by SuperOffice's name (the enum's names, as its serializer may send them).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Upgrade" => ChangeType::Upgrade,
            "BackupRestored" => ChangeType::BackupRestored,
            "Suspend" => ChangeType::Suspend,
            "Resume" => ChangeType::Resume,
            "Delete" => ChangeType::Delete,
            "Move" => ChangeType::Move,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Upgrade => "upgrade",
            ChangeType::BackupRestored => "backup_restored",
            ChangeType::Suspend => "suspend",
            ChangeType::Resume => "resume",
            ChangeType::Delete => "delete",
            ChangeType::Move => "move",
            ChangeType::Unknown(_) => "unknown",
        }
    }
}

/// A verified push, as the app acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub change: ChangeType,
    pub tenant: TenantId,
    /// `VersionName`: the CRM release.
    pub version_name: Option<String>,
    /// `PublicEndpoint`: the host after a Move.
    pub public_endpoint: Option<String>,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Recorded, and the work queued if any (`queued`).
    Recorded { queued: Option<JobKind> },
    /// The app does not know the tenant: nothing stored.
    UnknownTenant,
    /// A change this version does not know: nothing done.
    UnknownChange(i64),
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The store or the queue is unavailable: answer 5xx so SuperOffice sends the push again.
    #[error("the push could not be recorded: {0}")]
    TryAgain(String),
}

impl From<StoreError> for LifecycleError {
    fn from(e: StoreError) -> Self {
        LifecycleError::TryAgain(e.to_string())
    }
}

impl From<QueueError> for LifecycleError {
    fn from(e: QueueError) -> Self {
        LifecycleError::TryAgain(e.to_string())
    }
}

pub struct Lifecycle<I, Q> {
    pub tenants: Tenants<I>,
    pub queue: Arc<Q>,
}

impl<I: Items, Q: JobQueue> Lifecycle<I, Q> {
    pub fn new(items: Arc<I>, queue: Arc<Q>) -> Self {
        Self {
            tenants: Tenants::new(items),
            queue,
        }
    }

    /// Acts on a verified push at `now` (unix seconds).
    pub async fn apply(&self, push: &StateChange, now: i64) -> Result<Applied, LifecycleError> {
        if let ChangeType::Unknown(code) = push.change {
            tracing::warn!(tenant = %push.tenant, reason = "unknown_change_type", change_type = code, "a state change this version does not know; nothing done");
            return Ok(Applied::UnknownChange(code));
        }
        let change = push.change;
        let changed = self
            .tenants
            .update(&push.tenant, now, |t| {
                t.platform.last_change = Some((change.as_str().to_owned(), now));
                if let Some(v) = &push.version_name {
                    t.platform.crm_version = Some(v.clone());
                }
                if t.deleted {
                    // Deleted stays deleted: its purge is queued; nothing else is started.
                    return None;
                }
                match change {
                    ChangeType::Delete => {
                        t.deleted = true;
                        Some(JobKind::Purge)
                    }
                    ChangeType::Suspend => {
                        t.suspended = true;
                        None
                    }
                    ChangeType::Resume => {
                        t.suspended = false;
                        work_waiting(t)
                    }
                    ChangeType::Move => {
                        t.platform.public_endpoint = push.public_endpoint.clone();
                        t.platform.moved_at = Some(now);
                        None
                    }
                    ChangeType::BackupRestored | ChangeType::Upgrade => {
                        if !repairable(t) {
                            return None;
                        }
                        t.reconciling = Some(Reconciling {
                            goal: Goal::Repair,
                            asked_at: now,
                            why: match change {
                                ChangeType::BackupRestored => {
                                    "SuperOffice restored your company's SuperOffice from a backup"
                                        .into()
                                }
                                _ => format!(
                                    "SuperOffice upgraded your company's SuperOffice{}",
                                    push.version_name
                                        .as_deref()
                                        .map(|v| format!(" to {v}"))
                                        .unwrap_or_default()
                                ),
                            },
                            target: None,
                        });
                        Some(JobKind::Repair)
                    }
                    ChangeType::Unknown(_) => None,
                }
            })
            .await?;
        let Some(queued) = changed else {
            tracing::info!(tenant = %push.tenant, change = change.as_str(), reason = "unknown_tenant", "a state change for a tenant the app does not know; nothing stored");
            return Ok(Applied::UnknownTenant);
        };
        if let Some(kind) = queued {
            let job = Job::new(kind, &push.tenant, format!("{}{now}", change.as_str()));
            self.queue.send(&job).await?;
            telemetry::metrics::job(
                kind.as_str(),
                telemetry::metrics::JobOutcome::Queued,
                push.tenant.as_str(),
                change.as_str(),
            );
        }
        tracing::info!(tenant = %push.tenant, change = change.as_str(), queued = queued.map(JobKind::as_str).unwrap_or("nothing"), reason = "state_change", "state change recorded");
        Ok(Applied::Recorded { queued })
    }
}

/// Whether the tenant holds (or is getting) the app's items: what a repair can mend.
fn repairable(t: &Tenant) -> bool {
    matches!(
        t.status,
        InstallStatus::Installed
            | InstallStatus::Installing
            | InstallStatus::Queued
            | InstallStatus::Failed
    ) && !t.consent_revoked
}

/// The work a resumed tenant was waiting for: its install or uninstall, or the upgrade or repair
/// asked for.
fn work_waiting(t: &Tenant) -> Option<JobKind> {
    match t.status {
        InstallStatus::Queued | InstallStatus::Installing => Some(JobKind::Install),
        InstallStatus::Uninstalling => Some(JobKind::Uninstall),
        _ => t.reconciling.as_ref().map(|r| match r.goal {
            Goal::Upgrade => JobKind::Upgrade,
            Goal::Repair => JobKind::Repair,
        }),
    }
}

/// Push tokens already acted on, kept until they expire: the same token twice is a replay.
pub struct Replays<I> {
    items: Arc<I>,
}

#[derive(Serialize, Deserialize)]
struct Seen {
    tenant: String,
    change: String,
}

/// The longest a token is remembered, whatever its `exp` says (the validator refuses lifetimes
/// beyond a day; this is the store's own bound).
const MAX_REMEMBERED: i64 = 2 * 24 * 3600;

impl<I: Items> Replays<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    fn item(
        token: &str,
        push: &StateChange,
        expires_at: i64,
        now: i64,
    ) -> Result<Item, StoreError> {
        Ok(Item::new(
            format!("STATEPUSH#{}", crate::store::secret_key(token)),
            "PUSH",
            crate::store::document(&Seen {
                tenant: push.tenant.to_string(),
                change: push.change.as_str().into(),
            })?,
        )
        .expiring_at(expires_at.min(now + MAX_REMEMBERED)))
    }

    /// Claims the token: `false` if it was claimed before (a replay). Kept by a digest, never as
    /// sent.
    pub async fn claim(
        &self,
        token: &str,
        push: &StateChange,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        match self
            .items
            .put_new(&Self::item(token, push, expires_at, now)?, now)
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::AlreadyExists) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives a claim back (the push could not be acted on, and SuperOffice will send it again).
    pub async fn release(&self, token: &str) -> Result<(), StoreError> {
        self.items
            .delete(
                &format!("STATEPUSH#{}", crate::store::secret_key(token)),
                "PUSH",
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::store::memory::MemoryItems;
    use crate::tenant::Consent;

    #[derive(Default)]
    struct Sent(Mutex<Vec<Job>>);

    impl JobQueue for Sent {
        async fn send(&self, job: &Job) -> Result<(), QueueError> {
            self.0.lock().unwrap().push(job.clone());
            Ok(())
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn tenant() -> TenantId {
        TenantId::parse("Cust12345").unwrap()
    }

    async fn known(status: InstallStatus) -> (Lifecycle<MemoryItems, Sent>, Arc<MemoryItems>) {
        let items = Arc::new(MemoryItems::new());
        let l = Lifecycle::new(items.clone(), Arc::new(Sent::default()));
        l.tenants
            .record_consent(
                &Consent {
                    tenant: tenant(),
                    company: None,
                    sealed_system_token: "sealed".into(),
                    approved_by: "a@example.com".into(),
                },
                NOW,
            )
            .await
            .unwrap();
        l.tenants
            .update(&tenant(), NOW, |t| t.status = status)
            .await
            .unwrap();
        (l, items)
    }

    fn push(change: ChangeType) -> StateChange {
        StateChange {
            change,
            tenant: tenant(),
            version_name: Some("Release_10.3.8".into()),
            public_endpoint: Some("sod3.superoffice.com".into()),
        }
    }

    async fn record(l: &Lifecycle<MemoryItems, Sent>) -> Tenant {
        l.tenants.get(&tenant(), NOW).await.unwrap().unwrap().value
    }

    fn sent(l: &Lifecycle<MemoryItems, Sent>) -> Vec<JobKind> {
        l.queue.0.lock().unwrap().iter().map(|j| j.kind).collect()
    }

    #[tokio::test]
    async fn each_change_records_what_it_means_and_queues_its_work() {
        let (l, _) = known(InstallStatus::Installed).await;
        l.apply(&push(ChangeType::Suspend), NOW).await.unwrap();
        assert!(record(&l).await.suspended);
        assert!(sent(&l).is_empty());
        l.apply(&push(ChangeType::Resume), NOW).await.unwrap();
        assert!(!record(&l).await.suspended);
        assert!(sent(&l).is_empty(), "nothing was waiting");
        l.apply(&push(ChangeType::Move), NOW + 1).await.unwrap();
        let t = record(&l).await;
        assert_eq!(
            t.platform.public_endpoint.as_deref(),
            Some("sod3.superoffice.com")
        );
        assert_eq!(t.platform.moved_at, Some(NOW + 1));
        l.apply(&push(ChangeType::BackupRestored), NOW)
            .await
            .unwrap();
        assert_eq!(record(&l).await.reconciling.unwrap().goal, Goal::Repair);
        l.apply(&push(ChangeType::Upgrade), NOW).await.unwrap();
        assert_eq!(
            record(&l).await.platform.crm_version.as_deref(),
            Some("Release_10.3.8")
        );
        l.apply(&push(ChangeType::Delete), NOW).await.unwrap();
        assert!(record(&l).await.deleted);
        assert_eq!(
            sent(&l),
            vec![JobKind::Repair, JobKind::Repair, JobKind::Purge]
        );
        // Deleted stays deleted: a later resume or restore starts nothing.
        l.apply(&push(ChangeType::Resume), NOW).await.unwrap();
        l.apply(&push(ChangeType::BackupRestored), NOW)
            .await
            .unwrap();
        assert_eq!(sent(&l).len(), 3);
    }

    #[tokio::test]
    async fn a_resume_requeues_the_work_the_tenant_was_waiting_for() {
        for (status, expected) in [
            (InstallStatus::Installing, Some(JobKind::Install)),
            (InstallStatus::Queued, Some(JobKind::Install)),
            (InstallStatus::Uninstalling, Some(JobKind::Uninstall)),
            (InstallStatus::Consented, None),
        ] {
            let (l, _) = known(status).await;
            l.apply(&push(ChangeType::Suspend), NOW).await.unwrap();
            let applied = l.apply(&push(ChangeType::Resume), NOW).await.unwrap();
            assert_eq!(
                applied,
                Applied::Recorded { queued: expected },
                "{status:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_restore_of_a_tenant_without_the_app_repairs_nothing() {
        let (l, _) = known(InstallStatus::Consented).await;
        let applied = l
            .apply(&push(ChangeType::BackupRestored), NOW)
            .await
            .unwrap();
        assert_eq!(applied, Applied::Recorded { queued: None });
        assert!(record(&l).await.reconciling.is_none());
    }

    #[tokio::test]
    async fn unknown_tenants_and_changes_store_nothing() {
        let items = Arc::new(MemoryItems::new());
        let l = Lifecycle::new(items.clone(), Arc::new(Sent::default()));
        assert_eq!(
            l.apply(&push(ChangeType::Delete), NOW).await.unwrap(),
            Applied::UnknownTenant
        );
        assert!(l.tenants.get(&tenant(), NOW).await.unwrap().is_none());
        let (l, _) = known(InstallStatus::Installed).await;
        let before = record(&l).await;
        assert_eq!(
            l.apply(&push(ChangeType::Unknown(9)), NOW + 5)
                .await
                .unwrap(),
            Applied::UnknownChange(9)
        );
        assert_eq!(record(&l).await, before);
        assert!(sent(&l).is_empty());
    }

    #[tokio::test]
    async fn a_token_is_claimed_once_until_it_expires_and_can_be_given_back() {
        let items = Arc::new(MemoryItems::new());
        let r = Replays::new(items.clone());
        let p = push(ChangeType::Delete);
        assert!(r.claim("tok", &p, NOW + 300, NOW).await.unwrap());
        assert!(!r.claim("tok", &p, NOW + 300, NOW + 10).await.unwrap());
        assert!(r.claim("other", &p, NOW + 300, NOW).await.unwrap());
        // After it expired, the validator refuses the token anyway; the store may forget it.
        assert!(r.claim("tok", &p, NOW + 300, NOW + 301).await.unwrap());
        r.release("other").await.unwrap();
        assert!(r.claim("other", &p, NOW + 300, NOW).await.unwrap());
    }
}
