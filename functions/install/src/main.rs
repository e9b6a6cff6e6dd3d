//! The install function in Lambda.

use std::sync::Arc;

use domain::manifest::Manifest;
use domain::runtime;
use install::Install;
use superoffice::clock::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = runtime::config_or_exit();
    domain::telemetry::init(config.log_format);
    let aws = runtime::aws_adapters(&config).await?;
    let queue = aws.job_queue(&config)?;
    let app = Arc::new(Install::new(
        Arc::new(config),
        Arc::new(Manifest::demo()),
        aws.items,
        Arc::new(queue),
        Arc::new(SystemClock),
    ));
    runtime::serve_lambda(move |req, ctx| {
        let app = app.clone();
        async move { app.handle(req, &ctx).await }
    })
    .await
}
