//! A backup run's manifest and where a run's objects are kept.
//!
//! Every run writes its objects under a dated prefix, and the manifest last, so a manifest marks a
//! complete run:
//!
//! ```text
//! backups/{environment}/{yyyy}/{mm}/{dd}/{backup id}/app.{attempt}.jsonl.esdk
//! backups/{environment}/{yyyy}/{mm}/{dd}/{backup id}/tenants/{tenant}.{attempt}.jsonl.esdk
//! backups/{environment}/{yyyy}/{mm}/{dd}/{backup id}/manifest.json
//! ```
//!
//! An object is one partition (the app's records, or one tenant) as JSON lines ([`super::line`]),
//! encrypted as a sequence of AWS Encryption SDK messages laid end to end, each holding about 1 MiB
//! of whole lines (written to S3 as a multipart upload of a few messages per upload part). The
//! manifest says, per partition: the object, its messages' sizes (so each can be read with a ranged
//! GET and decrypted alone, by this program or the standard CLI), the item count, the plaintext's
//! size and SHA-256, and the key that encrypts it. It is not encrypted (it names tenants and counts,
//! no data), and a reader trusts nothing in it without checking: each message must decrypt under
//! the partition's key with the encryption context naming the app, the environment, the tenant, the
//! backup id and the message's number, and the decrypted lines must add up to the manifest's count
//! and digest.
//!
//! The attempt in an object's name is new each time a partition is written: a partition abandoned
//! at a Lambda's time limit is written again under another name, never over the first (objects are
//! created only if absent, and the backup's role cannot delete). Only the names in the manifest
//! count; an abandoned attempt expires with the bucket's lifecycle.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::scope::Scope;

/// The manifest format's version; a reader refuses others.
pub const SCHEMA_VERSION: u32 = 1;
/// What the objects hold, named in the manifest for readers without this code.
pub const FORMAT: &str = "jsonl, AWS Encryption SDK message per part (committing suite, raw AES keyring under the partition's data key)";
/// The root of every object key.
pub const ROOT: &str = "backups";

/// A backup's id: its start time and a random suffix, `20270115T030000Z-k3j9xa`. Sorts by time,
/// names the run's prefix, and is bound into every part's encryption context.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BackupId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a backup id (like 20270115T030000Z-k3j9xa)")]
pub struct InvalidBackupId(pub String);

impl BackupId {
    /// A new id for a run started at `unix` seconds, with `suffix` (six lowercase letters or digits).
    pub fn new(unix: i64, suffix: &str) -> Result<Self, InvalidBackupId> {
        let t = OffsetDateTime::from_unix_timestamp(unix)
            .map_err(|_| InvalidBackupId(unix.to_string()))?;
        Self::parse(&format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{suffix}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ))
    }

    pub fn parse(s: &str) -> Result<Self, InvalidBackupId> {
        let b = s.as_bytes();
        let ok = b.len() == 23
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'T'
            && b[9..15].iter().all(u8::is_ascii_digit)
            && b[15] == b'Z'
            && b[16] == b'-'
            && b[17..]
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidBackupId(s.chars().take(64).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `yyyy/mm/dd` of the run's start.
    pub fn date_path(&self) -> String {
        format!("{}/{}/{}", &self.0[..4], &self.0[4..6], &self.0[6..8])
    }
}

impl TryFrom<String> for BackupId {
    type Error = InvalidBackupId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<BackupId> for String {
    fn from(id: BackupId) -> String {
        id.0
    }
}

impl std::fmt::Display for BackupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Object keys of one environment's backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    environment: String,
}

impl Layout {
    pub fn new(environment: &str) -> Self {
        Self {
            environment: environment.to_owned(),
        }
    }

    /// `backups/{environment}/`: everything of this environment.
    pub fn root(&self) -> String {
        format!("{ROOT}/{}/", self.environment)
    }

    /// The run's folder.
    pub fn run(&self, id: &BackupId) -> String {
        format!("{}{}/{}/", self.root(), id.date_path(), id)
    }

    pub fn manifest(&self, id: &BackupId) -> String {
        format!("{}manifest.json", self.run(id))
    }

    /// The object of one partition, for one attempt.
    pub fn partition(&self, id: &BackupId, scope: &Scope, attempt: &str) -> String {
        match scope {
            Scope::App => format!("{}app.{attempt}.jsonl.esdk", self.run(id)),
            Scope::Tenant(t) => format!("{}tenants/{t}.{attempt}.jsonl.esdk", self.run(id)),
        }
    }
}

/// Which data key encrypts a partition, for readers: the key's id (new whenever a scope gets a new
/// key), the name the keyring gives it in every message, and the KMS key (or local key file) that
/// wraps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRef {
    pub key_id: String,
    pub key_name: String,
    pub wrapped_by: String,
}

/// One partition of a run, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub scope: Scope,
    pub object: String,
    pub items: u64,
    pub plaintext_bytes: u64,
    /// Lowercase hex SHA-256 of the partition's whole plaintext (all messages, in order).
    pub plaintext_sha256: String,
    /// Each message's size in bytes, in order; the object is exactly their sum.
    pub messages: Vec<u64>,
    pub key: KeyRef,
}

impl Entry {
    pub fn object_bytes(&self) -> u64 {
        self.messages.iter().sum()
    }
}

/// Sums over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub partitions: u64,
    pub tenants: u64,
    pub items: u64,
    pub plaintext_bytes: u64,
    pub object_bytes: u64,
}

