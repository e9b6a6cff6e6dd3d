//! The one retry layer for calls to SuperOffice.
//!
//! SuperOffice documents that apps "may be throttled" and that users must not experience a hang; it
//! documents no limits. So every call here:
//! * has a timeout (set on the request; capped by the caller's deadline);
//! * retries only what can succeed later: 408, 429, 500, 502, 503, 504, timeouts and broken connections,
//!   never any other 4xx;
//! * waits with capped full jitter (`random(0, min(max_delay, base * 2^n))`), or exactly what
//!   `Retry-After` says (seconds or an HTTP date) so no request is sent before the server allows it;
//! * draws each retry from a shared budget (a token bucket refilled by successes), so a SuperOffice
//!   outage cannot multiply our load;
//! * gives up *instead of sleeping* when the wait would pass the caller's deadline (the Lambda's
//!   remaining time) or exceed `max_retry_after`, returning when to try again so a job can be re-queued
//!   with that delay and the page can say when work continues;
//! * gives up at once, without a retry or a budget draw, when the endpoint's circuit breaker is open
//!   ([`crate::breaker`]), returning when the circuit may be tried again.
//!
//! Clock and jitter are injected, so tests assert exact delays.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::clock::{BoxFuture, Clock, Jitter};
use crate::transport::{HttpResponse, TransportError};

/// The longest wait we report to a caller (a `Retry-After: 999999` is someone's bug).
pub const MAX_REPORTED_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not slept in-process; the caller re-queues instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Capped full jitter for the retry after failed attempt `n` (0-based).
    pub fn backoff(&self, n: u32, jitter: &dyn Jitter) -> Duration {
        let exp = self
            .base_delay
            .checked_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        exp.mul_f64(jitter.fraction().clamp(0.0, 1.0))
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date (RFC 9110 §10.2.3). Garbage gives `None` (the
/// caller falls back to backoff); a date in the past gives zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Longer than u64 seconds is still "very long", not garbage.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A token bucket shared by all calls of a process: retries cost tokens, successes earn them back.
#[derive(Debug)]
pub struct RetryBudget {
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_reward: u32,
    available: Mutex<u32>,
}

impl Default for RetryBudget {
    /// The AWS SDKs' standard numbers: 500 tokens, 5 per retry, 10 per retry after a timeout, 1 back
    /// per success.
    fn default() -> Self {
        Self::new(500, 5, 10, 1)
    }
}

impl RetryBudget {
    pub fn new(capacity: u32, retry_cost: u32, timeout_cost: u32, success_reward: u32) -> Self {
        Self {
            capacity,
            retry_cost,
            timeout_cost,
            success_reward,
            available: Mutex::new(capacity),
        }
    }

    pub fn available(&self) -> u32 {
        *self.available.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn withdraw(&self, cost: u32) -> bool {
        let mut a = self.available.lock().unwrap_or_else(|p| p.into_inner());
        if *a >= cost {
            *a -= cost;
            true
        } else {
            false
        }
    }

    fn deposit(&self, amount: u32) {
        let mut a = self.available.lock().unwrap_or_else(|p| p.into_inner());
        *a = (*a + amount).min(self.capacity);
    }
}

/// What the sender of one attempt may use.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// Time left until the caller's deadline: the attempt's timeout must not exceed it.
    pub remaining: Option<Duration>,
}

impl Attempt {
    /// The request timeout to use: the configured one, or less when the deadline is closer.
    pub fn timeout(&self, configured: Duration) -> Duration {
        self.remaining.map_or(configured, |r| r.min(configured))
    }
}

/// Why the layer stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    AttemptsExhausted,
    BudgetExhausted,
    DeadlineTooClose,
    RetryAfterTooLong,
    /// The endpoint's circuit breaker is open: nothing was sent.
    CircuitOpen,
}

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// SuperOffice throttled us (429). Try again after `retry_after`.
    #[error("throttled by SuperOffice; retry after {retry_after:?}")]
    Throttled { retry_after: Duration, why: GiveUp },
    /// SuperOffice failed or did not answer. Try again later (after `retry_after` when known).
    #[error("SuperOffice is unavailable ({last})")]
    Unavailable {
        retry_after: Option<Duration>,
        last: String,
        why: GiveUp,
    },
    /// The answer was larger than the client accepts (`limit` bytes). Not retried: the same
    /// request brings the same answer; the request must ask for less.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

impl RetryError {
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RetryError::Throttled { retry_after, .. } => Some(*retry_after),
            RetryError::Unavailable { retry_after, .. } => *retry_after,
            RetryError::TooLarge { .. } => None,
        }
    }
}

