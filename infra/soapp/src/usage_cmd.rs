//! `soapp usage`: print the per-tenant usage report (see `soapp::usage`).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use domain::store::Items;
use soapp::usage::{self, UsageError};
use superoffice::TenantId;

use crate::cli::{UsageArgs, UsageFormat};
use crate::output;

/// Where the usage items are.
enum Store {
    /// A DynamoDB table (the AWS SDK reads the region and credentials from the environment).
    Dynamo(String),
    /// An embedded store folder (the local runner's `{data dir}/store`).
    Embedded(std::path::PathBuf),
}

/// The store the options name: `--data-dir` (the local runner's folder), or the env file's
/// `APP_TABLE_NAME` or `APP_DATA_DIR` (the file first, then the process environment).
fn store(args: &UsageArgs) -> Result<Store, String> {
    if let Some(dir) = &args.data_dir {
        return Ok(Store::Embedded(dir.join("store")));
    }
    let mut vars = HashMap::new();
    if let Some(path) = &args.env_file {
        vars = crate::env_file::read(path)?;
    }
    let get = |name: &str| {
        vars.get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    };
    match (get("APP_TABLE_NAME"), get("APP_DATA_DIR")) {
        (Some(table), None) => Ok(Store::Dynamo(table)),
        (None, Some(dir)) => Ok(Store::Embedded(dir.into())),
        (Some(_), Some(_)) => {
            Err("APP_TABLE_NAME and APP_DATA_DIR are both set: use one of them".into())
        }
        (None, None) => Err(
            "no store: give --env-file with APP_TABLE_NAME (a deployment's table) or APP_DATA_DIR, \
             or --data-dir (the local runner's folder)"
                .into(),
        ),
    }
}

pub fn run(args: UsageArgs) -> ExitCode {
    let usage_error = |message: String| {
        output::stderr(&format!("error: {message}\n"));
        ExitCode::from(2)
    };
    let (from, to) = match (usage::parse_day(&args.from), usage::parse_day(&args.to)) {
        (Ok(f), Ok(t)) if f <= t => (f, t),
        (Ok(_), Ok(_)) => return usage_error("--from is after --to".into()),
        (Err(e), _) | (_, Err(e)) => return usage_error(e),
    };
    let mut tenants = Vec::new();
    for t in &args.tenants {
        match TenantId::parse(t) {
            Ok(id) => tenants.push(id),
            Err(_) => return usage_error(format!("{t:?} is not a tenant id (such as Cust12345)")),
        }
    }
    let store = match store(&args) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    crate::block_on(async move {
        let rows = match store {
            Store::Embedded(dir) => {
                if !dir.is_dir() {
                    return usage_error(format!("{} is not a store folder", dir.display()));
                }
                match adapters::local::embedded::EmbeddedItems::open(&dir) {
                    Ok(items) => rows(Arc::new(items), tenants, from, to, args.total).await,
                    Err(e) => Err(UsageError::StoreUnavailable(e)),
                }
            }
            Store::Dynamo(table) => {
                let sdk = adapters::aws::sdk_config().await;
                let items = adapters::aws::dynamo::DynamoItems::new(
                    adapters::aws::dynamo_client(&sdk),
                    table,
                );
                rows(Arc::new(items), tenants, from, to, args.total).await
            }
        };
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                output::stderr(&format!("error: {}\n", soapp::error_chain(&e)));
                return ExitCode::from(2);
            }
        };
        let text = match args.format {
            UsageFormat::Csv => usage::csv(&rows, from, to, args.total),
            UsageFormat::Json => usage::json(&rows, from, to),
        };
        match output::stdout(&text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        }
    })
}

async fn rows<I: Items>(
    items: Arc<I>,
    mut tenants: Vec<TenantId>,
    from: time::Date,
    to: time::Date,
    total: bool,
) -> Result<Vec<usage::Row>, UsageError> {
    if tenants.is_empty() {
        tenants = usage::all_tenants(&*items).await?;
    }
    tenants.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    tenants.dedup();
    usage::report(items, &tenants, from, to, total).await
}
