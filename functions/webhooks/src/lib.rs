//! The webhook receiver: `POST /webhooks/superoffice/{tenant}`.
//!
//! SuperOffice signs each delivery with the webhook's secret: `X-SuperOffice-Signature` is the base64
//! HMAC-SHA256 of the raw body. We created every webhook with a per-tenant secret (sealed in the
//! tenant's record), so every delivery must carry a valid signature: a missing or wrong one, or a
//! body changed on the way, is refused with 401 and changes nothing. The registration test event
//! (`X-Hook-Test: true`) is answered 200 once its signature checks. Events are recorded once per
//! `EventId` (SuperOffice keeps the id across its retries) and kept 30 days.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use domain::sealing::{self, Sealer};
use domain::store::{Item, Items, StoreError};
use domain::tenant::{Tenants, tenant_pk};
use domain::web::{RequestContext, WebRequest, WebResponse};
use http::{Method, StatusCode};
use superoffice::clock::{Clock, unix_seconds};
use superoffice::{ContextId, Secret};

pub const PATH_PREFIX: &str = "/webhooks/superoffice/";
const MAX_BODY: usize = 256 * 1024;
const KEEP_EVENTS: i64 = 30 * 86_400;
const SECRET_CACHE: Duration = Duration::from_secs(300);

pub fn serves(path: &str) -> bool {
    path.starts_with(PATH_PREFIX)
}

pub struct Receiver<I, S> {
    items: Arc<I>,
    tenants: Tenants<I>,
    sealer: Arc<S>,
    clock: Arc<dyn Clock>,
    secrets: Mutex<HashMap<String, (Secret, Instant)>>,
}

/// The signature check on its own (also used by tests and tools).
pub fn signature_is_valid(secret: &Secret, body: &[u8], header: &str) -> bool {
    let Ok(sent) = STANDARD.decode(header.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    // Constant time.
    hmac::verify(&key, body, &sent).is_ok()
}

fn answer(status: StatusCode, text: &'static str) -> WebResponse {
    let mut r = http::Response::new(Bytes::from_static(text.as_bytes()));
    *r.status_mut() = status;
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

impl<I: Items, S: Sealer> Receiver<I, S> {
    pub fn new(items: Arc<I>, sealer: Arc<S>, clock: Arc<dyn Clock>) -> Self {
        Self {
            tenants: Tenants::new(items.clone()),
            items,
            sealer,
            clock,
            secrets: Mutex::new(HashMap::new()),
        }
    }

    async fn secret(&self, ctx: &str) -> Result<Option<Secret>, StoreError> {
        if let Some((s, at)) = self
            .secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(ctx)
            && at.elapsed() < SECRET_CACHE
        {
            return Ok(Some(s.clone()));
        }
        let now = unix_seconds(self.clock.now());
        let Some(sealed) = self
            .tenants
            .get(ctx, now)
            .await?
            .and_then(|t| t.value.sealed_webhook_secret)
        else {
            return Ok(None);
        };
        match self
            .sealer
            .open(&sealed, &sealing::context(ctx, "webhook_secret"))
            .await
        {
            Ok(secret) => {
                self.secrets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(ctx.to_owned(), (secret.clone(), Instant::now()));
                Ok(Some(secret))
            }
            Err(e) => Err(StoreError::Unavailable(Box::new(e))),
        }
    }

    pub async fn handle(&self, req: WebRequest, ctx: &RequestContext) -> WebResponse {
        let (response, reason) = self.receive(&req).await;
        tracing::info!(
            request_id = %ctx.request_id,
            reason,
            status = response.status().as_u16(),
            event = req.headers().get("x-superoffice-event").and_then(|v| v.to_str().ok()).unwrap_or(""),
            "webhook delivery"
        );
        response
    }

    async fn receive(&self, req: &WebRequest) -> (WebResponse, &'static str) {
        if req.method() != Method::POST {
            return (
                answer(StatusCode::METHOD_NOT_ALLOWED, "POST only\n"),
                "method_not_allowed",
            );
        }
        let tenant = req.uri().path().trim_start_matches(PATH_PREFIX);
        if !ContextId::is_valid(tenant) {
            return (answer(StatusCode::NOT_FOUND, "not found\n"), "unknown_path");
        }
        if req.body().len() > MAX_BODY {
            return (
                answer(StatusCode::PAYLOAD_TOO_LARGE, "too large\n"),
                "too_large",
            );
        }
        let Some(signature) = req
            .headers()
            .get("x-superoffice-signature")
            .and_then(|v| v.to_str().ok())
        else {
            return (
                answer(StatusCode::UNAUTHORIZED, "signature required\n"),
                "signature_missing",
            );
        };
        let secret = match self.secret(tenant).await {
            Ok(Some(s)) => s,
            // The same answer as a forgery: nothing tells a caller which tenants exist.
            Ok(None) => {
                return (
                    answer(StatusCode::UNAUTHORIZED, "signature not valid\n"),
                    "unknown_tenant",
                );
            }
            Err(_) => {
                return (
                    answer(StatusCode::SERVICE_UNAVAILABLE, "try again\n"),
                    "store_unavailable",
                );
            }
        };
        if !signature_is_valid(&secret, req.body(), signature) {
            return (
                answer(StatusCode::UNAUTHORIZED, "signature not valid\n"),
                "signature_invalid",
            );
        }
        if req
            .headers()
            .get("x-hook-test")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return (answer(StatusCode::OK, "ok\n"), "test_event");
        }
        let Ok(payload) = serde_json::from_slice::<serde_json::Value>(req.body()) else {
            return (answer(StatusCode::BAD_REQUEST, "not JSON\n"), "bad_payload");
        };
        let event_id = payload
            .get("EventId")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty() && s.len() <= 100)
            .map(str::to_owned);
        let (Some(event_id), true) = (
            event_id,
            payload.get("ContextIdentifier").and_then(|v| v.as_str()) == Some(tenant),
        ) else {
            return (
                answer(StatusCode::BAD_REQUEST, "not an event for this tenant\n"),
                "bad_payload",
            );
        };
        let now = unix_seconds(self.clock.now());
        let item = Item::new(
            tenant_pk(tenant),
            format!("EVENT#{event_id}"),
            serde_json::json!({
                "event": payload.get("Event"),
                "entity": payload.get("Entity"),
                "primary_key": payload.get("PrimaryKey"),
                "timestamp": payload.get("Timestamp"),
                "received_at": now,
            }),
        )
        .expiring_at(now + KEEP_EVENTS);
        match self.items.put_new(&item, now).await {
            Ok(()) => (answer(StatusCode::OK, "ok\n"), "event_recorded"),
            Err(StoreError::AlreadyExists) => (answer(StatusCode::OK, "ok\n"), "event_duplicate"),
            Err(_) => (
                answer(StatusCode::SERVICE_UNAVAILABLE, "try again\n"),
                "store_unavailable",
            ),
        }
    }
}
