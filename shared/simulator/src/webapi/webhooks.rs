//! Webhooks: the `Webhook` endpoints, the test POST at save time, and the sender behind
//! [`crate::SimulatorHandle::deliver_webhook_event`].
//!
//! | Method and path | Effect |
//! |---|---|
//! | `GET Webhook?nameFilter=&eventFilter=&statusFilter=` | the webhooks that pass the filters |
//! | `POST Webhook` | saves a new webhook after its target answered the test POST with 200 |
//! | `GET Webhook/default` | the documented default entity |
//! | `GET\|PUT\|DELETE Webhook/{id}` | one webhook (PUT tests the target again) |
//! | `GET Webhook/{id}/LastError` | the last error text (a JSON string) |
//! | `POST Webhook/Test` | POSTs the test event to a webhook definition's target → `WebhookResult` |
//!
//! Every call to a target is signed as SuperOffice does: `X-SuperOffice-Signature` is the base64
//! HMAC-SHA256 of the raw body with the webhook's `Secret` (only when it has one).

use std::sync::Arc;
use std::time::SystemTime;

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Map, Value, json};
use url::Url;

use super::data::StoredWebhook;
use super::lists::with_tenant;
use super::model::{
    NOTIFY_VIA, NOTIFY_WHEN, WEBHOOK_STATES, Webhook, WebhookPayload, WithLinks, check_enum,
    from_body,
};
use super::{
    ApiError, ApiResult, Caller, SYSTEM_ASSOCIATE, int_param, json_body, no_content, ok_json,
    query, v1_root,
};
use crate::state::AppState;
use crate::util::{b64std, check_callback_url, clip, dotnet_utc, random_bytes};

type St = State<Arc<AppState>>;
type Ext = Extension<Caller>;

/// `User-Agent` of webhook calls (the NetServer version the simulated tenants report).
pub(crate) const WEBHOOK_USER_AGENT: &str = "NetServer-Webhook/11.10.721.0";

/// After this many failed calls in a row the state becomes `TooManyErrors` (3 cycles of 3 tries).
const MAX_CONSECUTIVE_ERRORS: i32 = 9;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/Webhook", get(all_webhooks).post(create_webhook))
        .route("/v1/Webhook/default", get(default_webhook))
        .route("/v1/Webhook/Test", post(test_webhook))
        .route(
            "/v1/Webhook/{id}",
            get(get_webhook).put(put_webhook).delete(delete_webhook),
        )
        .route("/v1/Webhook/{id}/LastError", get(last_error))
}

/// An event to send with [`crate::SimulatorHandle::deliver_webhook`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// `contact.changed`, …: the `Event` property and the `X-SuperOffice-Event` header.
    pub event: String,
    /// `contact`, …
    pub entity: String,
    pub primary_key: i32,
    /// Changed database fields (`Changes`); empty by default.
    pub changes: Vec<String>,
    /// `FieldValues`; left out of the body when `None` (the default).
    pub field_values: Option<Map<String, Value>>,
    /// `ChangedByAssociateId`; 1 (the system user) by default.
    pub changed_by_associate_id: i32,
    /// `EventId` and `X-SuperOffice-EventId`; a new GUID when `None`. Set it to replay a retry.
    pub event_id: Option<String>,
    /// `X-SuperOffice-Retry`; the header is left out when `None` (the default).
    pub retry: Option<u32>,
}

impl WebhookEvent {
    pub fn new(event: impl Into<String>, entity: impl Into<String>, primary_key: i32) -> Self {
        Self {
            event: event.into(),
            entity: entity.into(),
            primary_key,
            changes: Vec::new(),
            field_values: None,
            changed_by_associate_id: SYSTEM_ASSOCIATE,
            event_id: None,
            retry: None,
        }
    }

    pub fn changes<S: Into<String>>(mut self, changes: impl IntoIterator<Item = S>) -> Self {
        self.changes = changes.into_iter().map(Into::into).collect();
        self
    }

    pub fn field_values(mut self, values: Map<String, Value>) -> Self {
        self.field_values = Some(values);
        self
    }

