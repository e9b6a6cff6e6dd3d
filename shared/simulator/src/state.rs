//! The simulator's mutable world: tenants, consents, codes, tokens, tickets and keys.
//!
//! Everything lives behind one `std::sync::Mutex` that is only ever held for short, synchronous
//! sections (never across an `.await`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::signature::ParsedPublicKey;

use crate::config::{AppRegistration, SimulatorConfig, TenantConfig, UserConfig};
use crate::error::SimulatorError;
use crate::faults::Faults;
use crate::keys::{SigningKey, parse_system_user_key};
use crate::lifecycle::LifecycleStore;
use crate::oidc::session::SignInSession;
use crate::persist::{Changes, StateFile, StateFileError};
use crate::record::RequestLog;
use crate::util::random_alnum;
use crate::webapi::data::{UdefEntity, WebApiStore};

/// The tenant states of the tenant status API, with their documented numeric values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantStatus {
    /// 0: possibly an incident.
    Unknown,
    /// 1
    Provisioning,
    /// 2
    Running,
    /// 3: forget the tenant.
    Deleted,
    /// 4: in termination, API unavailable, may be reactivated.
    Suspended,
    /// 5: API available.
    OnlineMaintenance,
    /// 6: API unavailable, usually for minutes (e.g. an upgrade).
    OfflineMaintenance,
    /// 8
    ProvisioningFailed,
    /// 10
    Deleting,
    /// 11
    DeleteFailed,
    /// 12: can last days or weeks.
    MigrationPending,
}

impl TenantStatus {
    pub const ALL: [TenantStatus; 11] = [
        TenantStatus::Unknown,
        TenantStatus::Provisioning,
        TenantStatus::Running,
        TenantStatus::Deleted,
        TenantStatus::Suspended,
        TenantStatus::OnlineMaintenance,
        TenantStatus::OfflineMaintenance,
        TenantStatus::ProvisioningFailed,
        TenantStatus::Deleting,
        TenantStatus::DeleteFailed,
        TenantStatus::MigrationPending,
    ];

    /// The `State` string of the tenant status API.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Unknown => "Unknown",
            TenantStatus::Provisioning => "Provisioning",
            TenantStatus::Running => "Running",
            TenantStatus::Deleted => "Deleted",
            TenantStatus::Suspended => "Suspended",
            TenantStatus::OnlineMaintenance => "OnlineMaintenance",
            TenantStatus::OfflineMaintenance => "OfflineMaintenance",
            TenantStatus::ProvisioningFailed => "ProvisioningFailed",
            TenantStatus::Deleting => "Deleting",
            TenantStatus::DeleteFailed => "DeleteFailed",
            TenantStatus::MigrationPending => "MigrationPending",
        }
    }

    /// The documented numeric value.
    pub fn value(self) -> u8 {
        match self {
            TenantStatus::Unknown => 0,
            TenantStatus::Provisioning => 1,
            TenantStatus::Running => 2,
            TenantStatus::Deleted => 3,
            TenantStatus::Suspended => 4,
            TenantStatus::OnlineMaintenance => 5,
            TenantStatus::OfflineMaintenance => 6,
            TenantStatus::ProvisioningFailed => 8,
            TenantStatus::Deleting => 10,
            TenantStatus::DeleteFailed => 11,
            TenantStatus::MigrationPending => 12,
        }
    }

    /// `IsRunning`: true only for Running and OnlineMaintenance.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            TenantStatus::Running | TenantStatus::OnlineMaintenance
        )
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the state name (ignoring case) or its numeric value.
impl FromStr for TenantStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s) || st.value().to_string() == s)
            .ok_or_else(|| format!("unknown tenant state {s:?}"))
    }
}

pub(crate) struct App {
    pub(crate) reg: AppRegistration,
    pub(crate) system_user_key: Option<ParsedPublicKey>,
}

pub(crate) struct Tenant {
    pub(crate) cfg: TenantConfig,
    pub(crate) shard: String,
    pub(crate) status: TenantStatus,
    pub(crate) valid_until: Option<SystemTime>,
}

