//! Snapshots of a tenant's WebAPI data, to simulate "backup restored" (and an upgrade that resets
//! customisations).
//!
//! A snapshot is a deep copy of the tenant's WebAPI data ([`TenantData`]): user-defined fields
//! (admin and published layouts, layout versions), lists and their items, user groups, web panels
//! with their owners, item visibility, preferences and webhooks (with their call statistics, which
//! live in the database too). Restoring puts that data back, with the ids it had, except for two
//! things a restore leaves as they are now:
//!
//! - **Id counters never go backwards.** A real database restore would also restore the id
//!   sequences, so ids handed out after the snapshot would be handed out again, and an app that
//!   kept such an id (of a panel it created after the backup) would find it pointing at something
//!   else. The simulator keeps each counter at the larger of its current and its snapshot value,
//!   so an id means one thing for the whole run.
//! - **Call counters** (`RebuildUdefDeltas` calls, `FlushCachesByName` calls, completed publishes)
//!   and a running publish are records of requests the simulator received, not tenant data: they
//!   keep counting.
//!
//! Tenant state, shard, consents and tokens are not part of a snapshot (they are SuperOffice's
//! records about the tenant, not its database).
//!
//! Snapshot ids count up from 1 across all tenants and are never reused. Snapshots live in memory
//! and, when the simulator has a state file, in that file (so they survive a restart of the local
//! runner). There is no limit on their number; each holds a full copy of the tenant's data, so
//! forget the ones you no longer need ([`crate::SimulatorHandle::forget_snapshot`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::LifecycleError;
use crate::state::AppState;
use crate::webapi::data::{ListKind, TenantData};

/// A snapshot's number (see [`crate::SimulatorHandle::snapshot_tenant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SnapshotId(u64);

impl SnapshotId {
    pub fn new(n: u64) -> Self {
        Self(n)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SnapshotId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u64>()
            .map(SnapshotId)
            .map_err(|_| "a snapshot id is a whole number".to_owned())
    }
}

/// What a snapshot holds, counted (for lists and the admin page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SnapshotContents {
    /// Lists, built-in ones included.
    pub lists: usize,
    /// Items of the lists that store their own (not user groups or web panels).
    pub list_items: usize,
    /// User-defined fields in the admin layouts of all entities.
    pub udef_fields: usize,
    /// Web panels, those marked deleted included.
    pub web_panels: usize,
    pub preferences: usize,
    pub webhooks: usize,
}

impl SnapshotContents {
    fn of(t: &TenantData) -> Self {
        Self {
            lists: t.lists.len(),
            list_items: t
                .lists
                .iter()
                .filter(|l| l.kind == ListKind::Plain)
                .map(|l| l.items.len())
                .sum(),
            udef_fields: t.udefs.iter().map(|l| l.admin.len()).sum(),
            web_panels: t.web_panels.len(),
            preferences: t.preferences.len(),
            webhooks: t.webhooks.len(),
        }
    }
}

impl fmt::Display for SnapshotContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lists ({} items), {} user-defined fields, {} web panels, {} preferences, {} webhooks",
            self.lists,
            self.list_items,
            self.udef_fields,
            self.web_panels,
            self.preferences,
            self.webhooks
        )
    }
}

/// A snapshot, without its data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    pub snapshot: SnapshotId,
    pub context_id: String,
    pub taken_at: SystemTime,
    /// What the taker called it, if anything.
    pub label: Option<String>,
    pub contents: SnapshotContents,
}

/// One kept snapshot (also its record in the state file).
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) id: SnapshotId,
    pub(crate) context_id: String,
    pub(crate) taken_at: SystemTime,
    pub(crate) label: Option<String>,
    pub(crate) data: TenantData,
}

impl Stored {
    fn info(&self) -> SnapshotInfo {
        SnapshotInfo {
            snapshot: self.id,
            context_id: self.context_id.clone(),
            taken_at: self.taken_at,
            label: self.label.clone(),
            contents: SnapshotContents::of(&self.data),
        }
    }
}

#[derive(Default)]
struct Inner {
    /// The last id handed out (0: none yet).
    last_id: u64,
    taken: Vec<Stored>,
}

/// Every tenant's snapshots, oldest first.
#[derive(Default)]
pub(crate) struct Snapshots(Mutex<Inner>);

/// Labels are for people: one line, at most this many characters.
const MAX_LABEL: usize = 200;

