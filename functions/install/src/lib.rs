//! The install callback: where the App Store's Install link lands.
//!
//! `GET /install` signs the administrator in (through the redirect function, intent `install`, which
//! records the tenant and its sealed system token), refuses anyone who is not an administrator, and
//! shows what the app will create with an Install button. `POST /install` queues the install job and
//! `GET /install/status` reports progress without ever waiting on SuperOffice: when the install is
//! throttled or the tenant is in maintenance it says so and when it continues.

use std::sync::Arc;

use domain::config::AppConfig;
use domain::jobs::{Job, JobQueue};
use domain::ledger::Ledger;
use domain::manifest::Manifest;
use domain::signin::{Intent, Session, Sessions};
use domain::store::{Items, StoreError};
use domain::tenant::{InstallStatus, Tenants};
use domain::web::{self, RequestContext, WebRequest, WebResponse, pages};
use http::{Method, StatusCode};
use superoffice::clock::{Clock, unix_seconds};

mod view;

pub struct Install<I, Q> {
    config: Arc<AppConfig>,
    manifest: Arc<Manifest>,
    sessions: Sessions<I>,
    tenants: Tenants<I>,
    ledger: Ledger<I>,
    queue: Arc<Q>,
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

enum Refusal {
    /// No session (or not one from an install sign-in): sign in first, then come back here.
    SignIn(&'static str),
    NotAdministrator(Session),
    Forbidden(&'static str),
    Store(StoreError),
    Queue,
    NotFound,
    MethodNotAllowed,
}

impl Refusal {
    fn respond(&self, ctx: &RequestContext) -> WebResponse {
        let (status, code, title, message): (StatusCode, &str, &str, String) = match self {
            Refusal::SignIn(return_to) => return web::see_other(&sign_in_url(return_to)),
            Refusal::NotAdministrator(s) => (
                StatusCode::FORBIDDEN,
                "not_administrator",
                "Only an administrator can install this app",
                format!(
                    "You are signed in as {} of {}, who is not an administrator. Ask an administrator of your SuperOffice to install the app.",
                    s.person(),
                    s.customer()
                ),
            ),
            Refusal::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "This request was refused",
                "The form expired or came from another site. Please reload the page and try again."
                    .into(),
            ),
            Refusal::Store(_) | Refusal::Queue => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The app is briefly unavailable",
                "Please try again in a minute.".into(),
            ),
            Refusal::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Page not found",
                "There is no page at this address.".into(),
            ),
            Refusal::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This request is not valid",
                "This page cannot be used that way.".into(),
            ),
        };
        let detail = match self {
            Refusal::Forbidden(r) => r,
            Refusal::Store(e) => e.code(),
            _ => "",
        };
        tracing::warn!(request_id = %ctx.request_id, reason = code, detail, "install request refused");
        web::html(
            status,
            pages::error(
                title,
                &message,
                code,
                &ctx.request_id,
                Some(("/", "Go to the start page")),
            ),
        )
    }
}

impl<I: Items, Q: JobQueue> Install<I, Q> {
    pub fn new(
        config: Arc<AppConfig>,
        manifest: Arc<Manifest>,
        items: Arc<I>,
        queue: Arc<Q>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            manifest,
            sessions: Sessions::new(items.clone()),
            tenants: Tenants::new(items.clone()),
            ledger: Ledger::new(items),
            queue,
            clock,
        }
    }

    fn now(&self) -> i64 {
        unix_seconds(self.clock.now())
    }

    pub async fn handle(&self, req: WebRequest, ctx: &RequestContext) -> WebResponse {
        let path = req.uri().path().to_owned();
        let result = match (req.method(), path.as_str()) {
            (&Method::GET, "/install") => self.start(&req).await,
            (&Method::POST, "/install") => self.queue(&req).await,
            (&Method::GET, "/install/status") => self.status(&req).await,
            (_, p) if serves(p) => Err(Refusal::MethodNotAllowed),
            _ => Err(Refusal::NotFound),
        };
        let response = result.unwrap_or_else(|r| r.respond(ctx));
        tracing::info!(request_id = %ctx.request_id, method = %req.method(), path = %path, status = response.status().as_u16(), "request");
        response
    }

    /// The administrator's session; without one, a sign-in that returns to `return_to`.
    async fn admin(&self, req: &WebRequest, return_to: &'static str) -> Result<Session, Refusal> {
        let Some((_, session)) = self
            .sessions
            .current(req, self.now())
            .await
            .map_err(Refusal::Store)?
        else {
            return Err(Refusal::SignIn(return_to));
        };
        if !session.is_administrator {
            return Err(Refusal::NotAdministrator(session));
        }
        Ok(session)
    }

    async fn start(&self, req: &WebRequest) -> Result<WebResponse, Refusal> {
        let session = self.admin(req, "/install").await?;
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
        if !web::same_origin(req, &self.config.origin()) {
            return Err(Refusal::Forbidden("cross_origin_form"));
        }
        let session = self.admin(req, "/install").await?;
        if !session.sent_by_our_form(req) {
            return Err(Refusal::Forbidden("csrf_mismatch"));
        }
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
