//! The sign-in flow over HTTP against the local runner and the simulator: the OAuth abuse cases 41–47
//! of the reliability catalogue, the browser binding, session expiry and logout. A plain HTTP client
//! plays the browser, carrying cookies by hand so every attribute is visible.

use std::sync::Arc;

use integration_tests::install_app::{App, cookie, set_cookie};
use reqwest::StatusCode;
use superoffice_simulator::Route;
use superoffice_simulator::user_agent::Delivery;
use url::Url;

fn fields_of(d: &Delivery) -> Vec<(String, String)> {
    match d {
        Delivery::FormPost { fields, .. } => fields.clone(),
        Delivery::Redirect(u) => u.query_pairs().into_owned().collect(),
    }
}

fn with_state(fields: &[(String, String)], state: &str) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "state" {
                    state.to_owned()
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

fn state_of(authorize: &Url) -> String {
    authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn a_full_sign_in_starts_a_session_and_lands_on_a_clean_url() {
    let app = App::start().await;
    let r = app.sign_in("ada@demo.example", "").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/",
        "a clean URL: no code, no state"
    );
    assert_eq!(r.headers()["referrer-policy"], "no-referrer", "case 47");
    let session_cookie = set_cookie(&r, "__Host-session").expect("a session cookie");
    for attr in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=28800",
    ] {
        assert!(
            session_cookie.contains(attr),
            "{session_cookie} lacks {attr}"
        );
    }
    assert!(!session_cookie.contains("Domain"));
    let binding_cleared = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-signin-"))
        .expect("the sign-in cookie is cleared");
    assert!(binding_cleared.contains("Max-Age=0"));

    let session = cookie(&r, "__Host-session").unwrap();
    let (status, body) = app.page("/", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("ada@demo.example"));
    assert!(body.contains("Cust12345"));
    assert!(body.contains(r#"<dd id="administrator">yes</dd>"#));
    assert_eq!(app.sim().count(Route::Token), 1);
    app.app.stop().await;
}

#[tokio::test]
async fn case_41_a_missing_or_unknown_state_is_refused_without_a_token_exchange() {
    let app = App::start().await;
    let (authorize, binding) = app.begin("").await;
    let delivery = app.consent(&authorize, "ada@demo.example", true).await;
    let fields = fields_of(&delivery);
    let without_state: Vec<_> = fields
        .iter()
        .filter(|(k, _)| k != "state")
        .cloned()
        .collect();
    let r = app.callback(&without_state, Some(&binding)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("state_missing"));
    let r = app
        .callback(&with_state(&fields, "forged-state"), Some(&binding))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("state_unknown"));
    assert_eq!(
        app.sim().count(Route::Token),
        0,
        "no token exchange for a bad state"
    );
    app.app.stop().await;
}

#[tokio::test]
async fn case_42_one_state_posted_twice_at_once_gives_exactly_one_session() {
    let app = Arc::new(App::start().await);
    let (authorize, binding) = app.begin("").await;
    let fields = fields_of(&app.consent(&authorize, "ada@demo.example", true).await);
    let (a, b) = tokio::join!(
        app.callback(&fields, Some(&binding)),
        app.callback(&fields, Some(&binding))
    );
    let statuses = [a.status(), b.status()];
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count(),
        1
    );
    // Both reached the token endpoint (the state is spent once SuperOffice has vouched for the
    // sign-in, so that no anonymous request makes the app write); SuperOffice redeems a code once,
    // and the spent state would refuse a second redemption all the same.
    assert_eq!(app.sim().count(Route::Token), 2);
    // A later replay of the same callback (case 28) is refused too.
    let r = app.callback(&fields, Some(&binding)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn case_43_the_cross_site_form_post_brings_the_sign_in_cookie_back() {
    let app = App::start().await;
    // SuperOffice's form_post page makes the browser POST to /callback cross-site, which carries no
    // SameSite=Lax (or Strict) cookie: the sign-in binding must be SameSite=None, which browsers
    // accept only with Secure.
    let (authorize, set) = app.login("").await;
    let attributes: Vec<String> = set
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    let same_site: Vec<&String> = attributes
        .iter()
        .filter(|a| a.starts_with("samesite"))
        .collect();
    assert_eq!(same_site, ["samesite=none"], "{set}");
    for attr in ["secure", "httponly", "path=/"] {
        assert!(attributes.iter().any(|a| a == attr), "{set} lacks {attr}");
    }
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "{set}: a __Host- cookie names no domain"
    );
    let max_age: u64 = attributes
        .iter()
        .find_map(|a| a.strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{set} lacks Max-Age"));
    assert!(max_age > 0, "{set}: it lives while the sign-in may take");

    // The cross-site POST (`callback` sends Origin: the simulator and Sec-Fetch-Site: cross-site)
    // with only that cookie finds its state and finishes the sign-in.
    let binding = set.split(';').next().unwrap().to_owned();
    let fields = fields_of(&app.consent(&authorize, "ada@demo.example", true).await);
    let r = app.callback(&fields, Some(&binding)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    let session = cookie(&r, "__Host-session").expect("a session");
    assert_eq!(app.sim().count(Route::Token), 1, "the code was exchanged");
    let (status, page) = app.page("/", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ada@demo.example"), "{page}");
    app.app.stop().await;
}

#[tokio::test]
async fn a_user_who_is_not_an_administrator_signs_in_once_the_tenant_has_approved_the_app() {
    let app = App::start().await;
    // Before an administrator approves the app, SuperOffice refuses ordinary users.
    let refused = app.sign_in("ulf@demo.example", "").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    app.sign_in("ada@demo.example", "").await;
    let r = app.sign_in("ulf@demo.example", "").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = cookie(&r, "__Host-session").unwrap();
    let (_, page) = app.page("/", &session).await;
    assert!(page.contains(r#"<dd id="administrator">no</dd>"#));
    app.app.stop().await;
}

#[tokio::test]
async fn a_sign_in_finished_in_another_browser_is_refused() {
    let app = App::start().await;
    let (authorize, _binding) = app.begin("").await;
    let fields = fields_of(&app.consent(&authorize, "ada@demo.example", true).await);
    let r = app.callback(&fields, None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("browser_mismatch"));
    let (_, other_browser) = app.begin("").await;
    let r = app.callback(&fields, Some(&other_browser)).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the state was spent by the first attempt"
    );
    assert_eq!(app.sim().count(Route::Token), 0);
    app.app.stop().await;
}

#[tokio::test]
async fn case_44_a_code_exchanged_with_another_sign_ins_verifier_is_refused() {
    let app = App::start().await;
    let (authorize_a, _) = app.begin("").await;
    let (authorize_b, binding_b) = app.begin("").await;
    let fields_a = fields_of(&app.consent(&authorize_a, "ada@demo.example", true).await);
    // A's code arrives with B's state: we exchange it with B's PKCE verifier, which SuperOffice refuses.
    let r = app
        .callback(
            &with_state(&fields_a, &state_of(&authorize_b)),
            Some(&binding_b),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&r, "__Host-session").is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains("code_rejected"), "{body}");
    app.app.stop().await;
}

#[tokio::test]
async fn case_45_a_reused_code_gives_no_second_session() {
    let app = App::start().await;
    let (authorize_a, binding_a) = app.begin("").await;
    let fields_a = fields_of(&app.consent(&authorize_a, "ada@demo.example", true).await);
    let first = app.callback(&fields_a, Some(&binding_a)).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let (authorize_c, binding_c) = app.begin("").await;
    let replay = app
        .callback(
            &with_state(&fields_a, &state_of(&authorize_c)),
            Some(&binding_c),
        )
        .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&replay, "__Host-session").is_none());
    assert_eq!(
        app.sim().count(Route::Token),
        2,
        "the replay reached the token endpoint and failed"
    );
    app.app.stop().await;
}

#[tokio::test]
async fn case_46_only_same_site_return_paths_are_followed() {
    let app = App::start().await;
    for (ret, expected) in [
        ("https://evil.tld/", "/"),
        ("//evil.tld", "/"),
        ("/%5Cevil.tld", "/"),
        ("/manage?tab=usage", "/manage?tab=usage"),
    ] {
        let query = format!(
            "?return={}",
            url::form_urlencoded::byte_serialize(ret.as_bytes()).collect::<String>()
        );
        let r = app.sign_in("ada@demo.example", &query).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], expected, "return={ret}");
    }
    app.app.stop().await;
}

