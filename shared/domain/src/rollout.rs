//! Rolling a new release's manifest out to every installed tenant, gently.
//!
//! A release whose manifest differs (by [`crate::manifest::Manifest::fingerprint`]) from what a
//! tenant was last brought to needs an upgrade in that tenant. The rollout finds those tenants a
//! page at a time (the store's partitions walk, never a table scan) and queues one upgrade job per
//! tenant in the tenant's own job group, at most `per_tick` per tick. A scheduler ticks once a
//! minute (the worker in AWS, the local runner locally), so `per_tick` is the rollout's rate in
//! tenants per minute: SuperOffice sees at most that many tenants start changing each minute, and
//! within each tenant the worker's per-tenant rate cap and throttling rules hold as for any job.
//!
//! Each tenant's record says where it stands (`reconciling` while its upgrade is queued or running,
//! `manifest` once done), which the management page shows. A tenant that cannot be upgraded now
//! (in maintenance, throttled) is put back by its job and done later; one that is suspended,
//! deleted, uninstalling or without the app's access is skipped until that changes. The walk's
//! position is kept in one item, so ticks in different processes continue one another; a tick that
//! dies leaves at most its own tenants queued and marked, which the next pass sees as in progress.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

use crate::jobs::{Job, JobKind, JobQueue, QueueError};
use crate::store::{Item, Items, StoreError, document};
use crate::tenant::{Goal, InstallStatus, Reconciling, Tenant, Tenants};

/// Where the rollout of one manifest stands (one item: `ROLLOUT` / `PROGRESS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The manifest being rolled out.
    pub fingerprint: String,
    pub version: String,
    /// The partition the walk continues after; `None`: the next tick starts a pass.
    pub cursor: Option<String>,
    /// Upgrade jobs queued for this manifest so far.
    pub queued: u64,
    /// Full passes over the tenants so far.
    pub passes: u32,
    /// Whether the last full pass found every tenant on this manifest (or not upgradable).
    pub done: bool,
    pub started_at: i64,
    pub last_tick: i64,
    /// Whether the pass under way has found a tenant not on this manifest yet.
    #[serde(default)]
    pub pass_found_work: bool,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Tenant records read.
    pub examined: usize,
    /// Tenants whose upgrade was queued by this tick.
    pub queued: Vec<TenantId>,
    /// Whether the rollout is complete (every installed tenant holds the manifest).
    pub done: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The store or the queue is unavailable: the next tick continues from the last saved place.
    #[error("the rollout could not continue: {0}")]
    TryLater(String),
}

impl From<StoreError> for RolloutError {
    fn from(e: StoreError) -> Self {
        RolloutError::TryLater(e.to_string())
    }
}

impl From<QueueError> for RolloutError {
    fn from(e: QueueError) -> Self {
        RolloutError::TryLater(e.to_string())
    }
}

/// A queued upgrade not finished after this long is queued again (its job was lost or stopped).
const REQUEUE_AFTER: i64 = 6 * 3600;
/// Tenant records read per page of the walk.
const PAGE: usize = 100;

pub struct Rollout<I, Q> {
    items: Arc<I>,
    tenants: Tenants<I>,
    queue: Arc<Q>,
    fingerprint: String,
    version: String,
    per_tick: usize,
}

impl<I: Items, Q: JobQueue> Rollout<I, Q> {
    /// The rollout of the manifest with `fingerprint` (and `version`, for people), at most
    /// `per_tick` tenants per tick.
    pub fn new(
        items: Arc<I>,
        queue: Arc<Q>,
        fingerprint: String,
        version: String,
        per_tick: usize,
    ) -> Self {
        Self {
            tenants: Tenants::new(items.clone()),
            items,
            queue,
            fingerprint,
            version,
            per_tick: per_tick.max(1),
        }
    }

    /// Where the rollout stands, if one was ever ticked.
    pub async fn progress(&self, now: i64) -> Result<Option<Progress>, StoreError> {
        match self.items.get("ROLLOUT", "PROGRESS", now).await? {
            Some(item) => Ok(Some(item.parse()?)),
            None => Ok(None),
        }
    }

