//! The app's sealer in AWS: the stack's KMS key, `Encrypt`/`Decrypt` with the encryption context
//! (tenant and purpose), so a sealed value copied to another tenant's record does not open.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::sealing::{SealError, Sealer};
use superoffice::Secret;

/// AWS KMS: the stack's key, with the encryption context.
#[derive(Clone, Debug)]
pub struct KmsSealer {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSealer {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

impl Sealer for KmsSealer {
    async fn seal(
        &self,
        plaintext: &Secret,
        context: &BTreeMap<String, String>,
    ) -> Result<String, SealError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(
                plaintext.expose().as_bytes(),
            ))
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| SealError::Unavailable(Box::new(e)))?;
        let blob = out
            .ciphertext_blob()
            .ok_or_else(|| SealError::Unavailable("KMS returned no ciphertext".into()))?;
        Ok(format!("kms:{}", STANDARD.encode(blob.as_ref())))
    }

    async fn open(
        &self,
        sealed: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<Secret, SealError> {
        let b64 = sealed.strip_prefix("kms:").ok_or(SealError::WrongContext)?;
        let blob = STANDARD.decode(b64).map_err(|_| SealError::WrongContext)?;
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob))
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                let invalid = e
                    .as_service_error()
                    .is_some_and(|se| se.is_invalid_ciphertext_exception());
                if invalid {
                    SealError::WrongContext
                } else {
                    SealError::Unavailable(Box::new(e))
                }
            })?;
        let plain = out.plaintext().ok_or(SealError::WrongContext)?;
        String::from_utf8(plain.as_ref().to_vec())
            .map(Secret::new)
            .map_err(|_| SealError::WrongContext)
    }
}
