//! Backups through the AWS API emulator with the real adapters: DynamoDB (the table and its inverted
//! index), KMS (the key that wraps tenant keys), S3 (create-only objects, multipart uploads, ranged
//! reads) and the AWS Encryption SDK. The standard `aws-encryption-cli` (installed by scripts/test,
//! `SOAPP_ENCRYPTION_CLI`) decrypts a backup on its own.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use adapters::aws::backup_keys::KmsKeyWrap;
use adapters::aws::dynamo::DynamoItems;
use adapters::aws::s3::S3Objects;
use adapters::esdk::EsdkCipher;
use aws_sdk_s3::primitives::ByteStream;
use domain::backup::cipher::{CipherError, MessageCipher, message_context};
use domain::backup::keys::{BackupKeys, DataKey, KeyWrap, KeyWrapError, WrappedKey};
use domain::backup::line::Line;
use domain::backup::manifest::{Manifest, hex};
use domain::backup::restore::{RestoreError, RestoreOptions, Target};
use domain::backup::run::{RunOutcome, Trigger};
use domain::backup::verify::{PartitionProblem, Which};
use domain::backup::{BackupKeyStore, BackupPorts, Backups, Budget, Scope, Settings, Unlimited};
use domain::store::{Item, Items};
use integration_tests::{
    emulator_bucket, emulator_kms_key, emulator_sdk, emulator_table, seed_items,
};
use serde_json::json;
use superoffice::TenantId;
use superoffice::clock::SystemClock;

/// Counts the key service's calls.
struct Counting<W> {
    inner: W,
    calls: AtomicU64,
}

impl<W: KeyWrap> KeyWrap for Counting<W> {
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

struct Emulator;

impl BackupPorts for Emulator {
    type Items = DynamoItems;
    type Wrap = Counting<KmsKeyWrap>;
    type Cipher = EsdkCipher;
    type Objects = S3Objects;
}

struct World {
    items: Arc<DynamoItems>,
    wrap: Arc<Counting<KmsKeyWrap>>,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl World {
    async fn new() -> Self {
        let items = Arc::new(emulator_table("backup").await);
        let (s3, bucket) = emulator_bucket("backup").await;
        let kms = aws_sdk_kms::Client::new(&emulator_sdk().await);
        let wrap = Arc::new(Counting {
            inner: KmsKeyWrap::new(kms, emulator_kms_key().await),
            calls: AtomicU64::new(0),
        });
        Self {
            items,
            wrap,
            s3,
            bucket,
        }
    }

    fn backups(&self, environment: &str) -> Backups<Emulator> {
        Backups::new(
            self.items.clone(),
            self.wrap.clone(),
            Arc::new(EsdkCipher::new().expect("the Encryption SDK")),
            Arc::new(S3Objects::new(self.s3.clone(), &self.bucket)),
            Settings::new("superoffice-app", environment),
            Arc::new(SystemClock),
        )
    }

    async fn object(&self, key: &str) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("get_object");
        out.body.collect().await.expect("body").to_vec()
    }

    /// Writes over an object, as someone with write access to the bucket could.
    async fn replace(&self, key: &str, bytes: Vec<u8>) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .expect("put_object");
    }

    /// Every item of the table (a scan: test inspection only).
    async fn snapshot(&self) -> Vec<(String, String, u64, String)> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .items
                .client()
                .scan()
                .table_name(self.items.table())
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect("scan");
            for a in page.items() {
                let s = |k: &str| match a.get(k) {
                    Some(aws_sdk_dynamodb::types::AttributeValue::S(v)) => v.clone(),
                    Some(aws_sdk_dynamodb::types::AttributeValue::N(v)) => v.clone(),
                    _ => String::new(),
                };
                out.push((
                    s("pk"),
                    s("sk"),
                    s("version").parse().unwrap_or(0),
                    s("data"),
                ));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.sort();
        out
    }
}

fn tenant(n: u32) -> TenantId {
    TenantId::parse(&format!("Cust{n}")).unwrap()
}

