//! An in-memory [`Items`] for unit tests of the domain and of handlers: the same semantics as the
//! real adapters (it passes the same [`super::suite`]), nothing kept after the process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Item, Items, Page, StoreError};

#[derive(Default)]
pub struct MemoryItems {
    items: Mutex<BTreeMap<(String, String), Item>>,
}

impl MemoryItems {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Item>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every stored item, live or expired, in key order (for tests that look at what is kept).
    pub fn all(&self) -> Vec<Item> {
        self.lock().values().cloned().collect()
    }
}

fn key(pk: &str, sk: &str) -> (String, String) {
    (pk.to_owned(), sk.to_owned())
}

impl Items for MemoryItems {
    async fn put_new(&self, item: &Item, now: i64) -> Result<(), StoreError> {
        let mut items = self.lock();
        let k = key(&item.pk, &item.sk);
        if items.get(&k).is_some_and(|e| e.is_live(now)) {
            return Err(StoreError::AlreadyExists);
        }
        items.insert(
            k,
            Item {
                version: 1,
                ..item.clone()
            },
        );
        Ok(())
    }

    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        self.lock().insert(
            key(&item.pk, &item.sk),
            Item {
                version: item.version + 1,
                ..item.clone()
            },
        );
        Ok(())
    }

    async fn put_versioned(&self, item: &Item) -> Result<(), StoreError> {
        let mut items = self.lock();
        let k = key(&item.pk, &item.sk);
        let stored = items.get(&k).map_or(0, |e| e.version);
        if stored != item.version {
            return Err(StoreError::Conflict);
        }
        items.insert(
            k,
            Item {
                version: item.version + 1,
                ..item.clone()
            },
        );
        Ok(())
    }

    async fn get(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
        Ok(self
            .lock()
            .get(&key(pk, sk))
            .filter(|i| i.is_live(now))
            .cloned())
    }

    async fn take(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
        Ok(self.lock().remove(&key(pk, sk)).filter(|i| i.is_live(now)))
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.lock().remove(&key(pk, sk));
        Ok(())
    }

    async fn query(&self, pk: &str, sk_prefix: &str, now: i64) -> Result<Vec<Item>, StoreError> {
        Ok(self
            .lock()
            .range(key(pk, sk_prefix)..)
            .take_while(|((p, s), _)| p == pk && s.starts_with(sk_prefix))
            .map(|(_, i)| i)
            .filter(|i| i.is_live(now))
            .cloned()
            .collect())
    }

    async fn query_page(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
        now: i64,
    ) -> Result<Page<Item>, StoreError> {
        let items = self.lock();
        let mut read = 0;
        let mut last = None;
        let mut entries = Vec::new();
        let mut more = false;
        for ((p, s), item) in items.range(key(pk, sk_prefix)..) {
            if p != pk || !s.starts_with(sk_prefix) {
                break;
            }
            if after.is_some_and(|a| s.as_str() <= a) {
                continue;
            }
            if read == limit.max(1) {
                more = true;
                break;
            }
            read += 1;
            last = Some(s.clone());
            if item.is_live(now) {
                entries.push(item.clone());
            }
        }
        Ok(Page {
            entries,
            next: if more { last } else { None },
        })
    }

    async fn partitions(
        &self,
        pk_prefix: &str,
        head_sk: &str,
        after: Option<&str>,
        limit: usize,
        now: i64,
    ) -> Result<Page<String>, StoreError> {
        let items = self.lock();
        let mut entries = Vec::new();
        let mut more = false;
        for ((p, s), item) in items.range(key(pk_prefix, "")..) {
            if !p.starts_with(pk_prefix) {
                break;
            }
            if s != head_sk || after.is_some_and(|a| p.as_str() <= a) || !item.is_live(now) {
                continue;
            }
            if entries.len() == limit.max(1) {
                more = true;
                break;
            }
            entries.push(p.clone());
        }
        let next = if more { entries.last().cloned() } else { None };
        Ok(Page { entries, next })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_memory_adapter_passes_the_storage_suite() {
        super::super::suite::run_all(Arc::new(super::MemoryItems::new())).await;
    }
}
