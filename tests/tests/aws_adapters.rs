//! The other AWS adapters against the AWS API emulator with the real SDK: sealing with KMS, secrets
//! from Secrets Manager, jobs on an SQS FIFO queue.

use std::time::Duration;

use adapters::aws::kms::KmsSealer;
use adapters::aws::sqs::SqsQueue;
use adapters::secrets::SecretLoader;
use domain::TenantId;
use domain::jobs::{Job, JobQueue};
use domain::sealing::{SealError, Sealer};
use domain::secrets::{SecretRef, SecretSource};
use integration_tests::emulator_sdk;
use superoffice::Secret;

fn context(tenant: &str, purpose: &str) -> std::collections::BTreeMap<String, String> {
    domain::sealing::context(&TenantId::parse(tenant).unwrap(), purpose)
}

#[tokio::test]
async fn kms_seals_system_tokens_bound_to_their_tenant() {
    let kms = aws_sdk_kms::Client::new(&emulator_sdk().await);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let sealer = KmsSealer::new(kms, key_id);
    let token = Secret::new("Demo App-8k8Q7DmBgo");
    let sealed = sealer
        .seal(&token, &context("Cust12345", "system_token"))
        .await
        .unwrap();
    assert!(sealed.starts_with("kms:") && !sealed.contains("8k8Q7DmBgo"));
    assert_eq!(
        sealer
            .open(&sealed, &context("Cust12345", "system_token"))
            .await
            .unwrap(),
        token
    );
    for wrong in [
        context("Cust67890", "system_token"),
        context("Cust12345", "webhook_secret"),
    ] {
        assert!(
            matches!(
                sealer.open(&sealed, &wrong).await,
                Err(SealError::WrongContext)
            ),
            "another tenant's or purpose's context does not open it"
        );
    }
}

#[tokio::test]
async fn secrets_are_read_from_secrets_manager_by_arn_and_cached() {
    let sm = aws_sdk_secretsmanager::Client::new(&emulator_sdk().await);
    let created = sm
        .create_secret()
        .name(format!(
            "client-secret-{}",
            &superoffice::oidc::random_token().unwrap()[..8]
        ))
        .secret_string("  the-client-secret\n")
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_owned();
    let loader = SecretLoader::with_aws(sm.clone());
    let r = SecretRef::AwsSecret { arn: arn.clone() };
    assert_eq!(loader.load(&r).await.unwrap().expose(), "the-client-secret");
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string("rotated")
        .send()
        .await
        .unwrap();
    assert_eq!(
        loader.load(&r).await.unwrap().expose(),
        "the-client-secret",
        "cached for an hour"
    );
    let missing = SecretRef::AwsSecret {
        arn: arn.replace("client-secret", "no-such-secret"),
    };
    let err = loader.load(&missing).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Secrets Manager secret") && text.contains("could not be read"),
        "{err}"
    );
}

#[tokio::test]
async fn jobs_on_the_fifo_queue_are_deduplicated_grouped_by_tenant_and_put_back_with_a_delay() {
    let sqs = aws_sdk_sqs::Client::new(&emulator_sdk().await);
    let name = format!(
        "jobs-{}.fifo",
        &superoffice::oidc::random_token().unwrap()[..8].replace(['-', '_'], "x")
    );
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let queue = SqsQueue::new(sqs.clone(), url.clone());
    let job = Job::install(&TenantId::parse("Cust12345").unwrap(), 1_800_000_000);
    queue.send(&job).await.unwrap();
    queue.send(&job).await.unwrap();
    queue
        .send(&Job::install(
            &TenantId::parse("Cust12345").unwrap(),
            1_800_000_600,
        ))
        .await
        .unwrap();

    // The worker takes one message per invocation (batch size 1).
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    let first: Job = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(first, job);
    let locked = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(1)
        .send()
        .await
        .unwrap();
    assert!(
        locked.messages().is_empty(),
        "while a tenant's job is in flight, its next job is not handed out"
    );
    let attrs = messages[0].attributes().unwrap();
    assert_eq!(
        attrs
            .get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("Cust12345")
    );
    // Put back for 60 s: not visible now, and its group stays locked behind it.
    queue
        .retry_after(
            messages[0].receipt_handle().unwrap(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert!(
        again.messages().is_empty(),
        "the job waits; the tenant's next job waits behind it"
    );
    // The duplicate send counted once: two distinct jobs in the queue.
    let depth = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .unwrap();
    let count = |n| {
        depth
            .attributes()
            .unwrap()
            .get(&n)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        2
    );
}
