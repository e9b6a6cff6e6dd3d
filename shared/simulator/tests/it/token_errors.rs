//! Authorize and token endpoint error handling.

use std::time::Duration;

use serde_json::Value;

use crate::common::*;

async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(body["error_description"].is_string());
    (status, body["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_code_can_be_used_once() {
    let sim = demo().await;
    let http = client();
    let code = sign_in(&sim, &http, &Flow::default())
        .await
        .param("code")
        .unwrap();
    let first = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_eq!(first.status(), 200);
    let tokens: Value = first.json().await.unwrap();
    let second = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_eq!(error_of(second).await, (400, "invalid_grant".into()));
    // The replay also revoked the refresh token of the first redemption.
    let resp = http
        .post(url(&sim, "/login/common/oauth/tokens"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_code_expires() {
    let mut config = config();
    config.code_lifetime = Duration::from_secs(1);
    let sim = start(config).await;
    let http = client();
    let code = sign_in(&sim, &http, &Flow::default())
        .await
        .param("code")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resp = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));

    // A fresh code within the lifetime still works.
    let code = sign_in(&sim, &http, &Flow::default())
        .await
        .param("code")
        .unwrap();
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

    let code = sign_in(&sim, &http, &flow).await.param("code").unwrap();
    let wrong = "x".repeat(43);
    let resp = exchange(&sim, &http, &code, REDIRECT, Some(&wrong)).await;
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));
    // The failed attempt consumed the code.
    let resp = exchange(&sim, &http, &code, REDIRECT, Some(&pkce.verifier)).await;
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));

    let code = sign_in(&sim, &http, &flow).await.param("code").unwrap();
    let resp = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));

    // A verifier without a challenge in the authorization request is refused too.
    let code = sign_in(&sim, &http, &Flow::default())
        .await
        .param("code")
        .unwrap();
    let resp = exchange(&sim, &http, &code, REDIRECT, Some(&pkce.verifier)).await;
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));

    // plain: verifier == challenge.
    let plain = Pkce {
        verifier: pkce.verifier.clone(),
        challenge: pkce.verifier.clone(),
    };
    let base = authorize_url(&sim, &Flow::default());
    let html = http
        .get(format!(
            "{base}&code_challenge={}&code_challenge_method=plain",
            plain.challenge
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pending = input_value(&html, "pending").unwrap();
    let html = post_authorize(
        &sim,
        &http,
        &[
            ("pending", &pending),
            ("user", "Cust12345/ada@demo.example"),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
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
    let token_url = url(&sim, "/login/common/oauth/tokens");

    let code = sign_in(&sim, &http, &Flow::default())
        .await
        .param("code")
        .unwrap();
    let resp = http
        .post(&token_url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("www-authenticate"));
    assert_eq!(error_of(resp).await, (401, "invalid_client".into()));
    let resp = http
        .post(&token_url)
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (401, "invalid_client".into()));
    let resp = http
        .post(&token_url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "unknown"),
            ("client_secret", SECRET),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (401, "invalid_client".into()));
    let resp = http
        .post(&token_url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (401, "invalid_client".into()));

    // The failed client authentications did not consume the code; a different redirect_uri does.
    let resp = exchange(&sim, &http, &code, "http://127.0.0.1:9/other", None).await;
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));
    let resp = exchange(&sim, &http, &code, REDIRECT, None).await;
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));

    // Missing redirect_uri.
    let code = sign_in(&sim, &http, &Flow::default())
        .await
        .param("code")
        .unwrap();
    let resp = http
        .post(&token_url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_token_requests() {
    let sim = demo().await;
    let http = client();
    let token_url = url(&sim, "/login/common/oauth/tokens");
    let resp = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (400, "unsupported_grant_type".into()));
    let resp = http
        .post(&token_url)
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (400, "invalid_request".into()));
    let resp = http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&grant_type=refresh_token")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (400, "invalid_request".into()));
    let resp = http
        .post(&token_url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("code", "does-not-exist"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (400, "invalid_grant".into()));
    let resp = http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x80])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
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
