//! The web panel and the navigator button's page the app creates in every tenant
//! (`/panels/contact` and `/panels/home`), over HTTP against the local runner: what each page says
//! in each state of the app, the addresses it refuses, the pop-up sign-in's one-time hand-off code
//! (replayed, expired, from another origin, for another tenant), and the panel cookie's limits: it
//! opens the two read-only pages and nothing else, and ends with the session.

use std::time::Duration;

use domain::signin::Sessions;
use domain::signin::panel::{HAND_OFF_SECONDS, Panels};
use domain::tenant::{Goal, InstallStatus, Reconciling, Tenants, Waiting};
use integration_tests::install_app::{App, cookie, data_attribute, set_cookie, tenant};
use integration_tests::{ADMIN, TENANT, USER};
use reqwest::StatusCode;
use superoffice_simulator::TenantStatus;
use superoffice_simulator::user_agent::input_value;

const OTHER_TENANT: &str = "Cust67890";
const OTHER_ADMIN: &str = "eve@other.example";
/// The associate ids the simulator gives Ada and Ulf.
const ADA_ID: &str = "5";
const ULF_ID: &str = "6";

fn contact(ctx: &str, user: &str) -> String {
    format!("/panels/contact?ctx={ctx}&user={user}")
}

fn home(ctx: &str, user: &str) -> String {
    format!("/panels/home?ctx={ctx}&user={user}")
}

fn now() -> i64 {
    superoffice::clock::unix_seconds(std::time::SystemTime::now())
}