/// A complete run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub format: String,
    pub app: String,
    pub environment: String,
    /// The version of the program that wrote the backup.
    pub app_version: String,
    pub backup_id: BackupId,
    /// Unix seconds.
    pub started_at: i64,
    pub completed_at: i64,
    /// How many invocations the run took (more than one when it continued after a time limit).
    pub invocations: u32,
    pub totals: Totals,
    /// The app's records first, then the tenants in id order.
    pub partitions: Vec<Entry>,
}

/// Why a manifest cannot be used. Each says what is wrong; none is repaired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestProblem {
    #[error("the manifest is not readable: {0}")]
    Unreadable(String),
    #[error("the manifest has format version {0}; this program reads version {SCHEMA_VERSION}")]
    Schema(u32),
    #[error("the backup belongs to app {found:?}, not {expected:?}")]
    OtherApp { found: String, expected: String },
    #[error("the backup belongs to the {found:?} environment, not {expected:?}")]
    OtherEnvironment { found: String, expected: String },
    #[error("the manifest was found at {found} but names backup {named}")]
    Misplaced { found: String, named: BackupId },
    #[error("the manifest does not add up: {0}")]
    Inconsistent(String),
}

impl Manifest {
    /// Reads a manifest found at `key` and checks it is one of ours: this format, this app, this
    /// environment, at the place its id says, with totals that add up and one entry per scope.
    pub fn read(
        bytes: &[u8],
        key: &str,
        app: &str,
        environment: &str,
    ) -> Result<Manifest, ManifestProblem> {
        #[derive(Deserialize)]
        struct Version {
            schema: u32,
        }
        let version: Version = serde_json::from_slice(bytes)
            .map_err(|e| ManifestProblem::Unreadable(e.to_string()))?;
        if version.schema != SCHEMA_VERSION {
            return Err(ManifestProblem::Schema(version.schema));
        }
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| ManifestProblem::Unreadable(e.to_string()))?;
        if m.app != app {
            return Err(ManifestProblem::OtherApp {
                found: m.app,
                expected: app.to_owned(),
            });
        }
        if m.environment != environment {
            return Err(ManifestProblem::OtherEnvironment {
                found: m.environment,
                expected: environment.to_owned(),
            });
        }
        let layout = Layout::new(environment);
        if layout.manifest(&m.backup_id) != key {
            return Err(ManifestProblem::Misplaced {
                found: key.to_owned(),
                named: m.backup_id,
            });
        }
        m.check()?;
        Ok(m)
    }

    /// Totals equal the entries' sums, scopes are unique, and every object lies in the run's folder
    /// under its scope's name.
    pub fn check(&self) -> Result<(), ManifestProblem> {
        let bad = |s: String| Err(ManifestProblem::Inconsistent(s));
        let mut t = Totals::default();
        let mut seen = std::collections::BTreeSet::new();
        let layout = Layout::new(&self.environment);
        for e in &self.partitions {
            if !seen.insert(e.scope.clone()) {
                return bad(format!("{} is listed twice", e.scope));
            }
            let expected = layout.partition(&self.backup_id, &e.scope, "");
            let (stem, _) = expected.split_at(expected.len() - ".jsonl.esdk".len());
            let attempt = e
                .object
                .strip_prefix(stem)
                .and_then(|rest| rest.strip_suffix(".jsonl.esdk"));
            if !attempt.is_some_and(|a| {
                !a.is_empty()
                    && a.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            }) {
                return bad(format!(
                    "{}'s object {} is not in the run's folder",
                    e.scope, e.object
                ));
            }
            if e.messages.is_empty() || e.messages.contains(&0) {
                return bad(format!("{} lists an empty message", e.scope));
            }
            if e.plaintext_sha256.len() != 64
                || !e
                    .plaintext_sha256
                    .bytes()
                    .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
            {
                return bad(format!("{}'s digest is not a SHA-256", e.scope));
            }
            t.partitions += 1;
            t.tenants += u64::from(matches!(e.scope, Scope::Tenant(_)));
            t.items += e.items;
            t.plaintext_bytes += e.plaintext_bytes;
            t.object_bytes += e.object_bytes();
        }
        if t != self.totals {
            return bad(format!(
                "totals {:?} but the partitions add up to {:?}",
                self.totals, t
            ));
        }
        Ok(())
    }

    pub fn entry(&self, scope: &Scope) -> Option<&Entry> {
        self.partitions.iter().find(|e| &e.scope == scope)
    }
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use superoffice::TenantId;

    use super::*;

    #[test]
    fn backup_ids_sort_by_time_and_name_a_dated_folder() {
        let id = BackupId::new(1_800_000_000, "k3j9xa").unwrap();
        assert_eq!(id.as_str(), "20270115T080000Z-k3j9xa");
        assert_eq!(id.date_path(), "2027/01/15");
        let layout = Layout::new("sod");
        let tenant = Scope::Tenant(TenantId::parse("Cust12345").unwrap());
        assert_eq!(
            layout.partition(&id, &tenant, "a1"),
            "backups/sod/2027/01/15/20270115T080000Z-k3j9xa/tenants/Cust12345.a1.jsonl.esdk"
        );
        assert_eq!(
            layout.manifest(&id),
            "backups/sod/2027/01/15/20270115T080000Z-k3j9xa/manifest.json"
        );
        assert!(BackupId::new(1_800_000_000, "../x").is_err());
        assert!(BackupId::parse("20270115T080000Z-K3J9XA").is_err());
        assert!(BackupId::new(1_800_000_001, "aaaaaa").unwrap() > id);
    }
}
