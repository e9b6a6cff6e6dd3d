//! The deployment on one machine (`soapp serve`, tests): the embedded store in the data folder, a
//! local key file, the in-process job queue, secrets from files.

use std::sync::Arc;
use std::time::Duration;

use adapters::local::embedded::EmbeddedItems;
use adapters::local::queue::LocalQueue;
use adapters::sealer::AppSealer;
use adapters::secrets::SecretLoader;
use domain::config::{AppConfig, Storage};
use domain::manifest::Manifest;
use domain::{Deployment, Ports};
use superoffice::clock::SystemClock;

use crate::StartError;

/// The local adapters, one per port.
pub struct Local;

impl Ports for Local {
    type Items = EmbeddedItems;
    type Sealer = AppSealer;
    type Queue = LocalQueue;
    type Secrets = SecretLoader;
}

/// The local deployment for a configuration whose storage is a data folder; jobs in the queue
/// are delivered again after `job_visibility` if their handler has not returned (a Lambda timeout).
pub fn deployment(
    config: Arc<AppConfig>,
    manifest: Arc<Manifest>,
    job_visibility: Duration,
) -> Result<Deployment<Local>, StartError> {
    let dir = match &config.storage {
        Storage::Embedded { dir } => dir.clone(),
        Storage::Dynamo { .. } => {
            return Err(StartError::Adapter(
                "the local runner keeps its data in a folder (APP_DATA_DIR), not in DynamoDB"
                    .into(),
            ));
        }
    };
    let items = EmbeddedItems::open(&dir)
        .map_err(|e| StartError::Adapter(format!("the data folder {}: {e}", dir.display())))?;
    let sealer = AppSealer::from_config(
        &config.sealing,
        #[cfg(feature = "aws")]
        None,
    )
    .map_err(|e| StartError::Adapter(e.to_string()))?;
    let superoffice =
        crate::platform::superoffice(&config).map_err(|e| StartError::Adapter(e.to_string()))?;
    Ok(Deployment {
        config,
        manifest,
        items: Arc::new(items),
        sealer: Arc::new(sealer),
        queue: Arc::new(LocalQueue::new(job_visibility)),
        secrets: Arc::new(SecretLoader::local()),
        superoffice: Arc::new(superoffice),
        clock: Arc::new(SystemClock),
    })
}
