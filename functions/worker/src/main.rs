//! The worker in Lambda: SQS FIFO batches in, batch item failures out for jobs put back; and the
//! rollout's tick from its schedule.
// The worker's future (engine, typed calls, retry layer) nests deeper than the default limit.
#![recursion_limit = "256"]

use std::time::{Duration, SystemTime};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use worker::event::WorkerEvent;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deployment = app::or_exit(app::aws::start().await);
    let worker = app::worker::lazy(&deployment);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<WorkerEvent>| {
        let (worker, deployment) = (worker.clone(), deployment.clone());
        async move {
            let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
            match event.payload {
                WorkerEvent::Jobs(batch) => Ok(serde_json::to_value(
                    worker::batch::handle(&*worker, &*deployment.queue, batch, deadline).await?,
                )?),
                WorkerEvent::Scheduled(_) => {
                    // A tick that fails is the next minute's to continue: its place is saved.
                    let tick = app::rollout::tick(&deployment).await?;
                    Ok::<_, Error>(
                        serde_json::json!({ "queued": tick.queued.len(), "done": tick.done }),
                    )
                }
            }
        }
    }))
    .await
}
