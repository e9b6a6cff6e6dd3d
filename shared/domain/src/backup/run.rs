//! A backup run: every partition, read by query a page at a time, cut into messages of about
//! 1 MiB of plaintext, each one encrypted message, the messages of a partition one object; then the
//! manifest.
//!
//! * Memory holds one message's plaintext and ciphertext (and the S3 adapter one upload part),
//!   whatever the size of the table.
//! * KMS is asked once per partition (its key), never per item or message.
//! * Tenants are written four at a time (KMS, DynamoDB and S3 wait on the network, not the CPU);
//!   only one of them at a time may be larger than one message (and so buffer an upload part),
//!   and two messages at most are encrypted at once, so memory stays flat however many and however
//!   large the tenants are.
//! * The run is resumable. It starts with the app's records, then walks the tenants in id order;
//!   after each group it saves a checkpoint (the last tenant written) in the table. An invocation
//!   that nears its time limit stops before the next partition (or gives up the one in progress,
//!   whose object was never made visible) and the next invocation continues from the checkpoint;
//!   the result is the same as one long run.
//! * One invocation at a time: the checkpoint carries a lease (until the holder's deadline), taken
//!   and renewed with versioned writes. An invocation that finds the run held ends at once.
//! * A tenant partition is read item by item while the app keeps working: a backup is consistent
//!   per item, not a snapshot of the table at one instant (DynamoDB's point-in-time recovery is
//!   that; see the module docs).

use aws_lc_rs::digest;

use super::cipher::{CipherError, MessageCipher, message_context};
use super::keys::{DataKey, KeyError};
use super::line::Line;
use super::manifest::{BackupId, Entry, FORMAT, KeyRef, Manifest, SCHEMA_VERSION, Totals, hex};
use super::objects::{BackupObjects, ObjectError, ObjectWriter};
use super::records::{Checkpoint, Latest};
use super::scope::{Scope, TENANT_HEAD, TENANT_PREFIX};
use super::service::{BackupPorts, Backups, Budget, RandomnessUnavailable, join_all, random_name};
use crate::store::{Items, StoreError};

/// Tenants listed per query of the index.
const TENANTS_PER_PAGE: usize = 100;
/// Tenants written at once (their work is mostly waiting on DynamoDB, KMS and S3).
const TENANTS_AT_ONCE: usize = 4;

/// What starts an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The schedule: continue the run in progress, or start one.
    Start,
    /// The continuation tick: continue the run in progress; nothing to do without one.
    Continue,
}

/// How an invocation ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// The run is complete: its manifest is written.
    Finished(Box<Manifest>),
    /// The invocation's time is up; the next continues from the checkpoint.
    Paused {
        backup_id: BackupId,
        partitions_done: u64,
    },
    /// Another invocation holds the run.
    Busy { backup_id: BackupId },
    /// A continuation tick without a run in progress.
    Idle,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The table could not be read or written; the next invocation continues.
    #[error("the table: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the object store: {0}")]
    Objects(#[from] ObjectError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    /// Another invocation took the run over (this one outlived its lease); it stops.
    #[error("another invocation took over the backup run {0}")]
    LeaseLost(BackupId),
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
    #[error("{0} cannot be written as a line: {1}")]
    Unwritable(String, serde_json::Error),
    #[error("the backup service is shutting down")]
    ShuttingDown,
}

/// What writing one partition gave.
enum Written {
    Done(Entry),
    /// Given up at the time limit; nothing visible was written.
    Abandoned,
}

