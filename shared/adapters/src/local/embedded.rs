//! The embedded adapter: a redb database file in the local data folder.
//!
//! For `soapp serve` and tests: persists across restarts, one writer at a time (so `take` and the
//! conditional writes are atomic exactly like their DynamoDB counterparts), no server to run.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use domain::store::{Item, Items, Page, StoreError};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");

#[derive(Serialize, Deserialize)]
struct Stored {
    data: serde_json::Value,
    expires_at: Option<i64>,
    version: u64,
}

#[derive(Clone)]
pub struct EmbeddedItems {
    db: Arc<Database>,
}

impl std::fmt::Debug for EmbeddedItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedItems")
    }
}

fn fail(e: impl Into<redb::Error>) -> StoreError {
    StoreError::unavailable(e.into())
}

impl EmbeddedItems {
    /// Opens (or creates) `dir/store.redb`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::unavailable)?;
        // redb's page cache defaults to 1 GiB and fills with every page read: a local backup of a
        // large store would hold the store in memory. 32 MiB keeps the local runner's memory as
        // bounded as the app's in AWS, at no cost for a development store.
        let db = Database::builder()
            .set_cache_size(32 * 1024 * 1024)
            .create(dir.join("store.redb"))
            .map_err(fail)?;
        let txn = db.begin_write().map_err(fail)?;
        txn.open_table(ITEMS).map_err(fail)?;
        txn.commit().map_err(fail)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Writes many items in one transaction, unconditionally (each at version 1): for loading test
    /// data and benchmarks; the app itself writes through [`Items`].
    pub fn put_many(&self, items: &[Item]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(fail)?;
        {
            let mut t = txn.open_table(ITEMS).map_err(fail)?;
            for item in items {
                let bytes = encode(item, 1)?;
                t.insert((item.pk.as_str(), item.sk.as_str()), bytes.as_slice())
                    .map_err(fail)?;
            }
        }
        txn.commit().map_err(fail)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(StoreError::unavailable)?
    }
}

fn decode(pk: &str, sk: &str, bytes: &[u8]) -> Result<Item, StoreError> {
    let s: Stored = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{pk}/{sk}: {e}")))?;
    Ok(Item {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        data: s.data,
        expires_at: s.expires_at,
        version: s.version,
    })
}

