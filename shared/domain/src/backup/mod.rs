//! Encrypted backups: what is backed up, in what format, under which keys, and how a backup is
//! run, verified, restored and made unreadable.
//!
//! # What and how
//!
//! On a schedule (daily by default) the backup function copies every tenant's partition and the
//! app's own records ([`scope`]) out of the table, reading each partition by query a page at a time
//! (the tenants are listed from the table's inverted index, never by a scan), as JSON lines
//! ([`line`]). Each partition becomes one object in the backup bucket: a sequence of [AWS
//! Encryption SDK messages] of about 1 MiB of plaintext each (commitment policy
//! RequireEncryptRequireDecrypt, a committing algorithm suite, framed), each bound by its encryption
//! context to the app, the environment, the tenant, the backup id and its position ([`cipher`]).
//! The object goes up as an S3 multipart upload, so memory stays at a few MiB whatever the size of
//! the data. A manifest per run ([`manifest`]) gives each partition's item count, the SHA-256 of its
//! plaintext, its messages, its key's id, the schema version and the program's version; it is written
//! last, so a run without one is incomplete. A run that nears the Lambda's time limit saves a
//! checkpoint and the next invocation continues it ([`run`]).
//!
//! # Per-tenant keys and crypto-erase
//!
//! Each tenant's backups are encrypted under a data key of its own ([`keys`]): a random 256-bit
//! key, wrapped by the stack's backup KMS key (with an encryption context naming the app, the
//! environment, the tenant and the purpose, which the key's policy requires) and kept only in
//! the table, outside the backups. The messages' data keys are wrapped with it by a raw AES keyring,
//! so KMS is asked once per tenant per run, not per item or message. Deleting a tenant's wrapped key
//! ([`BackupKeyStore::erase`], called by the uninstall purge and the tenant Delete push) makes every
//! backup of that tenant unreadable at once, in every object, version and copy, including objects
//! under Object Lock, while every other tenant's backups still restore.
//!
//! # Retention
//!
//! Backups are kept as long as the bucket's lifecycle says (`BackupRetentionDays`, 35 by default;
//! noncurrent versions and incomplete uploads expire after a day or so, see infra/DEPLOY.md). An
//! erased tenant's backups stay in the bucket until they expire, unreadable. The table's
//! point-in-time recovery keeps deleted items (an erased key among them) for its 35-day window, so
//! erasure is final after at most 35 days; the per-run records here are kept 40 days.
//!
//! # Reading back
//!
//! [`verify`] decrypts a run and compares it with its manifest (the `soapp backup verify` command
//! and the scheduled restore drill, whose result is a metric with a freshness alarm); [`restore`]
//! writes one tenant or everything back with conditional writes, refusing anything that does not
//! decrypt and match, and refusing to overwrite newer data unless told to. [`records`] answers
//! "when was this tenant last backed up" for the management page.
//!
//! # Why not only DynamoDB's own backups
//!
//! Point-in-time recovery (on for the table) restores the whole table to a new table at any second
//! of the last 35 days: the tool for a bad deploy or an operator's mistake, but it cannot give back
//! one tenant, keeps nothing beyond 35 days, and cannot forget one tenant. The native export to S3
//! writes the whole table in DynamoDB's own format under one key: no per-tenant keys (so no
//! crypto-erase of one tenant), no per-tenant verification. These backups add per-tenant
//! encryption under keys that can be erased one by one, a format any AWS Encryption SDK reads, and
//! restores of one tenant into the live table.
//!
//! [AWS Encryption SDK messages]: https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html

pub mod cipher;
pub mod config;
pub mod keys;
pub mod line;
pub mod manifest;
pub mod objects;
pub mod records;
pub mod restore;
pub mod run;
pub mod scope;
pub mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;

pub use keys::BackupKeyStore;
pub use manifest::{BackupId, Manifest};
pub use records::{BackupRecords, LastBackup};
pub use scope::Scope;
pub use service::{BackupPorts, Backups, Budget, Deadline, Settings, Unlimited};
