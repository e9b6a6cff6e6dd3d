//! `soapp serve`: the whole app on loopback.
//!
//! One HTTP listener serves every function's routes (as API Gateway would), the store is the
//! embedded database in the data folder, secrets are files there, and SuperOffice is, by default, the
//! built-in simulator on a second loopback port with this app registered (its redirect URI is this
//! runner's `/callback`). Pointed at a real environment (`--superoffice sod` and a client id and
//! secret), the same runner talks to real SuperOffice.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use adapters::local::embedded::EmbeddedItems;
use adapters::local::queue::LocalQueue;
use app::local::Local;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use axum::body::Body;
use axum::extract::State;
use base64::Engine as _;
use domain::Deployment;
use domain::backup::Unlimited;
use domain::backup::config::{BackupConfig, Target, Wrapping};
use domain::backup::run::Trigger;
use domain::config::AppConfig;
use install::Install;
use lifecycle::StateChanges;
use redirect::Redirect;
use superoffice_simulator::{AppRegistration, Simulator, SimulatorConfig, SimulatorHandle};
use tokio::net::TcpListener;
use web::{Problem, RequestContext, WebResponse};
use webhooks::Receiver;

/// The demo app's client id in the simulator.
pub const DEMO_CLIENT_ID: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const DEMO_APP_NAME: &str = "Demo Partner App";

#[derive(Debug, Clone)]
pub enum SuperOfficeTarget {
    /// The built-in simulator.
    Simulator,
    /// A real environment (sod, qaonline, online) or any provider serving SuperOffice's discovery
    /// path, with our credentials.
    Remote {
        environment: String,
        client_id: String,
        client_secret_file: PathBuf,
        system_user_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub superoffice: SuperOfficeTarget,
    /// The address browsers use; defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// The manifest file; the demo manifest built into the program when absent.
    pub manifest: Option<PathBuf>,
    /// More configuration variables (for example `APP_TENANT_RATE`), as the functions read them.
    pub settings: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("the data folder {0} cannot be used: {1}")]
    DataDir(PathBuf, String),
    #[error("the simulator cannot start: {0}")]
    Simulator(String),
    #[error("{0}")]
    Config(String),
}

/// A running local app.
pub struct LocalApp {
    pub url: String,
    /// The address the app listens on (not `url`'s when a public URL was given, e.g. a proxy's).
    pub listen: SocketAddr,
    pub simulator: Option<SimulatorHandle>,
    /// The in-process job queue (what SQS FIFO is in AWS).
    pub queue: Arc<LocalQueue>,
    /// The store, for tests that look at what the app keeps.
    pub items: Arc<EmbeddedItems>,
    /// The configuration the functions run with.
    pub config: Arc<AppConfig>,
    /// Everything the functions were built from.
    pub deployment: Deployment<Local>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    worker: Option<tokio::task::JoinHandle<()>>,
    backups: Option<tokio::task::JoinHandle<()>>,
    rollout: Option<tokio::task::JoinHandle<()>>,
}

impl LocalApp {
    /// Stops the listener, the worker (and the simulator, which writes its state file a last time:
    /// after the app, so nothing the app still did is missed).
    pub async fn stop(mut self) {
        // Aborted tasks are awaited: what they hold (the embedded store) is closed on return, so
        // `soapp backup --data-dir` can open it next.
        for task in [self.worker.take(), self.backups.take(), self.rollout.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
            let _ = task.await;
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        if let Some(sim) = self.simulator.take() {
            sim.shutdown().await;
        }
    }

    /// Waits until the server ends, then stops the simulator (which writes its state file).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
        if let Some(sim) = self.simulator.take() {
            sim.shutdown().await;
        }
    }
}

struct Apps {
    redirect: Redirect<Local>,
    install: Install<Local>,
    webhooks: Receiver<Local>,
    lifecycle: StateChanges<Local>,
}

