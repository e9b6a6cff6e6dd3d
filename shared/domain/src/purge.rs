//! Removing everything the app keeps for a tenant: its sessions (through the tenant's session
//! index), then every item of its partition (the tenant record with its sealed system token and
//! webhook secret, the ledger, usage, webhook events, the session index). Used by the uninstall
//! once SuperOffice holds nothing of the app's any more, and by SuperOffice's Delete push.
//!
//! What stays is the audit record ([`crate::audit`]), kept elsewhere and without personal data.
//! Backups already written are made unreadable by erasing the tenant's backup key, last
//! ([`crate::backup::keys::BackupKeyStore::erase`]): a backup running meanwhile either finds no
//! tenant any more or wrote under the key being erased.

use std::sync::Arc;

use superoffice::TenantId;

use crate::backup::keys::BackupKeyStore;
use crate::signin::Sessions;
use crate::store::{Items, StoreError};
use crate::tenant::tenant_pk;

pub struct Purge<I> {
    items: Arc<I>,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub sessions: usize,
    pub items: usize,
}

impl<I: Items> Purge<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// Removes everything kept for `tenant`. Idempotent: a second run finds nothing.
    pub async fn tenant(&self, tenant: &TenantId) -> Result<Purged, StoreError> {
        let sessions = Sessions::new(self.items.clone()).end_all(tenant).await?;
        let pk = tenant_pk(tenant);
        // `now = 0`: expired items too (DynamoDB's TTL sweep can take days), so nothing is left.
        // The tenant record goes last: until then a failed purge is still visible as uninstalling.
        let mut all = self.items.query(&pk, "", 0).await?;
        all.sort_by_key(|i| i.sk == "TENANT");
        for item in &all {
            self.items.delete(&pk, &item.sk).await?;
        }
        // Crypto-erase. A failure here fails the purge, and the job's next delivery, finding the
        // partition empty, erases again (deleting a missing key is not an error).
        BackupKeyStore::new(self.items.clone())
            .erase(tenant)
            .await?;
        Ok(Purged {
            sessions,
            items: all.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::keys::{KeyRecord, records_pk};
    use crate::backup::scope::Scope;
    use crate::store::memory::MemoryItems;
    use crate::store::{Item, document};

    fn id(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    async fn backed_up(items: &Arc<MemoryItems>, tenant: &TenantId) {
        let record = KeyRecord {
            key_id: "k1".into(),
            wrapped: "d3JhcHBlZA==".into(),
            wrapped_by: "test".into(),
            created_at: 1,
        };
        let scope = Scope::Tenant(tenant.clone());
        items
            .put(&Item::new(
                records_pk(&scope),
                "KEY",
                document(&record).unwrap(),
            ))
            .await
            .unwrap();
        items
            .put(&Item::new(
                tenant_pk(tenant),
                "TENANT",
                serde_json::json!({}),
            ))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_purge_erases_the_tenants_backup_key_and_no_one_elses() {
        let items = Arc::new(MemoryItems::new());
        let (gone, kept) = (id("Cust1"), id("Cust2"));
        backed_up(&items, &gone).await;
        backed_up(&items, &kept).await;
        let purged = Purge::new(items.clone()).tenant(&gone).await.unwrap();
        assert_eq!(purged.items, 1);
        let keys = BackupKeyStore::new(items.clone());
        assert!(
            keys.load(&Scope::Tenant(gone.clone()))
                .await
                .unwrap()
                .is_none()
        );
        assert!(keys.load(&Scope::Tenant(kept)).await.unwrap().is_some());
        // Again: nothing left, nothing fails.
        assert_eq!(Purge::new(items).tenant(&gone).await.unwrap().items, 0);
    }
}
