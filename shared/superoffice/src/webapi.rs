//! Calling a tenant's REST WebAPI as the system user, without overloading SuperOffice.
//!
//! A call: check the tenant's state (cached until `ValidUntil`; not running means no call and a time to
//! come back), get the system-user ticket (cached), send `Authorization: SOTicket …` and
//! `SO-AppToken: …` to `{Api}/v1/{path}` through the retry layer, and report every attempt to the usage
//! hook. Two answers change the request rather than being retried as-is:
//! * **421** (the tenant moved to another host): re-read the tenant state once and send to the new API.
//! * **401** (the ticket expired or was revoked): fetch a new ticket once; a second 401 means the
//!   tenant's consent is gone.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use crate::clock::Clock;
use crate::rate::TenantRateLimiter;
use crate::retry::{Retrier, RetryError};
use crate::system_user::{SystemUserClient, SystemUserError};
use crate::tenant_state::{TenantStateClient, TenantStateError, TenantStatus};
use crate::transport::{HttpRequest, HttpResponse, Transport};
use crate::usage::{CallRecord, UsageHook};
use crate::{Environment, Secret, TenantId};

/// Who we act for: a tenant and its system-user token (from the admin's id_token at install).
#[derive(Debug, Clone)]
pub struct TenantAuth {
    pub tenant: TenantId,
    pub system_token: Secret,
}

/// A tenant's WebAPI as its callers need it: [`WebApi`] in production, a fake in unit tests. The
/// typed calls in [`crate::api`] are written on top of it.
pub trait TenantApi: Send + Sync + 'static {
    /// One logical call (retries, throttling and the tenant's state handled inside), to be done by
    /// `deadline`.
    fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> impl std::future::Future<Output = Result<ApiResponse, WebApiError>> + Send;

    /// SuperOffice said the tenant moved at `at` (a state-change push): what this client learned
    /// about where the tenant's API lives before then is not used again.
    fn tenant_moved(&self, _tenant: &crate::TenantId, _at: SystemTime) {}
}

impl TenantApi for WebApi {
    fn tenant_moved(&self, tenant: &crate::TenantId, at: SystemTime) {
        self.states.invalidate_if_older(tenant, at);
    }

    fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> impl std::future::Future<Output = Result<ApiResponse, WebApiError>> + Send {
        WebApi::call(self, auth, request, deadline)
    }
}

/// What a caller should do about a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// Try again at `at`: the tenant or SuperOffice asked for time (`why` says which).
    WaitUntil { at: SystemTime, why: Wait },
    /// The app's access to the tenant is gone (consent revoked, no system token): an administrator
    /// must approve the app again before anything can be done.
    Reauthorize,
    /// The request or its answer is wrong (a refused body, an answer we cannot read): repeating it
    /// changes nothing; the app or its configuration needs a fix.
    Fix,
    /// The tenant is gone for good (deleted, or being deleted): stop working for it.
    GiveUp,
}

/// Why a [`Remedy::WaitUntil`] waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// SuperOffice (or our own per-tenant cap) throttled the app.
    Throttled,
    /// The tenant is not running (maintenance, an upgrade); the state it is in.
    Maintenance(TenantStatus),
    /// SuperOffice failed or did not answer.
    Unavailable,
}

/// A REST call relative to `{Api}/v1/`, e.g. `List/WebPanel/Items`.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
}

impl ApiRequest {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
}