impl<P: BackupPorts> Backups<P> {
    /// One invocation of the backup: starts or continues the run and goes on while `budget` allows.
    pub async fn run(
        &self,
        trigger: Trigger,
        budget: &dyn Budget,
    ) -> Result<RunOutcome, BackupError> {
        let now = self.now();
        let owner = random_name(12)?;
        let stored = self.records.checkpoint(now).await?;
        let (mut checkpoint, mut version) = match stored {
            Some((c, _)) if c.completed_at.is_none() && c.lease_until > now => {
                return Ok(RunOutcome::Busy {
                    backup_id: c.backup_id,
                });
            }
            Some((c, v)) if c.completed_at.is_none() => (c, v),
            // No run in progress (none yet, or the last one completed).
            _ if trigger == Trigger::Continue => return Ok(RunOutcome::Idle),
            _ => (
                Checkpoint {
                    backup_id: BackupId::new(now, &random_name(6)?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    started_at: now,
                    app_done: false,
                    after_tenant: None,
                    partitions_done: 0,
                    invocations: 0,
                    lease_until: 0,
                    lease_owner: String::new(),
                    completed_at: None,
                },
                stored.map_or(0, |(_, v)| v),
            ),
        };
        checkpoint.invocations += 1;
        checkpoint.lease_until = budget.lease_until(now);
        checkpoint.lease_owner = owner;
        version = self.claim(&checkpoint, version).await?;
        let id = checkpoint.backup_id.clone();
        tracing::info!(backup_id = %id, invocation = checkpoint.invocations, partitions_done = checkpoint.partitions_done, "backup run");

        let result = self.walk(&mut checkpoint, &mut version, budget).await;
        // The keys unwrapped in this invocation are not kept beyond it.
        self.keys.forget();
        match result? {
            false => {
                // Hand the run on at once rather than when the lease ends.
                checkpoint.lease_until = 0;
                self.claim(&checkpoint, version).await?;
                tracing::info!(backup_id = %id, partitions_done = checkpoint.partitions_done, "backup paused at the time limit; the next invocation continues");
                Ok(RunOutcome::Paused {
                    backup_id: id,
                    partitions_done: checkpoint.partitions_done,
                })
            }
            true => {
                let manifest = self.complete(&checkpoint).await?;
                checkpoint.completed_at = Some(manifest.completed_at);
                checkpoint.lease_until = 0;
                self.claim(&checkpoint, version).await?;
                tracing::info!(backup_id = %id, partitions = manifest.totals.partitions, items = manifest.totals.items, invocations = manifest.invocations, "backup complete");
                Ok(RunOutcome::Finished(Box::new(manifest)))
            }
        }
    }

    /// Saves the checkpoint if nobody else wrote it since `version`.
    async fn claim(&self, checkpoint: &Checkpoint, version: u64) -> Result<u64, BackupError> {
        match self.records.save_checkpoint(checkpoint, version).await {
            Ok(v) => Ok(v),
            Err(StoreError::Conflict) | Err(StoreError::AlreadyExists) => {
                Err(BackupError::LeaseLost(checkpoint.backup_id.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes partitions until all are done (`true`) or the budget ends (`false`).
    async fn walk(
        &self,
        checkpoint: &mut Checkpoint,
        version: &mut u64,
        budget: &dyn Budget,
    ) -> Result<bool, BackupError> {
        let id = checkpoint.backup_id.clone();
        if !checkpoint.app_done {
            if !budget.may_start_partition() {
                return Ok(false);
            }
            match self.write_partition(&id, &Scope::App, budget).await? {
                Written::Abandoned => return Ok(false),
                Written::Done(entry) => {
                    self.records
                        .save_entry(&id, &entry, self.records_expire_at())
                        .await?;
                    checkpoint.app_done = true;
                    checkpoint.partitions_done += 1;
                    checkpoint.lease_until = budget.lease_until(self.now());
                    *version = self.claim(checkpoint, *version).await?;
                }
            }
        }
        loop {
            let page = self
                .items
                .partitions(
                    TENANT_PREFIX,
                    TENANT_HEAD,
                    checkpoint.after_tenant.as_deref(),
                    TENANTS_PER_PAGE,
                    self.now(),
                )
                .await?;
            // A few tenants are written at once; the checkpoint moves past the last one started
            // once all of the group are written.
            for group in page.entries.chunks(TENANTS_AT_ONCE) {
                let mut started = Vec::new();
                for pk in group {
                    if !budget.may_start_partition() {
                        break;
                    }
                    started.push(pk.clone());
                }
                let outcomes = join_all(
                    started
                        .iter()
                        .map(|pk| self.write_tenant(&id, pk, budget))
                        .collect(),
                )
                .await;
                let mut abandoned = false;
                for outcome in outcomes {
                    match outcome? {
                        Some(Written::Done(_)) => checkpoint.partitions_done += 1,
                        Some(Written::Abandoned) => abandoned = true,
                        None => {}
                    }
                }
                if abandoned {
                    return Ok(false);
                }
                if let Some(last) = started.last() {
                    checkpoint.after_tenant = Some(last.clone());
                    checkpoint.lease_until = budget.lease_until(self.now());
                    *version = self.claim(checkpoint, *version).await?;
                }
                if started.len() < group.len() {
                    return Ok(false);
                }
            }
            match page.next {
                Some(next) => {
                    if checkpoint.after_tenant.as_deref() != Some(next.as_str()) {
                        // A page of expired heads: move the cursor on all the same.
                        checkpoint.after_tenant = Some(next);
                        *version = self.claim(checkpoint, *version).await?;
                    }
                }
                None => return Ok(true),
            }
        }
    }

    /// Writes one tenant's partition and its record; `None` when there is nothing to write.
    async fn write_tenant(
        &self,
        id: &BackupId,
        pk: &str,
        budget: &dyn Budget,
    ) -> Result<Option<Written>, BackupError> {
        let Some(scope) = Scope::from_tenant_partition(pk) else {
            tracing::warn!(reason = "backup_odd_partition", partition = %pk, "a tenant partition whose id is not a tenant id; skipped");
            return Ok(None);
        };
        // A tenant removed since the listing (its record gone) is not backed up, and gets no new
        // key.
        if self.items.get(pk, TENANT_HEAD, self.now()).await?.is_none() {
            return Ok(None);
        }
        let written = self.write_partition(id, &scope, budget).await?;
        if let Written::Done(entry) = &written {
            self.records
                .save_entry(id, entry, self.records_expire_at())
                .await?;
        }
        Ok(Some(written))
    }

    fn records_expire_at(&self) -> i64 {
        self.now() + self.settings.keep_records.as_secs() as i64
    }

    /// Reads one partition and writes it as one object, a part at a time.
    async fn write_partition(
        &self,
        id: &BackupId,
        scope: &Scope,
        budget: &dyn Budget,
    ) -> Result<Written, BackupError> {
        let key = self
            .keys
            .for_writing(
                scope,
                || format!("k{}", random_name(10).unwrap_or_default()),
                self.now(),
            )
            .await?;
        let (key_ref, data_key): (&KeyRef, &DataKey) = (&key.0, &key.1);
        let object = self.layout.partition(id, scope, &random_name(6)?);
        let mut writer = self.objects.create(&object).await?;
        let message_bytes = self.message_bytes();
        let pk = scope.partition_key();
        let mut sha = digest::Context::new(&digest::SHA256);
        let mut buffer: Vec<u8> = Vec::with_capacity(message_bytes + 64 * 1024);
        let (mut items, mut plaintext_bytes) = (0u64, 0u64);
        let mut messages: Vec<u64> = Vec::new();
        let mut after: Option<String> = None;
        // Taken once the partition needs more than one message.
        let mut large = None;
        loop {
            let page = self
                .items
                .query_page(
                    &pk,
                    "",
                    after.as_deref(),
                    self.settings.page_items,
                    self.now(),
                )
                .await?;
            for item in &page.entries {
                let start = buffer.len();
                Line::write_to(item, &mut buffer)
                    .map_err(|e| BackupError::Unwritable(format!("{}/{}", item.pk, item.sk), e))?;
                sha.update(&buffer[start..]);
                items += 1;
                if buffer.len() >= message_bytes {
                    if budget.must_stop() {
                        return Ok(Written::Abandoned);
                    }
                    if large.is_none() {
                        large = Some(
                            self.large
                                .acquire()
                                .await
                                .map_err(|_| BackupError::ShuttingDown)?,
                        );
                    }
                    plaintext_bytes += buffer.len() as u64;
                    let message = self
                        .seal_message(
                            data_key,
                            key_ref,
                            scope,
                            id,
                            messages.len() + 1,
                            &mut buffer,
                        )
                        .await?;
                    messages.push(message.len() as u64);
                    writer.append(message).await?;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        // The last message (a partition without items is one empty message: every object has one).
        if !buffer.is_empty() || messages.is_empty() {
            if budget.must_stop() {
                return Ok(Written::Abandoned);
            }
            plaintext_bytes += buffer.len() as u64;
            let message = self
                .seal_message(
                    data_key,
                    key_ref,
                    scope,
                    id,
                    messages.len() + 1,
                    &mut buffer,
                )
                .await?;
            messages.push(message.len() as u64);
            writer.append(message).await?;
        }
        writer.finish().await?;
        Ok(Written::Done(Entry {
            scope: scope.clone(),
            object,
            items,
            plaintext_bytes,
            plaintext_sha256: hex(sha.finish().as_ref()),
            messages,
            key: key_ref.clone(),
        }))
    }

    /// Encrypts the buffered plaintext as message `number` and empties the buffer.
    async fn seal_message(
        &self,
        key: &DataKey,
        key_ref: &KeyRef,
        scope: &Scope,
        id: &BackupId,
        number: usize,
        buffer: &mut Vec<u8>,
    ) -> Result<Vec<u8>, BackupError> {
        let context = message_context(
            &self.settings.app,
            &self.settings.environment,
            scope,
            id,
            number,
        );
        let plaintext = std::mem::replace(buffer, Vec::with_capacity(buffer.capacity()));
        let _sealing = self
            .sealing
            .acquire()
            .await
            .map_err(|_| BackupError::ShuttingDown)?;
        Ok(self
            .cipher
            .seal(key, &key_ref.key_name, &context, plaintext)
            .await?)
    }

    /// Writes the manifest from the run's records, then `LATEST`.
    async fn complete(&self, checkpoint: &Checkpoint) -> Result<Manifest, BackupError> {
        let id = &checkpoint.backup_id;
        let now = self.now();
        let partitions = self.records.entries(id, now).await?;
        let mut totals = Totals::default();
        for e in &partitions {
            totals.partitions += 1;
            totals.tenants += u64::from(matches!(e.scope, Scope::Tenant(_)));
            totals.items += e.items;
            totals.plaintext_bytes += e.plaintext_bytes;
            totals.object_bytes += e.object_bytes();
        }
        let mut manifest = Manifest {
            schema: SCHEMA_VERSION,
            format: FORMAT.to_owned(),
            app: self.settings.app.clone(),
            environment: self.settings.environment.clone(),
            app_version: self.settings.app_version.clone(),
            backup_id: id.clone(),
            started_at: checkpoint.started_at,
            completed_at: now,
            invocations: checkpoint.invocations,
            totals,
            partitions,
        };
        let key = self.layout.manifest(id);
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| BackupError::Unwritable(key.clone(), e))?;
        match self.objects.put_new(&key, bytes).await {
            Ok(()) => {}
            // Written by an invocation that stopped before recording it: that one stands.
            Err(ObjectError::AlreadyExists(_)) => {
                let stored = self.objects.get(&key).await?;
                manifest = Manifest::read(
                    &stored,
                    &key,
                    &self.settings.app,
                    &self.settings.environment,
                )
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            }
            Err(e) => return Err(e.into()),
        }
        self.records
            .save_latest(&Latest {
                backup_id: id.clone(),
                manifest: key,
                started_at: manifest.started_at,
                completed_at: manifest.completed_at,
                partitions: manifest.totals.partitions,
                items: manifest.totals.items,
            })
            .await?;
        Ok(manifest)
    }
}
