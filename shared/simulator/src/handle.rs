//! Starting the simulator and the handle tests use to script it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::SimulatorConfig;
use crate::error::SimulatorError;
use crate::faults::Faults;
use crate::lifecycle::{
    CrmVersion, Lifecycle, LifecycleError, PushDelivery, PushOptions, SnapshotId, SnapshotInfo,
    StateChange,
};
use crate::persist::StateFileError;
use crate::record::RecordedRequest;
use crate::routes::Route;
use crate::server::{Routers, serve};
use crate::state::{AppState, TenantStatus};
use crate::webapi::snapshot::WebApiSnapshot;
use crate::webapi::webhooks::{WebhookDelivery, WebhookError, WebhookEvent, deliver};

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `addr` (e.g. `127.0.0.1:0` for any free port) and serves until
    /// [`SimulatorHandle::shutdown`] or the end of the Tokio runtime.
    pub async fn start(
        config: SimulatorConfig,
        addr: SocketAddr,
    ) -> Result<SimulatorHandle, SimulatorError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimulatorError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimulatorError::Bind { addr, source })?;
        // A wildcard bind is still reached over loopback.
        let host_ip = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let base = format!("http://{}", SocketAddr::new(host_ip, local.port()));
        let base_url = Url::parse(&format!("{base}/"))
            .map_err(|e| SimulatorError::Config(format!("base URL: {e}")))?;
        // Key generation takes a moment of CPU; keep it off the async workers.
        let state = tokio::task::spawn_blocking(move || AppState::new(config, base))
            .await
            .map_err(|e| SimulatorError::Config(format!("startup task failed: {e}")))??;
        let state = Arc::new(state);
        let routers = Routers::new(&state);
        let shutdown = Arc::new(Notify::new());
        let task = tokio::spawn(serve(
            listener,
            Arc::clone(&state),
            routers,
            Arc::clone(&shutdown),
        ));
        let stop_writer = Arc::new(Notify::new());
        let writer = crate::persist::spawn_writer(Arc::clone(&state), Arc::clone(&stop_writer));
        tracing::info!(%base_url, "SuperOffice simulator listening");
        Ok(SimulatorHandle {
            state,
            base_url,
            shutdown,
            task: Arc::new(Mutex::new(Some(task))),
            stop_writer,
            writer: Arc::new(Mutex::new(writer)),
        })
    }
}

/// Controls a running simulator. Cheap to clone; all clones control the same simulator.
#[derive(Clone)]
pub struct SimulatorHandle {
    state: Arc<AppState>,
    base_url: Url,
    shutdown: Arc<Notify>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// Ends the state file writer (after its last write).
    stop_writer: Arc<Notify>,
    /// The state file writer, when there is a state file.
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl SimulatorHandle {
    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// The `iss` of id_tokens: the base URL without the trailing slash.
    pub fn issuer(&self) -> String {
        self.state.issuer().to_owned()
    }

    /// `{base}/login/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}{}", self.state.base, crate::routes::DISCOVERY_PATH)
    }

    /// `{base}/{shard}/{ctx}/api/` for the tenant's current shard.
    pub fn webapi_url(&self, ctx: &str) -> Option<String> {
        let store = self.state.store();
        store
            .tenant(ctx)
            .map(|t| format!("{}/api/", self.state.tenant_root(t)))
    }

