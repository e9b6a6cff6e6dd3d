//! The redirect suite: the real `redirect` function (functions/redirect, built in release) under the
//! Runtime API stand-in with API Gateway HTTP API events, against the SuperOffice simulator
//! (in-process) and the AWS API emulator (moto server on loopback, `AWS_ENDPOINT_URL`).
//!
//! 1. **Cold start**: process start to first response of `GET /` without a cookie (no I/O in the
//!    handler) and of `GET /login` (discovery from the simulator; no store call since issue 11), interleaved
//!    with `coldstart-hello` like the default suite.
//! 2. **Warm**: three long-lived processes, invoked in turn, round after round: the redirect
//!    function talking to the simulator and the emulator directly; a second one whose outbound
//!    calls go through [`TimingProxy`]s; and `coldstart-hello`. Each round is a complete sign-in
//!    per redirect process (`GET /login`, the scripted user at the simulator's pages, `POST
//!    /callback` with the form and the cookie) and one hello invocation with a callback event. The outbound wait of a proxied `/callback` is the union of the proxies' spans inside
//!    it; `callback − outbound` is the function's own handling time, network excluded.
//! 3. **Memory**: `VmHWM` and `VmRSS` of each process after all sign-ins.
//! 4. **Metrics on and off**: two more warm redirect processes, direct and through the proxies,
//!    run with `APP_METRICS=off` (no embedded-metric-format line built or written), take their
//!    sign-ins in the same rounds, in alternating order with their metric-writing twins: the
//!    ratio of the medians is what the metric lines cost on the warm path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use superoffice_simulator::user_agent::{self, Choice, Delivery};
use superoffice_simulator::{AppRegistration, Simulator, SimulatorConfig, SimulatorHandle};
use url::Url;

use crate::apigw::{self, HttpResponse};
use crate::aws::{self, AwsEnv, AwsResources};
use crate::bench::{Binary, Expect, Failure, HttpExpect, Runner};
use crate::cgroup::{self, CpuCgroup};
use crate::proxy::{self, Exchange, TimingProxy, Upstream};
use crate::stats::{self, Summary};
use crate::suite::{self, Plan, RunResult};
use crate::warm::{Invoked, Memory, WarmProcess};

/// The public base URL the function is configured with (it must be https in Lambda).
pub const APP_BASE_URL: &str = "https://coldstart.example";
/// Who signs in: an administrator of the demo tenant (approves the app on the first sign-in).
pub const TENANT: &str = "Cust12345";
pub const USER: &str = "ada@demo.example";
/// The sign-in cookie is named after its state: `__Host-signin-{state id}` (a prefix here).
const SIGN_IN_COOKIE: &str = "__Host-signin-";
const SESSION_COOKIE: &str = "__Host-session";
/// The goal for the peak resident set of the warm function.
pub const MEMORY_GOAL_MIB: f64 = 32.0;

pub struct RedirectPlan {
    /// The release `redirect` binary.
    pub redirect: PathBuf,
    pub hello: PathBuf,
    /// Cold invocations per binary, and untimed rounds before them.
    pub iterations: usize,
    pub warmup: usize,
    /// Measured sign-ins per warm redirect process (and hello invocations), after `warm_warmup`
    /// untimed ones.
    pub sign_ins: usize,
    pub warm_warmup: usize,
    pub timeout: Duration,
    pub cgroup: Option<CpuCgroup>,
    /// Child logs; kept when the run fails.
    pub work_dir: PathBuf,
}

/// One sign-in through a warm redirect process.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub login: Invoked,
    pub callback: Invoked,
    /// The proxies' exchanges inside the `/callback` invocation (empty without proxies).
    pub outbound: Vec<Exchange>,
    /// `Set-Cookie: __Host-session=…` as a browser sends it back.
    pub session_cookie: String,
}

impl SignIn {
    fn outbound_within(&self, upstream: Option<Upstream>) -> Duration {
        proxy::busy_within(
            self.outbound
                .iter()
                .filter(|e| upstream.is_none_or(|u| e.service == u)),
            self.callback.delivered_at,
            self.callback.answered_at,
        )
    }
}