    /// Whether `tenant` needs this manifest, and may get it now.
    fn due(&self, t: &Tenant, now: i64) -> bool {
        let upgradable = t.status == InstallStatus::Installed
            && !t.deleted
            && !t.suspended
            && !t.consent_revoked;
        let current = t
            .manifest
            .as_ref()
            .is_some_and(|m| m.fingerprint == self.fingerprint);
        // A repair brings the tenant to this release too; either one lost (not finished after
        // REQUEUE_AFTER) is queued again as an upgrade.
        let in_hand = t.reconciling.as_ref().is_some_and(|r| {
            (r.goal == Goal::Repair || r.target.as_deref() == Some(&self.fingerprint))
                && now - r.asked_at < REQUEUE_AFTER
        });
        upgradable && !current && !in_hand
    }

    /// One tick: continues the walk, queues at most `per_tick` upgrades, saves where it stopped.
    pub async fn tick(&self, now: i64) -> Result<Tick, RolloutError> {
        let mut progress = match self.progress(now).await? {
            Some(p) if p.fingerprint == self.fingerprint => p,
            _ => Progress {
                fingerprint: self.fingerprint.clone(),
                version: self.version.clone(),
                cursor: None,
                queued: 0,
                passes: 0,
                done: false,
                started_at: now,
                last_tick: now,
                pass_found_work: false,
            },
        };
        let mut tick = Tick::default();
        // A finished rollout still walks (cheaply, a page per tick): a tenant restored to an older
        // state or installed by an older worker is caught by the next pass.
        let budget = if progress.done { PAGE } else { PAGE * 10 };
        while tick.queued.len() < self.per_tick && tick.examined < budget {
            let page = self
                .items
                .partitions(
                    "TENANT#",
                    "TENANT",
                    progress.cursor.as_deref(),
                    PAGE.min(budget - tick.examined).max(1),
                    now,
                )
                .await?;
            for pk in &page.entries {
                progress.cursor = Some(pk.clone());
                let Ok(tenant) = TenantId::parse(pk.trim_start_matches("TENANT#")) else {
                    continue;
                };
                tick.examined += 1;
                let Some(record) = self.tenants.get(&tenant, now).await? else {
                    continue;
                };
                let needs = record.value.status == InstallStatus::Installed
                    && record
                        .value
                        .manifest
                        .as_ref()
                        .is_none_or(|m| m.fingerprint != self.fingerprint);
                if needs {
                    progress.pass_found_work = true;
                }
                if !self.due(&record.value, now) {
                    continue;
                }
                if self.queue_upgrade(&tenant, now).await? {
                    tick.queued.push(tenant);
                    progress.queued += 1;
                }
                if tick.queued.len() >= self.per_tick {
                    break;
                }
            }
            if tick.queued.len() >= self.per_tick {
                break;
            }
            if page.next.is_none() {
                // The end of a pass: done if nothing in it still needed this manifest.
                progress.passes += 1;
                progress.done = !progress.pass_found_work;
                progress.pass_found_work = false;
                progress.cursor = None;
                break;
            }
        }
        progress.last_tick = now;
        self.items
            .put(&Item::new("ROLLOUT", "PROGRESS", document(&progress)?))
            .await?;
        tick.done = progress.done;
        if !tick.queued.is_empty() {
            tracing::info!(reason = "rollout", version = %self.version, queued = tick.queued.len(), examined = tick.examined, "upgrades queued");
        }
        Ok(tick)
    }

    /// Marks the tenant's upgrade as asked for and queues it; `false` if the record changed so
    /// that it is no longer due.
    async fn queue_upgrade(&self, tenant: &TenantId, now: i64) -> Result<bool, RolloutError> {
        let marked = self
            .tenants
            .update(tenant, now, |t| {
                if !self.due(t, now) {
                    return false;
                }
                t.reconciling = Some(Reconciling {
                    goal: Goal::Upgrade,
                    asked_at: now,
                    why: format!("a new release of the app (version {})", self.version),
                    target: Some(self.fingerprint.clone()),
                });
                true
            })
            .await?;
        if marked != Some(true) {
            return Ok(false);
        }
        self.queue
            .send(&Job::new(JobKind::Upgrade, tenant, &self.fingerprint))
            .await?;
        telemetry::metrics::job(
            JobKind::Upgrade.as_str(),
            telemetry::metrics::JobOutcome::Queued,
            tenant.as_str(),
            "rollout",
        );
        Ok(true)
    }
}

/// One tenant's place in a rollout, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantRollout {
    pub tenant: TenantId,
    pub status: InstallStatus,
    /// The release the tenant was last brought to in full.
    pub version: Option<String>,
    /// Whether it holds the manifest being rolled out.
    pub current: bool,
    /// An upgrade or repair asked for and not finished: its goal, why, and since when.
    pub reconciling: Option<Reconciling>,
    pub suspended: bool,
    /// Why its work waits, when it does (maintenance, throttling), and the status page's problem.
    pub problem: Option<String>,
}

