//! The redirect function in Lambda: configuration, adapters, then serve.

use std::sync::Arc;

use domain::runtime;
use redirect::Redirect;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = runtime::config_or_exit();
    domain::telemetry::init(config.log_format);
    let aws = runtime::aws_adapters(&config).await?;
    let so = Arc::new(runtime::superoffice(&config)?);
    let sealer = Arc::new(aws.sealer(&config).await?);
    let app = Arc::new(Redirect::new(
        Arc::new(config),
        so,
        aws.items,
        aws.secrets,
        sealer,
    ));
    runtime::serve_lambda(move |req, ctx| {
        let app = app.clone();
        async move { app.handle(req, &ctx).await }
    })
    .await
}
