//! `soapp manifest plan --tenant` and `soapp rollout status` on a local data folder, as an operator
//! runs them: a tenant on this release, one on an older one, one the app does not know.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use adapters::local::embedded::EmbeddedItems;
use domain::ledger::{EntryState, Ledger, LedgerEntry};
use domain::manifest::Manifest;
use domain::tenant::{AppliedManifest, Consent, InstallStatus, Tenants};
use superoffice::TenantId;

/// soapp serve's default address: part of what the local runner fingerprints.
const BASE: &str = "http://127.0.0.1:8123";

fn soapp(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_soapp"))
        .args(args)
        .env_remove("APP_TABLE_NAME")
        .env_remove("APP_DATA_DIR")
        .env_remove("APP_MANIFEST")
        .env("RUST_LOG", "warn")
        .output()
        .expect("soapp runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tenant` installed with `manifest` as the engine leaves it: the record and one ledger entry per
/// item.
async fn installed(items: &Arc<EmbeddedItems>, tenant: &str, manifest: &Manifest) {
    let id = TenantId::parse(tenant).unwrap();
    let tenants = Tenants::new(items.clone());
    tenants
        .record_consent(
            &Consent {
                tenant: id.clone(),
                company: None,
                sealed_system_token: "local:x".into(),
                approved_by: "ada".into(),
            },
            1,
        )
        .await
        .unwrap();
    tenants
        .update(&id, 1, |t| {
            t.status = InstallStatus::Installed;
            t.manifest = Some(AppliedManifest {
                fingerprint: manifest.fingerprint(BASE),
                version: manifest.version_label().to_owned(),
                at: 1,
            });
        })
        .await
        .unwrap();
    let ledger = Ledger::new(items.clone());
    for (i, a) in manifest.artifacts().iter().enumerate() {
        ledger
            .write(
                &id,
                &LedgerEntry {
                    seq: i as u32,
                    key: a.key(),
                    kind: a.kind().to_owned(),
                    description: a.describe(BASE),
                    shown_as: a.describe_for_customer(),
                    state: EntryState::Created,
                    superoffice_id: Some(format!("{}", 100 + i)),
                    fingerprint: Some(a.fingerprint(BASE)),
                    updated_at: 1,
                },
            )
            .await
            .unwrap();
    }
}

/// The demo manifest as an older release: without the preference, and with a field since removed.
fn older() -> Manifest {
    let mut m = Manifest::demo();
    m.app.version = Some("0.9".into());
    m.preferences.clear();
    let mut gone = m.user_defined_fields[0].clone();
    gone.prog_id = "DemoPartnerApp.Retired".into();
    gone.label = "Retired".into();
    m.user_defined_fields.push(gone);
    m
}

async fn seed(dir: &Path) {
    let items = Arc::new(EmbeddedItems::open(&dir.join("store")).unwrap());
    installed(&items, "Cust100", &Manifest::demo()).await;
    installed(&items, "Cust200", &older()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_and_the_rollout_status_say_what_each_tenant_needs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    seed(dir.path()).await;

    // A tenant on this release: nothing to do.
    let (code, out, err) = soapp(&[
        "manifest",
        "plan",
        "--tenant",
        "Cust100",
        "--data-dir",
        &data,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Cust100: 0 change(s)"), "{out}");

    // A tenant on the older release: the preference added, the retired field removed.
    let (code, out, err) = soapp(&[
        "manifest",
        "plan",
        "--tenant",
        "Cust200",
        "--data-dir",
        &data,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Cust200: 2 change(s)"), "{out}");
    assert!(
        out.contains("+ create preference:DemoPartnerApp/Enabled"),
        "{out}"
    );
    assert!(
        out.contains("- remove user_defined_field:Contact:DemoPartnerApp.Retired"),
        "{out}"
    );
    let (code, json, _) = soapp(&[
        "manifest",
        "plan",
        "--tenant",
        "Cust200",
        "--data-dir",
        &data,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["changes"].as_array().unwrap().len(), 2, "{doc}");

    // Unknown and malformed tenants, and a look into the tenant without credentials.
    let (code, _, err) = soapp(&[
        "manifest",
        "plan",
        "--tenant",
        "Cust999",
        "--data-dir",
        &data,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not know the tenant Cust999"), "{err}");
    let (code, _, err) = soapp(&["manifest", "plan", "--tenant", "../x", "--data-dir", &data]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = soapp(&[
        "manifest",
        "plan",
        "--tenant",
        "Cust100",
        "--data-dir",
        &data,
        "--look-in-tenant",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--env-file"), "{err}");

    // The operator's view of the rollout.
    let (code, out, err) = soapp(&["rollout", "status", "--data-dir", &data]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("Release ") && out.contains("1 of 2 installed tenant(s) on it"),
        "{out}"
    );
    assert!(out.contains("no rollout tick has run"), "{out}");
    let line = |t: &str| {
        out.lines()
            .find(|l| l.contains(t))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("Cust100").contains("current"), "{out}");
    assert!(
        line("Cust200").contains("on 0.9") && line("Cust200").contains("not started"),
        "{out}"
    );
}
