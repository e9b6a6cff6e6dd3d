//! The accept loop and the per-request pipeline: classify → record → fault → dispatch → record.
//!
//! We run our own hyper HTTP/1 connection loop instead of `axum::serve` so that a `Reset` fault can
//! drop exactly one connection without writing an answer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::faults::FaultAction;
use crate::oidc::{authorize, discovery, logout, token};
use crate::routes::{
    AUTHORIZE_PATH, DISCOVERY_PATH, JWKS_PATH, LOGOUT_PATH, REVOKE_PATH, Route, SYSTEM_USER_PATH,
    TOKEN_PATH, Target, classify,
};
use crate::state::AppState;
use crate::{admin, system_user, tenant_state, webapi};

/// Bodies we read before routing (to tell the tenant of a system-user or token request).
const PEEK_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
pub(crate) struct Routers {
    main: Router,
    webapi: Router,
}

impl Routers {
    pub(crate) fn new(state: &Arc<AppState>) -> Self {
        let main = Router::new()
            .route(DISCOVERY_PATH, get(discovery::openid_configuration))
            .route(JWKS_PATH, get(discovery::jwks))
            .route(
                AUTHORIZE_PATH,
                get(authorize::authorize_get).post(authorize::authorize_post),
            )
            .route(TOKEN_PATH, post(token::token))
            .route(REVOKE_PATH, post(token::revoke))
            .route(LOGOUT_PATH, get(logout::logout).post(logout::logout))
            .route(SYSTEM_USER_PATH, post(system_user::authenticate))
            .route("/api/state/{ctx}", get(tenant_state::tenant_state))
            .merge(admin::routes())
            .fallback(not_found)
            .with_state(Arc::clone(state));
        Self {
            main,
            webapi: webapi::router(Arc::clone(state)),
        }
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "Error": true,
            "ErrorType": "NotFound",
            "ErrorMessage": "The simulator has no such endpoint",
            "ErrorSource": "superoffice-simulator",
        })),
    )
        .into_response()
}

/// Lets a request's handling drop its own connection.
#[derive(Clone)]
struct ConnControl {
    kill: Arc<Notify>,
}

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    routers: Routers,
    shutdown: Arc<Notify>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.notified() => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "simulator: accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                conns.spawn(connection(stream, Arc::clone(&state), routers.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn connection(stream: tokio::net::TcpStream, state: Arc<AppState>, routers: Routers) {
    #[cfg(unix)]
    let dup = std::os::fd::AsFd::as_fd(&stream).try_clone_to_owned().ok();
    let control = ConnControl {
        kill: Arc::new(Notify::new()),
    };
    let kill = Arc::clone(&control.kill);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = Arc::clone(&state);
        let routers = routers.clone();
        let control = control.clone();
        async move { Ok::<_, Infallible>(handle(state, routers, control, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "simulator: connection ended with an error");
            }
        }
        () = kill.notified() => {
            // Make the close a TCP reset: SO_LINGER 0 on the (shared) socket, then drop both fds.
            #[cfg(unix)]
            if let Some(fd) = &dup {
                let sock = socket2::SockRef::from(fd);
                let _ = sock.set_linger(Some(Duration::ZERO));
            }
        }
    }
}

async fn handle(
    state: Arc<AppState>,
    routers: Routers,
    control: ConnControl,
    req: Request<Incoming>,
) -> Response {
    let mut req = req.map(Body::new);
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let classified = classify(&path);
    let route = classified.route;
    let mut tenant = classified.tenant.clone();

    if matches!(route, Route::SystemUser | Route::Token) {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, PEEK_LIMIT).await {
            Ok(b) => b,
            Err(_) => {
                let id = state.log.start(&method, &path, route, None, false);
                state.log.finish(id, 413);
                return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
            }
        };
        tenant = match route {
            Route::SystemUser => tenant_of_system_user_body(&bytes),
            _ => tenant_of_token_body(&state, &bytes),
        };
        req = Request::from_parts(parts, Body::from(bytes));
    }

    let early = state
        .faults
        .before_retry_after(route, tenant.as_deref(), &path);
    let id = state
        .log
        .start(&method, &path, route, tenant.clone(), early);
    tracing::debug!(%method, %path, %route, "simulator request");

    if let Some(rule) = state.faults.take(route, tenant.as_deref(), &path) {
        state.log.set_fault(id, rule.action.describe());
        match &rule.action {
            FaultAction::Latency(d) => tokio::time::sleep(*d).await,
            FaultAction::Status {
                status,
                retry_after,
            } => {
                let resp = fault_status(*status, retry_after.as_deref());
                if let Some(ra) = retry_after {
                    state.faults.open_retry_window(&rule, tenant.as_deref(), ra);
                }
                state.log.finish(id, resp.status().as_u16());
                return resp;
            }
            FaultAction::Misdirected => {
                let resp = webapi::misdirected();
                state.log.finish(id, resp.status().as_u16());
                return resp;
            }
            FaultAction::Hang => return std::future::pending().await,
            FaultAction::Reset => {
                control.kill.notify_one();
                return std::future::pending().await;
            }
        }
    }

    let resp = match classified.target {
        Target::Main(canonical) => {
            if let Some(canonical) = canonical
                && canonical != path
            {
                let pq = match req.uri().query() {
                    Some(q) => format!("{canonical}?{q}"),
                    None => canonical.to_owned(),
                };
                if let Ok(uri) = pq.parse::<Uri>() {
                    *req.uri_mut() = uri;
                }
            }
            match routers.main.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
        Target::WebApi { shard, ctx, rest } => {
            webapi::handle(&state, routers.webapi, req, &shard, &ctx, &rest).await
        }
    };
    state.log.finish(id, resp.status().as_u16());
    resp
}

fn fault_status(status: u16, retry_after: Option<&str>) -> Response {
    // Informational (1xx) codes cannot be a final answer; anything unusable becomes a 500.
    let code = StatusCode::from_u16(status)
        .ok()
        .filter(|c| !c.is_informational())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (
        code,
        axum::Json(json!({
            "Error": true,
            "ErrorType": "SimulatedFault",
            "ErrorMessage": format!("Simulated HTTP {status}"),
            "ErrorSource": "superoffice-simulator",
        })),
    )
        .into_response();
    if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn tenant_of_system_user_body(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("ContextIdentifier"))
        .and_then(|(_, v)| v.as_str())
        .map(str::to_owned)
}

fn tenant_of_token_body(state: &AppState, body: &[u8]) -> Option<String> {
    let params = crate::util::Params::parse(body);
    let store = state.store();
    if let Some(code) = params.get("code") {
        return store.codes.get(code).map(|c| c.ctx.clone());
    }
    if let Some(rt) = params.get("refresh_token") {
        return store.refresh_tokens.get(rt).map(|g| g.ctx.clone());
    }
    None
}