pub struct WarmResult {
    /// Untimed first sign-ins of each redirect process (first use of the secret, the JWKS, …).
    pub first_direct: Vec<SignIn>,
    pub first_proxied: Vec<SignIn>,
    pub direct: Vec<SignIn>,
    pub proxied: Vec<SignIn>,
    /// The same, from processes run with `APP_METRICS=off`.
    pub direct_no_metrics: Vec<SignIn>,
    pub proxied_no_metrics: Vec<SignIn>,
    pub hello: Vec<Duration>,
    /// After all sign-ins.
    pub memory_direct: Memory,
    pub memory_proxied: Memory,
    pub memory_hello: Memory,
    /// After the untimed sign-ins, before the measured ones: the growth from there is what the
    /// measured sign-ins added.
    pub early_direct: Memory,
    pub early_proxied: Memory,
    pub early_hello: Memory,
    pub elapsed: Duration,
}

/// The numbers of a [`RedirectPlan`], for the report.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub iterations: usize,
    pub warmup: usize,
    pub sign_ins: usize,
    pub warm_warmup: usize,
}

pub struct RedirectReport {
    pub cold: RunResult,
    pub warm: WarmResult,
    /// Addresses and resource names.
    pub setup: String,
    /// The CPU the children had.
    pub cpu: String,
    pub counts: Counts,
    pub elapsed: Duration,
}

/// Everything the run talks to, created once.
struct World {
    aws_env: AwsEnv,
    resources: AwsResources,
    sim: SimulatorHandle,
    sim_proxy: TimingProxy,
    aws_proxy: TimingProxy,
}

impl World {
    async fn start() -> Result<Self, String> {
        let endpoint = aws::endpoint_from_env()?;
        let aws_env = AwsEnv::from_env(endpoint);
        let client_secret = superoffice::oidc::random_token()
            .map_err(|e| format!("cannot make a client secret: {e}"))?;
        let prefix = format!(
            "coldstart-redirect-{}-{}",
            std::process::id(),
            &superoffice::oidc::random_token().map_err(|e| e.to_string())?[..6]
        )
        .to_ascii_lowercase()
        .replace('_', "x");
        let resources = AwsResources::create(&aws_env, &prefix, &client_secret).await?;
        let app = AppRegistration {
            name: "Coldstart Bench".into(),
            client_id: crate::CLIENT_ID.into(),
            client_secret,
            redirect_uris: vec![format!("{APP_BASE_URL}/callback")],
            system_user_public_key_der: None,
        };
        let sim = Simulator::start(
            SimulatorConfig::demo(app),
            "127.0.0.1:0".parse().expect("a socket address"),
        )
        .await
        .map_err(|e| format!("cannot start the SuperOffice simulator: {e}"))?;
        let sim_proxy = TimingProxy::superoffice(&sim)
            .await
            .map_err(|e| format!("cannot start the timing proxy: {e}"))?;
        let aws_proxy = TimingProxy::aws(&aws_env.endpoint)
            .await
            .map_err(|e| format!("cannot start the timing proxy: {e}"))?;
        Ok(Self {
            aws_env,
            resources,
            sim,
            sim_proxy,
            aws_proxy,
        })
    }

    /// The function's environment: the variables template.yaml gives the redirect function (its
    /// own and the Globals), and what Lambda adds for AWS.
    fn app_env(&self, superoffice: &str, aws_endpoint: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("SO_ENVIRONMENT".to_owned(), superoffice.to_owned()),
            ("SO_CLIENT_ID".to_owned(), crate::CLIENT_ID.to_owned()),
            (
                "SO_CLIENT_SECRET_ARN".to_owned(),
                self.resources.secret_arn.clone(),
            ),
            ("APP_KMS_KEY_ARN".to_owned(), self.resources.key_arn.clone()),
            ("APP_SESSION_HOURS".to_owned(), "8".to_owned()),
            ("APP_BASE_URL".to_owned(), APP_BASE_URL.to_owned()),
            ("APP_TABLE_NAME".to_owned(), self.resources.table.clone()),
            ("APP_LOG_FORMAT".to_owned(), "json".to_owned()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
            // What `sam build` packages beside the binary: the project's manifest.
            (
                "APP_MANIFEST".to_owned(),
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifest/demo.toml").to_owned(),
            ),
        ];
        env.extend(self.aws_env.child_env(aws_endpoint));
        env
    }

