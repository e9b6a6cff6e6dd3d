//! Restoring a backup into the table: one tenant, or everything.
//!
//! * Nothing is written before the whole selection has been read and checked: every message decrypts,
//!   and every partition matches its manifest entry. A tampered, cut or foreign object, a wrong
//!   encryption context, a backup of another environment or a manifest that does not match is
//!   refused with the reason, and the table is left as it was.
//! * Every write is conditional. A missing item is created only if still absent; an item that
//!   holds what the backup holds is left alone; so running a restore twice changes nothing the
//!   second time. The table is compared partition by partition a page at a time (the backup's
//!   lines and the table are both in sort-key order), and only what differs is written.
//! * An item that exists with other content was changed since the backup (or never backed up in
//!   this form): it is newer than the backup, and the restore refuses (listing such items) unless
//!   told to overwrite them; an overwrite is a versioned write, so a change made meanwhile is
//!   not lost silently either.
//! * Items the backup does not hold are left alone (a restore adds back and rolls back; it does not
//!   delete), and items whose expiry has passed are not written back.
//! * A tenant whose key was erased (uninstalled, deleted) cannot be restored: its backups are
//!   unreadable by design, and a restore of everything leaves it out.

use superoffice::TenantId;

use super::line::Line;
use super::manifest::{BackupId, Entry};
use super::scope::Scope;
use super::service::{BackupPorts, Backups, join_all};
use super::verify::{PartitionProblem, ReadError, Which};
use crate::store::{Item, Items, StoreError};

/// What to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tenant(TenantId),
    /// The app's records and every tenant in the backup.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreOptions {
    pub backup: Which,
    pub target: Target,
    /// Replace items that exist with other content (newer than the backup).
    pub overwrite: bool,
    /// Read, check and count, write nothing.
    pub dry_run: bool,
}

/// Per partition: what the restore did (or, in a dry run or a refusal, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Absent, written back.
    pub created: u64,
    /// Already holding the backup's content.
    pub unchanged: u64,
    /// Holding other content; replaced (with overwrite).
    pub overwritten: u64,
    /// Holding other content; left alone (without overwrite, or changed again meanwhile).
    pub newer: u64,
    /// Expired since the backup; not written back.
    pub expired: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRestore {
    pub scope: Scope,
    pub counts: Counts,
    /// The first few sort keys of items holding newer content.
    pub newer_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub backup_id: BackupId,
    pub partitions: Vec<PartitionRestore>,
    /// Scopes left out because their key was erased.
    pub erased: Vec<Scope>,
    /// Whether anything was written (false for a dry run or a refusal).
    pub applied: bool,
}

impl RestoreReport {
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        for p in &self.partitions {
            t.created += p.counts.created;
            t.unchanged += p.counts.unchanged;
            t.overwritten += p.counts.overwritten;
            t.newer += p.counts.newer;
            t.expired += p.counts.expired;
        }
        t
    }
}

/// Why a restore wrote nothing (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("backup {backup_id} does not hold {scope}")]
    NotInBackup { backup_id: BackupId, scope: Scope },
    #[error(
        "{0}'s backup key was erased (it was uninstalled or deleted): its backups cannot be restored"
    )]
    Erased(Scope),
    /// A partition failed its check: nothing was written.
    #[error("backup {backup_id}, {scope}: {problem}; nothing was restored")]
    Refused {
        backup_id: BackupId,
        scope: Scope,
        problem: PartitionProblem,
    },
    /// Items exist with content newer than the backup: nothing was written.
    #[error("{} item(s) in the table differ from the backup (changed since it was taken); nothing was restored. Restore with overwrite to replace them", .0.total().newer)]
    Newer(Box<RestoreReport>),
    /// The table failed while writing: what was written stays (every write was conditional), the
    /// rest can be restored by running the restore again.
    #[error("the table failed during the restore (run it again to finish): {0}")]
    Store(#[from] StoreError),
}

