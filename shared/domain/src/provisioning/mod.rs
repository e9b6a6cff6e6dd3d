//! The provisioning engine: one reconciler that brings a tenant to a desired set of artifacts,
//! resumably. Install, upgrade, repair and uninstall are the same operation with a different
//! desired state and a different view of the tenant:
//!
//! | operation | desired | what the tenant holds is learned from |
//! |---|---|---|
//! | install | the manifest | the ledger (each step finds its artifact by identity anyway) |
//! | upgrade (a release changed the manifest) | the manifest | the ledger and its fingerprints |
//! | repair (SuperOffice restored or upgraded the tenant) | the manifest | targeted reads of every artifact |
//! | uninstall | nothing | the ledger |
//!
//! [`plan::plan`] turns desired, ledger and (for a repair) observations into steps (create,
//! update, adopt, remove, forget); the engine applies them through one [`kinds::Provision`]
//! implementation per kind of artifact, with the ledger's discipline: an intent before a creation,
//! the SuperOffice id recorded after it, an entry forgotten (uninstall) or marked removed (upgrade)
//! only once its artifact is gone. User-defined fields count as created only once published
//! (publishing renumbers their ids, so they are kept by ProgId). A run that cannot finish in the
//! time it has returns when to continue instead of sleeping; the next run plans again from the
//! ledger and does only what is left. Every WebAPI call checks the tenant's state first (the
//! platform client refuses to call a tenant that is not running).
//!
//! An uninstall asked for while an install, upgrade or repair runs wins: the run stops at its next
//! step and the uninstall removes what it had created. SuperOffice deleting the tenant ends every
//! run the same way, and the purge removes what the app kept.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use superoffice::api::Tenant;
use superoffice::clock::{Clock, unix_seconds};
use superoffice::webapi::{Remedy, TenantAuth, Wait, WebApiError};
use superoffice::{Secret, TenantId};

pub use superoffice::webapi::TenantApi;

use crate::ledger::{EntryState, Ledger, LedgerEntry};
use crate::manifest::{Artifact, Manifest};
use crate::sealing::{self, Sealer};
use crate::store::{Items, StoreError};
use crate::tenant::{AppliedManifest, Goal, InstallStatus, Tenants, Waiting};

mod kinds;
pub mod plan;
mod run;

use kinds::Ensured;
use plan::{Action, Desired, Observations, Observed};
use run::TenantRun;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// Finished: every artifact exists (install), or none is left (removal).
    Done,
    /// Not finished; continue at `until` (the reason is on the tenant record for the status page).
    Continue { until: SystemTime, reason: String },
    /// Stopped for good until a person acts (the problem is on the tenant record).
    Stopped { problem: String },
}

/// What the engine needs, built once per process.
pub struct Engine<I, S, A> {
    pub items: Arc<I>,
    pub manifest: Arc<Manifest>,
    /// The deployment's public base URL, without a trailing slash.
    pub base_url: String,
    pub tenants: Tenants<I>,
    pub ledger: Ledger<I>,
    pub sealer: Arc<S>,
    pub api: Arc<A>,
    pub clock: Arc<dyn Clock>,
}

/// Why one step could not be done now.
pub(crate) enum Halt {
    Wait {
        until: SystemTime,
        reason: &'static str,
        detail: String,
    },
    Stop(String),
    /// SuperOffice refused the app's access to the tenant: stop, and mark the tenant so the pages
    /// say that an administrator must approve the app again.
    Revoked(String),
    /// An uninstall was asked for while the install ran: the install ends, the uninstall follows.
    Superseded,
    Store(StoreError),
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        Halt::Store(e)
    }
}

