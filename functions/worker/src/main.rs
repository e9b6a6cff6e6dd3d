//! The worker in Lambda: SQS FIFO events in, batch item failures out for jobs put back.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::jobs::sqs::SqsQueue;
use domain::jobs::{Job, Outcome};
use domain::manifest::Manifest;
use domain::provisioning::Engine;
use domain::runtime;
use domain::sealing::AppSealer;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use superoffice::clock::{RandomJitter, SystemClock};
use worker::{DEADLINE_MARGIN, Worker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = runtime::config_or_exit();
    domain::telemetry::init(config.log_format);
    let aws = runtime::aws_adapters(&config).await?;
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(&aws.sdk),
        config.queue_url.clone().ok_or("APP_QUEUE_URL is not set")?,
    );
    let clock: Arc<SystemClock> = Arc::new(SystemClock);
    let access = runtime::tenant_access(
        &config,
        &aws.secrets,
        aws.items.clone(),
        Arc::new(superoffice::transport::ReqwestTransport::new()?),
        clock.clone(),
        Arc::new(RandomJitter),
    )
    .await?;
    let sealer = Arc::new(AppSealer::from_config(&config.sealing, Some(&aws.sdk)).await?);
    let worker = Arc::new(Worker {
        engine: Engine {
            manifest: Arc::new(Manifest::demo()),
            base_url: config.base_url.as_str().trim_end_matches('/').to_owned(),
            tenants: domain::tenant::Tenants::new(aws.items.clone()),
            ledger: domain::ledger::Ledger::new(aws.items.clone()),
            sealer,
            api: access.webapi.clone(),
            clock,
        },
        usage: access.usage.clone(),
    });
    let queue = Arc::new(queue);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (worker, queue) = (worker.clone(), queue.clone());
        async move {
            let deadline = SystemTime::UNIX_EPOCH
                + Duration::from_millis(event.context.deadline)
                - DEADLINE_MARGIN;
            let mut response = SqsBatchResponse::default();
            for record in event.payload.records {
                let id = record.message_id.clone().unwrap_or_default();
                let job: Job = match record.body.as_deref().map(serde_json::from_str) {
                    Some(Ok(job)) => job,
                    _ => {
                        // Not a job: no retry can help, so it is logged (with an error metric in the
                        // log) and deleted rather than cycled through the queue.
                        tracing::error!(reason = "bad_job_message", message_id = %id, "not a job; deleted");
                        continue;
                    }
                };
                let delivery = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                if let Outcome::RetryAfter(wait) = worker.process(&job, delivery, deadline).await {
                    if let Some(receipt) = record.receipt_handle.as_deref()
                        && let Err(e) = queue.retry_after(receipt, wait).await
                    {
                        tracing::warn!(error = %e, "visibility not changed; the queue's own timeout applies");
                    }
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
            }
            Ok::<_, Error>(response)
        }
    }))
    .await
}
