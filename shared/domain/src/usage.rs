//! Per-tenant daily usage: what the app sent to each tenant's WebAPI, kept for the management page
//! and for the throughput questions SuperOffice's operations may ask.
//!
//! The WebAPI client reports every attempt to [`DailyUsage`] (an in-memory tally); a job flushes the
//! tally to one item per tenant and day (`TENANT#{ctx}` / `USAGE#{yyyy-mm-dd}`) with versioned
//! writes, so concurrent flushes add up instead of overwriting each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use superoffice::clock::{Clock, unix_seconds};
use superoffice::usage::{CallRecord, TenantUsage, UsageHook};

use crate::store::{Item, Items, StoreError, document};
use crate::tenant::tenant_pk;

/// Usage items are kept about 13 months.
const KEEP_SECONDS: i64 = 400 * 86_400;

pub struct DailyUsage<I> {
    items: Arc<I>,
    clock: Arc<dyn Clock>,
    pending: Mutex<HashMap<(String, String), TenantUsage>>,
}

pub fn day_of(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "1970-01-01".into())
}

impl<I: Items> DailyUsage<I> {
    pub fn new(items: Arc<I>, clock: Arc<dyn Clock>) -> Self {
        Self {
            items,
            clock,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn take_pending(&self) -> HashMap<(String, String), TenantUsage> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds the tally to the stored days. On failure the tally is kept for the next flush.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let pending = self.take_pending();
        let mut failed = None;
        for ((ctx, day), add) in pending {
            if let Err(e) = self.add(&ctx, &day, add).await {
                let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                let slot = p.entry((ctx, day)).or_default();
                slot.calls += add.calls;
                slot.bytes_sent += add.bytes_sent;
                slot.bytes_received += add.bytes_received;
                slot.throttles += add.throttles;
                slot.failures += add.failures;
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    async fn add(&self, ctx: &str, day: &str, add: TenantUsage) -> Result<(), StoreError> {
        let now = unix_seconds(self.clock.now());
        for _ in 0..10 {
            let (mut usage, version) = match self
                .items
                .get(&tenant_pk(ctx), &format!("USAGE#{day}"), now)
                .await?
            {
                Some(item) => (item.parse::<TenantUsage>()?, item.version),
                None => (TenantUsage::default(), 0),
            };
            usage.calls += add.calls;
            usage.bytes_sent += add.bytes_sent;
            usage.bytes_received += add.bytes_received;
            usage.throttles += add.throttles;
            usage.failures += add.failures;
            let mut item = Item::new(tenant_pk(ctx), format!("USAGE#{day}"), document(&usage)?)
                .expiring_at(now + KEEP_SECONDS);
            item.version = version;
            match self.items.put_versioned(&item).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Stored days of a tenant, oldest first.
    pub async fn days(&self, ctx: &str) -> Result<Vec<(String, TenantUsage)>, StoreError> {
        let now = unix_seconds(self.clock.now());
        self.items
            .query(&tenant_pk(ctx), "USAGE#", now)
            .await?
            .into_iter()
            .map(|i| Ok((i.sk.trim_start_matches("USAGE#").to_owned(), i.parse()?)))
            .collect()
    }
}

impl<I: Items> UsageHook for DailyUsage<I> {
    fn record(&self, call: &CallRecord<'_>) {
        let day = day_of(unix_seconds(self.clock.now()));
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.entry((call.tenant.to_string(), day))
            .or_default()
            .add(call);
    }
}
