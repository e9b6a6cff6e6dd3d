//! SuperOffice's tenant state-change push: `POST /state-change`.
//!
//! SuperOffice posts `{ChangeType, ContextIdentifier, VersionName, FileVersion, Token,
//! PublicEndpoint}` to the app's registered "Customer state change" URL when a tenant is upgraded,
//! restored from a backup, suspended, resumed, deleted or moved. The body is not signed; the
//! `Token` is a JWT by the environment's Federated Login keys, so the sender is SuperOffice exactly
//! when the token validates for this environment and this tenant (see the platform crate's
//! `jwt::state_change` for what is checked, as SuperOffice does not document its claims). A token is
//! acted on once: the same token again is a replay, refused with 409 and no effect.
//!
//! The answer is fast: the change is recorded on the tenant and its work queued in the tenant's job
//! group ([`domain::lifecycle`]). What each answer means for SuperOffice:
//!
//! | status | when | SuperOffice should |
//! |---|---|---|
//! | 200 | recorded, a tenant we do not know, or a change this version does not know | stop |
//! | 400 | not a state-change body | stop (resending the same body will not help) |
//! | 401 | the token does not prove SuperOffice sent it for this tenant and environment | stop |
//! | 405, 413 | not a POST; a body over 16 KiB | stop |
//! | 409 | this token was acted on already | stop |
//! | 503 | our store, queue or SuperOffice's keys unavailable | send it again |
//!
//! Nothing of the token is logged; the log line carries the tenant, the change and a reason code.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use domain::lifecycle::{Applied, ChangeType, Lifecycle, LifecycleError, Replays, StateChange};
use domain::{Deployment, Ports};
use http::{Method, StatusCode};
use serde::Deserialize;
use superoffice::TenantId;
use superoffice::client::SuperOffice;
use superoffice::clock::{Clock, unix_seconds};
use superoffice::jwt::TokenError;
use web::{RequestContext, WebRequest, WebResponse};

pub const PATH: &str = "/state-change";
/// Real pushes are a few hundred bytes plus a token of about 1 kB.
pub const MAX_BODY: usize = 16 * 1024;

pub fn serves(path: &str) -> bool {
    path == PATH
}

pub struct StateChanges<P: Ports> {
    lifecycle: Lifecycle<P::Items, P::Queue>,
    replays: Replays<P::Items>,
    superoffice: Arc<SuperOffice>,
    clock: Arc<dyn Clock>,
}

/// The documented body. Field names as SuperOffice's `NotificationMessage`; unknown fields are
/// ignored (SuperOffice may add some), a field given twice is refused.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Push<'a> {
    change_type: serde_json::Value,
    #[serde(borrow)]
    context_identifier: Cow<'a, str>,
    #[serde(default)]
    version_name: Option<String>,
    #[serde(default, borrow)]
    #[allow(dead_code)]
    file_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    token: Cow<'a, str>,
    #[serde(default)]
    public_endpoint: Option<String>,
}

/// An answer and the reason code for the log.
struct Answer(StatusCode, &'static str, &'static str);

impl Answer {
    fn response(&self) -> WebResponse {
        let mut r = http::Response::new(Bytes::from_static(self.1.as_bytes()));
        *r.status_mut() = self.0;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        r
    }
}

fn bad(why: &'static str) -> Answer {
    Answer(StatusCode::BAD_REQUEST, "not a state change\n", why)
}

/// `ChangeType` as a number (the documented JSON) or as the enum's name (a serializer's choice).
fn change_type(v: &serde_json::Value) -> Option<ChangeType> {
    match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .filter(|n| (0..=1000).contains(n))
            .map(ChangeType::from_code),
        serde_json::Value::String(s) => ChangeType::from_name(s),
        _ => None,
    }
}

/// A host name as `PublicEndpoint` carries it (`sod3.superoffice.com`, optionally with a port). It
/// is recorded for the operator, never called: the tenant-state API says where the API lives.
fn endpoint(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        && !s.starts_with(['.', '-', ':']);
    ok.then(|| s.to_ascii_lowercase())
}

impl<P: Ports> StateChanges<P> {
    pub fn new(d: &Deployment<P>) -> Self {
        Self {
            lifecycle: Lifecycle::new(d.items.clone(), d.queue.clone()),
            replays: Replays::new(d.items.clone()),
            superoffice: d.superoffice.clone(),
            clock: d.clock.clone(),
        }
    }

    pub async fn handle(&self, req: WebRequest, ctx: &RequestContext) -> WebResponse {
        let mut tenant = None;
        let mut change = None;
        let answer = self.receive(&req, &mut tenant, &mut change).await;
        tracing::info!(
            request_id = %ctx.request_id,
            reason = answer.2,
            status = answer.0.as_u16(),
            tenant = tenant.as_ref().map(TenantId::as_str).unwrap_or(""),
            change = change.map(ChangeType::as_str).unwrap_or(""),
            "state change push"
        );
        answer.response()
    }

