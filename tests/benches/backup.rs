//! Backup benchmark against the AWS API emulator (moto) on loopback:
//!
//! * backup throughput (items/s) against a raw parallel scan (4 segments) of the same table, in
//!   the same run;
//! * peak memory (VmHWM) of the process that runs the backup (a child of this one, so seeding and
//!   the baseline do not count);
//! * KMS calls per run;
//! * restore throughput (all partitions into an empty table) against the raw bulk load of the same
//!   items (BatchWriteItem, 25 per request, 8 in flight) in the same run.
//!
//! ```sh
//! scripts/bench-backup                                    # 10 000 items in 100 tenants
//! scripts/bench-backup --items 100000 --tenants 100
//! scripts/bench-backup --items 300000 --tenants 100 --no-restore
//! scripts/bench-backup --local --items 1000000 --tenants 100
//! ```
//! (the script starts the emulator and runs `cargo bench -p integration-tests --bench backup --
//! ARGS`). `--page-items` sets the backup's query page (default 2000, the backup's own; DynamoDB
//! also ends a page at 1 MB). `--no-restore` skips the restore (a conditional put per item).
//!
//! In this emulator every Query, Scan page and index query walks the whole table (moto's
//! `Table.query` filters `all_items()`), so times grow with the table's size times the number of
//! requests, and a million items are impractical there. `--local` runs the same backup with the
//! local adapters (the embedded store, a folder, a key file) against reading every partition by
//! query: memory is the pipeline's own either way (the S3 adapter adds one upload part, 5 MiB).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use adapters::aws::backup_keys::KmsKeyWrap;
use adapters::aws::dynamo::DynamoItems;
use adapters::aws::s3::S3Objects;
use adapters::esdk::EsdkCipher;
use domain::backup::keys::{DataKey, KeyWrap, KeyWrapError, WrappedKey};
use domain::backup::restore::{RestoreOptions, Target};
use domain::backup::run::{RunOutcome, Trigger};
use domain::backup::verify::Which;
use domain::backup::{BackupPorts, Backups, Settings, Unlimited};
use domain::store::{Item, Items};
use integration_tests::{
    emulator_bucket, emulator_kms_key, emulator_sdk, emulator_table, seed_items,
};
use serde_json::json;
use superoffice::clock::SystemClock;

struct Counting {
    inner: KmsKeyWrap,
    calls: AtomicU64,
}

impl KeyWrap for Counting {
    async fn generate(
        &self,
        context: &BTreeMap<String, String>,
    ) -> Result<(DataKey, WrappedKey), KeyWrapError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.generate(context).await
    }
    async fn unwrap(
        &self,
        wrapped: &WrappedKey,
        context: &BTreeMap<String, String>,
    ) -> Result<DataKey, KeyWrapError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap(wrapped, context).await
    }
}

struct Bench;

