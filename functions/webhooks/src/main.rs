//! The webhook receiver in Lambda.

use std::sync::Arc;

use domain::runtime;
use superoffice::clock::SystemClock;
use webhooks::Receiver;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = runtime::config_or_exit();
    domain::telemetry::init(config.log_format);
    let aws = runtime::aws_adapters(&config).await?;
    let sealer = Arc::new(aws.sealer(&config).await?);
    let app = Arc::new(Receiver::new(aws.items, sealer, Arc::new(SystemClock)));
    runtime::serve_lambda(move |req, ctx| {
        let app = app.clone();
        async move { app.handle(req, &ctx).await }
    })
    .await
}