#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, WebApiError> {
        serde_json::from_slice(&self.body).map_err(|e| WebApiError::InvalidResponse(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebApiError {
    /// The tenant is not running (maintenance, suspended…). Come back at `check_again_at`.
    #[error("tenant is {status:?}; check again at {check_again_at:?}")]
    TenantNotRunning {
        status: TenantStatus,
        check_again_at: SystemTime,
    },
    /// SuperOffice throttled us; the layer gave up waiting. Come back after `retry_after`.
    #[error("throttled; retry after {retry_after:?}")]
    Throttled { retry_after: Duration },
    /// SuperOffice failed or did not answer. Come back later.
    #[error("SuperOffice is unavailable")]
    Unavailable { retry_after: Option<Duration> },
    #[error("not found")]
    NotFound,
    #[error("conflict")]
    Conflict,
    /// The request itself was refused (400, 403, 405, 412…): fix the request, do not retry it.
    #[error("refused with HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// A fresh ticket was refused too: the tenant's consent is probably revoked.
    #[error("the system user is not authorized for this tenant")]
    Unauthorized,
    /// The answer was larger than the client accepts: asking again brings the same answer, so the
    /// call must ask for less (a targeted lookup, a page). Never retried.
    #[error("SuperOffice's answer is larger than {limit} bytes")]
    AnswerTooLarge { limit: usize },
    /// 421 persisted after re-reading the tenant state.
    #[error("the tenant's host keeps answering 421")]
    Misdirected,
    #[error(transparent)]
    SystemUser(#[from] SystemUserError),
    #[error(transparent)]
    TenantState(#[from] TenantStateError),
    #[error("the path {0:?} is not a relative WebAPI path")]
    InvalidPath(String),
    #[error("the answer is not valid: {0}")]
    InvalidResponse(String),
}

impl WebApiError {
    pub fn code(&self) -> &'static str {
        match self {
            WebApiError::TenantNotRunning { .. } => "tenant_not_running",
            WebApiError::Throttled { .. } => "throttled",
            WebApiError::Unavailable { .. } => "unavailable",
            WebApiError::NotFound => "not_found",
            WebApiError::Conflict => "conflict",
            WebApiError::Rejected { .. } => "rejected",
            WebApiError::Unauthorized => "unauthorized",
            WebApiError::Misdirected => "misdirected",
            WebApiError::AnswerTooLarge { .. } => "answer_too_large",
            WebApiError::SystemUser(e) => e.code(),
            WebApiError::TenantState(_) => "tenant_state_failed",
            WebApiError::InvalidPath(_) => "invalid_path",
            WebApiError::InvalidResponse(_) => "invalid_response",
        }
    }

    /// What the caller should do; `now` dates a wait that SuperOffice gave as a duration.
    pub fn remedy(&self, now: SystemTime) -> Remedy {
        let wait = |why| Remedy::WaitUntil {
            at: self.retry_at(now).unwrap_or(now + Duration::from_secs(30)),
            why,
        };
        match self {
            WebApiError::TenantNotRunning { status, .. } if status.is_terminal() => Remedy::GiveUp,
            WebApiError::TenantNotRunning { status, .. } => wait(Wait::Maintenance(status.clone())),
            WebApiError::Throttled { .. }
            | WebApiError::SystemUser(SystemUserError::Unavailable(RetryError::Throttled {
                ..
            })) => wait(Wait::Throttled),
            WebApiError::Unavailable { .. }
            | WebApiError::Misdirected
            | WebApiError::TenantState(_)
            | WebApiError::SystemUser(
                SystemUserError::Unavailable(_)
                | SystemUserError::UnexpectedStatus(_)
                | SystemUserError::KeysUnavailable(_),
            ) => wait(Wait::Unavailable),
            WebApiError::Unauthorized
            | WebApiError::SystemUser(
                SystemUserError::Refused { .. } | SystemUserError::NoSystemToken,
            ) => Remedy::Reauthorize,
            WebApiError::NotFound
            | WebApiError::Conflict
            | WebApiError::Rejected { .. }
            | WebApiError::InvalidPath(_)
            | WebApiError::InvalidResponse(_)
            | WebApiError::AnswerTooLarge { .. }
            | WebApiError::SystemUser(
                SystemUserError::InvalidResponse(_)
                | SystemUserError::InvalidToken(_)
                | SystemUserError::Signing(_),
            ) => Remedy::Fix,
        }
    }

    /// When work that failed with this error may be tried again, if waiting helps at all.
    pub fn retry_at(&self, now: SystemTime) -> Option<SystemTime> {
        match self {
            WebApiError::TenantNotRunning { check_again_at, .. } => Some(*check_again_at),
            WebApiError::Throttled { retry_after } => Some(now + *retry_after),
            WebApiError::Unavailable { retry_after } => {
                Some(now + retry_after.unwrap_or(Duration::from_secs(30)))
            }
            WebApiError::TenantState(TenantStateError::Unavailable(e))
            | WebApiError::SystemUser(SystemUserError::Unavailable(e)) => {
                Some(now + e.retry_after().unwrap_or(Duration::from_secs(30)))
            }
            _ => None,
        }
    }
}

impl From<RetryError> for WebApiError {
    fn from(e: RetryError) -> Self {
        match e {
            RetryError::Throttled { retry_after, .. } => WebApiError::Throttled { retry_after },
            RetryError::Unavailable { retry_after, .. } => WebApiError::Unavailable { retry_after },
            RetryError::TooLarge { limit } => WebApiError::AnswerTooLarge { limit },
        }
    }
}

pub struct WebApi {
    rate: Option<Arc<TenantRateLimiter>>,
    env: Environment,
    transport: Arc<dyn Transport>,
    states: Arc<TenantStateClient>,
    tickets: Arc<SystemUserClient>,
    retrier: Arc<Retrier>,
    usage: Arc<dyn UsageHook>,
    app_token: Secret,
    timeout: Duration,
}

pub struct WebApiParts {
    /// The per-tenant cap on requests per second (every attempt counts).
    pub rate: Option<Arc<TenantRateLimiter>>,
    pub env: Environment,
    pub transport: Arc<dyn Transport>,
    pub states: Arc<TenantStateClient>,
    pub tickets: Arc<SystemUserClient>,
    pub retrier: Arc<Retrier>,
    pub usage: Arc<dyn UsageHook>,
    pub app_token: Secret,
    pub timeout: Duration,
}

impl WebApi {
    pub fn new(p: WebApiParts) -> Self {
        Self {
            rate: p.rate,
            env: p.env,
            transport: p.transport,
            states: p.states,
            tickets: p.tickets,
            retrier: p.retrier,
            usage: p.usage,
            app_token: p.app_token,
            timeout: p.timeout,
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.retrier.clock()
    }

    pub fn tenant_states(&self) -> &Arc<TenantStateClient> {
        &self.states
    }

    /// Sends one logical call. `deadline` is when the caller must be done (the Lambda's remaining time
    /// minus a margin); waits that do not fit come back as errors with a time to try again.
    pub async fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> Result<ApiResponse, WebApiError> {
        check_path(&request.path)?;
        let ctx = &auth.tenant;
        let mut moved = false;
        let mut reauthorized = false;
        loop {
            let state = self.states.get(ctx, deadline).await?;
            if !state.is_running {
                return Err(WebApiError::TenantNotRunning {
                    status: state.status,
                    check_again_at: state.valid_until,
                });
            }
            let url = self.url_for(&state.api_v1(), request)?;
            let ticket = self
                .tickets
                .ticket(ctx, &auth.system_token, deadline)
                .await?;
            let response = self.send(ctx, &url, request, &ticket, deadline).await?;
            match response.status.as_u16() {
                200..=299 | 304 => {
                    return Ok(ApiResponse {
                        status: response.status,
                        body: response.body,
                    });
                }
                421 if !moved => {
                    tracing::info!(reason = "tenant_moved", tenant = %ctx, "421: re-reading the tenant state");
                    moved = true;
                    self.states.invalidate(ctx);
                }
                421 => return Err(WebApiError::Misdirected),
                401 if !reauthorized => {
                    reauthorized = true;
                    self.tickets.invalidate(ctx).await;
                }
                401 => return Err(WebApiError::Unauthorized),
                404 => return Err(WebApiError::NotFound),
                409 => return Err(WebApiError::Conflict),
                status => {
                    return Err(WebApiError::Rejected {
                        status,
                        message: error_message(&response.body),
                    });
                }
            }
        }
    }

    fn url_for(&self, api_v1: &str, request: &ApiRequest) -> Result<Url, WebApiError> {
        let mut url = Url::parse(&format!("{api_v1}{}", request.path))
            .map_err(|_| WebApiError::InvalidPath(request.path.clone()))?;
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        if !self.env.allows_service_url(&url) || !url.as_str().starts_with(api_v1) {
            return Err(WebApiError::InvalidPath(request.path.clone()));
        }
        Ok(url)
    }

    async fn send(
        &self,
        ctx: &TenantId,
        url: &Url,
        request: &ApiRequest,
        ticket: &Secret,
        deadline: Option<SystemTime>,
    ) -> Result<HttpResponse, WebApiError> {
        let auth = HeaderValue::from_str(&format!("SOTicket {}", ticket.expose()))
            .map_err(|_| WebApiError::InvalidResponse("the ticket is not a header value".into()))?;
        let app = HeaderValue::from_str(self.app_token.expose()).map_err(|_| {
            WebApiError::InvalidResponse("the app token is not a header value".into())
        })?;
        let response = self
            .retrier
            .run(deadline, |attempt| {
                let mut req = HttpRequest::new(
                    request.method.clone(),
                    url.clone(),
                    attempt.timeout(self.timeout),
                )
                .accept_json()
                .header(http::header::AUTHORIZATION, auth.clone())
                .header(http::HeaderName::from_static("so-apptoken"), app.clone());
                if let Some(body) = &request.body {
                    req = req.json_body(body);
                }
                let sent = req.body.len() as u64;
                Box::pin(async move {
                    if let Some(rate) = &self.rate
                        && let Err(wait) = rate.acquire(ctx, deadline).await
                    {
                        // Our own cap says "not before the deadline": answer like a 429 so the
                        // retry layer hands the wait back to the caller. Nothing was sent.
                        return Ok(self_throttled(wait));
                    }
                    let started = Instant::now();
                    let result = self.transport.send(req).await;
                    let (status, received) = match &result {
                        Ok(r) => (Some(r.status.as_u16()), r.body.len() as u64),
                        Err(_) => (None, 0),
                    };
                    self.usage.record(&CallRecord {
                        tenant: ctx,
                        method: &request.method,
                        status,
                        bytes_sent: sent,
                        bytes_received: received,
                        elapsed: started.elapsed(),
                    });
                    result
                })
            })
            .await?;
        Ok(response)
    }
}

fn self_throttled(wait: Duration) -> HttpResponse {
    let mut r = HttpResponse::new(StatusCode::TOO_MANY_REQUESTS, Bytes::new());
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers.insert(http::header::RETRY_AFTER, v);
    }
    r
}

/// A path relative to `{Api}/v1/`: no scheme, no leading slash, no `..`, no `//`, no query.
fn check_path(path: &str) -> Result<(), WebApiError> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains("//")
        && !path.contains('?')
        && !path.contains('#')
        && !path.contains('\\')
        && !path.contains(':')
        && path.split('/').all(|seg| seg != ".." && seg != ".");
    if ok {
        Ok(())
    } else {
        Err(WebApiError::InvalidPath(path.chars().take(100).collect()))
    }
}

/// SuperOffice's error body is `{Error, ErrorType, ErrorMessage, ErrorSource}`.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("ErrorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths_are_accepted() {
        for ok in ["List", "List/WebPanel/Items", "Contact/UdefLayout/Publish"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/List",
            "../state",
            "List/../../x",
            "https://evil/",
            "a//b",
            "List?x=1",
            "a\\b",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