/// Pending authorize request (between the authorize GET and the final redirect).
#[derive(Debug, Clone)]
pub(crate) struct PendingAuthorize {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) form_post: bool,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<(String, PkceMethod)>,
    pub(crate) login_hint: Option<String>,
    pub(crate) tenant_filter: Option<String>,
    /// Who signed in, once they have (interactively, or through their sign-in session when only
    /// the consent page is left).
    pub(crate) chosen: Option<SignedIn>,
    pub(crate) created: Instant,
}

/// A user who has signed in for a pending authorization request.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub(crate) ctx: String,
    pub(crate) email: String,
    /// When they last signed in interactively (the id_token's `auth_time`).
    pub(crate) auth_time: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PkceMethod {
    Plain,
    S256,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) ctx: String,
    pub(crate) email: String,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<(String, PkceMethod)>,
    /// When the user last signed in interactively, in Unix seconds (the id_token's `auth_time`).
    pub(crate) auth_time: i64,
    pub(crate) issued: Instant,
    pub(crate) used: bool,
    /// The refresh token issued when the code was redeemed (revoked if the code is replayed).
    pub(crate) refresh_token: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) ctx: String,
    pub(crate) email: String,
    /// The sign-in the grant came from, in Unix seconds: id_tokens issued on a refresh carry the
    /// same `auth_time` (OpenID Connect: the time of the authentication, not of the refresh).
    pub(crate) auth_time: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub(crate) grant: Grant,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub(crate) ctx: String,
    pub(crate) client_id: String,
    pub(crate) associate_id: u32,
    /// Sliding: every use moves it to now + [`TICKET_LIFETIME`].
    pub(crate) expires: Instant,
}

/// System-user tickets are valid for up to 6 hours, sliding with each use.
pub(crate) const TICKET_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// OIDC access tokens: `expires_in` 3600.
pub(crate) const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How long a sign-in page stays usable.
pub(crate) const PENDING_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// The associate id of the system user in every simulated tenant.
pub(crate) const SYSTEM_USER_ASSOCIATE_ID: u32 = 1;

#[derive(Default)]
pub(crate) struct Store {
    pub(crate) tenants: Vec<Tenant>,
    /// (ctx, client_id) pairs with an authorization record.
    pub(crate) consents: HashSet<(String, String)>,
    /// (ctx, client_id) → system token; constant until consent is revoked.
    pub(crate) system_tokens: HashMap<(String, String), String>,
    pub(crate) pending: HashMap<String, PendingAuthorize>,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) refresh_tokens: HashMap<String, Grant>,
    pub(crate) access_tokens: HashMap<String, AccessGrant>,
    pub(crate) tickets: HashMap<String, Ticket>,
    /// Sign-in sessions by their cookie value (see [`crate::oidc::session`]).
    pub(crate) sessions: HashMap<String, SignInSession>,
    /// When set, the simulator behaves like a provider that reuses a sign-in this old and ignores
    /// `max_age`: id_tokens carry `auth_time = now - age`. `None`: every sign-in is fresh.
    pub(crate) remembered_sign_in: Option<Duration>,
}

impl Store {
    pub(crate) fn tenant(&self, ctx: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.cfg.context_id.eq_ignore_ascii_case(ctx))
    }

    pub(crate) fn tenant_mut(&mut self, ctx: &str) -> Option<&mut Tenant> {
        self.tenants
            .iter_mut()
            .find(|t| t.cfg.context_id.eq_ignore_ascii_case(ctx))
    }

    pub(crate) fn user(&self, ctx: &str, email: &str) -> Option<(&Tenant, &UserConfig)> {
        let tenant = self.tenant(ctx)?;
        let user = tenant
            .cfg
            .users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))?;
        Some((tenant, user))
    }

    pub(crate) fn has_consent(&self, ctx: &str, client_id: &str) -> bool {
        self.consents
            .contains(&(ctx.to_owned(), client_id.to_owned()))
    }

    /// Drops expired codes, pending sign-ins, access tokens and tickets.
    pub(crate) fn prune(&mut self, code_lifetime: Duration) {
        let now = Instant::now();
        self.pending
            .retain(|_, p| now.duration_since(p.created) < PENDING_LIFETIME);
        // Used codes are kept a while longer so a replay is recognised as one.
        let keep_codes = code_lifetime.max(Duration::from_secs(600)) * 2;
        self.codes
            .retain(|_, c| now.duration_since(c.issued) < keep_codes);
        self.access_tokens.retain(|_, a| a.expires > now);
        self.tickets.retain(|_, t| t.expires > now);
    }
}

