//! Test doubles for the backup's ports (feature `testing`): an in-memory object store, and a key
//! wrap and message cipher that really encrypt (AES-256-GCM with the context as associated data), so a
//! flipped byte, a wrong context or a wrong key fails as it does with KMS and the Encryption SDK.
//! The wrap counts its calls, for the "KMS once per tenant" rule.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::cipher::{CipherError, MessageCipher};
use super::keys::{DataKey, KeyWrap, KeyWrapError, WrappedKey};
use super::objects::{BackupObjects, ObjectError, ObjectWriter};
use super::service::BackupPorts;
use crate::store::memory::MemoryItems;

fn aead(key: &[u8]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key"))
}

fn seal(key: &[u8], aad: &[u8], mut data: Vec<u8>) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).expect("randomness");
    aead(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut data,
        )
        .expect("seal");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    out
}

fn open(key: &[u8], aad: &[u8], mut data: Vec<u8>) -> Option<Vec<u8>> {
    if data.len() < NONCE_LEN {
        return None;
    }
    let mut body = data.split_off(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(&data).ok()?;
    let plain = aead(key)
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .ok()?;
    Some(plain.to_vec())
}

fn aad(context: &BTreeMap<String, String>, name: &str) -> Vec<u8> {
    serde_json::to_vec(&(context, name)).expect("JSON")
}

/// Wraps data keys under a fixed test key, bound to the context; counts calls.
#[derive(Debug, Default)]
pub struct TestWrap {
    pub generated: AtomicU64,
    pub unwrapped: AtomicU64,
}

const WRAPPING_KEY: [u8; 32] = [42; 32];

impl TestWrap {
    /// Calls to the key service so far.
    pub fn calls(&self) -> u64 {
        self.generated.load(Ordering::SeqCst) + self.unwrapped.load(Ordering::SeqCst)
    }
}

impl KeyWrap for TestWrap {
    async fn generate(
        &self,
        context: &BTreeMap<String, String>,
    ) -> Result<(DataKey, WrappedKey), KeyWrapError> {
        self.generated.fetch_add(1, Ordering::SeqCst);
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k).map_err(|_| KeyWrapError::Misconfigured("rand".into()))?;
        let wrapped = seal(&WRAPPING_KEY, &aad(context, ""), k.to_vec());
        Ok((
            DataKey::from_bytes(&k).expect("32 bytes"),
            WrappedKey {
                ciphertext: wrapped,
                wrapped_by: "test".into(),
            },
        ))
    }

    async fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &BTreeMap<String, String>,
    ) -> Result<DataKey, KeyWrapError> {
        self.unwrapped.fetch_add(1, Ordering::SeqCst);
        open(&WRAPPING_KEY, &aad(context, ""), wrapped.ciphertext.clone())
            .and_then(|k| DataKey::from_bytes(&k))
            .ok_or(KeyWrapError::Refused)
    }
}

/// AES-256-GCM under the partition's data key, the context and key name as associated data.
#[derive(Debug, Default)]
pub struct TestCipher;

impl MessageCipher for TestCipher {
    async fn seal(
        &self,
        key: &DataKey,
        key_name: &str,
        context: &BTreeMap<String, String>,
        plaintext: Vec<u8>,
    ) -> Result<Vec<u8>, CipherError> {
        Ok(seal(key.expose(), &aad(context, key_name), plaintext))
    }

    async fn open(
        &self,
        key: &DataKey,
        key_name: &str,
        context: &BTreeMap<String, String>,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, CipherError> {
        open(key.expose(), &aad(context, key_name), message)
            .ok_or_else(|| CipherError::Rejected("the test cipher's tag does not match".into()))
    }
}

/// Objects in memory.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryObjects {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every object's key.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Replaces an object's bytes, as someone with write access to the bucket could.
    pub fn tamper(&self, key: &str, f: impl FnOnce(&mut Vec<u8>)) {
        let mut objects = self.lock();
        f(objects.get_mut(key).expect("the object exists"));
    }

    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().get(key).cloned()
    }
}

pub struct MemoryWriter {
    store: Arc<MemoryObjects>,
    key: String,
    parts: Vec<Vec<u8>>,
}

impl ObjectWriter for MemoryWriter {
    async fn append(&mut self, bytes: Vec<u8>) -> Result<(), ObjectError> {
        self.parts.push(bytes);
        Ok(())
    }

    async fn finish(self) -> Result<(), ObjectError> {
        let mut objects = self.store.lock();
        if objects.contains_key(&self.key) {
            return Err(ObjectError::AlreadyExists(self.key));
        }
        objects.insert(self.key, self.parts.concat());
        Ok(())
    }
}

/// The shared in-memory store behind [`MemoryObjects`], so writers can hold it.
#[derive(Debug, Default, Clone)]
pub struct SharedObjects(pub Arc<MemoryObjects>);

impl BackupObjects for SharedObjects {
    type Writer = MemoryWriter;

    async fn create(&self, key: &str) -> Result<MemoryWriter, ObjectError> {
        Ok(MemoryWriter {
            store: self.0.clone(),
            key: key.to_owned(),
            parts: Vec::new(),
        })
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        let mut objects = self.0.lock();
        if objects.contains_key(key) {
            return Err(ObjectError::AlreadyExists(key.to_owned()));
        }
        objects.insert(key.to_owned(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        self.0
            .bytes(key)
            .ok_or_else(|| ObjectError::NotFound(key.to_owned()))
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, ObjectError> {
        let bytes = self.get(key).await?;
        let (from, to) = (offset as usize, (offset + len) as usize);
        if bytes.len() < to {
            return Err(ObjectError::Truncated {
                key: key.to_owned(),
                from: offset,
                to: offset + len,
                got: bytes.len().saturating_sub(from) as u64,
            });
        }
        Ok(bytes[from..to].to_vec())
    }

    async fn size(&self, key: &str) -> Result<u64, ObjectError> {
        Ok(self.get(key).await?.len() as u64)
    }

    async fn children(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let mut out: Vec<String> = self
            .0
            .keys()
            .iter()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(|rest| match rest.find('/') {
                Some(i) => rest[..=i].to_owned(),
                None => rest.to_owned(),
            })
            .collect();
        out.dedup();
        Ok(out)
    }
}

/// The test ports: in-memory items and objects, the test wrap and cipher.
pub struct TestPorts;

impl BackupPorts for TestPorts {
    type Items = MemoryItems;
    type Wrap = TestWrap;
    type Cipher = TestCipher;
    type Objects = SharedObjects;
}