    pub fn changed_by(mut self, associate_id: i32) -> Self {
        self.changed_by_associate_id = associate_id;
        self
    }

    pub fn event_id(mut self, id: impl Into<String>) -> Self {
        self.event_id = Some(id.into());
        self
    }

    pub fn retry(mut self, n: u32) -> Self {
        self.retry = Some(n);
        self
    }
}

/// What the simulator sent and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// The target's HTTP status; `None` if it did not answer (connection refused, timeout).
    pub status: Option<u16>,
    /// Why there is no status, or the start of the answer when it was not 200.
    pub error: Option<String>,
    pub url: String,
    pub event_id: String,
    /// The exact body bytes sent (UTF-8 JSON).
    pub body: String,
    /// The `X-SuperOffice-Signature` sent, if the webhook has a secret.
    pub signature: Option<String>,
}

/// Why [`crate::SimulatorHandle::deliver_webhook`] sent nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    #[error("the tenant has no webhook {0}")]
    UnknownWebhook(i32),
    #[error("webhook {id} is {state}; only Active webhooks are called")]
    NotActive { id: i32, state: String },
}

/// A random version-4 GUID, lowercase, as SuperOffice writes event ids.
pub(crate) fn new_guid() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `2026-02-24T10:11:12`: how the WebAPI writes `Registered` / `Updated`.
fn dotnet_seconds(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t).to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// base64(HMAC-SHA256(secret, body)).
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    b64std(hmac::sign(&key, body).as_ref())
}

/// `https://…`, or `http://` to a loopback address (tests).
fn check_target(url: &str) -> Result<Url, String> {
    check_callback_url(url, "TargetUrl")
}

fn check_event_name(e: &str) -> bool {
    let mut parts = e.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// Parses and checks a webhook body; returns it with `Type` and `State` normalised.
fn parse_webhook(body: &Bytes) -> Result<Webhook, ApiError> {
    let mut w: Webhook = from_body(json_body(body)?, "Webhook").map_err(ApiError::bad_request)?;
    if w.hook_type.is_empty() || w.hook_type.eq_ignore_ascii_case("webhook") {
        w.hook_type = "webhook".into();
    } else if w.hook_type.eq_ignore_ascii_case("crmscript") {
        return Err(ApiError::bad_request(
            "Type \"crmscript\" is not simulated; use \"webhook\"",
        ));
    } else {
        return Err(ApiError::bad_request(format!(
            "Type {:?} is not \"webhook\" or \"crmscript\"",
            clip(&w.hook_type, 40)
        )));
    }
    if w.events.is_empty() {
        return Err(ApiError::bad_request(
            "Events must name at least one event, e.g. \"contact.changed\"",
        ));
    }
    if let Some(e) = w.events.iter().find(|e| !check_event_name(e)) {
        return Err(ApiError::bad_request(format!(
            "Event {:?} is not of the form \"entity.action\"",
            clip(e, 80)
        )));
    }
    let target = w
        .target_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad_request("TargetUrl is required"))?;
    check_target(target).map_err(ApiError::bad_request)?;
    check_enum(&w.state, WEBHOOK_STATES, "State", false).map_err(ApiError::bad_request)?;
    check_enum(&w.notify_via, NOTIFY_VIA, "NotifyVia", false).map_err(ApiError::bad_request)?;
    for part in w.notify_when.split(',') {
        check_enum(part.trim(), NOTIFY_WHEN, "NotifyWhen", false).map_err(ApiError::bad_request)?;
    }
    if let Some(headers) = &w.headers {
        for (name, value) in headers {
            let Some(value) = value.as_str() else {
                return Err(ApiError::bad_request(format!(
                    "Header {:?} must have a string value",
                    clip(name, 80)
                )));
            };
            if HeaderName::from_bytes(name.as_bytes()).is_err()
                || HeaderValue::from_str(value).is_err()
            {
                return Err(ApiError::bad_request(format!(
                    "Header {:?} is not a valid HTTP header",
                    clip(name, 80)
                )));
            }
        }
    }
    Ok(w)
}

/// One call to a webhook target, ready to send.
struct Outgoing {
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
    event_id: String,
    signature: Option<String>,
}