/// Items written at once (each a conditional write: the latency of one round trip, not its work,
/// sets the pace in DynamoDB).
const CONCURRENCY: usize = 32;
/// Items of the table read per query while comparing.
const PAGE: usize = 500;
/// How many newer items a report names per partition.
const NAMED: usize = 5;

enum Action {
    Created,
    Unchanged,
    Overwritten,
    Newer,
    Expired,
}

impl<P: BackupPorts> Backups<P> {
    pub async fn restore(&self, options: &RestoreOptions) -> Result<RestoreReport, RestoreError> {
        let result = self.restore_checked(options).await;
        // The keys unwrapped for this restore are not kept beyond it.
        self.keys.forget();
        result
    }

    async fn restore_checked(
        &self,
        options: &RestoreOptions,
    ) -> Result<RestoreReport, RestoreError> {
        let manifest = self.manifest(&options.backup).await?;
        let backup_id = manifest.backup_id.clone();
        let selected: Vec<&Entry> = match &options.target {
            Target::All => manifest.partitions.iter().collect(),
            Target::Tenant(t) => {
                let scope = Scope::Tenant(t.clone());
                vec![
                    manifest
                        .entry(&scope)
                        .ok_or_else(|| RestoreError::NotInBackup {
                            backup_id: backup_id.clone(),
                            scope,
                        })?,
                ]
            }
        };

        // First pass: read and check everything, and find what a restore would do.
        let mut report = RestoreReport {
            backup_id: backup_id.clone(),
            partitions: Vec::new(),
            erased: Vec::new(),
            applied: false,
        };
        let mut readable = Vec::new();
        for entry in selected {
            match self
                .restore_partition(&backup_id, entry, false, false)
                .await
            {
                Ok(p) => {
                    report.partitions.push(p);
                    readable.push(entry);
                }
                Err(RestoreError::Refused {
                    problem: PartitionProblem::Erased,
                    scope,
                    ..
                }) => match options.target {
                    Target::All => report.erased.push(scope),
                    Target::Tenant(_) => return Err(RestoreError::Erased(scope)),
                },
                Err(e) => return Err(e),
            }
        }
        if options.dry_run {
            return Ok(report);
        }
        if report.total().newer > 0 && !options.overwrite {
            return Err(RestoreError::Newer(Box::new(report)));
        }

        // Second pass: write.
        let mut applied = Vec::new();
        for entry in readable {
            applied.push(
                self.restore_partition(&backup_id, entry, true, options.overwrite)
                    .await?,
            );
        }
        report.partitions = applied;
        report.applied = true;
        tracing::info!(backup_id = %backup_id, created = report.total().created, overwritten = report.total().overwritten, unchanged = report.total().unchanged, "restore applied");
        Ok(report)
    }

