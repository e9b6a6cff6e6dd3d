//! The backup's message format: the AWS Encryption SDK (`aws-esdk`, AWS's own Rust
//! implementation), so any AWS Encryption SDK (the `aws-encryption-cli`, the Python, Java or C
//! libraries) reads a backup given the tenant's key.
//!
//! * Commitment policy RequireEncryptRequireDecrypt: only key-committing suites are written or
//!   read.
//! * Suite `ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (committing, without the ECDSA signature):
//!   every reader of a backup holds the same symmetric tenant key a writer needs, so a signature
//!   would prove nothing a reader could not forge, and it costs a key pair per message.
//! * Framed messages (64 KiB frames), at most one encrypted data key per message on decrypt.
//! * A raw AES keyring whose wrapping key is the partition's data key, named
//!   `soapp-backup` / `{tenant}/{key id}` in the message.
//!
//! The SDK's calls are CPU work with no I/O; they run on the blocking pool so a few MiB of
//! encryption never stalls the runtime's other tasks.

use std::collections::{BTreeMap, HashMap};

use aws_esdk::material_providers::client as mpl_client;
use aws_esdk::material_providers::types::material_providers_config::MaterialProvidersConfig;
use aws_esdk::material_providers::types::{
    AesWrappingAlg, EsdkAlgorithmSuiteId, EsdkCommitmentPolicy,
};
use aws_esdk::types::aws_encryption_sdk_config::AwsEncryptionSdkConfig;
use domain::backup::cipher::{CipherError, MessageCipher};
use domain::backup::keys::{DataKey, KEY_NAMESPACE};

/// Frame length of every message.
pub const FRAME_BYTES: i64 = 64 * 1024;
/// The algorithm suite of every message written.
pub const SUITE: EsdkAlgorithmSuiteId = EsdkAlgorithmSuiteId::AlgAes256GcmHkdfSha512CommitKey;

/// The AWS Encryption SDK with a raw AES keyring per data key.
#[derive(Clone)]
pub struct EsdkCipher {
    esdk: aws_esdk::Client,
    mpl: mpl_client::Client,
}

impl std::fmt::Debug for EsdkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EsdkCipher")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the AWS Encryption SDK cannot be set up: {0}")]
pub struct EsdkSetupError(String);

impl EsdkCipher {
    pub fn new() -> Result<Self, EsdkSetupError> {
        let config = AwsEncryptionSdkConfig::builder()
            .commitment_policy(EsdkCommitmentPolicy::RequireEncryptRequireDecrypt)
            .max_encrypted_data_keys(1)
            .build()
            .map_err(|e| EsdkSetupError(e.to_string()))?;
        let esdk =
            aws_esdk::Client::from_conf(config).map_err(|e| EsdkSetupError(e.to_string()))?;
        let mpl = mpl_client::Client::from_conf(
            MaterialProvidersConfig::builder()
                .build()
                .map_err(|e| EsdkSetupError(e.to_string()))?,
        )
        .map_err(|e| EsdkSetupError(e.to_string()))?;
        Ok(Self { esdk, mpl })
    }

    async fn keyring(
        &self,
        key: &DataKey,
        key_name: &str,
    ) -> Result<aws_esdk::material_providers::types::keyring::KeyringRef, CipherError> {
        self.mpl
            .create_raw_aes_keyring()
            .key_namespace(KEY_NAMESPACE)
            .key_name(key_name)
            .wrapping_key(key.expose().to_vec())
            .wrapping_alg(AesWrappingAlg::AlgAes256GcmIv12Tag16)
            .send()
            .await
            .map_err(|e| CipherError::Failed(format!("keyring: {e}")))
    }

    async fn seal_now(
        &self,
        key: &DataKey,
        key_name: &str,
        context: HashMap<String, String>,
        plaintext: Vec<u8>,
    ) -> Result<Vec<u8>, CipherError> {
        let keyring = self.keyring(key, key_name).await?;
        let out = self
            .esdk
            .encrypt()
            .plaintext(plaintext)
            .keyring(keyring)
            .encryption_context(context)
            .algorithm_suite_id(SUITE)
            .frame_length(FRAME_BYTES)
            .send()
            .await
            .map_err(|e| CipherError::Failed(e.to_string()))?;
        out.ciphertext
            .map(|c| c.into_inner())
            .ok_or_else(|| CipherError::Failed("the SDK returned no message".into()))
    }

