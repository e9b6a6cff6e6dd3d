//! Tenant lifecycle: SuperOffice's "Customer state change" notifications, the tenant changes that
//! go with them, and snapshots of a tenant's WebAPI data to restore a "backup" from.
//!
//! # Why
//!
//! SuperOffice tells every app about a tenant's lifecycle by POSTing to the app's registered
//! "Customer state change" URL (mandatory for standard apps): the customer's CRM was upgraded,
//! restored from a backup, suspended, resumed, deleted or moved to another host. An app has to
//! react to each (stop calling a suspended tenant, forget a deleted one, follow a move, check its
//! customisations after a restore), and it has to refuse a forged notification, since the URL is
//! public. The simulator makes the change happen to a simulated tenant *and* sends the push the way
//! SuperOffice would, signed with the keys of its JWKS, so an app's handler can be tested end to end:
//! with honest pushes, and with forged, expired, replayed, wrong-issuer or alg-trick ones
//! ([`TokenOptions`]), malformed or oversized bodies ([`PushOptions::raw_body`]).
//!
//! # The push (documented by SuperOffice)
//!
//! An HTTP `POST` of `application/json` to the URL, with the body of the C# type
//! `NotificationMessage`, in this order:
//!
//! ```json
//! {"ChangeType": 2, "ContextIdentifier": "Cust12345", "VersionName": "Release_10.3.8_2024.08.30-01",
//!  "FileVersion": "10.3.8.2024", "Token": "<JWT>", "PublicEndpoint": "sod3.superoffice.com"}
//! ```
//!
//! `ChangeType`: 0 Upgrade, 1 BackupRestored, 2 Suspend, 3 Resume, 4 Delete, 5 Move
//! ([`StateChange`]). `VersionName` / `FileVersion` are the CRM version ([`CrmVersion`]).
//! `PublicEndpoint` is the tenant's host (for Move: the new one). An older documented example has
//! no `PublicEndpoint` ([`PushOptions::without_public_endpoint`]).
//!
//! # The token (what the simulator sends, since SuperOffice does not document it)
//!
//! SuperOffice only says the `Token` is a JWT "to verify the sender", and its sample validates it
//! against the Federated Login certificate (the keys that sign id_tokens) with the environment's
//! issuer. Its claims are not documented; the simulator sends:
//!
//! - header: `{"alg": "RS256", "kid": <kid of the current signing key>, "x5t": <its x5t>,
//!   "typ": "JWT"}`, the same header as the simulator's id_tokens (the same signer);
//! - claims: `iss` = the simulator's issuer (its base URL without the trailing slash, as in
//!   id_tokens), `aud` = the app's client id, `iat` and `nbf` = now, `exp` = now + 5 minutes
//!   ([`TOKEN_LIFETIME`]), `jti` = a random GUID (new for every push), and
//!   `http://schemes.superoffice.net/identity/ctx` = the tenant's context identifier.
//!
//! An app should at least check the signature against the JWKS, `iss`, `exp`, and that the ctx
//! claim is the body's `ContextIdentifier`; `aud` and `jti` let it refuse another app's token and
//! replays.
//!
//! # What each change does to the simulated tenant
//!
//! | [`Lifecycle`] | ChangeType | Effect |
//! |---|---|---|
//! | `Upgrade { to }` | 0 | the CRM version becomes `to`, or the next build of the current one ([`CrmVersion::next`]); the tenant's state is left as it is |
//! | `BackupRestored { snapshot }` | 1 | the tenant's WebAPI data is put back as it was in the snapshot (see `snapshots.rs`) |
//! | `Suspend` | 2 | state `Suspended`: the state API says so and the WebAPI answers 503 |
//! | `Resume` | 3 | state `Running` |
//! | `Delete` | 4 | state `Deleted` (the WebAPI answers 503) and every app's approval is removed, with its tokens and tickets |
//! | `Move { shard }` | 5 | the tenant moves to `shard` as [`crate::SimulatorHandle::move_tenant`] does (the old host answers 421); `PublicEndpoint` is the new host |
//!
//! # Choices where SuperOffice is silent
//!
//! - **One attempt** per push, no retries, waiting at most
//!   [`crate::SimulatorConfig::state_change_timeout`] (default 5 s) for the whole answer. Any 2xx
//!   counts as accepted ([`PushDelivery::accepted`]); the simulator changes nothing when the app
//!   refuses (the real one's reaction is unknown).
//! - **Which app:** a push goes to one app, the one with a state-change URL; with several, the
//!   caller names it ([`PushOptions::to_app`]). The simulator does not check that the tenant has
//!   approved the app, so an app can be tested against a push about a tenant it does not know.
//! - **No sequence checks:** a Resume of a tenant that was never suspended is sent as asked, so
//!   tests can send pushes out of order.
//! - **`PublicEndpoint`** is a host name such as `sod3.superoffice.com`. Here a tenant's host is a
//!   shard path segment on the simulator's one port, and the shard `sod3` stands for the host
//!   `sod3.superoffice.com` (see the crate docs), so `PublicEndpoint` is `{shard}.superoffice.com`:
//!   host-shaped, as an app may check, but not a name that reaches the simulator. Where the API
//!   really is comes from the tenant state API (`Endpoint`, `Api`), which is where an app should
//!   look after a Move anyway.
//! - **Nothing changes when nothing can be sent:** with a push requested but no state-change URL,
//!   the tenant is left alone ([`LifecycleError::NoStateChangeUrl`]);
//!   [`crate::SimulatorHandle::apply_tenant_lifecycle`] changes the tenant without a push.