pub(crate) struct AppState {
    /// `http://127.0.0.1:PORT`, no trailing slash; also the issuer.
    pub(crate) base: String,
    pub(crate) apps: Vec<App>,
    pub(crate) code_lifetime: Duration,
    pub(crate) state_valid_for: Duration,
    store: Mutex<Store>,
    /// Current key first; older keys still published after a rotation follow.
    keys: Mutex<Vec<Arc<SigningKey>>>,
    pub(crate) faults: Faults,
    pub(crate) log: RequestLog,
    /// Per-tenant WebAPI data (UDFs, lists, web panels, preferences, webhooks).
    pub(crate) webapi: WebApiStore,
    /// Told whenever something the state file keeps may have changed.
    pub(crate) changes: Changes,
    /// Where the state survives a restart, if configured.
    pub(crate) state_file: Option<StateFile>,
    /// The CRM version, the apps' state-change URLs and the tenants' snapshots.
    pub(crate) lifecycle: LifecycleStore,
}

/// Shard names that would collide with the simulator's own top-level paths.
const RESERVED_SHARDS: &[&str] = &["login", "api", "__sim"];

/// A shard is the first path segment of a tenant's URLs: ASCII letters, digits, `-` and `.` (not
/// only dots), and none of the simulator's own top-level paths (ignoring case).
pub(crate) fn check_shard(shard: &str) -> Result<(), String> {
    let valid = !shard.is_empty()
        && shard
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !shard.chars().all(|c| c == '.')
        && !RESERVED_SHARDS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(shard));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "shard {shard:?} must be letters, digits, '-' or '.' (not only dots), and not one of {RESERVED_SHARDS:?}"
        ))
    }
}