/// How long a local job may run before it is delivered again (a Lambda timeout).
const JOB_VISIBILITY: Duration = Duration::from_secs(120);

/// Starts the local app and returns once it is listening.
pub async fn start(options: ServeOptions) -> Result<LocalApp, ServeError> {
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|e| ServeError::Listen(options.listen, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ServeError::Listen(options.listen, e))?;
    let url = options
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    std::fs::create_dir_all(&options.data_dir)
        .map_err(|e| ServeError::DataDir(options.data_dir.clone(), e.to_string()))?;
    // The same start-up check as every Lambda function (app::start).
    superoffice::self_test::crypto().map_err(|e| ServeError::Config(e.to_string()))?;

    let (mut vars, simulator) = match &options.superoffice {
        SuperOfficeTarget::Simulator => {
            let (vars, sim) = start_simulator(&options.data_dir, &url).await?;
            (vars, Some(sim))
        }
        SuperOfficeTarget::Remote {
            environment,
            client_id,
            client_secret_file,
            system_user_key_file,
        } => {
            let mut vars = vec![
                ("SO_ENVIRONMENT", environment.clone()),
                ("SO_CLIENT_ID", client_id.clone()),
                (
                    "SO_CLIENT_SECRET_FILE",
                    client_secret_file.display().to_string(),
                ),
            ];
            if let Some(k) = system_user_key_file {
                vars.push(("SO_SYSTEM_USER_KEY_FILE", k.display().to_string()));
            }
            (vars, None)
        }
    };
    vars.push(("APP_BASE_URL", url.clone()));
    vars.push((
        "APP_DATA_DIR",
        options.data_dir.join("store").display().to_string(),
    ));
    vars.push(("APP_LOG_FORMAT", "text".into()));
    if let Some(m) = &options.manifest {
        vars.push(("APP_MANIFEST", m.display().to_string()));
    }
    let settings = options.settings.clone();
    let config = AppConfig::from_lookup(|name| {
        settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            })
    })
    .map_err(|e| ServeError::Config(e.to_string()))?;
    let manifest =
        app::manifest(&config.manifest).map_err(|e| ServeError::Config(e.to_string()))?;
    let deployment = app::local::deployment(Arc::new(config), Arc::new(manifest), JOB_VISIBILITY)
        .map_err(|e| ServeError::Config(e.to_string()))?;
    // The worker is built on its first job: sign-in works even when the system user is not set up.
    let worker = deployment.queue.serve(app::worker::lazy(&deployment));
    let apps = Arc::new(Apps {
        redirect: Redirect::new(&deployment),
        install: Install::new(&deployment),
        webhooks: Receiver::new(&deployment),
        lifecycle: StateChanges::new(&deployment),
    });

    let router = axum::Router::new().fallback(dispatch).with_state(apps);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(LocalApp {
        url,
        listen: bound,
        simulator,
        queue: deployment.queue.clone(),
        items: deployment.items.clone(),
        config: deployment.config.clone(),
        deployment,
        shutdown: Some(tx),
        task,
        worker: Some(worker),
        backups: None,
        rollout: None,
    })
}

/// The backup's configuration for a data folder as `soapp serve` lays it out: the embedded store
/// in `store/` (with the backup's key file beside the sealing key), backups under `backups/local/`.
/// `soapp backup --data-dir` reads the same.
pub fn backup_config(data_dir: &Path) -> Result<BackupConfig, String> {
    let store = data_dir.join("store").display().to_string();
    let root = data_dir.display().to_string();
    BackupConfig::from_lookup(|name| match name {
        "APP_DATA_DIR" => Some(store.clone()),
        "APP_BACKUP_DIR" => Some(root.clone()),
        "APP_LOG_FORMAT" => Some("text".into()),
        _ => None,
    })
    .map_err(|e| e.to_string())
}