enum Verdict {
    Done(HttpResponse),
    /// An answer larger than the request allows: repeating the request brings the same answer.
    TooLarge(usize),
    /// The breaker refused the call; it may be tried at `until`.
    CircuitOpen {
        until: SystemTime,
    },
    Retry {
        throttled: bool,
        retry_after: Option<Duration>,
        cost_timeout: bool,
        last: String,
    },
}

fn judge(result: Result<HttpResponse, TransportError>, now: SystemTime) -> Verdict {
    match result {
        Ok(response) => {
            let s = response.status;
            let retryable = matches!(
                s,
                StatusCode::REQUEST_TIMEOUT
                    | StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::INTERNAL_SERVER_ERROR
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
            if !retryable {
                return Verdict::Done(response);
            }
            let retry_after = response
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now));
            Verdict::Retry {
                throttled: s == StatusCode::TOO_MANY_REQUESTS,
                retry_after,
                cost_timeout: false,
                last: format!("HTTP {}", s.as_u16()),
            }
        }
        Err(TransportError::TooLarge(limit)) => Verdict::TooLarge(limit),
        Err(e) if crate::breaker::CircuitOpen::in_error(&e).is_some() => Verdict::CircuitOpen {
            until: crate::breaker::CircuitOpen::in_error(&e).map_or(now, |o| o.until),
        },
        Err(e) => Verdict::Retry {
            throttled: false,
            retry_after: None,
            cost_timeout: matches!(e, TransportError::Timeout(_)),
            last: e.code().to_owned(),
        },
    }
}

pub struct Retrier {
    policy: RetryPolicy,
    budget: Arc<RetryBudget>,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
}