fn outgoing(w: &Webhook, payload: &WebhookPayload, test: bool, retry: Option<u32>) -> Outgoing {
    // Serialising plain strings, numbers and JSON values cannot fail.
    let body = serde_json::to_vec(payload).unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in w.headers.iter().flatten() {
        if let (Ok(n), Some(Ok(v))) = (
            HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            headers.insert(n, v);
        }
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("content-type", "application/json; charset=utf-8");
    set("user-agent", WEBHOOK_USER_AGENT);
    set("x-superoffice-event", &payload.event);
    set("x-superoffice-eventid", &payload.event_id);
    if test {
        set("x-hook-test", "true");
    }
    if let Some(n) = retry {
        set("x-superoffice-retry", &n.to_string());
    }
    let signature = w
        .secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| signature(s, &body));
    if let Some(sig) = &signature {
        set("x-superoffice-signature", sig);
    }
    debug_assert!(headers.contains_key(header::CONTENT_TYPE));
    Outgoing {
        url: w.target_url.clone().unwrap_or_default(),
        headers,
        body,
        event_id: payload.event_id.clone(),
        signature,
    }
}

/// POSTs; `Ok((status, start of the answer))` or `Err(why there is no answer)`.
async fn send(st: &AppState, out: &Outgoing) -> Result<(u16, String), String> {
    let resp = st
        .webapi
        .http
        .post(&out.url)
        .headers(out.headers.clone())
        .body(out.body.clone())
        .send()
        .await;
    match resp {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            Ok((status, clip(&text, 1000)))
        }
        Err(e) if e.is_timeout() => Err(format!(
            "no answer within {} ms",
            st.webapi.webhook_timeout.as_millis()
        )),
        Err(e) => Err(format!("connection failed: {e}")),
    }
}

fn test_payload(w: &Webhook, ctx: &str, associate_id: i32) -> WebhookPayload {
    WebhookPayload {
        event_id: new_guid(),
        timestamp: dotnet_utc(SystemTime::now()),
        changes: Vec::new(),
        event: "test".into(),
        primary_key: 0,
        entity: "test".into(),
        context_identifier: ctx.to_owned(),
        changed_by_associate_id: associate_id,
        webhook_name: w.name.clone().unwrap_or_default(),
        field_values: None,
        properties: w.properties.clone().unwrap_or_default(),
    }
}

/// Sends the test event; `Ok` only for a 200 answer.
async fn run_test(st: &AppState, caller: &Caller, w: &Webhook) -> Result<(), String> {
    let out = outgoing(
        w,
        &test_payload(w, &caller.ctx, caller.associate_id(st)),
        true,
        None,
    );
    match send(st, &out).await {
        Ok((200, _)) => Ok(()),
        Ok((status, _)) => Err(format!(
            "The webhook target {} did not answer the test POST with 200 OK (it answered HTTP {status})",
            clip(&out.url, 200)
        )),
        Err(why) => Err(format!(
            "The webhook target {} did not answer the test POST with 200 OK: {why}",
            clip(&out.url, 200)
        )),
    }
}

fn with_links(st: &AppState, caller: &Caller, w: Webhook) -> WithLinks<Webhook> {
    let self_url = format!("{}Webhook/{}", v1_root(st, &caller.ctx), w.webhook_id);
    WithLinks::new(w, self_url)
}

fn no_such_webhook(id: i32) -> ApiError {
    ApiError::not_found(format!("No webhook {id}"))
}

async fn all_webhooks(State(st): St, Extension(caller): Ext, RawQuery(q): RawQuery) -> ApiResult {
    let params = query(q.as_deref());
    let name = params.get("nameFilter").map(str::to_owned);
    let event = params.get("eventFilter").map(str::to_owned);
    let status = match params.get("statusFilter") {
        None => None,
        Some(s) => {
            let s = WEBHOOK_STATES
                .iter()
                .find(|x| x.eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "statusFilter {:?} is not one of {}",
                        clip(s, 40),
                        WEBHOOK_STATES.join(", ")
                    ))
                })?;
            // Unknown = no filter.
            (*s != "Unknown").then_some(*s)
        }
    };
    let hooks = with_tenant(&st, &caller, |t| {
        t.webhooks
            .iter()
            .map(|w| &w.entity)
            .filter(|w| {
                name.as_deref()
                    .is_none_or(|n| w.name.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(n)))
            })
            .filter(|w| {
                event
                    .as_deref()
                    .is_none_or(|e| w.events.iter().any(|x| x.eq_ignore_ascii_case(e)))
            })
            .filter(|w| status.is_none_or(|s| w.state == s))
            .cloned()
            .collect::<Vec<_>>()
    })?;
    ok_json(&hooks)
}

