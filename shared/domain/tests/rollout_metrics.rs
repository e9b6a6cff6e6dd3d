//! The rollout's metric lines: one `Jobs` line (kind `upgrade`, outcome `queued`, reason
//! `rollout`) per upgrade it queues, the tenant a property, as the install and the state-change
//! push count theirs. A test binary of its own: the line sink is one per process, and this one
//! installs it before anything writes a line.

use std::sync::{Arc, Mutex, OnceLock};

use domain::jobs::{Job, JobQueue, QueueError};
use domain::rollout::Rollout;
use domain::store::memory::MemoryItems;
use domain::tenant::{AppliedManifest, Consent, InstallStatus, Tenants};
use superoffice::TenantId;

const NOW: i64 = 1_800_000_000;

#[derive(Default)]
struct Sent(Mutex<Vec<Job>>);

impl JobQueue for Sent {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(job.clone());
        Ok(())
    }
}

fn lines() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<&'static Mutex<Vec<String>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines: &'static Mutex<Vec<String>> = Box::leak(Box::default());
        assert!(telemetry::sink::install(Box::new(|l| {
            lines.lock().unwrap().push(l.to_owned())
        })));
        lines
    })
}

fn id(n: usize) -> TenantId {
    TenantId::parse(&format!("Cust{n:05}")).unwrap()
}

#[tokio::test]
async fn each_upgrade_the_rollout_queues_is_one_jobs_line_with_the_tenant_as_a_property() {
    let lines = lines();
    let items = Arc::new(MemoryItems::new());
    let tenants = Tenants::new(items.clone());
    for i in 0..5 {
        tenants
            .record_consent(
                &Consent {
                    tenant: id(i),
                    company: None,
                    sealed_system_token: "sealed".into(),
                    approved_by: "a@example.com".into(),
                },
                NOW,
            )
            .await
            .unwrap();
        tenants
            .update(&id(i), NOW, |t| {
                t.status = InstallStatus::Installed;
                t.manifest = Some(AppliedManifest {
                    fingerprint: "v1".into(),
                    version: "1".into(),
                    at: NOW,
                });
            })
            .await
            .unwrap();
    }
    let queue = Arc::new(Sent::default());
    let rollout = Rollout::new(items, queue.clone(), "v2".into(), "2".into(), 3);

    let first = rollout.tick(NOW).await.unwrap();
    let second = rollout.tick(NOW + 60).await.unwrap();
    // A third tick finds every upgrade in hand and queues (and counts) nothing.
    let third = rollout.tick(NOW + 120).await.unwrap();
    assert_eq!(
        (first.queued.len(), second.queued.len(), third.queued.len()),
        (3, 2, 0)
    );

    let written: Vec<serde_json::Value> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| telemetry::emf::check(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["Jobs"] == 1)
        .collect();
    assert_eq!(written.len(), 5, "{written:#?}");
    let mut counted: Vec<&str> = written
        .iter()
        .map(|v| {
            assert_eq!(
                (&v["Kind"], &v["Outcome"], &v["reason"]),
                (
                    &serde_json::json!("upgrade"),
                    &serde_json::json!("queued"),
                    &serde_json::json!("rollout")
                ),
                "{v}"
            );
            v["tenant"].as_str().unwrap()
        })
        .collect();
    counted.sort();
    let mut sent: Vec<String> = queue
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|j| j.tenant.as_str().to_owned())
        .collect();
    sent.sort();
    assert_eq!(counted, sent, "one line per job sent, for its tenant");
}
