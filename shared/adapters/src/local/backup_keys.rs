//! The backup's key wrap on one machine: a 256-bit key in a file in the data folder (created 0600
//! on first use) wraps each tenant's data key with AES-256-GCM, the encryption context as
//! associated data, as KMS would with `GenerateDataKey` and `Decrypt`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use domain::backup::keys::{DataKey, KeyWrap, KeyWrapError, WrappedKey};

pub struct LocalKeyWrap {
    key: LessSafeKey,
    path: PathBuf,
}

impl std::fmt::Debug for LocalKeyWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalKeyWrap({})", self.path.display())
    }
}

fn misconfigured(e: impl std::fmt::Display) -> KeyWrapError {
    KeyWrapError::Misconfigured(e.to_string())
}

impl LocalKeyWrap {
    /// Opens the key file, creating it with a new random key if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, KeyWrapError> {
        let bytes = match std::fs::read(path) {
            Ok(b) if b.len() == 32 => b,
            Ok(_) => {
                return Err(misconfigured(format!(
                    "{} is not a 32-byte key",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut k).map_err(|_| misconfigured("no randomness"))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(misconfigured)?;
                }
                write_private(path, &k)?;
                k
            }
            Err(e) => return Err(misconfigured(format!("{}: {e}", path.display()))),
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| misconfigured("bad key"))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            path: path.to_owned(),
        })
    }

    fn aad(context: &BTreeMap<String, String>) -> Vec<u8> {
        serde_json::to_vec(context).unwrap_or_default()
    }

    /// How the manifest names this wrapping key: the file's name (a folder can move).
    fn name(&self) -> String {
        format!(
            "local:{}",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyWrapError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(misconfigured)?;
    f.write_all(bytes).map_err(misconfigured)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyWrapError> {
    std::fs::write(path, bytes).map_err(misconfigured)
}

impl KeyWrap for LocalKeyWrap {
    async fn generate(
        &self,
        context: &BTreeMap<String, String>,
    ) -> Result<(DataKey, WrappedKey), KeyWrapError> {
        let mut plain = [0u8; 32];
        aws_lc_rs::rand::fill(&mut plain).map_err(|_| misconfigured("no randomness"))?;
        let key = DataKey::from_bytes(&plain).ok_or_else(|| misconfigured("key size"))?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| misconfigured("no randomness"))?;
        let mut data = plain.to_vec();
        plain = [0; 32];
        std::hint::black_box(&plain);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(context)),
                &mut data,
            )
            .map_err(|_| misconfigured("sealing failed"))?;
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&data);
        Ok((
            key,
            WrappedKey {
                ciphertext,
                wrapped_by: self.name(),
            },
        ))
    }

    async fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &BTreeMap<String, String>,
    ) -> Result<DataKey, KeyWrapError> {
        if wrapped.ciphertext.len() < NONCE_LEN {
            return Err(KeyWrapError::Refused);
        }
        let (nonce, body) = wrapped.ciphertext.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyWrapError::Refused)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(Self::aad(context)), &mut body)
            .map_err(|_| KeyWrapError::Refused)?;
        DataKey::from_bytes(plain).ok_or(KeyWrapError::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wrapped_key_opens_only_with_its_context_and_the_same_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let wrap = LocalKeyWrap::open_or_create(&dir.path().join("backup.key")).unwrap();
        let ctx = |t: &str| BTreeMap::from([("tenant".to_owned(), t.to_owned())]);
        let (key, wrapped) = wrap.generate(&ctx("Cust1")).await.unwrap();
        assert_eq!(wrapped.wrapped_by, "local:backup.key");
        let again = LocalKeyWrap::open_or_create(&dir.path().join("backup.key")).unwrap();
        assert_eq!(
            again
                .unwrap(&wrapped, &ctx("Cust1"))
                .await
                .unwrap()
                .expose(),
            key.expose()
        );
        assert!(matches!(
            again.unwrap(&wrapped, &ctx("Cust2")).await,
            Err(KeyWrapError::Refused)
        ));
        let other = LocalKeyWrap::open_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other.unwrap(&wrapped, &ctx("Cust1")).await.is_err());
    }
}
