//! The state-change receiver in Lambda: the AWS deployment, then serve.

use std::sync::Arc;

use lifecycle::StateChanges;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let deployment = app::or_exit(app::aws::start().await);
    app::lambda::serve_http(Arc::new(StateChanges::new(&deployment))).await
}
