//! The backup's rules against in-memory ports: what a run holds, resumption at a time limit, KMS
//! calls per tenant, crypto-erase, verification and restore, and every kind of bad input refused
//! with nothing changed. The same runs against DynamoDB, KMS and S3 in the AWS API emulator are in
//! tests/tests/backup_emulator.rs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use domain::backup::manifest::Manifest;
use domain::backup::restore::{RestoreError, RestoreOptions, Target};
use domain::backup::run::{RunOutcome, Trigger};
use domain::backup::testing::{MemoryObjects, SharedObjects, TestCipher, TestPorts, TestWrap};
use domain::backup::verify::{PartitionProblem, ReadError, Which};
use domain::backup::{BackupKeyStore, Backups, Budget, Scope, Settings, Unlimited};
use domain::store::memory::MemoryItems;
use domain::store::{Item, Items};
use serde_json::json;
use superoffice::TenantId;
use superoffice::clock::ManualClock;

const NOW: i64 = 1_800_000_000;

struct World {
    items: Arc<MemoryItems>,
    objects: SharedObjects,
    wrap: Arc<TestWrap>,
    clock: Arc<ManualClock>,
}

impl World {
    fn new() -> Self {
        Self {
            items: Arc::new(MemoryItems::new()),
            objects: SharedObjects(Arc::new(MemoryObjects::default())),
            wrap: Arc::new(TestWrap::default()),
            clock: Arc::new(ManualClock::at_unix(NOW)),
        }
    }

    fn backups(&self, environment: &str) -> Backups<TestPorts> {
        let mut settings = Settings::new("superoffice-app", environment);
        // Small messages and pages, so a few hundred items make several of each.
        settings.message_bytes = 2048;
        settings.page_items = 7;
        Backups::new(
            self.items.clone(),
            self.wrap.clone(),
            Arc::new(TestCipher),
            Arc::new(self.objects.clone()),
            settings,
            self.clock.clone(),
        )
    }

    fn manifest_key(&self, m: &Manifest) -> String {
        format!(
            "backups/{}/{}/{}/manifest.json",
            m.environment,
            m.backup_id.date_path(),
            m.backup_id
        )
    }
}

fn tenant(n: u32) -> TenantId {
    TenantId::parse(&format!("Cust{n}")).unwrap()
}

/// A tenant partition as the app keeps it (record, ledger, usage, webhook deliveries), `rows`
/// ledger entries long; plus things never backed up (a sign-in, a session).
async fn seed(items: &MemoryItems, n: u32, rows: u32) {
    let pk = format!("TENANT#Cust{n}");
    items
        .put(&Item::new(
            &pk,
            "TENANT",
            json!({"id": format!("Cust{n}"), "status": "installed"}),
        ))
        .await
        .unwrap();
    for r in 0..rows {
        items
            .put(&Item::new(
                &pk,
                format!("ARTIFACT#{r:04}#field"),
                json!({"seq": r, "id": r * 7, "name": "x".repeat(40)}),
            ))
            .await
            .unwrap();
    }
    items
        .put(
            &Item::new(&pk, "USAGE#2027-01-15", json!({"calls": n}))
                .expiring_at(NOW + 86_400 * 400),
        )
        .await
        .unwrap();
    items
        .put(
            &Item::new(format!("SESSION#{n}"), "SESSION", json!({"who": n}))
                .expiring_at(NOW + 3600),
        )
        .await
        .unwrap();
    items
        .put(&Item::new(format!("SIGNIN#{n}"), "STATE", json!({"state": n})).expiring_at(NOW + 600))
        .await
        .unwrap();
}

async fn seed_app(items: &MemoryItems) {
    items
        .put(&Item::new("APP", "CONFIG", json!({"theme": "blue"})))
        .await
        .unwrap();
}

async fn finished(b: &Backups<TestPorts>) -> Manifest {
    match b.run(Trigger::Start, &Unlimited).await.expect("backup run") {
        RunOutcome::Finished(m) => *m,
        other => panic!("the run did not finish: {other:?}"),
    }
}