impl LocalApp {
    /// Ticks the rollout of the manifest every `every` (the worker's schedule in AWS): installed
    /// tenants on another manifest are upgraded, APP_ROLLOUT_PER_MINUTE per tick.
    pub fn schedule_rollout(&mut self, every: Duration) {
        let deployment = self.deployment.clone();
        self.rollout = Some(tokio::spawn(async move {
            // The first tick at once: a restart with a new manifest starts its rollout.
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match app::rollout::tick(&deployment).await {
                    Ok(tick) if !tick.queued.is_empty() => {
                        tracing::info!(queued = tick.queued.len(), done = tick.done, "rollout")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(reason = "rollout_tick_failed", error = %e, "rollout"),
                }
            }
        }));
    }

    /// Backs up the local store after `first_after`, then every `every`, with the code the backup
    /// function runs in AWS (a key file in place of KMS, the data folder in place of S3). `soapp
    /// backup --data-dir` lists, verifies and restores them once the runner is stopped.
    pub fn schedule_backups(
        &mut self,
        data_dir: &Path,
        first_after: Duration,
        every: Duration,
    ) -> Result<(), ServeError> {
        let config = backup_config(data_dir).map_err(ServeError::Config)?;
        let (Target::Folder { dir }, Wrapping::Local { key_file }) =
            (&config.target, &config.wrapping)
        else {
            return Err(ServeError::Config(
                "a local backup goes to a folder with a key file".into(),
            ));
        };
        let backups = app::backup::local_with(self.items.clone(), &config, dir, key_file)
            .map_err(|e| ServeError::Config(e.to_string()))?;
        self.backups = Some(tokio::spawn(async move {
            let mut wait = first_after;
            loop {
                tokio::time::sleep(wait).await;
                wait = every;
                match backups.run(Trigger::Start, &Unlimited).await {
                    Ok(outcome) => tracing::info!(?outcome, "local backup"),
                    Err(e) => {
                        tracing::error!(reason = "local_backup_failed", error = %e, "local backup")
                    }
                }
            }
        }));
        Ok(())
    }
}

/// Routes a request to the function that serves its path, as API Gateway does.
async fn dispatch(State(apps): State<Arc<Apps>>, req: http::Request<Body>) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    let ctx = RequestContext {
        request_id: web::new_request_id(),
    };
    let response: WebResponse = match axum::body::to_bytes(body, 1024 * 1024).await {
        Err(_) => Problem::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "Request too large",
            "The request is larger than this app accepts.",
        )
        .respond(&ctx),
        Ok(bytes) => {
            let req = http::Request::from_parts(parts, bytes);
            let path = req.uri().path();
            // The metric line API Gateway's route key would give it in Lambda.
            let route = app::requests::local_route(req.method(), path);
            if redirect::serves(path) {
                app::requests::measured(&apps.redirect, req, ctx, &route).await
            } else if install::serves(path) {
                app::requests::measured(&apps.install, req, ctx, &route).await
            } else if webhooks::serves(path) {
                app::requests::measured(&apps.webhooks, req, ctx, &route).await
            } else if lifecycle::serves(path) {
                app::requests::measured(&apps.lifecycle, req, ctx, &route).await
            } else {
                Problem::not_found().respond(&ctx)
            }
        }
    };
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, Body::from(body))
}