    fn direct_env(&self) -> Vec<(String, String)> {
        self.app_env(&self.sim.issuer(), &self.aws_env.endpoint)
    }

    fn proxied_env(&self) -> Vec<(String, String)> {
        self.app_env(&self.sim_proxy.base_url(), &self.aws_proxy.base_url())
    }

    fn describe(&self) -> String {
        format!(
            "SuperOffice simulator {} (proxy {}), AWS API emulator {} (proxy {}), table {}, secret {}, key {}",
            self.sim.issuer(),
            self.sim_proxy.base_url(),
            self.aws_env.endpoint,
            self.aws_proxy.base_url(),
            self.resources.table,
            self.resources.secret_arn,
            self.resources.key_arn
        )
    }

    async fn stop(self) {
        self.resources.remove().await;
        self.sim.shutdown().await;
    }
}

fn check_binary(what: &str, path: &Path, hint: &str) -> Result<(), String> {
    if path.is_file() {
        Ok(())
    } else {
        Err(format!("{what}: no such file {} ({hint})", path.display()))
    }
}

/// Runs the whole suite. The first failure stops it; the message says what failed and shows the
/// end of the child's log.
pub async fn run(plan: RedirectPlan) -> Result<RedirectReport, String> {
    if plan.iterations == 0 || plan.sign_ins == 0 {
        return Err("--iterations and --sign-ins must be at least 1".into());
    }
    check_binary(
        "redirect",
        &plan.redirect,
        "build it with `cargo build --release -p redirect`",
    )?;
    check_binary(
        "coldstart-hello",
        &plan.hello,
        "build it with `cargo build --release -p coldstart`",
    )?;
    let started = Instant::now();
    let counts = Counts {
        iterations: plan.iterations,
        warmup: plan.warmup,
        sign_ins: plan.sign_ins,
        warm_warmup: plan.warm_warmup,
    };
    let cpu = crate::cli::describe_cpu(plan.cgroup.as_ref());
    let world = World::start().await?;
    let setup = world.describe();
    eprintln!("coldstart-bench redirect: {setup}");
    let result = measure(&world, plan).await;
    world.stop().await;
    let (cold, warm) = result?;
    Ok(RedirectReport {
        cold,
        warm,
        setup,
        cpu,
        counts,
        elapsed: started.elapsed(),
    })
}

async fn measure(world: &World, mut plan: RedirectPlan) -> Result<(RunResult, WarmResult), String> {
    let cgroup = plan.cgroup.take();
    let mut runner = Runner::start(&plan.work_dir, cgroup, plan.timeout)
        .await
        .map_err(|e| format!("cannot start the runtime API stand-in: {e}"))?;
    let result = cold_then_warm(world, &mut runner, &plan).await;
    if let Some(cg) = runner.cgroup.take() {
        cg.remove();
    }
    match result {
        Ok(r) => {
            let _ = std::fs::remove_dir_all(&plan.work_dir);
            Ok(r)
        }
        Err(f) => Err(format!(
            "{f}\n(child logs are kept in {})",
            plan.work_dir.display()
        )),
    }
}

