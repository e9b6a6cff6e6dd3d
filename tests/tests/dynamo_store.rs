//! The storage suite against the DynamoDB adapter: the real AWS SDK against the AWS API emulator on
//! loopback. The same cases pass against the embedded adapter (`shared/domain/tests`).

use std::sync::Arc;

use domain::store::suite;
use integration_tests::{emulator_sdk, emulator_table};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dynamodb_adapter_passes_the_storage_suite() {
    suite::run_all(Arc::new(emulator_table("suite").await)).await;
}

#[tokio::test]
async fn an_unreachable_table_is_reported_as_unavailable_not_as_absent() {
    let client = aws_sdk_dynamodb::Client::new(&emulator_sdk().await);
    let missing = adapters::aws::dynamo::DynamoItems::new(client, "no-such-table");
    use domain::store::Items;
    let err = missing.get("P", "S", 0).await.unwrap_err();
    assert_eq!(err.code(), "store_unavailable", "{err}");
}
