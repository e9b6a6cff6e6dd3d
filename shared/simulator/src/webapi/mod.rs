//! The tenant WebAPI under `/{shard}/{ctx}/api`.
//!
//! Every request first passes the checks the real front door applies, in this order:
//!
//! 1. unknown tenant → 404 (WebAPI error shape);
//! 2. wrong shard (the tenant lives on another "subdomain") → 421 "Wrong subdomain used to access tenant";
//! 3. `GET /{shard}/{ctx}/api` → the unauthenticated version info;
//! 4. tenant not running (State other than Running / OnlineMaintenance) → 503;
//! 5. credentials → else 401: `Authorization: SOTicket <ticket issued for this tenant>` with
//!    `SO-AppToken: <client secret of the app the ticket was issued to>`, or
//!    `Authorization: Bearer <OIDC access token issued for this tenant>` (`SO-AppToken`, if sent,
//!    must be that app's secret).
//!
//! Then the request goes to [`router`] with the `/{shard}/{ctx}/api` prefix stripped and a
//! [`Caller`] in its extensions.
//!
//! To add an area (lists, UDFs, web panels…), create `src/webapi/<area>.rs` with a
//! `pub(crate) fn routes() -> Router<Arc<AppState>>` whose paths start at `/v1/...`, and merge it in
//! [`router`]. Handlers take `Extension<Caller>` and answer errors with [`error`], or return an
//! [`ApiError`] (its `ErrorSource` is filled in with the request path).
//!
//! The provisioning areas keep their per-tenant state in [`data::WebApiStore`]:
//! [`udef`] (user-defined fields), [`lists`] (lists, items, user groups, visibility),
//! [`webpanels`], [`preferences`] and [`webhooks`].

pub(crate) mod data;
pub(crate) mod lists;
pub(crate) mod model;
pub(crate) mod preferences;
pub(crate) mod principal;
pub(crate) mod seed;
pub(crate) mod snapshot;
pub(crate) mod udef;
pub(crate) mod webhooks;
pub(crate) mod webpanels;

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::WRONG_SUBDOMAIN_TEXT;
use crate::lifecycle::CrmVersion;
use crate::state::{AppState, SYSTEM_USER_ASSOCIATE_ID, TICKET_LIFETIME, constant_time_eq};
use crate::util::{Params, clip};

/// Who is calling, as established by the credentials.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// Canonical context id.
    pub(crate) ctx: String,
    /// The app whose ticket / token this is.
    pub(crate) client_id: String,
    /// Whether the request carried that app's `SO-AppToken` (always with a ticket). Only then does
    /// the WebAPI know "the calling app" for ownership (web panels).
    pub(crate) app_token: bool,
    pub(crate) identity: Identity,
}

impl Caller {
    /// The app that owns what this request creates, if the app identified itself.
    pub(crate) fn owning_app(&self) -> Option<&str> {
        self.app_token.then_some(self.client_id.as_str())
    }

    pub(crate) fn associate_id(&self, st: &AppState) -> i32 {
        match &self.identity {
            Identity::SystemUser { associate_id } => i32::try_from(*associate_id).unwrap_or(0),
            Identity::User { email } => st
                .store()
                .user(&self.ctx, email)
                .map(|(_, u)| i32::try_from(u.associate_id).unwrap_or(0))
                .unwrap_or(0),
        }
    }

    /// The caller as an `Associate` carrier (`RegisteredAssociate`, `UpdatedAssociate`).
    pub(crate) fn associate(&self, st: &AppState) -> Value {
        let (id, name, full_name, user_name, kind) = match &self.identity {
            Identity::SystemUser { associate_id } => (
                i32::try_from(*associate_id).unwrap_or(0),
                "SystemUser".to_owned(),
                "System User".to_owned(),
                format!("system.user@{}", self.ctx),
                "SystemAssociate",
            ),
            Identity::User { email } => {
                let store = st.store();
                match store.user(&self.ctx, email) {
                    Some((_, u)) => (
                        i32::try_from(u.associate_id).unwrap_or(0),
                        u.initials.clone(),
                        u.full_name(),
                        u.email.clone(),
                        "InternalAssociate",
                    ),
                    None => (
                        0,
                        String::new(),
                        String::new(),
                        email.clone(),
                        "InternalAssociate",
                    ),
                }
            }
        };
        json!({
            "AssociateId": id,
            "Name": name,
            "PersonId": if kind == "SystemAssociate" { 0 } else { id },
            "Rank": 0,
            "Tooltip": "",
            "Type": kind,
            "GroupIdx": 0,
            "FullName": full_name,
            "FormalName": full_name,
            "Deleted": false,
            "EjUserId": 0,
            "UserName": user_name,
            "ExtraFields": {},
            "CustomFields": {},
            "TableRight": null,
            "FieldProperties": {},
        })
    }
}

