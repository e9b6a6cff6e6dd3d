//! The backup's key wrap in AWS: the stack's backup KMS key generates each tenant's data key
//! (`GenerateDataKey`, AES-256) and opens it again (`Decrypt`), both with the encryption context
//! naming the app, the environment, the tenant and the purpose; the key's policy refuses any use
//! without the stack's app and environment in the context.

use std::collections::BTreeMap;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use domain::backup::keys::{DataKey, KeyWrap, KeyWrapError, WrappedKey};

#[derive(Clone, Debug)]
pub struct KmsKeyWrap {
    client: Client,
    key_id: String,
}

impl KmsKeyWrap {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

/// Refused (the wrapped key or the context is wrong), misconfigured (the key cannot be used at
/// all), or unavailable (try later).
fn classify(code: Option<&str>, e: Box<dyn std::error::Error + Send + Sync>) -> KeyWrapError {
    match code {
        Some("InvalidCiphertextException") | Some("IncorrectKeyException") => KeyWrapError::Refused,
        Some(
            c @ ("AccessDeniedException"
            | "DisabledException"
            | "NotFoundException"
            | "KMSInvalidStateException"
            | "InvalidKeyUsageException"),
        ) => KeyWrapError::Misconfigured(c.to_owned()),
        _ => KeyWrapError::Unavailable(e),
    }
}

impl KeyWrap for KmsKeyWrap {
    async fn generate(
        &self,
        context: &BTreeMap<String, String>,
    ) -> Result<(DataKey, WrappedKey), KeyWrapError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                let code = e
                    .as_service_error()
                    .and_then(|s| s.meta().code())
                    .map(str::to_owned);
                classify(code.as_deref(), Box::new(e))
            })?;
        let key = out
            .plaintext()
            .and_then(|p| DataKey::from_bytes(p.as_ref()))
            .ok_or_else(|| KeyWrapError::Misconfigured("KMS returned no 256-bit key".into()))?;
        let ciphertext = out
            .ciphertext_blob()
            .map(|c| c.as_ref().to_vec())
            .ok_or_else(|| KeyWrapError::Misconfigured("KMS returned no wrapped key".into()))?;
        Ok((
            key,
            WrappedKey {
                ciphertext,
                wrapped_by: out.key_id().unwrap_or(&self.key_id).to_owned(),
            },
        ))
    }

    async fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &BTreeMap<String, String>,
    ) -> Result<DataKey, KeyWrapError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.ciphertext.clone()))
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                let code = e
                    .as_service_error()
                    .and_then(|s| s.meta().code())
                    .map(str::to_owned);
                classify(code.as_deref(), Box::new(e))
            })?;
        out.plaintext()
            .and_then(|p| DataKey::from_bytes(p.as_ref()))
            .ok_or(KeyWrapError::Refused)
    }
}
