//! The install callback: where the App Store's Install link lands.
//!
//! `GET /install` signs the administrator in (through the redirect function, intent `install`, which
//! records the tenant and its sealed system token), refuses anyone who is not an administrator, and
//! shows what the app will create with an Install button; both need a sign-in at most
//! `web::guard::RECENT_SIGN_IN` old (an older session signs in again and comes back), so revoked
//! administrator rights stop installing within minutes. `POST /install` queues the install job and
//! `GET /install/status` reports progress without ever waiting on SuperOffice: when the install is
//! throttled or the tenant is in maintenance it says so and when it continues.

use std::sync::Arc;

use domain::config::AppConfig;
use domain::jobs::{Job, JobQueue};
use domain::ledger::Ledger;
use domain::manifest::Manifest;
use domain::signin::{Intent, Session, Sessions};
use domain::store::StoreError;
use domain::tenant::{InstallStatus, Tenants};
use domain::{Deployment, Ports};
use http::Method;
use superoffice::clock::{Clock, unix_seconds};
use web::{Denied, Guard, Problem, RequestContext, WebRequest, WebResponse};

mod view;

pub struct Install<P: Ports> {
    config: Arc<AppConfig>,
    manifest: Arc<Manifest>,
    guard: Guard<P::Items>,
    tenants: Tenants<P::Items>,
    ledger: Ledger<P::Items>,
    queue: Arc<P::Queue>,
    clock: Arc<dyn Clock>,
}

/// Whether this function serves `path`.
pub fn serves(path: &str) -> bool {
    matches!(path, "/install" | "/install/status")
}

/// Where a visitor without a session goes: the install sign-in, back to `return_to` afterwards.
pub fn sign_in_url(return_to: &str) -> String {
    format!("/login?intent=install&return={return_to}")
}

/// Why an install request is not served as asked.
enum Refusal {
    /// No session (or not one from an install sign-in): sign in first, then come back here.
    SignIn(&'static str),
    Denied(Denied),
    Store(StoreError),
    Queue,
    Problem(Problem),
}

impl From<Denied> for Refusal {
    fn from(d: Denied) -> Self {
        Refusal::Denied(d)
    }
}

impl Refusal {
    fn respond(self, ctx: &RequestContext) -> WebResponse {
        match self {
            Refusal::SignIn(to) => web::see_other(&sign_in_url(to)),
            Refusal::Denied(d) => d.problem("install this app").respond(ctx),
            Refusal::Store(e) => Problem::unavailable(e.code()).respond(ctx),
            Refusal::Queue => Problem::unavailable("queue_unavailable").respond(ctx),
            Refusal::Problem(p) => p.respond(ctx),
        }
    }
}

impl<P: Ports> Install<P> {
    pub fn new(d: &Deployment<P>) -> Self {
        Self {
            config: d.config.clone(),
            manifest: d.manifest.clone(),
            guard: Guard::new(Sessions::new(d.items.clone()), d.config.origin()),
            tenants: Tenants::new(d.items.clone()),
            ledger: Ledger::new(d.items.clone()),
            queue: d.queue.clone(),
            clock: d.clock.clone(),
        }
    }

    fn now(&self) -> i64 {
        unix_seconds(self.clock.now())
    }

    pub async fn handle(&self, req: WebRequest, ctx: &RequestContext) -> WebResponse {
        let path = req.uri().path().to_owned();
        let result = match (web::routing_method(req.method()), path.as_str()) {
            (&Method::GET, "/install") => self.start(&req).await,
            (&Method::POST, "/install") => self.queue(&req).await,
            (&Method::GET, "/install/status") => self.status(&req).await,
            (_, p) if serves(p) => Err(Refusal::Problem(Problem::method_not_allowed())),
            _ => Err(Refusal::Problem(Problem::not_found())),
        };
        let mut response = result.unwrap_or_else(|r| r.respond(ctx));
        if req.method() == Method::HEAD {
            response = web::head_response(response);
        }
        web::log_request(ctx, req.method(), &path, response.status());
        response
    }