/// The associate id given to events and saves made by the system user.
pub(crate) const SYSTEM_ASSOCIATE: i32 = SYSTEM_USER_ASSOCIATE_ID as i32;

/// An error answer in the documented shape; [`router`] fills in `ErrorSource` with the path.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "BadRequest",
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "NotFound",
            message: message.into(),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            kind: "Conflict",
            message: message.into(),
        }
    }

    /// The tenant vanished between the front door and the handler (cannot happen: tenants are fixed).
    pub(crate) fn unknown_tenant(ctx: &str) -> Self {
        Self::not_found(format!("Unknown tenant {}", clip(ctx, 40)))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// Turns an [`ApiError`] marker into the documented error JSON with the request path as source.
async fn error_source(req: Request, next: Next) -> Response {
    let source = format!("/api{}", clip(req.uri().path(), 200));
    let resp = next.run(req).await;
    match resp.extensions().get::<ApiError>() {
        Some(e) => error(e.status, e.kind, &e.message, &source),
        None => resp,
    }
}

/// A JSON request body; an empty one is "not in request body" (400).
pub(crate) fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "Bad request. Entity to save is not in request body.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))
}

/// The query string's parameters (empty values count as absent).
pub(crate) fn query(raw: Option<&str>) -> Params {
    Params::parse(raw.unwrap_or("").as_bytes())
}

/// `?name=true|false` (ignoring case); absent = false.
pub(crate) fn query_bool(params: &Params, name: &str) -> Result<bool, ApiError> {
    match params.get(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "{name} must be true or false, not {:?}",
            clip(v, 40)
        ))),
    }
}

/// An integer path parameter.
pub(crate) fn int_param(value: &str, what: &str) -> Result<i32, ApiError> {
    value.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{what} must be an integer, not {:?}",
            clip(value, 40)
        ))
    })
}

/// A JSON answer.
pub(crate) fn ok_json<T: serde::Serialize>(value: &T) -> ApiResult {
    Ok(Json(value).into_response())
}

