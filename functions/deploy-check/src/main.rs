//! The deploy check in Lambda: CodeDeploy's lifecycle event in, one status to CodeDeploy out.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deploy_check::aws::{CodeDeployReporter, LambdaInvoker};
use deploy_check::hook::{self, Budget, MAX_PROBES, Settings};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    app::telemetry::init(domain::config::LogFormat::Json);
    let sdk = adapters::aws::sdk_config().await;
    let ports = Arc::new((LambdaInvoker::new(&sdk), CodeDeployReporter::new(&sdk)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let ports = ports.clone();
        async move {
            let (invoker, reporter) = &*ports;
            // Read at every run: a missing variable is reported as a failed check, not a crash.
            let settings = Settings::from_lookup(|name| std::env::var(name).ok());
            let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
            let remaining = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let budget = Budget::within(remaining, MAX_PROBES);
            match hook::run(invoker, reporter, settings, event.payload, budget).await {
                Ok(outcome) => Ok(serde_json::json!({ "status": outcome.status.as_str() })),
                // An error makes Lambda run the hook again (CodeDeploy invokes it asynchronously).
                Err(e) => {
                    tracing::error!(reason = "hook_not_reported", error = %e, "deploy check");
                    Err(Error::from(e))
                }
            }
        }
    }))
    .await
}