    /// The administrator's session; without one, a sign-in that returns to `return_to`.
    async fn admin(&self, req: &WebRequest, return_to: &'static str) -> Result<Session, Refusal> {
        match self.guard.administrator(req, self.now()).await {
            Ok(s) => Ok(s),
            Err(Denied::SignIn) => Err(Refusal::SignIn(return_to)),
            Err(d) => Err(Refusal::Denied(d)),
        }
    }

    /// An administrator whose sign-in is recent enough to change the tenant (see
    /// `web::guard::RECENT_SIGN_IN`); an older session signs in again and comes back.
    async fn recent_admin(
        &self,
        req: &WebRequest,
        return_to: &'static str,
    ) -> Result<Session, Refusal> {
        match self
            .guard
            .recent_administrator(req, self.now(), web::guard::RECENT_SIGN_IN)
            .await
        {
            Ok(s) => Ok(s),
            Err(Denied::SignIn | Denied::SignInAgain) => Err(Refusal::SignIn(return_to)),
            Err(d) => Err(Refusal::Denied(d)),
        }
    }

    async fn start(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        let session = self.recent_admin(req, "/install").await?;
        let tenant = self
            .tenants
            .get(&session.tenant, self.now())
            .await
            .map_err(Refusal::Store)?;
        match tenant.map(|t| t.value) {
            // The session came from an ordinary sign-in: sign in for the install, which records
            // the tenant's system token.
            None if session.intent != Intent::Install => Err(Refusal::SignIn("/install")),
            None => Ok(view::no_system_token(&session)),
            Some(t)
                if t.status == InstallStatus::Installed
                    || t.status == InstallStatus::Queued
                    || t.status == InstallStatus::Installing =>
            {
                Ok(web::see_other("/install/status"))
            }
            Some(t) => Ok(view::confirm(
                &session,
                &t,
                &self.manifest,
                self.config.base_url.as_str(),
            )),
        }
    }

    async fn queue(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        if !self.guard.same_origin(req) {
            return Err(Denied::Forbidden("cross_origin_form").into());
        }
        let session = self.recent_admin(req, "/install").await?;
        self.guard.form(req, &session)?;
        // A new run id for each install queued; made before the write so the closure stays pure.
        let new_run = superoffice::oidc::random_token().map_err(|_| Refusal::Queue)?;
        let run = self
            .tenants
            .update(&session.tenant, self.now(), |t| match t.status {
                InstallStatus::Consented | InstallStatus::Failed => {
                    t.status = InstallStatus::Queued;
                    t.problem = None;
                    t.waiting = None;
                    t.install_job = Some(new_run.clone());
                    t.install_job.clone()
                }
                // Still queued: the job may never have been sent (a failed send, a process that
                // died in between). Sending the same run again is one job if it was.
                InstallStatus::Queued => {
                    t.install_job.get_or_insert(new_run.clone()).clone().into()
                }
                // Running or done: installing twice is one install.
                InstallStatus::Installing | InstallStatus::Installed => None,
            })
            .await
            .map_err(Refusal::Store)?;
        let Some(run) = run else {
            // No tenant recorded: only an install sign-in records one.
            return Err(Refusal::SignIn("/install"));
        };
        if let Some(run) = run {
            self.queue
                .send(&Job::install(&session.tenant, &run))
                .await
                .map_err(|e| {
                    tracing::error!(tenant = %session.tenant, error = %e, "the job queue is unavailable");
                    Refusal::Queue
                })?;
            tracing::info!(reason = "install_queued", tenant = %session.tenant, "install queued");
        }
        Ok(web::see_other("/install/status"))
    }

    async fn status(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        let session = self.admin(req, "/install/status").await?;
        let now = self.now();
        let Some(tenant) = self
            .tenants
            .get(&session.tenant, now)
            .await
            .map_err(Refusal::Store)?
        else {
            return Ok(web::see_other("/install"));
        };
        let entries = self
            .ledger
            .entries(&session.tenant, now)
            .await
            .map_err(Refusal::Store)?;
        let total = self.manifest.artifacts().len();
        Ok(view::status(&session, &tenant.value, &entries, total, now))
    }
}

impl<P: Ports> web::Handler for Install<P> {
    async fn handle(&self, req: WebRequest, ctx: RequestContext) -> WebResponse {
        Install::handle(self, req, &ctx).await
    }
}
