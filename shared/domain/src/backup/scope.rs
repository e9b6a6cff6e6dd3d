//! What a backup holds, partition by partition.
//!
//! Everything the app keeps about a tenant lives in the tenant's partition (`TENANT#{id}`): the
//! tenant record, the ledger of provisioned artifacts, webhook registrations and deliveries, daily
//! usage, and whatever a later feature adds there (an audit trail). A backup copies each tenant
//! partition whole, so a new kind of tenant item is backed up without a change here. The app's own
//! records (not any one tenant's) live in one partition, [`APP_PARTITION`], copied whole as well.
//!
//! Left out on purpose: pending sign-ins (`SIGNIN#…`, ten minutes) and sessions (`SESSION#…`,
//! hours) are ephemeral and worthless after a restore; the backup's own bookkeeping (`BACKUP…`: run
//! checkpoints, the per-tenant keys) must stay outside the backups, or erasing a tenant's key would
//! not make its backups unreadable.
//!
//! Tenants are found by their record (sort key [`TENANT_HEAD`]) through the store's partition
//! listing, a page at a time; each partition is then read by query, never by a table scan.

use std::fmt;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

use crate::tenant::tenant_pk;

/// Prefix of every tenant partition (`crate::tenant::tenant_pk`).
pub const TENANT_PREFIX: &str = "TENANT#";
/// The sort key of a tenant's record: a tenant partition with this item is a tenant.
pub const TENANT_HEAD: &str = "TENANT";
/// The partition of the app's own records (configuration, an app-wide audit trail): backed up whole.
pub const APP_PARTITION: &str = "APP";

/// One partition of a backup: a tenant's, or the app's own records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    App,
    Tenant(TenantId),
}

impl Scope {
    /// The store partition the scope's items live in.
    pub fn partition_key(&self) -> String {
        match self {
            Scope::App => APP_PARTITION.to_owned(),
            Scope::Tenant(t) => tenant_pk(t),
        }
    }

    /// The scope a tenant partition key names, if it is one.
    pub fn from_tenant_partition(pk: &str) -> Option<Scope> {
        pk.strip_prefix(TENANT_PREFIX)
            .and_then(|id| TenantId::parse(id).ok())
            .map(Scope::Tenant)
    }

    /// The value naming the scope in encryption contexts, key names and object names: the tenant id
    /// (`Cust12345`), or `app`, which no tenant id can be (a tenant id ends in digits).
    pub fn name(&self) -> &str {
        match self {
            Scope::App => "app",
            Scope::Tenant(t) => t.as_str(),
        }
    }

    /// The scope a [`Scope::name`] names.
    pub fn from_name(name: &str) -> Option<Scope> {
        if name == "app" {
            return Some(Scope::App);
        }
        TenantId::parse(name).ok().map(Scope::Tenant)
    }

    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Scope::App => None,
            Scope::Tenant(t) => Some(t),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::App => f.write_str("the app's own records"),
            Scope::Tenant(t) => write!(f, "tenant {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::Items;
    use crate::store::memory::MemoryItems;
    use crate::tenant::{InstallStatus, Tenant, Tenants};

    #[tokio::test]
    async fn a_tenant_saved_by_the_tenant_store_is_found_by_the_backups_listing() {
        // Guards the coupling with tenant.rs: its partition key and its record's sort key.
        let items = Arc::new(MemoryItems::new());
        let id = TenantId::parse("Cust12345").unwrap();
        let tenant = Tenant {
            id: id.clone(),
            company: None,
            status: InstallStatus::Installed,
            sealed_system_token: "test:x".into(),
            sealed_webhook_secret: None,
            installed_by: "ada@demo.example".into(),
            consented_at: 1,
            job_run: None,
            consent_revoked: false,
            uninstall_requested_by: None,
            waiting: None,
            problem: None,
            manifest: None,
            reconciling: None,
            suspended: false,
            deleted: false,
            platform: Default::default(),
            updated_at: 1,
        };
        Tenants::new(items.clone()).save(&tenant, 0).await.unwrap();
        let page = items
            .partitions(TENANT_PREFIX, TENANT_HEAD, None, 10, 2)
            .await
            .unwrap();
        assert_eq!(page.entries, [tenant_pk(&id)]);
        assert_eq!(
            Scope::from_tenant_partition(&page.entries[0]),
            Some(Scope::Tenant(id))
        );
    }

    #[test]
    fn scope_names_are_tenant_ids_or_app_and_read_back() {
        let t = Scope::Tenant(TenantId::parse("Cust7").unwrap());
        assert_eq!(t.name(), "Cust7");
        assert_eq!(Scope::from_name("Cust7"), Some(t));
        assert_eq!(Scope::from_name("app"), Some(Scope::App));
        assert_eq!(Scope::from_name("../x"), None);
        assert_eq!(Scope::App.partition_key(), "APP");
    }
}