pub(crate) mod page;
pub(crate) mod push;
pub(crate) mod snapshots;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::NETSERVER_LABEL;
use crate::error::SimulatorError;
use crate::state::{App, AppState, TenantStatus};
use crate::util::{check_callback_url, clip, random_urlsafe};

pub use push::{PushDelivery, PushOptions, TokenOptions};
pub use snapshots::{SnapshotContents, SnapshotId, SnapshotInfo};

/// How long a pushed token is valid: `exp` = `iat` + 5 minutes.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// The file version of the NetServer build the simulated tenants run by default (the `Api` info
/// page's `NetServerVersion`).
pub(crate) const DEFAULT_FILE_VERSION: &str = "11.10.721.0";

/// The documented `ChangeType` values of a state-change notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateChange {
    /// 0: the tenant's CRM was upgraded.
    Upgrade,
    /// 1: the tenant's database was restored from a backup.
    BackupRestored,
    /// 2: the tenant was suspended.
    Suspend,
    /// 3: a suspended tenant runs again.
    Resume,
    /// 4: the tenant was deleted.
    Delete,
    /// 5: the tenant moved to another host (`PublicEndpoint`).
    Move,
}

impl StateChange {
    pub const ALL: [StateChange; 6] = [
        StateChange::Upgrade,
        StateChange::BackupRestored,
        StateChange::Suspend,
        StateChange::Resume,
        StateChange::Delete,
        StateChange::Move,
    ];

    /// The documented number (`ChangeType`).
    pub fn value(self) -> u8 {
        match self {
            StateChange::Upgrade => 0,
            StateChange::BackupRestored => 1,
            StateChange::Suspend => 2,
            StateChange::Resume => 3,
            StateChange::Delete => 4,
            StateChange::Move => 5,
        }
    }

    /// The C# enum member's name.
    pub fn as_str(self) -> &'static str {
        match self {
            StateChange::Upgrade => "Upgrade",
            StateChange::BackupRestored => "BackupRestored",
            StateChange::Suspend => "Suspend",
            StateChange::Resume => "Resume",
            StateChange::Delete => "Delete",
            StateChange::Move => "Move",
        }
    }
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the name (ignoring case; `restore` is BackupRestored, as in the scripting API's paths)
/// or the number.
impl FromStr for StateChange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("restore") {
            return Ok(StateChange::BackupRestored);
        }
        StateChange::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s) || c.value().to_string() == s)
            .ok_or_else(|| {
                format!(
                    "unknown state change {:?} (upgrade, restore, suspend, resume, delete, move, or 0..=5)",
                    clip(s, 40)
                )
            })
    }
}

