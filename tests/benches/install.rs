//! Install benchmarks against the simulator (a bench binary, not a test):
//!
//! 1. **Wall time vs the critical path**: the demo manifest installed with 50 ms injected on every
//!    SuperOffice answer, against the lower bound "calls that must be sequential × 50 ms".
//! 2. **Retry amplification**: attempts ÷ logical calls when 20 % of WebAPI attempts fail with 503.
//! 3. **Requests sent early under 429**: how many requests arrive before a `Retry-After` has passed.
//!
//! Run: `cargo bench -p integration-tests --bench install` (prints Markdown).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use adapters::local::embedded::EmbeddedItems;
use adapters::secrets::SecretLoader;
use app::platform::{Io, TenantAccess};
use domain::TenantId;
use domain::provisioning::{Run, TenantApi};
use integration_tests::install_app::App;
use superoffice::clock::{BoxFuture, RandomJitter, SystemClock};
use superoffice::transport::{
    HttpRequest, HttpResponse, ReqwestTransport, Transport, TransportError,
};
use superoffice::webapi::{ApiRequest, ApiResponse, TenantAuth, WebApiError};
use superoffice_simulator::{FaultAction, FaultRule, Route};

/// The demo manifest's dependency chain: calls that cannot overlap whatever the engine does.
/// tenant state → system-user ticket → list: find, create, read items, create items (in parallel: 1)
/// → Contact fields (need the list id): find (parallel: 1), default (parallel: 1), one PUT of both,
/// is-a-publish-running, publish, rebuild deltas, read published (parallel: 1) → flush caches.
/// Everything else (the Sale field, panels, button, preference, webhook) can run beside this chain.
const CRITICAL_PATH_CALLS: u32 = 2 + 4 + 7 + 1;

struct Counting<A> {
    inner: Arc<A>,
    logical: AtomicU64,
}

impl<A: TenantApi> TenantApi for Counting<A> {
    async fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> Result<ApiResponse, WebApiError> {
        self.logical.fetch_add(1, Ordering::SeqCst);
        self.inner.call(auth, request, deadline).await
    }
}

/// Fails a share of WebAPI attempts with 503 (a fault-injecting proxy in the client).
struct Flaky {
    inner: ReqwestTransport,
    every: Mutex<u64>,
    share: f64,
    attempts: AtomicU64,
    injected: AtomicU64,
}

impl Transport for Flaky {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        if request.url.path().contains("/api/v1/") {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            // A deterministic 20 %: one attempt in five, spread evenly.
            let fail = {
                let mut n = self.every.lock().unwrap();
                *n += 1;
                (*n as f64 * self.share).fract() < self.share - 1e-9
                    && (*n as f64 * self.share).floor() != ((*n - 1) as f64 * self.share).floor()
            };
            if fail {
                self.injected.fetch_add(1, Ordering::SeqCst);
                return Box::pin(std::future::ready(Ok(HttpResponse::new(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "",
                ))));
            }
        }
        self.inner.send(request)
    }
}

async fn access(
    app: &App,
    transport: Arc<dyn Transport>,
    rate: &str,
) -> TenantAccess<EmbeddedItems> {
    let mut config = (*app.app.config).clone();
    config.tenant_rate = rate.parse().unwrap();
    app::platform::tenant_access(
        &config,
        &SecretLoader::local(),
        app.app.items.clone(),
        Io {
            transport,
            clock: Arc::new(SystemClock),
            jitter: Arc::new(RandomJitter),
        },
    )
    .await
    .unwrap()
}

async fn wall_time(rate: &str) -> (Duration, u64) {
    let app = App::start().await;
    app.sign_in_to_install("ada@demo.example").await;
    for route in [Route::WebApi, Route::TenantState, Route::SystemUser] {
        app.sim().faults().push(FaultRule::new(
            route,
            FaultAction::Latency(Duration::from_millis(50)),
        ));
    }
    let a = access(&app, Arc::new(ReqwestTransport::new().unwrap()), rate).await;
    let counting = Arc::new(Counting {
        inner: a.webapi.clone(),
        logical: AtomicU64::new(0),
    });
    let e = app.engine(counting.clone());
    let started = Instant::now();
    let run = e
        .install(
            &TenantId::parse("Cust12345").unwrap(),
            SystemTime::now() + Duration::from_secs(600),
        )
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(run, Run::Done);
    app.app.stop().await;
    (took, counting.logical.load(Ordering::SeqCst))
}

#[tokio::main]
async fn main() {
    println!(
        "## Install benchmarks ({})\n",
        time::OffsetDateTime::now_utc().date()
    );
    println!("### Wall time of the demo install with 50 ms on every SuperOffice answer\n");
    println!(
        "| per-tenant cap | WebAPI calls | wall time | critical path ({CRITICAL_PATH_CALLS} calls × 50 ms) | ratio |"
    );
    println!("|---|---:|---:|---:|---:|");
    let bound = Duration::from_millis(50) * CRITICAL_PATH_CALLS;
    for rate in ["10", "100"] {
        let (took, calls) = wall_time(rate).await;
        println!(
            "| {rate}/s | {calls} | {:.2} s | {:.2} s | {:.2}x |",
            took.as_secs_f64(),
            bound.as_secs_f64(),
            took.as_secs_f64() / bound.as_secs_f64()
        );
    }

    println!("\n### Retry amplification with 20 % of WebAPI attempts failing (503)\n");
    let app = App::start().await;
    app.sign_in_to_install("ada@demo.example").await;
    let flaky = Arc::new(Flaky {
        inner: ReqwestTransport::new().unwrap(),
        every: Mutex::new(0),
        share: 0.2,
        attempts: AtomicU64::new(0),
        injected: AtomicU64::new(0),
    });
    let a = access(&app, flaky.clone(), "100").await;
    let counting = Arc::new(Counting {
        inner: a.webapi.clone(),
        logical: AtomicU64::new(0),
    });
    let e = app.engine(counting.clone());
    let started = Instant::now();
    let mut runs = 0;
    loop {
        runs += 1;
        match e
            .install(
                &TenantId::parse("Cust12345").unwrap(),
                SystemTime::now() + Duration::from_secs(600),
            )
            .await
            .unwrap()
        {
            Run::Done => break,
            Run::Continue { until, .. } => {
                tokio::time::sleep(until.duration_since(SystemTime::now()).unwrap_or_default())
                    .await
            }
            Run::Stopped { problem } => panic!("{problem}"),
        }
    }
    let attempts = flaky.attempts.load(Ordering::SeqCst);
    let logical = counting.logical.load(Ordering::SeqCst);
    println!("| logical calls | attempts | injected 503s | amplification | runs | wall time |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {logical} | {attempts} | {} | {:.3} | {runs} | {:.1} s |",
        flaky.injected.load(Ordering::SeqCst),
        attempts as f64 / logical as f64,
        started.elapsed().as_secs_f64()
    );
    app.app.stop().await;

    println!("\n### Requests sent before Retry-After under 429\n");
    let app = App::start_with(&[("APP_MAX_INLINE_WAIT", "1")]).await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.sim().faults().push(
        FaultRule::new(
            Route::WebApi,
            FaultAction::Status {
                status: 429,
                retry_after: Some("2".into()),
            },
        )
        .times(6),
    );
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    let throttled = app
        .sim()
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    println!("| 429 answers | requests before Retry-After elapsed |");
    println!("|---:|---:|");
    println!(
        "| {throttled} | {} |",
        app.sim().requests_before_retry_after("Cust12345")
    );
    app.app.stop().await;
}
