//! Webhook deliveries received from SuperOffice, recorded once per event.
//!
//! SuperOffice keeps an event's `EventId` across its retries, so the id is the item's key and a
//! conditional create makes a retried delivery a no-op. Events are kept 30 days: long enough to
//! answer "did we get it?", short enough not to become a second copy of the customer's CRM.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

use crate::store::{Item, Items, StoreError, document};
use crate::tenant::tenant_pk;

/// How long a received event is kept.
pub const KEEP_SECONDS: i64 = 30 * 86_400;

/// What is kept of one delivery: what happened to which record, not the record's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub event: Option<String>,
    pub entity: Option<String>,
    pub primary_key: Option<serde_json::Value>,
    pub timestamp: Option<String>,
    pub received_at: i64,
}

/// What recording a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The same event id was recorded before (SuperOffice retried it).
    Duplicate,
}

pub struct WebhookEvents<I> {
    items: Arc<I>,
}

impl<I: Items> WebhookEvents<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    /// Records `event` under its id, once.
    pub async fn record(
        &self,
        tenant: &TenantId,
        event_id: &str,
        event: &WebhookEvent,
        now: i64,
    ) -> Result<Recorded, StoreError> {
        let item = Item::new(tenant_pk(tenant), sort_key(event_id), document(event)?)
            .expiring_at(now + KEEP_SECONDS);
        match self.items.put_new(&item, now).await {
            Ok(()) => Ok(Recorded::New),
            Err(StoreError::AlreadyExists) => Ok(Recorded::Duplicate),
            Err(e) => Err(e),
        }
    }

    /// The tenant's recorded events, oldest key first.
    pub async fn all(
        &self,
        tenant: &TenantId,
        now: i64,
    ) -> Result<Vec<(String, WebhookEvent)>, StoreError> {
        self.items
            .query(&tenant_pk(tenant), "EVENT#", now)
            .await?
            .iter()
            .map(|i| Ok((i.sk.trim_start_matches("EVENT#").to_owned(), i.parse()?)))
            .collect()
    }
}

fn sort_key(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}
