//! The scripting API under `/__sim/`, for tests in another process (e.g. a browser test):
//!
//! | Method and path | Body | Effect |
//! |---|---|---|
//! | `GET /__sim/info` | | base URL, issuer, kid, tenants, apps |
//! | `GET /__sim/requests` | | the request log (JSON array) |
//! | `DELETE /__sim/requests` | | clears the log |
//! | `GET /__sim/faults` | | active fault rules |
//! | `POST /__sim/faults` | a rule or an array of rules | appends rules |
//! | `DELETE /__sim/faults` | | removes all rules |
//! | `POST /__sim/tenants/{ctx}/state` | `{"state":"Suspended","valid_until":"2026-01-01T00:00:00Z"}` | sets the tenant state (`valid_until` optional) |
//! | `POST /__sim/tenants/{ctx}/move` | `{"shard":"sod3"}` | moves the tenant (400 for a shard the configuration would refuse) |
//! | `POST /__sim/tenants/{ctx}/consents/{client_id}` | | grants consent |
//! | `DELETE /__sim/tenants/{ctx}/consents/{client_id}` | | revokes consent |
//! | `GET /__sim/tenants/{ctx}/system-tokens/{client_id}` | | `{"SystemToken": "..."}` |
//! | `GET /__sim/sessions` | | `{"sessions": n}`: live SuperID sign-in sessions |
//! | `DELETE /__sim/sessions` | | ends every sign-in session; `{"ended": n}` |
//! | `POST /__sim/sessions/age` | `{"seconds": 600}` | makes every session's last sign-in that much older |
//! | `POST /__sim/keys/rotate` | `{"keep_old": true}` | rotates the signing key |
//! | `GET /__sim/tenants/{ctx}/webapi` | | the tenant's [`crate::WebApiSnapshot`] |
//! | `GET /__sim/tenants/{ctx}/webapi/calls?family=POST%20UdefLayout/Publish` | | `{"calls": n}` |
//! | `POST /__sim/tenants/{ctx}/webhooks/{id}/events` | `{"event","entity","primary_key", …}` | sends an event through the webhook; the delivery |
//! | `POST /__sim/tenants/{ctx}/udef/{entity}/publish-running` | `{"duration_ms": 500}` | pretends a publish runs |
//! | `POST /__sim/udef-publish-duration` | `{"duration_ms": 500}` | how long publishes run from now on |
//! | `GET\|POST /__sim/tenants` | (form) | the tenants page for people: lifecycle buttons and snapshots (HTML, see `lifecycle/page.rs`) |
//! | `POST /__sim/tenants/{ctx}/lifecycle/{upgrade\|suspend\|resume\|delete\|move\|restore}` | optional, see below | changes the tenant, then pushes; `{"change", "change_type", "context_id", "delivery"}` |
//! | `POST /__sim/tenants/{ctx}/push/{change}` | optional push options | pushes about the tenant as it is, changing nothing; same answer |
//! | `POST /__sim/tenants/{ctx}/snapshots` | optional `{"label": "…"}` | keeps a copy of the tenant's WebAPI data; `{"snapshot": id}` |
//! | `GET /__sim/tenants/{ctx}/snapshots` | | `[{"snapshot", "context_id", "taken_at", "label", "contents"}]`, oldest first |
//! | `DELETE /__sim/tenants/{ctx}/snapshots/{id}` | | forgets a snapshot |
//! | `GET\|POST /__sim/crm-version` | `{"version_name": "…", "file_version": "…"}` | the CRM version (POST sets it without a push) |
//! | `POST /__sim/apps/{client_id}/state-change-url` | `{"url": "https://…"}` or `{"url": null}` | registers or removes the app's state-change URL |
//!
//! Rule format: see [`crate::faults::FaultRuleWire`].
//!
//! Lifecycle bodies (all fields optional, unknown ones refused): `version_name` and
//! `file_version` (upgrade; both or neither, neither = the next build), `shard` (move, required),
//! `snapshot` (restore, required), `push` (default `true`; `false` changes the tenant only),
//! `client_id` (the app to push to when several have a URL), `omit_public_endpoint`, `raw_body`
//! (a string sent as the body instead of the documented JSON), and `token`:
//! `{"omit_aud", "omit_ctx", "issuer", "audience", "context_id", "iat", "exp" (Unix seconds),
//! "jti", "alg", "kid", "foreign_key" (true: sign with a fresh key not in the JWKS), "custom"}`
//! (see [`crate::TokenOptions`]). `delivery` is the [`crate::PushDelivery`] (`null` without a push):
//! `status` is `null` when the app did not answer, with the reason in `error`. Errors: 404 for an
//! unknown tenant, app, snapshot or change, 409 when no app (or several) has a state-change URL
//! (nothing changed), 400 for bad input.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::faults::FaultRuleWire;
use crate::lifecycle::{
    CrmVersion, Lifecycle, LifecycleError, PushOptions, SnapshotId, StateChange, TokenOptions, page,
};
use crate::oidc::session;
use crate::state::{AppState, TenantStatus};
use crate::util::{parse_rfc3339, rfc3339_utc};
use crate::webapi::webhooks::{WebhookError, WebhookEvent, deliver};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/__sim/info", get(info))
        .route("/__sim/requests", get(requests).delete(clear_requests))
        .route(
            "/__sim/faults",
            get(list_faults).post(push_faults).delete(clear_faults),
        )
        .route("/__sim/tenants/{ctx}/state", post(set_state))
        .route("/__sim/tenants/{ctx}/move", post(move_tenant))
        .route(
            "/__sim/tenants/{ctx}/consents/{client_id}",
            post(grant).delete(revoke),
        )
        .route(
            "/__sim/tenants/{ctx}/system-tokens/{client_id}",
            get(system_token),
        )
        .route("/__sim/sessions", get(sessions).delete(end_sessions))
        .route("/__sim/sessions/age", post(age_sessions))
        .route("/__sim/keys/rotate", post(rotate))
        .route("/__sim/tenants/{ctx}/webapi", get(webapi_snapshot))
        .route("/__sim/tenants/{ctx}/webapi/calls", get(webapi_calls))
        .route(
            "/__sim/tenants/{ctx}/webhooks/{id}/events",
            post(deliver_event),
        )
        .route(
            "/__sim/tenants/{ctx}/udef/{entity}/publish-running",
            post(publish_running),
        )
        .route("/__sim/udef-publish-duration", post(publish_duration))
        .route(page::PAGE_PATH, get(page::show).post(page::act))
        .route(
            "/__sim/tenants/{ctx}/lifecycle/{change}",
            post(lifecycle_change),
        )
        .route("/__sim/tenants/{ctx}/push/{change}", post(push_only))
        .route(
            "/__sim/tenants/{ctx}/snapshots",
            get(list_snapshots).post(take_snapshot),
        )
        .route(
            "/__sim/tenants/{ctx}/snapshots/{id}",
            delete(forget_snapshot),
        )
        .route("/__sim/crm-version", get(crm_version).post(set_crm_version))
        .route(
            "/__sim/apps/{client_id}/state-change-url",
            post(set_state_change_url),
        )
}