#[tokio::test]
async fn a_cancelled_sign_in_is_a_clear_page_and_ends_the_browsers_sign_in() {
    let app = App::start().await;
    let (authorize, binding) = app.begin("").await;
    let fields = fields_of(&app.consent(&authorize, "ada@demo.example", false).await);
    assert!(
        fields
            .iter()
            .any(|(k, v)| k == "error" && v == "access_denied")
    );
    let r = app.callback(&fields, Some(&binding)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let cleared = set_cookie(&r, binding.split('=').next().unwrap())
        .expect("the browser's sign-in cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let body = r.text().await.unwrap();
    assert!(body.contains("Sign-in was cancelled"));
    assert!(body.contains("signin_refused"));
    // A client that kept the cookie and forges a code gets no session.
    let retry: Vec<_> = fields
        .iter()
        .filter(|(k, _)| k == "state")
        .cloned()
        .chain([("code".to_owned(), "x".to_owned())])
        .collect();
    let r = app.callback(&retry, Some(&binding)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&r, "__Host-session").is_none());
    app.app.stop().await;
}

#[tokio::test]
async fn logout_needs_the_forms_token_and_ends_the_session_on_the_server() {
    let app = App::start().await;
    let r = app.sign_in("ada@demo.example", "").await;
    let session = cookie(&r, "__Host-session").unwrap();
    let (_, page) = app.page("/", &session).await;
    let csrf = superoffice_simulator::user_agent::input_value(&page, "csrf").expect("a csrf field");

    let forged = app
        .http
        .post(app.url("/logout"))
        .header("cookie", &session)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross_site = app
        .http
        .post(app.url("/logout"))
        .header("cookie", &session)
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert!(
        app.page("/", &session).await.1.contains("ada@demo.example"),
        "still signed in"
    );

    let out = app
        .http
        .post(app.url("/logout"))
        .header("cookie", &session)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookie(&out, "__Host-session")
            .unwrap()
            .contains("Max-Age=0")
    );
    let (_, page) = app.page("/", &session).await;
    assert!(
        page.contains("Sign in with SuperOffice"),
        "the old cookie no longer works"
    );
    app.app.stop().await;
}

#[tokio::test]
async fn error_pages_show_a_reference_and_no_internals() {
    let app = App::start().await;
    let r = app
        .http
        .post(app.url("/callback"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(body.contains("Reference: <code>bad_request</code>"));
    for internal in ["panicked", "Error {", "src/", "Backtrace", "Unavailable("] {
        assert!(!body.contains(internal), "{internal}");
    }
    let (status, _) = app.page_as("/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = app.http.delete(app.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = app
        .http
        .get(app.url("/login?intent=delete-everything"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    app.app.stop().await;
}

#[tokio::test]
async fn sign_in_fails_gently_when_superoffice_is_down() {
    let app = App::start().await;
    let (authorize, binding) = app.begin("").await;
    let fields = fields_of(&app.consent(&authorize, "ada@demo.example", true).await);
    app.sim()
        .faults()
        .push(superoffice_simulator::FaultRule::new(
            Route::Token,
            superoffice_simulator::FaultAction::Status {
                status: 503,
                retry_after: None,
            },
        ));
    let r = app.callback(&fields, Some(&binding)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("SuperOffice cannot be reached right now")
    );
    app.app.stop().await;
}