/// The content of a run: per scope, items, plaintext bytes and SHA-256 (not ids or object names).
fn content(m: &Manifest) -> Vec<(Scope, u64, u64, String)> {
    m.partitions
        .iter()
        .map(|e| {
            (
                e.scope.clone(),
                e.items,
                e.plaintext_bytes,
                e.plaintext_sha256.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_backup_holds_every_tenant_and_the_apps_records_but_no_sign_ins_or_sessions() {
    let w = World::new();
    seed_app(&w.items).await;
    for n in 1..=3 {
        seed(&w.items, n, 10 * n).await;
    }
    let b = w.backups("sod");
    let m = finished(&b).await;
    let scopes: Vec<String> = m
        .partitions
        .iter()
        .map(|e| e.scope.name().to_owned())
        .collect();
    assert_eq!(scopes, ["app", "Cust1", "Cust2", "Cust3"]);
    // Record + ledger rows + one usage day per tenant; the app's one record.
    let items: Vec<u64> = m.partitions.iter().map(|e| e.items).collect();
    assert_eq!(items, [1, 12, 22, 32]);
    assert_eq!(m.totals.items, 67);
    assert_eq!(m.totals.tenants, 3);
    assert_eq!(
        (m.schema, m.app.as_str(), m.environment.as_str()),
        (1, "superoffice-app", "sod")
    );
    assert_eq!(m.app_version, env!("CARGO_PKG_VERSION"));
    // Written under a dated prefix, the manifest last.
    let keys = w.objects.0.keys();
    assert!(
        keys.iter()
            .all(|k| k.starts_with("backups/sod/2027/01/15/")),
        "{keys:?}"
    );
    assert!(keys.contains(&w.manifest_key(&m)));
    // Nothing of the sessions or sign-ins is in any plaintext: the ciphertext never shows them
    // either way, so read it back.
    let report = b.verify(&Which::Newest).await.unwrap();
    assert!(report.passed(), "{:?}", report.checks);
    assert_eq!(report.manifest, m);
    // Each message holds whole lines of at most about one part's worth of plaintext.
    let big = m.entry(&Scope::Tenant(tenant(3))).unwrap();
    assert!(
        big.messages.len() > 1,
        "a 32-item tenant spans several 2 KiB messages: {:?}",
        big.messages
    );
    assert!(
        big.messages.iter().all(|p| *p < 2048 + 512),
        "{:?}",
        big.messages
    );
}

#[tokio::test]
async fn kms_is_asked_once_per_tenant_per_run_however_many_items_it_has() {
    for rows in [2, 400] {
        let w = World::new();
        for n in 1..=3 {
            seed(&w.items, n, rows).await;
        }
        finished(&w.backups("sod")).await;
        // Three tenants and the app's records: one key each, generated once.
        assert_eq!(w.wrap.calls(), 4, "{rows} rows per tenant");
        finished(&w.backups("sod")).await;
        assert_eq!(w.wrap.calls(), 8, "the second run unwraps each key once");
    }
}

/// A budget that allows `n` partitions per invocation.
struct Partitions {
    left: AtomicUsize,
}

impl Partitions {
    fn new(n: usize) -> Self {
        Self {
            left: AtomicUsize::new(n),
        }
    }
}

impl Budget for Partitions {
    fn may_start_partition(&self) -> bool {
        self.left
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

/// A budget that runs out in the middle of the first partition with more than one part.
struct StopsMidPartition {
    checks: AtomicUsize,
}

impl Budget for StopsMidPartition {
    fn may_start_partition(&self) -> bool {
        true
    }
    fn must_stop(&self) -> bool {
        // The app's one message passes, then the first tenant's second message is refused.
        self.checks.fetch_add(1, Ordering::SeqCst) >= 2
    }
    fn lease_until(&self, now: i64) -> i64 {
        now + 600
    }
}

#[tokio::test]
async fn a_run_stopped_at_its_time_limit_continues_in_the_next_invocation_with_the_same_result() {
    let w = World::new();
    seed_app(&w.items).await;
    for n in 1..=5 {
        seed(&w.items, n, 30).await;
    }
    let b = w.backups("sod");
    let whole = finished(&b).await;

    // Nothing to continue: a continuation tick does nothing.
    assert!(matches!(
        b.run(Trigger::Continue, &Unlimited).await.unwrap(),
        RunOutcome::Idle
    ));

    // Two partitions per invocation: six partitions take three invocations.
    w.clock.advance(std::time::Duration::from_secs(86_400));
    let mut invocations = 0;
    let resumed = loop {
        invocations += 1;
        let trigger = if invocations == 1 {
            Trigger::Start
        } else {
            Trigger::Continue
        };
        match b.run(trigger, &Partitions::new(2)).await.unwrap() {
            RunOutcome::Paused {
                partitions_done, ..
            } => {
                assert_eq!(partitions_done, 2 * invocations as u64);
            }
            RunOutcome::Finished(m) => break *m,
            other => panic!("{other:?}"),
        }
        assert!(invocations < 10);
    };
    assert_eq!(invocations, 3);
    assert_eq!(resumed.invocations, 3);
    assert_eq!(
        content(&resumed),
        content(&whole),
        "the same counts and digests"
    );
    assert_ne!(resumed.backup_id, whole.backup_id);
    assert!(
        b.verify(&Which::Id(resumed.backup_id.clone()))
            .await
            .unwrap()
            .passed()
    );

    // A partition given up in the middle leaves no object behind under its name, and is written
    // again whole by the next invocation.
    w.clock.advance(std::time::Duration::from_secs(86_400));
    let before = w.objects.0.keys().len();
    let stop = StopsMidPartition {
        checks: AtomicUsize::new(0),
    };
    let paused = b.run(Trigger::Start, &stop).await.unwrap();
    assert!(
        matches!(
            paused,
            RunOutcome::Paused {
                partitions_done: 1,
                ..
            }
        ),
        "{paused:?}"
    );
    assert_eq!(
        w.objects.0.keys().len(),
        before + 1,
        "only the app's object is visible"
    );
    let RunOutcome::Finished(again) = b.run(Trigger::Continue, &Unlimited).await.unwrap() else {
        panic!("the continuation finishes");
    };
    assert_eq!(content(&again), content(&whole));
}

#[tokio::test]
async fn an_invocation_finding_the_run_held_by_another_does_nothing() {
    let w = World::new();
    seed(&w.items, 1, 3).await;
    let b = w.backups("sod");
    // The first invocation stops after one partition but its lease (10 minutes) still holds.
    struct Holds;
    impl Budget for Holds {
        fn may_start_partition(&self) -> bool {
            false
        }
        fn must_stop(&self) -> bool {
            false
        }
        fn lease_until(&self, now: i64) -> i64 {
            now + 600
        }
    }
    assert!(matches!(
        b.run(Trigger::Start, &Holds).await.unwrap(),
        RunOutcome::Paused { .. }
    ));
    // A paused run hands the lease back: the next one continues at once.
    let RunOutcome::Finished(_) = b.run(Trigger::Continue, &Unlimited).await.unwrap() else {
        panic!("continues");
    };
    // A run in progress elsewhere (its lease in the future) is left alone.
    let records = b.records();
    let started = {
        let id = domain::backup::BackupId::new(NOW, "zzzzzz").unwrap();
        domain::backup::records::Checkpoint {
            backup_id: id,
            started_at: NOW,
            app_done: false,
            after_tenant: None,
            partitions_done: 0,
            invocations: 1,
            lease_until: NOW + 60,
            lease_owner: "elsewhere".into(),
            completed_at: None,
        }
    };
    let (_, version) = records
        .checkpoint(NOW)
        .await
        .unwrap()
        .expect("the last run's record");
    records.save_checkpoint(&started, version).await.unwrap();
    assert!(matches!(
        b.run(Trigger::Start, &Unlimited).await.unwrap(),
        RunOutcome::Busy { .. }
    ));
    // Once that lease has passed (the other invocation died), the run is taken over.
    w.clock.advance(std::time::Duration::from_secs(61));
    assert!(matches!(
        b.run(Trigger::Continue, &Unlimited).await.unwrap(),
        RunOutcome::Finished(_)
    ));
}

#[tokio::test]
async fn erasing_a_tenants_key_makes_its_backups_unreadable_while_others_still_verify_and_restore()
{
    let w = World::new();
    for n in 1..=3 {
        seed(&w.items, n, 5).await;
    }
    let b = w.backups("sod");
    let first = finished(&b).await;
    w.clock.advance(std::time::Duration::from_secs(86_400));
    let second = finished(&b).await;

    BackupKeyStore::new(w.items.clone())
        .erase(&tenant(2))
        .await
        .unwrap();
    BackupKeyStore::new(w.items.clone())
        .erase(&tenant(2))
        .await
        .expect("erasing twice is fine");

    for m in [&first, &second] {
        let report = b.verify(&Which::Id(m.backup_id.clone())).await.unwrap();
        let outcomes: Vec<_> = report
            .checks
            .iter()
            .map(|c| (c.scope.name().to_owned(), c.outcome.clone()))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("app".to_owned(), Ok(())),
                ("Cust1".to_owned(), Ok(())),
                ("Cust2".to_owned(), Err(PartitionProblem::Erased)),
                ("Cust3".to_owned(), Ok(())),
            ],
            "every backup of the erased tenant, old and new, is unreadable"
        );
        assert!(report.passed(), "an erased tenant is not a failed backup");
    }
    let restore = |target| RestoreOptions {
        backup: Which::Newest,
        target,
        overwrite: false,
        dry_run: false,
    };
    assert!(matches!(
        b.restore(&restore(Target::Tenant(tenant(2)))).await,
        Err(RestoreError::Erased(Scope::Tenant(t))) if t == tenant(2)
    ));
    // The others restore: delete tenant 1's data, restore everything.
    for item in w.items.query("TENANT#Cust1", "", NOW).await.unwrap() {
        w.items.delete(&item.pk, &item.sk).await.unwrap();
    }
    let report = b.restore(&restore(Target::All)).await.unwrap();
    assert_eq!(report.erased, [Scope::Tenant(tenant(2))]);
    assert_eq!(report.total().created, 7);
    assert_eq!(
        w.items.query("TENANT#Cust1", "", NOW).await.unwrap().len(),
        7
    );

    // A tenant installed again gets a new key; its old backups stay unreadable.
    w.clock.advance(std::time::Duration::from_secs(86_400));
    let third = finished(&b).await;
    assert_ne!(
        third.entry(&Scope::Tenant(tenant(2))).unwrap().key.key_id,
        first.entry(&Scope::Tenant(tenant(2))).unwrap().key.key_id
    );
    let old = b.verify(&Which::Id(first.backup_id.clone())).await.unwrap();
    assert_eq!(old.erased(), 1);
    assert!(
        b.verify(&Which::Id(third.backup_id.clone()))
            .await
            .unwrap()
            .checks
            .iter()
            .all(|c| c.outcome.is_ok())
    );
}

#[tokio::test]
async fn a_restore_writes_back_what_is_missing_once_and_refuses_to_overwrite_newer_data_unless_told()
 {
    let w = World::new();
    for n in 1..=2 {
        seed(&w.items, n, 20).await;
    }
    let b = w.backups("sod");
    finished(&b).await;
    let options = |overwrite, dry_run| RestoreOptions {
        backup: Which::Newest,
        target: Target::Tenant(tenant(1)),
        overwrite,
        dry_run,
    };

    // Unchanged data: a restore changes nothing.
    let report = b.restore(&options(false, false)).await.unwrap();
    assert_eq!(report.total().unchanged, 22);
    assert_eq!(report.total().created, 0);

    // Lose three ledger rows and change one: the change is newer than the backup.
    for r in [3, 4, 5] {
        w.items
            .delete("TENANT#Cust1", &format!("ARTIFACT#{r:04}#field"))
            .await
            .unwrap();
    }
    let mut changed = w
        .items
        .get("TENANT#Cust1", "TENANT", NOW)
        .await
        .unwrap()
        .unwrap();
    changed.data = json!({"id": "Cust1", "status": "failed"});
    w.items.put_versioned(&changed).await.unwrap();
    let snapshot = w.items.all();

    let dry = b.restore(&options(false, true)).await.unwrap();
    assert!(!dry.applied);
    assert_eq!((dry.total().created, dry.total().newer), (3, 1));
    let refused = b.restore(&options(false, false)).await.unwrap_err();
    let RestoreError::Newer(report) = &refused else {
        panic!("{refused}");
    };
    assert_eq!(report.partitions[0].newer_keys, ["TENANT"]);
    assert!(
        refused
            .to_string()
            .contains("1 item(s) in the table differ"),
        "{refused}"
    );
    assert_eq!(w.items.all(), snapshot, "a refused restore changes nothing");

    // Told to overwrite: the rows come back and the record is rolled back.
    let report = b.restore(&options(true, false)).await.unwrap();
    assert_eq!((report.total().created, report.total().overwritten), (3, 1));
    assert_eq!(
        w.items
            .get("TENANT#Cust1", "TENANT", NOW)
            .await
            .unwrap()
            .unwrap()
            .data["status"],
        "installed"
    );
    // Idempotent: once more, nothing to do.
    let after = w.items.all();
    let again = b.restore(&options(true, false)).await.unwrap();
    assert_eq!(
        (
            again.total().created,
            again.total().overwritten,
            again.total().unchanged
        ),
        (0, 0, 22)
    );
    let versions = |items: &[Item]| {
        items
            .iter()
            .map(|i| (i.pk.clone(), i.sk.clone(), i.version))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        versions(&w.items.all()),
        versions(&after),
        "a second restore writes nothing"
    );
    // The other tenant was not touched.
    assert_eq!(
        w.items.query("TENANT#Cust2", "", NOW).await.unwrap().len(),
        22
    );
}

/// Runs a backup, breaks it with `damage`, and checks that verify names `expected` for tenant 1 and
/// that a restore of everything is refused with the table unchanged.
async fn refused_after(
    damage: impl FnOnce(&World, &Manifest),
    expected: impl Fn(&PartitionProblem) -> bool,
) {
    let w = World::new();
    for n in 1..=2 {
        seed(&w.items, n, 40).await;
    }
    let b = w.backups("sod");
    let m = finished(&b).await;
    damage(&w, &m);
    // Lose some data, so a restore would have something to do.
    for r in 0..10 {
        w.items
            .delete("TENANT#Cust1", &format!("ARTIFACT#{r:04}#field"))
            .await
            .unwrap();
        w.items
            .delete("TENANT#Cust2", &format!("ARTIFACT#{r:04}#field"))
            .await
            .unwrap();
    }
    let snapshot = w.items.all();
    let report = b.verify(&Which::Newest).await.unwrap();
    assert!(!report.passed());
    let problem = report
        .checks
        .iter()
        .find(|c| c.scope == Scope::Tenant(tenant(1)))
        .and_then(|c| c.outcome.clone().err())
        .expect("tenant 1 fails");
    assert!(expected(&problem), "{problem}");
    assert!(
        report.checks.iter().filter(|c| c.outcome.is_err()).count() == 1,
        "only tenant 1"
    );
    let err = b
        .restore(&RestoreOptions {
            backup: Which::Newest,
            target: Target::All,
            overwrite: true,
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RestoreError::Refused { scope: Scope::Tenant(t), .. } if *t == tenant(1)),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was restored"), "{err}");
    assert_eq!(
        w.items.all(),
        snapshot,
        "a refused restore changes nothing, not even tenant 2"
    );
}

fn object_of(m: &Manifest, n: u32) -> String {
    m.entry(&Scope::Tenant(tenant(n))).unwrap().object.clone()
}

#[tokio::test]
async fn a_flipped_byte_is_refused() {
    refused_after(
        |w, m| {
            w.objects.0.tamper(&object_of(m, 1), |b| {
                let middle = b.len() / 2;
                b[middle] ^= 1
            })
        },
        |p| matches!(p, PartitionProblem::Rejected { .. }),
    )
    .await;
}

#[tokio::test]
async fn a_truncated_object_is_refused() {
    refused_after(
        |w, m| {
            w.objects
                .0
                .tamper(&object_of(m, 1), |b| b.truncate(b.len() - 100))
        },
        |p| matches!(p, PartitionProblem::Size { .. }),
    )
    .await;
}

#[tokio::test]
async fn another_tenants_object_in_its_place_fails_its_encryption_context() {
    refused_after(
        |w, m| {
            // Someone copies tenant 2's backup over tenant 1's (same size: lengths padded equal).
            let other = w.objects.0.bytes(&object_of(m, 2)).unwrap();
            w.objects.0.tamper(&object_of(m, 1), |b| {
                let n = b.len().min(other.len());
                b[..n].copy_from_slice(&other[..n]);
            });
        },
        |p| matches!(p, PartitionProblem::Rejected { message: 1, .. }),
    )
    .await;
}

#[tokio::test]
async fn a_manifest_that_does_not_match_the_data_is_refused() {
    refused_after(
        |w, m| {
            // Edited consistently (totals too), so only decrypting shows it.
            let mut edited = m.clone();
            edited.partitions[1].items -= 1;
            edited.totals.items -= 1;
            w.objects.0.tamper(&w.manifest_key(m), |b| {
                *b = serde_json::to_vec(&edited).unwrap()
            });
        },
        |p| matches!(p, PartitionProblem::Mismatch(_)),
    )
    .await;
}

#[tokio::test]
async fn a_manifest_whose_totals_do_not_add_up_or_of_another_environment_is_refused_whole() {
    let w = World::new();
    seed(&w.items, 1, 3).await;
    let sod = w.backups("sod");
    let m = finished(&sod).await;
    // Another environment's backup, copied into this environment's folder.
    let stage = w.backups("stage");
    for key in w.objects.0.keys() {
        let bytes = w.objects.0.bytes(&key).unwrap();
        let copied = key.replacen("backups/sod/", "backups/stage/", 1);
        use domain::backup::objects::BackupObjects;
        w.objects.put_new(&copied, bytes).await.unwrap();
    }
    let err = stage.verify(&Which::Newest).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("belongs to the \"sod\" environment, not \"stage\""),
        "{err}"
    );
    let err = stage
        .restore(&RestoreOptions {
            backup: Which::Newest,
            target: Target::All,
            overwrite: true,
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RestoreError::Read(ReadError::Manifest { .. })),
        "{err}"
    );

    let mut edited = m.clone();
    edited.totals.items += 1;
    w.objects.0.tamper(&w.manifest_key(&m), |b| {
        *b = serde_json::to_vec(&edited).unwrap()
    });
    let err = sod.verify(&Which::Newest).await.unwrap_err();
    assert!(err.to_string().contains("does not add up"), "{err}");
}

#[tokio::test]
async fn the_last_backup_of_a_tenant_and_the_drill_are_read_from_the_table() {
    let w = World::new();
    seed(&w.items, 1, 4).await;
    let b = w.backups("sod");
    let records = b.records();
    assert_eq!(records.last_backup(&tenant(1), NOW).await.unwrap(), None);
    let m = finished(&b).await;
    let last = records
        .last_backup(&tenant(1), NOW)
        .await
        .unwrap()
        .expect("backed up");
    assert_eq!(
        (last.backup_id.clone(), last.items, last.verified_at),
        (m.backup_id.clone(), 6, None)
    );
    assert_eq!(
        records.last_backup(&tenant(9), NOW).await.unwrap(),
        None,
        "never backed up"
    );

    w.clock.advance(std::time::Duration::from_secs(3600));
    let drill = b.drill().await.unwrap();
    assert!(drill.report.passed());
    assert_eq!(drill.newest_verified_age, Some(3600));
    let last = records
        .last_backup(&tenant(1), NOW + 3600)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.verified_at, Some(NOW + 3600));

    // A drill that fails does not move the newest verified backup: its age grows.
    w.clock.advance(std::time::Duration::from_secs(86_400));
    let m2 = finished(&b).await;
    w.objects.0.tamper(&m2.partitions[1].object, |b| b[40] ^= 1);
    let drill = b.drill().await.unwrap();
    assert!(!drill.report.passed());
    assert_eq!(drill.newest_verified_age, Some(3600 + 86_400));
}