/// Where the rollout of the manifest with `fingerprint` stands: its progress record and every
/// tenant's place (`soapp rollout status`). Walks the tenants a page at a time, as a tick does.
pub async fn status<I: Items>(
    items: Arc<I>,
    fingerprint: &str,
    now: i64,
) -> Result<(Option<Progress>, Vec<TenantRollout>), StoreError> {
    let progress = match items.get("ROLLOUT", "PROGRESS", now).await? {
        Some(item) => Some(item.parse::<Progress>()?).filter(|p| p.fingerprint == fingerprint),
        None => None,
    };
    let tenants = Tenants::new(items.clone());
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = items
            .partitions("TENANT#", "TENANT", after.as_deref(), PAGE, now)
            .await?;
        for pk in &page.entries {
            let Ok(id) = TenantId::parse(pk.trim_start_matches("TENANT#")) else {
                continue;
            };
            if let Some(t) = tenants.get(&id, now).await? {
                let t = t.value;
                out.push(TenantRollout {
                    current: t
                        .manifest
                        .as_ref()
                        .is_some_and(|m| m.fingerprint == fingerprint),
                    version: t.manifest.map(|m| m.version),
                    tenant: id,
                    status: t.status,
                    reconciling: t.reconciling,
                    suspended: t.suspended,
                    problem: t
                        .waiting
                        .map(|w| format!("waiting: {}", w.reason))
                        .or(t.problem),
                });
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok((progress, out))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::store::memory::MemoryItems;
    use crate::tenant::{AppliedManifest, Consent};

    #[derive(Default)]
    struct Sent(Mutex<Vec<Job>>);

    impl JobQueue for Sent {
        async fn send(&self, job: &Job) -> Result<(), QueueError> {
            self.0.lock().unwrap().push(job.clone());
            Ok(())
        }
    }

    const NOW: i64 = 1_800_000_000;
    const V2: &str = "v2-fingerprint";

    fn id(n: usize) -> TenantId {
        TenantId::parse(&format!("Cust{:05}", n)).unwrap()
    }

    /// `n` tenants installed on the manifest "v1".
    async fn installed(n: usize) -> Arc<MemoryItems> {
        let items = Arc::new(MemoryItems::new());
        let tenants = Tenants::new(items.clone());
        for i in 0..n {
            tenants
                .record_consent(
                    &Consent {
                        tenant: id(i),
                        company: None,
                        sealed_system_token: "sealed".into(),
                        approved_by: "a@example.com".into(),
                    },
                    NOW,
                )
                .await
                .unwrap();
            tenants
                .update(&id(i), NOW, |t| {
                    t.status = InstallStatus::Installed;
                    t.manifest = Some(AppliedManifest {
                        fingerprint: "v1".into(),
                        version: "1".into(),
                        at: NOW,
                    });
                })
                .await
                .unwrap();
        }
        items
    }

    fn rollout(
        items: &Arc<MemoryItems>,
        queue: &Arc<Sent>,
        per_tick: usize,
    ) -> Rollout<MemoryItems, Sent> {
        Rollout::new(
            items.clone(),
            queue.clone(),
            V2.into(),
            "2".into(),
            per_tick,
        )
    }

    /// What the worker does when an upgrade finishes: the tenant holds the manifest.
    async fn finish(items: &Arc<MemoryItems>, tenant: &TenantId, now: i64) {
        Tenants::new(items.clone())
            .update(tenant, now, |t| {
                t.reconciling = None;
                t.manifest = Some(AppliedManifest {
                    fingerprint: V2.into(),
                    version: "2".into(),
                    at: now,
                });
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn every_installed_tenant_is_queued_once_and_never_more_than_the_rate_per_tick() {
        let items = installed(25).await;
        let queue = Arc::new(Sent::default());
        let r = rollout(&items, &queue, 4);
        let mut seen = Vec::new();
        for minute in 0..10 {
            let tick = r.tick(NOW + 60 * minute).await.unwrap();
            assert!(
                tick.queued.len() <= 4,
                "tick {minute} queued {}",
                tick.queued.len()
            );
            seen.extend(tick.queued);
        }
        let mut unique = seen.clone();
        unique.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        unique.dedup();
        assert_eq!(seen.len(), 25, "each tenant queued exactly once");
        assert_eq!(unique.len(), 25);
        let jobs = queue.0.lock().unwrap().clone();
        assert!(jobs.iter().all(|j| j.kind == JobKind::Upgrade));
        // Each tenant's record says an upgrade to this release is under way, in words.
        let t = Tenants::new(items.clone())
            .get(&id(3), NOW + 600)
            .await
            .unwrap()
            .unwrap()
            .value;
        let reconciling = t.reconciling.unwrap();
        assert_eq!(reconciling.goal, Goal::Upgrade);
        assert!(reconciling.why.contains("version 2"), "{}", reconciling.why);
    }

    #[tokio::test]
    async fn the_rollout_is_done_only_after_a_pass_finds_every_tenant_on_the_release() {
        let items = installed(5).await;
        let queue = Arc::new(Sent::default());
        let r = rollout(&items, &queue, 10);
        let first = r.tick(NOW).await.unwrap();
        assert_eq!(first.queued.len(), 5);
        assert!(!first.done, "upgrades queued are not upgrades done");
        // Four finish; one tenant's upgrade is still running (in maintenance, put back).
        for i in 0..4 {
            finish(&items, &id(i), NOW + 30).await;
        }
        let second = r.tick(NOW + 60).await.unwrap();
        assert!(
            second.queued.is_empty(),
            "an upgrade in hand is not queued twice"
        );
        assert!(!second.done);
        finish(&items, &id(4), NOW + 90).await;
        let third = r.tick(NOW + 120).await.unwrap();
        assert!(third.done);
        let p = r.progress(NOW + 120).await.unwrap().unwrap();
        assert_eq!((p.queued, p.done, p.version.as_str()), (5, true, "2"));
    }

    #[tokio::test]
    async fn suspended_deleted_uninstalling_and_revoked_tenants_are_left_alone() {
        let items = installed(5).await;
        let tenants = Tenants::new(items.clone());
        tenants
            .update(&id(0), NOW, |t| t.suspended = true)
            .await
            .unwrap();
        tenants
            .update(&id(1), NOW, |t| t.deleted = true)
            .await
            .unwrap();
        tenants
            .update(&id(2), NOW, |t| t.status = InstallStatus::Uninstalling)
            .await
            .unwrap();
        tenants
            .update(&id(3), NOW, |t| t.consent_revoked = true)
            .await
            .unwrap();
        let queue = Arc::new(Sent::default());
        let tick = rollout(&items, &queue, 10).tick(NOW).await.unwrap();
        assert_eq!(tick.queued, vec![id(4)]);
        assert_eq!(tick.examined, 5);
        // The suspended tenant is taken once it resumes.
        tenants
            .update(&id(0), NOW + 60, |t| t.suspended = false)
            .await
            .unwrap();
        let later = rollout(&items, &queue, 10).tick(NOW + 120).await.unwrap();
        assert_eq!(later.queued, vec![id(0)]);
    }

    #[tokio::test]
    async fn a_repair_in_hand_is_not_overtaken_and_lost_work_is_queued_again_after_six_hours() {
        let items = installed(2).await;
        Tenants::new(items.clone())
            .update(&id(1), NOW, |t| {
                t.reconciling = Some(Reconciling {
                    goal: Goal::Repair,
                    asked_at: NOW,
                    why: "restored".into(),
                    target: None,
                })
            })
            .await
            .unwrap();
        let queue = Arc::new(Sent::default());
        let r = rollout(&items, &queue, 10);
        assert_eq!(r.tick(NOW).await.unwrap().queued, vec![id(0)]);
        assert!(r.tick(NOW + 3600).await.unwrap().queued.is_empty());
        let again = r.tick(NOW + REQUEUE_AFTER + 60).await.unwrap();
        assert_eq!(
            again.queued,
            vec![id(0), id(1)],
            "the lost upgrade and the lost repair are sent again, as upgrades"
        );
    }

    #[tokio::test]
    async fn a_newer_release_starts_its_own_rollout_from_the_beginning() {
        let items = installed(3).await;
        let queue = Arc::new(Sent::default());
        let r2 = rollout(&items, &queue, 2);
        assert_eq!(r2.tick(NOW).await.unwrap().queued.len(), 2);
        let r3 = Rollout::new(items.clone(), queue.clone(), "v3".into(), "3".into(), 5);
        let tick = r3.tick(NOW + 60).await.unwrap();
        assert_eq!(tick.queued.len(), 3, "v3 overtakes the upgrades to v2");
        let p = r3.progress(NOW + 60).await.unwrap().unwrap();
        assert_eq!((p.fingerprint.as_str(), p.queued), ("v3", 3));
    }
}
