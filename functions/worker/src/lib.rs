//! The job worker: takes install jobs from the queue and runs the provisioning engine.
//!
//! A job never sleeps past its time: when the engine says "continue at T" (throttled, maintenance,
//! out of time), the job goes back to the queue to be delivered at T. Jobs of one tenant never run
//! at once (the queue's message group); a crash or a timeout brings the job back and the ledger lets
//! it resume where it stopped.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use domain::config::AppConfig;
use domain::jobs::{GIVE_UP_AT, Job, JobKind, Outcome};
use domain::ledger::Ledger;
use domain::manifest::Manifest;
use domain::provisioning::{Engine, Run, TenantApi};
use domain::sealing::Sealer;
use domain::secrets::SecretLoader;
use domain::store::Items;
use domain::tenant::Tenants;
use domain::usage::DailyUsage;
use superoffice::clock::{Clock, RandomJitter, SystemClock, unix_seconds};
use superoffice::transport::ReqwestTransport;
use superoffice::webapi::WebApi;

/// Time kept back from the Lambda deadline for recording the outcome.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// How long a job waits when the worker itself cannot be built yet (a secret or SuperOffice's
/// discovery unreachable, or the configuration incomplete).
pub const NOT_READY_WAIT: Duration = Duration::from_secs(60);

/// The worker as deployed (Lambda and `soapp serve`): built from the configuration on its first
/// job rather than at start. Building reads two secrets and SuperOffice's discovery document; doing
/// that at start would turn a short outage of either into a failed Lambda initialisation (and, in
/// the local runner, into installs that never run), where a job can simply come back later.
pub struct AppWorker<I, S> {
    config: Arc<AppConfig>,
    secrets: Arc<SecretLoader>,
    items: Arc<I>,
    sealer: Arc<S>,
    manifest: Arc<Manifest>,
    worker: tokio::sync::OnceCell<Worker<I, S, WebApi>>,
}

impl<I: Items, S: Sealer> AppWorker<I, S> {
    pub fn new(
        config: Arc<AppConfig>,
        secrets: Arc<SecretLoader>,
        items: Arc<I>,
        sealer: Arc<S>,
        manifest: Arc<Manifest>,
    ) -> Self {
        Self {
            config,
            secrets,
            items,
            sealer,
            manifest,
            worker: tokio::sync::OnceCell::new(),
        }
    }

    async fn build(&self) -> Result<Worker<I, S, WebApi>, String> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let access = domain::runtime::tenant_access(
            &self.config,
            &self.secrets,
            self.items.clone(),
            Arc::new(ReqwestTransport::new().map_err(|e| e.to_string())?),
            clock.clone(),
            Arc::new(RandomJitter),
        )
        .await?;
        Ok(Worker {
            engine: Engine {
                manifest: self.manifest.clone(),
                base_url: self
                    .config
                    .base_url
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
                tenants: Tenants::new(self.items.clone()),
                ledger: Ledger::new(self.items.clone()),
                sealer: self.sealer.clone(),
                api: access.webapi,
                clock,
            },
            usage: access.usage,
        })
    }

    /// Runs one delivery of `job`, building the worker first if this is its first job.
    pub async fn process(&self, job: &Job, delivery: u32, deadline: SystemTime) -> Outcome {
        match self.worker.get_or_try_init(|| self.build()).await {
            Ok(worker) => worker.process(job, delivery, deadline).await,
            Err(e) => {
                tracing::error!(reason = "worker_not_ready", tenant = %job.tenant, error = %e, "the worker cannot start; the job comes back later");
                if delivery < GIVE_UP_AT {
                    return Outcome::RetryAfter(NOT_READY_WAIT);
                }
                let now = unix_seconds(SystemTime::now());
                let problem = "The app could not start its installer for hours; its configuration needs a person (the app's support has the details).";
                match Tenants::new(self.items.clone())
                    .fail(&job.tenant, now, problem)
                    .await
                {
                    Ok(()) => Outcome::Done,
                    Err(_) => Outcome::RetryAfter(NOT_READY_WAIT),
                }
            }
        }
    }
}

pub struct Worker<I, S, A> {
    pub engine: Engine<I, S, A>,
    pub usage: Arc<DailyUsage<I>>,
}

impl<I: Items, S: Sealer, A: TenantApi> Worker<I, S, A> {
    /// Runs one delivery of `job` (its `delivery`-th), to be done by `deadline`.
    pub async fn process(&self, job: &Job, delivery: u32, deadline: SystemTime) -> Outcome {
        if delivery >= GIVE_UP_AT {
            let problem = format!(
                "The install was put back {delivery} times (SuperOffice kept throttling or was unavailable) and has stopped. Press Try again to continue where it stopped."
            );
            if let Err(e) = self.engine.stop(&job.tenant, problem).await {
                tracing::error!(tenant = %job.tenant, error = %e, "could not record the stop");
                return Outcome::RetryAfter(Duration::from_secs(30));
            }
            return Outcome::Done;
        }
        let outcome = match job.kind {
            JobKind::Install => match self.engine.install(&job.tenant, deadline).await {
                Ok(Run::Installed) | Ok(Run::Stopped { .. }) => Outcome::Done,
                Ok(Run::Continue { until, reason }) => {
                    let wait = until
                        .duration_since(self.engine.clock.now())
                        .unwrap_or_default()
                        .max(Duration::from_secs(1));
                    tracing::info!(tenant = %job.tenant, reason = %reason, wait_s = wait.as_secs(), "job put back");
                    Outcome::RetryAfter(wait)
                }
                Err(e) => {
                    tracing::error!(tenant = %job.tenant, reason = "store_unavailable", error = %e, "job failed; retrying");
                    Outcome::RetryAfter(Duration::from_secs(30))
                }
            },
        };
        if let Err(e) = self.usage.flush().await {
            tracing::warn!(reason = "usage_flush_failed", error = %e, "usage not recorded yet");
        }
        outcome
    }
}