/// `GET path` with `cookies` (`name=value; …`, or none): status, the whole response's headers and
/// the page.
async fn get(
    app: &App,
    path: &str,
    cookies: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = app.http.get(app.url(path));
    if !cookies.is_empty() {
        req = req.header("cookie", cookies);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// A change to the tenant record that puts the app in a state.
type Change = fn(&mut domain::tenant::Tenant);

/// What `data-panel` and `data-state` say on a panel page.
fn panel_kind(page: &str) -> (String, Option<String>) {
    (
        data_attribute(page, "data-panel").unwrap_or_default(),
        data_attribute(page, "data-state"),
    )
}

/// A page a person reads in SuperOffice: none of the app's internals on it.
fn assert_customer_words(page: &str) {
    for internal in [
        "&lt;uctx&gt;",
        "<uctx>",
        "<usid>",
        "DemoPartnerApp.",
        "ProgId",
        "OfflineMaintenance",
        "stack backtrace",
        "panicked",
    ] {
        assert!(
            !page.contains(internal),
            "a panel shows {internal:?}:\n{page}"
        );
    }
}

/// Installs the demo manifest as Ada: her session cookie (signed in for the install).
async fn installed(app: &App) -> String {
    let ada = app.sign_in_to_install(ADMIN).await;
    let r = app.press_install(&ada).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.wait_for_status(&ada, "installed").await;
    ada
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_addresses_get_a_plain_page_and_nothing_else() {
    let app = App::start().await;
    let huge_user = "9".repeat(5000);
    let huge_ctx = format!("Cust{}", "1".repeat(3000));
    let hostile = [
        // Template text SuperOffice did not substitute.
        "ctx=<uctx>&user=<usid>".to_owned(),
        "ctx=%3Cuctx%3E&user=%3Cusid%3E".to_owned(),
        "ctx=Cust12345&user=<usid>".to_owned(),
        // Missing, empty, repeated.
        String::new(),
        "ctx=Cust12345".to_owned(),
        "user=6".to_owned(),
        "ctx=&user=".to_owned(),
        "ctx=Cust12345&ctx=Cust67890&user=6".to_owned(),
        "ctx=Cust12345&user=6&user=5".to_owned(),
        // Encodings and shapes that are not a tenant id or an associate id.
        "ctx=Cust12345%00&user=6".to_owned(),
        "ctx=Cust12345%0d%0aSet-Cookie:%20x=1&user=6".to_owned(),
        "ctx=%252e%252e%2fCust12345&user=6".to_owned(),
        "ctx=Cust12345'%22%3E%3Cscript%3Ealert(1)%3C/script%3E&user=6".to_owned(),
        "ctx=%EF%BC%A3ust12345&user=6".to_owned(),
        "ctx=Cust12345&user=-6".to_owned(),
        "ctx=Cust12345&user=0x6".to_owned(),
        "ctx=Cust12345&user=6%20".to_owned(),
        "ctx=Cust12345&user=%D9%A6".to_owned(),
        // Huge values.
        format!("ctx=Cust12345&user={huge_user}"),
        format!("ctx={huge_ctx}&user=6"),
        "ctx=Cust12345&user=4294967296".to_owned(),
    ];
    for page in ["/panels/contact", "/panels/home"] {
        for query in &hostile {
            let path = format!("{page}?{query}");
            let (status, headers, body) = get(&app, &path, "").await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
            assert!(
                body.contains("This panel cannot be shown"),
                "{path}: {body}"
            );
            assert!(body.contains("panel_address"), "a reference for support");
            assert_customer_words(&body);
            for echoed in ["Cust12345", "Cust67890", "alert(1)", "script", "Set-Cookie"] {
                assert!(!body.contains(echoed), "{path} echoes {echoed:?}: {body}");
            }
            assert!(headers.get("set-cookie").is_none(), "{path}");
            // Still framable by SuperOffice, so the person sees the words in the panel.
            let csp = headers["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("https://*.superoffice.com"), "{csp}");
        }
        let head = app
            .http
            .head(app.url(&format!("{page}?ctx=<uctx>&user=<usid>")))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::BAD_REQUEST);
        // Other methods on the pages are refused.
        let post = app
            .http
            .post(app.url(&format!("{page}?ctx={TENANT}&user={ULF_ID}")))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED, "{page}");
    }
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_the_panel_offers_a_pop_up_sign_in_and_says_nothing_about_the_tenant() {
    let app = App::start().await;
    for path in [
        contact(TENANT, ULF_ID),
        home(TENANT, ULF_ID),
        contact("Cust999", "1"),
    ] {
        let (status, headers, page) = get(&app, &path, "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(panel_kind(&page).0, "sign-in", "{path}");
        assert!(
            page.contains("Sign in to see Demo Partner App here."),
            "{page}"
        );
        assert!(
            page.contains("href=\"/login?return=/panels/handoff\""),
            "{page}"
        );
        assert!(
            page.contains("rel=\"opener\""),
            "the new-tab fallback can hand back"
        );
        assert!(page.contains("id=\"popup-blocked\""), "{page}");
        assert_customer_words(&page);
        // Nothing about the tenant or the app's state before a sign-in.
        assert!(!page.contains("installed"), "{page}");
        // Our script, from our origin, with a version; no inline script.
        let src = data_attribute(&page, "src").expect("a script");
        assert!(src.starts_with("/panels/panel.js?v="), "{src}");
        assert_eq!(page.matches("<script").count(), 1, "{page}");
        assert!(page.contains(&format!("<script src=\"{src}\" defer></script>")));
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "script-src 'self'",
            "connect-src 'self'",
            "default-src 'none'",
            "frame-ancestors 'self' https://*.superoffice.com",
        ] {
            assert!(csp.contains(directive), "{directive}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(headers["cache-control"], "no-store");
    }

    // The script: long-cached, JavaScript, answered by HEAD too.
    let (status, headers, body) = get(&app, "/panels/panel.js?v=1", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(body.contains("postMessage"), "{body}");
    let head = app
        .http
        .head(app.url("/panels/panel.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);

    // A panel cookie nobody issued is no session, and the browser is told to forget it.
    let (status, headers, page) = get(
        &app,
        &contact(TENANT, ULF_ID),
        &format!("__Host-panel={}", "A".repeat(43)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(panel_kind(&page).0, "sign-in");
    let cleared = headers["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("__Host-panel=;"), "{cleared}");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Partitioned"),
        "{cleared}"
    );

    // The hand-off page without a session: a sign-in link, never a loop, never framed.
    let (status, headers, page) = get(&app, "/panels/handoff", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("/login?return=/panels/handoff"), "{page}");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panels_say_the_apps_state_in_every_state_to_administrators_and_users() {
    let app = App::start().await;
    // Ada approves (the tenant is known, not installed yet).
    let ada = app.sign_in_to_install(ADMIN).await;
    let ulf = app.sign_in_for_panel(TENANT, USER).await;
    let expect = |page: &str, state: &str| {
        assert_eq!(
            panel_kind(page),
            ("state".to_owned(), Some(state.to_owned())),
            "{page}"
        );
        assert_customer_words(page);
    };

    // Not installed: who can install it.
    let (_, _, page) = get(&app, &contact(TENANT, ADA_ID), &ada).await;
    expect(&page, "not_installed");
    assert!(page.contains("Demo Partner App is not installed in Demo Company AS's SuperOffice."));
    assert!(page.contains("Signed in as <strong id=\"signed-in-as\">ada@demo.example</strong>"));
    assert!(
        page.contains("As an administrator, you can install it"),
        "{page}"
    );
    assert!(
        page.contains("href=\"/install\" target=\"_blank\""),
        "{page}"
    );
    assert!(
        page.contains("href=\"/manage\" target=\"_blank\" rel=\"noopener\""),
        "{page}"
    );
    let (_, _, page) = get(&app, &home(TENANT, ULF_ID), &ulf).await;
    expect(&page, "not_installed");
    assert!(
        page.contains("General Administrator or User Administrator"),
        "{page}"
    );
    assert!(!page.contains("href=\"/install\""), "{page}");
    assert!(
        page.contains("href=\"/\" target=\"_blank\" rel=\"noopener\""),
        "{page}"
    );

    // Installed.
    let r = app.press_install(&ada).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.wait_for_status(&ada, "installed").await;
    let (status, headers, page) = get(&app, &contact(TENANT, ULF_ID), &ulf).await;
    assert_eq!(status, StatusCode::OK);
    expect(&page, "installed");
    assert!(
        page.contains("Demo Partner App is installed and ready in Demo Company AS's SuperOffice.")
    );
    assert!(page.contains("ulf@demo.example"));
    assert!(
        !page.contains("id=\"items\""),
        "the panel on the company card is brief"
    );
    assert!(headers.get("set-cookie").is_none());
    let (_, _, page) = get(&app, &home(TENANT, ULF_ID), &ulf).await;
    expect(&page, "installed");
    assert!(
        page.contains("What Demo Partner App added to your SuperOffice"),
        "{page}"
    );
    assert!(
        page.contains("The button &quot;Demo Partner App&quot; in the navigator"),
        "{page}"
    );
    assert!(page.contains("SuperOffice is running normally."), "{page}");
    let (_, _, page) = get(&app, &home(TENANT, ADA_ID), &ada).await;
    expect(&page, "installed");
    assert!(page.contains("Manage Demo Partner App"), "{page}");

    // SuperOffice in maintenance, as SuperOffice's tenant state says it.
    app.sim()
        .set_tenant_state(TENANT, TenantStatus::OfflineMaintenance, None);
    app.app
        .deployment
        .superoffice
        .tenant_states()
        .invalidate(&tenant());
    let (_, _, page) = get(&app, &contact(TENANT, ULF_ID), &ulf).await;
    expect(&page, "maintenance");
    assert!(page.contains("SuperOffice is in maintenance"), "{page}");
    app.sim()
        .set_tenant_state(TENANT, TenantStatus::Running, None);
    app.app
        .deployment
        .superoffice
        .tenant_states()
        .invalidate(&tenant());

    // The states the app's own record says, each on both pages.
    let tenants = Tenants::new(app.app.items.clone());
    let set = |change: Change| {
        let tenants = tenants.clone();
        async move {
            tenants
                .update(&tenant(), now(), change)
                .await
                .unwrap()
                .unwrap();
        }
    };
    let cases: [(Change, &str, &str); 5] = [
        (
            |t| t.status = InstallStatus::Installing,
            "installing",
            "Demo Partner App is being installed",
        ),
        (
            |t| {
                t.status = InstallStatus::Installed;
                t.reconciling = Some(Reconciling {
                    goal: Goal::Upgrade,
                    asked_at: 0,
                    why: "a new release".into(),
                    target: None,
                });
            },
            "updating",
            "Demo Partner App is being updated",
        ),
        (
            |t| {
                t.reconciling = None;
                t.waiting = Some(Waiting {
                    until: i64::MAX / 2,
                    reason: "maintenance".into(),
                    detail: "OfflineMaintenance".into(),
                });
            },
            "maintenance",
            "SuperOffice is",
        ),
        (
            |t| {
                t.waiting = None;
                t.status = InstallStatus::Failed;
                t.problem = Some("SuperOffice refused a field".into());
            },
            "install_stopped",
            "Installing Demo Partner App in Demo Company AS's SuperOffice stopped",
        ),
        (
            |t| {
                t.problem = None;
                t.status = InstallStatus::Uninstalling;
            },
            "removing",
            "Demo Partner App is being removed",
        ),
    ];
    for (change, state, words) in cases {
        set(change).await;
        for path in [contact(TENANT, ULF_ID), home(TENANT, ULF_ID)] {
            let (status, _, page) = get(&app, &path, &ulf).await;
            assert_eq!(status, StatusCode::OK);
            expect(&page, state);
            assert!(page.contains(words), "{state} on {path}: {words:?}\n{page}");
        }
    }
    // Install stopped: the administrator is shown the way on, the user who to ask.
    set(|t| t.status = InstallStatus::Failed).await;
    let (_, _, page) = get(&app, &contact(TENANT, ADA_ID), &ada).await;
    assert!(page.contains("See why and try again"), "{page}");
    let (_, _, page) = get(&app, &contact(TENANT, ULF_ID), &ulf).await;
    assert!(page.contains("to finish the install"), "{page}");
    set(|t| t.status = InstallStatus::Installed).await;

    // HEAD answers like GET, without a body.
    let head = app
        .http
        .head(app.url(&contact(TENANT, ULF_ID)))
        .header("cookie", &ulf)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.text().await.unwrap().is_empty());
    let _ = ada;
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hand_off_code_is_redeemed_once_in_time_from_our_origin_for_its_tenant() {
    let app = App::start().await;
    installed(&app).await;
    let origin = app.app.config.origin();
    let ulf = app.sign_in_for_panel(TENANT, USER).await;

    // The hand-off page: a code for the opener, never framed, our script only.
    let (status, headers, page) = get(&app, "/panels/handoff", &ulf).await;
    assert_eq!(status, StatusCode::OK);
    let code = data_attribute(&page, "data-code").unwrap();
    assert_eq!(code.len(), 43, "{code}");
    assert!(page.contains("Signed in to Demo Partner App as"), "{page}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    // HEAD mints nothing and shows nothing.
    let head = app
        .http
        .head(app.url("/panels/handoff"))
        .header("cookie", &ulf)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.text().await.unwrap().is_empty());

    // From anywhere but a page of ours: refused, and the code is not spent by it.
    let fields = [("code", code.as_str()), ("ctx", TENANT)];
    for headers in [
        vec![
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![("origin", origin.as_str()), ("sec-fetch-site", "same-site")],
        vec![
            ("origin", origin.as_str()),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "same-origin")],
        vec![],
    ] {
        let r = app.post_panel_session(&fields, &headers).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(set_cookie(&r, "__Host-panel").is_none());
    }

    // Malformed requests.
    let same = [
        ("origin", origin.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    for form in [
        vec![("ctx", TENANT)],
        vec![("code", code.as_str())],
        vec![("code", code.as_str()), ("ctx", "<uctx>")],
        vec![
            ("code", code.as_str()),
            ("code", code.as_str()),
            ("ctx", TENANT),
        ],
    ] {
        let r = app.post_panel_session(&form, &same).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{form:?}");
    }
    let r = app
        .http
        .get(app.url("/panels/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Redeemed once: the panel cookie, with every promised attribute.
    let r = app.redeem(&code, TENANT).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let line = set_cookie(&r, "__Host-panel").unwrap();
    for attr in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=None",
        "Partitioned",
    ] {
        assert!(line.split("; ").any(|a| a == attr), "{attr}: {line}");
    }
    let max_age: i64 = line
        .split("; ")
        .find_map(|a| a.strip_prefix("Max-Age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3000..=8 * 3600).contains(&max_age),
        "as long as the session: {max_age}"
    );
    assert!(!line.contains("Domain"), "{line}");
    let panel = cookie(&r, "__Host-panel").unwrap();
    assert_ne!(
        panel.split('=').nth(1),
        ulf.split('=').nth(1),
        "not the session id"
    );

    // The panel cookie alone shows the panel.
    let (_, _, page) = get(&app, &contact(TENANT, ULF_ID), &panel).await;
    assert_eq!(
        panel_kind(&page),
        ("state".into(), Some("installed".into())),
        "{page}"
    );
    assert!(page.contains("ulf@demo.example"));
    // The same person as another associate: sign in again as yourself.
    let (_, _, page) = get(&app, &contact(TENANT, ADA_ID), &panel).await;
    assert_eq!(panel_kind(&page).0, "other-user", "{page}");
    assert!(page.contains("You are signed in as someone else"), "{page}");

    // Replayed.
    let r = app.redeem(&code, TENANT).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&r, "__Host-panel").is_none());

    // Expired: a code minted more than a minute ago for this very session.
    let session_id = ulf.split_once('=').unwrap().1;
    let session = Sessions::new(app.app.items.clone())
        .find(session_id, now())
        .await
        .unwrap()
        .unwrap();
    let old = Panels::new(app.app.items.clone())
        .mint(session_id, &session, now() - HAND_OFF_SECONDS - 1)
        .await
        .unwrap();
    let r = app.redeem(old.expose(), TENANT).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // For another tenant: refused with its own answer, and spent.
    let code = app.hand_off_code(&ulf).await;
    let r = app.redeem(&code, OTHER_TENANT).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("You signed in to another company")
    );
    assert_eq!(
        app.redeem(&code, TENANT).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A code nobody issued.
    let r = app.redeem(&"A".repeat(43), TENANT).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_companys_session_is_not_this_panels() {
    let app = App::start().await;
    installed(&app).await;
    // Eve administers the other tenant and approves the app there.
    let eve = app.sign_in_for_panel(OTHER_TENANT, OTHER_ADMIN).await;

    // Her ordinary session, where a browser sends it.
    let (_, _, page) = get(&app, &contact(TENANT, "5"), &eve).await;
    assert_eq!(panel_kind(&page).0, "other-company", "{page}");
    assert!(
        page.contains("You are signed in to another company"),
        "{page}"
    );
    assert!(page.contains("id=\"sign-in\""), "a sign-in again");
    assert!(
        !page.contains("Demo Company AS"),
        "nothing about this tenant: {page}"
    );

    // Her hand-off code, for this tenant's panel: refused.
    let code = app.hand_off_code(&eve).await;
    assert_eq!(
        app.redeem(&code, TENANT).await.status(),
        StatusCode::CONFLICT
    );

    // Her panel cookie from her own tenant's panel, shown this tenant's panel.
    let code = app.hand_off_code(&eve).await;
    let r = app.redeem(&code, OTHER_TENANT).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let panel = cookie(&r, "__Host-panel").unwrap();
    let (_, _, page) = get(&app, &home(TENANT, "5"), &panel).await;
    assert_eq!(panel_kind(&page).0, "other-company", "{page}");
    // On her own tenant's panel: the app is not installed there, and she may install it.
    let (_, _, page) = get(&app, &contact(OTHER_TENANT, "5"), &panel).await;
    assert_eq!(
        panel_kind(&page),
        ("state".into(), Some("not_installed".into())),
        "{page}"
    );
    assert!(page.contains("Other Tenant AS"), "{page}");
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_cookie_opens_the_panels_only_and_ends_with_the_session() {
    let app = App::start().await;
    installed(&app).await;
    // Ada's panel cookie: an administrator's, the most it could be worth.
    let (ada, panel) = app.panel_sign_in(TENANT, ADMIN).await;
    let origin = app.app.config.origin();
    let (_, _, page) = get(&app, &contact(TENANT, ADA_ID), &panel).await;
    assert_eq!(
        panel_kind(&page),
        ("state".into(), Some("installed".into()))
    );

    // No other page takes it for a session.
    for path in [
        "/manage",
        "/manage/uninstall",
        "/install",
        "/install/status",
    ] {
        let (status, headers, _) = get(&app, path, &panel).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            headers["location"].to_str().unwrap().starts_with("/login"),
            "{path}: {:?}",
            headers["location"]
        );
    }
    let (_, _, page) = get(&app, "/", &panel).await;
    assert!(!page.contains("ada@demo.example"), "the start page: {page}");
    let (status, _, _) = get(&app, "/panels/handoff", &panel).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no code for a panel cookie"
    );

    // Nor any form, with the session's anti-forgery token and from our own origin.
    let (_, _, page) = get(&app, "/manage/uninstall", &ada).await;
    let csrf = input_value(&page, "csrf").expect("the confirmation form");
    for (path, form) in [
        (
            "/manage/uninstall",
            vec![("csrf", csrf.as_str()), ("confirm", "yes")],
        ),
        ("/install", vec![("csrf", csrf.as_str())]),
    ] {
        let r = app
            .http
            .post(app.url(path))
            .header("cookie", &panel)
            .header("origin", &origin)
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login"),
            "{path}"
        );
    }
    assert_eq!(
        app.tenant_record().await.unwrap().status,
        InstallStatus::Installed,
        "nothing changed"
    );
    // Signing out with only the panel cookie ends nothing (it is not a session).
    let r = app
        .http
        .post(app.url("/logout"))
        .header("cookie", &panel)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, _, page) = get(&app, "/manage", &ada).await;
    assert!(
        page.contains("Manage Demo Partner App"),
        "Ada is still signed in"
    );

    // Signing out ends the panel session too.
    let (_, _, start) = get(&app, "/", &ada).await;
    let csrf = input_value(&start, "csrf").unwrap();
    let r = app
        .http
        .post(app.url("/logout"))
        .header("cookie", &ada)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, headers, page) = get(&app, &contact(TENANT, ADA_ID), &panel).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(panel_kind(&page).0, "sign-in", "{page}");
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("__Host-panel=;"),
        "the ended panel cookie is cleared"
    );
    app.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_uninstall_ends_every_panel_session_of_the_tenant() {
    let app = App::start().await;
    let ada = installed(&app).await;
    let (_, ulf_panel) = app.panel_sign_in(TENANT, USER).await;
    let (_, _, page) = get(&app, &contact(TENANT, ULF_ID), &ulf_panel).await;
    assert_eq!(panel_kind(&page).1.as_deref(), Some("installed"));

    let r = app.press_uninstall(&ada).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.wait_until_forgotten().await;
    // The purge ended the sessions: the panel asks to sign in, and says nothing of the tenant.
    let mut page = String::new();
    for _ in 0..100 {
        page = get(&app, &contact(TENANT, ULF_ID), &ulf_panel).await.2;
        if panel_kind(&page).0 == "sign-in" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(panel_kind(&page).0, "sign-in", "{page}");

    // Signing in again: the app is not installed any more.
    let (_, panel) = app.panel_sign_in(TENANT, ADMIN).await;
    let (_, _, page) = get(&app, &home(TENANT, ADA_ID), &panel).await;
    assert_eq!(
        panel_kind(&page),
        ("state".into(), Some("not_installed".into())),
        "{page}"
    );
    app.app.stop().await;
}
