//! `soapp backup run | list | verify | restore`, as an operator runs them: locally on a data folder,
//! and against DynamoDB, KMS and S3 in the AWS API emulator with the backup function's variables.

use std::path::Path;
use std::process::Command;

use adapters::local::embedded::EmbeddedItems;
use domain::store::{Item, Items};
use serde_json::json;

fn soapp(args: &[&str], envs: &[(&str, String)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_soapp"));
    command
        .args(args)
        .env_remove("APP_TABLE_NAME")
        .env_remove("APP_DATA_DIR")
        .env_remove("APP_BACKUP_BUCKET")
        .env_remove("APP_BACKUP_KEY_ARN")
        .env("APP_LOG_FORMAT", "text")
        .env("RUST_LOG", "warn");
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("soapp runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn items(n: u32, rows: u32) -> Vec<Item> {
    let pk = format!("TENANT#Cust{n}");
    let mut out = vec![Item::new(&pk, "TENANT", json!({"id": format!("Cust{n}")}))];
    for r in 0..rows {
        out.push(Item::new(
            &pk,
            format!("ARTIFACT#{r:04}"),
            json!({"seq": r}),
        ));
    }
    out
}

/// Items in the embedded store of a data folder laid out as `soapp serve` keeps it.
async fn seed_local(dir: &Path) {
    let store = EmbeddedItems::open(&dir.join("store")).unwrap();
    for n in [1, 2] {
        for item in items(n, 5) {
            store.put(&item).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_backup_runs_verifies_and_restores_and_a_damaged_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    seed_local(dir.path()).await;

    let (code, out, err) = soapp(&["backup", "run", "--data-dir", &data], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("complete: 3 partitions (2 tenants), 12 items"),
        "{out}"
    );
    assert!(
        dir.path().join("store/backup.key").exists(),
        "the local key file beside the sealing key"
    );

    let (code, out, _) = soapp(&["backup", "list", "--data-dir", &data], &[]);
    assert_eq!(code, 0);
    let id = out
        .split_whitespace()
        .next()
        .expect("a backup id")
        .to_owned();

    let (code, out, err) = soapp(&["backup", "verify", "--data-dir", &data], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ok      Cust1") && out.contains("3 of 3 partitions"),
        "{out}"
    );

    // Lose two rows of tenant 1; restore it; once more changes nothing.
    {
        let store = EmbeddedItems::open(&dir.path().join("store")).unwrap();
        store.delete("TENANT#Cust1", "ARTIFACT#0001").await.unwrap();
        store.delete("TENANT#Cust1", "ARTIFACT#0002").await.unwrap();
    }
    let restore = [
        "backup",
        "restore",
        "--data-dir",
        &data,
        "--tenant",
        "Cust1",
        "--backup",
        &id,
    ];
    let (code, out, err) = soapp(&restore, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("2 created, 0 overwritten, 4 unchanged"),
        "{out}"
    );
    let (code, out, _) = soapp(&restore, &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("0 created, 0 overwritten, 6 unchanged"),
        "{out}"
    );

    // Damage tenant 2's object: verify fails (exit 1) and names it; a restore is refused.
    let tenants = dir
        .path()
        .join("backups/local")
        .join(format!("{}/{}/{}", &id[..4], &id[4..6], &id[6..8]))
        .join(&id)
        .join("tenants");
    let object = std::fs::read_dir(&tenants)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("Cust2.")
        })
        .expect("tenant 2's object");
    let mut bytes = std::fs::read(&object).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&object, bytes).unwrap();
    let (code, out, _) = soapp(&["backup", "verify", "--data-dir", &data], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL    Cust2") && out.contains("does not decrypt"),
        "{out}"
    );
    let (code, _, err) = soapp(&["backup", "restore", "--data-dir", &data, "--all"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused") && err.contains("nothing was restored"),
        "{err}"
    );

    // Usage problems exit 2.
    let (code, _, err) = soapp(&["backup", "restore", "--data-dir", &data], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = soapp(
        &[
            "backup",
            "verify",
            "--data-dir",
            &data,
            "--backup",
            "yesterday",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_run_then_verify_against_the_emulator_with_the_functions_variables() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs the AWS API emulator: run it through scripts/test (AWS_ENDPOINT_URL)"
        )
    });
    let sdk = adapters::aws::sdk_config().await;
    let suffix = superoffice::oidc::random_token().unwrap()[..8]
        .to_ascii_lowercase()
        .replace(['-', '_'], "x");
    let table = format!("soapp-backup-{suffix}");
    let dynamo = adapters::aws::dynamo_client(&sdk);
    adapters::aws::dynamo::create_table(&dynamo, &table)
        .await
        .unwrap_or_else(|e| panic!("the emulator: {e}"));
    let store = adapters::aws::dynamo::DynamoItems::new(dynamo, &table);
    for n in [1, 2, 3] {
        for item in items(n, 4) {
            store.put(&item).await.unwrap();
        }
    }
    let bucket = format!("soapp-backup-{suffix}");
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    adapters::aws::s3::s3_client(&sdk)
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    region.as_str(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let key_id = adapters::aws::kms_client(&sdk)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("backup-sod.env");
    std::fs::write(
        &env_file,
        format!(
            "APP_TABLE_NAME={table}\nAPP_BACKUP_BUCKET={bucket}\nAPP_BACKUP_KEY_ARN={key_id}\nAPP_ENVIRONMENT=sod\n"
        ),
    )
    .unwrap();
    let env_file = env_file.to_str().unwrap().to_owned();
    let envs = [("AWS_ENDPOINT_URL", endpoint)];

    let (code, out, err) = soapp(&["backup", "run", "--env-file", &env_file], &envs);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("complete: 4 partitions (3 tenants), 15 items"),
        "{out}"
    );
    let (code, out, err) = soapp(&["backup", "verify", "--env-file", &env_file], &envs);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("4 of 4 partitions decrypt and match the manifest"),
        "{out}"
    );
    let (code, out, err) = soapp(
        &[
            "backup",
            "restore",
            "--env-file",
            &env_file,
            "--all",
            "--dry-run",
        ],
        &envs,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("dry run of backup") && out.contains("15 unchanged"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_runner_backs_up_its_store_on_a_schedule_and_knows_each_tenants_last_backup() {
    use domain::backup::BackupRecords;
    use soapp::local::{ServeOptions, SuperOfficeTarget};
    let dir = tempfile::tempdir().unwrap();
    let mut app = soapp::local::start(ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        superoffice: SuperOfficeTarget::Simulator,
        public_url: None,
        manifest: None,
        settings: Vec::new(),
    })
    .await
    .unwrap();
    for item in items(12345, 3) {
        app.items.put(&item).await.unwrap();
    }
    app.schedule_backups(
        dir.path(),
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    let records = BackupRecords::new(app.items.clone());
    let tenant = superoffice::TenantId::parse("Cust12345").unwrap();
    let mut last = None;
    for _ in 0..100 {
        last = records.last_backup(&tenant, 0).await.unwrap();
        if last.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let last = last.expect("a backup within 10 s");
    assert_eq!(last.items, 4);
    drop(records);
    app.stop().await;
    // Once the runner is stopped, the operator's command reads the same backups.
    let (code, out, err) = soapp(
        &[
            "backup",
            "verify",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok      Cust12345"), "{out}");
}