    /// Scripted failures.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.log.snapshot()
    }

    /// How many logged requests went to `route` (answered or not).
    pub fn count(&self, route: Route) -> usize {
        self.state.log.count(route)
    }

    pub fn clear_requests(&self) {
        self.state.log.clear();
    }

    /// Sets what the tenant state API reports. `valid_until: None` means "now + state_valid_for" on
    /// every request. A state that is not running (anything but Running and OnlineMaintenance) also
    /// makes the tenant's WebAPI answer 503. Returns false for an unknown tenant.
    pub fn set_tenant_state(
        &self,
        ctx: &str,
        state: TenantStatus,
        valid_until: Option<SystemTime>,
    ) -> bool {
        let ok = self.state.set_tenant_state(ctx, state, valid_until);
        if !ok {
            tracing::warn!(ctx, "set_tenant_state: unknown tenant");
        }
        ok
    }

    /// The tenant's state as the state API reports it.
    pub fn tenant_state(&self, ctx: &str) -> Option<TenantStatus> {
        self.state.store().tenant(ctx).map(|t| t.status)
    }

    /// Moves the tenant to another shard: the state API and new tokens point there, and requests
    /// under any other shard get 421 "Wrong subdomain used to access tenant". Returns false for an
    /// unknown tenant.
    ///
    /// # Panics
    ///
    /// If `new_shard` is not a shard the configuration would accept (ASCII letters, digits, `-`
    /// and `.`; not `login`, `api` or `__sim`): the simulator could not route it, so the test
    /// script is wrong. (`POST /__sim/tenants/{ctx}/move` answers 400 instead.)
    pub fn move_tenant(&self, ctx: &str, new_shard: &str) -> bool {
        match self.state.move_tenant(ctx, new_shard) {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(ctx, "move_tenant: unknown tenant");
                false
            }
            Err(e) => panic!("move_tenant({ctx:?}): {e}"),
        }
    }

    /// Removes the tenant's approval of the app (as an admin would in the App Store): its refresh
    /// and access tokens and system-user tickets stop working, the system-user service answers
    /// "Revoked: …", and the system token changes. Returns false for an unknown tenant or app.
    pub fn revoke_consent(&self, ctx: &str, client_id: &str) -> bool {
        let ok = self.state.revoke_consent(ctx, client_id);
        if !ok {
            tracing::warn!(ctx, client_id, "revoke_consent: unknown tenant or app");
        }
        ok
    }

    /// Records the tenant's approval of the app, as "I approve" on the consent page does.
    /// Returns false for an unknown tenant or app.
    pub fn grant_consent(&self, ctx: &str, client_id: &str) -> bool {
        let ok = self.state.grant_consent(ctx, client_id);
        if !ok {
            tracing::warn!(ctx, client_id, "grant_consent: unknown tenant or app");
        }
        ok
    }

    pub fn has_consent(&self, ctx: &str, client_id: &str) -> bool {
        let store = self.state.store();
        store
            .tenant(ctx)
            .is_some_and(|t| store.has_consent(&t.cfg.context_id, client_id))
    }

    /// Ends every SuperID sign-in session, as if every browser had signed out: the next
    /// authorization request of any browser shows the sign-in page. Returns how many were live.
    /// Also `DELETE /__sim/sessions`.
    pub fn end_sign_in_sessions(&self) -> usize {
        crate::oidc::session::end_all(&self.state)
    }

    /// How many SuperID sign-in sessions are live (one per browser that signed in and has not
    /// signed out, for 8 hours).
    pub fn sign_in_sessions(&self) -> usize {
        crate::oidc::session::count(&self.state)
    }

    /// Makes every live sign-in session's last sign-in `by` older, so a test can check `max_age`
    /// and the id_token's `auth_time` without waiting. Returns how many sessions there were. Also
    /// `POST /__sim/sessions/age` `{"seconds": n}`.
    pub fn age_sign_in_sessions(&self, by: Duration) -> usize {
        crate::oidc::session::age_all(&self.state, by)
    }

    /// Simulates a provider that reuses a sign-in `age` old and ignores `max_age`: id_tokens
    /// carry `auth_time = now - age`. `None` (the default): `auth_time` is when the browser's
    /// sign-in session last signed in, and `max_age` is honoured.
    pub fn remember_sign_in(&self, age: Option<Duration>) {
        self.state.store().remembered_sign_in = age;
    }

    /// Switches to a freshly generated signing key. With `keep_old_in_jwks` the previous keys stay
    /// in the JWKS after the new one; without, only the new key is published.
    pub fn rotate_signing_key(&self, keep_old_in_jwks: bool) {
        if let Err(e) = self.state.rotate_key(keep_old_in_jwks) {
            tracing::error!(error = %e, "rotate_signing_key failed");
        }
    }

    /// The `kid` of the current signing key.
    pub fn signing_kid(&self) -> String {
        self.state.current_key().kid().to_owned()
    }

    /// Signs any header and claims with the current key (RS256), for tests that need tokens the
    /// simulator would not issue. The header is used as given; `"alg": "RS256"` is added only if
    /// the header is an object without `alg`.
    pub fn sign_jwt(&self, header: &Value, claims: &Value) -> String {
        let mut header = header.clone();
        if let Some(obj) = header.as_object_mut() {
            obj.entry("alg")
                .or_insert_with(|| Value::String("RS256".into()));
        }
        self.state
            .current_key()
            .sign_jwt(&header, claims)
            .expect("RSA signing with a parsed key does not fail")
    }

    /// PKCS#8 DER of the current signing key.
    pub fn signing_key_pkcs8_der(&self) -> Vec<u8> {
        self.state.current_key().pkcs8().to_vec()
    }

    /// The current JWKS document.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .state
            .published_keys()
            .iter()
            .map(|k| k.jwk())
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The system token of (tenant, app): what the `system_token` claim carries. `None` for an
    /// unknown tenant or app, or an app without a system-user public key.
    pub fn system_token(&self, ctx: &str, client_id: &str) -> Option<String> {
        self.state.system_token(ctx, client_id)
    }

    /// What the tenant's WebAPI holds now: user-defined fields (admin and published), lists and
    /// items, user groups, web panels with their owning app, preferences, webhooks, and call
    /// counters. `None` for an unknown tenant. Also `GET /__sim/tenants/{ctx}/webapi`.
    pub fn webapi_snapshot(&self, ctx: &str) -> Option<WebApiSnapshot> {
        self.state.webapi_snapshot(ctx)
    }

    /// How many WebAPI requests about `ctx` arrived (answered or not, faulted ones included) whose
    /// path after `/api` contains the segments of `family` in a row, ignoring ASCII case:
    /// `"UdefLayout/Publish"` counts `GET|POST {Entity}/UdefLayout/Publish` (not `…/Published`),
    /// `"UdefLayout"` every UDF call. Start `family` with a method and a space to count only that
    /// method:
    /// `"POST Contact/UdefLayout/Publish"`. Counted from the request log, so
    /// [`Self::clear_requests`] resets it.
    pub fn webapi_calls(&self, ctx: &str, family: &str) -> usize {
        self.state.webapi_calls(ctx, family)
    }

    /// How many requests about `ctx` arrived while a `Retry-After` the simulator had answered (with
    /// a `Status` fault) for the same route, tenant and path filter had not yet elapsed, i.e. the
    /// client came back too early. See [`RecordedRequest::before_retry_after`].
    pub fn requests_before_retry_after(&self, ctx: &str) -> usize {
        self.state.requests_before_retry_after(ctx)
    }

    /// Seeds the tenant's WebAPI with a customer site of `size` (the customer's lists, fields,
    /// user groups; other apps' panels, webhooks, preferences). Returns false for an unknown tenant.
    pub fn seed_site(&self, ctx: &str, size: &crate::SiteSize) -> bool {
        self.state.webapi.with(ctx, |t| t.seed(size)).is_some()
    }

    /// From now on, a `POST {Entity}/UdefLayout/Publish` "runs" this long (see
    /// [`SimulatorConfig::udef_publish_duration`]).
    pub fn set_udef_publish_duration(&self, duration: Duration) {
        self.state.webapi.set_publish_duration(duration);
    }

    /// Pretends a publish of `entity`'s layout (`"Contact"`, … ignoring case) started now and runs
    /// for `running_for`, without publishing anything: `GET …/UdefLayout/Publish` answers `true`
    /// and `POST …/Publish` gets 409 until then. Returns false for an unknown tenant or entity.
    pub fn begin_udef_publish(&self, ctx: &str, entity: &str, running_for: Duration) -> bool {
        match self.state.begin_udef_publish(ctx, entity, running_for) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(ctx, entity, "begin_udef_publish: {e}");
                false
            }
        }
    }

    /// Sends a webhook event through the tenant's webhook `webhook_id`, as SuperOffice does: a POST
    /// of the `WebhookPayload` JSON to its `TargetUrl` with `X-SuperOffice-Event`,
    /// `X-SuperOffice-EventId` and, if the webhook has a secret, `X-SuperOffice-Signature`
    /// (base64 HMAC-SHA256 of the raw body). One attempt, no retries; the outcome is recorded on
    /// the webhook (`TotalCalls`, `ConsecutiveErrors`, `LastError`, …).
    pub async fn deliver_webhook_event(
        &self,
        ctx: &str,
        webhook_id: i32,
        event: &str,
        entity: &str,
        primary_key: i32,
    ) -> Result<WebhookDelivery, WebhookError> {
        self.deliver_webhook(
            ctx,
            webhook_id,
            &WebhookEvent::new(event, entity, primary_key),
        )
        .await
    }

    /// [`Self::deliver_webhook_event`] with every payload field under control (changes, field
    /// values, a fixed event id to replay a retry, `X-SuperOffice-Retry`).
    pub async fn deliver_webhook(
        &self,
        ctx: &str,
        webhook_id: i32,
        event: &WebhookEvent,
    ) -> Result<WebhookDelivery, WebhookError> {
        deliver(&self.state, ctx, webhook_id, event).await
    }

    /// The CRM version every tenant runs (a push's `VersionName` / `FileVersion`, the tenant state
    /// API's `Version`).
    pub fn crm_version(&self) -> CrmVersion {
        self.state.lifecycle.crm_version()
    }

    /// Sets the CRM version without a push (an upgrade with a push:
    /// [`Self::tenant_lifecycle`] with [`Lifecycle::Upgrade`]). Also `POST /__sim/crm-version`.
    pub fn set_crm_version(&self, version: CrmVersion) -> Result<(), LifecycleError> {
        self.state.set_crm_version(version)
    }

    /// Registers (or with `None` removes) the app's "Customer state change" URL: https, or http to
    /// a loopback address. Also `POST /__sim/apps/{client_id}/state-change-url`.
    pub fn set_state_change_url(
        &self,
        client_id: &str,
        url: Option<&str>,
    ) -> Result<(), LifecycleError> {
        self.state.set_state_change_url(client_id, url)
    }

    /// The app's state-change URL, if it has one.
    pub fn state_change_url(&self, client_id: &str) -> Option<String> {
        self.state.lifecycle.url(client_id).map(|u| u.to_string())
    }

    /// Sends SuperOffice's state-change notification about the tenant as it is, changing nothing:
    /// a POST of `{"ChangeType", "ContextIdentifier", "VersionName", "FileVersion", "Token",
    /// "PublicEndpoint"}` to the app's state-change URL, with a fresh signed token. One attempt,
    /// within [`crate::SimulatorConfig::state_change_timeout`]. `Err` only when nothing was sent; an
    /// app that does not answer gives a delivery with `status: None` and the reason in `error`.
    pub async fn push_state_change(
        &self,
        ctx: &str,
        change: StateChange,
    ) -> Result<PushDelivery, LifecycleError> {
        self.push_state_change_with(ctx, change, &PushOptions::default())
            .await
    }

    /// [`Self::push_state_change`] to a chosen app, with a spoiled token or a raw body.
    pub async fn push_state_change_with(
        &self,
        ctx: &str,
        change: StateChange,
        options: &PushOptions,
    ) -> Result<PushDelivery, LifecycleError> {
        self.state.push_state_change(ctx, change, options).await
    }

    /// Makes the lifecycle change to the tenant as SuperOffice would (see [`Lifecycle`]), then
    /// sends the push about it. The push's target is checked first: without a state-change URL
    /// nothing changes ([`LifecycleError::NoStateChangeUrl`]). Also
    /// `POST /__sim/tenants/{ctx}/lifecycle/{change}`.
    pub async fn tenant_lifecycle(
        &self,
        ctx: &str,
        event: &Lifecycle,
    ) -> Result<PushDelivery, LifecycleError> {
        self.tenant_lifecycle_with(ctx, event, &PushOptions::default())
            .await
    }

    /// [`Self::tenant_lifecycle`] with push options.
    pub async fn tenant_lifecycle_with(
        &self,
        ctx: &str,
        event: &Lifecycle,
        options: &PushOptions,
    ) -> Result<PushDelivery, LifecycleError> {
        self.state.run_lifecycle(ctx, event, options).await
    }

    /// Makes the lifecycle change to the tenant without a push (for a test that sends the push
    /// itself, or at another time, with [`Self::push_state_change`]).
    pub fn apply_tenant_lifecycle(
        &self,
        ctx: &str,
        event: &Lifecycle,
    ) -> Result<(), LifecycleError> {
        self.state.apply_lifecycle(ctx, event)
    }

    /// Keeps a deep copy of the tenant's WebAPI data (fields, lists, user groups, web panels and
    /// their visibility, preferences, webhooks) to restore later. Also
    /// `POST /__sim/tenants/{ctx}/snapshots`.
    pub fn snapshot_tenant(&self, ctx: &str) -> Result<SnapshotId, LifecycleError> {
        self.snapshot_tenant_labelled(ctx, None)
    }

    /// [`Self::snapshot_tenant`] with a label (shown on the tenants page and in lists).
    pub fn snapshot_tenant_labelled(
        &self,
        ctx: &str,
        label: Option<&str>,
    ) -> Result<SnapshotId, LifecycleError> {
        self.state.lifecycle.snapshots.take(&self.state, ctx, label)
    }

    /// Puts the snapshot's data back into the tenant, without a push (with one:
    /// [`Lifecycle::BackupRestored`]). Ids are as they were in the snapshot; id counters do not go
    /// backwards, so nothing created afterwards gets an id that was handed out before.
    pub fn restore_tenant(&self, ctx: &str, snapshot: SnapshotId) -> Result<(), LifecycleError> {
        self.state
            .lifecycle
            .snapshots
            .restore(&self.state, ctx, snapshot)
    }

    /// The tenant's snapshots, oldest first (empty for an unknown tenant). Also
    /// `GET /__sim/tenants/{ctx}/snapshots`.
    pub fn tenant_snapshots(&self, ctx: &str) -> Vec<SnapshotInfo> {
        self.state.lifecycle.snapshots.list(ctx)
    }

    /// Drops a snapshot. Also `DELETE /__sim/tenants/{ctx}/snapshots/{id}`.
    pub fn forget_snapshot(&self, ctx: &str, snapshot: SnapshotId) -> Result<(), LifecycleError> {
        self.state
            .lifecycle
            .snapshots
            .forget(&self.state, ctx, snapshot)
    }

    /// Writes the state file now, if there is one and anything changed since the last write
    /// (changes are otherwise written a moment after they happen, and at [`Self::shutdown`]).
    pub async fn save_state(&self) -> Result<(), StateFileError> {
        let state = Arc::clone(&self.state);
        match tokio::task::spawn_blocking(move || state.save_state()).await {
            Ok(result) => result,
            // Only a panic in the save could end the task early, and a save does not panic.
            Err(e) => Err(StateFileError::Unwritable {
                path: self
                    .state
                    .state_file_path()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }

    /// Stops accepting connections and drops all open ones (including hanging requests), then
    /// writes the state file a last time (a failure is logged; call [`Self::save_state`] first to
    /// see it).
    pub async fn shutdown(self) {
        self.shutdown.notify_one();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        // After the server: no request can change anything the last write would miss.
        self.stop_writer.notify_one();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
    }
}