    /// Reads one partition; writes it when `write`. The backup's lines come in sort-key order, and
    /// so does the partition in the table: the two are walked side by side (a query a page at a
    /// time, not a read per item), and only items to create or replace are written.
    async fn restore_partition(
        &self,
        backup_id: &BackupId,
        entry: &Entry,
        write: bool,
        overwrite: bool,
    ) -> Result<PartitionRestore, RestoreError> {
        let refused = |problem| RestoreError::Refused {
            backup_id: backup_id.clone(),
            scope: entry.scope.clone(),
            problem,
        };
        let mut reader = self.reader(backup_id, entry).await.map_err(refused)?;
        let mut table = TableWalk::new(&*self.items, entry.scope.partition_key(), self.now());
        let mut result = PartitionRestore {
            scope: entry.scope.clone(),
            counts: Counts::default(),
            newer_keys: Vec::new(),
        };
        let mut previous: Option<String> = None;
        while let Some(lines) = reader.next_lines().await.map_err(refused)? {
            let mut work = Vec::with_capacity(lines.len());
            for line in lines {
                if previous.as_deref().is_some_and(|p| p >= line.sk.as_str()) {
                    return Err(refused(PartitionProblem::Unreadable(format!(
                        "item {} is out of sort-key order",
                        line.sk
                    ))));
                }
                previous = Some(line.sk.clone());
                let current = table.find(&line.sk).await?;
                work.push((line, current));
            }
            for chunk in work.chunks(CONCURRENCY) {
                let actions = join_all(
                    chunk
                        .iter()
                        .map(|(line, current)| {
                            self.restore_line(line, current.as_ref(), write, overwrite)
                        })
                        .collect(),
                )
                .await;
                for ((line, _), action) in chunk.iter().zip(actions) {
                    let c = &mut result.counts;
                    match action? {
                        Action::Created => c.created += 1,
                        Action::Unchanged => c.unchanged += 1,
                        Action::Overwritten => c.overwritten += 1,
                        Action::Expired => c.expired += 1,
                        Action::Newer => {
                            c.newer += 1;
                            if result.newer_keys.len() < NAMED {
                                result.newer_keys.push(line.sk.clone());
                            }
                        }
                    }
                }
            }
        }
        reader.finish().map_err(refused)?;
        Ok(result)
    }

    /// What one line asks for, given the item the table holds at its key now; done when `write`.
    async fn restore_line(
        &self,
        line: &Line,
        current: Option<&Item>,
        write: bool,
        overwrite: bool,
    ) -> Result<Action, StoreError> {
        let now = self.now();
        if line.expires_at.is_some_and(|e| e <= now) {
            return Ok(Action::Expired);
        }
        let mut current = current.cloned();
        // Twice at most: a create that finds the item appeared meanwhile looks again.
        for _ in 0..2 {
            match current {
                Some(item) if line.same_as(&item) => return Ok(Action::Unchanged),
                Some(_) if !(write && overwrite) => return Ok(Action::Newer),
                Some(item) => {
                    let mut replacement: Item = line.to_item();
                    replacement.version = item.version;
                    return match self.items.put_versioned(&replacement).await {
                        Ok(()) => Ok(Action::Overwritten),
                        // Changed again while we looked: the newer content stays.
                        Err(StoreError::Conflict) => Ok(Action::Newer),
                        Err(e) => Err(e),
                    };
                }
                None if !write => return Ok(Action::Created),
                None => match self.items.put_new(&line.to_item(), now).await {
                    Ok(()) => return Ok(Action::Created),
                    Err(StoreError::AlreadyExists) => {
                        current = self.items.get(&line.pk, &line.sk, now).await?;
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        Ok(Action::Newer)
    }
}

/// The live items of one partition in sort-key order, read a page at a time as a restore walks
/// the backup's lines.
struct TableWalk<'a, I> {
    items: &'a I,
    pk: String,
    now: i64,
    page: std::collections::VecDeque<Item>,
    after: Option<String>,
    done: bool,
}

impl<'a, I: Items> TableWalk<'a, I> {
    fn new(items: &'a I, pk: String, now: i64) -> Self {
        Self {
            items,
            pk,
            now,
            page: Default::default(),
            after: None,
            done: false,
        }
    }

    /// The item at `sk`, if the table holds one; keys must be asked for in increasing order.
    async fn find(&mut self, sk: &str) -> Result<Option<Item>, StoreError> {
        loop {
            while self.page.front().is_some_and(|i| i.sk.as_str() < sk) {
                self.page.pop_front();
            }
            if let Some(front) = self.page.front() {
                return Ok((front.sk == sk).then(|| front.clone()));
            }
            if self.done {
                return Ok(None);
            }
            let page = self
                .items
                .query_page(&self.pk, "", self.after.as_deref(), PAGE, self.now)
                .await?;
            self.page.extend(page.entries);
            match page.next {
                Some(next) => self.after = Some(next),
                None => self.done = true,
            }
        }
    }
}
