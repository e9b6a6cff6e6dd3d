//! What the app keeps after a tenant is gone: one minimal record per uninstall, so the partner can
//! answer "when was the app removed from this customer, at whose request, and did it finish?"
//! without keeping personal data. The record holds the tenant id, the time, a pseudonym of the
//! administrator who asked (a hash, never the name or e-mail) and the result, and expires after
//! [`KEEP_SECONDS`] (13 months: a year of support questions and the certification's three months of
//! logs, with room).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use superoffice::TenantId;

use crate::store::{Item, Items, StoreError, document};

/// How long an audit record is kept: about 13 months.
pub const KEEP_SECONDS: i64 = 400 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub tenant: TenantId,
    /// `uninstall`.
    pub action: String,
    /// Unix seconds.
    pub at: i64,
    /// A pseudonym of the administrator who asked ([`pseudonym`]); `None` when SuperOffice asked
    /// (a tenant deleted).
    pub by: Option<String>,
    /// `completed`.
    pub result: String,
}

/// A pseudonym for a person of a tenant: the first 16 hex digits of SHA-256 over the tenant and the
/// person's subject. The same person gets the same pseudonym in the same tenant (support can match
/// "the same administrator did both"), but it cannot be turned back into a name.
pub fn pseudonym(tenant: &TenantId, subject: &str) -> String {
    let digest = crate::store::secret_key(&format!("audit:{tenant}:{subject}"));
    digest[..16].to_owned()
}

fn audit_pk(tenant: &TenantId) -> String {
    format!("AUDIT#{tenant}")
}

pub struct Audit<I> {
    items: Arc<I>,
}

impl<I: Items> Audit<I> {
    pub fn new(items: Arc<I>) -> Self {
        Self { items }
    }

    pub async fn record(&self, r: &AuditRecord) -> Result<(), StoreError> {
        let item = Item::new(
            audit_pk(&r.tenant),
            format!("{}#{:012}", r.action.to_ascii_uppercase(), r.at),
            document(r)?,
        )
        .expiring_at(r.at + KEEP_SECONDS);
        self.items.put(&item).await
    }

    /// The tenant's audit records, oldest first.
    pub async fn records(
        &self,
        tenant: &TenantId,
        now: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.items
            .query(&audit_pk(tenant), "", now)
            .await?
            .iter()
            .map(Item::parse)
            .collect()
    }
}
