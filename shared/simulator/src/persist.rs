//! The state file ([`crate::SimulatorConfig::state_file`]): what of the simulator survives a
//! restart of the process that runs it, so that a restarted local runner (`soapp serve`) still
//! shows the simulated tenant an app installed into, with the consent and system token the app
//! holds on to.
//!
//! **Kept:** each tenant's WebAPI data ([`TenantData`]: user-defined fields, lists, user groups,
//! web panels with their owning app, visibility, preferences, webhooks and the id counters), each
//! tenant's state and shard, consents, system tokens, and refresh tokens (they last until consent
//! is revoked, so a real SuperOffice restart would not forget them either); the CRM version and
//! the tenants' snapshots (see `lifecycle/`), so a person can restore a snapshot after restarting
//! the local runner. Those two were added within version 1: a file without them loads (the
//! configured CRM version, no snapshots), and an older simulator ignores them.
//!
//! **Not kept:** what is short-lived or belongs to one run: authorization codes, pending sign-ins,
//! access tokens, system-user tickets, sign-in sessions, the request log, fault rules and running
//! publishes. The signing key comes from the configuration (`soapp` keeps it in a file of its own).
//!
//! **When it is written: debounced, plus at shutdown.** A change wakes a writer task, which waits
//! [`DEBOUNCE`] and then writes everything once. A provisioning run makes dozens of WebAPI calls a
//! second (a large-site test thousands), and each write serializes every tenant, so writing after
//! each call would cost far more than the calls; a quarter of a second later is soon enough for a
//! person restarting a runner. [`crate::SimulatorHandle::shutdown`] writes once more, so a normal
//! stop loses nothing; a killed process loses at most the last [`DEBOUNCE`] of changes. The file is
//! rewritten only when its bytes would change (serialization is deterministic), so reads never
//! cause writes.
//!
//! **How it is written:** to a temporary file next to it, synced, then renamed over it, so a reader
//! or a crash sees the old file or the new one, never half of one. On Unix the file is readable by
//! its owner only: it holds refresh and system tokens.
//!
//! **Loading** happens once, at start. A missing file means fresh tenants. A file that cannot be
//! read, is not a state file, or has a version or a value this simulator does not understand stops
//! the start with [`StateFileError`]; nothing is half-loaded. Records about tenants, apps or users
//! the configuration no longer has are skipped (with a warning): the configuration decides what
//! exists.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::lifecycle::CrmVersion;
use crate::lifecycle::SnapshotId;
use crate::lifecycle::snapshots::Stored;
use crate::state::{AppState, Grant, TenantStatus, check_shard};
use crate::util::{parse_rfc3339, rfc3339_utc};
use crate::webapi::data::TenantData;

/// How long the writer lets a burst of changes settle before it writes.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(250);

/// What the file says it is, so another JSON file given by mistake is refused by name.
const FORMAT: &str = "superoffice-simulator-state";
/// The layout version. Change it when a file of the old layout would no longer load into the new
/// one (for example a renamed field in [`TenantData`]).
const VERSION: u32 = 1;

/// Why the state file could not be used. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// The file exists but cannot be read: fix its permissions, or point the simulator elsewhere.
    #[error("cannot read the simulator's state file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not a state file this simulator can load (damaged, another file, or written by
    /// a newer version): move it away, and the simulator starts with fresh tenants.
    #[error(
        "the simulator's state file {path} cannot be loaded ({reason}); move it away to start with fresh simulated tenants"
    )]
    Corrupt { path: PathBuf, reason: String },
    /// The file cannot be written (a missing permission, a full disk): fix that; the simulator
    /// tries again after the next change.
    #[error("cannot write the simulator's state file {path}: {source}")]
    Unwritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Tells the writer that something it keeps may have changed. Cheap: a stored wake-up, which
/// several changes before the writer looks share.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes(Arc<Notify>);

impl Changes {
    pub(crate) fn mark(&self) {
        self.0.notify_one();
    }

    async fn wait(&self) {
        self.0.notified().await;
    }
}

