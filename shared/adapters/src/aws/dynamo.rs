//! The DynamoDB adapter: one table, `pk`/`sk` keys, `expires_at` as the TTL attribute.
//!
//! Every guarantee of the [`Items`] port is a DynamoDB condition expression, so it holds across all
//! Lambda instances: creates are `attribute_not_exists(pk) OR expires_at <= :now`, takes are a
//! conditional `DeleteItem` returning the old item, versioned writes compare `version`. Reads are
//! strongly consistent. Queries never scan.
//!
//! Partitions of one kind (every tenant) are listed from the table's inverted index
//! [`SORT_KEY_INDEX`] (partition key `sk`, sort key `pk`, projecting `expires_at`): one query for
//! every head item with a given sort key, in partition-key order. The index is built from the two
//! key attributes every item already has, so DynamoDB fills it for existing items when it is
//! added, and each write costs one more (small) index write. Index reads are eventually consistent.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use domain::store::{Item, Items, Page, StoreError};

/// The table's inverted index: partition key `sk`, sort key `pk`, projecting `expires_at`
/// (template.yaml declares it on `AppTable`).
pub const SORT_KEY_INDEX: &str = "sk-pk";

/// Creates a table shaped as this adapter needs it (and as template.yaml's `AppTable` is): `pk`/`sk`
/// string keys, the inverted index [`SORT_KEY_INDEX`] with `expires_at` projected, TTL on
/// `expires_at`, on-demand billing. For the tests against the AWS API emulator and for trying the
/// adapter by hand; a deployment's table comes from the template.
pub async fn create_table(client: &Client, name: &str) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let fail = |e: &dyn std::fmt::Display| format!("creating the table {name}: {e}");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, k| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(k)
            .build()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk").map_err(|e| fail(&e))?)
        .attribute_definitions(attr("sk").map_err(|e| fail(&e))?)
        .key_schema(key("pk", KeyType::Hash).map_err(|e| fail(&e))?)
        .key_schema(key("sk", KeyType::Range).map_err(|e| fail(&e))?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(SORT_KEY_INDEX)
                .key_schema(key("sk", KeyType::Hash).map_err(|e| fail(&e))?)
                .key_schema(key("pk", KeyType::Range).map_err(|e| fail(&e))?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("expires_at")
                        .build(),
                )
                .build()
                .map_err(|e| fail(&e))?,
        )
        .send()
        .await
        .map_err(|e| fail(&aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .map_err(|e| fail(&e))?,
        )
        .send()
        .await
        .map_err(|e| fail(&aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct DynamoItems {
    client: Client,
    table: String,
}

impl DynamoItems {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

type Attrs = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_attrs(item: &Item, version: u64) -> Result<Attrs, StoreError> {
    let data = serde_json::to_string(&item.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut a = Attrs::new();
    a.insert("pk".into(), s(&item.pk));
    a.insert("sk".into(), s(&item.sk));
    a.insert("data".into(), AttributeValue::S(data));
    a.insert("version".into(), n(version));
    if let Some(e) = item.expires_at {
        a.insert("expires_at".into(), n(e));
    }
    Ok(a)
}

fn from_attrs(a: &Attrs) -> Result<Item, StoreError> {
    let text = |k: &str| match a.get(k) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt(format!(
            "attribute {k} missing or not a string"
        ))),
    };
    let number = |k: &str| -> Result<Option<i64>, StoreError> {
        match a.get(k) {
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("attribute {k} is not an integer"))),
            None => Ok(None),
            _ => Err(StoreError::Corrupt(format!(
                "attribute {k} is not a number"
            ))),
        }
    };
    let pk = text("pk")?;
    let sk = text("sk")?;
    let data = serde_json::from_str(&text("data")?)
        .map_err(|e| StoreError::Corrupt(format!("{pk}/{sk}: {e}")))?;
    Ok(Item {
        data,
        expires_at: number("expires_at")?,
        version: number("version")?.unwrap_or(0).max(0) as u64,
        pk,
        sk,
    })
}

fn key(pk: &str, sk: &str) -> Attrs {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// Whether an SDK error is a failed condition (as opposed to the store being unavailable).
fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::unavailable(e)
}

impl Items for DynamoItems {
    async fn put_new(&self, item: &Item, now: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(item, 1)?))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put(&self, item: &Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(item, item.version + 1)?))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn put_versioned(&self, item: &Item) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(item, item.version + 1)?))
            .condition_expression(if item.version == 0 {
                "attribute_not_exists(pk) OR #v = :v"
            } else {
                "#v = :v"
            })
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(item.version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match out.item() {
            Some(a) => Ok(Some(from_attrs(a)?).filter(|i| i.is_live(now))),
            None => Ok(None),
        }
    }

    async fn take(&self, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at > :now)",
            )
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes().map(from_attrs).transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn query(&self, pk: &str, sk_prefix: &str, now: i64) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Attrs> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take());
            q = if sk_prefix.is_empty() {
                q.key_condition_expression("pk = :pk")
            } else {
                q.key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                    .expression_attribute_values(":p", s(sk_prefix))
            };
            let page = q.send().await.map_err(unavailable)?;
            for a in page.items() {
                let item = from_attrs(a)?;
                if item.is_live(now) {
                    out.push(item);
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn query_page(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
        now: i64,
    ) -> Result<Page<Item>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(page_limit(limit))
            .expression_attribute_values(":pk", s(pk))
            .set_exclusive_start_key(after.map(|a| key(pk, a)));
        q = if sk_prefix.is_empty() {
            q.key_condition_expression("pk = :pk")
        } else {
            q.key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":p", s(sk_prefix))
        };
        let page = q.send().await.map_err(unavailable)?;
        let mut entries = Vec::with_capacity(page.items().len());
        for a in page.items() {
            let item = from_attrs(a)?;
            if item.is_live(now) {
                entries.push(item);
            }
        }
        let next = match page.last_evaluated_key() {
            Some(k) => match k.get("sk") {
                Some(AttributeValue::S(sk)) => Some(sk.clone()),
                _ => {
                    return Err(StoreError::Corrupt(
                        "a query page ended without a sort key".into(),
                    ));
                }
            },
            None => None,
        };
        Ok(Page { entries, next })
    }

    async fn partitions(
        &self,
        pk_prefix: &str,
        head_sk: &str,
        after: Option<&str>,
        limit: usize,
        now: i64,
    ) -> Result<Page<String>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(SORT_KEY_INDEX)
            .limit(page_limit(limit))
            .expression_attribute_values(":h", s(head_sk))
            // Index keys and table keys are the same two attributes, so a cursor is rebuilt from the
            // partition key alone.
            .set_exclusive_start_key(after.map(|a| key(a, head_sk)));
        q = if pk_prefix.is_empty() {
            q.key_condition_expression("sk = :h")
        } else {
            q.key_condition_expression("sk = :h AND begins_with(pk, :p)")
                .expression_attribute_values(":p", s(pk_prefix))
        };
        let page = q.send().await.map_err(unavailable)?;
        let mut entries = Vec::with_capacity(page.items().len());
        for a in page.items() {
            let pk = match a.get("pk") {
                Some(AttributeValue::S(pk)) => pk.clone(),
                _ => {
                    return Err(StoreError::Corrupt(
                        "an index entry without a partition key".into(),
                    ));
                }
            };
            let expires_at = match a.get("expires_at") {
                Some(AttributeValue::N(n)) => n.parse::<i64>().ok(),
                _ => None,
            };
            if expires_at.is_none_or(|e| e > now) {
                entries.push(pk);
            }
        }
        let next = match page.last_evaluated_key() {
            Some(k) => match k.get("pk") {
                Some(AttributeValue::S(pk)) => Some(pk.clone()),
                _ => {
                    return Err(StoreError::Corrupt(
                        "an index page ended without a partition key".into(),
                    ));
                }
            },
            None => None,
        };
        Ok(Page { entries, next })
    }
}

/// DynamoDB's `Limit` for a page of `limit` items (at least 1; DynamoDB also ends a page at 1 MB).
fn page_limit(limit: usize) -> i32 {
    i32::try_from(limit.max(1)).unwrap_or(i32::MAX)
}