fn bad(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

fn not_found(message: impl Into<String>) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

fn ok() -> Response {
    Json(json!({ "ok": true })).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

async fn info(State(st): State<Arc<AppState>>) -> Response {
    let tenants: Vec<Value> = {
        let store = st.store();
        store
            .tenants
            .iter()
            .map(|t| {
                json!({
                    "ContextIdentifier": t.cfg.context_id,
                    "CompanyName": t.cfg.company_name,
                    "Shard": t.shard,
                    "State": t.status.as_str(),
                    "Users": t.cfg.users.iter().map(|u| json!({
                        "Email": u.email,
                        "AssociateId": u.associate_id,
                        "IsAdministrator": u.is_administrator,
                    })).collect::<Vec<_>>(),
                    "Consents": st.apps.iter()
                        .filter(|a| store.has_consent(&t.cfg.context_id, &a.reg.client_id))
                        .map(|a| a.reg.client_id.clone())
                        .collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    let apps: Vec<Value> = st
        .apps
        .iter()
        .map(|a| {
            json!({
                "Name": a.reg.name,
                "ClientId": a.reg.client_id,
                "RedirectUris": a.reg.redirect_uris,
                "SystemUser": a.system_user_key.is_some(),
                "StateChangeUrl": st.lifecycle.url(&a.reg.client_id).map(|u| u.to_string()),
            })
        })
        .collect();
    Json(json!({
        "base_url": format!("{}/", st.base),
        "issuer": st.issuer(),
        "kid": st.current_key().kid(),
        "crm_version": st.lifecycle.crm_version(),
        "tenants": tenants,
        "apps": apps,
    }))
    .into_response()
}

async fn requests(State(st): State<Arc<AppState>>) -> Response {
    let log: Vec<Value> = st.log.snapshot().iter().map(|r| r.to_json()).collect();
    Json(Value::Array(log)).into_response()
}

async fn clear_requests(State(st): State<Arc<AppState>>) -> Response {
    st.log.clear();
    ok()
}

async fn list_faults(State(st): State<Arc<AppState>>) -> Response {
    let rules: Vec<Value> = st.faults.rules().iter().map(|r| r.to_json()).collect();
    Json(Value::Array(rules)).into_response()
}

async fn push_faults(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let value: Value = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut rules = Vec::with_capacity(items.len());
    for item in items {
        let wire: FaultRuleWire = match serde_json::from_value(item) {
            Ok(w) => w,
            Err(e) => return bad(format!("invalid fault rule: {e}")),
        };
        match wire.into_rule() {
            Ok(rule) => rules.push(rule),
            Err(e) => return bad(format!("invalid fault rule: {e}")),
        }
    }
    let added = rules.len();
    for rule in rules {
        st.faults.push(rule);
    }
    Json(json!({ "ok": true, "added": added })).into_response()
}

async fn clear_faults(State(st): State<Arc<AppState>>) -> Response {
    st.faults.clear();
    ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: String,
    #[serde(default)]
    valid_until: Option<String>,
}

async fn set_state(
    State(st): State<Arc<AppState>>,
    Path(ctx): Path<String>,
    body: Bytes,
) -> Response {
    let body: StateBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let status: TenantStatus = match body.state.parse() {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let valid_until = match body.valid_until.as_deref() {
        None => None,
        Some(s) => match parse_rfc3339(s) {
            Some(t) => Some(t),
            None => return bad("valid_until must be an RFC 3339 time"),
        },
    };
    if st.set_tenant_state(&ctx, status, valid_until) {
        ok()
    } else {
        not_found("unknown tenant")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    shard: String,
}

async fn move_tenant(
    State(st): State<Arc<AppState>>,
    Path(ctx): Path<String>,
    body: Bytes,
) -> Response {
    let body: MoveBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    match st.move_tenant(&ctx, &body.shard) {
        Ok(true) => ok(),
        Ok(false) => not_found("unknown tenant"),
        Err(e) => bad(e),
    }
}

async fn grant(
    State(st): State<Arc<AppState>>,
    Path((ctx, client_id)): Path<(String, String)>,
) -> Response {
    if st.grant_consent(&ctx, &client_id) {
        ok()
    } else {
        not_found("unknown tenant or app")
    }
}

async fn revoke(
    State(st): State<Arc<AppState>>,
    Path((ctx, client_id)): Path<(String, String)>,
) -> Response {
    if st.revoke_consent(&ctx, &client_id) {
        ok()
    } else {
        not_found("unknown tenant or app")
    }
}

async fn system_token(
    State(st): State<Arc<AppState>>,
    Path((ctx, client_id)): Path<(String, String)>,
) -> Response {
    match st.system_token(&ctx, &client_id) {
        Some(t) => Json(json!({ "SystemToken": t })).into_response(),
        None => not_found("unknown tenant or app, or the app has no system-user key"),
    }
}

async fn sessions(State(st): State<Arc<AppState>>) -> Response {
    Json(json!({ "sessions": session::count(&st) })).into_response()
}

async fn end_sessions(State(st): State<Arc<AppState>>) -> Response {
    Json(json!({ "ok": true, "ended": session::end_all(&st) })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgeBody {
    seconds: u64,
}

async fn age_sessions(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let body: AgeBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let aged = session::age_all(&st, Duration::from_secs(body.seconds));
    Json(json!({ "ok": true, "sessions": aged })).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    keep_old: bool,
}

async fn rotate(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let body: RotateBody = if body.is_empty() {
        RotateBody::default()
    } else {
        match parse(&body) {
            Ok(b) => b,
            Err(e) => return bad(e),
        }
    };
    // Key generation takes a moment of CPU; keep it off the async workers.
    let rotating = Arc::clone(&st);
    let result = tokio::task::spawn_blocking(move || rotating.rotate_key(body.keep_old))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match result {
        Ok(()) => Json(json!({ "ok": true, "kid": st.current_key().kid() })).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e })),
        )
            .into_response(),
    }
}

async fn webapi_snapshot(State(st): State<Arc<AppState>>, Path(ctx): Path<String>) -> Response {
    match st.webapi_snapshot(&ctx) {
        Some(snap) => Json(snap).into_response(),
        None => not_found("unknown tenant"),
    }
}

async fn webapi_calls(
    State(st): State<Arc<AppState>>,
    Path(ctx): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let params = crate::util::Params::parse(q.unwrap_or_default().as_bytes());
    let family = params.get("family").unwrap_or("");
    if st.store().tenant(&ctx).is_none() {
        return not_found("unknown tenant");
    }
    Json(json!({ "calls": st.webapi_calls(&ctx, family) })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    event: String,
    entity: String,
    primary_key: i32,
    #[serde(default)]
    changes: Vec<String>,
    #[serde(default)]
    field_values: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    changed_by_associate_id: Option<i32>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    retry: Option<u32>,
}

async fn deliver_event(
    State(st): State<Arc<AppState>>,
    Path((ctx, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Ok(id) = id.parse::<i32>() else {
        return bad("webhook id must be an integer");
    };
    let b: EventBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let mut ev = WebhookEvent::new(b.event, b.entity, b.primary_key).changes(b.changes);
    if let Some(fv) = b.field_values {
        ev = ev.field_values(fv);
    }
    if let Some(a) = b.changed_by_associate_id {
        ev = ev.changed_by(a);
    }
    if let Some(e) = b.event_id {
        ev = ev.event_id(e);
    }
    if let Some(r) = b.retry {
        ev = ev.retry(r);
    }
    match deliver(&st, &ctx, id, &ev).await {
        Ok(d) => Json(json!({
            "status": d.status,
            "error": d.error,
            "url": d.url,
            "event_id": d.event_id,
            "body": d.body,
            "signature": d.signature,
        }))
        .into_response(),
        Err(e @ (WebhookError::UnknownTenant(_) | WebhookError::UnknownWebhook(_))) => {
            not_found(e.to_string())
        }
        Err(e) => bad(e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DurationBody {
    duration_ms: u64,
}

async fn publish_running(
    State(st): State<Arc<AppState>>,
    Path((ctx, entity)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let b: DurationBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    match st.begin_udef_publish(&ctx, &entity, Duration::from_millis(b.duration_ms)) {
        Ok(()) => ok(),
        Err(e) => not_found(e),
    }
}

async fn publish_duration(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let b: DurationBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    st.webapi
        .set_publish_duration(Duration::from_millis(b.duration_ms));
    ok()
}

fn lifecycle_error(e: &LifecycleError) -> Response {
    (e.http_status(), Json(json!({ "error": e.to_string() }))).into_response()
}

/// Parses an optional JSON body: empty means the default.
fn parse_optional<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse(body)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TokenWire {
    #[serde(default)]
    omit_aud: bool,
    #[serde(default)]
    omit_ctx: bool,
    issuer: Option<String>,
    audience: Option<String>,
    context_id: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    jti: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    #[serde(default)]
    foreign_key: bool,
    custom: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LifecycleBody {
    version_name: Option<String>,
    file_version: Option<String>,
    shard: Option<String>,
    snapshot: Option<u64>,
    push: Option<bool>,
    client_id: Option<String>,
    #[serde(default)]
    omit_public_endpoint: bool,
    raw_body: Option<String>,
    token: Option<TokenWire>,
}

fn unix_time(secs: i64, what: &str) -> Result<std::time::SystemTime, String> {
    let epoch = std::time::SystemTime::UNIX_EPOCH;
    let t = if secs >= 0 {
        epoch.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        epoch.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    t.ok_or_else(|| format!("{what} {secs} is not a usable Unix time"))
}

/// The push options of a lifecycle body. A fresh key for `foreign_key` is generated off the async
/// workers (it takes a moment of CPU).
async fn push_options(b: &mut LifecycleBody) -> Result<PushOptions, Response> {
    let mut o = PushOptions::new();
    if let Some(c) = b.client_id.take() {
        o = o.to_app(c);
    }
    if b.omit_public_endpoint {
        o = o.without_public_endpoint();
    }
    if let Some(raw) = b.raw_body.take() {
        o = o.raw_body(raw.into_bytes());
    }
    if let Some(w) = b.token.take() {
        let mut t = TokenOptions::new();
        t.omit_aud = w.omit_aud;
        t.omit_ctx = w.omit_ctx;
        t.issuer = w.issuer;
        t.audience = w.audience;
        t.context_id = w.context_id;
        t.issued_at = w
            .iat
            .map(|s| unix_time(s, "iat"))
            .transpose()
            .map_err(bad)?;
        t.expires_at = w
            .exp
            .map(|s| unix_time(s, "exp"))
            .transpose()
            .map_err(bad)?;
        t.jti = w.jti;
        t.alg = w.alg;
        t.kid = w.kid;
        t.custom = w.custom;
        if w.foreign_key {
            let key = tokio::task::spawn_blocking(crate::keys::SigningKey::generate)
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            match key {
                Ok(k) => t.signed_with = Some(k.pkcs8().to_vec()),
                Err(e) => {
                    return Err((
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({ "error": format!("no key for foreign_key: {e}") })),
                    )
                        .into_response());
                }
            }
        }
        o = o.token(t);
    }
    Ok(o)
}

/// The change a body asks for; fields the change does not use are refused (a mistake, not a
/// wish the simulator could ignore).
fn lifecycle_event(change: StateChange, b: &mut LifecycleBody) -> Result<Lifecycle, String> {
    let version = match (b.version_name.take(), b.file_version.take()) {
        (None, None) => None,
        (Some(n), Some(f)) => Some(CrmVersion::new(n, f)),
        _ => {
            return Err(
                "give both version_name and file_version, or neither (for the next build)".into(),
            );
        }
    };
    let shard = b.shard.take();
    let snapshot = b.snapshot.take().map(SnapshotId::new);
    let unused = |what: &str| Err(format!("{what} is not used by {change}"));
    if version.is_some() && change != StateChange::Upgrade {
        return unused("version_name / file_version");
    }
    if shard.is_some() && change != StateChange::Move {
        return unused("shard");
    }
    if snapshot.is_some() && change != StateChange::BackupRestored {
        return unused("snapshot");
    }
    Ok(match change {
        StateChange::Upgrade => Lifecycle::Upgrade { to: version },
        StateChange::BackupRestored => Lifecycle::BackupRestored {
            snapshot: snapshot.ok_or("restore needs {\"snapshot\": id}")?,
        },
        StateChange::Suspend => Lifecycle::Suspend,
        StateChange::Resume => Lifecycle::Resume,
        StateChange::Delete => Lifecycle::Delete,
        StateChange::Move => Lifecycle::Move {
            shard: shard.ok_or("move needs {\"shard\": \"…\"}")?,
        },
    })
}

fn lifecycle_answer(
    ctx: &str,
    change: StateChange,
    delivery: Option<crate::lifecycle::PushDelivery>,
) -> Response {
    Json(json!({
        "ok": true,
        "change": change.as_str(),
        "change_type": change.value(),
        "context_id": ctx,
        "delivery": delivery,
    }))
    .into_response()
}

async fn lifecycle_change(
    State(st): State<Arc<AppState>>,
    Path((ctx, change)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let change: StateChange = match change.parse() {
        Ok(c) => c,
        Err(e) => return not_found(e),
    };
    let mut b: LifecycleBody = match parse_optional(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let ev = match lifecycle_event(change, &mut b) {
        Ok(ev) => ev,
        Err(e) => return bad(e),
    };
    let ctx = match st.canonical_ctx(&ctx) {
        Ok(c) => c,
        Err(e) => return lifecycle_error(&e),
    };
    if b.push == Some(false) {
        if b.client_id.is_some() || b.raw_body.is_some() || b.token.is_some() {
            return bad("push options are not used with \"push\": false");
        }
        return match st.apply_lifecycle(&ctx, &ev) {
            Ok(()) => lifecycle_answer(&ctx, change, None),
            Err(e) => lifecycle_error(&e),
        };
    }
    let options = match push_options(&mut b).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    match st.run_lifecycle(&ctx, &ev, &options).await {
        Ok(d) => lifecycle_answer(&ctx, change, Some(d)),
        Err(e) => lifecycle_error(&e),
    }
}

async fn push_only(
    State(st): State<Arc<AppState>>,
    Path((ctx, change)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let change: StateChange = match change.parse() {
        Ok(c) => c,
        Err(e) => return not_found(e),
    };
    let mut b: LifecycleBody = match parse_optional(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    if b.version_name.is_some()
        || b.file_version.is_some()
        || b.shard.is_some()
        || b.snapshot.is_some()
        || b.push.is_some()
    {
        return bad(
            "a push changes nothing: version_name, file_version, shard, snapshot and push belong to …/lifecycle/{change}",
        );
    }
    let options = match push_options(&mut b).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    match st.push_state_change(&ctx, change, &options).await {
        Ok(d) => lifecycle_answer(&d.context_id.clone(), change, Some(d)),
        Err(e) => lifecycle_error(&e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SnapshotBody {
    label: Option<String>,
}

async fn take_snapshot(
    State(st): State<Arc<AppState>>,
    Path(ctx): Path<String>,
    body: Bytes,
) -> Response {
    let b: SnapshotBody = match parse_optional(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    match st.lifecycle.snapshots.take(&st, &ctx, b.label.as_deref()) {
        Ok(id) => Json(json!({ "ok": true, "snapshot": id })).into_response(),
        Err(e) => lifecycle_error(&e),
    }
}

async fn list_snapshots(State(st): State<Arc<AppState>>, Path(ctx): Path<String>) -> Response {
    if let Err(e) = st.canonical_ctx(&ctx) {
        return lifecycle_error(&e);
    }
    let list: Vec<Value> = st
        .lifecycle
        .snapshots
        .list(&ctx)
        .into_iter()
        .map(|s| {
            json!({
                "snapshot": s.snapshot,
                "context_id": s.context_id,
                "taken_at": rfc3339_utc(s.taken_at),
                "label": s.label,
                "contents": s.contents,
            })
        })
        .collect();
    Json(Value::Array(list)).into_response()
}

async fn forget_snapshot(
    State(st): State<Arc<AppState>>,
    Path((ctx, id)): Path<(String, String)>,
) -> Response {
    let id: SnapshotId = match id.parse() {
        Ok(id) => id,
        Err(e) => return bad(e),
    };
    match st.lifecycle.snapshots.forget(&st, &ctx, id) {
        Ok(()) => ok(),
        Err(e) => lifecycle_error(&e),
    }
}

async fn crm_version(State(st): State<Arc<AppState>>) -> Response {
    Json(st.lifecycle.crm_version()).into_response()
}

async fn set_crm_version(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let v: CrmVersion = match parse(&body) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    match st.set_crm_version(v) {
        Ok(()) => ok(),
        Err(e) => lifecycle_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlBody {
    url: Option<String>,
}

async fn set_state_change_url(
    State(st): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    let b: UrlBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    match st.set_state_change_url(&client_id, b.url.as_deref()) {
        Ok(()) => ok(),
        Err(e) => lifecycle_error(&e),
    }
}