    async fn open_now(
        &self,
        key: &DataKey,
        key_name: &str,
        context: HashMap<String, String>,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, CipherError> {
        let keyring = self.keyring(key, key_name).await?;
        let out = self
            .esdk
            .decrypt()
            .ciphertext(message)
            .keyring(keyring)
            .encryption_context(context.clone())
            .send()
            .await
            .map_err(|e| CipherError::Rejected(e.to_string()))?;
        // The SDK checks that the message's context holds every pair given; it must also hold
        // nothing else (the manifest names exactly these pairs).
        if out.encryption_context.as_ref() != Some(&context) {
            return Err(CipherError::Rejected(
                "the message's encryption context has pairs the backup does not name".into(),
            ));
        }
        if out.algorithm_suite_id != Some(SUITE) {
            return Err(CipherError::Rejected(format!(
                "the message uses suite {:?}, not {SUITE}",
                out.algorithm_suite_id
            )));
        }
        out.plaintext
            .map(|p| p.into_inner())
            .ok_or_else(|| CipherError::Rejected("the SDK returned no plaintext".into()))
    }

    /// Runs `f` on the blocking pool (it does CPU work only).
    async fn off_runtime<T: Send + 'static>(
        f: impl std::future::Future<Output = Result<T, CipherError>> + Send + 'static,
    ) -> Result<T, CipherError> {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => tokio::task::spawn_blocking(move || handle.block_on(f))
                .await
                .map_err(|e| CipherError::Failed(e.to_string()))?,
            Err(_) => f.await,
        }
    }
}

fn to_map(context: &BTreeMap<String, String>) -> HashMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn copy_key(key: &DataKey) -> DataKey {
    DataKey::from_bytes(key.expose()).unwrap_or_else(|| unreachable!("a data key has 32 bytes"))
}

impl MessageCipher for EsdkCipher {
    async fn seal(
        &self,
        key: &DataKey,
        key_name: &str,
        context: &BTreeMap<String, String>,
        plaintext: Vec<u8>,
    ) -> Result<Vec<u8>, CipherError> {
        let (this, key, name, context) = (
            self.clone(),
            copy_key(key),
            key_name.to_owned(),
            to_map(context),
        );
        Self::off_runtime(async move { this.seal_now(&key, &name, context, plaintext).await }).await
    }

    async fn open(
        &self,
        key: &DataKey,
        key_name: &str,
        context: &BTreeMap<String, String>,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, CipherError> {
        let (this, key, name, context) = (
            self.clone(),
            copy_key(key),
            key_name.to_owned(),
            to_map(context),
        );
        Self::off_runtime(async move { this.open_now(&key, &name, context, message).await }).await
    }
}

#[cfg(test)]
mod tests {
    use domain::backup::cipher::message_context;
    use domain::backup::manifest::BackupId;
    use domain::backup::scope::Scope;
    use superoffice::TenantId;

    use super::*;

    fn context(tenant: &str, message: usize) -> BTreeMap<String, String> {
        message_context(
            "superoffice-app",
            "sod",
            &Scope::Tenant(TenantId::parse(tenant).unwrap()),
            &BackupId::parse("20270115T080000Z-k3j9xa").unwrap(),
            message,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_opens_only_with_its_key_and_exact_context_and_untouched() {
        let cipher = EsdkCipher::new().unwrap();
        let key = DataKey::from_bytes(&[7u8; 32]).unwrap();
        let plaintext = b"{\"pk\":\"TENANT#Cust1\"}\n".repeat(5000);
        let message = cipher
            .seal(&key, "Cust1/k1", &context("Cust1", 1), plaintext.clone())
            .await
            .unwrap();
        // The AWS Encryption SDK message format, version 2 (committing suites): first byte 0x02,
        // then the suite id 0x0478.
        assert_eq!(&message[..3], &[0x02, 0x04, 0x78]);
        assert!(!message.windows(20).any(|w| w == &plaintext[..20]));
        assert_eq!(
            cipher
                .open(&key, "Cust1/k1", &context("Cust1", 1), message.clone())
                .await
                .unwrap(),
            plaintext
        );
        let other_tenant = cipher
            .open(&key, "Cust1/k1", &context("Cust2", 1), message.clone())
            .await;
        assert!(matches!(other_tenant, Err(CipherError::Rejected(_))));
        let other_position = cipher
            .open(&key, "Cust1/k1", &context("Cust1", 2), message.clone())
            .await;
        assert!(matches!(other_position, Err(CipherError::Rejected(_))));
        let other_key = DataKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(
            cipher
                .open(
                    &other_key,
                    "Cust1/k1",
                    &context("Cust1", 1),
                    message.clone()
                )
                .await
                .is_err()
        );
        let mut flipped = message.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 1;
        assert!(
            cipher
                .open(&key, "Cust1/k1", &context("Cust1", 1), flipped)
                .await
                .is_err()
        );
        let cut = message[..message.len() - 10].to_vec();
        assert!(
            cipher
                .open(&key, "Cust1/k1", &context("Cust1", 1), cut)
                .await
                .is_err()
        );
        // A subset of the context is not enough: a message with extra pairs is refused.
        let mut fewer = context("Cust1", 1);
        fewer.remove("message");
        assert!(
            cipher
                .open(&key, "Cust1/k1", &fewer, message)
                .await
                .is_err()
        );
    }
}
