//! The backup function in Lambda: scheduled events in (`{"action": "backup" | "continue" |
//! "verify"}`), a summary out.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use superoffice::clock::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = app::or_exit(app::backup::config());
    let backups = Arc::new(app::or_exit(app::backup::aws(&config).await));
    let namespace = Arc::new(config.metrics_namespace.clone());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (backups, namespace) = (backups.clone(), namespace.clone());
        async move {
            let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
            let clock = Arc::new(SystemClock);
            let summary = backup::handle(&*backups, event.payload, deadline, clock, &namespace);
            Ok::<_, Error>(summary.await?)
        }
    }))
    .await
}