/// The CRM version the tenants run: a push's `VersionName` and `FileVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmVersion {
    /// E.g. `Release_11.10_2026.02.24-02` (the tenant state API's `Version`).
    pub version_name: String,
    /// E.g. `11.10.721.0`.
    pub file_version: String,
}

impl Default for CrmVersion {
    fn default() -> Self {
        Self::new(NETSERVER_LABEL, DEFAULT_FILE_VERSION)
    }
}

impl CrmVersion {
    pub fn new(version_name: impl Into<String>, file_version: impl Into<String>) -> Self {
        Self {
            version_name: version_name.into(),
            file_version: file_version.into(),
        }
    }

    /// The next build, for an upgrade without a named version: the number after the name's last
    /// `-` goes up by one, keeping its width (`…2026.02.24-02` → `…-03`; a name without one gets
    /// `-01`), and so does the file version's last part (`11.10.721.0` → `11.10.721.1`; one that
    /// does not end in a number gets `.1`).
    pub fn next(&self) -> CrmVersion {
        let version_name = match self.version_name.rsplit_once('-') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                match n.parse::<u64>() {
                    Ok(v) => format!("{head}-{:0width$}", v.saturating_add(1), width = n.len()),
                    Err(_) => format!("{}-01", self.version_name),
                }
            }
            _ => format!("{}-01", self.version_name),
        };
        let file_version = match self.file_version.rsplit_once('.') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                match n.parse::<u64>() {
                    Ok(v) => format!("{head}.{}", v.saturating_add(1)),
                    Err(_) => format!("{}.1", self.file_version),
                }
            }
            _ => format!("{}.1", self.file_version),
        };
        CrmVersion {
            version_name,
            file_version,
        }
    }

    /// Both parts non-empty, at most 200 characters, no control characters.
    pub(crate) fn check(&self) -> Result<(), LifecycleError> {
        for (what, v) in [
            ("version name", &self.version_name),
            ("file version", &self.file_version),
        ] {
            if v.trim().is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) {
                return Err(LifecycleError::InvalidVersion(format!(
                    "the {what} {:?} must be 1 to 200 characters without control characters",
                    clip(v, 60)
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for CrmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.version_name, self.file_version)
    }
}

/// A lifecycle change to make to a tenant (see the module docs for what each does).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lifecycle {
    /// ChangeType 0: the CRM version becomes `to`, or the next build ([`CrmVersion::next`]). A real
    /// upgrade may also reset customisations; to simulate that, restore a snapshot as well.
    Upgrade { to: Option<CrmVersion> },
    /// ChangeType 1: the tenant's WebAPI data becomes that of `snapshot` again.
    BackupRestored { snapshot: SnapshotId },
    /// ChangeType 2: state Suspended.
    Suspend,
    /// ChangeType 3: state Running.
    Resume,
    /// ChangeType 4: state Deleted; every app's approval is removed.
    Delete,
    /// ChangeType 5: the tenant moves to `shard` (ASCII letters, digits, `-` and `.`; not
    /// `login`, `api` or `__sim`).
    Move { shard: String },
}

impl Lifecycle {
    /// The `ChangeType` the push carries.
    pub fn change(&self) -> StateChange {
        match self {
            Lifecycle::Upgrade { .. } => StateChange::Upgrade,
            Lifecycle::BackupRestored { .. } => StateChange::BackupRestored,
            Lifecycle::Suspend => StateChange::Suspend,
            Lifecycle::Resume => StateChange::Resume,
            Lifecycle::Delete => StateChange::Delete,
            Lifecycle::Move { .. } => StateChange::Move,
        }
    }
}

/// Why a lifecycle change, push or snapshot call did nothing. Each variant says what to do; in
/// every case nothing was changed and nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// No tenant has this context identifier: use one of the configuration's tenants.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// No registered app has this client id: use one of the configuration's apps.
    #[error("no app is registered with client id {0:?}")]
    UnknownApp(String),
    /// There is nowhere to push: register the app's state-change URL
    /// ([`crate::SimulatorConfig::state_change_urls`],
    /// [`crate::SimulatorHandle::set_state_change_url`], `POST /__sim/apps/{client_id}/state-change-url`),
    /// or change the tenant without a push ([`crate::SimulatorHandle::apply_tenant_lifecycle`],
    /// `"push": false`). `client_id` is the app asked for; `None` when none was named and no app
    /// has a URL.
    #[error(
        "{} has no state-change URL, so nothing was changed or sent: register one, or change the tenant without a push",
        .client_id.as_deref().map_or_else(|| "no registered app".to_owned(), |c| format!("the app {c:?}"))
    )]
    NoStateChangeUrl { client_id: Option<String> },
    /// Several apps have a state-change URL: name the one to push to ([`PushOptions::to_app`],
    /// `"client_id"`).
    #[error("several apps have a state-change URL ({}): name the one to push to", .0.join(", "))]
    SeveralApps(Vec<String>),
    /// The state-change URL is not usable: give an https URL, or plain http to a loopback address.
    #[error("{0}")]
    InvalidUrl(String),
    /// The shard of a move is not one the simulator can route: ASCII letters, digits, `-` and `.`,
    /// not `login`, `api` or `__sim`.
    #[error("{0}")]
    InvalidShard(String),
    /// The CRM version of an upgrade is empty, too long or has control characters.
    #[error("{0}")]
    InvalidVersion(String),
    /// The tenant has no such snapshot (never taken, forgotten, or taken before a restart without
    /// a state file): list its snapshots.
    #[error("the tenant has no snapshot {0}")]
    UnknownSnapshot(SnapshotId),
    /// The key in [`TokenOptions::signed_with`] is not an RSA PKCS#8 key: pass the DER of one.
    #[error("the token's signing key is not usable: {0}")]
    InvalidSigningKey(String),
}

