//! The redirect URL: where SuperOffice sends users to sign in, and where sessions start.
//!
//! `GET /login` sends the browser to SuperOffice's authorize endpoint; `POST /callback` takes the
//! sign-in back (once), exchanges the code, validates the id_token and starts a session (`GET
//! /callback` is refused: the flow uses `form_post`); `GET /` shows who is signed in; `POST /logout`
//! ends the session. `HEAD` is answered as `GET` without the body. Every failure is a page a person can act on, with
//! a reason code and a request id, and a log line with the same code.
//!
//! The handler is plain `http` in, `http` out and generic over the deployment's ports, so the
//! Lambda binary (`main.rs`), the local runner (`soapp serve`) and the tests run the same code.

use std::sync::Arc;
use std::time::SystemTime;

use domain::config::AppConfig;
use domain::signin::{Sessions, SpentStates};
use domain::tenant::Tenants;
use domain::tenant_serial::TenantSerials;
use domain::{Deployment, Ports};
use http::Method;
use superoffice::client::SuperOffice;
use superoffice::clock::{Clock, unix_seconds};
use web::{Guard, RequestContext, WebRequest, WebResponse};

mod callback;
mod failure;
mod home;
mod login;
mod logout;

pub use failure::Failure;

/// The redirect function's state: built once per process.
pub struct Redirect<P: Ports> {
    config: Arc<AppConfig>,
    so: Arc<SuperOffice>,
    spent: SpentStates<P::Items>,
    sessions: Sessions<P::Items>,
    tenants: Tenants<P::Items>,
    serials: TenantSerials<P::Items>,
    guard: Guard<P::Items>,
    secrets: Arc<P::Secrets>,
    sealer: Arc<P::Sealer>,
}

impl<P: Ports> Redirect<P> {
    pub fn new(d: &Deployment<P>) -> Self {
        Self {
            config: d.config.clone(),
            so: d.superoffice.clone(),
            spent: SpentStates::new(d.items.clone()),
            sessions: Sessions::new(d.items.clone()),
            tenants: Tenants::new(d.items.clone()),
            serials: TenantSerials::new(d.items.clone(), d.clock.clone()),
            guard: Guard::new(Sessions::new(d.items.clone()), d.config.origin()),
            secrets: d.secrets.clone(),
            sealer: d.sealer.clone(),
        }
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    fn clock(&self) -> &Arc<dyn Clock> {
        self.so.clock()
    }

    fn now(&self) -> SystemTime {
        self.clock().now()
    }

    fn now_secs(&self) -> i64 {
        unix_seconds(self.now())
    }

    /// Handles one request (`HEAD` as `GET`, without the body).
    pub async fn handle(&self, req: WebRequest, ctx: &RequestContext) -> WebResponse {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let result = match (web::routing_method(&method), path.as_str()) {
            (&Method::GET, "/login") => login::start(self, &req).await,
            (&Method::GET | &Method::POST, "/callback") => callback::finish(self, &req, ctx).await,
            (&Method::GET, "/") => home::show(self, &req).await,
            (&Method::POST, "/logout") => logout::end(self, &req).await,
            (&Method::GET, "/app.css") => Ok(web::stylesheet()),
            (_, p) if serves(p) => Err(Failure::MethodNotAllowed),
            _ => Err(Failure::NotFound),
        };
        let mut response = result.unwrap_or_else(|failure| failure.problem().respond(ctx));
        if method == Method::HEAD {
            response = web::head_response(response);
        }
        web::log_request(ctx, &method, &path, response.status());
        response
    }
}

impl<P: Ports> web::Handler for Redirect<P> {
    async fn handle(&self, req: WebRequest, ctx: RequestContext) -> WebResponse {
        Redirect::handle(self, req, &ctx).await
    }
}

/// Whether this function serves `path` (the local runner mounts several functions on one port).
pub fn serves(path: &str) -> bool {
    matches!(path, "/login" | "/callback" | "/" | "/logout" | "/app.css")
}
