//! SuperID's sign-in session (single sign-on): a browser that signed in once gets codes without a
//! prompt, for any app its tenant has approved; `prompt`, `max_age`, `acr_values` and `login_hint`
//! decide when it must sign in again; the id_token's `auth_time` is the interactive sign-in; sign-out
//! and the scripting API end sessions.

use std::time::Duration;

use serde_json::Value;
use superoffice_simulator::user_agent::{Choice, Delivery, Outcome, UserAgent};
use superoffice_simulator::{AppRegistration, SESSION_COOKIE, SimulatorHandle};
use url::Url;

use crate::common::*;

const ADA: Choice<'static> = Choice {
    context_id: "Cust12345",
    email: "ada@demo.example",
    approve: true,
};
const ULF: Choice<'static> = Choice {
    context_id: "Cust12345",
    email: "ulf@demo.example",
    approve: true,
};

/// A second app in the same SuperID, which no tenant has approved yet.
const OTHER_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const OTHER_SECRET: &str = "b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2";
const OTHER_REDIRECT: &str = "http://127.0.0.1:9/reports/callback";

async fn two_apps() -> SimulatorHandle {
    let mut c = config();
    c.apps.push(AppRegistration {
        name: "Beta Reports".into(),
        client_id: OTHER_ID.into(),
        client_secret: OTHER_SECRET.into(),
        redirect_uris: vec![OTHER_REDIRECT.into()],
        system_user_public_key_der: None,
    });
    start(c).await
}

/// The demo app's authorization request (form_post, state `st-123`, no login_hint) plus `extra`.
fn request(sim: &SimulatorHandle, extra: &str) -> Url {
    let mut url = Url::parse(&authorize_url(sim, &Flow::default())).unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "login_hint")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    Url::parse(&format!("{url}{extra}")).unwrap()
}