fn encode(item: &Item, version: u64) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&Stored {
        data: item.data.clone(),
        expires_at: item.expires_at,
        version,
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Items for EmbeddedItems {
    async fn put_new(&self, item: &Item, now: i64) -> Result<(), StoreError> {
        let item = item.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(fail)?;
            {
                let mut t = txn.open_table(ITEMS).map_err(fail)?;
                let existing = match t.get((item.pk.as_str(), item.sk.as_str())).map_err(fail)? {
                    Some(v) => Some(decode(&item.pk, &item.sk, v.value())?),
                    None => None,
                };
                if existing.is_some_and(|e| e.is_live(now)) {
                    return Err(StoreError::AlreadyExists);
                }
                let bytes = encode(&item, 1)?;
                t.insert((item.pk.as_str(), item.sk.as_str()), bytes.as_slice())
                    .map_err(fail)?;
            }
            txn.commit().map_err(fail)
        })
        .await
    }

    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        let item = item.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(fail)?;
            {
                let mut t = txn.open_table(ITEMS).map_err(fail)?;
                let bytes = encode(&item, item.version + 1)?;
                t.insert((item.pk.as_str(), item.sk.as_str()), bytes.as_slice())
                    .map_err(fail)?;
            }
            txn.commit().map_err(fail)
        })
        .await
    }

    async fn put_versioned(&self, item: &Item) -> Result<(), StoreError> {
        let item = item.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(fail)?;
            {
                let mut t = txn.open_table(ITEMS).map_err(fail)?;
                let stored = match t.get((item.pk.as_str(), item.sk.as_str())).map_err(fail)? {
                    Some(v) => decode(&item.pk, &item.sk, v.value())?.version,
                    None => 0,
                };
                if stored != item.version {
                    return Err(StoreError::Conflict);
                }
                let bytes = encode(&item, item.version + 1)?;
                t.insert((item.pk.as_str(), item.sk.as_str()), bytes.as_slice())
                    .map_err(fail)?;
            }
            txn.commit().map_err(fail)
        })
        .await
    }

    async fn get(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(fail)?;
            let t = txn.open_table(ITEMS).map_err(fail)?;
            match t.get((pk.as_str(), sk.as_str())).map_err(fail)? {
                Some(v) => Ok(Some(decode(&pk, &sk, v.value())?).filter(|i| i.is_live(now))),
                None => Ok(None),
            }
        })
        .await
    }

    async fn take(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(fail)?;
            let taken = {
                let mut t = txn.open_table(ITEMS).map_err(fail)?;
                let removed = t.remove((pk.as_str(), sk.as_str())).map_err(fail)?;
                match removed {
                    Some(v) => Some(decode(&pk, &sk, v.value())?),
                    None => None,
                }
            };
            txn.commit().map_err(fail)?;
            Ok(taken.filter(|i| i.is_live(now)))
        })
        .await
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(fail)?;
            {
                let mut t = txn.open_table(ITEMS).map_err(fail)?;
                t.remove((pk.as_str(), sk.as_str())).map_err(fail)?;
            }
            txn.commit().map_err(fail)
        })
        .await
    }

    async fn query(&self, pk: &str, sk_prefix: &str, now: i64) -> Result<Vec<Item>, StoreError> {
        let (pk, prefix) = (pk.to_owned(), sk_prefix.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(fail)?;
            let t = txn.open_table(ITEMS).map_err(fail)?;
            let mut out = Vec::new();
            for entry in t.range((pk.as_str(), prefix.as_str())..).map_err(fail)? {
                let (k, v) = entry.map_err(fail)?;
                let (kpk, ksk) = k.value();
                if kpk != pk || !ksk.starts_with(prefix.as_str()) {
                    break;
                }
                let item = decode(kpk, ksk, v.value())?;
                if item.is_live(now) {
                    out.push(item);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn query_page(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
        now: i64,
    ) -> Result<Page<Item>, StoreError> {
        let (pk, prefix) = (pk.to_owned(), sk_prefix.to_owned());
        // Start at the cursor when it is past the prefix's start (it always is within it).
        let start = match after {
            Some(a) if a > sk_prefix => a.to_owned(),
            _ => prefix.clone(),
        };
        let after = after.map(str::to_owned);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(fail)?;
            let t = txn.open_table(ITEMS).map_err(fail)?;
            let (mut read, mut last, mut more) = (0, None, false);
            let mut entries = Vec::new();
            for entry in t.range((pk.as_str(), start.as_str())..).map_err(fail)? {
                let (k, v) = entry.map_err(fail)?;
                let (kpk, ksk) = k.value();
                if kpk != pk || !ksk.starts_with(prefix.as_str()) {
                    break;
                }
                if after.as_deref().is_some_and(|a| ksk <= a) {
                    continue;
                }
                if read == limit.max(1) {
                    more = true;
                    break;
                }
                read += 1;
                last = Some(ksk.to_owned());
                let item = decode(kpk, ksk, v.value())?;
                if item.is_live(now) {
                    entries.push(item);
                }
            }
            Ok(Page {
                entries,
                next: if more { last } else { None },
            })
        })
        .await
    }

    async fn partitions(
        &self,
        pk_prefix: &str,
        head_sk: &str,
        after: Option<&str>,
        limit: usize,
        now: i64,
    ) -> Result<Page<String>, StoreError> {
        let (prefix, head) = (pk_prefix.to_owned(), head_sk.to_owned());
        let after = after.map(str::to_owned);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(fail)?;
            let t = txn.open_table(ITEMS).map_err(fail)?;
            let mut entries: Vec<String> = Vec::new();
            let mut more = false;
            // Keys are (partition, sort key) in order: one pass over the kind's partitions, reading
            // only the head items' values.
            for entry in t.range((prefix.as_str(), "")..).map_err(fail)? {
                let (k, v) = entry.map_err(fail)?;
                let (kpk, ksk) = k.value();
                if !kpk.starts_with(prefix.as_str()) {
                    break;
                }
                if ksk != head || after.as_deref().is_some_and(|a| kpk <= a) {
                    continue;
                }
                if !decode(kpk, ksk, v.value())?.is_live(now) {
                    continue;
                }
                if entries.len() == limit.max(1) {
                    more = true;
                    break;
                }
                entries.push(kpk.to_owned());
            }
            let next = if more { entries.last().cloned() } else { None };
            Ok(Page { entries, next })
        })
        .await
    }
}
