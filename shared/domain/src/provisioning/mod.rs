//! The provisioning engine: puts the manifest's artifacts into a tenant, resumably.
//!
//! A run checks the tenant's state (through the WebAPI client, which refuses to call a tenant that
//! is not running), then walks the manifest in order. For each artifact it writes an intent to the
//! ledger, finds the artifact in SuperOffice by its stable identity or creates it, and records the
//! SuperOffice id. User-defined fields count as created only once published (publishing renumbers
//! their ids, so they are kept by ProgId). A run that cannot finish in the time it has returns when
//! to continue instead of sleeping; the next run skips what the ledger already holds.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use superoffice::clock::{Clock, unix_seconds};
use superoffice::system_user::SystemUserError;
use superoffice::tenant_state::TenantStatus;
use superoffice::webapi::{ApiRequest, ApiResponse, TenantAuth, WebApi, WebApiError};
use superoffice::{ContextId, Secret};

use crate::ledger::{EntryState, Ledger, LedgerEntry};
use crate::manifest::{Artifact, Manifest};
use crate::sealing::{self, Sealer};
use crate::store::{Items, StoreError};
use crate::tenant::{InstallStatus, Tenants, Waiting};

mod artifacts;

/// The WebAPI as the engine needs it (the real client, or a fake in unit tests).
pub trait TenantApi: Send + Sync + 'static {
    fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> impl Future<Output = Result<ApiResponse, WebApiError>> + Send;
}

