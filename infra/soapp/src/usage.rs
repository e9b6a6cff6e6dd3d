//! `soapp usage`: what the app sent each tenant's WebAPI, per tenant and day, for SuperOffice's
//! operations centre (certification asks partners to account for their load and data usage).
//!
//! The figures are the daily usage items the job worker keeps per tenant (`domain::usage`:
//! `TENANT#{id}` / `USAGE#{yyyy-mm-dd}`, every attempt counted, retries included, kept about 13
//! months), read from the store a configuration names: the DynamoDB table of a deployment, or the
//! local runner's embedded store. Nothing is called at SuperOffice.
//!
//! Which tenants: those named with `--tenant`, or every tenant the store holds, found by the store
//! port's partition walk (`Items::partitions`: the partitions holding a tenant record, by a query
//! of the inverted index in DynamoDB, never a table scan), as the backup finds them. A tenant the
//! app has forgotten (uninstalled, purged) has no usage left to report either.

use std::sync::Arc;
use std::time::SystemTime;

use domain::backup::scope::{Scope, TENANT_HEAD, TENANT_PREFIX};
use domain::store::{Items, StoreError};
use domain::usage::DailyUsage;
use superoffice::TenantId;
use superoffice::clock::SystemClock;
use superoffice::usage::TenantUsage;
use time::Date;
use time::macros::format_description;

/// Why a report cannot be made, by what the operator can do.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The store could not be read: check the table, the region and the credentials (or the
    /// folder, and that no `soapp serve` holds it open).
    #[error("the store cannot be read: {0}")]
    StoreUnavailable(#[source] StoreError),
}

/// One row: a tenant's usage on one day, or over the whole range (`day` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub tenant: TenantId,
    pub day: Option<String>,
    pub usage: TenantUsage,
}

/// A day as the options take it (`YYYY-MM-DD`).
pub fn parse_day(text: &str) -> Result<Date, String> {
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD)"))
}

/// Tenants listed per page of the walk.
const TENANTS_PER_PAGE: usize = 100;

/// Every tenant the store holds (a partition with a tenant record), in id order.
pub async fn all_tenants<I: Items>(items: &I) -> Result<Vec<TenantId>, UsageError> {
    let now = superoffice::clock::unix_seconds(SystemTime::now());
    let mut tenants = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = items
            .partitions(
                TENANT_PREFIX,
                TENANT_HEAD,
                after.as_deref(),
                TENANTS_PER_PAGE,
                now,
            )
            .await
            .map_err(UsageError::StoreUnavailable)?;
        tenants.extend(
            page.entries
                .iter()
                .filter_map(|pk| Scope::from_tenant_partition(pk))
                .filter_map(|scope| scope.tenant().cloned()),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(tenants)
}

/// The usage of `tenants` from `from` to `to` (both included): one row per tenant and stored day,
/// oldest first, or with `total` one row per tenant (zeros for a tenant without usage).
pub async fn report<I: Items>(
    items: Arc<I>,
    tenants: &[TenantId],
    from: Date,
    to: Date,
    total: bool,
) -> Result<Vec<Row>, UsageError> {
    let usage = DailyUsage::new(items, Arc::new(SystemClock));
    let (from, to) = (from.to_string(), to.to_string());
    let mut rows = Vec::new();
    for tenant in tenants {
        let days = usage
            .days(tenant)
            .await
            .map_err(UsageError::StoreUnavailable)?;
        // Days are ISO dates: text order is date order.
        let in_range = days
            .into_iter()
            .filter(|(day, _)| *day >= from && *day <= to);
        if total {
            let mut sum = TenantUsage::default();
            for (_, u) in in_range {
                sum += u;
            }
            rows.push(Row {
                tenant: tenant.clone(),
                day: None,
                usage: sum,
            });
        } else {
            rows.extend(in_range.map(|(day, usage)| Row {
                tenant: tenant.clone(),
                day: Some(day),
                usage,
            }));
        }
    }
    Ok(rows)
}

/// The columns, in order (CSV header and JSON member names).
const COLUMNS: &[&str] = &[
    "tenant",
    "day",
    "from",
    "to",
    "calls",
    "bytes_sent",
    "bytes_received",
    "throttled",
    "failures",
];

fn cells(row: &Row, from: Date, to: Date) -> Vec<(&'static str, serde_json::Value)> {
    let u = &row.usage;
    let (day, range) = match &row.day {
        Some(d) => (d.clone(), (d.clone(), d.clone())),
        None => (String::new(), (from.to_string(), to.to_string())),
    };
    let mut out = vec![("tenant", row.tenant.as_str().into())];
    if row.day.is_some() {
        out.push(("day", day.into()));
    } else {
        out.push(("from", range.0.into()));
        out.push(("to", range.1.into()));
    }
    out.extend([
        ("calls", u.calls.into()),
        ("bytes_sent", u.bytes_sent.into()),
        ("bytes_received", u.bytes_received.into()),
        ("throttled", u.throttles.into()),
        ("failures", u.failures.into()),
    ]);
    out
}

/// CSV with a header line: `tenant,day,calls,…` (with `total`: `tenant,from,to,calls,…`). Tenant
/// ids and days hold no comma or quote, so no field needs quoting.
pub fn csv(rows: &[Row], from: Date, to: Date, total: bool) -> String {
    let header: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|c| {
            if total {
                *c != "day"
            } else {
                !matches!(*c, "from" | "to")
            }
        })
        .collect();
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let line: Vec<String> = cells(row, from, to)
            .into_iter()
            .map(|(_, v)| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// A JSON array of objects with the CSV's columns as members.
pub fn json(rows: &[Row], from: Date, to: Date) -> String {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::Value::Object(
                cells(r, from, to)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tenant: &str, day: Option<&str>, calls: u64) -> Row {
        Row {
            tenant: TenantId::parse(tenant).unwrap(),
            day: day.map(str::to_owned),
            usage: TenantUsage {
                calls,
                bytes_sent: 10,
                bytes_received: 100,
                throttles: 1,
                failures: 0,
            },
        }
    }

    #[test]
    fn csv_and_json_have_the_same_columns() {
        let (from, to) = (
            parse_day("2026-12-01").unwrap(),
            parse_day("2026-12-31").unwrap(),
        );
        let days = [row("Cust1", Some("2026-12-02"), 5)];
        assert_eq!(
            csv(&days, from, to, false),
            "tenant,day,calls,bytes_sent,bytes_received,throttled,failures\n\
             Cust1,2026-12-02,5,10,100,1,0\n"
        );
        let totals = [row("Cust1", None, 7)];
        assert_eq!(
            csv(&totals, from, to, true),
            "tenant,from,to,calls,bytes_sent,bytes_received,throttled,failures\n\
             Cust1,2026-12-01,2026-12-31,7,10,100,1,0\n"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&totals, from, to)).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"tenant": "Cust1", "from": "2026-12-01", "to": "2026-12-31",
                "calls": 7, "bytes_sent": 10, "bytes_received": 100, "throttled": 1, "failures": 0}])
        );
        assert!(parse_day("2026-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
