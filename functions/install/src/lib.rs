//! The install callback and the app's management pages: where the App Store's Install, Configure
//! and Uninstall links land.
//!
//! `GET /install` signs the administrator in (through the redirect function, intent `install`,
//! which records the tenant and its sealed system token), refuses anyone who is not an
//! administrator, and shows what the app will create with an Install button. `POST /install` queues
//! the install job and `GET /install/status` reports progress without ever waiting on SuperOffice.
//! Installing and uninstalling need a sign-in at most `web::guard::RECENT_SIGN_IN` old (an older
//! session signs in again and comes back), so revoked administrator rights stop changing the tenant
//! within minutes.
//!
//! `GET /manage` shows an administrator the tenant's state at SuperOffice, the install, what the
//! app created (in the customer's words), the app's WebAPI usage by day, and the way to uninstall:
//! `GET /manage/uninstall` says exactly what will be removed and asks to confirm; `POST
//! /manage/uninstall` queues the uninstall job on the tenant's queue, after any install job. The
//! page follows the uninstall until nothing is left, and then says how to withdraw the app's access
//! in the App Store, which the uninstall cannot do. Every page answers HEAD as GET without a body.
//!
//! `GET /panels/contact` and `GET /panels/home` are the web panel and the navigator button's page
//! the install creates in SuperOffice: they show anyone signed in for the tenant the app's state
//! there, and sign people in through a pop-up and a one-time hand-off code, since they run in
//! SuperOffice's cross-site iframe (see [`panels`]).

use std::sync::Arc;

use domain::audit::Audit;
use domain::ledger::Ledger;
use domain::manifest::Manifest;
use domain::signin::panel::Panels;
use domain::signin::{Session, Sessions};
use domain::store::StoreError;
use domain::tenant::Tenants;
use domain::usage::DailyUsage;
use domain::{Deployment, Ports};
use http::Method;
use superoffice::client::SuperOffice;
use superoffice::clock::{Clock, unix_seconds};
use web::{Denied, Guard, Problem, RequestContext, WebRequest, WebResponse};

use crate::panels::PanelPage;

mod install;
mod manage;
mod manage_view;
mod panels;
mod panels_view;
mod view;
mod words;

pub struct Install<P: Ports> {
    manifest: Arc<Manifest>,
    guard: Guard<P::Items>,
    tenants: Tenants<P::Items>,
    ledger: Ledger<P::Items>,
    usage: DailyUsage<P::Items>,
    audit: Audit<P::Items>,
    backups: domain::backup::BackupRecords<P::Items>,
    queue: Arc<P::Queue>,
    superoffice: Arc<SuperOffice>,
    clock: Arc<dyn Clock>,
    panels: Panels<P::Items>,
    /// This deployment's origin, for the panels' same-origin check.
    origin: String,
    /// The CSP of the panel pages (framed by SuperOffice) and of the hand-off page (never framed).
    panel_policy: String,
    hand_off_policy: String,
}

/// Whether this function serves `path`.
pub fn serves(path: &str) -> bool {
    matches!(
        path,
        "/install"
            | "/install/status"
            | "/manage"
            | "/manage/uninstall"
            | "/panels/contact"
            | "/panels/home"
            | "/panels/handoff"
            | "/panels/session"
            | panels::SCRIPT_PATH
    )
}

/// Where a visitor without a session goes: the install sign-in, back to `return_to` afterwards.
pub fn sign_in_url(return_to: &str) -> String {
    format!("/login?intent=install&return={return_to}")
}

