//! Storage: one narrow port, [`Items`], and typed stores built on it.
//!
//! Everything the app keeps is an item under a partition key and a sort key (the DynamoDB single-table
//! shape), holding a JSON document, an optional expiry (a DynamoDB TTL attribute) and a version for
//! optimistic concurrency. The two adapters (the adapters crate's DynamoDB items in AWS and
//! embedded items locally) implement the same semantics, proven by one test suite
//! ([`suite`], run against both). Typed stores (sign-ins, sessions, and later tenants and the ledger)
//! are written once on top of the port.
//!
//! Expired items are invisible: reads treat them as absent and a conditional write may replace
//! them, whether or not the TTL sweeper has deleted them yet (DynamoDB can take up to two days).
//!
//! Two reads walk more than one item a page at a time, for work whose size grows with the data (the
//! backup): [`Items::query_page`] (one partition, in sort-key order) and [`Items::partitions`] (the
//! partitions of one kind, such as every tenant, found by their head item). Both resume from the key
//! a page ends at, so a walk can stop and continue in another process. Neither is ever a table scan:
//! in DynamoDB the second is a query on the table's inverted index (sort key, partition key).

use std::future::Future;

use serde::{Deserialize, Serialize};

#[cfg(any(test, feature = "testing"))]
pub mod memory;
#[cfg(any(test, feature = "testing"))]
pub mod suite;

/// One stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub data: serde_json::Value,
    /// Unix seconds after which the item no longer exists.
    pub expires_at: Option<i64>,
    /// Incremented by every versioned write; 0 for a new item.
    pub version: u64,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            data,
            expires_at: None,
            version: 0,
        }
    }

    pub fn expiring_at(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }

    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }

    /// The document as a typed value.
    pub fn parse<T: for<'de> Deserialize<'de>>(&self) -> Result<T, StoreError> {
        serde_json::from_value(self.data.clone())
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", self.pk, self.sk)))
    }
}

/// One page of a walk over many items: what was found, and where the next page starts (`None` at
/// the end). The cursor is a key (a sort key for [`Items::query_page`], a partition key for
/// [`Items::partitions`]); a page may hold fewer entries than asked for, even none, and still have a
/// next one (expired items are skipped after they are read).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub next: Option<String>,
}

/// Serializes a typed document.
pub fn document<T: Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional create found a live item with the same key.
    #[error("an item with this key already exists")]
    AlreadyExists,
    /// A versioned write found another version: someone else changed the item first.
    #[error("the item was changed concurrently")]
    Conflict,
    /// The store could not be reached or failed; the operation may be retried later.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored item could not be read back.
    #[error("a stored item is not readable: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Unavailable(Box::new(e))
    }

    pub fn code(&self) -> &'static str {
        match self {
            StoreError::AlreadyExists => "store_already_exists",
            StoreError::Conflict => "store_conflict",
            StoreError::Unavailable(_) => "store_unavailable",
            StoreError::Corrupt(_) => "store_corrupt",
        }
    }
}

/// The storage port. Every method is one atomic operation.
pub trait Items: Send + Sync + 'static {
    /// Creates the item; fails with [`StoreError::AlreadyExists`] if a live item has its key.
    fn put_new(&self, item: &Item, now: i64)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates or replaces the item unconditionally (version becomes `item.version + 1`).
    fn put(&self, item: &Item) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the item only if its stored version is `item.version`; stores `item.version + 1`.
    /// A missing item counts as version 0.
    fn put_versioned(&self, item: &Item) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The live item, if any.
    fn get(
        &self,
        pk: &str,
        sk: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<Item>, StoreError>> + Send;

    /// Deletes the item and returns it if it was live. Of any number of concurrent callers, exactly
    /// one gets it.
    fn take(
        &self,
        pk: &str,
        sk: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<Item>, StoreError>> + Send;

    /// Deletes the item if present (no error if absent).
    fn delete(&self, pk: &str, sk: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Live items of one partition whose sort key starts with `sk_prefix`, in sort-key order. Never
    /// a table scan.
    fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        now: i64,
    ) -> impl Future<Output = Result<Vec<Item>, StoreError>> + Send;

    /// At most `limit` live items of one partition whose sort key starts with `sk_prefix` and sorts
    /// after `after`, in sort-key order, and the sort key to continue after. Never a table scan.
    fn query_page(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
        now: i64,
    ) -> impl Future<Output = Result<Page<Item>, StoreError>> + Send;

    /// At most `limit` partition keys that start with `pk_prefix`, sort after `after` and hold a live
    /// item whose sort key is exactly `head_sk` (every tenant partition holds its record under
    /// `TENANT`), in partition-key order, and the key to continue after. Never a table scan; in
    /// DynamoDB an eventually consistent query of the inverted index, so a partition created a moment
    /// ago may be missing from the walk.
    fn partitions(
        &self,
        pk_prefix: &str,
        head_sk: &str,
        after: Option<&str>,
        limit: usize,
        now: i64,
    ) -> impl Future<Output = Result<Page<String>, StoreError>> + Send;
}

/// Lowercase hex SHA-256: the stored key for a secret value (state, session id), so the table never
/// holds the values a browser presents.
pub fn secret_key(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d.as_ref() {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod secret_key_tests {
    #[test]
    fn secret_key_is_lowercase_hex_sha256() {
        assert_eq!(
            super::secret_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(super::secret_key("").len(), 64);
    }
}