/// Starts the simulator with this app registered, keeping its keys, the app's credentials and its
/// state (`simulator/state.json`: the tenants' WebAPI data, consents, system tokens) in the data
/// folder, so a restarted runner shows the tenants as the app left them and keeps sessions and
/// consent meaningful. A state file the simulator cannot load stops the start with its message.
async fn start_simulator(
    data_dir: &Path,
    app_url: &str,
) -> Result<(Vec<(&'static str, String)>, SimulatorHandle), ServeError> {
    let dir = data_dir.join("simulator");
    std::fs::create_dir_all(&dir).map_err(|e| ServeError::DataDir(dir.clone(), e.to_string()))?;
    // The folder holds the client secret and private keys: its owner only.
    set_mode(&dir, 0o700)?;
    let signing_key = persisted_key(&dir.join("superoffice-signing-key.der"))?;
    let app_key = persisted_key(&dir.join("system-user-key.der"))?;
    let app_key_pem = dir.join("system-user-key.pem");
    write_if_changed(&app_key_pem, &pem("PRIVATE KEY", &app_key))?;
    let public = RsaKeyPair::from_pkcs8(&app_key)
        .map_err(|e| ServeError::Simulator(e.to_string()))?
        .public_key()
        .as_der()
        .map_err(|e| ServeError::Simulator(e.to_string()))?
        .as_ref()
        .to_vec();
    let secret_file = dir.join("client-secret");
    if secret_file.exists() {
        set_mode(&secret_file, 0o600)?;
    } else {
        let secret =
            superoffice::oidc::random_token().map_err(|e| ServeError::Simulator(e.to_string()))?;
        write_if_changed(&secret_file, &secret)?;
    }
    let secret = std::fs::read_to_string(&secret_file)
        .map_err(|e| ServeError::DataDir(secret_file.clone(), e.to_string()))?;

    let app = AppRegistration {
        name: DEMO_APP_NAME.into(),
        client_id: DEMO_CLIENT_ID.into(),
        client_secret: secret.trim().to_owned(),
        redirect_uris: vec![format!("{}/callback", app_url.trim_end_matches('/'))],
        system_user_public_key_der: Some(public),
    };
    let mut config = SimulatorConfig::demo(app);
    config.signing_key_pkcs8_der = Some(signing_key);
    config.state_file = Some(dir.join("state.json"));
    // The simulator sends tenant state changes (its /__sim/tenants page) to the app's own receiver.
    config.state_change_urls.insert(
        DEMO_CLIENT_ID.into(),
        format!("{}{}", app_url.trim_end_matches('/'), lifecycle::PATH),
    );
    let sim = Simulator::start(config, "127.0.0.1:0".parse().expect("static address"))
        .await
        .map_err(|e| ServeError::Simulator(e.to_string()))?;
    let vars = vec![
        ("SO_ENVIRONMENT", sim.issuer()),
        ("SO_CLIENT_ID", DEMO_CLIENT_ID.to_owned()),
        ("SO_CLIENT_SECRET_FILE", secret_file.display().to_string()),
        ("SO_SYSTEM_USER_KEY_FILE", app_key_pem.display().to_string()),
    ];
    Ok((vars, sim))
}

/// A PKCS#8 RSA key kept in `path` (readable by its owner only), generated on first use.
fn persisted_key(path: &Path) -> Result<Vec<u8>, ServeError> {
    if let Ok(bytes) = std::fs::read(path)
        && RsaKeyPair::from_pkcs8(&bytes).is_ok()
    {
        // Files an earlier version wrote world-readable are closed on the next start.
        set_mode(path, 0o600)?;
        return Ok(bytes);
    }
    let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|e| ServeError::Simulator(e.to_string()))?
        .as_der()
        .map_err(|e| ServeError::Simulator(e.to_string()))?
        .as_ref()
        .to_vec();
    write_private(path, &key)?;
    Ok(key)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Writes a secret file (the client secret, a private key) readable by its owner only, like the
/// sealing key: 0600, set when the file is created (never a moment world-readable) and again on a
/// file that already existed.
fn write_if_changed(path: &Path, content: &str) -> Result<(), ServeError> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        return set_mode(path, 0o600);
    }
    write_private(path, content.as_bytes())
}

fn write_private(path: &Path, content: &[u8]) -> Result<(), ServeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| ServeError::DataDir(path.to_owned(), e.to_string());
    // Closed before anything is written, whether the file is new or not.
    if path.exists() {
        set_mode(path, 0o600)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(content).map_err(fail)?;
    file.sync_all().map_err(fail)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ServeError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| ServeError::DataDir(path.to_owned(), e.to_string()))
}