/// Why a request is not served as asked.
enum Refusal {
    /// No session (or not one from an install sign-in): sign in first, then come back here.
    SignIn(&'static str),
    Denied(Denied),
    Store(StoreError),
    Queue,
    Problem(Box<Problem>),
}

impl From<Denied> for Refusal {
    fn from(d: Denied) -> Self {
        Refusal::Denied(d)
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

impl Refusal {
    fn respond(self, ctx: &RequestContext, action: &str) -> WebResponse {
        match self {
            Refusal::SignIn(to) => web::see_other(&sign_in_url(to)),
            Refusal::Denied(d) => d.problem(action).respond(ctx),
            Refusal::Store(e) => Problem::unavailable(e.code()).respond(ctx),
            Refusal::Queue => Problem::unavailable("queue_unavailable").respond(ctx),
            Refusal::Problem(p) => p.respond(ctx),
        }
    }
}

impl<P: Ports> Install<P> {
    pub fn new(d: &Deployment<P>) -> Self {
        Self {
            manifest: d.manifest.clone(),
            guard: Guard::new(Sessions::new(d.items.clone()), d.config.origin()),
            tenants: Tenants::new(d.items.clone()),
            ledger: Ledger::new(d.items.clone()),
            usage: DailyUsage::new(d.items.clone(), d.clock.clone()),
            audit: Audit::new(d.items.clone()),
            backups: domain::backup::BackupRecords::new(d.items.clone()),
            queue: d.queue.clone(),
            superoffice: d.superoffice.clone(),
            clock: d.clock.clone(),
            panels: Panels::new(d.items.clone()),
            origin: d.config.origin(),
            panel_policy: web::script_page_policy(&panels::frame_ancestors(&d.config.base_url)),
            hand_off_policy: web::script_page_policy("'none'"),
        }
    }

    fn now(&self) -> i64 {
        unix_seconds(self.clock.now())
    }

    pub async fn handle(&self, req: WebRequest, ctx: &RequestContext) -> WebResponse {
        let path = req.uri().path().to_owned();
        let result = match (web::routing_method(req.method()), path.as_str()) {
            (&Method::GET, "/install") => self.start(&req).await,
            (&Method::POST, "/install") => self.queue_install(&req).await,
            (&Method::GET, "/install/status") => self.status(&req).await,
            (&Method::GET, "/manage") => self.manage(&req).await,
            (&Method::GET, "/manage/uninstall") => self.confirm_uninstall(&req).await,
            (&Method::POST, "/manage/uninstall") => self.queue_uninstall(&req).await,
            (&Method::GET, "/panels/contact") => self.panel(&req, PanelPage::Contact).await,
            (&Method::GET, "/panels/home") => self.panel(&req, PanelPage::Home).await,
            (&Method::GET, "/panels/handoff") => self.hand_off(&req).await,
            (&Method::POST, "/panels/session") => self.redeem(&req).await,
            (&Method::GET, panels::SCRIPT_PATH) => Ok(web::script(panels::PANEL_JS)),
            (_, p) if serves(p) => Err(Refusal::Problem(Box::new(Problem::method_not_allowed()))),
            _ => Err(Refusal::Problem(Box::new(Problem::not_found()))),
        };
        let action = if path.starts_with("/manage") {
            "manage this app"
        } else if path.starts_with("/panels") {
            "see this panel"
        } else {
            "install this app"
        };
        let mut response = result.unwrap_or_else(|r| r.respond(ctx, action));
        // The panel pages (and their error pages) may be framed by SuperOffice and run our script;
        // the hand-off page runs it and is never framed.
        match path.as_str() {
            "/panels/contact" | "/panels/home" => {
                web::set_policy(&mut response, &self.panel_policy)
            }
            "/panels/handoff" => web::set_policy(&mut response, &self.hand_off_policy),
            _ => {}
        }
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

    /// A new run id for a job about to be queued.
    fn new_run(&self) -> Result<String, Refusal> {
        superoffice::oidc::random_token().map_err(|_| Refusal::Queue)
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
}

impl<P: Ports> web::Handler for Install<P> {
    async fn handle(&self, req: WebRequest, ctx: RequestContext) -> WebResponse {
        Install::handle(self, req, &ctx).await
    }
}
