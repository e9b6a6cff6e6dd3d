//! The backup service: one value per process holding the ports a backup needs and the settings it
//! runs with. Running, verifying and restoring are in [`super::run`], [`super::verify`] and
//! [`super::restore`]; the records it keeps in the table in [`super::records`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use superoffice::clock::{Clock, unix_seconds};

use super::cipher::MessageCipher;
use super::keys::{BackupKeys, KeyWrap};
use super::manifest::Layout;
use super::objects::BackupObjects;
use super::records::BackupRecords;
use crate::store::Items;

/// Which adapter serves each port a backup uses.
pub trait BackupPorts: Send + Sync + 'static {
    type Items: Items;
    type Wrap: KeyWrap;
    type Cipher: MessageCipher;
    type Objects: BackupObjects;
}

/// What a backup is named by and how it is cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The app's name, in every encryption context (`APP_NAME`).
    pub app: String,
    /// The deployment's environment (`sod`, `stage`, `online`, `local`), in every encryption
    /// context and object key: a backup of another environment never restores here.
    pub environment: String,
    /// The version of this program, written into each manifest.
    pub app_version: String,
    /// Plaintext per encrypted message (whole lines; a message ends at the first line that reaches
    /// it). Memory holds a few messages and one upload part, whatever the size of the data.
    pub message_bytes: usize,
    /// Items per store page when reading a partition (DynamoDB also ends a page at 1 MB): bounds
    /// the memory a page of small items takes, and the round trips a large partition costs.
    pub page_items: usize,
    /// How long the table keeps a run's per-partition records (the last backup of each tenant).
    pub keep_records: Duration,
}

impl Settings {
    /// The defaults for `app` in `environment`: 1 MiB messages, pages of 2000 items, records kept
    /// 40 days.
    pub fn new(app: &str, environment: &str) -> Self {
        Self {
            app: app.to_owned(),
            environment: environment.to_owned(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            message_bytes: 1024 * 1024,
            page_items: 2000,
            keep_records: Duration::from_secs(40 * 86_400),
        }
    }
}

/// How much of the invocation is left, asked before each partition and between messages.
pub trait Budget: Send + Sync {
    /// Whether one more partition may be started.
    fn may_start_partition(&self) -> bool;
    /// Whether the partition in progress must be given up now to save the checkpoint in time.
    fn must_stop(&self) -> bool;
    /// Until when (Unix seconds) this invocation holds the run: another invocation may take it over
    /// after that.
    fn lease_until(&self, now: i64) -> i64;
}

/// No time limit (the operator's command): runs to the end.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

/// How long an invocation without a deadline holds the run before another may take it over; the
/// lease is renewed at every checkpoint.
pub const UNLIMITED_LEASE: Duration = Duration::from_secs(15 * 60);

impl Budget for Unlimited {
    fn may_start_partition(&self) -> bool {
        true
    }
    fn must_stop(&self) -> bool {
        false
    }
    fn lease_until(&self, now: i64) -> i64 {
        now + UNLIMITED_LEASE.as_secs() as i64
    }
}

/// A Lambda invocation's deadline: no partition starts with less than `start_margin` left, and one
/// in progress stops with `stop_margin` left, enough to save the checkpoint.
pub struct Deadline {
    pub at: SystemTime,
    pub start_margin: Duration,
    pub stop_margin: Duration,
    pub clock: Arc<dyn Clock>,
}

impl Deadline {
    /// Margins for a function whose partitions take seconds: start with 60 s left, stop at 20 s.
    pub fn lambda(at: SystemTime, clock: Arc<dyn Clock>) -> Self {
        Self {
            at,
            start_margin: Duration::from_secs(60),
            stop_margin: Duration::from_secs(20),
            clock,
        }
    }

    fn remaining(&self) -> Duration {
        self.at
            .duration_since(self.clock.now())
            .unwrap_or(Duration::ZERO)
    }
}

impl Budget for Deadline {
    fn may_start_partition(&self) -> bool {
        self.remaining() > self.start_margin
    }
    fn must_stop(&self) -> bool {
        self.remaining() <= self.stop_margin
    }
    fn lease_until(&self, _now: i64) -> i64 {
        // A few seconds past the deadline: the invocation is surely over by then.
        unix_seconds(self.at) + 5
    }
}

/// The backup service.
pub struct Backups<P: BackupPorts> {
    pub(super) items: Arc<P::Items>,
    pub(super) keys: BackupKeys<P::Items, P::Wrap>,
    pub(super) cipher: Arc<P::Cipher>,
    pub(super) objects: Arc<P::Objects>,
    pub(super) records: BackupRecords<P::Items>,
    pub(super) settings: Settings,
    pub(super) layout: Layout,
    pub(super) clock: Arc<dyn Clock>,
    /// One partition larger than a message at a time: only that one buffers an upload part (S3's
    /// 5 MiB minimum), so memory stays flat whatever the tenants' sizes.
    pub(super) large: tokio::sync::Semaphore,
    /// Messages encrypted at once: the Encryption SDK holds several copies of a message while it
    /// works on it.
    pub(super) sealing: tokio::sync::Semaphore,
}

impl<P: BackupPorts> Backups<P> {
    pub fn new(
        items: Arc<P::Items>,
        wrap: Arc<P::Wrap>,
        cipher: Arc<P::Cipher>,
        objects: Arc<P::Objects>,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            keys: BackupKeys::new(items.clone(), wrap, &settings.app, &settings.environment),
            records: BackupRecords::new(items.clone()),
            layout: Layout::new(&settings.environment),
            items,
            cipher,
            objects,
            settings,
            clock,
            large: tokio::sync::Semaphore::new(1),
            sealing: tokio::sync::Semaphore::new(2),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn records(&self) -> &BackupRecords<P::Items> {
        &self.records
    }

    pub(super) fn now(&self) -> i64 {
        unix_seconds(self.clock.now())
    }

    /// Plaintext per message (at least one byte).
    pub(super) fn message_bytes(&self) -> usize {
        self.settings.message_bytes.max(1)
    }
}

/// `n` random lowercase letters and digits, for ids and object names.
pub fn random_name(n: usize) -> Result<String, RandomnessUnavailable> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RandomnessUnavailable)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system has no randomness to give")]
pub struct RandomnessUnavailable;

/// Runs futures concurrently on the current task and returns their outputs in order: bounded
/// concurrency (the caller decides how many) without spawning, so the futures may borrow.
pub(super) async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => outputs[i] = Some(out),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