async fn default_webhook() -> ApiResult {
    ok_json(&Webhook::documented_default())
}

async fn create_webhook(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let mut w = parse_webhook(&body)?;
    run_test(&st, &caller, &w)
        .await
        .map_err(ApiError::bad_request)?;
    let now = dotnet_seconds(SystemTime::now());
    w.registered.clone_from(&now);
    w.updated = now;
    w.registered_associate = Some(caller.associate(&st));
    w.updated_associate = None;
    w.total_calls = 0;
    w.total_errors = 0;
    w.consecutive_errors = 0;
    w.last_error = None;
    let saved = with_tenant(&st, &caller, |t| {
        w.webhook_id = t.next_webhook_id;
        t.next_webhook_id += 1;
        t.webhooks.push(StoredWebhook {
            entity: w.clone(),
            created_by_client_id: caller.client_id.clone(),
        });
        w
    })?;
    ok_json(&with_links(&st, &caller, saved))
}

fn find(st: &AppState, caller: &Caller, id: i32) -> Result<Webhook, ApiError> {
    with_tenant(st, caller, |t| {
        t.webhook_index(id).map(|i| t.webhooks[i].entity.clone())
    })?
    .ok_or_else(|| no_such_webhook(id))
}

async fn get_webhook(State(st): St, Extension(caller): Ext, Path(id): Path<String>) -> ApiResult {
    let id = int_param(&id, "webhook id")?;
    let w = find(&st, &caller, id)?;
    ok_json(&with_links(&st, &caller, w))
}

async fn last_error(State(st): St, Extension(caller): Ext, Path(id): Path<String>) -> ApiResult {
    let id = int_param(&id, "webhook id")?;
    let w = find(&st, &caller, id)?;
    ok_json(&w.last_error.unwrap_or_default())
}

async fn put_webhook(
    State(st): St,
    Extension(caller): Ext,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = int_param(&id, "webhook id")?;
    let mut w = parse_webhook(&body)?;
    find(&st, &caller, id)?;
    run_test(&st, &caller, &w)
        .await
        .map_err(ApiError::bad_request)?;
    let associate = caller.associate(&st);
    let saved = with_tenant(&st, &caller, |t| {
        let i = t.webhook_index(id).ok_or_else(|| no_such_webhook(id))?;
        let old = &t.webhooks[i].entity;
        w.webhook_id = id;
        w.registered.clone_from(&old.registered);
        w.registered_associate.clone_from(&old.registered_associate);
        w.total_calls = old.total_calls;
        w.total_errors = old.total_errors;
        w.consecutive_errors = if w.state == "Active" {
            0
        } else {
            old.consecutive_errors
        };
        w.last_error.clone_from(&old.last_error);
        w.updated = dotnet_seconds(SystemTime::now());
        w.updated_associate = Some(associate);
        t.webhooks[i].entity = w.clone();
        Ok::<_, ApiError>(w)
    })??;
    ok_json(&with_links(&st, &caller, saved))
}

async fn delete_webhook(
    State(st): St,
    Extension(caller): Ext,
    Path(id): Path<String>,
) -> ApiResult {
    let id = int_param(&id, "webhook id")?;
    with_tenant(&st, &caller, |t| {
        t.webhook_index(id).map(|i| t.webhooks.remove(i))
    })?
    .ok_or_else(|| no_such_webhook(id))?;
    no_content()
}