/// `rows` ledger rows of about `row_bytes` each, a record and a usage day per tenant; the app's
/// records; a session (never backed up).
fn data(tenants: &[(u32, u32)], row_bytes: usize) -> Vec<Item> {
    let mut out = vec![Item::new("APP", "CONFIG", json!({"theme": "blue"}))];
    for &(n, rows) in tenants {
        let pk = format!("TENANT#Cust{n}");
        out.push(Item::new(
            &pk,
            "TENANT",
            json!({"id": format!("Cust{n}"), "status": "installed"}),
        ));
        out.push(
            Item::new(&pk, "USAGE#2027-01-15", json!({"calls": n})).expiring_at(4_000_000_000),
        );
        for r in 0..rows {
            out.push(Item::new(
                &pk,
                format!("ARTIFACT#{r:06}#field"),
                json!({"seq": r, "blob": "x".repeat(row_bytes)}),
            ));
        }
    }
    out.push(Item::new("SESSION#abc", "SESSION", json!({"who": "ada"})).expiring_at(4_000_000_000));
    out
}

async fn finished(b: &Backups<Emulator>) -> Manifest {
    match b
        .run(Trigger::Start, &Unlimited)
        .await
        .expect("the backup runs")
    {
        RunOutcome::Finished(m) => *m,
        other => panic!("not finished: {other:?}"),
    }
}

