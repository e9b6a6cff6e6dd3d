//! Sealing: values the app must keep but nobody may read from the table (a tenant's system-user
//! token, its webhook secret) are encrypted under the app's key, bound to an encryption context
//! (the tenant and the purpose), so a sealed value copied to another tenant's record does not open.
//!
//! This module is the port; the adapters crate has the two implementations: the stack's KMS key in
//! AWS (`Encrypt`/`Decrypt` with an encryption context), and locally a 256-bit key in a file in the
//! data folder used with AES-256-GCM (the context is the additional authenticated data). Both
//! produce base64 text that is stored as is.

use std::collections::BTreeMap;
use std::future::Future;

use superoffice::{Secret, TenantId};

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
pub fn context(tenant: &TenantId, purpose: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("tenant".to_owned(), tenant.to_string()),
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

/// A sealer for unit tests: it binds values to their context like the real ones (a value sealed
/// for one tenant does not open for another) but does not encrypt. Never used outside tests.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use std::collections::BTreeMap;

    use superoffice::Secret;

    use super::{SealError, Sealer};

    #[derive(Debug, Default)]
    pub struct TestSealer;

    impl Sealer for TestSealer {
        async fn seal(
            &self,
            plaintext: &Secret,
            context: &BTreeMap<String, String>,
        ) -> Result<String, SealError> {
            let doc = serde_json::json!({"context": context, "value": plaintext.expose()});
            Ok(format!("test:{doc}"))
        }

        async fn open(
            &self,
            sealed: &str,
            context: &BTreeMap<String, String>,
        ) -> Result<Secret, SealError> {
            let doc: serde_json::Value = sealed
                .strip_prefix("test:")
                .and_then(|s| serde_json::from_str(s).ok())
                .ok_or(SealError::WrongContext)?;
            if doc["context"] != serde_json::json!(context) {
                return Err(SealError::WrongContext);
            }
            doc["value"]
                .as_str()
                .map(Secret::new)
                .ok_or(SealError::WrongContext)
        }
    }
}
