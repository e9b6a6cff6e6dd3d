//! The baseline: a bare `lambda_runtime` function that answers `{"ok":true}` to any event.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({"ok": true}))
    }))
    .await
}
