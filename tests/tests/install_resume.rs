//! A crash in the middle of an install: the process dies right after SuperOffice created an artifact
//! and before the ledger recorded it. The next run finds the artifact by its identity instead of
//! creating it again, and finishes with exactly one set.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use adapters::local::embedded::EmbeddedItems;
use domain::jobs::JobHandler;
use domain::jobs::worker::Worker;
use domain::ledger::{EntryState, Ledger};
use domain::provisioning::{Run, TenantApi};
use integration_tests::install_app::*;
use superoffice::webapi::{ApiRequest, ApiResponse, TenantAuth, WebApi, WebApiError};

/// The real WebAPI client, until the ledger holds `after` created artifacts: then the next creating
/// request is sent and the "process" dies (never answers), like a Lambda killed mid-step.
struct CrashAfter {
    inner: Arc<WebApi>,
    ledger: Ledger<EmbeddedItems>,
    after: usize,
    crashed: AtomicBool,
}

impl TenantApi for CrashAfter {
    async fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> Result<ApiResponse, WebApiError> {
        let creating = matches!(request.method, http::Method::POST | http::Method::PUT)
            && !request.path.starts_with("Agents/List/Get");
        let created = self
            .ledger
            .entries(&auth.tenant, 0)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.state == EntryState::Created)
            .count();
        let result = self.inner.call(auth, request, deadline).await;
        if creating && created >= self.after {
            self.crashed.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        result
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_killed_mid_step_resumes_from_the_ledger_without_duplicates() {
    let app = App::start().await;
    app.sign_in_to_install("ada@demo.example").await;
    let items = app.app.items.clone();
    let access = app
        .tenant_access(Arc::new(
            superoffice::transport::ReqwestTransport::new().unwrap(),
        ))
        .await;
    let deadline = SystemTime::now() + Duration::from_secs(60);

    let crashing = Arc::new(CrashAfter {
        inner: access.webapi.clone(),
        ledger: Ledger::new(items.clone()),
        after: 2,
        crashed: AtomicBool::new(false),
    });
    let first = app.engine(crashing.clone());
    let died =
        tokio::time::timeout(Duration::from_secs(3), first.install(&tenant(), deadline)).await;
    assert!(died.is_err(), "the first run died mid-step");
    assert!(crashing.crashed.load(Ordering::SeqCst));
    let entries = Ledger::new(items.clone())
        .entries(&tenant(), 0)
        .await
        .unwrap();
    let intents: Vec<_> = entries
        .iter()
        .filter(|e| e.state == EntryState::Intent)
        .collect();
    assert_eq!(
        intents.len(),
        1,
        "one artifact was being created: {entries:?}"
    );
    let created_before = entries
        .iter()
        .filter(|e| e.state == EntryState::Created)
        .count();
    assert!((2..8).contains(&created_before), "{created_before}");

    let second = app.engine(access.webapi.clone());
    assert_eq!(
        second.install(&tenant(), deadline).await.unwrap(),
        Run::Done
    );
    let entries = Ledger::new(items.clone())
        .entries(&tenant(), 0)
        .await
        .unwrap();
    assert_eq!(entries.len(), 8);
    assert!(entries.iter().all(|e| e.state == EntryState::Created));
    assert_eq!(
        inventory(&app),
        expected_inventory(user_groups(&app)),
        "exactly one set"
    );
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_near_the_queues_delivery_limit_is_stopped_with_a_message_instead_of_lost() {
    let app = App::start().await;
    let session = app.sign_in_to_install("ada@demo.example").await;
    let access = app
        .tenant_access(Arc::new(
            superoffice::transport::ReqwestTransport::new().unwrap(),
        ))
        .await;
    let worker = Worker {
        engine: app.engine(access.webapi.clone()),
        usage: access.usage.clone(),
    };
    let job = domain::jobs::Job::install(&tenant(), 0);
    let outcome = worker
        .process(
            &job,
            domain::jobs::GIVE_UP_AT,
            SystemTime::now() + Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        outcome,
        domain::jobs::Outcome::Done,
        "removed from the queue, not left to the DLQ"
    );
    let page = app.wait_for_status(&session, "failed").await;
    assert!(
        page.contains("Press Try again to continue where it stopped"),
        "{page}"
    );
    assert_eq!(app.sim().count(superoffice_simulator::Route::WebApi), 0);
    app.app.stop().await;
}
