//! Per-scope data keys: what makes crypto-erase work.
//!
//! Each tenant (and the app's own records) has a 256-bit data key of its own. Every message of
//! every backup of that tenant is an AWS Encryption SDK message whose data key is wrapped by this key (a
//! raw AES keyring), so the backup objects never hold it. The key itself is kept only wrapped: by
//! the stack's backup KMS key (`GenerateDataKey`/`Decrypt` with an encryption context naming the
//! app, the environment, the tenant and the purpose) in AWS, by a local key file on one machine,
//! and stored in the table under `BACKUP#{scope}` / `KEY`, outside every backup.
//!
//! Deleting that item ([`BackupKeyStore::erase`]) makes every backup of the tenant unreadable at
//! once, in every object, version and copy, while every other tenant's backups still restore:
//! nothing else needs to change, and Object Lock or versioning cannot keep the data readable. A
//! tenant installed again later gets a new key (a new key id); its old backups stay unreadable.
//!
//! KMS is called once per scope per invocation (to unwrap the key, or to create it), never per
//! item or per message: the unwrapped keys are kept in memory for the invocation only.
//!
//! Until the table's point-in-time recovery window (35 days) has passed, a restore of the whole
//! table to a time before the erase would bring the wrapped key back; see infra/DEPLOY.md.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use superoffice::TenantId;

use super::manifest::KeyRef;
use super::scope::Scope;
use crate::store::{Item, Items, StoreError, document};

/// The keyring's namespace (its provider id in every message's encrypted data key).
pub const KEY_NAMESPACE: &str = "soapp-backup";
/// The purpose named in the wrapping key's encryption context.
pub const PURPOSE: &str = "backup-key";

/// A 256-bit data key in memory; zeroed when dropped, never printed.
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut k = [0u8; 32];
        if bytes.len() != 32 {
            return None;
        }
        k.copy_from_slice(bytes);
        Some(Self(k))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
        // Keeps the compiler from dropping the write as dead (best effort, without unsafe code).
        std::hint::black_box(&self.0);
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// A data key as kept: encrypted by the wrapping key, and which key that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub ciphertext: Vec<u8>,
    /// The KMS key's ARN, or `local:{file}`.
    pub wrapped_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyWrapError {
    /// The key service could not be reached or is throttling; try again later.
    #[error("the key service is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The wrapped key does not open with this wrapping key and context (another environment's,
    /// another tenant's, or tampered with).
    #[error("the wrapped key does not open with this key and context")]
    Refused,
    /// The wrapping key cannot be used as configured (access denied, disabled, a bad local file).
    #[error("the wrapping key cannot be used: {0}")]
    Misconfigured(String),
}

/// The port that wraps data keys: KMS in AWS, a local key file on one machine.
pub trait KeyWrap: Send + Sync + 'static {
    /// A new random data key and its wrapped form, bound to `context`.
    fn generate(
        &self,
        context: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(DataKey, WrappedKey), KeyWrapError>> + Send;

    /// The data key a wrapped key holds, if it was wrapped with `context`.
    fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<DataKey, KeyWrapError>> + Send;
}

/// What the wrapping key's encryption context names: app, environment, the scope and the purpose.
pub fn wrapping_context(app: &str, environment: &str, scope: &Scope) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_owned(), app.to_owned()),
        ("environment".to_owned(), environment.to_owned()),
        ("tenant".to_owned(), scope.name().to_owned()),
        ("purpose".to_owned(), PURPOSE.to_owned()),
    ])
}

/// The stored form of a scope's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    /// Base64 of the wrapped key.
    pub wrapped: String,
    pub wrapped_by: String,
    pub created_at: i64,
}

impl KeyRecord {
    pub fn key_ref(&self, scope: &Scope) -> KeyRef {
        KeyRef {
            key_id: self.key_id.clone(),
            key_name: key_name(scope, &self.key_id),
            wrapped_by: self.wrapped_by.clone(),
        }
    }

    fn wrapped_key(&self) -> Option<WrappedKey> {
        Some(WrappedKey {
            ciphertext: STANDARD.decode(&self.wrapped).ok()?,
            wrapped_by: self.wrapped_by.clone(),
        })
    }
}

/// The keyring's name for a key: `{scope}/{key id}`, in every message's encrypted data key.
pub fn key_name(scope: &Scope, key_id: &str) -> String {
    format!("{}/{key_id}", scope.name())
}

/// The partition of a scope's backup records (its key).
pub fn records_pk(scope: &Scope) -> String {
    format!("BACKUP#{}", scope.name())
}

const KEY_SK: &str = "KEY";

/// Where scopes' wrapped keys are kept, and how a tenant's is erased. Needs only the store: the
/// uninstall purge and the tenant Delete push call [`BackupKeyStore::erase`] with the deployment's
/// items.
pub struct BackupKeyStore<I> {
    items: Arc<I>,
}

impl<I> Clone for BackupKeyStore<I> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

