//! Sealing: values the app must keep but nobody may read from the table (a tenant's system-user
//! token, its webhook secret) are encrypted under the app's key, bound to an encryption context
//! (the tenant and the purpose), so a sealed value copied to another tenant's record does not open.
//!
//! In AWS the key is the stack's KMS key (`Encrypt`/`Decrypt` with an encryption context); locally
//! it is a 256-bit key in a file in the data folder, used with AES-256-GCM (the context is the
//! additional authenticated data). Both produce base64 text that is stored as is.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use superoffice::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key service could not be reached or refused; try again later.
    #[error("the key service is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The sealed value does not open with this key and context (tampered, or another tenant's).
    #[error("the sealed value does not open with this key and context")]
    WrongContext,
    #[error("the local key file cannot be used: {0}")]
    LocalKey(String),
}

/// What a sealed value is bound to.
pub fn context(tenant: &str, purpose: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("tenant".to_owned(), tenant.to_owned()),
        ("purpose".to_owned(), purpose.to_owned()),
    ])
}

pub trait Sealer: Send + Sync + 'static {
    fn seal(
        &self,
        plaintext: &Secret,
        context: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<String, SealError>> + Send;

    fn open(
        &self,
        sealed: &str,
        context: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Secret, SealError>> + Send;
}

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

/// A local AES-256-GCM key kept in a file (created on first use).
pub struct LocalSealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for LocalSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalSealer")
    }
}

impl LocalSealer {
    pub fn open_or_create(path: &Path) -> Result<Self, SealError> {
        let bytes = match std::fs::read(path) {
            Ok(b) if b.len() == 32 => b,
            Ok(_) => {
                return Err(SealError::LocalKey(format!(
                    "{} is not a 32-byte key",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut k)
                    .map_err(|_| SealError::LocalKey("no randomness".into()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| SealError::LocalKey(e.to_string()))?;
                }
                write_private(path, &k)?;
                k
            }
            Err(e) => return Err(SealError::LocalKey(e.to_string())),
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| SealError::LocalKey("bad key".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    fn aad(context: &BTreeMap<String, String>) -> Vec<u8> {
        serde_json::to_vec(context).unwrap_or_default()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SealError::LocalKey(e.to_string()))?;
    f.write_all(bytes)
        .map_err(|e| SealError::LocalKey(e.to_string()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    std::fs::write(path, bytes).map_err(|e| SealError::LocalKey(e.to_string()))
}

impl Sealer for LocalSealer {
    async fn seal(
        &self,
        plaintext: &Secret,
        context: &BTreeMap<String, String>,
    ) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| SealError::LocalKey("no randomness".into()))?;
        let mut data = plaintext.expose().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(context)),
                &mut data,
            )
            .map_err(|_| SealError::LocalKey("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("local:{}", STANDARD.encode(out)))
    }

    async fn open(
        &self,
        sealed: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<Secret, SealError> {
        let b64 = sealed
            .strip_prefix("local:")
            .ok_or(SealError::WrongContext)?;
        let mut raw = STANDARD.decode(b64).map_err(|_| SealError::WrongContext)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::WrongContext);
        }
        let mut body = raw.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&raw).map_err(|_| SealError::WrongContext)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(Self::aad(context)), &mut body)
            .map_err(|_| SealError::WrongContext)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| SealError::WrongContext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sealed_value_opens_only_with_its_context_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/app.key");
        let sealer = LocalSealer::open_or_create(&path).unwrap();
        let secret = Secret::new("Demo App-8k8Q7DmBgo");
        let ctx = context("Cust12345", "system_token");
        let sealed = sealer.seal(&secret, &ctx).await.unwrap();
        assert!(!sealed.contains("8k8Q7DmBgo"));
        assert_eq!(sealer.open(&sealed, &ctx).await.unwrap(), secret);
        assert!(matches!(
            sealer
                .open(&sealed, &context("Cust67890", "system_token"))
                .await,
            Err(SealError::WrongContext)
        ));
        // The key persists: a reopened sealer opens old values.
        let again = LocalSealer::open_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed, &ctx).await.unwrap(), secret);
        // Another key does not.
        let other = LocalSealer::open_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other.open(&sealed, &ctx).await.is_err());
        // Tampering is detected.
        let mut bytes = STANDARD
            .decode(sealed.strip_prefix("local:").unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("local:{}", STANDARD.encode(bytes));
        assert!(sealer.open(&tampered, &ctx).await.is_err());
    }
}

/// The sealer a configuration names: KMS in AWS, a local key file otherwise.
#[derive(Debug)]
pub enum AppSealer {
    Kms(KmsSealer),
    Local(LocalSealer),
}

impl AppSealer {
    pub async fn from_config(
        sealing: &crate::config::Sealing,
        sdk: Option<&aws_config::SdkConfig>,
    ) -> Result<Self, SealError> {
        match sealing {
            crate::config::Sealing::Kms { key_id } => {
                let sdk = match sdk {
                    Some(s) => s.clone(),
                    None => crate::runtime::aws_sdk_config().await,
                };
                Ok(AppSealer::Kms(KmsSealer::new(
                    aws_sdk_kms::Client::new(&sdk),
                    key_id,
                )))
            }
            crate::config::Sealing::Local { key_file } => {
                LocalSealer::open_or_create(key_file).map(AppSealer::Local)
            }
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
            AppSealer::Kms(k) => k.seal(plaintext, context).await,
            AppSealer::Local(l) => l.seal(plaintext, context).await,
        }
    }

    async fn open(
        &self,
        sealed: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<Secret, SealError> {
        match self {
            AppSealer::Kms(k) => k.open(sealed, context).await,
            AppSealer::Local(l) => l.open(sealed, context).await,
        }
    }
}