impl BackupPorts for Bench {
    type Items = DynamoItems;
    type Wrap = Counting;
    type Cipher = EsdkCipher;
    type Objects = S3Objects;
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn backups(
    table: &str,
    bucket: &str,
    key: &str,
    page_items: usize,
) -> (Backups<Bench>, Arc<Counting>) {
    let sdk = emulator_sdk().await;
    let wrap = Arc::new(Counting {
        inner: KmsKeyWrap::new(aws_sdk_kms::Client::new(&sdk), key),
        calls: AtomicU64::new(0),
    });
    let b = Backups::new(
        Arc::new(DynamoItems::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        wrap.clone(),
        Arc::new(EsdkCipher::new().expect("the Encryption SDK")),
        Arc::new(S3Objects::new(adapters::aws::s3::s3_client(&sdk), bucket)),
        Settings {
            page_items,
            ..Settings::new("superoffice-app", "bench")
        },
        Arc::new(SystemClock),
    );
    (b, wrap)
}

/// The child with the local adapters: one backup of the data folder, then its figures.
async fn local_child(args: &[String]) {
    let dir = std::path::PathBuf::from(arg(args, "--data").expect("--data"));
    let config = soapp::local::backup_config(&dir).expect("configuration");
    let b = app::backup::local(&config).expect("the local backup");
    let started = Instant::now();
    let items = match b.run(Trigger::Start, &Unlimited).await.expect("backup") {
        RunOutcome::Finished(m) => m.totals.items,
        other => panic!("{other:?}"),
    };
    println!(
        "{}",
        json!({
            "seconds": started.elapsed().as_secs_f64(),
            "items": items,
            "kms_calls": 0,
            "peak_kib": peak_kib(),
        })
    );
}

/// The local comparison: the embedded store seeded in one transaction at a time, every partition
/// read by query (the baseline), then the backup in a child process.
async fn local(items: u64, tenants: u64) {
    let dir = tempfile::tempdir().expect("a data folder");
    let all = data(items, tenants);
    let n = all.len() as u64;
    let baseline = {
        let store = adapters::local::embedded::EmbeddedItems::open(&dir.path().join("store"))
            .expect("the embedded store");
        for chunk in all.chunks(50_000) {
            store.put_many(chunk).expect("bulk load");
        }
        drop(all);
        let started = Instant::now();
        let mut read = 0u64;
        for t in 0..tenants {
            let pk = format!("TENANT#Cust{}", 10_000 + t);
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .query_page(&pk, "", after.as_deref(), 2000, 0)
                    .await
                    .expect("query");
                read += page.entries.len() as u64;
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        assert_eq!(read, n);
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "  query every partition (baseline): {seconds:.2} s = {:.0} items/s",
            n as f64 / seconds
        );
        seconds
    };
    let backup = run_child(&[
        "--local-child",
        "--data",
        dir.path().to_str().expect("path"),
    ]);
    let seconds = backup["seconds"].as_f64().unwrap_or(f64::NAN);
    assert_eq!(backup["items"].as_u64(), Some(n));
    println!(
        "  backup (local adapters): {seconds:.2} s = {:.0} items/s, {:.2}x the queries; peak memory {:.1} MiB",
        n as f64 / seconds,
        baseline / seconds,
        backup["peak_kib"].as_f64().unwrap_or(0.0) / 1024.0
    );
}

/// The child: one backup (or restore), then its figures as one JSON line.
async fn child(args: &[String]) {
    let (table, bucket, key) = (
        arg(args, "--table").expect("--table"),
        arg(args, "--bucket").expect("--bucket"),
        arg(args, "--key").expect("--key"),
    );
    let page_items = arg(args, "--page-items")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let (b, wrap) = backups(&table, &bucket, &key, page_items).await;
    let started = Instant::now();
    let items = if args.iter().any(|a| a == "--restore") {
        let report = b
            .restore(&RestoreOptions {
                backup: Which::Newest,
                target: Target::All,
                overwrite: false,
                dry_run: false,
            })
            .await
            .expect("restore");
        report.total().created
    } else {
        match b.run(Trigger::Start, &Unlimited).await.expect("backup") {
            RunOutcome::Finished(m) => m.totals.items,
            other => panic!("{other:?}"),
        }
    };
    println!(
        "{}",
        json!({
            "seconds": started.elapsed().as_secs_f64(),
            "items": items,
            "kms_calls": wrap.calls.load(Ordering::SeqCst),
            "peak_kib": peak_kib(),
        })
    );
}

fn run_child(args: &[&str]) -> serde_json::Value {
    let mut command = Command::new(std::env::current_exe().expect("this binary"));
    // As the backup function runs (template.yaml: one malloc arena, which keeps its memory flat).
    command.env("MALLOC_ARENA_MAX", "1");
    if args.first() != Some(&"--local-child") {
        command.arg("--child");
    }
    let out = command.args(args).output().expect("the child runs");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON figures")
}

/// Reads every item with a parallel scan (4 segments): the baseline.
async fn parallel_scan(items: &DynamoItems) -> u64 {
    let mut tasks = Vec::new();
    for segment in 0..4 {
        let client = items.client().clone();
        let table = items.table().to_owned();
        tasks.push(tokio::spawn(async move {
            let mut count = 0u64;
            let mut start = None;
            loop {
                let page = client
                    .scan()
                    .table_name(&table)
                    .segment(segment)
                    .total_segments(4)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .expect("scan");
                count += page.items().len() as u64;
                match page.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => return count,
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("segment");
    }
    total
}

/// Reads every tenant partition by Query, `TENANTS_AT_ONCE` partitions at a time.
async fn query_every_tenant(items: &DynamoItems, tenants: u64, page_items: usize) -> u64 {
    let items = Arc::new(items.clone());
    let semaphore = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for t in 0..tenants {
        let (items, semaphore) = (items.clone(), semaphore.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await.expect("semaphore");
            let pk = format!("TENANT#Cust{}", 10_000 + t);
            let mut count = 0u64;
            let mut after: Option<String> = None;
            loop {
                let page = items
                    .query_page(&pk, "", after.as_deref(), page_items, 0)
                    .await
                    .expect("query");
                count += page.entries.len() as u64;
                match page.next {
                    Some(next) => after = Some(next),
                    None => return count,
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("query task");
    }
    total
}

fn data(items: u64, tenants: u64) -> Vec<Item> {
    let per = (items / tenants).max(1);
    let mut out = Vec::with_capacity(items as usize);
    for t in 0..tenants {
        let pk = format!("TENANT#Cust{}", 10_000 + t);
        out.push(Item::new(&pk, "TENANT", json!({"id": format!("Cust{}", 10_000 + t), "status": "installed", "company": "Demo Company AS"})));
        for r in 1..per {
            out.push(Item::new(
                &pk,
                format!("ARTIFACT#{r:06}#field"),
                json!({"seq": r, "kind": "field", "key": format!("x_field_{r}"), "superoffice_id": r * 7, "name": "A user-defined field provisioned by the app", "state": "created"}),
            ));
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--child") {
        return child(&args).await;
    }
    if args.iter().any(|a| a == "--local-child") {
        return local_child(&args).await;
    }
    let items: u64 = arg(&args, "--items")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let tenants: u64 = arg(&args, "--tenants")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    if args.iter().any(|a| a == "--local") {
        println!("backup benchmark: {items} items in {tenants} tenants, local adapters");
        return local(items, tenants).await;
    }
    println!("backup benchmark: {items} items in {tenants} tenants, AWS API emulator on loopback");

    let table = emulator_table("bench").await;
    let (_, bucket) = emulator_bucket("bench").await;
    let key = emulator_kms_key().await;
    let all = data(items, tenants);
    let n = all.len() as u64;
    let bytes: usize = all
        .iter()
        .map(|i| i.data.to_string().len() + i.pk.len() + i.sk.len())
        .sum();
    let started = Instant::now();
    seed_items(&table, all, 8).await;
    let load = started.elapsed().as_secs_f64();
    println!(
        "  bulk load (baseline for restore): {n} items ({:.1} MiB) in {load:.2} s = {:.0} items/s",
        bytes as f64 / 1048576.0,
        n as f64 / load
    );

    let started = Instant::now();
    let scanned = parallel_scan(&table).await;
    let scan = started.elapsed().as_secs_f64();
    assert_eq!(scanned, n);
    println!(
        "  parallel scan (baseline for backup): {scan:.2} s = {:.0} items/s",
        n as f64 / scan
    );

    // The floor of any design that reads by Query per tenant (no Scan): every tenant partition
    // queried, eight at a time, nothing else. In this emulator a Query walks the whole table
    // (moto's Table.query filters all_items()), so this grows with tenants x table size; DynamoDB
    // reads only the partition.
    let started = Instant::now();
    let page: usize = arg(&args, "--page-items")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let queried = query_every_tenant(&table, tenants, page).await;
    let queries = started.elapsed().as_secs_f64();
    assert_eq!(queried, n);
    println!(
        "  query per tenant, 8 at a time (the floor without a scan): {queries:.2} s = {:.0} items/s, {:.2}x the scan",
        n as f64 / queries,
        scan / queries
    );

    let page_items = arg(&args, "--page-items").unwrap_or_else(|| "2000".into());
    let backup = run_child(&[
        "--table",
        table.table(),
        "--bucket",
        &bucket,
        "--key",
        &key,
        "--page-items",
        &page_items,
    ]);
    let seconds = backup["seconds"].as_f64().unwrap_or(f64::NAN);
    assert_eq!(backup["items"].as_u64(), Some(n));
    println!(
        "  backup: {seconds:.2} s = {:.0} items/s, {:.2}x the scan, {:.2}x the queries; peak memory {:.1} MiB; KMS calls {}",
        n as f64 / seconds,
        scan / seconds,
        queries / seconds,
        backup["peak_kib"].as_f64().unwrap_or(0.0) / 1024.0,
        backup["kms_calls"]
    );

    if args.iter().any(|a| a == "--no-restore") {
        return;
    }
    // Restore everything into an empty table holding only the tenants' wrapped keys (as a table
    // brought back from point-in-time recovery would).
    let target = emulator_table("bench-restore").await;
    let mut after: Option<String> = None;
    loop {
        let page = table
            .partitions("BACKUP#", "KEY", after.as_deref(), 100, 0)
            .await
            .unwrap();
        for pk in &page.entries {
            if let Some(item) = table.get(pk, "KEY", 0).await.unwrap() {
                target.put(&Item { version: 0, ..item }).await.unwrap();
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let restore = run_child(&[
        "--restore",
        "--table",
        target.table(),
        "--bucket",
        &bucket,
        "--key",
        &key,
    ]);
    let seconds = restore["seconds"].as_f64().unwrap_or(f64::NAN);
    assert_eq!(restore["items"].as_u64(), Some(n));
    println!(
        "  restore: {seconds:.2} s = {:.0} items/s, {:.2}x the bulk load; peak memory {:.1} MiB; KMS calls {}",
        n as f64 / seconds,
        load / seconds,
        restore["peak_kib"].as_f64().unwrap_or(0.0) / 1024.0,
        restore["kms_calls"]
    );
}
