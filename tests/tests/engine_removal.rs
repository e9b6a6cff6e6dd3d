//! The engine's removal walk (the SuperOffice side of the uninstall): every artifact an install
//! created is removed through its kind, checked in the simulator's own state, and the ledger ends
//! empty; a second walk finds nothing to do.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use domain::ledger::Ledger;
use domain::provisioning::Run;
use integration_tests::install_app::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_removes_everything_the_install_created_and_forgets_it() {
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));

    let access = app
        .tenant_access(Arc::new(
            superoffice::transport::ReqwestTransport::new().unwrap(),
        ))
        .await;
    let engine = app.engine(access.webapi.clone());
    let deadline = SystemTime::now() + Duration::from_secs(60);
    assert_eq!(
        engine.remove_all(&tenant(), deadline).await.unwrap(),
        Run::Done
    );
    assert_eq!(
        inventory(&app),
        Vec::<String>::new(),
        "nothing of ours is left"
    );
    let ledger = Ledger::new(app.app.items.clone());
    assert!(ledger.entries(&tenant(), 0).await.unwrap().is_empty());

    // Removing again finds nothing recorded: it only reads back that SuperOffice holds no panel of
    // the app's (one call) and removes nothing.
    let calls_before = app.sim().webapi_calls("Cust12345", "");
    assert_eq!(
        engine.remove_all(&tenant(), deadline).await.unwrap(),
        Run::Done
    );
    assert_eq!(app.sim().webapi_calls("Cust12345", ""), calls_before + 1);
    assert_eq!(
        app.sim()
            .webapi_calls("Cust12345", "Agents/List/GetAppWebPanels"),
        2,
        "the one call is the read-back, once per walk"
    );
    app.app.stop().await;
}
