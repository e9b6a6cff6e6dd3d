//! Time and randomness as ports.
//!
//! Token validation, ticket and state caches, and the retry layer all depend on "now", on sleeping and
//! on random jitter. Taking them through these traits lets tests assert exact delays (a retry after a
//! `Retry-After: 3` sleeps exactly 3 s of *manual* time) instead of timing real sleeps.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Wall-clock time and sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

/// Seconds since the Unix epoch, negative before it (JWT `NumericDate` arithmetic).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The inverse of [`unix_seconds`], saturating instead of panicking on absurd values.
pub fn from_unix_seconds(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(secs.unsigned_abs()))
            .unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))
            .unwrap_or(UNIX_EPOCH)
    }
}

/// The real clock: `SystemTime::now` and `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A source of jitter: a fraction in `[0, 1]`.
pub trait Jitter: Send + Sync {
    fn fraction(&self) -> f64;
}

/// Uniform jitter from the operating system's random source (through aws-lc-rs).
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn fraction(&self) -> f64 {
        let mut bytes = [0u8; 8];
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            // No randomness available: full delay is the safe side (never retry early).
            return 1.0;
        }
        // 53 random bits give every representable f64 in [0, 1).
        (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A clock for tests: time stands still until [`ManualClock::advance`] or a `sleep`, which advances
/// it instantly and records the duration.
#[derive(Debug)]
pub struct ManualClock {
    inner: Mutex<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    now: SystemTime,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    pub fn new(now: SystemTime) -> Self {
        Self {
            inner: Mutex::new(ManualState {
                now,
                sleeps: Vec::new(),
            }),
        }
    }

    /// A clock at the given Unix time.
    pub fn at_unix(secs: i64) -> Self {
        Self::new(from_unix_seconds(secs))
    }

    pub fn advance(&self, by: Duration) {
        let mut s = self.lock();
        s.now += by;
    }

    pub fn set(&self, now: SystemTime) {
        self.lock().now = now;
    }

    /// Every duration passed to `sleep`, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A panic in another test thread must not hide this test's result.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        let mut s = self.lock();
        s.now += duration;
        s.sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Jitter that always returns the same fraction (1.0 gives the full backoff).
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn fraction(&self) -> f64 {
        self.0.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_round_trips_and_saturates() {
        assert_eq!(
            unix_seconds(from_unix_seconds(1_581_665_207)),
            1_581_665_207
        );
        assert_eq!(unix_seconds(from_unix_seconds(-5)), -5);
        // Absurd values do not panic.
        let _ = from_unix_seconds(i64::MAX);
        let _ = from_unix_seconds(i64::MIN);
    }

    #[test]
    fn random_jitter_stays_in_range_and_varies() {
        let j = RandomJitter;
        let samples: Vec<f64> = (0..10_000).map(|_| j.fraction()).collect();
        assert!(samples.iter().all(|f| (0.0..=1.0).contains(f)));
        let first = samples[0];
        assert!(samples.iter().any(|f| (*f - first).abs() > f64::EPSILON));
    }

    #[tokio::test]
    async fn manual_clock_records_sleeps_and_advances() {
        let c = ManualClock::at_unix(1000);
        c.sleep(Duration::from_secs(3)).await;
        c.sleep(Duration::from_millis(500)).await;
        assert_eq!(
            c.sleeps(),
            vec![Duration::from_secs(3), Duration::from_millis(500)]
        );
        assert_eq!(unix_seconds(c.now()), 1003);
    }
}
