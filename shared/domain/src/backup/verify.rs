//! Reading a backup back: finding runs, checking a run against its manifest (`soapp backup verify`
//! and the scheduled restore drill), and the partition reader restore uses.
//!
//! A partition passes when its object has exactly the manifest's size, every message decrypts under
//! the partition's key with its own encryption context (app, environment, tenant, backup id,
//! message number), every line is an item of that partition, and the lines' count, byte size and SHA-256
//! equal the manifest's. A tenant whose key was erased is reported as erased: expected after an
//! uninstall, and not a failure of the backup.

use std::sync::Arc;

use aws_lc_rs::digest;

use super::cipher::{MessageCipher, message_context};
use super::keys::{DataKey, KeyError};
use super::line::{Line, LineReader};
use super::manifest::{BackupId, Entry, KeyRef, Manifest, ManifestProblem, hex};
use super::objects::{BackupObjects, ObjectError};
use super::records::Verified;
use super::scope::Scope;
use super::service::{BackupPorts, Backups};
use crate::store::StoreError;

/// Which run to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// The newest complete run in the object store.
    Newest,
    Id(BackupId),
}

/// Why a run cannot be read at all. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("there is no complete backup of this environment yet")]
    NoBackup,
    #[error("backup {0} has no manifest (it does not exist, or its run did not complete)")]
    NotFound(BackupId),
    #[error("backup {id}: {problem}")]
    Manifest {
        id: String,
        #[source]
        problem: ManifestProblem,
    },
    #[error("the object store: {0}")]
    Objects(#[from] ObjectError),
    #[error("the table: {0}")]
    Store(#[from] StoreError),
}

/// What is wrong with one partition of a backup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionProblem {
    /// The scope's key was erased (an uninstalled or deleted tenant): the backup is unreadable by
    /// design.
    #[error("its key was erased: unreadable by design")]
    Erased,
    #[error("its key cannot be used: {0}")]
    KeyUnusable(String),
    #[error("its object {0} is missing")]
    Missing(String),
    #[error("its object is {found} bytes, the manifest says {expected} (cut short or appended to)")]
    Size { expected: u64, found: u64 },
    #[error(
        "message {message} does not decrypt with its key and encryption context (tampered with, or moved from another backup, tenant or environment): {reason}"
    )]
    Rejected { message: usize, reason: String },
    #[error("line {line} belongs to partition {pk}, not to this one")]
    Foreign { line: u64, pk: String },
    #[error("{0}")]
    Unreadable(String),
    #[error("its content does not match the manifest: {0}")]
    Mismatch(String),
    #[error("the object store or key service is unavailable: {0}")]
    Unavailable(String),
}

/// One partition's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCheck {
    pub scope: Scope,
    pub items: u64,
    pub outcome: Result<(), PartitionProblem>,
}

/// A run checked against its manifest.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub manifest: Manifest,
    pub checks: Vec<PartitionCheck>,
}

impl VerifyReport {
    /// Every partition decrypted and matched its manifest entry (erased tenants aside).
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|c| matches!(c.outcome, Ok(()) | Err(PartitionProblem::Erased)))
    }

    pub fn erased(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.outcome == Err(PartitionProblem::Erased))
            .count()
    }
}

/// What the restore drill found.
#[derive(Debug, Clone)]
pub struct DrillResult {
    pub report: VerifyReport,
    /// The newest verified backup's age in seconds (this one's if it passed), if any was ever
    /// verified: what the freshness alarm watches.
    pub newest_verified_age: Option<i64>,
}

impl<P: BackupPorts> Backups<P> {
    /// Complete runs in the object store, newest first (at most `limit`).
    pub async fn list(&self, limit: usize) -> Result<Vec<BackupId>, ReadError> {
        let mut out = Vec::new();
        self.walk_runs(&self.layout.root(), 0, limit, &mut out)
            .await?;
        Ok(out)
    }