impl AppState {
    pub(crate) fn new(config: SimulatorConfig, base: String) -> Result<Self, SimulatorError> {
        let key = match &config.signing_key_pkcs8_der {
            Some(der) => SigningKey::from_pkcs8(der)?,
            None => SigningKey::generate()?,
        };

        let mut apps = Vec::with_capacity(config.apps.len());
        for reg in config.apps {
            if reg.client_id.is_empty() || reg.client_secret.is_empty() {
                return Err(SimulatorError::Config(format!(
                    "app {:?} needs a client id and a client secret",
                    reg.name
                )));
            }
            if apps.iter().any(|a: &App| a.reg.client_id == reg.client_id) {
                return Err(SimulatorError::Config(format!(
                    "client id {:?} registered twice",
                    reg.client_id
                )));
            }
            if apps
                .iter()
                .any(|a: &App| a.reg.client_secret == reg.client_secret)
            {
                return Err(SimulatorError::Config(format!(
                    "app {:?} reuses another app's client secret",
                    reg.name
                )));
            }
            let system_user_key = match &reg.system_user_public_key_der {
                Some(der) => Some(parse_system_user_key(der).map_err(|reason| {
                    SimulatorError::SystemUserKey {
                        client_id: reg.client_id.clone(),
                        reason,
                    }
                })?),
                None => None,
            };
            apps.push(App {
                reg,
                system_user_key,
            });
        }

        let lifecycle = LifecycleStore::new(
            config.state_change_urls,
            &apps,
            config.state_change_timeout,
            config.crm_version,
        )?;

        let mut store = Store::default();
        for cfg in config.tenants {
            let ctx = cfg.context_id.clone();
            let valid_ctx = !ctx.is_empty() && ctx.chars().all(|c| c.is_ascii_alphanumeric());
            if !valid_ctx {
                return Err(SimulatorError::Config(format!(
                    "context id {ctx:?} must be ASCII letters and digits"
                )));
            }
            check_shard(&cfg.shard)
                .map_err(|e| SimulatorError::Config(format!("tenant {ctx}: {e}")))?;
            if store.tenant(&ctx).is_some() {
                return Err(SimulatorError::Config(format!(
                    "context id {ctx:?} configured twice"
                )));
            }
            let mut emails = HashSet::new();
            for u in &cfg.users {
                if !emails.insert(u.email.to_ascii_lowercase()) {
                    return Err(SimulatorError::Config(format!(
                        "user {:?} appears twice in {ctx}",
                        u.email
                    )));
                }
            }
            for app in &apps {
                if app.system_user_key.is_some() {
                    store.system_tokens.insert(
                        (ctx.clone(), app.reg.client_id.clone()),
                        new_system_token(&app.reg.name),
                    );
                }
            }
            store.tenants.push(Tenant {
                shard: cfg.shard.clone(),
                cfg,
                status: TenantStatus::Running,
                valid_until: None,
            });
        }

        let changes = Changes::default();
        let webapi = WebApiStore::new(
            store.tenants.iter().map(|t| t.cfg.context_id.as_str()),
            config.udef_publish_duration,
            config.webhook_timeout,
            changes.clone(),
        )
        .map_err(SimulatorError::Config)?;

        let state = Self {
            base,
            apps,
            code_lifetime: config.code_lifetime,
            state_valid_for: config.state_valid_for,
            store: Mutex::new(store),
            keys: Mutex::new(vec![Arc::new(key)]),
            faults: Faults::default(),
            log: RequestLog::default(),
            webapi,
            changes,
            state_file: config.state_file.map(StateFile::new),
            lifecycle,
        };
        if let Some(file) = &state.state_file {
            file.load_into(&state)?;
        }
        Ok(state)
    }

    pub(crate) fn state_file_path(&self) -> Option<&std::path::Path> {
        self.state_file.as_ref().map(StateFile::path)
    }

