//! Authorize and token endpoint error handling.

use std::time::Duration;

use serde_json::Value;

use crate::common::*;
use crate::webapi_support::{OTHER_CLIENT_ID, OTHER_SECRET, other_app};

const USED: &str = "the code has already been used";

#[tokio::test]
async fn a_code_can_be_used_once() {
    let sim = demo().await;
    let http = client();
    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    let first = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_eq!(first.status(), 200);
    let tokens: Value = first.json().await.unwrap();
    let second = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_oauth_error(second, 400, "invalid_grant", USED).await;
    // The replay also revoked the refresh token of the first redemption.
    let rt = tokens["refresh_token"].as_str().unwrap();
    let resp = refresh(&sim, &http, rt, SECRET).await;
    assert_oauth_error(
        resp,
        400,
        "invalid_grant",
        "unknown or revoked refresh token",
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_code_expires() {
    let mut config = config();
    config.code_lifetime = Duration::from_secs(1);
    let sim = start(config).await;
    let http = client();
    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resp = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_oauth_error(resp, 400, "invalid_grant", "the code has expired").await;

    // A fresh code within the lifetime still works.
    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    assert_eq!(
        exchange(&sim, &http, &code, REDIRECT, None).await.status(),
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn pkce_verifier_is_checked() {
    let sim = demo().await;
    let http = client();
    let pkce = pkce();
    let flow = Flow {
        pkce: Some(&pkce),
        ..Flow::default()
    };

    let code = sign_in(&sim, &flow).await.param("code").unwrap();
    let wrong = "x".repeat(43);
    let resp = exchange(&sim, &http, &code, REDIRECT, Some(&wrong)).await;
    let mismatch = "code_verifier does not match the code_challenge";
    assert_oauth_error(resp, 400, "invalid_grant", mismatch).await;
    // The failed attempt consumed the code.
    let resp = exchange(&sim, &http, &code, REDIRECT, Some(&pkce.verifier)).await;
    assert_oauth_error(resp, 400, "invalid_grant", USED).await;

    let code = sign_in(&sim, &flow).await.param("code").unwrap();
    let resp = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_oauth_error(resp, 400, "invalid_grant", "code_verifier is required").await;

    // A verifier that is not a PKCE string (RFC 7636: 43-128 unreserved characters) never matches.
    let code = sign_in(&sim, &flow).await.param("code").unwrap();
    let resp = exchange(&sim, &http, &code, REDIRECT, Some("short")).await;
    assert_oauth_error(resp, 400, "invalid_grant", mismatch).await;

    // A verifier without a challenge in the authorization request is refused too.
    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    let resp = exchange(&sim, &http, &code, REDIRECT, Some(&pkce.verifier)).await;
    let no_challenge = "the authorization request had no code_challenge";
    assert_oauth_error(resp, 400, "invalid_grant", no_challenge).await;

    // plain: verifier == challenge.
    let plain = Pkce {
        verifier: pkce.verifier.clone(),
        challenge: pkce.verifier.clone(),
    };
    let authorize = format!(
        "{}&code_challenge={}&code_challenge_method=plain",
        authorize_url(&sim, &Flow::default()),
        plain.challenge
    );
    let (_, resp) = choose_user(&sim, &http, &authorize, "Cust12345/ada@demo.example").await;
    let html = resp.text().await.unwrap();
    // The tenant approved the app during the first sign-in: no consent page this time.
    assert!(!html.contains("id=\"approve\""));
    let code = input_value(&html, "code").unwrap();
    let resp = exchange(&sim, &http, &code, REDIRECT, Some(&plain.verifier)).await;
    assert_eq!(resp.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn client_authentication_and_redirect_uri_are_checked() {
    let sim = demo().await;
    let http = client();

    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    let code = code.as_str();
    let resp = post_token(
        &sim,
        &http,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert!(resp.headers().contains_key("www-authenticate"));
    assert_oauth_error(resp, 401, "invalid_client", "wrong client secret").await;
    let resp = http
        .post(token_url(&sim))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", code)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client", "wrong client secret").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "unknown"),
        ("client_secret", SECRET),
        ("code", code),
    ];
    let resp = post_token(&sim, &http, &form).await;
    assert_oauth_error(resp, 401, "invalid_client", "unknown client").await;
    let form = [("grant_type", "authorization_code"), ("code", code)];
    let resp = post_token(&sim, &http, &form).await;
    let required = "client authentication is required";
    assert_oauth_error(resp, 401, "invalid_client", required).await;

    // The failed client authentications did not consume the code; a different redirect_uri does.
    let resp = exchange(&sim, &http, code, "http://127.0.0.1:9/other", None).await;
    let differs = "redirect_uri differs from the authorization request";
    assert_oauth_error(resp, 400, "invalid_grant", differs).await;
    let resp = exchange(&sim, &http, code, REDIRECT, None).await;
    assert_oauth_error(resp, 400, "invalid_grant", USED).await;

    // Missing redirect_uri.
    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
        ("code", code.as_str()),
    ];
    let resp = post_token(&sim, &http, &form).await;
    let missing = "redirect_uri is required";
    assert_oauth_error(resp, 400, "invalid_grant", missing).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_code_belongs_to_its_client_and_needs_the_tenants_approval() {
    let mut config = config();
    config.apps.push(other_app());
    let sim = start(config).await;
    let http = client();

    // Another registered app cannot redeem the code, and its attempt does not consume it.
    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", OTHER_CLIENT_ID),
        ("client_secret", OTHER_SECRET),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let resp = post_token(&sim, &http, &form).await;
    let other = "the code was issued to another client";
    assert_oauth_error(resp, 400, "invalid_grant", other).await;
    let resp = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_eq!(resp.status(), 200);

    // Consent revoked between the sign-in and the code exchange.
    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    assert!(sim.revoke_consent("Cust12345", CLIENT_ID));
    let resp = exchange(&sim, &http, &code, REDIRECT, None).await;
    let revoked = "the tenant's approval of this application was revoked";
    assert_oauth_error(resp, 400, "invalid_grant", revoked).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_token_requests() {
    let sim = demo().await;
    let http = client();
    let token_url = token_url(&sim);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
    ];
    let resp = post_token(&sim, &http, &form).await;
    let grant_types = "supported grant types: authorization_code, refresh_token";
    assert_oauth_error(resp, 400, "unsupported_grant_type", grant_types).await;
    let resp = http
        .post(&token_url)
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    let form_only = "must be application/x-www-form-urlencoded";
    assert_oauth_error(resp, 400, "invalid_request", form_only).await;
    let raw_form = |body: Vec<u8>| {
        http.post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let resp = raw_form(b"grant_type=authorization_code&grant_type=refresh_token".to_vec())
        .await
        .unwrap();
    let repeated = "parameter grant_type was given more than once";
    assert_oauth_error(resp, 400, "invalid_request", repeated).await;
    let resp = raw_form(vec![0xff, 0xfe, b'=', 0x80]).await.unwrap();
    let no_grant_type = "grant_type is required";
    assert_oauth_error(resp, 400, "invalid_request", no_grant_type).await;

    let code_form = |code: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("redirect_uri", REDIRECT),
        ];
        form.extend(code.map(|c| ("code", c)));
        form
    };
    let resp = post_token(&sim, &http, &code_form(Some("does-not-exist"))).await;
    let unknown = "unknown or expired code";
    assert_oauth_error(resp, 400, "invalid_grant", unknown).await;
    let resp = post_token(&sim, &http, &code_form(None)).await;
    assert_oauth_error(resp, 400, "invalid_request", "code is required").await;
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
    ];
    let resp = post_token(&sim, &http, &form).await;
    let no_rt = "refresh_token is required";
    assert_oauth_error(resp, 400, "invalid_request", no_rt).await;

    // Client authentication: one method, a consistent client id, Basic or nothing.
    let both = http
        .post(&token_url)
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&code_form(Some("x")))
        .send()
        .await
        .unwrap();
    let one = "use only one client authentication method";
    assert_oauth_error(both, 400, "invalid_request", one).await;
    let mismatch = http
        .post(&token_url)
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "someone-else"),
            ("code", "x"),
        ])
        .send()
        .await
        .unwrap();
    let differs = "client_id in the body differs from the Basic credentials";
    assert_oauth_error(mismatch, 400, "invalid_request", differs).await;
    for (authorization, description) in [
        ("Bearer abc", "unsupported Authorization scheme"),
        ("Basic !!!", "malformed Basic credentials"),
        ("Basic bm8tY29sb24=", "malformed Basic credentials"),
    ] {
        let resp = http
            .post(&token_url)
            .header("authorization", authorization)
            .form(&[("grant_type", "authorization_code"), ("code", "x")])
            .send()
            .await
            .unwrap();
        assert_oauth_error(resp, 401, "invalid_client", description).await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_client_or_redirect_uri_on_authorize_shows_a_page_and_never_redirects() {
    let sim = demo().await;
    let http = client();
    let authorize = url(&sim, "/login/common/oauth/authorize");
    for query in [
        format!("client_id=unknown&redirect_uri={REDIRECT}&response_type=code&scope=openid"),
        format!("redirect_uri={REDIRECT}&response_type=code&scope=openid"),
        format!(
            "client_id={CLIENT_ID}&redirect_uri=http://evil.example/cb&response_type=code&scope=openid"
        ),
        format!("client_id={CLIENT_ID}&redirect_uri={REDIRECT}/&response_type=code&scope=openid"),
        format!("client_id={CLIENT_ID}&response_type=code&scope=openid"),
        "client_id=%3Cscript%3E&response_type=code".to_owned(),
    ] {
        let resp = http
            .get(format!("{authorize}?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{query}");
        assert!(resp.headers().get("location").is_none(), "{query}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("id=\"error\""), "{query}");
        assert!(!html.contains("<script>"), "{query}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn authorize_errors_after_a_valid_redirect_uri_go_back_to_the_app() {
    let sim = demo().await;
    let http = client();
    let authorize = url(&sim, "/login/common/oauth/authorize");
    let ok = format!("client_id={CLIENT_ID}&redirect_uri={REDIRECT}&state=s1");
    for (extra, error) in [
        (
            "&response_type=code&scope=openid&response_mode=fragment",
            "unsupported_response_mode",
        ),
        (
            "&response_type=token&scope=openid",
            "unsupported_response_type",
        ),
        ("&scope=openid", "invalid_request"),
        ("&response_type=code&scope=profile", "invalid_scope"),
        (
            "&response_type=code&scope=openid&code_challenge_method=S256",
            "invalid_request",
        ),
        (
            "&response_type=code&scope=openid&code_challenge=short&code_challenge_method=S256",
            "invalid_request",
        ),
        (
            "&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S512",
            "invalid_request",
        ),
        (
            "&response_type=code&scope=openid&prompt=none",
            "login_required",
        ),
    ] {
        let resp = http
            .get(format!("{authorize}?{ok}{extra}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{extra}");
        let loc = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.starts_with(REDIRECT), "{loc}");
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some(error),
            "{extra}"
        );
        assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
        assert!(!loc.contains('#'));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_expired_or_unknown_pending_sign_in_is_an_error_page() {
    let sim = demo().await;
    let http = client();
    let resp = post_authorize(
        &sim,
        &http,
        &[("pending", "nope"), ("user", "Cust12345/ada@demo.example")],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    sim.shutdown().await;
}