    /// Walks `backups/{env}/yyyy/mm/dd/{id}/` newest first, keeping runs with a manifest.
    async fn walk_runs(
        &self,
        prefix: &str,
        depth: usize,
        limit: usize,
        out: &mut Vec<BackupId>,
    ) -> Result<(), ReadError> {
        let mut children = self.objects.children(prefix).await?;
        children.retain(|c| c.ends_with('/'));
        children.reverse();
        for child in children {
            if out.len() >= limit {
                return Ok(());
            }
            let name = child.trim_end_matches('/');
            if depth < 3 {
                if name.bytes().all(|b| b.is_ascii_digit()) {
                    Box::pin(self.walk_runs(&format!("{prefix}{child}"), depth + 1, limit, out))
                        .await?;
                }
            } else if let Ok(id) = BackupId::parse(name) {
                let has_manifest = self
                    .objects
                    .children(&format!("{prefix}{child}"))
                    .await?
                    .iter()
                    .any(|c| c == "manifest.json");
                if has_manifest {
                    out.push(id);
                }
            }
        }
        Ok(())
    }

    /// The manifest of a run, checked to be this app's and this environment's.
    pub async fn manifest(&self, which: &Which) -> Result<Manifest, ReadError> {
        let id = match which {
            Which::Id(id) => id.clone(),
            Which::Newest => self
                .list(1)
                .await?
                .into_iter()
                .next()
                .ok_or(ReadError::NoBackup)?,
        };
        let key = self.layout.manifest(&id);
        let bytes = match self.objects.get(&key).await {
            Ok(b) => b,
            Err(ObjectError::NotFound(_)) => return Err(ReadError::NotFound(id)),
            Err(e) => return Err(e.into()),
        };
        Manifest::read(&bytes, &key, &self.settings.app, &self.settings.environment).map_err(
            |problem| ReadError::Manifest {
                id: id.to_string(),
                problem,
            },
        )
    }

    /// Decrypts every partition of a run and compares it with the manifest. Changes nothing.
    pub async fn verify(&self, which: &Which) -> Result<VerifyReport, ReadError> {
        let manifest = self.manifest(which).await?;
        let mut checks = Vec::with_capacity(manifest.partitions.len());
        for entry in &manifest.partitions {
            let outcome = match self.reader(&manifest.backup_id, entry).await {
                Ok(mut reader) => loop {
                    match reader.next_lines().await {
                        Ok(Some(_)) => continue,
                        Ok(None) => break reader.finish(),
                        Err(e) => break Err(e),
                    }
                },
                Err(e) => Err(e),
            };
            if let Err(problem) = &outcome
                && problem != &PartitionProblem::Erased
            {
                tracing::warn!(reason = "backup_verify_failed", backup_id = %manifest.backup_id, scope = entry.scope.name(), problem = %problem, "a partition of the backup does not verify");
            }
            checks.push(PartitionCheck {
                scope: entry.scope.clone(),
                items: entry.items,
                outcome,
            });
        }
        self.keys.forget();
        Ok(VerifyReport { manifest, checks })
    }

    /// The scheduled restore drill: verifies the newest backup and, when it passes, records it as
    /// the newest verified one. Changes nothing else.
    pub async fn drill(&self) -> Result<DrillResult, ReadError> {
        let report = self.verify(&Which::Newest).await?;
        let now = self.now();
        if report.passed() {
            self.records
                .save_verified(&Verified {
                    backup_id: report.manifest.backup_id.clone(),
                    backup_completed_at: report.manifest.completed_at,
                    verified_at: now,
                })
                .await?;
        }
        let newest_verified_age = self
            .records
            .verified(now)
            .await?
            .map(|v| now - v.backup_completed_at);
        Ok(DrillResult {
            report,
            newest_verified_age,
        })
    }

    /// A reader of one partition of a run: the key is unwrapped and the object's size checked
    /// before anything is decrypted.
    pub(super) async fn reader(
        &self,
        backup_id: &BackupId,
        entry: &Entry,
    ) -> Result<PartitionReader<'_, P>, PartitionProblem> {
        let key = match self.keys.for_reading(&entry.scope).await {
            Ok(k) => k,
            Err(KeyError::Erased(_)) => return Err(PartitionProblem::Erased),
            Err(KeyError::Unavailable { source, .. }) => {
                return Err(PartitionProblem::Unavailable(source.to_string()));
            }
            Err(KeyError::Store(e)) => return Err(PartitionProblem::Unavailable(e.to_string())),
            Err(e) => return Err(PartitionProblem::KeyUnusable(e.to_string())),
        };
        // The scope has a key, but not the one this backup was written under: the key it was
        // written under was erased (the tenant was removed and installed again since).
        if key.0.key_id != entry.key.key_id {
            return Err(PartitionProblem::Erased);
        }
        match self.objects.size(&entry.object).await {
            Ok(size) if size == entry.object_bytes() => {}
            Ok(found) => {
                return Err(PartitionProblem::Size {
                    expected: entry.object_bytes(),
                    found,
                });
            }
            Err(ObjectError::NotFound(key)) => return Err(PartitionProblem::Missing(key)),
            Err(e) => return Err(PartitionProblem::Unavailable(e.to_string())),
        }
        Ok(PartitionReader {
            backups: self,
            backup_id: backup_id.clone(),
            entry: entry.clone(),
            key,
            message: 0,
            offset: 0,
            sha: digest::Context::new(&digest::SHA256),
            lines: LineReader::default(),
            counted: 0,
            bytes: 0,
            pk: entry.scope.partition_key(),
        })
    }
}

