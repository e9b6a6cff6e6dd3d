//! The deployment in AWS: DynamoDB items, the stack's KMS key, the SQS FIFO job queue, Secrets
//! Manager secrets.

use std::sync::Arc;

use adapters::aws::dynamo::DynamoItems;
use adapters::aws::sqs::SqsQueue;
use adapters::sealer::AppSealer;
use adapters::secrets::SecretLoader;
use domain::config::Storage;
use domain::{Deployment, Ports};
use superoffice::clock::SystemClock;

use crate::{StartError, Started};

/// The AWS adapters, one per port.
pub struct Aws;

impl Ports for Aws {
    type Items = DynamoItems;
    type Sealer = AppSealer;
    type Queue = SqsQueue;
    type Secrets = SecretLoader;
}

/// Configuration, logs and manifest ([`crate::start`]), then the AWS deployment.
pub async fn start() -> Result<Deployment<Aws>, StartError> {
    deployment(crate::start()?).await
}

/// The AWS deployment for a started process.
pub async fn deployment(started: Started) -> Result<Deployment<Aws>, StartError> {
    let config = started.config;
    let sdk = adapters::aws::sdk_config().await;
    let table = match &config.storage {
        Storage::Dynamo { table } => table.clone(),
        Storage::Embedded { .. } => {
            return Err(StartError::Adapter(
                "a Lambda function needs APP_TABLE_NAME, not APP_DATA_DIR".into(),
            ));
        }
    };
    let sealer = AppSealer::from_config(&config.sealing, Some(&sdk))
        .map_err(|e| StartError::Adapter(e.to_string()))?;
    let sqs = adapters::aws::sqs_client(&sdk);
    // Only the functions that queue or run jobs are given a queue; the others get one that says so.
    let queue = match &config.queue_url {
        Some(url) => SqsQueue::new(sqs, url.clone()),
        None => SqsQueue::unconfigured(sqs),
    };
    let superoffice =
        crate::platform::superoffice(&config).map_err(|e| StartError::Adapter(e.to_string()))?;
    Ok(Deployment {
        manifest: started.manifest,
        items: Arc::new(DynamoItems::new(adapters::aws::dynamo_client(&sdk), table)),
        sealer: Arc::new(sealer),
        queue: Arc::new(queue),
        secrets: Arc::new(SecretLoader::with_aws(adapters::aws::secrets_client(&sdk))),
        superoffice: Arc::new(superoffice),
        clock: Arc::new(SystemClock),
        config,
    })
}
