//! The composition root: everything a process needs, built once at start from configuration.
//!
//! Every Lambda `main.rs` is a few lines on top of this crate, and `soapp serve` builds the same
//! parts with the local adapters, so the wiring exists once:
//!
//! * [`start`]: configuration (every problem reported at once), logs, and the manifest the
//!   configuration names, validated; a process that cannot work says why and exits.
//! * [`aws`] (feature `aws`) and [`local`] (feature `local`): the [`domain::Deployment`] for each
//!   side, with its [`domain::Ports`] type.
//! * [`platform`]: the SuperOffice platform for sign-in, and [`platform::tenant_access`], the
//!   system-user WebAPI client for work in tenants.
//! * [`rollout`]: this release's manifest taken to every installed tenant, ticked once a minute.
//! * [`worker`]: the job worker, built on its first job.
//! * `backup` (feature `backup`): the backup service with the AWS or the local adapters, and its
//!   metrics.
//! * [`lambda`]: serving a [`web::Handler`] behind API Gateway; [`requests`]: the metric line every
//!   request gets there and in the local runner.
//!
//! Nothing here does network I/O at start: a cold start pays for building clients, not for calls.

use std::sync::Arc;

use domain::config::{AppConfig, ManifestSource};
use domain::manifest::Manifest;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "backup")]
pub mod backup;
#[cfg(feature = "aws")]
pub mod lambda;
#[cfg(feature = "local")]
pub mod local;
pub mod platform;
pub mod requests;
pub mod rollout;
pub mod telemetry;
pub mod worker;

/// Why a process cannot start: said in its first log lines, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] domain::config::ConfigErrors),
    #[error("the manifest {path} cannot be read: {source}")]
    ManifestUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the manifest {path} is not valid; {problems}")]
    ManifestInvalid {
        path: String,
        problems: domain::manifest::ManifestErrors,
    },
    #[error("{0}")]
    Adapter(String),
    /// The crypto backend failed its known-answer self-test: this build cannot verify tokens.
    #[error("the crypto self-test failed: {0}")]
    CryptoSelfTest(#[from] superoffice::self_test::SelfTestFailure),
}

/// What every process starts from: the validated configuration and manifest, logs initialised.
pub struct Started {
    pub config: Arc<AppConfig>,
    pub manifest: Arc<Manifest>,
}

/// Reads the configuration from the environment, starts the logs, runs the crypto self-test and
/// loads the manifest.
pub fn start() -> Result<Started, StartError> {
    let config = AppConfig::from_env()?;
    telemetry::init(config.log_format);
    superoffice::self_test::crypto()?;
    let manifest = manifest(&config.manifest)?;
    Ok(Started {
        config: Arc::new(config),
        manifest: Arc::new(manifest),
    })
}

/// The manifest a configuration names, validated with every problem reported.
pub fn manifest(source: &ManifestSource) -> Result<Manifest, StartError> {
    match source {
        ManifestSource::Demo => Manifest::parse(domain::manifest::DEMO).map_err(|problems| {
            StartError::ManifestInvalid {
                path: "built into the program (manifest/demo.toml)".into(),
                problems,
            }
        }),
        ManifestSource::File(path) => {
            let shown = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|source| StartError::ManifestUnreadable {
                    path: shown.clone(),
                    source,
                })?;
            Manifest::parse(&text).map_err(|problems| StartError::ManifestInvalid {
                path: shown,
                problems,
            })
        }
    }
}

/// Runs `main`'s body, or prints why the process cannot start and exits with status 2: a function
/// that cannot work must say so in its first log lines, not fail later at a customer.
pub fn or_exit<T>(result: Result<T, StartError>) -> T {
    match result {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot start: {e}");
            tracing::error!(reason = "start_failed", error = %e, "cannot start");
            std::process::exit(2);
        }
    }
}
