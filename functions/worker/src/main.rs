//! The worker in Lambda: SQS FIFO events in, batch item failures out for jobs put back.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::jobs::{Job, Outcome};
use domain::manifest::Manifest;
use domain::runtime;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use worker::{AppWorker, DEADLINE_MARGIN};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = runtime::config_or_exit();
    domain::telemetry::init(config.log_format);
    let aws = runtime::aws_adapters(&config).await?;
    let queue = aws.job_queue(&config)?;
    let sealer = Arc::new(aws.sealer(&config).await?);
    let worker = Arc::new(AppWorker::new(
        Arc::new(config),
        aws.secrets,
        aws.items,
        sealer,
        Arc::new(Manifest::demo()),
    ));
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
