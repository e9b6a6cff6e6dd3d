//! The state-change push and the rollout on the deployed adapters: DynamoDB and SQS FIFO in the AWS
//! API emulator. The replay cache's conditional write, the tenant record's versioned update, the
//! rollout's walk through the table's inverted index, and the jobs as the worker will receive them.

use std::sync::Arc;

use adapters::aws::sqs::SqsQueue;
use domain::jobs::{Job, JobKind};
use domain::lifecycle::{Applied, ChangeType, Lifecycle, Replays, StateChange};
use domain::rollout::Rollout;
use domain::tenant::{AppliedManifest, Consent, InstallStatus, Tenants};
use integration_tests::{emulator_sdk, emulator_table};
use superoffice::TenantId;

const NOW: i64 = 1_900_000_000;

async fn fifo_queue(name: &str) -> (aws_sdk_sqs::Client, String) {
    let client = aws_sdk_sqs::Client::new(&emulator_sdk().await);
    let url = client
        .create_queue()
        .queue_name(format!("{name}-{}.fifo", std::process::id()))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("the emulator creates a FIFO queue")
        .queue_url
        .expect("queue url");
    (client, url)
}

/// Every job waiting in the queue (received and deleted).
async fn drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<Job> {
    let mut out = Vec::new();
    loop {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).expect("a job"));
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

async fn installed<I: domain::store::Items>(items: &Arc<I>, tenant: &TenantId, fingerprint: &str) {
    let tenants = Tenants::new(items.clone());
    tenants
        .record_consent(
            &Consent {
                tenant: tenant.clone(),
                company: None,
                sealed_system_token: "sealed".into(),
                approved_by: "ada".into(),
            },
            NOW,
        )
        .await
        .unwrap();
    tenants
        .update(tenant, NOW, |t| {
            t.status = InstallStatus::Installed;
            t.manifest = Some(AppliedManifest {
                fingerprint: fingerprint.into(),
                version: "1".into(),
                at: NOW,
            });
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_push_is_claimed_once_recorded_and_its_purge_queued_in_the_tenants_group() {
    let items = Arc::new(emulator_table("lifecycle").await);
    let (client, url) = fifo_queue("lifecycle").await;
    let queue = Arc::new(SqsQueue::new(client.clone(), url.clone()));
    let tenant = TenantId::parse("Cust4242").unwrap();
    installed(&items, &tenant, "v1").await;
    let push = StateChange {
        change: ChangeType::Delete,
        tenant: tenant.clone(),
        version_name: None,
        public_endpoint: None,
    };

    let replays = Replays::new(items.clone());
    assert!(
        replays
            .claim("token-1", &push, NOW + 300, NOW)
            .await
            .unwrap()
    );
    assert!(
        !replays
            .claim("token-1", &push, NOW + 300, NOW)
            .await
            .unwrap(),
        "the same token twice is a replay"
    );
    let applied = Lifecycle::new(items.clone(), queue.clone())
        .apply(&push, NOW)
        .await
        .unwrap();
    assert_eq!(
        applied,
        Applied::Recorded {
            queued: Some(JobKind::Purge)
        }
    );
    let record = Tenants::new(items.clone())
        .get(&tenant, NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(record.value.deleted);
    let jobs = drain(&client, &url).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].kind, &jobs[0].tenant), (JobKind::Purge, &tenant));

    // A push for a tenant the app does not know stores nothing.
    let stranger = StateChange {
        tenant: TenantId::parse("Cust999999").unwrap(),
        ..push.clone()
    };
    assert_eq!(
        Lifecycle::new(items.clone(), queue.clone())
            .apply(&stranger, NOW)
            .await
            .unwrap(),
        Applied::UnknownTenant
    );
    assert!(
        Tenants::new(items.clone())
            .get(&stranger.tenant, NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(drain(&client, &url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollout_walks_the_tables_index_and_queues_one_upgrade_per_tenant_at_its_rate() {
    let items = Arc::new(emulator_table("rollout").await);
    let (client, url) = fifo_queue("rollout").await;
    let queue = Arc::new(SqsQueue::new(client.clone(), url.clone()));
    let ids: Vec<TenantId> = (0..5)
        .map(|i| TenantId::parse(&format!("Cust{}", 7000 + i)).unwrap())
        .collect();
    for t in &ids[..4] {
        installed(&items, t, "v1").await;
    }
    installed(&items, &ids[4], "v2").await;
    let rollout = Rollout::new(items.clone(), queue.clone(), "v2".into(), "2".into(), 3);

    let first = rollout.tick(NOW).await.unwrap();
    assert_eq!(first.queued.len(), 3, "the rate: 3 per tick");
    let second = rollout.tick(NOW + 60).await.unwrap();
    assert_eq!(
        second.queued.len(),
        1,
        "the fourth; the fifth is on v2 already"
    );
    let mut queued: Vec<TenantId> = drain(&client, &url)
        .await
        .into_iter()
        .inspect(|j| assert_eq!(j.kind, JobKind::Upgrade))
        .map(|j| j.tenant)
        .collect();
    queued.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(queued, ids[..4].to_vec());
    let progress = rollout.progress(NOW + 60).await.unwrap().unwrap();
    assert_eq!(progress.queued, 4);
}
