//! The app's sealer locally: a 256-bit key in a file in the data folder (created 0600 on first
//! use), AES-256-GCM with the context as additional authenticated data.

use std::collections::BTreeMap;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::sealing::{SealError, Sealer};
use superoffice::Secret;

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
    use domain::TenantId;
    use domain::sealing::context;

    use super::*;

    #[tokio::test]
    async fn a_sealed_value_opens_only_with_its_context_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/app.key");
        let sealer = LocalSealer::open_or_create(&path).unwrap();
        let secret = Secret::new("Demo App-8k8Q7DmBgo");
        let ctx = context(&TenantId::parse("Cust12345").unwrap(), "system_token");
        let sealed = sealer.seal(&secret, &ctx).await.unwrap();
        assert!(!sealed.contains("8k8Q7DmBgo"));
        assert_eq!(sealer.open(&sealed, &ctx).await.unwrap(), secret);
        assert!(matches!(
            sealer
                .open(
                    &sealed,
                    &context(&TenantId::parse("Cust67890").unwrap(), "system_token")
                )
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
