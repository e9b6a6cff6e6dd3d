//! The webhook receiver: `POST /webhooks/superoffice/{tenant}`.
//!
//! SuperOffice signs each delivery with the webhook's secret: `X-SuperOffice-Signature` is the base64
//! HMAC-SHA256 of the raw body. We created every webhook with a per-tenant secret (sealed in the
//! tenant's record), so every delivery must carry a valid signature: a missing or wrong one, or a
//! body changed on the way, is refused with 401 and changes nothing. The registration test event
//! (`X-Hook-Test: true`) is answered 200 once its signature checks. Events are recorded once per
//! `EventId` (SuperOffice keeps the id across its retries) and kept 30 days.
//!
//! A signed delivery stays signed forever, so a recorded one could be replayed once its event id
//! is forgotten. The payload's `Timestamp` (covered by the signature) must therefore lie within
//! [`DELIVERY_WINDOW_PAST`] before and [`DELIVERY_WINDOW_FUTURE`] after our clock: SuperOffice
//! retries a delivery for seconds (after 1 s and 4 s, then drops it), so anything older is a
//! replay, not a retry. Within the window, the event-id record refuses replays; beyond it, the
//! window does (the window is far shorter than the records are kept).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use domain::sealing::{self, Sealer};
use domain::store::StoreError;
use domain::tenant::Tenants;
use domain::webhook_events::{Recorded, WebhookEvent, WebhookEvents};
use domain::{Deployment, Ports};
use http::{Method, StatusCode};
use superoffice::clock::{Clock, unix_seconds};
use superoffice::{Secret, TenantId};
use web::{RequestContext, WebRequest, WebResponse};

pub const PATH_PREFIX: &str = "/webhooks/superoffice/";
/// How old a delivery's `Timestamp` may be: SuperOffice's retries end 5 s after the first try;
/// the rest is room for its queueing and for clocks that disagree by a few minutes.
pub const DELIVERY_WINDOW_PAST: Duration = Duration::from_secs(10 * 60);
/// How far ahead of our clock a `Timestamp` may be (clock skew only).
pub const DELIVERY_WINDOW_FUTURE: Duration = Duration::from_secs(5 * 60);
const _: () = assert!(
    DELIVERY_WINDOW_PAST.as_secs() < domain::webhook_events::KEEP_SECONDS as u64,
    "replays inside the window must still find their event id"
);
const MAX_BODY: usize = 256 * 1024;
const SECRET_CACHE: Duration = Duration::from_secs(300);

pub fn serves(path: &str) -> bool {
    path.starts_with(PATH_PREFIX)
}