    async fn receive(
        &self,
        req: &WebRequest,
        tenant_seen: &mut Option<TenantId>,
        change_seen: &mut Option<ChangeType>,
    ) -> Answer {
        if req.method() != Method::POST {
            return Answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST only\n",
                "method_not_allowed",
            );
        }
        if req.body().len() > MAX_BODY {
            return Answer(StatusCode::PAYLOAD_TOO_LARGE, "too large\n", "too_large");
        }
        let Ok(push) = serde_json::from_slice::<Push<'_>>(req.body()) else {
            return bad("malformed_body");
        };
        let Ok(tenant) = TenantId::parse(&push.context_identifier) else {
            return bad("bad_context_identifier");
        };
        *tenant_seen = Some(tenant.clone());
        let Some(change) = change_type(&push.change_type) else {
            return bad("bad_change_type");
        };
        *change_seen = Some(change);
        let public_endpoint = match push.public_endpoint.as_deref() {
            None | Some("") => None,
            Some(s) => match endpoint(s) {
                Some(e) => Some(e),
                None => return bad("bad_public_endpoint"),
            },
        };
        if change == ChangeType::Move && public_endpoint.is_none() {
            return bad("move_without_endpoint");
        }
        let validator = match self.superoffice.state_change_validator().await {
            Ok(v) => v,
            Err(_) => {
                return Answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "try again\n",
                    "keys_unavailable",
                );
            }
        };
        let token = match validator.validate(&push.token, &tenant).await {
            Ok(t) => t,
            Err(TokenError::Invalid(reason)) => {
                tracing::info!(tenant = %tenant, token_reason = reason.code(), "state change token refused");
                return Answer(StatusCode::UNAUTHORIZED, "not verified\n", "token_refused");
            }
            Err(TokenError::KeysUnavailable(_)) => {
                return Answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "try again\n",
                    "keys_unavailable",
                );
            }
        };
        let now = unix_seconds(self.clock.now());
        let state_change = StateChange {
            change,
            tenant: tenant.clone(),
            version_name: push.version_name.clone().filter(|v| v.len() <= 200),
            public_endpoint,
        };
        match self
            .replays
            .claim(&push.token, &state_change, token.expires_at, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Answer(StatusCode::CONFLICT, "already received\n", "replay");
            }
            Err(_) => {
                return Answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "try again\n",
                    "store_unavailable",
                );
            }
        }
        match self.lifecycle.apply(&state_change, now).await {
            Ok(Applied::Recorded { .. }) => Answer(StatusCode::OK, "ok\n", "recorded"),
            Ok(Applied::UnknownTenant) => Answer(StatusCode::OK, "ok\n", "unknown_tenant"),
            Ok(Applied::UnknownChange(_)) => Answer(StatusCode::OK, "ok\n", "unknown_change_type"),
            Err(LifecycleError::TryAgain(_)) => {
                // SuperOffice sends it again: the token must be accepted then.
                if let Err(e) = self.replays.release(&push.token).await {
                    tracing::warn!(tenant = %tenant, reason = "replay_release_failed", error = %e, "a retried push will be refused as a replay");
                }
                Answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "try again\n",
                    "unavailable",
                )
            }
        }
    }
}

impl<P: Ports> web::Handler for StateChanges<P> {
    async fn handle(&self, req: WebRequest, ctx: RequestContext) -> WebResponse {
        StateChanges::handle(self, req, &ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_types_by_number_or_name_and_nothing_else() {
        use serde_json::json;
        assert_eq!(change_type(&json!(4)), Some(ChangeType::Delete));
        assert_eq!(change_type(&json!(5)), Some(ChangeType::Move));
        assert_eq!(change_type(&json!(17)), Some(ChangeType::Unknown(17)));
        assert_eq!(
            change_type(&json!("BackupRestored")),
            Some(ChangeType::BackupRestored)
        );
        for v in [
            json!(-1),
            json!(1.5),
            json!(1e9),
            json!("4"),
            json!("delete"),
            json!(null),
            json!(true),
            json!([4]),
        ] {
            assert_eq!(change_type(&v), None, "{v}");
        }
    }

    #[test]
    fn endpoints_are_host_names_only() {
        assert_eq!(
            endpoint("sod3.superoffice.com").as_deref(),
            Some("sod3.superoffice.com")
        );
        assert_eq!(
            endpoint("127.0.0.1:8443").as_deref(),
            Some("127.0.0.1:8443")
        );
        assert_eq!(
            endpoint("SOD3.SuperOffice.com").as_deref(),
            Some("sod3.superoffice.com")
        );
        for bad in [
            "https://sod3.superoffice.com",
            "sod3.superoffice.com/Cust1",
            "evil.example\r\nX: y",
            "a b",
            ".sod",
            "",
            &"a".repeat(300),
            "sød.superoffice.com",
            "user@host",
        ] {
            assert_eq!(endpoint(bad), None, "{bad:?}");
        }
    }
}