/// The state file of a running simulator.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    /// The bytes last written (or loaded); held during a whole save, so two saves never interleave
    /// and an older capture never overwrites a newer one.
    last: Mutex<Option<Vec<u8>>>,
}

#[derive(Serialize)]
struct Document {
    format: String,
    version: u32,
    tenants: Vec<TenantRecord>,
    consents: Vec<ConsentRecord>,
    system_tokens: Vec<SystemTokenRecord>,
    refresh_tokens: Vec<RefreshTokenRecord>,
    crm_version: CrmVersion,
    /// The last snapshot id handed out, so ids are not reused after a restart even when the
    /// newest snapshots were forgotten.
    last_snapshot_id: u64,
    snapshots: Vec<SnapshotRecord>,
}

/// [`Document`] as read: each tenant is parsed on its own, so an error can name the tenant.
#[derive(Deserialize)]
struct RawDocument {
    tenants: Vec<serde_json::Value>,
    consents: Vec<ConsentRecord>,
    system_tokens: Vec<SystemTokenRecord>,
    refresh_tokens: Vec<RefreshTokenRecord>,
    #[serde(default)]
    crm_version: Option<CrmVersion>,
    #[serde(default)]
    last_snapshot_id: u64,
    #[serde(default)]
    snapshots: Vec<serde_json::Value>,
}

