//! A circuit breaker per tenant endpoint: a tenant whose WebAPI keeps failing stops costing
//! requests, retries and Lambda time.
//!
//! Without it every job for a broken tenant sends each call, waits out its timeout, retries with
//! backoff and draws on the retry budget that all tenants share, so one dead tenant slows the
//! others. With it, per endpoint (the tenant's host and context, `https://online2.superoffice.com/
//! Cust12345`), the semantics of resilience4j's count-based breaker on a time window:
//! * **closed**: calls go through; each outcome is kept for [`BreakerSettings::window`]. When at
//!   least [`BreakerSettings::min_calls`] outcomes are kept and the share of failures reaches
//!   [`BreakerSettings::failure_rate`], the circuit opens;
//! * **open**: calls fail at once, without touching the network, with the time the circuit may
//!   be tried again ([`CircuitOpen::until`]); the retry layer hands that back as a wait instead of
//!   retrying, so a job is re-queued for then;
//! * **half-open**: after [`BreakerSettings::open_for`], up to [`BreakerSettings::probes`] calls go
//!   through as probes; when they all succeed the circuit closes, the first failure opens it again.
//!
//! A failure is what says the endpoint is unwell: a transport error (timeout, broken connection) or
//! a 5xx or 408 answer. A 429 is SuperOffice pacing us (the retry layer honours its
//! `Retry-After`), and any other answer, 4xx included, shows a working endpoint.
//!
//! Written here rather than taken from a crate (`failsafe`, `recloser`): those measure time with
//! `std::time::Instant` and know one breaker per call site, while this one is keyed per tenant
//! endpoint and runs on the crate's [`Clock`] port, so tests assert exact transitions.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use url::Url;

use crate::clock::{BoxFuture, Clock};
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

#[derive(Debug, Clone)]
pub struct BreakerSettings {
    /// How long an outcome counts.
    pub window: Duration,
    /// Outcomes needed in the window before the rate is judged (one failed call is not a trend).
    pub min_calls: usize,
    /// The share of failures (0..=1) that opens the circuit.
    pub failure_rate: f64,
    /// How long an open circuit refuses calls before it lets probes through.
    pub open_for: Duration,
    /// Probes that must all succeed to close the circuit again.
    pub probes: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            min_calls: 10,
            failure_rate: 0.5,
            open_for: Duration::from_secs(30),
            probes: 2,
        }
    }
}

/// The error a short-circuited call fails with (inside [`TransportError::Connect`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the circuit for {endpoint} is open until it may be tried again")]
pub struct CircuitOpen {
    pub endpoint: String,
    pub until: SystemTime,
}

impl CircuitOpen {
    /// The open circuit behind a transport error, if that is what it is.
    pub fn in_error(e: &TransportError) -> Option<&CircuitOpen> {
        match e {
            TransportError::Connect(source) => source.downcast_ref::<CircuitOpen>(),
            _ => None,
        }
    }
}

/// A circuit's state, as tests and logs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open { until: SystemTime },
    HalfOpen,
}

#[derive(Debug)]
enum Circuit {
    Closed {
        outcomes: VecDeque<(SystemTime, bool)>,
    },
    Open {
        until: SystemTime,
    },
    HalfOpen {
        admitted: u32,
        succeeded: u32,
    },
}

impl Default for Circuit {
    fn default() -> Self {
        Circuit::Closed {
            outcomes: VecDeque::new(),
        }
    }
}

/// Most outcomes kept per circuit (a busy endpoint's window is judged on its latest calls).
const MAX_OUTCOMES: usize = 200;

/// The breakers of one process, one per endpoint.
pub struct CircuitBreakers {
    settings: BreakerSettings,
    clock: Arc<dyn Clock>,
    circuits: Mutex<HashMap<String, Circuit>>,
}

