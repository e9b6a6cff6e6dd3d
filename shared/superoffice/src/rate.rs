//! A per-tenant rate cap on what we send to SuperOffice.
//!
//! SuperOffice documents no numbers, only that apps that load a tenant too much are throttled or
//! stopped. Every attempt to a tenant's WebAPI takes a token from that tenant's bucket (`rate` per
//! second, up to `burst` saved); when none is left the call waits its turn, or, if the turn comes
//! after the caller's deadline, it is refused at once with the wait, like a 429 from SuperOffice, so
//! the job is re-queued instead of sleeping. Other tenants have their own buckets and are never
//! slowed by a busy one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::TenantId;
use crate::clock::Clock;

struct Bucket {
    tokens: f64,
    at: SystemTime,
}

pub struct TenantRateLimiter {
    rate: f64,
    burst: f64,
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
}

impl TenantRateLimiter {
    pub fn new(rate_per_second: u32, burst: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            rate: f64::from(rate_per_second.max(1)),
            burst: f64::from(burst.max(1)),
            clock,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `tenant`, waiting for it if needed. `Err(wait)` when the token would come
    /// after `deadline`: nothing was taken.
    pub async fn acquire(
        &self,
        tenant: &TenantId,
        deadline: Option<SystemTime>,
    ) -> Result<(), Duration> {
        let wait = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let now = self.clock.now();
            let b = buckets.entry(tenant.clone()).or_insert(Bucket {
                tokens: self.burst,
                at: now,
            });
            let elapsed = now.duration_since(b.at).unwrap_or_default().as_secs_f64();
            b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
            b.at = now;
            let wait = if b.tokens >= 1.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64((1.0 - b.tokens) / self.rate)
            };
            if deadline.is_some_and(|d| now + wait > d) {
                return Err(wait);
            }
            // Reserve now (the balance may go negative): later callers queue behind this one.
            b.tokens -= 1.0;
            wait
        };
        if !wait.is_zero() {
            self.clock.sleep(wait).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn a_burst_is_paced_to_the_rate_and_other_tenants_are_unaffected() {
        let clock = Arc::new(ManualClock::at_unix(0));
        let limiter = TenantRateLimiter::new(10, 5, clock.clone());
        let a = TenantId::parse("Cust1").unwrap();
        let b = TenantId::parse("Cust2").unwrap();
        let mut sent_at = Vec::new();
        for _ in 0..25 {
            limiter.acquire(&a, None).await.unwrap();
            sent_at.push(clock.now());
        }
        // 5 at once (the burst), then one every 100 ms: 20 more take 2 s.
        let span = sent_at[24].duration_since(sent_at[0]).unwrap();
        assert_eq!(span, Duration::from_secs(2));
        // In any 1-second window at most burst + rate requests.
        for (i, t) in sent_at.iter().enumerate() {
            let in_window = sent_at[i..]
                .iter()
                .take_while(|u| u.duration_since(*t).unwrap() < Duration::from_secs(1))
                .count();
            assert!(in_window <= 15, "{in_window}");
        }
        let before = clock.now();
        limiter.acquire(&b, None).await.unwrap();
        assert_eq!(clock.now(), before, "another tenant does not wait");
    }

    #[tokio::test]
    async fn a_turn_after_the_deadline_is_refused_with_the_wait_and_takes_nothing() {
        let clock = Arc::new(ManualClock::at_unix(0));
        let limiter = TenantRateLimiter::new(1, 1, clock.clone());
        let a = TenantId::parse("Cust1").unwrap();
        limiter.acquire(&a, None).await.unwrap();
        let deadline = clock.now() + Duration::from_millis(500);
        assert_eq!(
            limiter.acquire(&a, Some(deadline)).await,
            Err(Duration::from_secs(1))
        );
        assert_eq!(
            limiter.acquire(&a, Some(deadline)).await,
            Err(Duration::from_secs(1)),
            "nothing was reserved"
        );
        limiter.acquire(&a, None).await.unwrap();
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
    }
}
