//! The artifact ledger: what the app created in a tenant, recorded *before* and *after* each creation.
//!
//! For each artifact of the manifest the worker first writes an intent, then finds or creates the
//! artifact in SuperOffice by its stable identity (ProgId, name, section/key), then records the
//! SuperOffice id. A crash between the two writes leaves an intent; the retry finds the artifact by
//! its identity instead of creating it again. The ledger is also the list of provisioned items and,
//! read in reverse, the uninstall's plan.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

use crate::store::{Item, Items, StoreError, document};
use crate::tenant::tenant_pk;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// About to be created (or created, and the id not yet recorded).
    Intent,
    /// Exists in SuperOffice with `superoffice_id`.
    Created,
    /// Removed because the manifest no longer declares it (an app upgrade). Kept while the app is
    /// installed, with its last id: a tenant restored from a backup may bring it back, and the
    /// repair then removes it again rather than leaving an item nobody owns.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Position in the manifest's creation order.
    pub seq: u32,
    /// `kind:identity` ([`crate::manifest::Artifact::key`]).
    pub key: String,
    pub kind: String,
    /// For the provisioned-items list given to SuperOffice (identities, URLs).
    pub description: String,
    /// What it is and where the customer sees it, in the customer's words (for the app's pages).
    #[serde(default)]
    pub shown_as: String,
    pub state: EntryState,
    pub superoffice_id: Option<String>,
    /// The manifest declaration this entry was made from ([`crate::manifest::Artifact::fingerprint`]);
    /// `None` from versions before upgrades existed (treated as changed: updated once).
    #[serde(default)]
    pub fingerprint: Option<String>,
    pub updated_at: i64,
}

fn sort_key(seq: u32, key: &str) -> String {
    format!("ARTIFACT#{seq:04}#{key}")
}

pub struct Ledger<I> {
    items: Arc<I>,
}

impl<I> Clone for Ledger<I> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

impl<I: Items> Ledger<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// Every entry of the tenant, in creation order.
    pub async fn entries(
        &self,
        tenant: &TenantId,
        now: i64,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.items
            .query(&tenant_pk(tenant), "ARTIFACT#", now)
            .await?
            .iter()
            .map(Item::parse)
            .collect()
    }

    pub async fn write(&self, tenant: &TenantId, entry: &LedgerEntry) -> Result<(), StoreError> {
        self.items
            .put(&Item::new(
                tenant_pk(tenant),
                sort_key(entry.seq, &entry.key),
                document(entry)?,
            ))
            .await
    }

    /// Forgets an entry (its artifact is gone).
    pub async fn forget(&self, tenant: &TenantId, entry: &LedgerEntry) -> Result<(), StoreError> {
        self.items
            .delete(&tenant_pk(tenant), &sort_key(entry.seq, &entry.key))
            .await
    }
}