/// Just enough to tell a state file of another version or another kind of file.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantRecord {
    context_id: String,
    shard: String,
    /// The tenant state's name (`Running`, `OfflineMaintenance`, …).
    state: String,
    /// RFC 3339; absent when the state API answers "now + `state_valid_for`".
    valid_until: Option<String>,
    webapi: TenantData,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotRecord {
    snapshot: u64,
    context_id: String,
    /// RFC 3339.
    taken_at: String,
    label: Option<String>,
    webapi: TenantData,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
struct ConsentRecord {
    context_id: String,
    client_id: String,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
struct SystemTokenRecord {
    context_id: String,
    client_id: String,
    system_token: String,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
struct RefreshTokenRecord {
    refresh_token: String,
    client_id: String,
    context_id: String,
    email: String,
    auth_time: i64,
}

impl StateFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            last: Mutex::new(None),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, reason: impl Into<String>) -> StateFileError {
        StateFileError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Loads the file into `st` (a simulator that is not serving yet). `Ok(false)` when there is
    /// no file. Everything is checked before anything is applied.
    pub(crate) fn load_into(&self, st: &AppState) -> Result<bool, StateFileError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(StateFileError::Unreadable {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
            // Well-formed JSON of another shape (an array, a string version).
            serde_json::error::Category::Data => self.corrupt(format!("not a state file: {e}")),
            _ => self.corrupt(format!("not valid JSON: {e}")),
        })?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err(self.corrupt(format!("not a state file: \"format\" is not {FORMAT:?}")));
        }
        if header.version != Some(VERSION) {
            return Err(self.corrupt(format!(
                "version {} is not {VERSION}, the version this simulator reads",
                header
                    .version
                    .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
            )));
        }
        let doc: RawDocument =
            serde_json::from_slice(&bytes).map_err(|e| self.corrupt(e.to_string()))?;
        let tenants = self.check_tenants(doc.tenants)?;
        if let Some(v) = &doc.crm_version {
            v.check()
                .map_err(|e| self.corrupt(format!("crm_version: {e}")))?;
        }
        let snapshots = self.check_snapshots(doc.snapshots)?;
        self.apply(
            st,
            tenants,
            doc.consents,
            doc.system_tokens,
            doc.refresh_tokens,
        );
        if let Some(v) = doc.crm_version {
            st.lifecycle.replace_crm_version(v);
        }
        let snapshots = snapshots
            .into_iter()
            .filter_map(|mut s| match st.store().tenant(&s.context_id) {
                Some(t) => {
                    s.context_id.clone_from(&t.cfg.context_id);
                    Some(s)
                }
                None => {
                    tracing::warn!(
                        path = %self.path.display(),
                        ctx = %s.context_id,
                        "state file: skipping a snapshot the configuration has no tenant for"
                    );
                    None
                }
            })
            .collect();
        st.lifecycle.snapshots.load(doc.last_snapshot_id, snapshots);
        // What was loaded is what is on disk: no write until something changes.
        let loaded = serde_json::to_vec_pretty(&capture(st)).ok();
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(true)
    }

    fn check_tenants(
        &self,
        records: Vec<serde_json::Value>,
    ) -> Result<Vec<LoadedTenant>, StateFileError> {
        let mut seen = HashSet::new();
        records
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let name = value
                    .get("context_id")
                    .and_then(serde_json::Value::as_str)
                    .map_or_else(|| format!("number {}", i + 1), str::to_owned);
                let r: TenantRecord = serde_json::from_value(value)
                    .map_err(|e| self.corrupt(format!("tenant {name}: {e}")))?;
                let ctx = r.context_id;
                if !seen.insert(ctx.to_ascii_lowercase()) {
                    return Err(self.corrupt(format!("tenant {ctx} appears twice")));
                }
                check_shard(&r.shard).map_err(|e| self.corrupt(format!("tenant {ctx}: {e}")))?;
                let status = TenantStatus::from_str(&r.state)
                    .map_err(|e| self.corrupt(format!("tenant {ctx}: {e}")))?;
                let valid_until = match r.valid_until.as_deref() {
                    None => None,
                    Some(t) => Some(parse_rfc3339(t).ok_or_else(|| {
                        self.corrupt(format!("tenant {ctx}: valid_until {t:?} is not RFC 3339"))
                    })?),
                };
                Ok(LoadedTenant {
                    ctx,
                    shard: r.shard,
                    status,
                    valid_until,
                    webapi: r.webapi,
                })
            })
            .collect()
    }

    fn check_snapshots(
        &self,
        records: Vec<serde_json::Value>,
    ) -> Result<Vec<Stored>, StateFileError> {
        let mut seen = HashSet::new();
        records
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let name = value
                    .get("snapshot")
                    .and_then(serde_json::Value::as_u64)
                    .map_or_else(|| format!("number {}", i + 1), |n| n.to_string());
                let r: SnapshotRecord = serde_json::from_value(value)
                    .map_err(|e| self.corrupt(format!("snapshot {name}: {e}")))?;
                if r.snapshot == 0 || !seen.insert(r.snapshot) {
                    return Err(self.corrupt(format!(
                        "snapshot {name}: the id must be above 0 and appear once"
                    )));
                }
                let taken_at = parse_rfc3339(&r.taken_at).ok_or_else(|| {
                    self.corrupt(format!(
                        "snapshot {name}: taken_at {:?} is not RFC 3339",
                        r.taken_at
                    ))
                })?;
                Ok(Stored {
                    id: SnapshotId::new(r.snapshot),
                    context_id: r.context_id,
                    taken_at,
                    label: r.label,
                    data: r.webapi,
                })
            })
            .collect()
    }

    fn apply(
        &self,
        st: &AppState,
        tenants: Vec<LoadedTenant>,
        consents: Vec<ConsentRecord>,
        system_tokens: Vec<SystemTokenRecord>,
        refresh_tokens: Vec<RefreshTokenRecord>,
    ) {
        let skip = |what: &str, ctx: &str| {
            tracing::warn!(
                path = %self.path.display(),
                ctx,
                "state file: skipping {what} the configuration has no tenant, app or user for"
            );
        };
        for t in tenants {
            let known = {
                let mut store = st.store();
                match store.tenant_mut(&t.ctx) {
                    Some(tenant) => {
                        tenant.shard = t.shard;
                        tenant.status = t.status;
                        tenant.valid_until = t.valid_until;
                        true
                    }
                    None => false,
                }
            };
            if !known || !st.webapi.replace(&t.ctx, t.webapi) {
                skip("a tenant", &t.ctx);
            }
        }
        let mut store = st.store();
        for c in consents {
            let Some(ctx) = store
                .tenant(&c.context_id)
                .map(|t| t.cfg.context_id.clone())
            else {
                skip("a consent", &c.context_id);
                continue;
            };
            if st.app(&c.client_id).is_none() {
                skip("a consent", &c.context_id);
                continue;
            }
            store.consents.insert((ctx, c.client_id));
        }
        for s in system_tokens {
            let ctx = store
                .tenant(&s.context_id)
                .map(|t| t.cfg.context_id.clone());
            let has_key = st
                .app(&s.client_id)
                .is_some_and(|a| a.system_user_key.is_some());
            match ctx {
                Some(ctx) if has_key => {
                    store
                        .system_tokens
                        .insert((ctx, s.client_id), s.system_token);
                }
                _ => skip("a system token", &s.context_id),
            }
        }
        for r in refresh_tokens {
            let ctx = store
                .user(&r.context_id, &r.email)
                .map(|(t, _)| t.cfg.context_id.clone());
            match ctx {
                Some(ctx) if st.app(&r.client_id).is_some() => {
                    store.refresh_tokens.insert(
                        r.refresh_token,
                        Grant {
                            client_id: r.client_id,
                            ctx,
                            email: r.email,
                            auth_time: r.auth_time,
                        },
                    );
                }
                _ => skip("a refresh token", &r.context_id),
            }
        }
    }

    /// Writes the current state if its bytes differ from the last write. Blocking file I/O: call it
    /// off the async workers. `Ok(true)` when it wrote.
    pub(crate) fn save(&self, st: &AppState) -> Result<bool, StateFileError> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let bytes =
            serde_json::to_vec_pretty(&capture(st)).map_err(|e| StateFileError::Unwritable {
                path: self.path.clone(),
                source: io::Error::other(e),
            })?;
        if last.as_deref() == Some(bytes.as_slice()) {
            return Ok(false);
        }
        write_atomically(&self.path, &bytes).map_err(|source| StateFileError::Unwritable {
            path: self.path.clone(),
            source,
        })?;
        *last = Some(bytes);
        Ok(true)
    }
}