async fn test_webhook(State(st): St, Extension(caller): Ext, body: Bytes) -> ApiResult {
    let w = parse_webhook(&body)?;
    let out = outgoing(
        &w,
        &test_payload(&w, &caller.ctx, caller.associate_id(&st)),
        true,
        None,
    );
    let (success, message) = match send(&st, &out).await {
        Ok((status, text)) => (status == 200, format!("HTTP {status}\r\n\r\n{text}")),
        Err(why) => (false, why),
    };
    ok_json(&json!({
        "Success": success,
        "Message": message,
        "TableRight": null,
        "FieldProperties": {},
    }))
}

/// Sends `event` through a tenant's webhook, signed like SuperOffice, and records the outcome on
/// the webhook (`TotalCalls`, `TotalErrors`, `ConsecutiveErrors`, `LastError`, `TooManyErrors`).
pub(crate) async fn deliver(
    st: &AppState,
    ctx: &str,
    webhook_id: i32,
    event: &WebhookEvent,
) -> Result<WebhookDelivery, WebhookError> {
    let ctx = st
        .store()
        .tenant(ctx)
        .map(|t| t.cfg.context_id.clone())
        .ok_or_else(|| WebhookError::UnknownTenant(ctx.to_owned()))?;
    let w = st
        .webapi
        .with(&ctx, |t| {
            t.webhook_index(webhook_id)
                .map(|i| t.webhooks[i].entity.clone())
        })
        .flatten()
        .ok_or(WebhookError::UnknownWebhook(webhook_id))?;
    if w.state != "Active" {
        return Err(WebhookError::NotActive {
            id: webhook_id,
            state: w.state,
        });
    }
    let payload = WebhookPayload {
        event_id: event.event_id.clone().unwrap_or_else(new_guid),
        timestamp: dotnet_utc(SystemTime::now()),
        changes: event.changes.clone(),
        event: event.event.clone(),
        primary_key: event.primary_key,
        entity: event.entity.clone(),
        context_identifier: ctx.clone(),
        changed_by_associate_id: event.changed_by_associate_id,
        webhook_name: w.name.clone().unwrap_or_default(),
        field_values: event.field_values.clone(),
        properties: w.properties.clone().unwrap_or_default(),
    };
    let out = outgoing(&w, &payload, false, event.retry);
    let result = send(st, &out).await;
    let (status, error) = match &result {
        Ok((200, _)) => (Some(200), None),
        Ok((s, text)) => (Some(*s), Some(format!("HTTP {s}\r\n\r\n{text}"))),
        Err(why) => (None, Some(why.clone())),
    };
    st.webapi.with(&ctx, |t| {
        if let Some(i) = t.webhook_index(webhook_id) {
            let e = &mut t.webhooks[i].entity;
            e.total_calls = e.total_calls.saturating_add(1);
            match &error {
                None => e.consecutive_errors = 0,
                Some(msg) => {
                    e.total_errors = e.total_errors.saturating_add(1);
                    e.consecutive_errors = e.consecutive_errors.saturating_add(1);
                    e.last_error = Some(msg.clone());
                    if e.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        e.state = "TooManyErrors".into();
                    }
                }
            }
        }
    });
    Ok(WebhookDelivery {
        status,
        error,
        url: out.url,
        event_id: out.event_id,
        body: String::from_utf8_lossy(&out.body).into_owned(),
        signature: out.signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_shape() {
        let g = new_guid();
        assert_eq!(g.len(), 36);
        assert_eq!(g.as_bytes()[14], b'4');
        assert!(g.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn targets() {
        assert!(check_target("https://example.com/hook").is_ok());
        assert!(check_target("http://127.0.0.1:9/hook").is_ok());
        assert!(check_target("http://[::1]:9/hook").is_ok());
        assert!(check_target("http://localhost/hook").is_ok());
        assert!(check_target("http://example.com/hook").is_err());
        assert!(check_target("ftp://example.com/").is_err());
        assert!(check_target("not a url").is_err());
    }

    #[test]
    fn event_names() {
        assert!(check_event_name("contact.changed"));
        assert!(check_event_name("webhook123.errors"));
        assert!(!check_event_name("contact"));
        assert!(!check_event_name("contact.changed.x"));
        assert!(!check_event_name(".changed"));
    }
}
