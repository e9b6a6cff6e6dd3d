//! The backup as deployed: the [`domain::backup::Backups`] service built from its configuration
//! ([`domain::backup::config::BackupConfig`]) with the AWS adapters (DynamoDB, KMS, S3, the AWS
//! Encryption SDK) or the local ones (the embedded store, a key file, a folder in the data
//! directory), for the backup function and for `soapp backup`; and its metrics.

use std::sync::Arc;

use adapters::esdk::EsdkCipher;
use domain::backup::config::{BackupConfig, Target, Wrapping};
use domain::backup::{BackupPorts, Backups};
use domain::config::Storage;
use superoffice::clock::SystemClock;

use crate::StartError;

pub mod metrics;

/// Reads the backup's configuration from the environment and starts the logs.
pub fn config() -> Result<BackupConfig, StartError> {
    let config = BackupConfig::from_env()?;
    crate::telemetry::init(config.log_format);
    Ok(config)
}

fn cipher() -> Result<Arc<EsdkCipher>, StartError> {
    EsdkCipher::new()
        .map(Arc::new)
        .map_err(|e| StartError::Adapter(e.to_string()))
}

/// The AWS adapters of a backup.
#[cfg(feature = "aws")]
pub struct AwsBackup;

#[cfg(feature = "aws")]
impl BackupPorts for AwsBackup {
    type Items = adapters::aws::dynamo::DynamoItems;
    type Wrap = adapters::aws::backup_keys::KmsKeyWrap;
    type Cipher = EsdkCipher;
    type Objects = adapters::aws::s3::S3Objects;
}

/// The backup in AWS: the table, the backup KMS key, the bucket.
#[cfg(feature = "aws")]
pub async fn aws(config: &BackupConfig) -> Result<Backups<AwsBackup>, StartError> {
    let (Storage::Dynamo { table }, Target::S3 { bucket }, Wrapping::Kms { key_id }) =
        (&config.storage, &config.target, &config.wrapping)
    else {
        return Err(StartError::Adapter(
            "a backup in AWS needs APP_TABLE_NAME, APP_BACKUP_BUCKET and APP_BACKUP_KEY_ARN (not a local data folder or key file)".into(),
        ));
    };
    let sdk = adapters::aws::sdk_config().await;
    Ok(Backups::new(
        Arc::new(adapters::aws::dynamo::DynamoItems::new(
            adapters::aws::dynamo_client(&sdk),
            table.clone(),
        )),
        Arc::new(adapters::aws::backup_keys::KmsKeyWrap::new(
            adapters::aws::kms_client(&sdk),
            key_id.clone(),
        )),
        cipher()?,
        Arc::new(adapters::aws::s3::S3Objects::new(
            adapters::aws::s3::s3_client(&sdk),
            bucket.clone(),
        )),
        config.settings(),
        Arc::new(SystemClock),
    ))
}

/// The local adapters of a backup.
#[cfg(feature = "local")]
pub struct LocalBackup;

#[cfg(feature = "local")]
impl BackupPorts for LocalBackup {
    type Items = adapters::local::embedded::EmbeddedItems;
    type Wrap = adapters::local::backup_keys::LocalKeyWrap;
    type Cipher = EsdkCipher;
    type Objects = adapters::local::folder::FolderObjects;
}

/// The backup on one machine: the embedded store, the key file and the folder in the data folder.
/// The embedded store is opened by one process at a time (`soapp serve` holds it while it runs).
#[cfg(feature = "local")]
pub fn local(config: &BackupConfig) -> Result<Backups<LocalBackup>, StartError> {
    let (Storage::Embedded { dir }, Target::Folder { dir: folder }, Wrapping::Local { key_file }) =
        (&config.storage, &config.target, &config.wrapping)
    else {
        return Err(StartError::Adapter(
            "a local backup needs APP_DATA_DIR, and no bucket or KMS key".into(),
        ));
    };
    let items = adapters::local::embedded::EmbeddedItems::open(dir).map_err(|e| {
        StartError::Adapter(format!(
            "the data folder {} cannot be opened ({e}); is soapp serve running on it?",
            dir.display()
        ))
    })?;
    local_with(Arc::new(items), config, folder, key_file)
}

/// The local backup over an embedded store already open (`soapp serve` backs up its own store).
#[cfg(feature = "local")]
pub fn local_with(
    items: Arc<adapters::local::embedded::EmbeddedItems>,
    config: &BackupConfig,
    folder: &std::path::Path,
    key_file: &std::path::Path,
) -> Result<Backups<LocalBackup>, StartError> {
    let wrap = adapters::local::backup_keys::LocalKeyWrap::open_or_create(key_file)
        .map_err(|e| StartError::Adapter(e.to_string()))?;
    Ok(Backups::new(
        items,
        Arc::new(wrap),
        cipher()?,
        Arc::new(adapters::local::folder::FolderObjects::new(folder)),
        config.settings(),
        Arc::new(SystemClock),
    ))
}
