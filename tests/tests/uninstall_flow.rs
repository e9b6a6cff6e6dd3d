//! Application management and a complete uninstall, over HTTP against `soapp serve`'s parts and the
//! simulator: what the tenant holds afterwards is checked in the simulator's own state, what the app
//! keeps in its store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use domain::audit::Audit;
use domain::provisioning::{Run, TenantApi};
use domain::tenant::InstallStatus;
use integration_tests::install_app::*;
use integration_tests::{ADMIN, TENANT, USER};
use reqwest::StatusCode;
use superoffice::webapi::{ApiRequest, ApiResponse, TenantAuth, WebApiError};
use superoffice_simulator::user_agent::input_value;
use superoffice_simulator::{FaultAction, FaultRule, Route};

/// Installs the demo app into the demo tenant; the administrator's session.
async fn installed(app: &App) -> String {
    let session = app.sign_in_to_install(ADMIN).await;
    app.press_install(&session).await;
    app.wait_for_status(&session, "installed").await;
    assert_eq!(inventory(app), expected_inventory(user_groups(app)));
    session
}

/// Panels the simulator records as created by our app.
fn app_panels_left(app: &App) -> usize {
    app.sim()
        .webapi_snapshot(TENANT)
        .unwrap()
        .web_panels
        .iter()
        .filter(|p| p.owner_client_id.as_deref() == Some(soapp::local::DEMO_CLIENT_ID))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_leaves_nothing_in_the_tenant_and_nothing_in_the_store_but_the_audit_record() {
    let app = App::start().await;
    let session = installed(&app).await;

    let (status, manage) = app.page("/manage", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(manage.contains("data-status=\"installed\""), "{manage}");
    assert!(manage.contains(&maud_escape(
        "The field \"Customer number\" on company cards"
    )));
    assert!(manage.contains("id=\"usage\""), "usage by day: {manage}");
    assert!(manage.contains("SuperOffice is running normally."));
    let (_, confirm) = app.page("/manage/uninstall", &session).await;
    for words in [
        "A list \"Demo Partner App regions\" with the values North, South and West",
        "The button \"Demo Partner App\" in the navigator",
        "Everyone's sign-ins to the app",
    ] {
        assert!(confirm.contains(&maud_escape(words)), "{words}: {confirm}");
    }

    let r = app.press_uninstall(&session).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/manage");
    app.wait_until_forgotten().await;

    assert_eq!(
        inventory(&app),
        Vec::<String>::new(),
        "nothing of ours in the tenant"
    );
    assert_eq!(
        app_panels_left(&app),
        0,
        "no panel SuperOffice records as ours"
    );
    assert_eq!(app.stored_for_tenant().await, Vec::<String>::new());
    let (status, _) = app.page("/manage", &session).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the session ended with the uninstall"
    );
    let audit = Audit::new(app.app.items.clone())
        .records(&tenant(), 0)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].result, "completed");
    let by = audit[0].by.clone().expect("who asked, as a pseudonym");
    assert_eq!(by.len(), 16);
    assert!(!by.contains('@'));

    // Signed in again, the page says it is gone and what is left to do in the App Store.
    let r = app.sign_in(ADMIN, "?return=/manage").await;
    let session = cookie(&r, "__Host-session").unwrap();
    let page = app.wait_for_manage(&session, "uninstalled").await;
    assert!(page.contains("Installed apps"), "{page}");

    // Installing again starts from scratch and ends with exactly one set.
    let session = installed(&app).await;
    let (_, page) = app.page("/manage", &session).await;
    assert!(page.contains("data-status=\"installed\""));
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_asked_for_twice_or_while_it_runs_is_one_uninstall() {
    let app = App::start().await;
    let session = installed(&app).await;
    let (_, page) = app.page("/manage/uninstall", &session).await;
    let csrf = input_value(&page, "csrf").unwrap();
    let (a, b) = tokio::join!(
        app.post_uninstall(&session, &csrf, true),
        app.post_uninstall(&session, &csrf, true)
    );
    assert_eq!(a.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.status(), StatusCode::SEE_OTHER);
    app.wait_until_forgotten().await;
    let uninstall_jobs = app
        .app
        .queue
        .deliveries()
        .iter()
        .filter(|(id, _)| id.starts_with("uninstall-"))
        .count();
    assert_eq!(uninstall_jobs, 1, "one job for two presses");
    assert_eq!(inventory(&app), Vec::<String>::new());
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_deleted_by_hand_count_as_gone() {
    let app = App::start().await;
    let session = installed(&app).await;
    // Someone removed the panel and a field in SuperOffice meanwhile.
    let access = app
        .tenant_access(Arc::new(
            superoffice::transport::ReqwestTransport::new().unwrap(),
        ))
        .await;
    let auth = TenantAuth {
        tenant: tenant(),
        system_token: superoffice::Secret::new(
            app.sim()
                .system_token(TENANT, soapp::local::DEMO_CLIENT_ID)
                .unwrap(),
        ),
    };
    let t = superoffice::api::Tenant::new(&*access.webapi, &auth, None);
    let panel = superoffice::api::webpanels::find(&t, "DemoPartnerApp.ContactPanel")
        .await
        .unwrap()
        .unwrap();
    superoffice::api::webpanels::remove(&t, panel.web_panel_id)
        .await
        .unwrap();
    superoffice::api::udef::remove(&t, "Sale", "DemoPartnerApp.SyncNote")
        .await
        .unwrap();
    app.press_uninstall(&session).await;
    app.wait_until_forgotten().await;
    assert_eq!(inventory(&app), Vec::<String>::new());
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_the_third_delete_puts_the_uninstall_back_and_it_ends_clean() {
    let app = App::start_with(&[("APP_MAX_INLINE_WAIT", "1")]).await;
    let session = installed(&app).await;
    // Webhook, preference, then the button's panels: the third delete is the first panel's.
    app.sim().faults().push(
        FaultRule::new(
            Route::WebApi,
            FaultAction::Status {
                status: 429,
                retry_after: Some("2".into()),
            },
        )
        .path_contains("DeleteWebPanel")
        .times(1),
    );
    app.press_uninstall(&session).await;
    let page = app.wait_for_manage(&session, "uninstalling").await;
    assert!(page.contains("id=\"left\""), "{page}");
    app.wait_until_forgotten().await;
    assert_eq!(inventory(&app), Vec::<String>::new());
    assert_eq!(
        app.sim().requests_before_retry_after(TENANT),
        0,
        "nothing sent before SuperOffice's Retry-After"
    );
    app.app.stop().await;
}

/// The real client until it has sent `deletes` removals; then the "process" dies mid-step.
struct DiesAfterDeletes<A> {
    inner: Arc<A>,
    deletes: usize,
    seen: AtomicUsize,
}

impl<A: TenantApi> TenantApi for DiesAfterDeletes<A> {
    async fn call(
        &self,
        auth: &TenantAuth,
        request: &ApiRequest,
        deadline: Option<SystemTime>,
    ) -> Result<ApiResponse, WebApiError> {
        let removing = request.method == http::Method::DELETE || request.path.contains("Delete");
        let result = self.inner.call(auth, request, deadline).await;
        if removing && self.seen.fetch_add(1, Ordering::SeqCst) + 1 >= self.deletes {
            std::future::pending::<()>().await;
        }
        result
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_killed_mid_way_resumes_from_the_ledger() {
    let app = App::start().await;
    installed(&app).await;
    domain::tenant::Tenants::new(app.app.items.clone())
        .update(&tenant(), 0, |t| t.status = InstallStatus::Uninstalling)
        .await
        .unwrap();
    let access = app
        .tenant_access(Arc::new(
            superoffice::transport::ReqwestTransport::new().unwrap(),
        ))
        .await;
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let dying = app.engine(Arc::new(DiesAfterDeletes {
        inner: access.webapi.clone(),
        deletes: 3,
        seen: AtomicUsize::new(0),
    }));
    let died =
        tokio::time::timeout(Duration::from_secs(3), dying.uninstall(&tenant(), deadline)).await;
    assert!(died.is_err(), "the first run died mid-step");
    assert!(!inventory(&app).is_empty(), "some items are still there");
    let again = app.engine(access.webapi.clone());
    assert_eq!(
        again.uninstall(&tenant(), deadline).await.unwrap(),
        Run::Done
    );
    assert_eq!(inventory(&app), Vec::<String>::new());
    assert_eq!(app.stored_for_tenant().await, Vec::<String>::new());
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_asked_for_during_the_install_waits_its_turn_and_ends_clean() {
    let app = App::start_with(&[("APP_MAX_INLINE_WAIT", "1")]).await;
    let session = app.sign_in_to_install(ADMIN).await;
    // The install is slowed down by SuperOffice, so the uninstall arrives while it is under way.
    app.sim().faults().push(
        FaultRule::new(
            Route::WebApi,
            FaultAction::Status {
                status: 429,
                retry_after: Some("2".into()),
            },
        )
        .path_contains("UdefLayout")
        .times(1),
    );
    app.press_install(&session).await;
    app.wait_for_page(&session, "data-reason=\"throttled\"")
        .await;
    app.press_uninstall(&session).await;
    app.wait_until_forgotten().await;
    // Give a put-back install job its chance to run again: it must not create anything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(inventory(&app), Vec::<String>::new());
    assert_eq!(app.stored_for_tenant().await, Vec::<String>::new());
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_consent_stops_the_uninstall_and_the_page_says_what_to_do() {
    let app = App::start().await;
    let session = installed(&app).await;
    app.sim()
        .revoke_consent(TENANT, soapp::local::DEMO_CLIENT_ID);
    app.press_uninstall(&session).await;
    let page = app.wait_for_manage(&session, "uninstall_stopped").await;
    assert!(page.contains("id=\"consent-revoked\""), "{page}");
    assert!(page.contains("approve the app again"), "{page}");
    assert!(
        !inventory(&app).is_empty(),
        "nothing could be removed without access"
    );
    // Asking again without approval is refused with what to do, and changes nothing.
    let (_, manage) = app.page("/manage", &session).await;
    let csrf = input_value(&manage, "csrf").unwrap();
    let r = app.post_uninstall(&session, &csrf, true).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("Sign in and approve"));

    // Approved again (the install sign-in records the new system token): the uninstall finishes.
    app.sim()
        .grant_consent(TENANT, soapp::local::DEMO_CLIENT_ID);
    let session = app.sign_in_to_install(ADMIN).await;
    let record = app.tenant_record().await.unwrap();
    assert!(!record.consent_revoked);
    let (_, manage) = app.page("/manage", &session).await;
    assert!(
        manage.contains("id=\"confirm-uninstall\""),
        "Try again: {manage}"
    );
    let csrf = input_value(&manage, "csrf").unwrap();
    app.post_uninstall(&session, &csrf, true).await;
    app.wait_until_forgotten().await;
    assert_eq!(inventory(&app), Vec::<String>::new());
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_administrator_of_the_tenant_with_the_pages_form_can_uninstall() {
    let app = App::start().await;
    let session = installed(&app).await;

    // A user who is not an administrator: a page that says who can.
    let r = app.sign_in(USER, "?return=/manage").await;
    let user = cookie(&r, "__Host-session").unwrap();
    let (status, page) = app.page("/manage", &user).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("Only an administrator can manage this app"),
        "{page}"
    );
    assert!(page.contains("User Administrator"), "{page}");
    let (_, home) = app.page("/", &user).await;
    let user_csrf = input_value(&home, "csrf").unwrap();
    let r = app.post_uninstall(&user, &user_csrf, true).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Without the anti-forgery token, or from another site.
    let r = app.post_uninstall(&session, "not-the-token", true).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, manage) = app.page("/manage", &session).await;
    let csrf = input_value(&manage, "csrf").unwrap();
    let r = app
        .http
        .post(app.url("/manage/uninstall"))
        .header("cookie", &session)
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Without the confirmation: back to the page that says what will be removed.
    let r = app.post_uninstall(&session, &csrf, false).await;
    assert_eq!(r.headers()["location"], "/manage/uninstall");

    // An administrator of another tenant uninstalls there, never here.
    let other = app
        .sign_in_to_install_at("Cust67890", "eve@other.example")
        .await;
    let (_, other_page) = app.page("/manage/uninstall", &other).await;
    assert!(
        !other_page.contains("Customer number"),
        "nothing of ours is listed there"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.tenant_record().await.unwrap().status,
        InstallStatus::Installed,
        "nothing was uninstalled"
    );
    assert_eq!(inventory(&app), expected_inventory(user_groups(&app)));
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_last_backup_and_the_uninstall_makes_the_tenants_backups_unreadable() {
    use domain::backup::Scope;
    use domain::backup::config::{Target, Wrapping};
    use domain::backup::run::Trigger;
    use domain::backup::verify::{PartitionProblem, Which};

    let app = App::start().await;
    let session = installed(&app).await;
    let (_, page) = app.page("/manage", &session).await;
    assert!(page.contains("Not backed up yet"), "{page}");

    // The backup and the restore drill, as soapp serve's schedule (and the backup function) run them.
    let config = soapp::local::backup_config(app.data_dir()).unwrap();
    let (Target::Folder { dir }, Wrapping::Local { key_file }) = (&config.target, &config.wrapping)
    else {
        panic!("a local backup configuration");
    };
    let backups = app::backup::local_with(app.app.items.clone(), &config, dir, key_file).unwrap();
    backups
        .run(Trigger::Start, &domain::backup::Unlimited)
        .await
        .unwrap();
    backups.drill().await.unwrap();
    let (_, page) = app.page("/manage", &session).await;
    for words in [
        "was last backed up, encrypted, on",
        "read back and checked complete on",
    ] {
        assert!(page.contains(words), "{words}: {page}");
    }
    let ours = Scope::Tenant(tenant());
    let before = backups.verify(&Which::Newest).await.unwrap();
    let check = before.checks.iter().find(|c| c.scope == ours).unwrap();
    assert!(
        check.outcome.is_ok() && check.items > 0,
        "{:?}",
        check.outcome
    );

    app.press_uninstall(&session).await;
    app.wait_until_forgotten().await;

    // The backup taken before the uninstall no longer opens for this tenant (crypto-erase); the
    // app's own partition in it still does.
    let after = backups.verify(&Which::Newest).await.unwrap();
    let check = after.checks.iter().find(|c| c.scope == ours).unwrap();
    assert!(
        matches!(check.outcome, Err(PartitionProblem::Erased)),
        "{:?}",
        check.outcome
    );
    assert!(
        after
            .checks
            .iter()
            .filter(|c| c.scope != ours)
            .all(|c| c.outcome.is_ok()),
        "other partitions still restore"
    );
    app.app.stop().await;
}