    /// Writes the state file now if the state changed since the last write (blocking I/O). Without
    /// a state file there is nothing to do.
    pub(crate) fn save_state(&self) -> Result<(), StateFileError> {
        match &self.state_file {
            Some(file) => file.save(self).map(|_| ()),
            None => Ok(()),
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.base
    }

    pub(crate) fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.reg.client_id == client_id)
    }

    pub(crate) fn app_by_secret(&self, secret: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| constant_time_eq(a.reg.client_secret.as_bytes(), secret.as_bytes()))
    }

    /// `{base}/{shard}/{ctx}`: the tenant's root as the state API's `Endpoint`.
    pub(crate) fn tenant_root(&self, tenant: &Tenant) -> String {
        format!("{}/{}/{}", self.base, tenant.shard, tenant.cfg.context_id)
    }

    pub(crate) fn current_key(&self) -> Arc<SigningKey> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        // The list is never empty: it starts with one key and rotation only prepends.
        Arc::clone(&keys[0])
    }

    pub(crate) fn published_keys(&self) -> Vec<Arc<SigningKey>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn rotate_key(&self, keep_old: bool) -> Result<(), SimulatorError> {
        // Generate outside the lock: it takes a moment.
        let key = Arc::new(SigningKey::generate()?);
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if !keep_old {
            keys.clear();
        }
        keys.insert(0, key);
        Ok(())
    }

    pub(crate) fn set_tenant_state(
        &self,
        ctx: &str,
        status: TenantStatus,
        valid_until: Option<SystemTime>,
    ) -> bool {
        let mut store = self.store();
        match store.tenant_mut(ctx) {
            Some(t) => {
                t.status = status;
                t.valid_until = valid_until;
                self.changes.mark();
                true
            }
            None => false,
        }
    }

    /// Moves the tenant to `new_shard`. `Ok(false)` for an unknown tenant, `Err` for a shard that
    /// [`check_shard`] refuses (checked first; nothing changes then).
    pub(crate) fn move_tenant(&self, ctx: &str, new_shard: &str) -> Result<bool, String> {
        check_shard(new_shard)?;
        let mut store = self.store();
        Ok(match store.tenant_mut(ctx) {
            Some(t) => {
                t.shard = new_shard.to_owned();
                self.changes.mark();
                true
            }
            None => false,
        })
    }

    /// Pretends a publish of `entity`'s user-defined field layout (`"Contact"`, … ignoring case)
    /// started now and runs for `running_for`, without publishing anything. The error says whether
    /// the entity or the tenant is unknown.
    pub(crate) fn begin_udef_publish(
        &self,
        ctx: &str,
        entity: &str,
        running_for: Duration,
    ) -> Result<(), &'static str> {
        let entity = UdefEntity::parse(entity)
            .ok_or("unknown entity (Contact, Person, Project, Sale, Appointment, Document)")?;
        let until = Instant::now() + running_for;
        self.webapi
            .with(ctx, |t| t.udef_mut(entity).publishing_until = Some(until))
            .ok_or("unknown tenant")
    }

    pub(crate) fn grant_consent(&self, ctx: &str, client_id: &str) -> bool {
        let Some(app) = self.app(client_id) else {
            return false;
        };
        let mut store = self.store();
        let Some(tenant) = store.tenant(ctx) else {
            return false;
        };
        let ctx = tenant.cfg.context_id.clone();
        store.consents.insert((ctx.clone(), client_id.to_owned()));
        if app.system_user_key.is_some() {
            store
                .system_tokens
                .entry((ctx, client_id.to_owned()))
                .or_insert_with(|| new_system_token(&app.reg.name));
        }
        self.changes.mark();
        true
    }

    /// Removes the authorization record and everything that hangs off it: refresh and access
    /// tokens, system-user tickets; the system token is replaced ("only changes if rescinded").
    pub(crate) fn revoke_consent(&self, ctx: &str, client_id: &str) -> bool {
        let Some(app) = self.app(client_id) else {
            return false;
        };
        let mut store = self.store();
        let Some(tenant) = store.tenant(ctx) else {
            return false;
        };
        let ctx = tenant.cfg.context_id.clone();
        store.consents.remove(&(ctx.clone(), client_id.to_owned()));
        let same = |c: &str, id: &str| c == ctx && id == client_id;
        store
            .refresh_tokens
            .retain(|_, g| !same(&g.ctx, &g.client_id));
        store
            .access_tokens
            .retain(|_, a| !same(&a.grant.ctx, &a.grant.client_id));
        store.tickets.retain(|_, t| !same(&t.ctx, &t.client_id));
        if app.system_user_key.is_some() {
            store.system_tokens.insert(
                (ctx.clone(), client_id.to_owned()),
                new_system_token(&app.reg.name),
            );
        }
        self.changes.mark();
        true
    }

    pub(crate) fn system_token(&self, ctx: &str, client_id: &str) -> Option<String> {
        let store = self.store();
        let ctx = store.tenant(ctx)?.cfg.context_id.clone();
        store
            .system_tokens
            .get(&(ctx, client_id.to_owned()))
            .cloned()
    }
}

/// `"{App name}-{10 random alphanumerics}"`, like "SuperOffice DevNet Node OIDC-8k8Q7DmBgo".
fn new_system_token(app_name: &str) -> String {
    format!("{app_name}-{}", random_alnum(10))
}

/// Compares secrets without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::check_shard;

    #[test]
    fn shards_are_one_routable_path_segment() {
        for ok in ["sod2", "SOD-3", "eu.sod10", "a", "online.superoffice"] {
            assert_eq!(check_shard(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "a/b", "/", "sod 2", "sod_2", "sød", "..", ".", "login", "LOGIN", "api", "Api",
            "__sim", "sod2?x", "sod2#", "%2F",
        ] {
            let err = check_shard(bad).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("letters, digits"), "{err}");
        }
    }
}