impl CircuitBreakers {
    pub fn new(settings: BreakerSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            clock,
            circuits: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Circuit>> {
        self.circuits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call to `endpoint` may go out now.
    pub fn admit(&self, endpoint: &str) -> Result<(), CircuitOpen> {
        let now = self.clock.now();
        let mut circuits = self.lock();
        let circuit = circuits.entry(endpoint.to_owned()).or_default();
        let open = |until| CircuitOpen {
            endpoint: endpoint.to_owned(),
            until,
        };
        match circuit {
            Circuit::Closed { .. } => Ok(()),
            Circuit::Open { until } if now < *until => Err(open(*until)),
            Circuit::Open { .. } => {
                tracing::info!(
                    reason = "circuit_half_open",
                    endpoint,
                    "probing a tenant endpoint again"
                );
                *circuit = Circuit::HalfOpen {
                    admitted: 1,
                    succeeded: 0,
                };
                Ok(())
            }
            Circuit::HalfOpen { admitted, .. } if *admitted < self.settings.probes => {
                *admitted += 1;
                Ok(())
            }
            // Enough probes are out: the others wait for their verdict.
            Circuit::HalfOpen { .. } => Err(open(now + self.settings.open_for)),
        }
    }

    /// The outcome of a call that [`Self::admit`] let through.
    pub fn record(&self, endpoint: &str, success: bool) {
        let now = self.clock.now();
        let mut circuits = self.lock();
        let circuit = circuits.entry(endpoint.to_owned()).or_default();
        let opened = |circuit: &mut Circuit| {
            let until = now + self.settings.open_for;
            tracing::warn!(
                reason = "circuit_opened",
                endpoint,
                "a tenant endpoint keeps failing; calls to it stop for a while"
            );
            *circuit = Circuit::Open { until };
        };
        match circuit {
            Circuit::Closed { outcomes } => {
                outcomes.push_back((now, success));
                while outcomes.len() > MAX_OUTCOMES
                    || outcomes.front().is_some_and(|(at, _)| {
                        now.duration_since(*at).unwrap_or_default() > self.settings.window
                    })
                {
                    outcomes.pop_front();
                }
                let failures = outcomes.iter().filter(|(_, ok)| !ok).count();
                if outcomes.len() >= self.settings.min_calls
                    && failures as f64 >= self.settings.failure_rate * outcomes.len() as f64
                {
                    opened(circuit);
                }
            }
            Circuit::HalfOpen { succeeded, .. } if success => {
                *succeeded += 1;
                if *succeeded >= self.settings.probes {
                    tracing::info!(
                        reason = "circuit_closed",
                        endpoint,
                        "a tenant endpoint answers again"
                    );
                    *circuit = Circuit::default();
                }
            }
            Circuit::HalfOpen { .. } => opened(circuit),
            // A call admitted before the circuit opened: its outcome changes nothing.
            Circuit::Open { .. } => {}
        }
    }

    /// The state of `endpoint`'s circuit.
    pub fn state(&self, endpoint: &str) -> CircuitState {
        match self.lock().get(endpoint) {
            None | Some(Circuit::Closed { .. }) => CircuitState::Closed,
            Some(Circuit::Open { until }) => CircuitState::Open { until: *until },
            Some(Circuit::HalfOpen { .. }) => CircuitState::HalfOpen,
        }
    }
}

/// The endpoint a WebAPI URL belongs to: scheme, host and port, and the path before its `api`
/// segment, which is the tenant's base (`https://online2.superoffice.com/Cust12345`; the
/// simulator's `http://127.0.0.1:9/sod2/Cust12345`). A URL without an `api` segment is its
/// host's endpoint.
pub fn endpoint_of(url: &Url) -> String {
    let mut key = url.origin().ascii_serialization();
    let segments: Vec<&str> = url.path_segments().into_iter().flatten().collect();
    if let Some(api) = segments.iter().position(|s| s.eq_ignore_ascii_case("api")) {
        for segment in segments.iter().take(api).take(4) {
            key.push('/');
            key.push_str(segment);
        }
    }
    key
}

/// Whether an outcome says the endpoint is working (see the module docs).
fn healthy(result: &Result<HttpResponse, TransportError>) -> Option<bool> {
    match result {
        Ok(r) if r.status == http::StatusCode::TOO_MANY_REQUESTS => None,
        Ok(r) => {
            Some(!(r.status.is_server_error() || r.status == http::StatusCode::REQUEST_TIMEOUT))
        }
        Err(e) if CircuitOpen::in_error(e).is_some() => None,
        Err(_) => Some(false),
    }
}

/// A transport that puts every request through its endpoint's breaker.
pub struct BreakerTransport {
    inner: Arc<dyn Transport>,
    breakers: Arc<CircuitBreakers>,
}

impl BreakerTransport {
    pub fn new(inner: Arc<dyn Transport>, breakers: Arc<CircuitBreakers>) -> Self {
        Self { inner, breakers }
    }
}

impl Transport for BreakerTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let endpoint = endpoint_of(&request.url);
            if let Err(open) = self.breakers.admit(&endpoint) {
                return Err(TransportError::Connect(Box::new(open)));
            }
            let result = self.inner.send(request).await;
            match healthy(&result) {
                Some(ok) => self.breakers.record(&endpoint, ok),
                // A probe that was throttled proves nothing either way: let another one go.
                None => self.breakers.record_neutral(&endpoint),
            }
            result
        })
    }
}