impl Retrier {
    pub fn new(
        policy: RetryPolicy,
        budget: Arc<RetryBudget>,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Jitter>,
    ) -> Self {
        Self {
            policy,
            budget,
            clock,
            jitter,
        }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub fn budget(&self) -> &Arc<RetryBudget> {
        &self.budget
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Runs `send` until it yields a final response (any status that is not retryable, 4xx included:
    /// the caller maps those) or the layer gives up.
    pub async fn run<'a, F>(
        &self,
        deadline: Option<SystemTime>,
        mut send: F,
    ) -> Result<HttpResponse, RetryError>
    where
        F: FnMut(Attempt) -> BoxFuture<'a, Result<HttpResponse, TransportError>>,
    {
        let mut number = 1;
        let mut withdrawn = 0;
        loop {
            let now = self.clock.now();
            let remaining = deadline.map(|d| d.duration_since(now).unwrap_or(Duration::ZERO));
            if remaining == Some(Duration::ZERO) {
                return Err(RetryError::Unavailable {
                    retry_after: None,
                    last: "no time left".into(),
                    why: GiveUp::DeadlineTooClose,
                });
            }
            let result = send(Attempt { number, remaining }).await;
            let now = self.clock.now();
            let (throttled, retry_after, cost_timeout, last) = match judge(result, now) {
                Verdict::Done(response) => {
                    if response.status.is_success() {
                        // A retried call that succeeds gives back what it took; any success earns one.
                        self.budget
                            .deposit(withdrawn.max(self.budget.success_reward));
                    }
                    return Ok(response);
                }
                Verdict::TooLarge(limit) => return Err(RetryError::TooLarge { limit }),
                Verdict::CircuitOpen { until } => {
                    return Err(RetryError::Unavailable {
                        retry_after: Some(
                            until
                                .duration_since(now)
                                .unwrap_or(Duration::ZERO)
                                .min(MAX_REPORTED_WAIT),
                        ),
                        last: "circuit_open".into(),
                        why: GiveUp::CircuitOpen,
                    });
                }
                Verdict::Retry {
                    throttled,
                    retry_after,
                    cost_timeout,
                    last,
                } => (throttled, retry_after, cost_timeout, last),
            };
            let give_up = |why: GiveUp, wait: Option<Duration>| {
                let wait = wait.map(|w| w.min(MAX_REPORTED_WAIT));
                if throttled {
                    RetryError::Throttled {
                        retry_after: wait.unwrap_or(self.policy.max_delay),
                        why,
                    }
                } else {
                    RetryError::Unavailable {
                        retry_after: wait,
                        last: last.clone(),
                        why,
                    }
                }
            };
            let delay =
                retry_after.unwrap_or_else(|| self.policy.backoff(number - 1, &*self.jitter));
            if retry_after.is_some_and(|ra| ra > self.policy.max_retry_after) {
                return Err(give_up(GiveUp::RetryAfterTooLong, Some(delay)));
            }
            if number >= self.policy.max_attempts {
                return Err(give_up(GiveUp::AttemptsExhausted, Some(delay)));
            }
            if deadline.is_some_and(|d| now + delay >= d) {
                return Err(give_up(GiveUp::DeadlineTooClose, Some(delay)));
            }
            let cost = if cost_timeout {
                self.budget.timeout_cost
            } else {
                self.budget.retry_cost
            };
            if !self.budget.withdraw(cost) {
                return Err(give_up(GiveUp::BudgetExhausted, Some(delay)));
            }
            withdrawn += cost;
            tracing::debug!(attempt = number, delay_ms = delay.as_millis() as u64, last = %last, "retrying");
            self.clock.sleep(delay).await;
            number += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::clock::{FixedJitter, ManualClock, RandomJitter, unix_seconds};

    fn status(code: u16) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse::new(StatusCode::from_u16(code).unwrap(), ""))
    }

    fn with_retry_after(code: u16, value: &str) -> Result<HttpResponse, TransportError> {
        let mut r = HttpResponse::new(StatusCode::from_u16(code).unwrap(), "");
        r.headers
            .insert(http::header::RETRY_AFTER, value.parse().unwrap());
        Ok(r)
    }

    struct Script {
        answers: Mutex<VecDeque<Result<HttpResponse, TransportError>>>,
        sent_at: Mutex<Vec<i64>>,
        calls: AtomicU32,
    }

    impl Script {
        fn new(answers: Vec<Result<HttpResponse, TransportError>>) -> Arc<Self> {
            Arc::new(Self {
                answers: Mutex::new(answers.into()),
                sent_at: Mutex::new(vec![]),
                calls: AtomicU32::new(0),
            })
        }
    }

    async fn run(
        retrier: &Retrier,
        clock: &Arc<ManualClock>,
        script: &Arc<Script>,
        deadline: Option<SystemTime>,
    ) -> Result<HttpResponse, RetryError> {
        let script = script.clone();
        let clock = clock.clone();
        retrier
            .run(deadline, move |_| {
                let script = script.clone();
                let clock = clock.clone();
                Box::pin(async move {
                    script.calls.fetch_add(1, Ordering::SeqCst);
                    script
                        .sent_at
                        .lock()
                        .unwrap()
                        .push(unix_seconds(clock.now()));
                    script
                        .answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| status(200))
                })
            })
            .await
    }

    fn setup(jitter: f64) -> (Retrier, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at_unix(1_000_000));
        let retrier = Retrier::new(
            RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(6),
                max_retry_after: Duration::from_secs(30),
            },
            Arc::new(RetryBudget::default()),
            clock.clone(),
            Arc::new(FixedJitter(jitter)),
        );
        (retrier, clock)
    }

    #[tokio::test]
    async fn backoff_doubles_and_is_capped_with_full_jitter_at_one() {
        let (retrier, clock) = setup(1.0);
        let script = Script::new(vec![status(503), status(503), status(503), status(503)]);
        let r = run(&retrier, &clock, &script, None).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            clock.sleeps(),
            [1, 2, 4, 6].map(Duration::from_secs).to_vec(),
            "1, 2, 4, then capped at 6"
        );
    }

    #[tokio::test]
    async fn an_open_circuit_is_handed_back_as_a_wait_without_retries_or_budget() {
        let (retrier, clock) = setup(1.0);
        let until = clock.now() + Duration::from_secs(25);
        let open = crate::breaker::CircuitOpen {
            endpoint: "https://online2.superoffice.com/Cust1".into(),
            until,
        };
        let script = Script::new(vec![Err(TransportError::Connect(Box::new(open)))]);
        let before = retrier.budget().available();
        let e = run(&retrier, &clock, &script, None).await.unwrap_err();
        assert!(matches!(
            e,
            RetryError::Unavailable {
                retry_after: Some(d),
                why: GiveUp::CircuitOpen,
                ..
            } if d == Duration::from_secs(25)
        ));
        assert_eq!(script.calls.load(Ordering::SeqCst), 1, "no retry");
        assert!(clock.sleeps().is_empty(), "no wait in place");
        assert_eq!(retrier.budget().available(), before, "no budget drawn");
    }

    #[tokio::test]
    async fn jitter_scales_the_delay() {
        let (retrier, clock) = setup(0.5);
        let script = Script::new(vec![status(500), status(502)]);
        run(&retrier, &clock, &script, None).await.unwrap();
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_millis(500), Duration::from_secs(1)]
        );
    }

    #[test]
    fn full_jitter_stays_within_the_cap_and_varies() {
        let policy = RetryPolicy::default();
        let delays: Vec<Duration> = (0..10_000)
            .map(|_| policy.backoff(3, &RandomJitter))
            .collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(8)));
        assert!(delays.iter().any(|d| *d != delays[0]));
        assert!(policy.backoff(40, &FixedJitter(1.0)) == policy.max_delay);
    }

    #[tokio::test]
    async fn retry_after_seconds_is_waited_exactly_and_nothing_is_sent_earlier() {
        let (retrier, clock) = setup(1.0);
        let script = Script::new(vec![with_retry_after(429, "3")]);
        run(&retrier, &clock, &script, None).await.unwrap();
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
        let sent = script.sent_at.lock().unwrap().clone();
        assert_eq!(sent, vec![1_000_000, 1_000_003]);
    }

    #[tokio::test]
    async fn retry_after_as_an_http_date_is_honoured() {
        let (retrier, clock) = setup(1.0);
        let at = clock.now() + Duration::from_secs(7);
        let script = Script::new(vec![with_retry_after(503, &httpdate::fmt_http_date(at))]);
        run(&retrier, &clock, &script, None).await.unwrap();
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
    }

    #[test]
    fn garbage_retry_after_values_fall_back_without_panicking() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_retry_after("abc", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
        assert_eq!(
            parse_retry_after("999999", now),
            Some(Duration::from_secs(999_999))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[tokio::test]
    async fn garbage_retry_after_uses_backoff() {
        let (retrier, clock) = setup(1.0);
        let script = Script::new(vec![
            with_retry_after(429, "abc"),
            with_retry_after(429, "-5"),
        ]);
        run(&retrier, &clock, &script, None).await.unwrap();
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
    }

    #[tokio::test]
    async fn a_long_retry_after_is_not_slept_but_reported() {
        let (retrier, clock) = setup(1.0);
        let script = Script::new(vec![with_retry_after(429, "999999")]);
        let err = run(&retrier, &clock, &script, None).await.unwrap_err();
        assert!(clock.sleeps().is_empty());
        match err {
            RetryError::Throttled { retry_after, why } => {
                assert_eq!(retry_after, MAX_REPORTED_WAIT);
                assert_eq!(why, GiveUp::RetryAfterTooLong);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_wait_past_the_deadline_is_returned_instead_of_slept() {
        let (retrier, clock) = setup(1.0);
        let deadline = clock.now() + Duration::from_secs(30);
        let script = Script::new(vec![
            with_retry_after(429, "25"),
            with_retry_after(429, "10"),
        ]);
        let err = run(&retrier, &clock, &script, Some(deadline))
            .await
            .unwrap_err();
        // The first wait (25 s) fits, the second (10 s more) would end past the deadline.
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(25)]);
        assert!(matches!(
            err,
            RetryError::Throttled { retry_after, why: GiveUp::DeadlineTooClose } if retry_after == Duration::from_secs(10)
        ));
    }

    #[tokio::test]
    async fn attempts_see_the_time_left_before_the_deadline() {
        let (retrier, clock) = setup(1.0);
        let deadline = clock.now() + Duration::from_secs(10);
        let seen = Arc::new(Mutex::new(vec![]));
        let (c2, s2) = (clock.clone(), seen.clone());
        retrier
            .run(Some(deadline), move |attempt| {
                s2.lock()
                    .unwrap()
                    .push(attempt.timeout(Duration::from_secs(30)));
                let first = attempt.number == 1;
                let _ = &c2;
                Box::pin(async move { if first { status(503) } else { status(200) } })
            })
            .await
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![Duration::from_secs(10), Duration::from_secs(9)],
            "the configured 30 s are cut to the time left"
        );
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        for code in [400, 401, 403, 404, 409, 412, 421] {
            let (retrier, clock) = setup(1.0);
            let script = Script::new(vec![status(code)]);
            let r = run(&retrier, &clock, &script, None).await.unwrap();
            assert_eq!(r.status.as_u16(), code);
            assert_eq!(script.calls.load(Ordering::SeqCst), 1, "{code}");
            assert!(clock.sleeps().is_empty());
        }
    }

    #[tokio::test]
    async fn request_timeout_and_transport_failures_are_retried() {
        let (retrier, clock) = setup(1.0);
        let script = Script::new(vec![
            status(408),
            Err(TransportError::Timeout(Duration::from_secs(1))),
            Err(TransportError::Connect("refused".into())),
        ]);
        run(&retrier, &clock, &script, None).await.unwrap();
        assert_eq!(script.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let (retrier, clock) = setup(1.0);
        let script = Script::new((0..10).map(|_| status(503)).collect());
        let err = run(&retrier, &clock, &script, None).await.unwrap_err();
        assert_eq!(script.calls.load(Ordering::SeqCst), 5);
        assert!(matches!(
            err,
            RetryError::Unavailable {
                why: GiveUp::AttemptsExhausted,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn the_budget_drains_under_sustained_failure_and_then_retries_stop() {
        let clock = Arc::new(ManualClock::at_unix(0));
        let budget = Arc::new(RetryBudget::new(20, 5, 10, 1));
        let retrier = Retrier::new(
            RetryPolicy::default(),
            budget.clone(),
            clock.clone(),
            Arc::new(FixedJitter(0.0)),
        );
        let script = Script::new((0..100).map(|_| status(503)).collect());
        // 20 tokens pay for exactly 4 retries in all.
        for _ in 0..4 {
            let _ = run(&retrier, &clock, &script, None).await;
        }
        assert_eq!(budget.available(), 0);
        assert_eq!(script.calls.load(Ordering::SeqCst), 4 + 4);
        let err = run(&retrier, &clock, &script, None).await.unwrap_err();
        assert!(matches!(
            err,
            RetryError::Unavailable {
                why: GiveUp::BudgetExhausted,
                ..
            }
        ));
        assert_eq!(
            script.calls.load(Ordering::SeqCst),
            9,
            "one attempt, no retry"
        );
    }

    #[tokio::test]
    async fn successes_refill_the_budget_to_its_capacity() {
        let clock = Arc::new(ManualClock::at_unix(0));
        let budget = Arc::new(RetryBudget::new(20, 5, 10, 1));
        let retrier = Retrier::new(
            RetryPolicy::default(),
            budget.clone(),
            clock.clone(),
            Arc::new(FixedJitter(0.0)),
        );
        let failing = Script::new((0..100).map(|_| status(503)).collect());
        for _ in 0..4 {
            let _ = run(&retrier, &clock, &failing, None).await;
        }
        assert_eq!(budget.available(), 0);
        let ok = Script::new(vec![]);
        for _ in 0..30 {
            run(&retrier, &clock, &ok, None).await.unwrap();
        }
        assert_eq!(budget.available(), 20);
    }

    #[tokio::test]
    async fn a_timeout_costs_more_than_an_error_status() {
        let clock = Arc::new(ManualClock::at_unix(0));
        let budget = Arc::new(RetryBudget::new(100, 5, 10, 1));
        let retrier = Retrier::new(
            RetryPolicy::default(),
            budget.clone(),
            clock.clone(),
            Arc::new(FixedJitter(0.0)),
        );
        let script = Script::new(vec![
            Err(TransportError::Timeout(Duration::from_secs(1))),
            status(404),
        ]);
        run(&retrier, &clock, &script, None).await.unwrap();
        assert_eq!(budget.available(), 90);
    }
}