struct LoadedTenant {
    ctx: String,
    shard: String,
    status: TenantStatus,
    valid_until: Option<std::time::SystemTime>,
    webapi: TenantData,
}

/// Everything kept, in a deterministic order (configured tenant order; the rest sorted). Reads the
/// two stores one after the other, never both locked at once.
fn capture(st: &AppState) -> Document {
    let (tenants, consents, system_tokens, refresh_tokens) = {
        let store = st.store();
        let tenants: Vec<(String, String, TenantStatus, Option<String>)> = store
            .tenants
            .iter()
            .map(|t| {
                (
                    t.cfg.context_id.clone(),
                    t.shard.clone(),
                    t.status,
                    t.valid_until.and_then(rfc3339),
                )
            })
            .collect();
        let mut consents: Vec<ConsentRecord> = store
            .consents
            .iter()
            .map(|(ctx, client_id)| ConsentRecord {
                context_id: ctx.clone(),
                client_id: client_id.clone(),
            })
            .collect();
        consents.sort();
        let mut system_tokens: Vec<SystemTokenRecord> = store
            .system_tokens
            .iter()
            .map(|((ctx, client_id), token)| SystemTokenRecord {
                context_id: ctx.clone(),
                client_id: client_id.clone(),
                system_token: token.clone(),
            })
            .collect();
        system_tokens.sort();
        let mut refresh_tokens: Vec<RefreshTokenRecord> = store
            .refresh_tokens
            .iter()
            .map(|(token, g)| RefreshTokenRecord {
                refresh_token: token.clone(),
                client_id: g.client_id.clone(),
                context_id: g.ctx.clone(),
                email: g.email.clone(),
                auth_time: g.auth_time,
            })
            .collect();
        refresh_tokens.sort();
        (tenants, consents, system_tokens, refresh_tokens)
    };
    let tenants = tenants
        .into_iter()
        .filter_map(|(ctx, shard, status, valid_until)| {
            let webapi = st.webapi.read(&ctx, TenantData::clone)?;
            Some(TenantRecord {
                context_id: ctx,
                shard,
                state: status.as_str().to_owned(),
                valid_until,
                webapi,
            })
        })
        .collect();
    let (last_snapshot_id, snapshots) = st.lifecycle.snapshots.capture();
    let snapshots = snapshots
        .into_iter()
        .map(|s| SnapshotRecord {
            snapshot: s.id.get(),
            context_id: s.context_id,
            taken_at: rfc3339_utc(s.taken_at),
            label: s.label,
            webapi: s.data,
        })
        .collect();
    Document {
        format: FORMAT.to_owned(),
        version: VERSION,
        tenants,
        consents,
        system_tokens,
        refresh_tokens,
        crm_version: st.lifecycle.crm_version(),
        last_snapshot_id,
        snapshots,
    }
}

