//! Each tenant's database serial, as its administrator's id_token said at consent.
//!
//! The system-user JWT that PartnerSystemUser/Authenticate returns names its audience
//! `spn:{serial}`; checking that against the token's *own* `serial` claim proves nothing about
//! whose database the ticket opens. The serial recorded here, from the id_token of the
//! administrator who approved the app, is what the worker's system-user client compares with
//! ([`superoffice::system_user::KnownSerials`]). It lives in the tenant's partition, so removing the
//! tenant's data removes it too, and it is not secret (it names a database, not a credential).

use std::sync::Arc;

use superoffice::TenantId;
use superoffice::clock::{BoxFuture, Clock, unix_seconds};
use superoffice::system_user::KnownSerials;

use crate::store::{Item, Items, StoreError};
use crate::tenant::tenant_pk;

const SORT_KEY: &str = "SERIAL";

pub struct TenantSerials<I> {
    items: Arc<I>,
    clock: Arc<dyn Clock>,
}

impl<I: Items> TenantSerials<I> {
    pub fn new(items: Arc<I>, clock: Arc<dyn Clock>) -> Self {
        Self { items, clock }
    }

    /// Records the serial an administrator's id_token carried (the latest sign-in wins).
    pub async fn record(&self, tenant: &TenantId, serial: &str) -> Result<(), StoreError> {
        let item = Item::new(
            tenant_pk(tenant),
            SORT_KEY,
            serde_json::json!({ "serial": serial }),
        );
        self.items.put(&item).await
    }

    /// The recorded serial, if any.
    pub async fn get(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let now = unix_seconds(self.clock.now());
        Ok(self
            .items
            .get(&tenant_pk(tenant), SORT_KEY, now)
            .await?
            .and_then(|i| i.data["serial"].as_str().map(str::to_owned)))
    }
}

impl<I: Items> KnownSerials for TenantSerials<I> {
    fn serial<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<String>, &'static str>> {
        Box::pin(async move { self.get(tenant).await.map_err(|e| e.code()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryItems;
    use superoffice::clock::SystemClock;

    #[tokio::test]
    async fn the_latest_administrator_sign_in_sets_the_known_serial() {
        let serials = TenantSerials::new(Arc::new(MemoryItems::new()), Arc::new(SystemClock));
        let a = TenantId::parse("Cust1").unwrap();
        let b = TenantId::parse("Cust2").unwrap();
        assert_eq!(serials.serial(&a).await, Ok(None));
        serials.record(&a, "111").await.unwrap();
        serials.record(&a, "112").await.unwrap();
        serials.record(&b, "222").await.unwrap();
        assert_eq!(serials.serial(&a).await, Ok(Some("112".into())));
        assert_eq!(serials.serial(&b).await, Ok(Some("222".into())));
    }
}