/// SHA-256 and item count of a partition's lines, computed from the table itself.
async fn expected(items: &DynamoItems, pk: &str) -> (u64, String) {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let all = items.query(pk, "", 0).await.unwrap();
    let mut buf = Vec::new();
    for item in &all {
        Line::write_to(item, &mut buf).unwrap();
    }
    ctx.update(&buf);
    (all.len() as u64, hex(ctx.finish().as_ref()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_round_trips_through_dynamodb_kms_and_s3_with_equal_counts_and_digests() {
    let w = World::new().await;
    // Tenant 3 holds about 6.5 MiB: its object is a multipart upload of two parts.
    seed_items(&w.items, data(&[(1, 3), (2, 40), (3, 1600)], 4000), 8).await;
    let b = w.backups("sod");
    let m = finished(&b).await;
    assert_eq!(
        m.partitions
            .iter()
            .map(|e| e.scope.name())
            .collect::<Vec<_>>(),
        ["app", "Cust1", "Cust2", "Cust3"]
    );
    for e in &m.partitions {
        let (items, sha) = expected(&w.items, &e.scope.partition_key()).await;
        assert_eq!((e.items, &e.plaintext_sha256), (items, &sha), "{}", e.scope);
    }
    let big = m.entry(&Scope::Tenant(tenant(3))).unwrap();
    assert!(
        big.messages.len() >= 6,
        "1 MiB messages: {:?}",
        big.messages
    );
    assert!(big.object_bytes() > 5 * 1024 * 1024);
    // KMS: one key per partition, generated once; the ESDK messages never call it.
    assert_eq!(w.wrap.calls.load(Ordering::SeqCst), 4);

    let report = b.verify(&Which::Newest).await.unwrap();
    assert!(report.passed(), "{:?}", report.checks);
    // The drill verifies the newest backup and records it.
    let drill = b.drill().await.unwrap();
    assert!(drill.report.passed());
    assert!(
        drill
            .newest_verified_age
            .is_some_and(|a| (0..120).contains(&a))
    );
    // Reading back costs one unwrap per partition too.
    assert_eq!(w.wrap.calls.load(Ordering::SeqCst), 4 + 4 + 4);

    // Objects are created only if absent: the manifest cannot be written over.
    use domain::backup::objects::{BackupObjects, ObjectError};
    let objects = S3Objects::new(w.s3.clone(), &w.bucket);
    let manifest_key = format!(
        "backups/sod/{}/{}/manifest.json",
        m.backup_id.date_path(),
        m.backup_id
    );
    assert!(matches!(
        objects.put_new(&manifest_key, b"{}".to_vec()).await,
        Err(ObjectError::AlreadyExists(_))
    ));
    let last = b
        .records()
        .last_backup(&tenant(2), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((last.items, last.backup_id), (42, m.backup_id.clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flipped_byte_or_a_wrong_encryption_context_is_refused_and_nothing_is_restored() {
    let w = World::new().await;
    seed_items(&w.items, data(&[(1, 20), (2, 20)], 200), 4).await;
    let b = w.backups("sod");
    let m = finished(&b).await;
    let entry = m.entry(&Scope::Tenant(tenant(1))).unwrap().clone();

    // A wrong context: the first message, with another backup id or position, does not decrypt.
    let bytes = w.object(&entry.object).await;
    let first = bytes[..entry.messages[0] as usize].to_vec();
    let keys = BackupKeys::new(w.items.clone(), w.wrap.clone(), "superoffice-app", "sod");
    let key = keys.for_reading(&entry.scope).await.unwrap();
    let cipher = EsdkCipher::new().unwrap();
    let right = message_context("superoffice-app", "sod", &entry.scope, &m.backup_id, 1);
    assert!(
        cipher
            .open(&key.1, &key.0.key_name, &right, first.clone())
            .await
            .is_ok()
    );
    for wrong in [
        message_context("superoffice-app", "stage", &entry.scope, &m.backup_id, 1),
        message_context(
            "superoffice-app",
            "sod",
            &Scope::Tenant(tenant(2)),
            &m.backup_id,
            1,
        ),
        message_context("superoffice-app", "sod", &entry.scope, &m.backup_id, 2),
    ] {
        assert!(matches!(
            cipher
                .open(&key.1, &key.0.key_name, &wrong, first.clone())
                .await,
            Err(CipherError::Rejected(_))
        ));
    }

    // A flipped byte in the bucket: verify names the partition, restore writes nothing.
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    w.replace(&entry.object, flipped).await;
    for r in 0..5 {
        w.items
            .delete("TENANT#Cust2", &format!("ARTIFACT#{r:06}#field"))
            .await
            .unwrap();
    }
    let before = w.snapshot().await;
    let report = b.verify(&Which::Newest).await.unwrap();
    assert!(!report.passed());
    let bad: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.outcome.is_err())
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].scope, Scope::Tenant(tenant(1)));
    assert!(matches!(
        bad[0].outcome,
        Err(PartitionProblem::Rejected { .. })
    ));
    let err = b
        .restore(&RestoreOptions {
            backup: Which::Newest,
            target: Target::All,
            overwrite: false,
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, RestoreError::Refused { .. }), "{err}");
    assert_eq!(
        w.snapshot().await,
        before,
        "nothing restored, not even tenant 2"
    );

    // A truncated object.
    w.replace(&entry.object, bytes[..bytes.len() - 1].to_vec())
        .await;
    let report = b.verify(&Which::Newest).await.unwrap();
    assert!(
        report
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Err(PartitionProblem::Size { .. })))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_environments_backup_is_refused() {
    let w = World::new().await;
    seed_items(&w.items, data(&[(1, 5)], 100), 4).await;
    let m = finished(&w.backups("sod")).await;
    // Copy the sod backup where the stage stack looks for its own.
    let mut token = None;
    loop {
        let page =
            w.s3.list_objects_v2()
                .bucket(&w.bucket)
                .prefix("backups/sod/")
                .set_continuation_token(token.take())
                .send()
                .await
                .unwrap();
        for o in page.contents() {
            let key = o.key().unwrap();
            let bytes = w.object(key).await;
            w.replace(&key.replacen("backups/sod/", "backups/stage/", 1), bytes)
                .await;
        }
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    let stage = w.backups("stage");
    let err = stage
        .verify(&Which::Id(m.backup_id.clone()))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("belongs to the \"sod\" environment, not \"stage\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standard_aws_encryption_cli_decrypts_a_backup() {
    let cli = std::env::var("SOAPP_ENCRYPTION_CLI").unwrap_or_else(|_| {
        panic!(
            "this test needs the standard aws-encryption-cli with the backup key provider: run it \
             through scripts/test (it installs both and sets SOAPP_ENCRYPTION_CLI)"
        )
    });
    let w = World::new().await;
    // Two messages for tenant 1 (about 1.3 MiB).
    seed_items(&w.items, data(&[(1, 320)], 4000), 8).await;
    let b = w.backups("sod");
    let m = finished(&b).await;
    let entry = m.entry(&Scope::Tenant(tenant(1))).unwrap().clone();
    assert!(entry.messages.len() >= 2, "{:?}", entry.messages);

    let dir = tempfile::tempdir().unwrap();
    // The tenant's key, unwrapped with KMS as an operator would (infra/DEPLOY.md).
    let keys = BackupKeys::new(w.items.clone(), w.wrap.clone(), "superoffice-app", "sod");
    let key = keys.for_reading(&entry.scope).await.unwrap();
    let key_file = dir.path().join("tenant.key");
    std::fs::write(&key_file, key.1.expose()).unwrap();

    let object = w.object(&entry.object).await;
    let mut offset = 0usize;
    let mut plaintext = Vec::new();
    for (i, size) in entry.messages.iter().enumerate() {
        let number = i + 1;
        let input = dir.path().join(format!("message{number}.esdk"));
        std::fs::write(&input, &object[offset..offset + *size as usize]).unwrap();
        offset += *size as usize;
        let output = dir.path().join(format!("message{number}.jsonl"));
        let run = |context: &[String], out: &std::path::Path| {
            let status = Command::new(&cli)
                .args(["--decrypt", "--suppress-metadata", "--input"])
                .arg(&input)
                .arg("--output")
                .arg(out)
                .args([
                    "--wrapping-keys",
                    "provider=soapp-backup",
                    &format!("key={}", entry.key.key_name),
                    &format!("key-file={}", key_file.display()),
                    "--commitment-policy",
                    "require-encrypt-require-decrypt",
                    "--encryption-context",
                ])
                .args(context)
                .output()
                .expect("aws-encryption-cli runs");
            assert!(
                status.status.success(),
                "aws-encryption-cli failed: {}",
                String::from_utf8_lossy(&status.stderr)
            );
        };
        let context = |env: &str| {
            vec![
                "app=superoffice-app".to_owned(),
                format!("environment={env}"),
                format!("tenant={}", entry.scope.name()),
                format!("backup_id={}", m.backup_id),
                format!("message={number}"),
            ]
        };
        run(&context("sod"), &output);
        let bytes = std::fs::read(&output).expect("the CLI wrote the plaintext");
        assert!(!bytes.is_empty());
        plaintext.extend_from_slice(&bytes);
        // The trap: with a context the message does not hold, the CLI still exits 0, but writes
        // nothing. Only the output tells.
        let skipped = dir.path().join(format!("wrong{number}.jsonl"));
        run(&context("stage"), &skipped);
        assert!(
            std::fs::read(&skipped)
                .map(|b| b.is_empty())
                .unwrap_or(true),
            "a wrong context must not produce plaintext"
        );
    }
    // The CLI's output, on its own, is the partition: its digest and line count are the manifest's.
    let mut sha = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    sha.update(&plaintext);
    assert_eq!(hex(sha.finish().as_ref()), entry.plaintext_sha256);
    assert_eq!(
        plaintext.iter().filter(|b| **b == b'\n').count() as u64,
        entry.items
    );
    let first: serde_json::Value =
        serde_json::from_slice(plaintext.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["pk"], "TENANT#Cust1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erased_tenants_backup_can_no_longer_be_decrypted_while_anothers_can() {
    let w = World::new().await;
    seed_items(&w.items, data(&[(1, 10), (2, 10)], 100), 4).await;
    let b = w.backups("sod");
    finished(&b).await;
    BackupKeyStore::new(w.items.clone())
        .erase(&tenant(1))
        .await
        .unwrap();
    let report = b.verify(&Which::Newest).await.unwrap();
    let outcome = |n| {
        report
            .checks
            .iter()
            .find(|c| c.scope == Scope::Tenant(tenant(n)))
            .unwrap()
            .outcome
            .clone()
    };
    assert_eq!(outcome(1), Err(PartitionProblem::Erased));
    assert_eq!(outcome(2), Ok(()));
    assert!(matches!(
        b.restore(&RestoreOptions {
            backup: Which::Newest,
            target: Target::Tenant(tenant(1)),
            overwrite: true,
            dry_run: false,
        })
        .await,
        Err(RestoreError::Erased(_))
    ));
    // And the wrapped key is gone from the table: nothing left to unwrap.
    assert!(
        BackupKeyStore::new(w.items.clone())
            .load(&Scope::Tenant(tenant(1)))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_through_the_emulator_writes_back_what_was_lost_once() {
    let w = World::new().await;
    seed_items(&w.items, data(&[(1, 30)], 200), 4).await;
    let b = w.backups("sod");
    finished(&b).await;
    let original = w.snapshot().await;
    for r in 0..10 {
        w.items
            .delete("TENANT#Cust1", &format!("ARTIFACT#{r:06}#field"))
            .await
            .unwrap();
    }
    let options = RestoreOptions {
        backup: Which::Newest,
        target: Target::Tenant(tenant(1)),
        overwrite: false,
        dry_run: false,
    };
    let report = b.restore(&options).await.unwrap();
    assert_eq!((report.total().created, report.total().unchanged), (10, 22));
    let restored = w.snapshot().await;
    let content = |s: &[(String, String, u64, String)]| {
        s.iter()
            .map(|(p, k, _, d)| (p.clone(), k.clone(), d.clone()))
            .collect::<Vec<_>>()
    };
    // The backup's own records aside (they changed: the run and its keys), the table is back.
    let tenant_rows = |s: &[(String, String, u64, String)]| {
        content(s)
            .into_iter()
            .filter(|(p, _, _)| p.starts_with("TENANT#"))
            .collect::<Vec<_>>()
    };
    assert_eq!(tenant_rows(&restored), tenant_rows(&original));
    let again = b.restore(&options).await.unwrap();
    assert_eq!((again.total().created, again.total().unchanged), (0, 32));
    assert_eq!(
        w.snapshot().await,
        restored,
        "the second restore writes nothing"
    );
}

/// A budget that allows `n` partitions per invocation.
struct Partitions(AtomicUsize);

impl Budget for Partitions {
    fn may_start_partition(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
            .is_ok()
    }
    fn must_stop(&self) -> bool {
        false
    }
    fn lease_until(&self, now: i64) -> i64 {
        now + 600
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_interrupted_at_its_time_limit_continues_and_produces_the_same_result() {
    let w = World::new().await;
    seed_items(
        &w.items,
        data(&[(1, 10), (2, 20), (3, 30), (4, 40)], 100),
        4,
    )
    .await;
    let b = w.backups("sod");
    let whole = finished(&b).await;
    let mut invocations = 0;
    let resumed = loop {
        invocations += 1;
        let trigger = if invocations == 1 {
            Trigger::Start
        } else {
            Trigger::Continue
        };
        match b
            .run(trigger, &Partitions(AtomicUsize::new(2)))
            .await
            .unwrap()
        {
            RunOutcome::Paused { .. } => assert!(invocations < 10),
            RunOutcome::Finished(m) => break *m,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!((invocations, resumed.invocations), (3, 3));
    let content = |m: &Manifest| {
        m.partitions
            .iter()
            .map(|e| (e.scope.clone(), e.items, e.plaintext_sha256.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(content(&resumed), content(&whole));
    assert!(
        b.verify(&Which::Id(resumed.backup_id))
            .await
            .unwrap()
            .passed()
    );
}