async fn cold_then_warm(
    world: &World,
    runner: &mut Runner,
    plan: &RedirectPlan,
) -> Result<(RunResult, WarmResult), Failure> {
    let authorize = format!("{}login/common/oauth/authorize", world.sim.base_url());
    let hello = Binary::new("hello", &plan.hello).with_event(apigw::get_root(&[]), Expect::Hello);
    let root = Binary::new("redirect GET /", &plan.redirect)
        .with_event(
            apigw::get_root(&[]),
            Expect::Http(HttpExpect {
                status: 200,
                location_prefix: None,
                cookie: None,
            }),
        )
        .with_env(world.direct_env());
    let login = Binary::new("redirect GET /login", &plan.redirect)
        .with_event(
            apigw::get_login(),
            Expect::Http(HttpExpect {
                status: 303,
                location_prefix: Some(authorize),
                cookie: Some(SIGN_IN_COOKIE.into()),
            }),
        )
        .with_env(world.direct_env());
    eprintln!(
        "cold start: {} rounds of hello, GET /, GET /login",
        plan.iterations
    );
    let cold = suite::run(
        runner,
        &Plan {
            binaries: vec![hello.clone(), root, login],
            iterations: plan.iterations,
            warmup: plan.warmup,
        },
    )
    .await?;
    eprintln!(
        "warm: {} + {} sign-ins per redirect process, as many hello invocations",
        plan.warm_warmup, plan.sign_ins
    );
    let warm = warm(world, runner, plan, hello).await?;
    Ok((cold, warm))
}

async fn warm(
    world: &World,
    runner: &Runner,
    plan: &RedirectPlan,
    hello: Binary,
) -> Result<WarmResult, Failure> {
    let started = Instant::now();
    // Under a quota: one cgroup per warm process, with the runner's quota and period.
    let mut cgroups: Vec<Option<CpuCgroup>> = Vec::new();
    for name in [
        "warm-redirect",
        "warm-redirect-proxied",
        "warm-hello",
        "warm-redirect-no-metrics",
        "warm-redirect-proxied-no-metrics",
    ] {
        let own = match &runner.cgroup {
            None => None,
            Some(cg) => {
                let root = cg.dir().parent().unwrap_or(Path::new(cgroup::DEFAULT_ROOT));
                let made = CpuCgroup::create(
                    root,
                    &format!("{}-{name}", cgroup::DEFAULT_NAME),
                    cg.quota_us,
                    cg.period_us,
                );
                match made {
                    Ok(c) => Some(c),
                    Err(what) => {
                        cgroups.into_iter().flatten().for_each(CpuCgroup::remove);
                        return Err(Failure {
                            binary: name.into(),
                            what,
                            log_tail: String::new(),
                        });
                    }
                }
            }
        };
        cgroups.push(own);
    }
    let result = warm_in(world, runner, plan, hello, &cgroups, started).await;
    cgroups.into_iter().flatten().for_each(CpuCgroup::remove);
    result
}

