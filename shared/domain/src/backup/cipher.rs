//! The message format port: a message's worth of plaintext in, one AWS Encryption SDK message out.
//!
//! The adapters crate implements it with the AWS Encryption SDK (`aws-esdk`): commitment policy
//! RequireEncryptRequireDecrypt, a committing algorithm suite, framed messages, and a raw AES
//! keyring whose wrapping key is the scope's data key ([`super::keys`]). The domain only decides
//! what goes in: which key, and the encryption context every part is bound to.

use std::collections::BTreeMap;
use std::future::Future;

use super::keys::DataKey;
use super::manifest::BackupId;
use super::scope::Scope;

/// The encryption context of one message: the app, the environment, the tenant (or `app`), the
/// backup and the message's number in its object (from 1). A message moved to another tenant, run,
/// position or environment does not decrypt.
pub fn message_context(
    app: &str,
    environment: &str,
    scope: &Scope,
    backup: &BackupId,
    message: usize,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_owned(), app.to_owned()),
        ("environment".to_owned(), environment.to_owned()),
        ("tenant".to_owned(), scope.name().to_owned()),
        ("backup_id".to_owned(), backup.as_str().to_owned()),
        ("message".to_owned(), message.to_string()),
    ])
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The message does not decrypt with this key and context: tampered with, cut short, another
    /// tenant's, run's or environment's, or under an erased key. Nothing of it may be used.
    #[error("the message does not decrypt with this key and encryption context: {0}")]
    Rejected(String),
    /// The encryption library failed for another reason (a bug, no randomness).
    #[error("encryption failed: {0}")]
    Failed(String),
}

/// Encrypts and decrypts one message.
pub trait MessageCipher: Send + Sync + 'static {
    /// `plaintext` as one message under `key` (named `key_name` in the message), bound to `context`.
    fn seal(
        &self,
        key: &DataKey,
        key_name: &str,
        context: &BTreeMap<String, String>,
        plaintext: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, CipherError>> + Send;

    /// The plaintext of one message, only if it decrypts under `key` and its encryption context
    /// holds every pair of `context`.
    fn open(
        &self,
        key: &DataKey,
        key_name: &str,
        context: &BTreeMap<String, String>,
        message: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, CipherError>> + Send;
}