impl Halt {
    /// Maps a WebAPI failure to waiting or stopping, in words for the status page.
    pub(crate) fn from_api(e: WebApiError, now: SystemTime) -> Halt {
        let at_least = |at: SystemTime, d: Duration| at.max(now + d);
        match e.remedy(now) {
            Remedy::WaitUntil {
                at,
                why: Wait::Throttled,
            } => Halt::Wait {
                until: at_least(at, Duration::from_secs(1)),
                reason: "throttled",
                detail: String::new(),
            },
            Remedy::WaitUntil {
                at,
                why: Wait::Maintenance(status),
            } => Halt::Wait {
                until: at_least(at, Duration::from_secs(5)),
                reason: "maintenance",
                detail: status.as_str().to_owned(),
            },
            Remedy::WaitUntil {
                at,
                why: Wait::Unavailable,
            } => Halt::Wait {
                until: at,
                reason: "unavailable",
                detail: e.code().to_owned(),
            },
            Remedy::GiveUp => match &e {
                WebApiError::TenantNotRunning { status, .. } => Halt::Stop(format!(
                    "SuperOffice reports the tenant as {}; the app cannot be installed.",
                    status.as_str()
                )),
                other => Halt::Stop(format!("The tenant cannot be reached for good ({other}).")),
            },
            Remedy::Reauthorize => Halt::Revoked(match &e {
                WebApiError::SystemUser(superoffice::system_user::SystemUserError::Refused {
                    message,
                }) => format!(
                    "SuperOffice refused the app's access to this tenant ({message}). An administrator must approve the app again: sign in from the install page."
                ),
                WebApiError::SystemUser(
                    superoffice::system_user::SystemUserError::NoSystemToken,
                ) => "The administrator's sign-in carried no system-user token: the app needs the SystemToken claim and an administrator's approval."
                    .into(),
                _ => "SuperOffice no longer accepts the app's access to this tenant. An administrator must approve the app again."
                    .into(),
            }),
            Remedy::Fix => match &e {
                WebApiError::InvalidResponse(what) => bad_answer(what),
                WebApiError::AnswerTooLarge { limit } => Halt::Stop(format!(
                    "SuperOffice answered a request of the install with more than {} MiB, more than the app accepts; asking again would bring the same answer. The app's support has the details (reason answer_too_large).",
                    limit / (1024 * 1024)
                )),
                other => Halt::Stop(format!(
                    "SuperOffice refused a request of the install ({other}). The app's support has the details."
                )),
            },
        }
    }
}

/// Where a run learns what the tenant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// The ledger is trusted (install, upgrade, uninstall): no reads beyond what each step needs.
    Ledger,
    /// Every artifact is looked up in the tenant first (repair).
    Tenant,
}

/// Looks up every artifact the plan may touch: the desired ones through their kind, and those the
/// ledger holds but the manifest no longer declares by their recorded identity.
async fn observe_all<A: TenantApi>(
    run: &mut TenantRun<'_, A>,
    desired: Desired<'_>,
    ledger: &[LedgerEntry],
) -> Result<Observations, Halt> {
    let mut observed = Observations::new();
    let artifacts: &[Artifact] = match desired {
        Desired::Manifest(a) => a,
        Desired::Nothing => &[],
    };
    for artifact in artifacts {
        run.check_time()?;
        observed.insert(artifact.key(), kinds::observe(run, artifact).await?);
    }
    for entry in ledger {
        if observed.contains_key(&entry.key) {
            continue;
        }
        run.check_time()?;
        let found = if kinds::present(run, entry).await? {
            Observed::Present {
                id: entry.superoffice_id.clone().unwrap_or_default(),
                as_declared: true,
            }
        } else {
            Observed::Absent
        };
        observed.insert(entry.key.clone(), found);
    }
    Ok(observed)
}

/// One step of a previewed plan, owned (for `soapp manifest plan`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub action: Action,
    pub key: String,
    pub description: String,
}

/// The plan as a list for people and tools (`soapp manifest plan`).
pub fn planned(
    desired: Desired<'_>,
    ledger: &[LedgerEntry],
    observed: Option<&plan::Observations>,
    base_url: &str,
) -> Vec<Planned> {
    let base = base_url.trim_end_matches('/');
    plan::plan(desired, ledger, observed, |a| a.fingerprint(base))
        .steps
        .iter()
        .map(|s| Planned {
            action: s.action,
            key: s.key.clone(),
            description: match (s.artifact, s.entry) {
                (Some(a), _) => a.describe(base),
                (None, Some(e)) => e.description.clone(),
                (None, None) => String::new(),
            },
        })
        .collect()
}

/// [`Engine::preview`] against the ledger alone: needs only the store (no SuperOffice access).
pub async fn preview_from_ledger<I: Items>(
    items: Arc<I>,
    manifest: &Manifest,
    base_url: &str,
    tenant: &TenantId,
    now: i64,
) -> Result<Vec<Planned>, PreviewError> {
    let record = Tenants::new(items.clone())
        .get(tenant, now)
        .await?
        .ok_or(PreviewError::UnknownTenant)?
        .value;
    let artifacts = manifest.artifacts();
    let desired = if record.status.is_uninstall() {
        Desired::Nothing
    } else {
        Desired::Manifest(&artifacts)
    };
    let ledger = Ledger::new(items).entries(tenant, now).await?;
    Ok(planned(desired, &ledger, None, base_url))
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("the app does not know this tenant")]
    UnknownTenant,
    #[error("the tenant could not be read: {0}")]
    TenantUnreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PreviewError {
    fn from_halt(h: Halt) -> Self {
        match h {
            Halt::Store(e) => PreviewError::Store(e),
            Halt::Wait { reason, detail, .. } => {
                PreviewError::TenantUnreadable(format!("{reason} {detail}").trim().to_owned())
            }
            Halt::Stop(p) | Halt::Revoked(p) => PreviewError::TenantUnreadable(p),
            Halt::Superseded => PreviewError::TenantUnreadable("no longer installed".into()),
        }
    }
}