impl CircuitBreakers {
    /// An admitted call whose outcome says nothing about the endpoint's health (a 429).
    fn record_neutral(&self, endpoint: &str) {
        if let Some(Circuit::HalfOpen { admitted, .. }) = self.lock().get_mut(endpoint) {
            *admitted = admitted.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::testing::ScriptedTransport;

    const TENANT_URL: &str = "https://online2.superoffice.com/Cust12345/api/v1/List";

    fn setup() -> (
        Arc<ManualClock>,
        Arc<ScriptedTransport>,
        BreakerTransport,
        Arc<CircuitBreakers>,
    ) {
        let clock = Arc::new(ManualClock::at_unix(1_000_000));
        let inner = ScriptedTransport::new();
        let breakers = Arc::new(CircuitBreakers::new(
            BreakerSettings::default(),
            clock.clone(),
        ));
        let transport = BreakerTransport::new(inner.clone(), breakers.clone());
        (clock, inner, transport, breakers)
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest::get(Url::parse(url).unwrap(), Duration::from_secs(1))
    }

    #[test]
    fn endpoints_are_a_tenants_host_and_context() {
        let e = |u: &str| endpoint_of(&Url::parse(u).unwrap());
        assert_eq!(e(TENANT_URL), "https://online2.superoffice.com/Cust12345");
        assert_eq!(
            e("http://127.0.0.1:9/sod2/Cust1/api/v1/x"),
            "http://127.0.0.1:9/sod2/Cust1"
        );
        assert_ne!(
            e("https://online2.superoffice.com/Cust1/api"),
            e("https://online2.superoffice.com/Cust2/api")
        );
        assert_eq!(e("https://h.example/x/y"), "https://h.example");
    }

    #[tokio::test]
    async fn catalogue_69_half_the_calls_failing_opens_the_circuit_and_calls_stop_at_once() {
        let (clock, inner, transport, breakers) = setup();
        // 10 calls in the window, 5 failing (alternating): the threshold is 50 %.
        for i in 0..10 {
            if i % 2 == 0 {
                inner.push_status(503, "");
            } else {
                inner.push_status(200, "{}");
            }
            let _ = transport.send(get(TENANT_URL)).await;
            clock.advance(Duration::from_secs(1));
        }
        let until = match breakers.state(&endpoint_of(&Url::parse(TENANT_URL).unwrap())) {
            CircuitState::Open { until } => until,
            other => panic!("expected open, got {other:?}"),
        };
        let sent = inner.count();
        for _ in 0..50 {
            let e = transport.send(get(TENANT_URL)).await.unwrap_err();
            assert_eq!(CircuitOpen::in_error(&e).map(|o| o.until), Some(until));
        }
        assert_eq!(
            inner.count(),
            sent,
            "short-circuited calls never reach the network"
        );
        // Another tenant on the same host is not affected.
        inner.push_status(200, "{}");
        assert!(
            transport
                .send(get("https://online2.superoffice.com/Cust99/api/v1/List"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_few_failures_or_old_ones_do_not_open_it() {
        let (clock, inner, transport, breakers) = setup();
        let endpoint = endpoint_of(&Url::parse(TENANT_URL).unwrap());
        // Fewer calls than min_calls, all failing.
        for _ in 0..9 {
            inner.push_status(500, "");
            let _ = transport.send(get(TENANT_URL)).await;
        }
        assert_eq!(breakers.state(&endpoint), CircuitState::Closed);
        // They age out of the window; then healthy calls and 4 more failures: 4 of 10.
        clock.advance(Duration::from_secs(61));
        for i in 0..10 {
            inner.push_status(if i < 4 { 502 } else { 404 }, "");
            let _ = transport.send(get(TENANT_URL)).await;
        }
        assert_eq!(breakers.state(&endpoint), CircuitState::Closed);
        // Throttling is not a failure.
        for _ in 0..20 {
            inner.push_status(429, "");
            let _ = transport.send(get(TENANT_URL)).await;
        }
        assert_eq!(breakers.state(&endpoint), CircuitState::Closed);
    }

    async fn opened() -> (
        Arc<ManualClock>,
        Arc<ScriptedTransport>,
        BreakerTransport,
        Arc<CircuitBreakers>,
        String,
    ) {
        let (clock, inner, transport, breakers) = setup();
        for _ in 0..10 {
            inner.push(Err(TransportError::Timeout(Duration::from_secs(1))));
            let _ = transport.send(get(TENANT_URL)).await;
        }
        let endpoint = endpoint_of(&Url::parse(TENANT_URL).unwrap());
        assert!(matches!(
            breakers.state(&endpoint),
            CircuitState::Open { .. }
        ));
        (clock, inner, transport, breakers, endpoint)
    }

    #[tokio::test]
    async fn catalogue_70_after_the_wait_successful_probes_close_it() {
        let (clock, inner, transport, breakers, endpoint) = opened().await;
        clock.advance(Duration::from_secs(29));
        assert!(transport.send(get(TENANT_URL)).await.is_err(), "still open");
        clock.advance(Duration::from_secs(1));
        inner.push_status(200, "{}");
        assert!(transport.send(get(TENANT_URL)).await.is_ok());
        assert_eq!(breakers.state(&endpoint), CircuitState::HalfOpen);
        inner.push_status(200, "{}");
        assert!(transport.send(get(TENANT_URL)).await.is_ok());
        assert_eq!(breakers.state(&endpoint), CircuitState::Closed);
    }

    #[tokio::test]
    async fn catalogue_70_a_failed_probe_opens_it_again_and_extra_callers_wait() {
        let (clock, inner, transport, breakers, endpoint) = opened().await;
        clock.advance(Duration::from_secs(30));
        // Two probes admitted at once; a third caller is refused while they are out.
        breakers.admit(&endpoint).unwrap();
        breakers.admit(&endpoint).unwrap();
        assert!(breakers.admit(&endpoint).is_err());
        breakers.record(&endpoint, true);
        breakers.record(&endpoint, false);
        let sent = inner.count();
        match breakers.state(&endpoint) {
            CircuitState::Open { until } => assert_eq!(
                until.duration_since(clock.now()).unwrap(),
                Duration::from_secs(30)
            ),
            other => panic!("expected open again, got {other:?}"),
        }
        assert!(transport.send(get(TENANT_URL)).await.is_err());
        assert_eq!(inner.count(), sent);
    }
}