pub struct Receiver<P: Ports> {
    events: WebhookEvents<P::Items>,
    tenants: Tenants<P::Items>,
    sealer: Arc<P::Sealer>,
    clock: Arc<dyn Clock>,
    /// Opened secrets by tenant, with the sealed value they came from.
    secrets: Mutex<HashMap<TenantId, (String, Secret, Instant)>>,
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

impl<P: Ports> Receiver<P> {
    pub fn new(d: &Deployment<P>) -> Self {
        Self {
            events: WebhookEvents::new(d.items.clone()),
            tenants: Tenants::new(d.items.clone()),
            sealer: d.sealer.clone(),
            clock: d.clock.clone(),
            secrets: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's webhook secret. The tenant record is read for every delivery (one item read),
    /// so a secret replaced by a new install is used at once; only the key service's work to open
    /// it is cached, for as long as the sealed value is the same.
    async fn secret(&self, tenant: &TenantId) -> Result<Option<Secret>, StoreError> {
        let now = unix_seconds(self.clock.now());
        let Some(sealed) = self
            .tenants
            .get(tenant, now)
            .await?
            .and_then(|t| t.value.sealed_webhook_secret)
        else {
            return Ok(None);
        };
        if let Some((cached_sealed, s, at)) = self
            .secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            && *cached_sealed == sealed
            && at.elapsed() < SECRET_CACHE
        {
            return Ok(Some(s.clone()));
        }
        match self
            .sealer
            .open(&sealed, &sealing::context(tenant, "webhook_secret"))
            .await
        {
            Ok(secret) => {
                self.secrets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(tenant.clone(), (sealed, secret.clone(), Instant::now()));
                Ok(Some(secret))
            }
            Err(e) => Err(StoreError::Unavailable(Box::new(e))),
        }
    }

    pub async fn handle(&self, req: WebRequest, ctx: &RequestContext) -> WebResponse {
        let (response, reason) = self.receive(&req).await;
        // The event header is the sender's text: escaped, so it cannot forge a log line.
        let event = req
            .headers()
            .get("x-superoffice-event")
            .map(|v| web::log_text(&String::from_utf8_lossy(v.as_bytes()), 100))
            .unwrap_or_default();
        tracing::info!(
            request_id = %ctx.request_id,
            reason,
            status = response.status().as_u16(),
            event = %event,
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
        // The tenant is parsed where it enters: nothing else of the path is used.
        let Ok(tenant) = TenantId::parse(req.uri().path().trim_start_matches(PATH_PREFIX)) else {
            return (answer(StatusCode::NOT_FOUND, "not found\n"), "unknown_path");
        };
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
        let secret = match self.secret(&tenant).await {
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
            payload.get("ContextIdentifier").and_then(|v| v.as_str()) == Some(tenant.as_str()),
        ) else {
            return (
                answer(StatusCode::BAD_REQUEST, "not an event for this tenant\n"),
                "bad_payload",
            );
        };
        let now = unix_seconds(self.clock.now());
        match delivered_at(&payload) {
            None => {
                return (
                    answer(StatusCode::BAD_REQUEST, "no valid Timestamp\n"),
                    "timestamp_invalid",
                );
            }
            Some(at) if !within_window(at, now) => {
                return (
                    answer(StatusCode::BAD_REQUEST, "outside the delivery window\n"),
                    "timestamp_outside_window",
                );
            }
            Some(_) => {}
        }
        let text = |name: &str| {
            payload
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let event = WebhookEvent {
            event: text("Event"),
            entity: text("Entity"),
            primary_key: payload.get("PrimaryKey").cloned(),
            timestamp: text("Timestamp"),
            received_at: now,
        };
        match self.events.record(&tenant, &event_id, &event, now).await {
            Ok(Recorded::New) => (answer(StatusCode::OK, "ok\n"), "event_recorded"),
            Ok(Recorded::Duplicate) => (answer(StatusCode::OK, "ok\n"), "event_duplicate"),
            Err(_) => (
                answer(StatusCode::SERVICE_UNAVAILABLE, "try again\n"),
                "store_unavailable",
            ),
        }
    }
}

/// The payload's `Timestamp` (RFC 3339, as SuperOffice writes it: `2018-04-24T07:50:50.6812131Z`)
/// in Unix seconds.
fn delivered_at(payload: &serde_json::Value) -> Option<i64> {
    let text = payload.get("Timestamp")?.as_str()?;
    if text.len() > 40 {
        return None;
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

fn within_window(at: i64, now: i64) -> bool {
    let past = DELIVERY_WINDOW_PAST.as_secs() as i64;
    let future = DELIVERY_WINDOW_FUTURE.as_secs() as i64;
    at >= now.saturating_sub(past) && at <= now.saturating_add(future)
}

impl<P: Ports> web::Handler for Receiver<P> {
    async fn handle(&self, req: WebRequest, ctx: RequestContext) -> WebResponse {
        Receiver::handle(self, req, &ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superoffice_timestamps_are_read_to_the_second() {
        let at = |t: &str| delivered_at(&serde_json::json!({ "Timestamp": t }));
        // The documented example payload's Timestamp (7 fractional digits).
        assert_eq!(at("2018-04-24T07:50:50.6812131Z"), Some(1_524_556_250));
        assert_eq!(at("2018-04-24T09:50:50+02:00"), Some(1_524_556_250));
        for bad in ["", "yesterday", "2018-04-24", "1524556250", &"9".repeat(50)] {
            assert_eq!(at(bad), None, "{bad:?}");
        }
        assert_eq!(delivered_at(&serde_json::json!({ "Timestamp": 1 })), None);
        assert_eq!(delivered_at(&serde_json::json!({})), None);
    }

    #[test]
    fn the_window_spans_the_retry_horizon_and_clock_skew_only() {
        let now = 1_000_000;
        assert!(within_window(now, now));
        assert!(within_window(now - 5, now), "SuperOffice's last retry");
        assert!(within_window(now - 600, now));
        assert!(!within_window(now - 601, now));
        assert!(within_window(now + 300, now));
        assert!(!within_window(now + 301, now));
        assert!(
            !within_window(now - 86_400, now),
            "yesterday's delivery, replayed"
        );
    }
}