fn from_unix(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

/// SuperOffice answered something the app cannot use: waiting does not mend it.
pub(crate) fn bad_answer(what: &str) -> Halt {
    Halt::Stop(format!(
        "SuperOffice gave an answer the app does not understand: {what}"
    ))
}

impl<I: Items, S: Sealer, A: TenantApi> Engine<I, S, A> {
    fn now_secs(&self) -> i64 {
        unix_seconds(self.clock.now())
    }

    /// Runs (or resumes) the install of `tenant` until done, or until `deadline` is near.
    pub async fn install(
        &self,
        tenant: &TenantId,
        deadline: SystemTime,
    ) -> Result<Run, StoreError> {
        let now = self.now_secs();
        let Some(record) = self.tenants.get(tenant, now).await? else {
            return Ok(Run::Stopped {
                problem: "no administrator has approved the app for this tenant".into(),
            });
        };
        let record = record.value;
        if record.status.is_uninstall() || record.deleted {
            // An uninstall was asked for (it removes whatever this install created), or SuperOffice
            // deleted the tenant.
            tracing::info!(tenant = %tenant, reason = "install_superseded", "the install is no longer wanted; it ends");
            return Ok(Run::Done);
        }
        let proceed = self
            .tenants
            .update(tenant, now, |t| {
                if t.status.is_uninstall() || t.deleted {
                    return false;
                }
                if t.status != InstallStatus::Installed {
                    t.status = InstallStatus::Installing;
                }
                t.waiting = None;
                t.problem = None;
                true
            })
            .await?;
        if proceed != Some(true) {
            return Ok(Run::Done);
        }
        let artifacts = self.manifest.artifacts();
        if let Err(halt) = self
            .reconcile(
                tenant,
                &record,
                Desired::Manifest(&artifacts),
                Look::Ledger,
                deadline,
            )
            .await
        {
            return self.halt(tenant, halt).await;
        }
        self.finished(tenant, None).await?;
        tracing::info!(
            tenant = %tenant,
            reason = "installed",
            artifacts = artifacts.len(),
            "install finished"
        );
        Ok(Run::Done)
    }

    /// Brings an installed tenant to the manifest: an app upgrade ([`Goal::Upgrade`], trusting the
    /// ledger: only what the new release changed is touched) or a repair ([`Goal::Repair`], after
    /// SuperOffice restored or upgraded the tenant: every artifact is looked up, what is missing is
    /// made again, what a restore brought back after the app removed it is removed again).
    /// Resumable like the install. A tenant not installed (yet) is left to its install, which ends
    /// in the same state; one being uninstalled or deleted is left alone.
    pub async fn reconcile_installed(
        &self,
        tenant: &TenantId,
        goal: Goal,
        deadline: SystemTime,
    ) -> Result<Run, StoreError> {
        let now = self.now_secs();
        let Some(record) = self.tenants.get(tenant, now).await? else {
            return Ok(Run::Done);
        };
        let record = record.value;
        let due = match record.status {
            InstallStatus::Installed => true,
            // A repair also mends an install that stopped or is under way (the install's ledger
            // may say "created" for what a restore took away).
            InstallStatus::Installing | InstallStatus::Queued | InstallStatus::Failed => {
                goal == Goal::Repair && !record.consent_revoked
            }
            _ => false,
        };
        if !due || record.deleted {
            tracing::info!(tenant = %tenant, goal = goal.as_str(), status = record.status.as_str(), reason = "reconcile_not_due", "nothing to bring up to date");
            self.tenants
                .update(tenant, now, |t| {
                    if t.reconciling.as_ref().is_some_and(|r| r.goal == goal) {
                        t.reconciling = None;
                    }
                })
                .await?;
            return Ok(Run::Done);
        }
        self.tenants
            .update(tenant, now, |t| t.waiting = None)
            .await?;
        let artifacts = self.manifest.artifacts();
        let look = match goal {
            Goal::Upgrade => Look::Ledger,
            Goal::Repair => Look::Tenant,
        };
        if let Err(halt) = self
            .reconcile(
                tenant,
                &record,
                Desired::Manifest(&artifacts),
                look,
                deadline,
            )
            .await
        {
            return self.halt(tenant, halt).await;
        }
        self.finished(tenant, Some(goal)).await?;
        tracing::info!(tenant = %tenant, reason = "reconciled", goal = goal.as_str(), version = self.manifest.version_label(), "the tenant holds the manifest's items");
        Ok(Run::Done)
    }

    /// Records that the tenant holds the manifest's artifacts (install, upgrade or repair done).
    async fn finished(&self, tenant: &TenantId, goal: Option<Goal>) -> Result<(), StoreError> {
        let applied = AppliedManifest {
            fingerprint: self.manifest.fingerprint(&self.base_url),
            version: self.manifest.version_label().to_owned(),
            at: self.now_secs(),
        };
        self.tenants
            .update(tenant, self.now_secs(), |t| {
                // An uninstall asked for meanwhile keeps its status: it removes what was created.
                if t.status.is_uninstall() || t.deleted {
                    return;
                }
                let installing = t.status == InstallStatus::Installing;
                if installing || goal == Some(Goal::Repair) {
                    t.status = InstallStatus::Installed;
                    t.problem = None;
                }
                t.waiting = None;
                t.manifest = Some(applied.clone());
                if goal.is_some() || installing {
                    t.reconciling = None;
                }
            })
            .await?;
        Ok(())
    }

    /// The one reconciler: opens the tenant's secrets, reads the ledger (and, for [`Look::Tenant`],
    /// what the tenant holds), plans ([`plan::plan`]) and applies the plan.
    async fn reconcile(
        &self,
        tenant: &TenantId,
        record: &crate::tenant::Tenant,
        desired: Desired<'_>,
        look: Look,
        deadline: SystemTime,
    ) -> Result<(), Halt> {
        let uninstall = matches!(desired, Desired::Nothing);
        let system_token = self
            .open_sealed(
                tenant,
                &record.sealed_system_token,
                "system_token",
                if uninstall {
                    "The app's recorded access to this tenant cannot be opened. An administrator must approve the app again before the app can remove its items."
                } else {
                    "The app's recorded access to this tenant cannot be opened. An administrator must approve the app again: sign in from the install page."
                },
            )
            .await?;
        let webhook_secret = if uninstall {
            None
        } else {
            self.webhook_secret(tenant, &record.sealed_webhook_secret)
                .await?
        };
        if let Some(moved) = record.platform.moved_at {
            // To the end of that second: a state read in the same second may predate the move.
            self.api.tenant_moved(tenant, from_unix(moved + 1));
        }
        let auth = TenantAuth {
            tenant: tenant.clone(),
            system_token,
        };
        let mut run = TenantRun {
            api: Tenant::new(&*self.api, &auth, Some(deadline)),
            tenant,
            base_url: self.base_url.trim_end_matches('/'),
            clock: &*self.clock,
            deadline,
            webhook_secret,
            list_ids: HashMap::new(),
            user_groups: None,
            panels_changed: false,
        };
        let ledger = self.ledger.entries(tenant, self.now_secs()).await?;
        let observed = match look {
            Look::Ledger => None,
            Look::Tenant => Some(observe_all(&mut run, desired, &ledger).await?),
        };
        let base_url = run.base_url;
        let plan = plan::plan(desired, &ledger, observed.as_ref(), |a| {
            a.fingerprint(base_url)
        });
        if !plan.is_empty() {
            let counts: Vec<String> = plan
                .counts()
                .iter()
                .map(|(a, n)| format!("{}={n}", a.as_str()))
                .collect();
            tracing::info!(tenant = %tenant, reason = "plan", plan = %counts.join(" "), "reconciling");
        }
        self.apply(&mut run, &plan, uninstall).await
    }

    /// Applies a plan: removals first (newest first; fields are forgotten once their entity is
    /// published), then the desired artifacts in the manifest's order, each creation between an
    /// intent and a record. Fields wait for their entity's publish, which happens before the next
    /// artifact of another kind (a panel may show a field) and at the end. Removed entries are kept
    /// as [`EntryState::Removed`] while the app stays installed, and forgotten by an uninstall.
    async fn apply(
        &self,
        run: &mut TenantRun<'_, A>,
        plan: &plan::Plan<'_>,
        uninstall: bool,
    ) -> Result<(), Halt> {
        let mut publish: Vec<String> = Vec::new();
        let mut settle_after_publish: Vec<&LedgerEntry> = Vec::new();
        for step in plan.steps.iter().filter(|s| s.artifact.is_none()) {
            let Some(entry) = step.entry else { continue };
            match step.action {
                Action::Remove => {
                    run.check_time()?;
                    self.check_still_wanted(run.tenant, uninstall).await?;
                    match kinds::remove(run, entry).await? {
                        kinds::Gone::Now => self.settle(run.tenant, entry, uninstall).await?,
                        kinds::Gone::AfterPublish { entity } => {
                            if !publish.contains(&entity) {
                                publish.push(entity);
                            }
                            settle_after_publish.push(entry);
                        }
                    }
                }
                Action::Forget => self.settle(run.tenant, entry, uninstall).await?,
                _ => {}
            }
        }
        for entity in &publish {
            kinds::field::publish(run, entity).await?;
        }
        for entry in settle_after_publish {
            self.settle(run.tenant, entry, uninstall).await?;
        }

        let mut awaiting: Vec<(&plan::Step<'_>, String)> = Vec::new();
        for step in plan.steps.iter() {
            let Some(artifact) = step.artifact else {
                continue;
            };
            if step.action == Action::Keep {
                if let (Artifact::List(l), Some(entry)) = (artifact, step.entry)
                    && let Some(id) = kinds::recorded_id(entry.superoffice_id.as_deref())
                {
                    run.list_ids.insert(l.key.clone(), id);
                }
                continue;
            }
            if !matches!(artifact, Artifact::UserDefinedField(_)) {
                self.publish_awaiting(run, &mut awaiting).await?;
            }
            run.check_time()?;
            self.check_still_wanted(run.tenant, uninstall).await?;
            let ensured = match step.action {
                Action::Create => {
                    self.intent(run.tenant, step.seq, artifact).await?;
                    kinds::ensure(run, artifact).await?
                }
                Action::Update => {
                    let id = step.entry.and_then(|e| e.superoffice_id.as_deref());
                    kinds::update(run, artifact, id).await?
                }
                Action::Adopt => Ensured::Exists(step.adopt_id.clone().unwrap_or_default()),
                Action::Keep | Action::Remove | Action::Forget => continue,
            };
            match ensured {
                Ensured::Exists(id) => self.record(run.tenant, step.seq, artifact, id).await?,
                Ensured::AwaitsPublish { entity } => awaiting.push((step, entity)),
            }
        }
        self.publish_awaiting(run, &mut awaiting).await?;
        if uninstall {
            kinds::remove_app_panels_left(run).await?;
        }
        if run.panels_changed {
            superoffice::api::webpanels::flush_caches(&run.api)
                .await
                .map_err(|e| run.halt(e))?;
        }
        Ok(())
    }

    /// A removed (or found gone) artifact's entry: forgotten by an uninstall, kept as removed
    /// otherwise (see [`EntryState::Removed`]).
    async fn settle(
        &self,
        tenant: &TenantId,
        entry: &LedgerEntry,
        uninstall: bool,
    ) -> Result<(), Halt> {
        if uninstall {
            self.ledger.forget(tenant, entry).await?;
        } else if entry.state != EntryState::Removed {
            let mut removed = entry.clone();
            removed.state = EntryState::Removed;
            removed.updated_at = self.now_secs();
            self.ledger.write(tenant, &removed).await?;
        }
        Ok(())
    }

    /// Publishes every entity with fields waiting, then records those fields with their published
    /// ids.
    async fn publish_awaiting(
        &self,
        run: &TenantRun<'_, A>,
        awaiting: &mut Vec<(&plan::Step<'_>, String)>,
    ) -> Result<(), Halt> {
        let mut entities: Vec<String> = awaiting.iter().map(|(_, e)| e.clone()).collect();
        entities.sort();
        entities.dedup();
        for entity in entities {
            kinds::field::publish(run, &entity).await?;
            for (step, _) in awaiting.iter().filter(|(_, e)| *e == entity) {
                let Some(artifact @ Artifact::UserDefinedField(f)) = step.artifact else {
                    continue;
                };
                // ProgId is the identity (ids change at every publish); the id is for reference.
                let id = kinds::field::published_id(run, &entity, &f.prog_id).await?;
                self.record(
                    run.tenant,
                    step.seq,
                    artifact,
                    kinds::field::recorded(&f.prog_id, id),
                )
                .await?;
            }
            awaiting.retain(|(_, e)| *e != entity);
        }
        Ok(())
    }

    /// The plan for `tenant` without applying it (`soapp manifest plan`): against the ledger, or,
    /// with `look_in_tenant`, against what the tenant holds (read-only calls).
    pub async fn preview(
        &self,
        tenant: &TenantId,
        look_in_tenant: bool,
        deadline: SystemTime,
    ) -> Result<Vec<Planned>, PreviewError> {
        let now = self.now_secs();
        let record = self
            .tenants
            .get(tenant, now)
            .await?
            .ok_or(PreviewError::UnknownTenant)?
            .value;
        let artifacts = self.manifest.artifacts();
        let desired = if record.status.is_uninstall() {
            Desired::Nothing
        } else {
            Desired::Manifest(&artifacts)
        };
        let ledger = self.ledger.entries(tenant, now).await?;
        let observed = if look_in_tenant {
            let system_token = self
                .open_sealed(tenant, &record.sealed_system_token, "system_token", "")
                .await
                .map_err(PreviewError::from_halt)?;
            let auth = TenantAuth {
                tenant: tenant.clone(),
                system_token,
            };
            let mut run = TenantRun {
                api: Tenant::new(&*self.api, &auth, Some(deadline)),
                tenant,
                base_url: self.base_url.trim_end_matches('/'),
                clock: &*self.clock,
                deadline,
                webhook_secret: None,
                list_ids: HashMap::new(),
                user_groups: None,
                panels_changed: false,
            };
            Some(
                observe_all(&mut run, desired, &ledger)
                    .await
                    .map_err(PreviewError::from_halt)?,
            )
        } else {
            None
        };
        Ok(planned(desired, &ledger, observed.as_ref(), &self.base_url))
    }

    /// The uninstall of `tenant`: every artifact removed ([`Engine::remove_all`]), the panels
    /// SuperOffice still records as the app's removed too, then everything the app keeps for the
    /// tenant purged, with one audit record left. Resumable: a run that stops early continues where
    /// it stopped; a tenant already purged is done.
    pub async fn uninstall(
        &self,
        tenant: &TenantId,
        deadline: SystemTime,
    ) -> Result<Run, StoreError> {
        let now = self.now_secs();
        let Some(record) = self.tenants.get(tenant, now).await? else {
            return Ok(Run::Done);
        };
        let record = record.value;
        if record.status != InstallStatus::Uninstalling || record.deleted {
            // Stopped (waiting for a person), never asked for, or the tenant deleted (its purge is
            // queued): nothing to do for this delivery.
            tracing::info!(tenant = %tenant, status = record.status.as_str(), reason = "uninstall_not_due", "no uninstall is due");
            return Ok(Run::Done);
        }
        self.tenants
            .update(tenant, now, |t| {
                t.waiting = None;
                t.problem = None;
            })
            .await?;
        match self.remove_all(tenant, deadline).await? {
            Run::Done => {}
            other => return Ok(other),
        }
        // Nothing of the app's is left in SuperOffice: forget the tenant, keep the audit record.
        self.purge(tenant, "uninstall", record.uninstall_requested_by.clone())
            .await?;
        Ok(Run::Done)
    }

    /// Removes everything the app keeps for the tenant, leaving one audit record of `action`.
    /// SuperOffice's Delete push ends here too, without a call to the tenant.
    pub async fn purge(
        &self,
        tenant: &TenantId,
        action: &str,
        by: Option<String>,
    ) -> Result<crate::purge::Purged, StoreError> {
        crate::audit::Audit::new(self.items.clone())
            .record(&crate::audit::AuditRecord {
                tenant: tenant.clone(),
                action: action.into(),
                at: self.now_secs(),
                by,
                result: "completed".into(),
            })
            .await?;
        let purged = crate::purge::Purge::new(self.items.clone())
            .tenant(tenant)
            .await?;
        tracing::info!(tenant = %tenant, reason = "purged", action, sessions = purged.sessions, items = purged.items, "everything kept for the tenant removed");
        Ok(purged)
    }

    /// Stops a run at its next step when it is no longer wanted: an uninstall was asked for while an
    /// install, upgrade or repair ran, or SuperOffice deleted the tenant.
    async fn check_still_wanted(&self, tenant: &TenantId, uninstall: bool) -> Result<(), Halt> {
        match self.tenants.get(tenant, self.now_secs()).await? {
            None => Err(Halt::Superseded),
            Some(t) if t.value.deleted => Err(Halt::Superseded),
            Some(t) if !uninstall && t.value.status.is_uninstall() => Err(Halt::Superseded),
            _ => Ok(()),
        }
    }

    /// Removes every artifact the ledger holds for `tenant`, the newest first, each through its
    /// kind, and forgets each ledger entry once the artifact is gone (already gone counts). Entities
    /// whose fields were removed are published, and the CRM's panel cache flushed, at the end.
    /// Resumable like the install: a run that stops early leaves the ledger holding exactly what is
    /// still there. The uninstall job runs it; nothing the app did not record is touched.
    pub async fn remove_all(
        &self,
        tenant: &TenantId,
        deadline: SystemTime,
    ) -> Result<Run, StoreError> {
        let now = self.now_secs();
        let Some(record) = self.tenants.get(tenant, now).await? else {
            return Ok(Run::Done);
        };
        if let Err(halt) = self
            .reconcile(
                tenant,
                &record.value,
                Desired::Nothing,
                Look::Ledger,
                deadline,
            )
            .await
        {
            return self.halt(tenant, halt).await;
        }
        tracing::info!(tenant = %tenant, reason = "artifacts_removed", "artifacts removed");
        Ok(Run::Done)
    }

    /// The tenant's webhook secret: opened if sealed already, else made and sealed now (before any
    /// webhook is created with it).
    async fn webhook_secret(
        &self,
        tenant: &TenantId,
        sealed: &Option<String>,
    ) -> Result<Option<Secret>, Halt> {
        if self.manifest.webhooks.is_empty() {
            return Ok(None);
        }
        if let Some(sealed) = sealed {
            return self
                .open_sealed(
                    tenant,
                    sealed,
                    "webhook_secret",
                    "The app's recorded webhook secret for this tenant cannot be opened. The app's support has the details.",
                )
                .await
                .map(Some);
        }
        let secret = Secret::new(
            superoffice::oidc::random_token()
                .map_err(|_| Halt::Stop("no randomness for the webhook secret".into()))?,
        );
        let sealed = self
            .sealer
            .seal(&secret, &sealing::context(tenant, "webhook_secret"))
            .await
            .map_err(|e| self.key_service_unavailable(tenant, &e))?;
        self.tenants
            .update(tenant, self.now_secs(), |t| {
                t.sealed_webhook_secret = Some(sealed.clone())
            })
            .await?;
        Ok(Some(secret))
    }

    /// Opens a secret sealed for this tenant and purpose. One that does not open with them
    /// (tampered, another tenant's) stops the install with `unreadable` for a person, since waiting
    /// cannot mend it; the key service being unavailable only waits.
    async fn open_sealed(
        &self,
        tenant: &TenantId,
        sealed: &str,
        purpose: &str,
        unreadable: &str,
    ) -> Result<Secret, Halt> {
        match self
            .sealer
            .open(sealed, &sealing::context(tenant, purpose))
            .await
        {
            Ok(s) => Ok(s),
            Err(sealing::SealError::WrongContext) => {
                tracing::warn!(
                    tenant = %tenant,
                    reason = "sealed_value_unreadable",
                    purpose,
                    "a sealed value does not open"
                );
                Err(Halt::Stop(unreadable.to_owned()))
            }
            Err(e) => Err(self.key_service_unavailable(tenant, &e)),
        }
    }

    fn key_service_unavailable(&self, tenant: &TenantId, e: &sealing::SealError) -> Halt {
        tracing::warn!(tenant = %tenant, reason = "key_service_unavailable", error = %e, "the key service is unavailable");
        Halt::Wait {
            until: self.clock.now() + Duration::from_secs(30),
            reason: "unavailable",
            detail: "key service".into(),
        }
    }

    async fn halt(&self, tenant: &TenantId, halt: Halt) -> Result<Run, StoreError> {
        match halt {
            Halt::Wait {
                until,
                reason,
                detail,
            } => self.wait(tenant, until, reason, &detail).await,
            Halt::Stop(problem) => self.stop(tenant, problem).await,
            Halt::Revoked(problem) => {
                self.tenants
                    .update(tenant, self.now_secs(), |t| t.consent_revoked = true)
                    .await?;
                self.stop(tenant, problem).await
            }
            Halt::Superseded => {
                tracing::info!(tenant = %tenant, reason = "install_superseded", "an uninstall was asked for; the install ends");
                Ok(Run::Done)
            }
            Halt::Store(e) => Err(e),
        }
    }

    async fn wait(
        &self,
        tenant: &TenantId,
        until: SystemTime,
        reason: &str,
        detail: &str,
    ) -> Result<Run, StoreError> {
        let at = unix_seconds(until);
        self.tenants
            .update(tenant, self.now_secs(), |t| {
                t.waiting = Some(Waiting {
                    until: at,
                    reason: reason.to_owned(),
                    detail: detail.to_owned(),
                })
            })
            .await?;
        tracing::info!(
            tenant = %tenant,
            reason,
            detail,
            until = at,
            "install continues later"
        );
        Ok(Run::Continue {
            until,
            reason: reason.to_owned(),
        })
    }

    /// Stops the tenant's install with a problem for a person (also when the worker gives up on a
    /// job).
    pub async fn stop(&self, tenant: &TenantId, problem: String) -> Result<Run, StoreError> {
        self.tenants.fail(tenant, self.now_secs(), &problem).await?;
        tracing::warn!(tenant = %tenant, reason = "install_stopped", problem = %problem, "install stopped");
        Ok(Run::Stopped { problem })
    }

    fn entry(
        &self,
        seq: u32,
        artifact: &Artifact,
        state: EntryState,
        id: Option<String>,
    ) -> LedgerEntry {
        LedgerEntry {
            seq,
            key: artifact.key(),
            kind: artifact.kind().to_owned(),
            description: artifact.describe(&self.base_url),
            shown_as: artifact.describe_for_customer(),
            state,
            superoffice_id: id,
            fingerprint: Some(artifact.fingerprint(&self.base_url)),
            updated_at: self.now_secs(),
        }
    }

    /// Records progress: the artifact at `seq` exists.
    async fn record(
        &self,
        tenant: &TenantId,
        seq: u32,
        artifact: &Artifact,
        id: String,
    ) -> Result<(), Halt> {
        self.ledger
            .write(
                tenant,
                &self.entry(seq, artifact, EntryState::Created, Some(id)),
            )
            .await?;
        Ok(())
    }

    /// Records that the artifact at `seq` is about to be created.
    async fn intent(&self, tenant: &TenantId, seq: u32, artifact: &Artifact) -> Result<(), Halt> {
        self.ledger
            .write(tenant, &self.entry(seq, artifact, EntryState::Intent, None))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use superoffice::clock::ManualClock;

    use superoffice::webapi::{ApiRequest, ApiResponse};

    use super::*;
    use crate::sealing::testing::TestSealer;
    use crate::store::memory::MemoryItems;
    use crate::tenant::Consent;

    const NOW: i64 = 1_800_000_000;

    /// Counts calls and refuses them all: these runs must stop before calling SuperOffice.
    #[derive(Default)]
    struct NoApi(AtomicUsize);

    impl TenantApi for NoApi {
        async fn call(
            &self,
            _: &TenantAuth,
            _: &ApiRequest,
            _: Option<SystemTime>,
        ) -> Result<ApiResponse, WebApiError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(WebApiError::Unauthorized)
        }
    }

    struct Fixture {
        engine: Engine<MemoryItems, TestSealer, NoApi>,
    }

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    async fn fixture() -> Fixture {
        let items = Arc::new(MemoryItems::new());
        let sealer = Arc::new(TestSealer);
        let engine = Engine {
            items: items.clone(),
            manifest: Arc::new(Manifest::demo()),
            base_url: "https://app.example".into(),
            tenants: Tenants::new(items.clone()),
            ledger: Ledger::new(items),
            sealer,
            api: Arc::new(NoApi::default()),
            clock: Arc::new(ManualClock::at_unix(NOW)),
        };
        Fixture { engine }
    }

    async fn sealed(
        engine: &Engine<MemoryItems, TestSealer, NoApi>,
        owner: &str,
        purpose: &str,
    ) -> String {
        engine
            .sealer
            .seal(
                &Secret::new("s3cr3t"),
                &sealing::context(&tenant(owner), purpose),
            )
            .await
            .unwrap()
    }

    async fn consented(f: &Fixture, system_token_for: &str, webhook_secret_for: Option<&str>) {
        let e = &f.engine;
        let consent = Consent {
            tenant: tenant("Cust12345"),
            company: None,
            sealed_system_token: sealed(e, system_token_for, "system_token").await,
            approved_by: "admin@example.com".into(),
        };
        e.tenants.record_consent(&consent, NOW).await.unwrap();
        if let Some(owner) = webhook_secret_for {
            let secret = sealed(e, owner, "webhook_secret").await;
            e.tenants
                .update(&tenant("Cust12345"), NOW, |t| {
                    t.sealed_webhook_secret = Some(secret.clone())
                })
                .await
                .unwrap();
        }
    }

    async fn run_and_expect_stop(f: &Fixture, words: &str) {
        let run = f
            .engine
            .install(&tenant("Cust12345"), from_unix(NOW + 600))
            .await
            .unwrap();
        let Run::Stopped { problem } = run else {
            panic!("expected a stop, got {run:?}");
        };
        assert!(problem.contains(words), "{problem}");
        let tenant = f
            .engine
            .tenants
            .get(&tenant("Cust12345"), NOW)
            .await
            .unwrap()
            .unwrap()
            .value;
        assert_eq!(tenant.status, InstallStatus::Failed);
        assert_eq!(tenant.problem.as_deref(), Some(problem.as_str()));
        assert!(tenant.waiting.is_none(), "a stop is not a wait");
        assert_eq!(
            f.engine.api.0.load(Ordering::SeqCst),
            0,
            "no call to SuperOffice"
        );
    }

    fn from_unix(secs: i64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    }

    #[tokio::test]
    async fn a_system_token_sealed_for_another_tenant_stops_the_install() {
        let f = fixture().await;
        consented(&f, "Cust67890", None).await;
        run_and_expect_stop(&f, "must approve the app again").await;
    }

    #[tokio::test]
    async fn a_webhook_secret_sealed_for_another_tenant_stops_instead_of_waiting_for_hours() {
        let f = fixture().await;
        consented(&f, "Cust12345", Some("Cust67890")).await;
        run_and_expect_stop(&f, "webhook secret").await;
    }
}