/// Reads one partition of a backup a message at a time, checking as it goes; [`PartitionReader::finish`]
/// compares the whole with the manifest. Lines handed out before `finish` are only trustworthy once
/// it passes.
pub struct PartitionReader<'a, P: BackupPorts> {
    backups: &'a Backups<P>,
    backup_id: BackupId,
    entry: Entry,
    key: Arc<(KeyRef, DataKey)>,
    message: usize,
    offset: u64,
    sha: digest::Context,
    lines: LineReader,
    counted: u64,
    bytes: u64,
    pk: String,
}

impl<P: BackupPorts> PartitionReader<'_, P> {
    /// The next message's lines, or `None` after the last one.
    pub async fn next_lines(&mut self) -> Result<Option<Vec<Line>>, PartitionProblem> {
        let Some(&size) = self.entry.messages.get(self.message) else {
            return Ok(None);
        };
        let number = self.message + 1;
        let b = self.backups;
        let message = b
            .objects
            .get_range(&self.entry.object, self.offset, size)
            .await
            .map_err(|e| match e {
                ObjectError::Truncated { .. } => PartitionProblem::Size {
                    expected: self.entry.object_bytes(),
                    found: self.offset,
                },
                ObjectError::NotFound(k) => PartitionProblem::Missing(k),
                other => PartitionProblem::Unavailable(other.to_string()),
            })?;
        let context = message_context(
            &b.settings.app,
            &b.settings.environment,
            &self.entry.scope,
            &self.backup_id,
            number,
        );
        let plaintext = b
            .cipher
            .open(&self.key.1, &self.key.0.key_name, &context, message)
            .await
            .map_err(|e| PartitionProblem::Rejected {
                message: number,
                reason: e.to_string(),
            })?;
        self.message += 1;
        self.offset += size;
        self.bytes += plaintext.len() as u64;
        self.sha.update(&plaintext);
        let mut lines = Vec::new();
        let pk = &self.pk;
        let mut foreign = None;
        let mut counted = self.counted;
        self.lines
            .feed(&plaintext, &mut counted, |line| {
                if &line.pk != pk && foreign.is_none() {
                    foreign = Some(line.pk.clone());
                }
                lines.push(line);
                Ok(())
            })
            .map_err(|e| PartitionProblem::Unreadable(e.to_string()))?;
        self.counted = counted;
        if let Some(pk) = foreign {
            return Err(PartitionProblem::Foreign {
                line: self.counted,
                pk,
            });
        }
        Ok(Some(lines))
    }

    /// After the last message: the lines' count, size and digest equal the manifest's.
    pub fn finish(self) -> Result<(), PartitionProblem> {
        if self.message != self.entry.messages.len() {
            return Err(PartitionProblem::Mismatch(format!(
                "read {} of {} messages",
                self.message,
                self.entry.messages.len()
            )));
        }
        self.lines
            .finish()
            .map_err(|e| PartitionProblem::Unreadable(e.to_string()))?;
        let sha = hex(self.sha.finish().as_ref());
        let e = &self.entry;
        if self.counted != e.items {
            return Err(PartitionProblem::Mismatch(format!(
                "{} items, the manifest says {}",
                self.counted, e.items
            )));
        }
        if self.bytes != e.plaintext_bytes {
            return Err(PartitionProblem::Mismatch(format!(
                "{} bytes of plaintext, the manifest says {}",
                self.bytes, e.plaintext_bytes
            )));
        }
        if sha != e.plaintext_sha256 {
            return Err(PartitionProblem::Mismatch(format!(
                "SHA-256 {sha}, the manifest says {}",
                e.plaintext_sha256
            )));
        }
        Ok(())
    }
}