impl TenantApi for WebApi {
    fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> impl Future<Output = Result<ApiResponse, WebApiError>> + Send {
        WebApi::call(self, auth, request, deadline)
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// Every artifact exists; the tenant is installed.
    Installed,
    /// Not finished; continue at `until` (the reason is on the tenant record for the status page).
    Continue { until: SystemTime, reason: String },
    /// Stopped for good until a person acts (the problem is on the tenant record).
    Stopped { problem: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the store is unavailable")]
    Store(#[from] StoreError),
}

/// What the engine needs, built once per process.
pub struct Engine<I, S, A> {
    pub manifest: Arc<Manifest>,
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
        let later = |d: Duration| now + d;
        match e {
            WebApiError::TenantNotRunning {
                status,
                check_again_at,
            } if !status.is_terminal() => Halt::Wait {
                until: check_again_at.max(later(Duration::from_secs(5))),
                reason: "maintenance",
                detail: status.as_str().to_owned(),
            },
            WebApiError::TenantNotRunning { status, .. } => Halt::Stop(format!(
                "SuperOffice reports the tenant as {}; the app cannot be installed.",
                status.as_str()
            )),
            WebApiError::Throttled { retry_after } => Halt::Wait {
                until: later(retry_after.max(Duration::from_secs(1))),
                reason: "throttled",
                detail: String::new(),
            },
            ref other @ (WebApiError::Unavailable { .. }
            | WebApiError::Misdirected
            | WebApiError::TenantState(_)
            | WebApiError::SystemUser(SystemUserError::Unavailable(_))
            | WebApiError::SystemUser(SystemUserError::UnexpectedStatus(_))
            | WebApiError::SystemUser(SystemUserError::KeysUnavailable(_))) => Halt::Wait {
                until: other.retry_at(now).unwrap_or_else(|| later(Duration::from_secs(30))),
                reason: "unavailable",
                detail: other.code().to_owned(),
            },
            WebApiError::SystemUser(SystemUserError::Refused { message }) => Halt::Stop(format!(
                "SuperOffice refused the app's access to this tenant ({message}). An administrator must approve the app again: sign in from the install page."
            )),
            WebApiError::Unauthorized => Halt::Stop(
                "SuperOffice no longer accepts the app's access to this tenant. An administrator must approve the app again."
                    .into(),
            ),
            WebApiError::SystemUser(SystemUserError::NoSystemToken) => Halt::Stop(
                "The administrator's sign-in carried no system-user token: the app needs the SystemToken claim and an administrator's approval."
                    .into(),
            ),
            other => Halt::Stop(format!(
                "SuperOffice refused a request of the install ({other}). The app's support has the details."
            )),
        }
    }
}

impl<I: Items, S: Sealer, A: TenantApi> Engine<I, S, A> {
    fn now_secs(&self) -> i64 {
        unix_seconds(self.clock.now())
    }

    /// Runs (or resumes) the install of `ctx` until done, or until `deadline` is near.
    pub async fn install(&self, ctx: &str, deadline: SystemTime) -> Result<Run, EngineError> {
        let now = self.now_secs();
        let Some(tenant) = self.tenants.get(ctx, now).await? else {
            return Ok(Run::Stopped {
                problem: "no administrator has approved the app for this tenant".into(),
            });
        };
        let tenant = tenant.value;
        let Ok(context_id) = ContextId::parse(ctx) else {
            return self.stop(ctx, "the tenant id is not valid".into()).await;
        };
        let system_token = match self
            .sealer
            .open(
                &tenant.sealed_system_token,
                &sealing::context(ctx, "system_token"),
            )
            .await
        {
            Ok(t) => t,
            Err(sealing::SealError::WrongContext) => {
                return self
                    .stop(ctx, "the recorded system token cannot be opened; an administrator must approve the app again".into())
                    .await;
            }
            Err(e) => {
                tracing::warn!(tenant = ctx, error = %e, "the key service is unavailable");
                return self
                    .wait(
                        ctx,
                        self.clock.now() + Duration::from_secs(30),
                        "unavailable",
                        "key service",
                    )
                    .await;
            }
        };
        let webhook_secret = match self
            .webhook_secret(ctx, &tenant.sealed_webhook_secret)
            .await
        {
            Ok(s) => s,
            Err(Halt::Store(e)) => return Err(e.into()),
            Err(halt) => return self.halt(ctx, halt).await,
        };
        let artifacts = self.manifest.artifacts();
        let total = artifacts.len() as u32;
        self.tenants
            .update(ctx, now, |t| {
                if t.status != InstallStatus::Installed {
                    t.status = InstallStatus::Installing;
                }
                t.waiting = None;
                t.problem = None;
                t.artifacts_total = total;
            })
            .await?;

        let auth = TenantAuth {
            context: context_id,
            system_token,
        };
        let mut step = artifacts::Step {
            engine: self,
            ctx,
            auth: &auth,
            deadline: Some(deadline),
            webhook_secret,
            list_ids: HashMap::new(),
            panels: None,
            user_groups: None,
        };
        let entries: HashMap<String, LedgerEntry> = self
            .ledger
            .entries(ctx, now)
            .await?
            .into_iter()
            .map(|e| (e.key.clone(), e))
            .collect();
        match step.run_all(&artifacts, &entries).await {
            Ok(()) => {}
            Err(Halt::Store(e)) => return Err(e.into()),
            Err(halt) => return self.halt(ctx, halt).await,
        }
        self.tenants
            .update(ctx, self.now_secs(), |t| {
                t.status = InstallStatus::Installed;
                t.artifacts_done = total;
                t.waiting = None;
                t.problem = None;
            })
            .await?;
        tracing::info!(
            tenant = ctx,
            reason = "installed",
            artifacts = total,
            "install finished"
        );
        Ok(Run::Installed)
    }

    /// The tenant's webhook secret: opened if sealed already, else made and sealed now (before any
    /// webhook is created with it).
    async fn webhook_secret(
        &self,
        ctx: &str,
        sealed: &Option<String>,
    ) -> Result<Option<Secret>, Halt> {
        if self.manifest.webhooks.is_empty() {
            return Ok(None);
        }
        let context = sealing::context(ctx, "webhook_secret");
        if let Some(sealed) = sealed {
            return match self.sealer.open(sealed, &context).await {
                Ok(s) => Ok(Some(s)),
                Err(e) => Err(Halt::Wait {
                    until: self.clock.now() + Duration::from_secs(30),
                    reason: "unavailable",
                    detail: format!("key service: {e}"),
                }),
            };
        }
        let secret = Secret::new(
            superoffice::oidc::random_token()
                .map_err(|_| Halt::Stop("no randomness for the webhook secret".into()))?,
        );
        let sealed = self
            .sealer
            .seal(&secret, &context)
            .await
            .map_err(|e| Halt::Wait {
                until: self.clock.now() + Duration::from_secs(30),
                reason: "unavailable",
                detail: format!("key service: {e}"),
            })?;
        self.tenants
            .update(ctx, self.now_secs(), |t| {
                t.sealed_webhook_secret = Some(sealed.clone())
            })
            .await?;
        Ok(Some(secret))
    }

    async fn halt(&self, ctx: &str, halt: Halt) -> Result<Run, EngineError> {
        match halt {
            Halt::Wait {
                until,
                reason,
                detail,
            } => self.wait(ctx, until, reason, &detail).await,
            Halt::Stop(problem) => self.stop(ctx, problem).await,
            Halt::Store(e) => Err(e.into()),
        }
    }

    async fn wait(
        &self,
        ctx: &str,
        until: SystemTime,
        reason: &str,
        detail: &str,
    ) -> Result<Run, EngineError> {
        let at = unix_seconds(until);
        self.tenants
            .update(ctx, self.now_secs(), |t| {
                t.waiting = Some(Waiting {
                    until: at,
                    reason: reason.to_owned(),
                    detail: detail.to_owned(),
                })
            })
            .await?;
        tracing::info!(
            tenant = ctx,
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

    /// Stops the tenant's install with a problem for a person (the worker gives up on a job).
    pub async fn give_up(&self, ctx: &str, problem: String) -> Result<Run, EngineError> {
        self.stop(ctx, problem).await
    }

    async fn stop(&self, ctx: &str, problem: String) -> Result<Run, EngineError> {
        self.tenants
            .update(ctx, self.now_secs(), |t| {
                t.status = InstallStatus::Failed;
                t.waiting = None;
                t.problem = Some(problem.clone());
            })
            .await?;
        tracing::warn!(tenant = ctx, reason = "install_stopped", problem = %problem, "install stopped");
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
            state,
            superoffice_id: id,
            updated_at: self.now_secs(),
        }
    }

    /// Records progress: the artifact at `seq` exists.
    pub(crate) async fn record(
        &self,
        ctx: &str,
        seq: u32,
        artifact: &Artifact,
        id: String,
    ) -> Result<(), Halt> {
        self.ledger
            .write(
                ctx,
                &self.entry(seq, artifact, EntryState::Created, Some(id)),
            )
            .await?;
        self.tenants
            .update(ctx, self.now_secs(), |t| {
                t.artifacts_done = (seq + 1).min(t.artifacts_total)
            })
            .await?;
        Ok(())
    }

    /// Records that the artifact at `seq` is about to be created.
    pub(crate) async fn intent(
        &self,
        ctx: &str,
        seq: u32,
        artifact: &Artifact,
    ) -> Result<(), Halt> {
        self.ledger
            .write(ctx, &self.entry(seq, artifact, EntryState::Intent, None))
            .await?;
        Ok(())
    }
}

/// Whether a tenant state means the tenant is gone for good.
pub fn is_gone(status: &TenantStatus) -> bool {
    status.is_terminal()
}
