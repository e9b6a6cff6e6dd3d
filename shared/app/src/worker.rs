//! The job worker as deployed (Lambda and `soapp serve`): built from the deployment on its first job
//! rather than at start. Building reads two secrets and SuperOffice's discovery document; doing that
//! at start would turn a short outage of either into a failed Lambda initialisation (and, in the
//! local runner, into installs that never run), where a job can simply come back later.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::telemetry::metrics::JobOutcome;
use domain::jobs::worker::Worker;
use domain::jobs::{GIVE_UP_AT, Job, JobHandler, Outcome};
use domain::ledger::Ledger;
use domain::provisioning::Engine;
use domain::tenant::Tenants;
use domain::{Deployment, Ports};
use superoffice::clock::unix_seconds;
use superoffice::webapi::WebApi;

use crate::platform::{Io, tenant_access};

/// How long a job waits when the worker itself cannot be built yet (a secret or SuperOffice's
/// discovery unreachable, or the configuration incomplete).
pub const NOT_READY_WAIT: Duration = Duration::from_secs(60);

type Built<P> = Worker<<P as Ports>::Items, <P as Ports>::Sealer, WebApi>;

pub struct LazyWorker<P: Ports> {
    deployment: Deployment<P>,
    worker: tokio::sync::OnceCell<Built<P>>,
}

impl<P: Ports> LazyWorker<P> {
    pub fn new(deployment: Deployment<P>) -> Self {
        Self {
            deployment,
            worker: tokio::sync::OnceCell::new(),
        }
    }

    async fn build(&self) -> Result<Built<P>, String> {
        let (engine, usage) = engine(&self.deployment).await?;
        Ok(Worker { engine, usage })
    }
}

/// The provisioning engine as the worker runs it (the system user's WebAPI client, the clock),
/// and the usage recorder its calls report to. `soapp manifest plan --look-in-tenant` previews
/// with the same.
pub async fn engine<P: Ports>(
    d: &Deployment<P>,
) -> Result<
    (
        Engine<P::Items, P::Sealer, WebApi>,
        Arc<domain::usage::DailyUsage<P::Items>>,
    ),
    String,
> {
    let io = Io::real().map_err(|e| e.to_string())?;
    let clock = io.clock.clone();
    let access = tenant_access(&d.config, &*d.secrets, d.items.clone(), io).await?;
    Ok((
        Engine {
            items: d.items.clone(),
            manifest: d.manifest.clone(),
            base_url: d.config.base_url.as_str().trim_end_matches('/').to_owned(),
            tenants: Tenants::new(d.items.clone()),
            ledger: Ledger::new(d.items.clone()),
            sealer: d.sealer.clone(),
            api: access.webapi,
            clock,
        },
        access.usage,
    ))
}

impl<P: Ports> JobHandler for LazyWorker<P> {
    async fn process(&self, job: &Job, delivery: u32, deadline: SystemTime) -> Outcome {
        match self.worker.get_or_try_init(|| self.build()).await {
            Ok(worker) => worker.process(job, delivery, deadline).await,
            Err(e) => {
                tracing::error!(reason = "worker_not_ready", tenant = %job.tenant, error = %e, "the worker cannot start; the job comes back later");
                let count = |outcome| {
                    ::telemetry::metrics::job(
                        job.kind.as_str(),
                        outcome,
                        job.tenant.as_str(),
                        "worker_not_ready",
                    )
                };
                if delivery < GIVE_UP_AT {
                    count(JobOutcome::PutBack);
                    return Outcome::RetryAfter(NOT_READY_WAIT);
                }
                let now = unix_seconds(SystemTime::now());
                let problem = "The app could not start its installer for hours; its configuration needs a person (the app's support has the details).";
                match Tenants::new(self.deployment.items.clone())
                    .fail(&job.tenant, now, problem)
                    .await
                {
                    Ok(()) => {
                        count(JobOutcome::Failed);
                        Outcome::Done
                    }
                    Err(_) => {
                        count(JobOutcome::PutBack);
                        Outcome::RetryAfter(NOT_READY_WAIT)
                    }
                }
            }
        }
    }
}

/// The worker for a deployment, shared by the queue's consumers.
pub fn lazy<P: Ports>(deployment: &Deployment<P>) -> Arc<LazyWorker<P>> {
    Arc::new(LazyWorker::new(deployment.clone()))
}