impl Snapshots {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Copies the tenant's WebAPI data now.
    pub(crate) fn take(
        &self,
        st: &AppState,
        ctx: &str,
        label: Option<&str>,
    ) -> Result<SnapshotId, LifecycleError> {
        let ctx = st.canonical_ctx(ctx)?;
        let data = st
            .webapi
            .read(&ctx, TenantData::clone)
            .ok_or_else(|| LifecycleError::UnknownTenant(ctx.clone()))?;
        let label = label
            .map(|l| {
                l.chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(MAX_LABEL)
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
            .filter(|l| !l.is_empty());
        let id = {
            let mut inner = self.lock();
            inner.last_id += 1;
            let id = SnapshotId(inner.last_id);
            inner.taken.push(Stored {
                id,
                context_id: ctx,
                taken_at: SystemTime::now(),
                label,
                data,
            });
            id
        };
        st.changes.mark();
        Ok(id)
    }

    /// Puts the snapshot's data back into the tenant (see the module docs for what stays).
    pub(crate) fn restore(
        &self,
        st: &AppState,
        ctx: &str,
        id: SnapshotId,
    ) -> Result<(), LifecycleError> {
        let ctx = st.canonical_ctx(ctx)?;
        let snapshot = self
            .lock()
            .taken
            .iter()
            .find(|s| s.id == id && s.context_id == ctx)
            .map(|s| s.data.clone())
            .ok_or(LifecycleError::UnknownSnapshot(id))?;
        st.webapi
            .with(&ctx, |current| restore_into(current, snapshot))
            .ok_or(LifecycleError::UnknownTenant(ctx))
    }

    /// The tenant's snapshots, oldest first.
    pub(crate) fn list(&self, ctx: &str) -> Vec<SnapshotInfo> {
        self.lock()
            .taken
            .iter()
            .filter(|s| s.context_id.eq_ignore_ascii_case(ctx))
            .map(Stored::info)
            .collect()
    }

    pub(crate) fn forget(
        &self,
        st: &AppState,
        ctx: &str,
        id: SnapshotId,
    ) -> Result<(), LifecycleError> {
        let ctx = st.canonical_ctx(ctx)?;
        {
            let mut inner = self.lock();
            let before = inner.taken.len();
            inner.taken.retain(|s| !(s.id == id && s.context_id == ctx));
            if inner.taken.len() == before {
                return Err(LifecycleError::UnknownSnapshot(id));
            }
        }
        st.changes.mark();
        Ok(())
    }

    /// Everything kept, for the state file: the last id handed out and the snapshots.
    pub(crate) fn capture(&self) -> (u64, Vec<Stored>) {
        let inner = self.lock();
        (inner.last_id, inner.taken.clone())
    }

    /// Replaces everything (loading the state file, before the simulator serves).
    pub(crate) fn load(&self, last_id: u64, taken: Vec<Stored>) {
        let highest = taken.iter().map(|s| s.id.0).max().unwrap_or(0);
        let mut inner = self.lock();
        inner.last_id = last_id.max(highest);
        inner.taken = taken;
    }
}

/// `current` becomes `snapshot`, but with every id counter at least where it is now, and the call
/// counters and running publishes of `current`.
fn restore_into(current: &mut TenantData, snapshot: TenantData) {
    let mut r = snapshot;
    let keep_max = |restored: &mut i32, now: i32| *restored = (*restored).max(now);
    keep_max(&mut r.next_udef_field_id, current.next_udef_field_id);
    keep_max(&mut r.next_column_id, current.next_column_id);
    keep_max(&mut r.next_list_id, current.next_list_id);
    keep_max(&mut r.next_list_item_id, current.next_list_item_id);
    keep_max(&mut r.next_web_panel_id, current.next_web_panel_id);
    keep_max(&mut r.next_preference_id, current.next_preference_id);
    keep_max(&mut r.next_webhook_id, current.next_webhook_id);
    for (restored, now) in r.udefs.iter_mut().zip(current.udefs.iter()) {
        keep_max(&mut restored.next_identity, now.next_identity);
        restored.publishing_until = now.publishing_until;
        restored.publishes = now.publishes;
    }
    r.rebuild_udef_deltas_calls = current.rebuild_udef_deltas_calls;
    r.flush_caches_by_name = std::mem::take(&mut current.flush_caches_by_name);
    *current = r;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SiteSize;

    #[test]
    fn a_restore_brings_the_data_back_but_no_counter_goes_backwards() {
        let mut t = TenantData::new();
        let before = t.clone();
        t.seed(&SiteSize {
            lists: 2,
            items_per_list: 2,
            fields_per_entity: 2,
            web_panels: 2,
            webhooks: 2,
            preferences: 2,
            user_groups: 1,
        });
        t.rebuild_udef_deltas_calls = 3;
        t.flush_caches_by_name.push(vec!["x".into()]);
        t.udefs[0].publishes = 2;
        let grown = t.clone();
        assert!(grown.next_list_id > before.next_list_id);
        assert!(grown.next_web_panel_id > before.next_web_panel_id);
        restore_into(&mut t, before.clone());
        assert_eq!(t.lists.len(), before.lists.len());
        assert!(t.web_panels.is_empty() && t.webhooks.is_empty() && t.preferences.is_empty());
        assert_eq!(t.user_groups.len(), before.user_groups.len());
        assert_eq!(t.udefs[0].admin.len(), 0);
        assert_eq!(t.udefs[0].version, before.udefs[0].version);
        // Counters stay where the grown tenant had them.
        assert_eq!(t.next_list_id, grown.next_list_id);
        assert_eq!(t.next_list_item_id, grown.next_list_item_id);
        assert_eq!(t.next_web_panel_id, grown.next_web_panel_id);
        assert_eq!(t.next_webhook_id, grown.next_webhook_id);
        assert_eq!(t.next_preference_id, grown.next_preference_id);
        assert_eq!(t.next_udef_field_id, grown.next_udef_field_id);
        assert_eq!(t.next_column_id, grown.next_column_id);
        assert_eq!(t.udefs[0].next_identity, grown.udefs[0].next_identity);
        assert_eq!(t.rebuild_udef_deltas_calls, 3);
        assert_eq!(t.flush_caches_by_name, vec![vec!["x".to_owned()]]);
        assert_eq!(t.udefs[0].publishes, 2);
    }

    #[test]
    fn contents_count_what_a_tenant_holds() {
        let t = TenantData::new();
        let c = SnapshotContents::of(&t);
        assert_eq!(c.lists, 5);
        assert_eq!(c.list_items, 9);
        assert_eq!(
            (c.udef_fields, c.web_panels, c.preferences, c.webhooks),
            (0, 0, 0, 0)
        );
        assert!(c.to_string().starts_with("5 lists (9 items)"));
    }
}