impl LifecycleError {
    /// The status the scripting API and the tenants page answer with: 404 for something unknown,
    /// 409 when the app's registration is missing a URL or several apps have one, else 400.
    pub(crate) fn http_status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            LifecycleError::UnknownTenant(_)
            | LifecycleError::UnknownApp(_)
            | LifecycleError::UnknownSnapshot(_) => StatusCode::NOT_FOUND,
            LifecycleError::NoStateChangeUrl { .. } | LifecycleError::SeveralApps(_) => {
                StatusCode::CONFLICT
            }
            LifecycleError::InvalidUrl(_)
            | LifecycleError::InvalidShard(_)
            | LifecycleError::InvalidVersion(_)
            | LifecycleError::InvalidSigningKey(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// What the simulator keeps about lifecycles: the CRM version, the apps' state-change URLs, the
/// snapshots, and the admin page's form token.
pub(crate) struct LifecycleStore {
    crm_version: Mutex<CrmVersion>,
    /// Client id → state-change URL.
    urls: Mutex<HashMap<String, Url>>,
    /// How long a push waits for the app.
    pub(crate) timeout: Duration,
    pub(crate) snapshots: snapshots::Snapshots,
    /// The hidden field every form of the admin page carries (see `page.rs`): random per process.
    pub(crate) page_token: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LifecycleStore {
    pub(crate) fn new(
        urls: BTreeMap<String, String>,
        apps: &[App],
        timeout: Duration,
        crm_version: CrmVersion,
    ) -> Result<Self, SimulatorError> {
        crm_version
            .check()
            .map_err(|e| SimulatorError::Config(format!("crm_version: {e}")))?;
        let mut checked = HashMap::new();
        for (client_id, url) in urls {
            if !apps.iter().any(|a| a.reg.client_id == client_id) {
                return Err(SimulatorError::Config(format!(
                    "state_change_urls names client id {client_id:?}, which no app has"
                )));
            }
            let url = check_callback_url(&url, "state-change URL")
                .map_err(|e| SimulatorError::Config(format!("app {client_id}: {e}")))?;
            checked.insert(client_id, url);
        }
        Ok(Self {
            crm_version: Mutex::new(crm_version),
            urls: Mutex::new(checked),
            timeout,
            snapshots: snapshots::Snapshots::default(),
            page_token: random_urlsafe(24),
        })
    }

    pub(crate) fn crm_version(&self) -> CrmVersion {
        lock(&self.crm_version).clone()
    }

    /// Sets the version without checking it (loading the state file checks first).
    pub(crate) fn replace_crm_version(&self, v: CrmVersion) {
        *lock(&self.crm_version) = v;
    }

    pub(crate) fn url(&self, client_id: &str) -> Option<Url> {
        lock(&self.urls).get(client_id).cloned()
    }

    /// (client id, URL) of every app with a URL, by client id.
    pub(crate) fn urls(&self) -> Vec<(String, Url)> {
        let mut all: Vec<(String, Url)> = lock(&self.urls)
            .iter()
            .map(|(c, u)| (c.clone(), u.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

impl AppState {
    /// The configured spelling of a context id.
    pub(crate) fn canonical_ctx(&self, ctx: &str) -> Result<String, LifecycleError> {
        self.store()
            .tenant(ctx)
            .map(|t| t.cfg.context_id.clone())
            .ok_or_else(|| LifecycleError::UnknownTenant(clip(ctx, 60)))
    }

    pub(crate) fn set_crm_version(&self, v: CrmVersion) -> Result<(), LifecycleError> {
        v.check()?;
        self.lifecycle.replace_crm_version(v);
        self.changes.mark();
        Ok(())
    }

    pub(crate) fn set_state_change_url(
        &self,
        client_id: &str,
        url: Option<&str>,
    ) -> Result<(), LifecycleError> {
        if self.app(client_id).is_none() {
            return Err(LifecycleError::UnknownApp(clip(client_id, 60)));
        }
        let mut urls = lock(&self.lifecycle.urls);
        match url {
            None => {
                urls.remove(client_id);
            }
            Some(u) => {
                let u = check_callback_url(u, "state-change URL")
                    .map_err(LifecycleError::InvalidUrl)?;
                urls.insert(client_id.to_owned(), u);
            }
        }
        Ok(())
    }

    /// The app a push goes to and its URL: the named app, or the only app with a URL.
    pub(crate) fn push_target(
        &self,
        client_id: Option<&str>,
    ) -> Result<(String, Url), LifecycleError> {
        match client_id {
            Some(c) => {
                if self.app(c).is_none() {
                    return Err(LifecycleError::UnknownApp(clip(c, 60)));
                }
                let url =
                    self.lifecycle
                        .url(c)
                        .ok_or_else(|| LifecycleError::NoStateChangeUrl {
                            client_id: Some(c.to_owned()),
                        })?;
                Ok((c.to_owned(), url))
            }
            None => {
                let mut all = self.lifecycle.urls();
                match all.len() {
                    0 => Err(LifecycleError::NoStateChangeUrl { client_id: None }),
                    1 => Ok(all.remove(0)),
                    _ => Err(LifecycleError::SeveralApps(
                        all.into_iter().map(|(c, _)| c).collect(),
                    )),
                }
            }
        }
    }

    /// The tenant's host as a push's `PublicEndpoint`: `{shard}.superoffice.com`, the host the shard
    /// stands for (see the module docs).
    pub(crate) fn public_endpoint(&self, ctx: &str) -> Result<String, LifecycleError> {
        let store = self.store();
        let tenant = store
            .tenant(ctx)
            .ok_or_else(|| LifecycleError::UnknownTenant(clip(ctx, 60)))?;
        Ok(format!("{}.superoffice.com", tenant.shard))
    }

    /// Makes the change to the tenant, without a push. Everything is checked before anything is
    /// changed.
    pub(crate) fn apply_lifecycle(&self, ctx: &str, ev: &Lifecycle) -> Result<(), LifecycleError> {
        let ctx = self.canonical_ctx(ctx)?;
        match ev {
            Lifecycle::Upgrade { to } => {
                let next = to
                    .clone()
                    .unwrap_or_else(|| self.lifecycle.crm_version().next());
                self.set_crm_version(next)?;
            }
            Lifecycle::BackupRestored { snapshot } => {
                self.lifecycle.snapshots.restore(self, &ctx, *snapshot)?;
            }
            Lifecycle::Suspend => self.set_status(&ctx, TenantStatus::Suspended),
            Lifecycle::Resume => self.set_status(&ctx, TenantStatus::Running),
            Lifecycle::Delete => {
                self.set_status(&ctx, TenantStatus::Deleted);
                let approved: Vec<String> = {
                    let store = self.store();
                    self.apps
                        .iter()
                        .map(|a| a.reg.client_id.clone())
                        .filter(|c| store.has_consent(&ctx, c))
                        .collect()
                };
                // Revoking also ends the app's tokens and tickets for the tenant and replaces its
                // system token, as a real removal of the app's approval does.
                for client_id in approved {
                    self.revoke_consent(&ctx, &client_id);
                }
            }
            Lifecycle::Move { shard } => match self.move_tenant(&ctx, shard) {
                Ok(_) => {}
                Err(e) => return Err(LifecycleError::InvalidShard(e)),
            },
        }
        tracing::info!(ctx, change = %ev.change(), "simulated tenant lifecycle change");
        Ok(())
    }

    /// Sets the status and keeps `valid_until` (a fixed one a test set stays).
    fn set_status(&self, ctx: &str, status: TenantStatus) {
        let mut store = self.store();
        if let Some(t) = store.tenant_mut(ctx) {
            t.status = status;
            self.changes.mark();
        }
    }

    /// Makes the change, then sends the push. The push's target and options are checked first, so
    /// nothing changes when nothing could be sent.
    pub(crate) async fn run_lifecycle(
        &self,
        ctx: &str,
        ev: &Lifecycle,
        options: &PushOptions,
    ) -> Result<PushDelivery, LifecycleError> {
        let ctx = self.canonical_ctx(ctx)?;
        let prepared = push::prepare(self, &ctx, ev.change(), options)?;
        self.apply_lifecycle(&ctx, ev)?;
        push::send(self, prepared).await
    }

    /// Sends a push about the tenant as it is, changing nothing.
    pub(crate) async fn push_state_change(
        &self,
        ctx: &str,
        change: StateChange,
        options: &PushOptions,
    ) -> Result<PushDelivery, LifecycleError> {
        let ctx = self.canonical_ctx(ctx)?;
        let prepared = push::prepare(self, &ctx, change, options)?;
        push::send(self, prepared).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_types_have_the_documented_numbers() {
        let numbers: Vec<u8> = StateChange::ALL.iter().map(|c| c.value()).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 5]);
        for c in StateChange::ALL {
            assert_eq!(c.as_str().parse::<StateChange>(), Ok(c));
            assert_eq!(
                c.as_str().to_ascii_lowercase().parse::<StateChange>(),
                Ok(c)
            );
            assert_eq!(c.value().to_string().parse::<StateChange>(), Ok(c));
        }
        assert_eq!("restore".parse(), Ok(StateChange::BackupRestored));
        for bad in ["", "6", "-1", "suspended", "02"] {
            assert!(bad.parse::<StateChange>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_next_build_counts_up_the_last_numbers() {
        let v = CrmVersion::default().next();
        assert_eq!(v.version_name, "Release_11.10_2026.02.24-03");
        assert_eq!(v.file_version, "11.10.721.1");
        let v = CrmVersion::new("Release_10.3.8_2024.08.30-09", "10.3.8.2024").next();
        assert_eq!(v.version_name, "Release_10.3.8_2024.08.30-10");
        assert_eq!(v.file_version, "10.3.8.2025");
        let v = CrmVersion::new("Custom", "x").next();
        assert_eq!(v, CrmVersion::new("Custom-01", "x.1"));
        let v = CrmVersion::new("a-99", "1.99").next();
        assert_eq!(v, CrmVersion::new("a-100", "1.100"));
    }

    #[test]
    fn versions_are_checked() {
        assert!(CrmVersion::default().check().is_ok());
        for bad in [
            CrmVersion::new("", "1"),
            CrmVersion::new("a", " "),
            CrmVersion::new("a\nb", "1"),
            CrmVersion::new("x".repeat(201), "1"),
        ] {
            assert!(
                matches!(bad.check(), Err(LifecycleError::InvalidVersion(_))),
                "{bad:?}"
            );
        }
    }
}
