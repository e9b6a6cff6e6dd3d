//! The sealer a configuration names: the stack's KMS key in AWS, a local key file otherwise.

use std::collections::BTreeMap;

use domain::config::Sealing;
use domain::sealing::{SealError, Sealer};
use superoffice::Secret;

#[cfg(feature = "aws")]
use crate::aws::kms::KmsSealer;
#[cfg(feature = "local")]
use crate::local::sealer::LocalSealer;

/// The sealer a configuration names: KMS in AWS, a local key file otherwise.
#[derive(Debug)]
pub enum AppSealer {
    #[cfg(feature = "aws")]
    Kms(KmsSealer),
    #[cfg(feature = "local")]
    Local(LocalSealer),
}

impl AppSealer {
    /// The sealer `sealing` names. KMS needs the AWS SDK configuration (`sdk`): without the `aws`
    /// feature, or without `sdk`, a KMS key is refused with a message saying so.
    pub fn from_config(
        sealing: &Sealing,
        #[cfg(feature = "aws")] sdk: Option<&aws_config::SdkConfig>,
    ) -> Result<Self, SealError> {
        match sealing {
            #[cfg(feature = "aws")]
            Sealing::Kms { key_id } => match sdk {
                Some(sdk) => Ok(AppSealer::Kms(KmsSealer::new(
                    aws_sdk_kms::Client::new(sdk),
                    key_id,
                ))),
                None => Err(SealError::LocalKey(
                    "APP_KMS_KEY_ARN names a KMS key, but no AWS configuration was given".into(),
                )),
            },
            #[cfg(not(feature = "aws"))]
            Sealing::Kms { .. } => Err(SealError::LocalKey(
                "APP_KMS_KEY_ARN names a KMS key, but this program was built without AWS support"
                    .into(),
            )),
            #[cfg(feature = "local")]
            Sealing::Local { key_file } => {
                LocalSealer::open_or_create(key_file).map(AppSealer::Local)
            }
            #[cfg(not(feature = "local"))]
            Sealing::Local { .. } => Err(SealError::LocalKey(
                "a local key file is configured, but this program was built without local support"
                    .into(),
            )),
        }
    }
}

impl Sealer for AppSealer {
    async fn seal(
        &self,
        plaintext: &Secret,
        context: &BTreeMap<String, String>,
    ) -> Result<String, SealError> {
        match self {
            #[cfg(feature = "aws")]
            AppSealer::Kms(k) => k.seal(plaintext, context).await,
            #[cfg(feature = "local")]
            AppSealer::Local(l) => l.seal(plaintext, context).await,
            #[cfg(not(any(feature = "aws", feature = "local")))]
            _ => {
                let _ = (plaintext, context);
                unreachable!("AppSealer has no variants without a feature")
            }
        }
    }

    async fn open(
        &self,
        sealed: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<Secret, SealError> {
        match self {
            #[cfg(feature = "aws")]
            AppSealer::Kms(k) => k.open(sealed, context).await,
            #[cfg(feature = "local")]
            AppSealer::Local(l) => l.open(sealed, context).await,
            #[cfg(not(any(feature = "aws", feature = "local")))]
            _ => {
                let _ = (sealed, context);
                unreachable!("AppSealer has no variants without a feature")
            }
        }
    }
}