impl<I: Items> BackupKeyStore<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// The scope's key record, if it has one (none: never backed up, or erased).
    pub async fn load(&self, scope: &Scope) -> Result<Option<KeyRecord>, StoreError> {
        match self.items.get(&records_pk(scope), KEY_SK, i64::MIN).await? {
            Some(item) => item.parse().map(Some),
            None => Ok(None),
        }
    }

    /// Records a new key; fails with [`StoreError::AlreadyExists`] if the scope has one (two runs
    /// created one at once: the caller uses the stored one).
    async fn create(&self, scope: &Scope, record: &KeyRecord) -> Result<(), StoreError> {
        let item = Item::new(records_pk(scope), KEY_SK, document(record)?);
        self.items.put_new(&item, i64::MIN).await
    }

    /// **Crypto-erase**: deletes the tenant's backup key, which makes every backup of the tenant
    /// unreadable (every message of every run is encrypted under it), while every other tenant's
    /// backups still restore. Idempotent: erasing a tenant without a key is not an error.
    ///
    /// Call it last when removing a tenant (uninstall purge, the tenant Delete push): after the
    /// tenant's record and items are deleted, so a backup running meanwhile either finds no tenant
    /// or writes under the key being erased.
    pub async fn erase(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let scope = Scope::Tenant(tenant.clone());
        self.items.delete(&records_pk(&scope), KEY_SK).await
    }
}

/// Why a scope's key is not available.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The scope has no key: it was erased (or never backed up); its backups cannot be read.
    #[error("{0}'s backup key was erased (or never existed): its backups cannot be read")]
    Erased(Scope),
    /// The stored key does not open (another environment's table, or tampered with).
    #[error("{scope}'s backup key does not open: {source}")]
    Unusable {
        scope: Scope,
        #[source]
        source: KeyWrapError,
    },
    #[error("the key service is unavailable for {scope}: {source}")]
    Unavailable {
        scope: Scope,
        #[source]
        source: KeyWrapError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Scopes' data keys for one invocation: created on first use, unwrapped at most once each.
pub struct BackupKeys<I, W> {
    store: BackupKeyStore<I>,
    wrap: Arc<W>,
    app: String,
    environment: String,
    open: Mutex<HashMap<Scope, Arc<(KeyRef, DataKey)>>>,
}

impl<I: Items, W: KeyWrap> BackupKeys<I, W> {
    pub fn new(items: Arc<I>, wrap: Arc<W>, app: &str, environment: &str) -> Self {
        Self {
            store: BackupKeyStore::new(items),
            wrap,
            app: app.to_owned(),
            environment: environment.to_owned(),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, scope: &Scope) -> Option<Arc<(KeyRef, DataKey)>> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(scope)
            .cloned()
    }

    fn remember(&self, scope: &Scope, key: (KeyRef, DataKey)) -> Arc<(KeyRef, DataKey)> {
        let key = Arc::new(key);
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(scope.clone(), key.clone());
        key
    }

    fn wrap_error(scope: &Scope, e: KeyWrapError) -> KeyError {
        match e {
            KeyWrapError::Unavailable(_) => KeyError::Unavailable {
                scope: scope.clone(),
                source: e,
            },
            _ => KeyError::Unusable {
                scope: scope.clone(),
                source: e,
            },
        }
    }

    /// The scope's key for writing a backup: the stored one, or a new one. `key_id` names a new key.
    pub async fn for_writing(
        &self,
        scope: &Scope,
        new_key_id: impl FnOnce() -> String,
        now: i64,
    ) -> Result<Arc<(KeyRef, DataKey)>, KeyError> {
        if let Some(k) = self.cached(scope) {
            return Ok(k);
        }
        if let Some(record) = self.store.load(scope).await? {
            return self.unwrap_record(scope, &record).await;
        }
        let context = wrapping_context(&self.app, &self.environment, scope);
        let (key, wrapped) = self
            .wrap
            .generate(&context)
            .await
            .map_err(|e| Self::wrap_error(scope, e))?;
        let record = KeyRecord {
            key_id: new_key_id(),
            wrapped: STANDARD.encode(&wrapped.ciphertext),
            wrapped_by: wrapped.wrapped_by,
            created_at: now,
        };
        match self.store.create(scope, &record).await {
            Ok(()) => Ok(self.remember(scope, (record.key_ref(scope), key))),
            // Another run created one first: use that one.
            Err(StoreError::AlreadyExists) => match self.store.load(scope).await? {
                Some(stored) => self.unwrap_record(scope, &stored).await,
                None => Err(KeyError::Erased(scope.clone())),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The scope's key for reading its backups; [`KeyError::Erased`] when it has none.
    pub async fn for_reading(&self, scope: &Scope) -> Result<Arc<(KeyRef, DataKey)>, KeyError> {
        if let Some(k) = self.cached(scope) {
            return Ok(k);
        }
        match self.store.load(scope).await? {
            Some(record) => self.unwrap_record(scope, &record).await,
            None => Err(KeyError::Erased(scope.clone())),
        }
    }

    async fn unwrap_record(
        &self,
        scope: &Scope,
        record: &KeyRecord,
    ) -> Result<Arc<(KeyRef, DataKey)>, KeyError> {
        let wrapped = record.wrapped_key().ok_or_else(|| KeyError::Unusable {
            scope: scope.clone(),
            source: KeyWrapError::Refused,
        })?;
        let context = wrapping_context(&self.app, &self.environment, scope);
        let key = self
            .wrap
            .unwrap(&wrapped, &context)
            .await
            .map_err(|e| Self::wrap_error(scope, e))?;
        Ok(self.remember(scope, (record.key_ref(scope), key)))
    }

    /// Forgets the keys unwrapped so far (the end of an invocation, or an erase seen meanwhile).
    pub fn forget(&self) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
