//! The worker in Lambda: SQS FIFO batches in, batch item failures out for jobs put back.
// The worker's future (engine, typed calls, retry layer) nests deeper than the default limit.
#![recursion_limit = "256"]

use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deployment = app::or_exit(app::aws::start().await);
    let worker = app::worker::lazy(&deployment);
    let queue = deployment.queue.clone();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (worker, queue) = (worker.clone(), queue.clone());
        async move {
            let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
            Ok::<_, Error>(worker::batch::handle(&*worker, &*queue, event.payload, deadline).await?)
        }
    }))
    .await
}
