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
    pub async fn install(&self, ctx: &str, deadline: SystemTime) -> Result<Run, StoreError> {
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
        let secrets = async {
            let system_token = self
                .open_sealed(
                    ctx,
                    &tenant.sealed_system_token,
                    "system_token",
                    "The app's recorded access to this tenant cannot be opened. An administrator must approve the app again: sign in from the install page.",
                )
                .await?;
            let webhook_secret = self
                .webhook_secret(ctx, &tenant.sealed_webhook_secret)
                .await?;
            Ok::<_, Halt>((system_token, webhook_secret))
        };
        let (system_token, webhook_secret) = match secrets.await {
            Ok(s) => s,
            Err(halt) => return self.halt(ctx, halt).await,
        };
        let artifacts = self.manifest.artifacts();
        self.tenants
            .update(ctx, now, |t| {
                if t.status != InstallStatus::Installed {
                    t.status = InstallStatus::Installing;
                }
                t.waiting = None;
                t.problem = None;
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
            deadline,
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
        if let Err(halt) = step.run_all(&artifacts, &entries).await {
            return self.halt(ctx, halt).await;
        }
        self.tenants
            .update(ctx, self.now_secs(), |t| {
                t.status = InstallStatus::Installed;
                t.waiting = None;
                t.problem = None;
            })
            .await?;
        tracing::info!(
            tenant = ctx,
            reason = "installed",
            artifacts = artifacts.len(),
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
        if let Some(sealed) = sealed {
            return self
                .open_sealed(
                    ctx,
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
            .seal(&secret, &sealing::context(ctx, "webhook_secret"))
            .await
            .map_err(|e| self.key_service_unavailable(ctx, &e))?;
        self.tenants
            .update(ctx, self.now_secs(), |t| {
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
        ctx: &str,
        sealed: &str,
        purpose: &str,
        unreadable: &str,
    ) -> Result<Secret, Halt> {
        match self
            .sealer
            .open(sealed, &sealing::context(ctx, purpose))
            .await
        {
            Ok(s) => Ok(s),
            Err(sealing::SealError::WrongContext) => {
                tracing::warn!(
                    tenant = ctx,
                    reason = "sealed_value_unreadable",
                    purpose,
                    "a sealed value does not open"
                );
                Err(Halt::Stop(unreadable.to_owned()))
            }
            Err(e) => Err(self.key_service_unavailable(ctx, &e)),
        }
    }

    fn key_service_unavailable(&self, ctx: &str, e: &sealing::SealError) -> Halt {
        tracing::warn!(tenant = ctx, reason = "key_service_unavailable", error = %e, "the key service is unavailable");
        Halt::Wait {
            until: self.clock.now() + Duration::from_secs(30),
            reason: "unavailable",
            detail: "key service".into(),
        }
    }

    async fn halt(&self, ctx: &str, halt: Halt) -> Result<Run, StoreError> {
        match halt {
            Halt::Wait {
                until,
                reason,
                detail,
            } => self.wait(ctx, until, reason, &detail).await,
            Halt::Stop(problem) => self.stop(ctx, problem).await,
            Halt::Store(e) => Err(e),
        }
    }

    async fn wait(
        &self,
        ctx: &str,
        until: SystemTime,
        reason: &str,
        detail: &str,
    ) -> Result<Run, StoreError> {
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

    /// Stops the tenant's install with a problem for a person (also when the worker gives up on a
    /// job).
    pub async fn stop(&self, ctx: &str, problem: String) -> Result<Run, StoreError> {
        self.tenants.fail(ctx, self.now_secs(), &problem).await?;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use superoffice::clock::ManualClock;

    use super::*;
    use crate::sealing::LocalSealer;
    use crate::store::embedded::EmbeddedItems;
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
        _dir: tempfile::TempDir,
        engine: Engine<EmbeddedItems, LocalSealer, NoApi>,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let items = Arc::new(EmbeddedItems::open(&dir.path().join("db")).unwrap());
        let sealer = Arc::new(LocalSealer::open_or_create(&dir.path().join("key")).unwrap());
        let engine = Engine {
            manifest: Arc::new(Manifest::demo()),
            base_url: "https://app.example".into(),
            tenants: Tenants::new(items.clone()),
            ledger: Ledger::new(items),
            sealer,
            api: Arc::new(NoApi::default()),
            clock: Arc::new(ManualClock::at_unix(NOW)),
        };
        Fixture { _dir: dir, engine }
    }

    async fn sealed(
        engine: &Engine<EmbeddedItems, LocalSealer, NoApi>,
        ctx: &str,
        purpose: &str,
    ) -> String {
        engine
            .sealer
            .seal(&Secret::new("s3cr3t"), &sealing::context(ctx, purpose))
            .await
            .unwrap()
    }

    async fn consented(f: &Fixture, system_token_for: &str, webhook_secret_for: Option<&str>) {
        let e = &f.engine;
        let consent = Consent {
            context_id: "Cust12345".into(),
            company: None,
            sealed_system_token: sealed(e, system_token_for, "system_token").await,
            approved_by: "admin@example.com".into(),
        };
        e.tenants.record_consent(&consent, NOW).await.unwrap();
        if let Some(owner) = webhook_secret_for {
            let secret = sealed(e, owner, "webhook_secret").await;
            e.tenants
                .update("Cust12345", NOW, |t| {
                    t.sealed_webhook_secret = Some(secret.clone())
                })
                .await
                .unwrap();
        }
    }

    async fn run_and_expect_stop(f: &Fixture, words: &str) {
        let run = f
            .engine
            .install("Cust12345", from_unix(NOW + 600))
            .await
            .unwrap();
        let Run::Stopped { problem } = run else {
            panic!("expected a stop, got {run:?}");
        };
        assert!(problem.contains(words), "{problem}");
        let tenant = f
            .engine
            .tenants
            .get("Cust12345", NOW)
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