async fn warm_in(
    world: &World,
    runner: &Runner,
    plan: &RedirectPlan,
    hello: Binary,
    cgroups: &[Option<CpuCgroup>],
    started: Instant,
) -> Result<WarmResult, Failure> {
    let spawn = |binary: Binary, i: usize| {
        let jwks = runner.fixture.jwks_path.clone();
        let cgroup = cgroups.get(i).and_then(Option::as_ref);
        let work_dir = plan.work_dir.clone();
        let timeout = plan.timeout;
        async move { WarmProcess::spawn(&binary, &work_dir, &jwks, cgroup, timeout).await }
    };
    let mut direct = spawn(
        Binary::new("warm redirect", &plan.redirect).with_env(world.direct_env()),
        0,
    )
    .await?;
    let mut proxied = spawn(
        Binary::new("warm redirect through proxies", &plan.redirect).with_env(world.proxied_env()),
        1,
    )
    .await?;
    let mut hello = spawn(
        Binary {
            name: "warm hello".into(),
            ..hello
        },
        2,
    )
    .await?;
    let no_metrics = |mut env: Vec<(String, String)>| {
        env.push(("APP_METRICS".into(), "off".into()));
        env
    };
    let mut direct_off = spawn(
        Binary::new("warm redirect, metrics off", &plan.redirect)
            .with_env(no_metrics(world.direct_env())),
        3,
    )
    .await?;
    let mut proxied_off = spawn(
        Binary::new("warm redirect through proxies, metrics off", &plan.redirect)
            .with_env(no_metrics(world.proxied_env())),
        4,
    )
    .await?;

    let mut result = WarmResult {
        first_direct: Vec::new(),
        first_proxied: Vec::new(),
        direct: Vec::with_capacity(plan.sign_ins),
        proxied: Vec::with_capacity(plan.sign_ins),
        direct_no_metrics: Vec::with_capacity(plan.sign_ins),
        proxied_no_metrics: Vec::with_capacity(plan.sign_ins),
        hello: Vec::with_capacity(plan.sign_ins),
        memory_direct: Memory::default(),
        memory_proxied: Memory::default(),
        memory_hello: Memory::default(),
        early_direct: Memory::default(),
        early_proxied: Memory::default(),
        early_hello: Memory::default(),
        elapsed: Duration::ZERO,
    };
    let rounds = plan.warm_warmup + plan.sign_ins;
    let outcome = async {
        for round in 0..rounds {
            // The twins with metrics off take turns going first, so neither always follows
            // the other's calls into the simulator and the emulator.
            let (a, c) = if round % 2 == 0 {
                let a = sign_in(&mut direct, world, false).await?;
                (a, sign_in(&mut direct_off, world, false).await?)
            } else {
                let c = sign_in(&mut direct_off, world, false).await?;
                (sign_in(&mut direct, world, false).await?, c)
            };
            let (b, d) = if round % 2 == 0 {
                let b = sign_in(&mut proxied, world, true).await?;
                (b, sign_in(&mut proxied_off, world, true).await?)
            } else {
                let d = sign_in(&mut proxied_off, world, true).await?;
                (sign_in(&mut proxied, world, true).await?, d)
            };
            // A /callback event of the same shape and size: what a bare function costs for it.
            let event = apigw::post_callback(
                &[("code".into(), "c".into()), ("state".into(), "s".into())],
                &[format!("{SIGN_IN_COOKIE}x=x")],
                &world.sim.issuer(),
            );
            let h = hello.invoke(&event).await?;
            Expect::Hello
                .check(&h.body)
                .map_err(|what| hello.failure(what))?;
            if round < plan.warm_warmup {
                result.first_direct.push(a);
                result.first_proxied.push(b);
            } else {
                result.direct.push(a);
                result.proxied.push(b);
                result.direct_no_metrics.push(c);
                result.proxied_no_metrics.push(d);
                result.hello.push(h.duration());
            }
            if round + 1 == plan.warm_warmup {
                result.early_direct = direct.memory();
                result.early_proxied = proxied.memory();
                result.early_hello = hello.memory();
            }
            progress(round + 1, rounds, plan.warm_warmup);
        }
        eprintln!();
        // The last session works: GET / with its cookie shows who signed in.
        if let Some(last) = result.direct.last() {
            let page = direct
                .invoke(&apigw::get_root(std::slice::from_ref(&last.session_cookie)))
                .await?;
            let ok = HttpResponse::parse(&page.body).is_ok_and(|r| r.status == 200)
                && page
                    .body
                    .get("body")
                    .and_then(|b| b.as_str())
                    .is_some_and(|b| b.contains(USER) && b.contains(TENANT));
            if !ok {
                return Err(direct.failure(format!(
                    "GET / with the new session does not show {USER} of {TENANT}: {}",
                    crate::bench::shorten(&page.body)
                )));
            }
        }
        result.memory_direct = direct.memory();
        result.memory_proxied = proxied.memory();
        result.memory_hello = hello.memory();
        Ok(())
    }
    .await;
    direct.stop().await;
    proxied.stop().await;
    hello.stop().await;
    direct_off.stop().await;
    proxied_off.stop().await;
    outcome?;
    result.elapsed = started.elapsed();
    Ok(result)
}

