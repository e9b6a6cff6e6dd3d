//! What the backup keeps in the table, outside the backups, in the partition `BACKUP`:
//!
//! * `RUN`: the run in progress (its checkpoint and who holds it), marked complete when the run
//!   completes (a write, not a delete: the backup's role may not delete table items);
//! * `RUN#{backup id}#…`: one record per partition written (its manifest entry), kept
//!   [`super::Settings::keep_records`], so the newest run's are always there;
//! * `LATEST`: the newest complete run; `VERIFIED`: the newest run the drill decrypted and found
//!   equal to its manifest.
//!
//! [`BackupRecords::last_backup`] answers "when was tenant X last backed up" for the management page
//! with two reads. The scopes' keys are kept beside, under `BACKUP#{scope}` ([`super::keys`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

use super::manifest::{BackupId, Entry};
use super::scope::Scope;
use crate::store::{Item, Items, StoreError, document};

/// The partition of the backup's bookkeeping.
pub const PARTITION: &str = "BACKUP";
const RUN: &str = "RUN";
const LATEST: &str = "LATEST";
const VERIFIED: &str = "VERIFIED";

/// A run in progress: where it stands, so the next invocation continues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub backup_id: BackupId,
    pub started_at: i64,
    /// The app's records are written first.
    pub app_done: bool,
    /// The last tenant partition written; the walk over tenants continues after it.
    pub after_tenant: Option<String>,
    pub partitions_done: u64,
    pub invocations: u32,
    /// Until when the invocation that holds the run may work on it (Unix seconds).
    pub lease_until: i64,
    pub lease_owner: String,
    /// Set when the run completed: the record then only holds the version the next run writes over.
    #[serde(default)]
    pub completed_at: Option<i64>,
}

/// The newest complete run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub backup_id: BackupId,
    pub manifest: String,
    pub started_at: i64,
    pub completed_at: i64,
    pub partitions: u64,
    pub items: u64,
}

/// The newest run the restore drill verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub backup_id: BackupId,
    /// When that backup completed (its age is what the freshness alarm watches).
    pub backup_completed_at: i64,
    pub verified_at: i64,
}

/// A tenant's last backup, for the management page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBackup {
    pub backup_id: BackupId,
    /// Unix seconds.
    pub completed_at: i64,
    pub items: u64,
    pub plaintext_bytes: u64,
    /// When the restore drill decrypted that backup and found it whole, if it has.
    pub verified_at: Option<i64>,
}

/// The sort key of a partition's record in a run: the app's first, then tenants by id.
fn entry_sk(id: &BackupId, scope: &Scope) -> String {
    match scope {
        Scope::App => format!("RUN#{id}#0#app"),
        Scope::Tenant(t) => format!("RUN#{id}#1#{t}"),
    }
}

pub struct BackupRecords<I> {
    items: Arc<I>,
}

impl<I> Clone for BackupRecords<I> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

impl<I: Items> BackupRecords<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// The tenant's last backup: its entry in the newest complete run, if the tenant was in it.
    /// For the management page; two reads.
    pub async fn last_backup(
        &self,
        tenant: &TenantId,
        now: i64,
    ) -> Result<Option<LastBackup>, StoreError> {
        let Some(latest) = self.latest(now).await? else {
            return Ok(None);
        };
        let scope = Scope::Tenant(tenant.clone());
        let Some(item) = self
            .items
            .get(PARTITION, &entry_sk(&latest.backup_id, &scope), now)
            .await?
        else {
            return Ok(None);
        };
        let entry: Entry = item.parse()?;
        let verified_at = self
            .verified(now)
            .await?
            .filter(|v| v.backup_id == latest.backup_id)
            .map(|v| v.verified_at);
        Ok(Some(LastBackup {
            backup_id: latest.backup_id,
            completed_at: latest.completed_at,
            items: entry.items,
            plaintext_bytes: entry.plaintext_bytes,
            verified_at,
        }))
    }

    pub async fn latest(&self, now: i64) -> Result<Option<Latest>, StoreError> {
        self.read(LATEST, now).await
    }

    pub async fn verified(&self, now: i64) -> Result<Option<Verified>, StoreError> {
        self.read(VERIFIED, now).await
    }

    async fn read<T: for<'de> Deserialize<'de>>(
        &self,
        sk: &str,
        now: i64,
    ) -> Result<Option<T>, StoreError> {
        match self.items.get(PARTITION, sk, now).await? {
            Some(item) => item.parse().map(Some),
            None => Ok(None),
        }
    }

    /// The run record with its stored version: the run in progress, or the last one completed
    /// (see [`Checkpoint::completed_at`]).
    pub async fn checkpoint(&self, now: i64) -> Result<Option<(Checkpoint, u64)>, StoreError> {
        match self.items.get(PARTITION, RUN, now).await? {
            Some(item) => Ok(Some((item.parse()?, item.version))),
            None => Ok(None),
        }
    }

    /// Writes the checkpoint if it is still at `version` (0: a new run); the new version.
    pub async fn save_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        version: u64,
    ) -> Result<u64, StoreError> {
        let mut item = Item::new(PARTITION, RUN, document(checkpoint)?);
        item.version = version;
        self.items.put_versioned(&item).await?;
        Ok(version + 1)
    }

    pub async fn save_entry(
        &self,
        id: &BackupId,
        entry: &Entry,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let item = Item::new(PARTITION, entry_sk(id, &entry.scope), document(entry)?)
            .expiring_at(expires_at);
        self.items.put(&item).await
    }

    /// Every partition record of a run, the app's first, then tenants by id, a page at a time.
    pub async fn entries(&self, id: &BackupId, now: i64) -> Result<Vec<Entry>, StoreError> {
        let prefix = format!("RUN#{id}#");
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .items
                .query_page(PARTITION, &prefix, after.as_deref(), 200, now)
                .await?;
            for item in &page.entries {
                out.push(item.parse()?);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    pub async fn save_latest(&self, latest: &Latest) -> Result<(), StoreError> {
        self.items
            .put(&Item::new(PARTITION, LATEST, document(latest)?))
            .await
    }

    pub async fn save_verified(&self, verified: &Verified) -> Result<(), StoreError> {
        self.items
            .put(&Item::new(PARTITION, VERIFIED, document(verified)?))
            .await
    }
}