/// `None` only for a year outside 0..=9999, which RFC 3339 cannot write; such a time is then kept
/// as "none set" (the state API's default).
fn rfc3339(t: std::time::SystemTime) -> Option<String> {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Writes `bytes` to a temporary file next to `path`, syncs it, and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut tmp_name = name.to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    // A temporary file left by a crash is replaced, not reused with whatever mode it had.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Starts the writer task when the simulator has a state file: it writes [`DEBOUNCE`] after a
/// change, and once more when `stop` is notified (then it ends).
pub(crate) fn spawn_writer(st: Arc<AppState>, stop: Arc<Notify>) -> Option<JoinHandle<()>> {
    st.state_file.as_ref()?;
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                () = st.changes.wait() => {}
                () = stop.notified() => break,
            }
            // Let a burst settle into one write. Changes meanwhile leave a wake-up behind, so a
            // steady stream of changes is still written every DEBOUNCE.
            tokio::select! {
                () = tokio::time::sleep(DEBOUNCE) => {}
                () = stop.notified() => break,
            }
            save_logged(&st).await;
        }
        save_logged(&st).await;
    }))
}

/// Saves off the async workers; a failure is logged (the next change tries again).
async fn save_logged(st: &Arc<AppState>) {
    let saving = Arc::clone(st);
    match tokio::task::spawn_blocking(move || saving.save_state()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "simulator state not saved"),
        Err(e) => tracing::error!(error = %e, "simulator state save task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SiteSize;

    #[test]
    fn tenant_data_round_trips_through_the_file_format() {
        let mut t = TenantData::new();
        t.seed(&SiteSize {
            lists: 3,
            items_per_list: 2,
            fields_per_entity: 4,
            web_panels: 2,
            webhooks: 2,
            preferences: 3,
            user_groups: 2,
        });
        t.visibility.insert((22, 7), vec![3, 1]);
        t.visibility.insert((5, 1), vec![]);
        t.rebuild_udef_deltas_calls = 2;
        let json = serde_json::to_value(&t).unwrap();
        // Entities by name, visibility as sorted entries.
        assert!(
            json["udefs"]["Contact"]["published"]
                .as_array()
                .unwrap()
                .len()
                == 4
        );
        assert_eq!(
            json["visibility"],
            serde_json::json!([
                {"list": 5, "item": 1, "groups": []},
                {"list": 22, "item": 7, "groups": [3, 1]},
            ])
        );
        let back: TenantData = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        assert_eq!(back.visibility, t.visibility);

        let mut missing = json.clone();
        missing["udefs"].as_object_mut().unwrap().remove("Sale");
        let err = serde_json::from_value::<TenantData>(missing).unwrap_err();
        assert!(err.to_string().contains("no layout for Sale"), "{err}");
        let mut unknown = json;
        unknown["udefs"]["Ticket"] = unknown["udefs"]["Sale"].clone();
        let err = serde_json::from_value::<TenantData>(unknown).unwrap_err();
        assert!(
            err.to_string().contains("unknown entity \"Ticket\""),
            "{err}"
        );
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!(
            "sim-persist-{}-{}",
            std::process::id(),
            crate::util::random_alnum(8)
        ));
        let path = dir.join("nested").join("state.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the owner may read it: {mode:o}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
