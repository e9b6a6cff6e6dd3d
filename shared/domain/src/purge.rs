//! Removing everything the app keeps for a tenant: its sessions (through the tenant's session
//! index), then every item of its partition (the tenant record with its sealed system token and
//! webhook secret, the ledger, usage, webhook events, the session index). Used by the uninstall
//! once SuperOffice holds nothing of the app's any more, and by SuperOffice's Delete push.
//!
//! What stays is the audit record ([`crate::audit`]), kept elsewhere and without personal data.
//! Backups are made unreadable separately (their per-tenant key is erased).

use std::sync::Arc;

use superoffice::TenantId;

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
        Ok(Purged {
            sessions,
            items: all.len(),
        })
    }
}
