//! Per-tenant accounting of what we send to SuperOffice.
//!
//! Certification asks partners to consent to throughput monitoring and SuperOffice may stop an app that
//! hurts performance, so we count our own load per tenant: calls, bytes each way and throttles. The
//! WebAPI client reports every attempt (retries included) to a [`UsageHook`]; the app decides where the
//! counts go (memory, a daily DynamoDB item, metrics).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::TenantId;

/// One attempt sent to a tenant's WebAPI.
#[derive(Debug, Clone)]
pub struct CallRecord<'a> {
    pub tenant: &'a TenantId,
    pub method: &'a http::Method,
    /// `None` when no answer arrived (timeout, connection failure).
    pub status: Option<u16>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub elapsed: Duration,
}

impl CallRecord<'_> {
    pub fn throttled(&self) -> bool {
        self.status == Some(429)
    }
}

pub trait UsageHook: Send + Sync {
    fn record(&self, call: &CallRecord<'_>);
}

/// A hook that records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoUsage;

impl UsageHook for NoUsage {
    fn record(&self, _call: &CallRecord<'_>) {}
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantUsage {
    pub calls: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub throttles: u64,
    /// Attempts that got no answer or a 5xx.
    pub failures: u64,
}

impl TenantUsage {
    pub fn add(&mut self, call: &CallRecord<'_>) {
        self.calls += 1;
        self.bytes_sent += call.bytes_sent;
        self.bytes_received += call.bytes_received;
        if call.throttled() {
            self.throttles += 1;
        }
        if call.status.is_none_or(|s| s >= 500) {
            self.failures += 1;
        }
    }
}

impl std::ops::AddAssign for TenantUsage {
    fn add_assign(&mut self, other: Self) {
        self.calls += other.calls;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.throttles += other.throttles;
        self.failures += other.failures;
    }
}

/// In-memory counters per tenant.
#[derive(Debug, Default)]
pub struct UsageCounters {
    by_tenant: Mutex<HashMap<TenantId, TenantUsage>>,
}

impl UsageCounters {
    pub fn get(&self, tenant: &TenantId) -> TenantUsage {
        self.lock().get(tenant).copied().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, TenantUsage>> {
        self.by_tenant.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl UsageHook for UsageCounters {
    fn record(&self, call: &CallRecord<'_>) {
        self.lock()
            .entry(call.tenant.clone())
            .or_default()
            .add(call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_bytes_and_throttles_per_tenant() {
        let counters = UsageCounters::default();
        let a = TenantId::parse("Cust1").unwrap();
        let b = TenantId::parse("Cust2").unwrap();
        let m = http::Method::GET;
        for status in [Some(200), Some(429), None, Some(503)] {
            counters.record(&CallRecord {
                tenant: &a,
                method: &m,
                status,
                bytes_sent: 10,
                bytes_received: 100,
                elapsed: Duration::from_millis(5),
            });
        }
        assert_eq!(
            counters.get(&a),
            TenantUsage {
                calls: 4,
                bytes_sent: 40,
                bytes_received: 400,
                throttles: 1,
                failures: 2
            }
        );
        assert_eq!(counters.get(&b), TenantUsage::default());
    }
}