/// The other app's authorization request (form_post, state `other`).
fn other_request(sim: &SimulatorHandle) -> Url {
    let mut url = Url::parse(&url(sim, "/login/common/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", OTHER_ID)
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", OTHER_REDIRECT)
        .append_pair("state", "other")
        .append_pair("response_type", "code")
        .append_pair("response_mode", "form_post");
    url
}

fn browser() -> UserAgent {
    UserAgent::new().expect("a user agent")
}

/// The delivery of an answer given without any page.
fn delivered(outcome: Outcome) -> Delivery {
    match outcome {
        Outcome::Delivered(d) => d,
        other => panic!("a delivery without a prompt expected, got {other:?}"),
    }
}

/// The demo app redeems `code`; the id_token's claims and the token response.
async fn redeem(sim: &SimulatorHandle, code: &str) -> (Value, Value) {
    let resp = exchange(sim, &client(), code, REDIRECT, None).await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    (jwt_claims(tokens["id_token"].as_str().unwrap()), tokens)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_signed_in_browser_gets_a_code_without_a_prompt() {
    let sim = demo().await;
    let http = client();

    // The sign-in sets the session cookie: HttpOnly, SameSite=Lax, for SuperID's /login/ paths.
    let (_, answer) = choose_user(
        &sim,
        &http,
        &authorize_url(&sim, &Flow::default()),
        "Cust12345/ada@demo.example",
    )
    .await;
    assert_eq!(answer.status(), 200, "the consent page");
    let set_cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    let value = set_cookie
        .strip_prefix(&format!("{SESSION_COOKIE}="))
        .and_then(|rest| rest.split(';').next())
        .unwrap();
    assert!(value.len() >= 40, "an opaque random value: {set_cookie}");
    assert!(!value.contains("ada"), "{set_cookie}");
    assert_eq!(
        set_cookie.replace(value, "V"),
        "SuperIdSession=V; Path=/login/; Max-Age=28800; HttpOnly; SameSite=Lax"
    );
    assert_eq!(sim.sign_in_sessions(), 1);

    // A scripted browser signs in (and approves) once ...
    let ua = browser();
    let first = ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();
    let first_code = first.param("code").expect("a code");
    assert!(ua.session_cookie().is_some());
    let (first_claims, _) = redeem(&sim, &first_code).await;
    sim.clear_requests();

    // ... and then gets a code at once: one authorize request, answered by the form_post page.
    let again = delivered(ua.open(&request(&sim, "")).await.unwrap());
    let Delivery::FormPost { action, fields } = &again else {
        panic!("form_post expected: {again:?}");
    };
    assert_eq!(action, REDIRECT);
    assert_eq!(again.param("state").as_deref(), Some("st-123"));
    assert!(fields.iter().all(|(k, _)| k != "error"), "{fields:?}");
    let code = again.param("code").unwrap();
    assert_ne!(code, first_code);
    assert_eq!(sim.count(superoffice_simulator::Route::Authorize), 1);
    let (claims, _) = redeem(&sim, &code).await;
    assert_eq!(claims["sub"], "ada@demo.example");
    assert_eq!(claims["auth_time"], first_claims["auth_time"]);

    // In query mode the same answer is a redirect.
    let query = Url::parse(
        &request(&sim, "")
            .as_str()
            .replace("&response_mode=form_post", ""),
    )
    .unwrap();
    let Delivery::Redirect(to) = delivered(ua.open(&query).await.unwrap()) else {
        panic!("a redirect expected");
    };
    assert!(to.as_str().starts_with(&format!("{REDIRECT}?")), "{to}");
    assert!(query_param(to.as_str(), "code").is_some());

    // A browser without the cookie still sees the sign-in page.
    assert!(matches!(
        browser().open(&request(&sim, "")).await.unwrap(),
        Outcome::SignInPage
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn single_sign_on_reaches_other_apps_but_consent_is_still_required() {
    let sim = two_apps().await;
    let ua = browser();
    ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();

    // The other app has no consent in Ada's tenant: the consent page, without the sign-in page.
    assert!(!sim.has_consent("Cust12345", OTHER_ID));
    assert!(matches!(
        ua.open(&other_request(&sim)).await.unwrap(),
        Outcome::ConsentPage
    ));
    // prompt=none cannot show it: consent_required.
    let silent = Url::parse(&format!("{}&prompt=none", other_request(&sim))).unwrap();
    let refused = delivered(ua.open(&silent).await.unwrap());
    assert_eq!(refused.param("error").as_deref(), Some("consent_required"));
    assert_eq!(refused.param("state").as_deref(), Some("other"));
    assert!(
        refused
            .param("error_description")
            .unwrap()
            .contains("has not approved Beta Reports")
    );

    // Approving (the user agent answers the consent page) gives the other app a code for Ada.
    let approved = ua.sign_in(&other_request(&sim), &ADA).await.unwrap();
    let Delivery::FormPost { action, .. } = &approved else {
        panic!("form_post expected");
    };
    assert_eq!(action, OTHER_REDIRECT);
    let code = approved.param("code").unwrap();
    assert!(sim.has_consent("Cust12345", OTHER_ID));
    let tokens: Value = post_token(
        &sim,
        &client(),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", OTHER_ID),
            ("client_secret", OTHER_SECRET),
            ("code", &code),
            ("redirect_uri", OTHER_REDIRECT),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "ada@demo.example");
    assert_eq!(claims["aud"], OTHER_ID);
    // From now on the other app gets codes without a prompt too.
    let sso = delivered(ua.open(&other_request(&sim)).await.unwrap());
    assert!(sso.param("code").is_some());

    // A signed-in ordinary user cannot approve: the app hears access_denied, no page is shown.
    sim.revoke_consent("Cust12345", OTHER_ID);
    let ulf = browser();
    ulf.sign_in(&request(&sim, ""), &ULF).await.unwrap();
    let denied = delivered(ulf.open(&other_request(&sim)).await.unwrap());
    assert_eq!(denied.param("error").as_deref(), Some("access_denied"));
    assert!(!sim.has_consent("Cust12345", OTHER_ID));
    sim.shutdown().await;
}

#[tokio::test]
async fn prompt_none_answers_login_required_without_a_session_and_a_code_with_one() {
    let sim = demo().await;
    assert!(sim.grant_consent("Cust12345", CLIENT_ID));
    let ua = browser();
    let silent = request(&sim, "&prompt=none");

    let refused = delivered(ua.open(&silent).await.unwrap());
    assert_eq!(refused.param("error").as_deref(), Some("login_required"));
    assert_eq!(refused.param("state").as_deref(), Some("st-123"));
    assert!(refused.param("code").is_none());
    assert!(
        refused
            .param("error_description")
            .unwrap()
            .contains("there is no sign-in session")
    );

    ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();
    let answered = delivered(ua.open(&silent).await.unwrap());
    assert!(answered.param("error").is_none());
    let (claims, _) = redeem(&sim, &answered.param("code").unwrap()).await;
    assert_eq!(claims["sub"], "ada@demo.example");

    // prompt=none with anything else is a malformed request.
    let mixed = delivered(
        ua.open(&request(&sim, "&prompt=none%20login"))
            .await
            .unwrap(),
    );
    assert_eq!(mixed.param("error").as_deref(), Some("invalid_request"));
    let unknown = delivered(ua.open(&request(&sim, "&prompt=sometimes")).await.unwrap());
    assert_eq!(unknown.param("error").as_deref(), Some("invalid_request"));
    assert!(
        unknown
            .param("error_description")
            .unwrap()
            .contains("sometimes")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn prompt_login_shows_the_sign_in_page_despite_a_session() {
    let sim = demo().await;
    let ua = browser();
    ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();
    let ada_cookie = ua.session_cookie().unwrap();

    for prompt in ["login", "select_account", "consent%20login"] {
        let forced = request(&sim, &format!("&prompt={prompt}"));
        assert!(
            matches!(ua.open(&forced).await.unwrap(), Outcome::SignInPage),
            "prompt={prompt}"
        );
    }
    // prompt=consent alone changes nothing: the tenant has approved the app.
    let consent = delivered(ua.open(&request(&sim, "&prompt=consent")).await.unwrap());
    assert!(consent.param("code").is_some());

    // Signing in again, as someone else: the session now stands for Ulf, under a new cookie.
    let forced = request(&sim, "&prompt=login");
    let ulf = ua.sign_in(&forced, &ULF).await.unwrap();
    let (claims, _) = redeem(&sim, &ulf.param("code").unwrap()).await;
    assert_eq!(claims["sub"], "ulf@demo.example");
    let ulf_cookie = ua.session_cookie().unwrap();
    assert_ne!(ulf_cookie, ada_cookie);
    assert_eq!(sim.sign_in_sessions(), 1, "Ada's session ended with it");
    let sso = delivered(ua.open(&request(&sim, "")).await.unwrap());
    let (claims, _) = redeem(&sim, &sso.param("code").unwrap()).await;
    assert_eq!(claims["sub"], "ulf@demo.example");

    // Ada's old cookie no longer signs anyone in.
    let stale = http_authorize(&request(&sim, ""), Some(&ada_cookie)).await;
    assert!(stale.contains("name=\"pending\""), "the sign-in page");
    sim.shutdown().await;
}

/// The authorize page's HTML for a browser that sends `cookie`.
async fn http_authorize(url: &Url, cookie: Option<&str>) -> String {
    let mut req = client().get(url.clone());
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn max_age_asks_for_a_new_sign_in_when_the_last_one_is_older() {
    let sim = demo().await;
    let ua = browser();
    ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();

    // Recent enough: a code, and the id_token says when Ada signed in.
    let within = delivered(ua.open(&request(&sim, "&max_age=600")).await.unwrap());
    let (claims, _) = redeem(&sim, &within.param("code").unwrap()).await;
    let signed_in_at = claims["auth_time"].as_i64().unwrap();
    assert!((now() - signed_in_at).abs() < 30, "{signed_in_at}");

    // max_age=0 always asks.
    assert!(matches!(
        ua.open(&request(&sim, "&max_age=0")).await.unwrap(),
        Outcome::SignInPage
    ));

    // Ten minutes and a second later, a 600-second max_age asks for a new sign-in ...
    assert_eq!(sim.age_sign_in_sessions(Duration::from_secs(601)), 1);
    assert!(matches!(
        ua.open(&request(&sim, "&max_age=600")).await.unwrap(),
        Outcome::SignInPage
    ));
    let silent = delivered(
        ua.open(&request(&sim, "&max_age=600&prompt=none"))
            .await
            .unwrap(),
    );
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));
    assert!(
        silent
            .param("error_description")
            .unwrap()
            .contains("older than max_age")
    );
    // ... while a longer max_age, or none, still gets a code with the older auth_time.
    let older = delivered(ua.open(&request(&sim, "&max_age=3600")).await.unwrap());
    let (claims, _) = redeem(&sim, &older.param("code").unwrap()).await;
    assert_eq!(claims["auth_time"].as_i64().unwrap(), signed_in_at - 601);
    assert!(claims["iat"].as_i64().unwrap() - claims["auth_time"].as_i64().unwrap() >= 601);

    // The new sign-in max_age asked for resets auth_time.
    let fresh = ua
        .sign_in(&request(&sim, "&max_age=600"), &ADA)
        .await
        .unwrap();
    let (claims, _) = redeem(&sim, &fresh.param("code").unwrap()).await;
    assert!((now() - claims["auth_time"].as_i64().unwrap()).abs() < 30);
    let within = delivered(ua.open(&request(&sim, "&max_age=600")).await.unwrap());
    assert!(within.param("code").is_some());

    // A max_age that is not a number of seconds is a malformed request.
    let bad = delivered(ua.open(&request(&sim, "&max_age=-1")).await.unwrap());
    assert_eq!(bad.param("error").as_deref(), Some("invalid_request"));
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_time_is_the_interactive_sign_in_also_after_a_refresh() {
    let sim = demo().await;
    let http = client();
    let ua = browser();
    let first = ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();
    let (claims, tokens) = redeem(&sim, &first.param("code").unwrap()).await;
    let auth_time = claims["auth_time"].as_i64().expect("a numeric auth_time");
    assert!(auth_time <= claims["iat"].as_i64().unwrap());

    // The same sign-in seen an hour later: iat is now, auth_time is still the sign-in.
    sim.age_sign_in_sessions(Duration::from_secs(3600));
    let sso = delivered(ua.open(&request(&sim, "")).await.unwrap());
    let (claims, _) = redeem(&sim, &sso.param("code").unwrap()).await;
    assert_eq!(claims["auth_time"].as_i64().unwrap(), auth_time - 3600);
    assert!((now() - claims["iat"].as_i64().unwrap()).abs() < 30);

    // A refresh does not sign anyone in: its id_token keeps the grant's auth_time.
    let refreshed: Value = refresh(
        &sim,
        &http,
        tokens["refresh_token"].as_str().unwrap(),
        SECRET,
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = jwt_claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(claims["auth_time"].as_i64().unwrap(), auth_time);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_session_answers_only_for_its_own_user_and_tenant() {
    let sim = demo().await;
    let ua = browser();
    ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();

    // Another tenant (acr_values) or another user (login_hint) asks for a sign-in.
    let other_tenant = request(&sim, "&acr_values=tenant%3ACust67890");
    assert!(matches!(
        ua.open(&other_tenant).await.unwrap(),
        Outcome::SignInPage
    ));
    let other_user = request(&sim, "&login_hint=ulf%40demo.example");
    assert!(matches!(
        ua.open(&other_user).await.unwrap(),
        Outcome::SignInPage
    ));
    // Ada's own tenant and name (ignoring case) are answered at once.
    let own = request(
        &sim,
        "&acr_values=tenant%3Acust12345&login_hint=ADA%40demo.example",
    );
    assert!(
        delivered(ua.open(&own).await.unwrap())
            .param("code")
            .is_some()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let sim = demo().await;
    let ua = browser();
    ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();
    let cookie = ua.session_cookie().unwrap();
    assert_eq!(sim.sign_in_sessions(), 1);

    // The sign-out endpoint tells the browser to forget the cookie ...
    let logout = client()
        .get(url(&sim, "/login/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    assert_eq!(
        logout.headers()["set-cookie"],
        "SuperIdSession=; Path=/login/; Max-Age=0; HttpOnly; SameSite=Lax"
    );
    // ... and ends the session, so even the old cookie shows the sign-in page.
    assert_eq!(sim.sign_in_sessions(), 0);
    assert!(
        http_authorize(&request(&sim, ""), Some(&cookie))
            .await
            .contains("name=\"pending\"")
    );
    let silent = delivered(ua.open(&request(&sim, "&prompt=none")).await.unwrap());
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));

    // The user agent's own sign-out (with a redirect back to the app) forgets the cookie too.
    ua.sign_in(&request(&sim, ""), &ADA).await.unwrap();
    let end = Url::parse(&format!(
        "{}?post_logout_redirect_uri={}&state=bye",
        url(&sim, "/login/logout"),
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    ))
    .unwrap();
    ua.sign_out(&end).await.unwrap();
    assert!(ua.session_cookie().is_none());
    assert_eq!(sim.sign_in_sessions(), 0);
    assert!(matches!(
        ua.open(&request(&sim, "")).await.unwrap(),
        Outcome::SignInPage
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn tests_can_end_or_age_every_session() {
    let sim = demo().await;
    let (ada, ulf) = (browser(), browser());
    ada.sign_in(&request(&sim, ""), &ADA).await.unwrap();
    ulf.sign_in(&request(&sim, ""), &ULF).await.unwrap();
    assert_eq!(sim.sign_in_sessions(), 2);

    assert_eq!(sim.end_sign_in_sessions(), 2);
    assert_eq!(sim.sign_in_sessions(), 0);
    for ua in [&ada, &ulf] {
        assert!(matches!(
            ua.open(&request(&sim, "")).await.unwrap(),
            Outcome::SignInPage
        ));
    }

    // The same over the scripting API, for tests in another process.
    ada.sign_in(&request(&sim, ""), &ADA).await.unwrap();
    assert_eq!(
        admin_get(&sim, "sessions").await,
        (200, serde_json::json!({"sessions": 1}))
    );
    let (status, aged) =
        admin_post(&sim, "sessions/age", &serde_json::json!({"seconds": 900})).await;
    assert_eq!((status, &aged["sessions"]), (200, &serde_json::json!(1)));
    assert!(matches!(
        ada.open(&request(&sim, "&max_age=600")).await.unwrap(),
        Outcome::SignInPage
    ));
    let (status, _) = admin_post(&sim, "sessions/age", &serde_json::json!({"seconds": "x"})).await;
    assert_eq!(status, 400);
    let ended: Value = client()
        .delete(url(&sim, "/__sim/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ended["ended"], 1);
    assert!(matches!(
        ada.open(&request(&sim, "")).await.unwrap(),
        Outcome::SignInPage
    ));
    sim.shutdown().await;
}
