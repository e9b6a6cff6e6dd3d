//! The redirect URL: where SuperOffice sends users to sign in, and where sessions start.
//!
//! `GET /login` sends the browser to SuperOffice's authorize endpoint; `GET|POST /callback` takes the
//! sign-in back (once), exchanges the code, validates the id_token and starts a session; `GET /` shows
//! who is signed in; `POST /logout` ends the session. Every failure is a page a person can act on, with
//! a reason code and a request id, and a log line with the same code.
//!
//! The handler is plain `http` in, `http` out and generic over the storage port, so the Lambda
//! binary (`main.rs`), the local runner (`soapp serve`) and the tests run the same code.

use std::sync::Arc;
use std::time::SystemTime;

use domain::config::AppConfig;
use domain::sealing::Sealer;
use domain::secrets::SecretLoader;
use domain::signin::{Sessions, SignIns};
use domain::store::Items;
use domain::tenant::Tenants;
use domain::web::{RequestContext, WebRequest, WebResponse};
use http::{Method, StatusCode};
use superoffice::client::SuperOffice;
use superoffice::clock::{Clock, unix_seconds};

mod callback;
mod failure;
mod home;
mod login;
mod logout;
pub mod session;

pub use failure::Failure;

/// The redirect function's state: built once per process.
pub struct Redirect<I, S> {
    config: Arc<AppConfig>,
    so: Arc<SuperOffice>,
    sign_ins: SignIns<I>,
    sessions: Sessions<I>,
    tenants: Tenants<I>,
    secrets: Arc<SecretLoader>,
    sealer: Arc<S>,
}

impl<I: Items, S: Sealer> Redirect<I, S> {
    pub fn new(
        config: Arc<AppConfig>,
        so: Arc<SuperOffice>,
        items: Arc<I>,
        secrets: Arc<SecretLoader>,
        sealer: Arc<S>,
    ) -> Self {
        Self {
            config,
            so,
            sign_ins: SignIns::new(items.clone()),
            sessions: Sessions::new(items.clone()),
            tenants: Tenants::new(items),
            secrets,
            sealer,
        }
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    pub fn sessions(&self) -> &Sessions<I> {
        &self.sessions
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

    /// Handles one request.
    pub async fn handle(&self, req: WebRequest, ctx: &RequestContext) -> WebResponse {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let result = match (&method, path.as_str()) {
            (&Method::GET, "/login") => login::start(self, &req).await,
            (&Method::GET | &Method::POST, "/callback") => callback::finish(self, &req, ctx).await,
            (&Method::GET, "/") => home::show(self, &req).await,
            (&Method::POST, "/logout") => logout::end(self, &req).await,
            (&Method::GET, "/app.css") => Ok(stylesheet()),
            (_, p) if serves(p) => Err(Failure::MethodNotAllowed),
            _ => Err(Failure::NotFound),
        };
        let response = match result {
            Ok(r) => r,
            Err(failure) => failure.respond(ctx),
        };
        tracing::info!(
            request_id = %ctx.request_id,
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            "request"
        );
        response
    }
}

/// Whether this function serves `path` (the local runner mounts several functions on one port).
pub fn serves(path: &str) -> bool {
    matches!(path, "/login" | "/callback" | "/" | "/logout" | "/app.css")
}

fn stylesheet() -> WebResponse {
    let mut resp = http::Response::new(bytes::Bytes::from_static(
        domain::web::pages::STYLESHEET.as_bytes(),
    ));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/css; charset=utf-8"),
    );
    domain::web::secure_headers(&mut resp);
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=3600"),
    );
    *resp.status_mut() = StatusCode::OK;
    resp
}
