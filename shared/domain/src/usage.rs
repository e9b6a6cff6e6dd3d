//! Per-tenant daily usage: what the app sent to each tenant's WebAPI, kept for the management page
//! and for the throughput questions SuperOffice's operations may ask.
//!
//! The WebAPI client reports every attempt to [`DailyUsage`] (an in-memory tally); a job flushes the
//! tally to one item per tenant and day (`TENANT#{id}` / `USAGE#{yyyy-mm-dd}`) with versioned
//! writes, so concurrent flushes add up instead of overwriting each other.
//!
//! Each tally stored is also written as a metric line (`telemetry::metrics::superoffice_usage`:
//! calls, bytes, throttles and failures summed over tenants, the tenant and the day as
//! properties), so the dashboard and the throttling alarm see what the daily items hold, at most
//! one line per tenant and job delivery rather than one per call. A tally whose store write failed
//! is written with the next flush that stores it, never twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use superoffice::TenantId;
use superoffice::clock::{Clock, unix_seconds};
use superoffice::usage::{CallRecord, TenantUsage, UsageHook};

use crate::store::{Item, Items, StoreError, document};
use crate::tenant::tenant_pk;

/// Usage items are kept about 13 months.
const KEEP_SECONDS: i64 = 400 * 86_400;

pub struct DailyUsage<I> {
    items: Arc<I>,
    clock: Arc<dyn Clock>,
    pending: Mutex<HashMap<(TenantId, String), TenantUsage>>,
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

    fn take_pending(&self) -> HashMap<(TenantId, String), TenantUsage> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds the tally to the stored days. On failure the tally is kept for the next flush.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let pending = self.take_pending();
        self.store(pending).await
    }

    /// Adds `tenant`'s tally only. A job flushes its own tenant's calls and no one else's: jobs of
    /// one tenant never run at once, so once the uninstall of a tenant has purged its partition and
    /// dropped its tally ([`DailyUsage::forget`]), no job running for another tenant in the same
    /// process can write a usage item back into the emptied partition.
    pub async fn flush_tenant(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let mine = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<(TenantId, String)> =
                p.keys().filter(|(t, _)| t == tenant).cloned().collect();
            keys.into_iter()
                .filter_map(|k| p.remove(&k).map(|v| (k, v)))
                .collect::<HashMap<_, _>>()
        };
        self.store(mine).await
    }

    async fn store(
        &self,
        pending: HashMap<(TenantId, String), TenantUsage>,
    ) -> Result<(), StoreError> {
        let mut failed = None;
        for ((tenant, day), add) in pending {
            match self.add(&tenant, &day, add).await {
                Ok(()) => telemetry::metrics::superoffice_usage(
                    tenant.as_str(),
                    &day,
                    telemetry::metrics::Usage {
                        calls: add.calls,
                        bytes_sent: add.bytes_sent,
                        bytes_received: add.bytes_received,
                        throttled: add.throttles,
                        failures: add.failures,
                    },
                ),
                Err(e) => {
                    let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                    *p.entry((tenant, day)).or_default() += add;
                    failed = Some(e);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    async fn add(&self, tenant: &TenantId, day: &str, add: TenantUsage) -> Result<(), StoreError> {
        let now = unix_seconds(self.clock.now());
        for _ in 0..10 {
            let (mut usage, version) = match self
                .items
                .get(&tenant_pk(tenant), &format!("USAGE#{day}"), now)
                .await?
            {
                Some(item) => (item.parse::<TenantUsage>()?, item.version),
                None => (TenantUsage::default(), 0),
            };
            usage += add;
            let mut item = Item::new(tenant_pk(tenant), format!("USAGE#{day}"), document(&usage)?)
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

    /// Drops what was counted for `tenant` and not yet stored (the tenant was removed: nothing may
    /// be written for it again).
    pub fn forget(&self, tenant: &TenantId) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(t, _), _| t != tenant);
    }

    /// Stored days of a tenant, oldest first.
    pub async fn days(&self, tenant: &TenantId) -> Result<Vec<(String, TenantUsage)>, StoreError> {
        let now = unix_seconds(self.clock.now());
        self.items
            .query(&tenant_pk(tenant), "USAGE#", now)
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
        p.entry((call.tenant.clone(), day)).or_default().add(call);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use superoffice::clock::ManualClock;

    use super::*;
    use crate::store::memory::MemoryItems;

    fn call(ctx: &TenantId, status: Option<u16>) -> CallRecord<'_> {
        CallRecord {
            tenant: ctx,
            method: &http::Method::GET,
            status,
            bytes_sent: 100,
            bytes_received: 1000,
            elapsed: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn calls_are_kept_per_tenant_and_day_and_concurrent_flushes_add_up() {
        let items = Arc::new(MemoryItems::new());
        // 2027-01-15 08:00 UTC.
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let a = TenantId::parse("Cust12345").unwrap();
        let b = TenantId::parse("Cust67890").unwrap();
        // Two Lambda instances counting the same tenant on the same day.
        let first = DailyUsage::new(items.clone(), clock.clone());
        let second = DailyUsage::new(items.clone(), clock.clone());
        for status in [Some(200), Some(429), Some(503), None] {
            first.record(&call(&a, status));
        }
        second.record(&call(&a, Some(200)));
        second.record(&call(&b, Some(200)));
        let (r1, r2) = tokio::join!(first.flush(), second.flush());
        r1.unwrap();
        r2.unwrap();
        // Nothing is counted twice: a second flush has nothing left to add.
        first.flush().await.unwrap();

        let days = first.days(&a).await.unwrap();
        assert_eq!(
            days,
            [(
                "2027-01-15".to_owned(),
                TenantUsage {
                    calls: 5,
                    bytes_sent: 500,
                    bytes_received: 5000,
                    throttles: 1,
                    failures: 2,
                }
            )]
        );
        assert_eq!(first.days(&b).await.unwrap()[0].1.calls, 1);

        // The next day is a new item.
        clock.advance(Duration::from_secs(86_400));
        first.record(&call(&a, Some(200)));
        first.flush().await.unwrap();
        let days = first.days(&a).await.unwrap();
        assert_eq!(
            days.iter()
                .map(|(d, u)| (d.as_str(), u.calls))
                .collect::<Vec<_>>(),
            [("2027-01-15", 5), ("2027-01-16", 1)]
        );
    }

    #[tokio::test]
    async fn a_tenants_flush_writes_its_own_calls_only() {
        let items = Arc::new(MemoryItems::new());
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let usage = DailyUsage::new(items.clone(), clock);
        let (a, b) = (
            TenantId::parse("Cust1").unwrap(),
            TenantId::parse("Cust2").unwrap(),
        );
        usage.record(&call(&a, Some(200)));
        usage.record(&call(&b, Some(200)));
        usage.flush_tenant(&a).await.unwrap();
        assert_eq!(usage.days(&a).await.unwrap().len(), 1);
        assert!(
            usage.days(&b).await.unwrap().is_empty(),
            "b's calls wait for b's job"
        );
        // b is uninstalled meanwhile: its tally is dropped and nothing is ever written for it.
        usage.forget(&b);
        usage.flush_tenant(&a).await.unwrap();
        usage.flush().await.unwrap();
        assert!(usage.days(&b).await.unwrap().is_empty());
    }
}
