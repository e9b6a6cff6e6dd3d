//! The storage suite against the embedded adapter, and persistence across a restart.

use std::sync::Arc;

use adapters::local::embedded::EmbeddedItems;
use domain::store::{Item, Items, suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_adapter_passes_the_storage_suite() {
    let dir = tempfile::tempdir().unwrap();
    suite::run_all(Arc::new(EmbeddedItems::open(dir.path()).unwrap())).await;
}

#[tokio::test]
async fn items_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let items = EmbeddedItems::open(dir.path()).unwrap();
        items
            .put(&Item::new("P", "S", serde_json::json!({"kept": true})))
            .await
            .unwrap();
    }
    let reopened = EmbeddedItems::open(dir.path()).unwrap();
    let item = reopened.get("P", "S", 0).await.unwrap().expect("persisted");
    assert_eq!(item.data["kept"], true);
}