/// 204 No Content.
pub(crate) fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{base}/{shard}/{ctx}/api/v1/` for `_Links`.
pub(crate) fn v1_root(st: &AppState, ctx: &str) -> String {
    let store = st.store();
    match store.tenant(ctx) {
        Some(t) => format!("{}/api/v1/", st.tenant_root(t)),
        None => format!("{}/api/v1/", st.base),
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Identity {
    /// A system-user ticket (`SOTicket`).
    SystemUser { associate_id: u32 },
    /// An OIDC access token (`Bearer 8A:...`) for a signed-in user.
    User { email: String },
}

/// The WebAPI routes, relative to `{tenant}/api`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(principal::routes())
        .merge(udef::routes())
        .merge(lists::routes())
        .merge(webpanels::routes())
        .merge(preferences::routes())
        .merge(webhooks::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(error_source))
        .with_state(state)
}

/// The documented WebAPI error shape: `{Error, ErrorType, ErrorMessage, ErrorSource}`.
pub(crate) fn error(status: StatusCode, error_type: &str, message: &str, source: &str) -> Response {
    (
        status,
        Json(json!({
            "Error": true,
            "ErrorType": error_type,
            "ErrorMessage": message,
            "ErrorSource": source,
        })),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "No such resource in the simulated WebAPI",
        &format!("/api{}", clip(uri.path(), 200)),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("{method} is not supported here"),
        &format!("/api{}", clip(uri.path(), 200)),
    )
}

/// Applies the front-door checks and forwards to the WebAPI router.
pub(crate) async fn handle(
    st: &Arc<AppState>,
    router: Router,
    mut req: Request,
    shard: &str,
    ctx: &str,
    rest: &str,
) -> Response {
    let source = format!("/api{}", clip(rest, 200));
    let tenant_info = {
        let store = st.store();
        store.tenant(ctx).map(|t| {
            (
                t.cfg.context_id.clone(),
                t.shard.clone(),
                t.status,
                st.tenant_root(t),
            )
        })
    };
    let Some((ctx, current_shard, status, root)) = tenant_info else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Unknown tenant {}", clip(ctx, 40)),
            &source,
        );
    };
    if !current_shard.eq_ignore_ascii_case(shard) {
        return misdirected();
    }
    if (rest.is_empty() || rest == "/") && req.method() == Method::GET {
        return api_info(&root, &st.lifecycle.crm_version());
    }
    if !status.is_running() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "TenantNotRunning",
            &format!("Tenant {ctx} is {status}"),
            &source,
        );
    }
    let caller = match authenticate(st, &ctx, req.headers()) {
        Ok(c) => c,
        Err(message) => {
            return error(StatusCode::UNAUTHORIZED, "Unauthorized", message, &source);
        }
    };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let Ok(uri) = path_and_query.parse::<Uri>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Malformed URL",
            &source,
        );
    };
    *req.uri_mut() = uri;
    tracing::debug!(ctx = %caller.ctx, client_id = %caller.client_id, path = rest, "simulated WebAPI call");
    req.extensions_mut().insert(caller);
    match router.oneshot(req.map(Body::new)).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// 421 with the documented text.
pub(crate) fn misdirected() -> Response {
    let mut resp = (StatusCode::MISDIRECTED_REQUEST, WRONG_SUBDOMAIN_TEXT).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// What `GET {Api}` returns: NetServer version information (see `vendor/tenant-state-api-info-example.json`).
/// The label and version follow the simulated CRM version (an upgrade changes them).
fn api_info(root: &str, version: &CrmVersion) -> Response {
    let label = &version.version_name;
    Json(json!({
        "v1": format!("{root}/api/v1/"),
        "NetServerVersion": version.file_version,
        "NetServerAssembly": "11.10.0.0",
        "NetServerDate": "2026-02-24",
        "NetServerLabel": label,
        "NetServer": format!("SuperOffice 11.10 NetServer 11.10 Release (Build: {label})"),
        "Services": "Services87",
        "ServicesCurrent": "Services88",
        "Version": "v1",
        "Documentation": "https://docs.superoffice.com/en/api/",
    }))
    .into_response()
}

fn authenticate(st: &AppState, ctx: &str, headers: &HeaderMap) -> Result<Caller, &'static str> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .ok_or("Authorization header required (SOTicket or Bearer)")?
        .to_str()
        .map_err(|_| "malformed Authorization header")?;
    let (scheme, credential) = auth
        .split_once(' ')
        .ok_or("malformed Authorization header")?;
    let credential = credential.trim();
    let app_token = match headers.get("SO-AppToken") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| "malformed SO-AppToken header")?),
    };
    let mut store = st.store();
    let now = Instant::now();
    if scheme.eq_ignore_ascii_case("SOTicket") {
        let ticket = store
            .tickets
            .get_mut(credential)
            .filter(|t| t.expires > now && t.ctx == ctx)
            .ok_or("unknown or expired ticket for this tenant")?;
        let app = st
            .app(&ticket.client_id)
            .ok_or("unknown or expired ticket for this tenant")?;
        let app_token = app_token.ok_or("SO-AppToken header required with a ticket")?;
        if !constant_time_eq(app.reg.client_secret.as_bytes(), app_token.as_bytes()) {
            return Err("SO-AppToken does not belong to the application of this ticket");
        }
        // Sliding expiry.
        ticket.expires = now + TICKET_LIFETIME;
        return Ok(Caller {
            ctx: ctx.to_owned(),
            client_id: ticket.client_id.clone(),
            app_token: true,
            identity: Identity::SystemUser {
                associate_id: ticket.associate_id,
            },
        });
    }
    if scheme.eq_ignore_ascii_case("Bearer") {
        let grant = store
            .access_tokens
            .get(credential)
            .filter(|a| a.expires > now && a.grant.ctx == ctx)
            .ok_or("unknown or expired access token for this tenant")?
            .grant
            .clone();
        let has_app_token = app_token.is_some();
        if let Some(app_token) = app_token {
            let app = st
                .app(&grant.client_id)
                .ok_or("unknown or expired access token for this tenant")?;
            if !constant_time_eq(app.reg.client_secret.as_bytes(), app_token.as_bytes()) {
                return Err("SO-AppToken does not belong to the application of this token");
            }
        }
        return Ok(Caller {
            ctx: ctx.to_owned(),
            client_id: grant.client_id,
            app_token: has_app_token,
            identity: Identity::User { email: grant.email },
        });
    }
    Err("unsupported Authorization scheme (SOTicket or Bearer; Basic is not allowed in Online)")
}