fn progress(done: usize, total: usize, warmup: usize) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = if done <= warmup {
        write!(err, "\rwarm-up sign-in {done}/{warmup}        ")
    } else {
        write!(
            err,
            "\rsign-in {}/{}        ",
            done - warmup,
            total - warmup
        )
    };
    let _ = err.flush();
}

/// One complete sign-in through `process`: `GET /login`, the scripted user at the simulator,
/// `POST /callback`. `proxied` is set when the process talks to the simulator and the emulator
/// through the timing proxies (its authorize URL then names the proxy).
async fn sign_in(
    process: &mut WarmProcess,
    world: &World,
    proxied: bool,
) -> Result<SignIn, Failure> {
    let login = process.invoke(&apigw::get_login()).await?;
    let authorize_base = if proxied {
        format!("{}/", world.sim_proxy.base_url())
    } else {
        world.sim.base_url().to_string()
    };
    Expect::Http(HttpExpect {
        status: 303,
        location_prefix: Some(format!("{authorize_base}login/common/oauth/authorize")),
        cookie: Some(SIGN_IN_COOKIE.into()),
    })
    .check(&login.body)
    .map_err(|what| process.failure(format!("GET /login: {what}")))?;
    let response = HttpResponse::parse(&login.body).map_err(|e| process.failure(e))?;
    let location = response.header("location").unwrap_or_default();
    let binding = response.cookie_pair(SIGN_IN_COOKIE).unwrap_or_default();
    let authorize = if proxied {
        world.sim_proxy.to_upstream(location)
    } else {
        location.to_owned()
    };
    let authorize = Url::parse(&authorize)
        .map_err(|e| process.failure(format!("GET /login: location {authorize}: {e}")))?;
    let delivery = user_agent::sign_in(
        &authorize,
        &Choice {
            context_id: TENANT,
            email: USER,
            approve: true,
        },
    )
    .await
    .map_err(|e| process.failure(format!("the simulator's sign-in pages: {e}")))?;
    let fields = match delivery {
        Delivery::FormPost { fields, .. }
            if fields.iter().any(|(k, _)| k == "code")
                && fields.iter().any(|(k, _)| k == "state") =>
        {
            fields
        }
        other => {
            return Err(process.failure(format!(
                "the simulator did not deliver a code by form_post: {other:?}"
            )));
        }
    };

    let event = apigw::post_callback(&fields, &[binding], &world.sim.issuer());
    let callback = process.invoke(&event).await?;
    let response = HttpResponse::parse(&callback.body)
        .map_err(|e| process.failure(format!("POST /callback: {e}")))?;
    let session = response.cookie_pair(SESSION_COOKIE);
    let signed_in = response.status == 303
        && response.header("location") == Some("/")
        && response
            .cookie(SESSION_COOKIE)
            .is_some_and(|v| !v.is_empty());
    let Some(session_cookie) = session.filter(|_| signed_in) else {
        return Err(process.failure(format!(
            "POST /callback: expected a 303 to / with a {SESSION_COOKIE} cookie, got {}",
            crate::bench::shorten(&callback.body)
        )));
    };
    let outbound = if proxied {
        let (from, to) = (callback.delivered_at, callback.answered_at);
        let mut calls: Vec<Exchange> = world
            .sim_proxy
            .exchanges()
            .into_iter()
            .chain(world.aws_proxy.exchanges())
            .filter(|e| e.answered > from && e.received < to)
            .collect();
        calls.sort_by_key(|e| e.received);
        calls
    } else {
        Vec::new()
    };
    Ok(SignIn {
        login,
        callback,
        outbound,
        session_cookie,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

impl RedirectReport {
    /// The Markdown the runner prints: the cold table, the warm table with the outbound breakdown,
    /// and peak memory.
    pub fn markdown(&self) -> String {
        let w = &self.warm;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "CPU: {}. Host: {}. Suite took {:.1} s. {}.",
            self.cpu,
            crate::cli::host(),
            self.elapsed.as_secs_f64(),
            self.setup
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "### Cold start: process start to first response ({} invocations per binary after {} warm-up round(s), interleaved; {:.1} s)",
            self.counts.iterations,
            self.counts.warmup,
            self.cold.elapsed.as_secs_f64()
        );
        let _ = writeln!(out);
        out.push_str(&crate::report::table(&self.cold.series));
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "### Warm: from the event handed out to the response ({} sign-ins per redirect process after {} untimed; {:.1} s)",
            self.counts.sign_ins,
            self.counts.warm_warmup,
            w.elapsed.as_secs_f64()
        );
        let _ = writeln!(out);
        let hello = summary(w.hello.iter().copied());
        let hello_median = hello.map(|s| s.median);
        let _ = writeln!(
            out,
            "| invocation | n | min ms | median ms | p90 ms | median vs warm hello |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let mut row = |label: &str, s: Option<Summary>, ratio: bool| {
            let Some(s) = s else {
                let _ = writeln!(out, "| {label} | 0 | - | - | - | - |");
                return;
            };
            let r = match (ratio, hello_median) {
                (true, Some(h)) if h > 0.0 => format!("{:.1}x", s.median / h),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {:.2} | {:.2} | {:.2} | {r} |",
                s.count, s.min, s.median, s.p90
            );
        };
        row("hello (a `POST /callback` event)", hello, true);
        row(
            "redirect `POST /callback`",
            summary(w.direct.iter().map(|s| s.callback.duration())),
            true,
        );
        row(
            "redirect `GET /login`",
            summary(w.direct.iter().map(|s| s.login.duration())),
            true,
        );
        row(
            "redirect `POST /callback`, through the timing proxies",
            summary(w.proxied.iter().map(|s| s.callback.duration())),
            true,
        );
        row(
            "— of which waiting on outbound calls",
            summary(w.proxied.iter().map(|s| s.outbound_within(None))),
            false,
        );
        row(
            "— — SuperOffice simulator",
            summary(
                w.proxied
                    .iter()
                    .map(|s| s.outbound_within(Some(Upstream::SuperOffice))),
            ),
            false,
        );
        row(
            "— — AWS API emulator",
            summary(
                w.proxied
                    .iter()
                    .map(|s| s.outbound_within(Some(Upstream::Aws))),
            ),
            false,
        );
        row(
            "**redirect `POST /callback` excluding network** (per invocation: through the proxies − waiting)",
            summary(w.proxied.iter().map(|s| {
                s.callback
                    .duration()
                    .saturating_sub(s.outbound_within(None))
            })),
            true,
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Outbound calls of a measured proxied `/callback` (calls per invocation, median span ms):\n"
        );
        out.push_str(&calls_table(&w.proxied));
        let _ = writeln!(out);
        out.push_str(&self.metrics_cost());
        let _ = writeln!(out);
        for (label, firsts) in [
            ("redirect", &w.first_direct),
            ("redirect through the timing proxies", &w.first_proxied),
        ] {
            for (i, s) in firsts.iter().enumerate() {
                let calls = if s.outbound.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; its outbound calls: {}",
                        s.outbound
                            .iter()
                            .map(|e| format!("{} {:.2} ms", e.what, ms(e.duration())))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let _ = writeln!(
                    out,
                    "- untimed sign-in {} of the {label} process: `GET /login` {:.2} ms, `POST /callback` {:.2} ms{calls}",
                    i + 1,
                    ms(s.login.duration()),
                    ms(s.callback.duration()),
                );
            }
        }
        let _ = writeln!(out);

        let _ = writeln!(out, "### Memory after all sign-ins");
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| process | invocations | peak RSS (VmHWM) MiB | RSS now (VmRSS) MiB | VmRSS after the {} untimed sign-in(s) MiB |",
            self.counts.warm_warmup
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        let signins = self.counts.sign_ins + self.counts.warm_warmup;
        for (label, invocations, m, early) in [
            (
                "redirect",
                format!("{signins} sign-ins + 1 `GET /`"),
                w.memory_direct,
                w.early_direct,
            ),
            (
                "redirect through the timing proxies",
                format!("{signins} sign-ins"),
                w.memory_proxied,
                w.early_proxied,
            ),
            ("hello", format!("{signins}"), w.memory_hello, w.early_hello),
        ] {
            let _ = writeln!(
                out,
                "| {label} | {invocations} | {} | {} | {} |",
                mib(m.peak_kib),
                mib(m.rss_kib),
                mib(early.rss_kib)
            );
        }
        let _ = writeln!(out);
        let verdict = match w.memory_direct.peak_kib {
            Some(k) if (k as f64 / 1024.0) < MEMORY_GOAL_MIB => "met",
            Some(_) => "NOT met",
            None => "unknown (no /proc)",
        };
        let _ = writeln!(
            out,
            "Goal: peak RSS of the redirect process under {MEMORY_GOAL_MIB} MiB: {verdict}."
        );
        out
    }

    /// The warm `/callback` of the processes that write metric lines against their twins run with
    /// `APP_METRICS=off`, in the same rounds.
    fn metrics_cost(&self) -> String {
        let w = &self.warm;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Metric lines on the warm path (`APP_METRICS=off` twins, same rounds, alternating order):\n"
        );
        let _ = writeln!(
            out,
            "| `POST /callback` | n | median ms, metrics on | median ms, metrics off | on / off | p90 ms on | p90 ms off |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        let excluding = |v: &[SignIn]| {
            summary(v.iter().map(|s| {
                s.callback
                    .duration()
                    .saturating_sub(s.outbound_within(None))
            }))
        };
        for (label, on, off) in [
            (
                "end to end",
                summary(w.direct.iter().map(|s| s.callback.duration())),
                summary(w.direct_no_metrics.iter().map(|s| s.callback.duration())),
            ),
            (
                "**excluding network**",
                excluding(&w.proxied),
                excluding(&w.proxied_no_metrics),
            ),
        ] {
            let (Some(on), Some(off)) = (on, off) else {
                continue;
            };
            let ratio = if off.median > 0.0 {
                format!("{:.3}", on.median / off.median)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {:.3} | {:.3} | {ratio} | {:.3} | {:.3} |",
                on.count, on.median, off.median, on.p90, off.p90
            );
        }
        out
    }

    /// Median of the warm `/callback` excluding network, for tests and summaries.
    pub fn callback_excluding_network_median_ms(&self) -> Option<f64> {
        summary(self.warm.proxied.iter().map(|s| {
            s.callback
                .duration()
                .saturating_sub(s.outbound_within(None))
        }))
        .map(|s| s.median)
    }
}

fn summary(durations: impl Iterator<Item = Duration>) -> Option<Summary> {
    let v: Vec<f64> = durations.map(ms).collect();
    stats::summarize(&v)
}

fn calls_table(sign_ins: &[SignIn]) -> String {
    let mut by: BTreeMap<(Upstream, String), Vec<&Exchange>> = BTreeMap::new();
    for s in sign_ins {
        for e in &s.outbound {
            by.entry((e.service, e.what.clone())).or_default().push(e);
        }
    }
    let n = sign_ins.len().max(1) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| service | call | calls per `/callback` | median ms | p90 ms | of which the proxy's own work, median ms |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    let show = |s: Option<Summary>, f: fn(&Summary) -> f64| {
        s.map_or("-".into(), |s| format!("{:.2}", f(&s)))
    };
    for ((service, what), calls) in &by {
        let spans = summary(calls.iter().map(|e| e.duration()));
        let own = summary(calls.iter().map(|e| e.proxy_overhead()));
        let _ = writeln!(
            out,
            "| {} | {what} | {:.2} | {} | {} | {} |",
            service.label(),
            calls.len() as f64 / n,
            show(spans, |s| s.median),
            show(spans, |s| s.p90),
            show(own, |s| s.median),
        );
    }
    out
}
