//! The authorization code flow over plain HTTP, as a browser would click through it.

use serde_json::Value;
use superoffice_simulator::{CLAIM_PREFIX, Route};

use crate::common::*;

#[tokio::test]
async fn full_code_flow_with_form_post_pkce_and_id_token_verification() {
    let sim = demo().await;
    let http = client();
    let pkce = pkce();
    let flow = Flow {
        pkce: Some(&pkce),
        ..Flow::default()
    };

    // 1. The sign-in page lists every user; login_hint preselects Ada.
    let resp = http.get(authorize_url(&sim, &flow)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"));
    assert!(csp.contains("frame-ancestors 'none'"));
    let html = resp.text().await.unwrap();
    assert!(html.contains(
        "id=\"user-ada@demo.example\" value=\"Cust12345/ada@demo.example\" required checked>"
    ));
    assert!(html.contains("Ada Admin — Demo Company AS (Cust12345), administrator</label>"));
    assert!(html.contains("id=\"user-ulf@demo.example\""));
    assert!(html.contains("Ulf User — Demo Company AS (Cust12345)</label>"));
    assert!(html.contains("id=\"user-eve@other.example\""));
    assert!(html.contains("id=\"continue\""));
    assert!(html.contains("id=\"cancel\""));
    assert!(html.contains("<label for=\"user-ada@demo.example\">"));
    assert!(!html.contains("<script"));
    assert!(
        !html.contains(" src=") && !html.contains(" href="),
        "no external resources"
    );
    let pending = input_value(&html, "pending").unwrap();

    // 2. Choosing Ada leads to the consent page (no consent yet).
    let resp = post_authorize(
        &sim,
        &http,
        &[
            ("pending", &pending),
            ("user", "Cust12345/ada@demo.example"),
            ("action", "continue"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(
            "<strong>Acme Sync</strong> wants to access <strong>Demo Company AS</strong>."
        )
    );
    assert!(html.contains("id=\"approve\">I approve</button>"));
    assert!(html.contains("id=\"cancel\">Cancel</button>"));
    assert!(!sim.has_consent("Cust12345", CLIENT_ID));

    // 3. "I approve" records the consent and returns the form_post page.
    let resp = post_authorize(&sim, &http, &[("pending", &pending), ("action", "approve")]).await;
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = resp.text().await.unwrap();
    assert!(sim.has_consent("Cust12345", CLIENT_ID));
    assert_eq!(form_action(&html).unwrap(), REDIRECT);
    assert!(html.contains("id=\"response-form\""));
    assert!(html.contains("<button type=\"submit\" id=\"continue\">"));
    let code = input_value(&html, "code").unwrap();
    assert_eq!(input_value(&html, "state").unwrap(), "st-123");
    // The inline auto-submit script is allowed by the CSP nonce, nothing else is.
    let nonce_start = csp.find("script-src 'nonce-").unwrap() + "script-src 'nonce-".len();
    let nonce = &csp[nonce_start..nonce_start + csp[nonce_start..].find('\'').unwrap()];
    assert!(html.contains(&format!(
        "<script nonce=\"{nonce}\">document.getElementById('response-form').submit();</script>"
    )));

    // 4. Token exchange.
    let resp = exchange(&sim, &http, &code, REDIRECT, Some(&pkce.verifier)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let tokens: Value = resp.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();

    // 5. The id_token verifies with the JWKS key and carries the SuperOffice claims.
    let data = verify_with_jwks(&sim, &http, id_token, &sim.issuer(), CLIENT_ID).await;
    assert_eq!(data.header.kid.as_deref(), Some(sim.signing_kid().as_str()));
    assert_eq!(data.header.x5t.as_deref().map(str::len), Some(27));
    let c = &data.claims;
    let base = sim.issuer();
    assert_eq!(c["sub"], "ada@demo.example");
    assert_eq!(c["iss"], base.as_str());
    assert_eq!(c["aud"], CLIENT_ID);
    assert_eq!(c["nonce"], "n-0S6_WzA2Mj");
    let p = |k: &str| c[format!("{CLAIM_PREFIX}{k}")].clone();
    assert_eq!(p("associateid"), "5");
    assert_eq!(p("identityprovider"), "central-superid");
    assert_eq!(p("email"), "ada@demo.example");
    assert_eq!(p("upn"), "ada@demo.example");
    assert_eq!(p("is_administrator"), "True");
    assert_eq!(p("ctx"), "Cust12345");
    assert_eq!(p("company_name"), "Demo Company AS");
    assert_eq!(p("serial"), "1801550193");
    assert_eq!(p("initials"), "AA");
    assert_eq!(p("so_primary_email_address"), "ada@demo.example");
    assert_eq!(
        p("netserver_url"),
        format!("{base}/sod2/Cust12345/Remote/Services88/").as_str()
    );
    assert_eq!(
        p("webapi_url"),
        format!("{base}/sod2/Cust12345/api/").as_str()
    );
    let system_token = sim.system_token("Cust12345", CLIENT_ID).unwrap();
    assert_eq!(p("system_token"), system_token.as_str());
    let (name, random) = system_token.rsplit_once('-').unwrap();
    assert_eq!(name, APP_NAME);
    assert_eq!(random.len(), 10);
    assert!(random.chars().all(|c| c.is_ascii_alphanumeric()));

    // 6. The access token works as a Bearer token on the tenant's WebAPI.
    let principal: Value = http
        .get(format!(
            "{base}/sod2/Cust12345/api/v1/User/currentPrincipal"
        ))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(principal["AssociateId"], 5);
    assert_eq!(principal["DatabaseContextIdentifier"], "Cust12345");
    assert_eq!(sim.count(Route::Token), 1);
    assert_eq!(sim.count(Route::Authorize), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn consent_is_remembered_and_query_mode_redirects() {
    let sim = demo().await;
    let http = client();
    let first = sign_in(&sim, &Flow::default()).await;
    assert!(matches!(first, Delivery::FormPost { .. }));

    // Second sign-in: no consent page, straight to a 303 with code and state.
    let flow = Flow {
        form_post: false,
        user: "ulf@demo.example",
        state: "a b&c",
        nonce: None,
        ..Flow::default()
    };
    let (pending, resp) = choose_user(
        &sim,
        &http,
        &authorize_url(&sim, &flow),
        "Cust12345/ulf@demo.example",
    )
    .await;
    assert_eq!(resp.status(), 303);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with("http://127.0.0.1:9/callback?"));
    assert_eq!(query_param(&loc, "state").unwrap(), "a b&c");
    let code = query_param(&loc, "code").unwrap();
    let tokens: Value = exchange(&sim, &http, &code, REDIRECT, None)
        .await
        .json()
        .await
        .unwrap();
    let data = verify_with_jwks(
        &sim,
        &http,
        tokens["id_token"].as_str().unwrap(),
        &sim.issuer(),
        CLIENT_ID,
    )
    .await;
    assert_eq!(
        data.claims[format!("{CLAIM_PREFIX}is_administrator")],
        "False"
    );
    assert_eq!(data.claims[format!("{CLAIM_PREFIX}associateid")], "6");
    assert!(data.claims.get("nonce").is_none());
    // The pending request is gone after use.
    let again = post_authorize(
        &sim,
        &http,
        &[
            ("pending", &pending),
            ("user", "Cust12345/ulf@demo.example"),
        ],
    )
    .await;
    assert_eq!(again.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn non_admin_cannot_approve_and_cancel_is_access_denied() {
    let sim = demo().await;
    let http = client();
    let out = sign_in(
        &sim,
        &Flow {
            user: "ulf@demo.example",
            form_post: false,
            ..Flow::default()
        },
    )
    .await;
    assert!(matches!(out, Delivery::Redirect(_)));
    assert_eq!(out.param("error").as_deref(), Some("access_denied"));
    assert_eq!(out.param("state").as_deref(), Some("st-123"));
    assert!(!sim.has_consent("Cust12345", CLIENT_ID));

    // Cancel on the consent page (form_post mode).
    let (pending, consent) = choose_user(
        &sim,
        &http,
        &authorize_url(&sim, &Flow::default()),
        "Cust12345/ada@demo.example",
    )
    .await;
    assert!(consent.text().await.unwrap().contains("id=\"approve\""));
    let resp = post_authorize(&sim, &http, &[("pending", &pending), ("action", "cancel")]).await;
    let html = resp.text().await.unwrap();
    assert_eq!(
        input_value(&html, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(input_value(&html, "state").as_deref(), Some("st-123"));
    assert!(input_value(&html, "code").is_none());
    assert!(!sim.has_consent("Cust12345", CLIENT_ID));
    sim.shutdown().await;
}

#[tokio::test]
async fn acr_values_limits_the_tenant() {
    let sim = demo().await;
    let http = client();
    let base = authorize_url(
        &sim,
        &Flow {
            user: "eve@other.example",
            ..Flow::default()
        },
    );
    let html = http
        .get(format!("{base}&acr_values=tenant%3ACust67890"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"user-eve@other.example\""));
    assert!(!html.contains("ada@demo.example"));
    // A user outside the tenant cannot be chosen even by crafting the form.
    let pending = input_value(&html, "pending").unwrap();
    let resp = post_authorize(
        &sim,
        &http,
        &[
            ("pending", &pending),
            ("user", "Cust12345/ada@demo.example"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("id=\"error\""));

    // Unknown tenant: error back to the app.
    let resp = http
        .get(format!("{base}&acr_values=tenant%3ACust99999"))
        .send()
        .await
        .unwrap();
    let html = resp.text().await.unwrap();
    assert_eq!(
        input_value(&html, "error").as_deref(),
        Some("invalid_request")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn basic_client_auth_and_refresh_grant() {
    let sim = demo().await;
    let http = client();
    let code = sign_in(&sim, &Flow::default()).await.param("code").unwrap();
    let resp = http
        .post(token_url(&sim))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(rt.len(), 64);

    let resp = refresh(&sim, &http, &rt, SECRET).await;
    assert_eq!(resp.status(), 200);
    let refreshed: Value = resp.json().await.unwrap();
    assert!(refreshed.get("refresh_token").is_none());
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    verify_with_jwks(
        &sim,
        &http,
        refreshed["id_token"].as_str().unwrap(),
        &sim.issuer(),
        CLIENT_ID,
    )
    .await;
    // The refresh token can be used again (it lives as long as the consent).
    assert_eq!(refresh(&sim, &http, &rt, SECRET).await.status(), 200);
    assert_oauth_error(
        refresh(&sim, &http, &rt, "wrong").await,
        401,
        "invalid_client",
        "wrong client secret",
    )
    .await;
    assert_oauth_error(
        refresh(&sim, &http, "nope", SECRET).await,
        400,
        "invalid_grant",
        "unknown or revoked refresh token",
    )
    .await;

    // Revoking the consent kills the refresh token and the access token.
    sim.revoke_consent("Cust12345", CLIENT_ID);
    assert_oauth_error(
        refresh(&sim, &http, &rt, SECRET).await,
        400,
        "invalid_grant",
        "unknown or revoked refresh token",
    )
    .await;
    let resp = http
        .get(format!(
            "{}v1/User/currentPrincipal",
            sim.webapi_url("Cust12345").unwrap()
        ))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn revocation_endpoint_revokes_refresh_tokens() {
    let sim = demo().await;
    let http = client();
    let tokens = tokens(&sim, &http, &Flow::default()).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let resp = http
        .post(url(&sim, "/login/common/oauth/Revoke"))
        .form(&[
            ("token", rt),
            ("token_type_hint", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_oauth_error(
        refresh(&sim, &http, rt, SECRET).await,
        400,
        "invalid_grant",
        "unknown or revoked refresh token",
    )
    .await;
    assert_eq!(sim.count(Route::Revoke), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn state_is_escaped_in_the_form_post_page() {
    let sim = demo().await;
    let http = client();
    let evil = "\"><script>alert('1')</script>";
    let flow = Flow {
        state: evil,
        ..Flow::default()
    };
    let (pending, consent) = choose_user(
        &sim,
        &http,
        &authorize_url(&sim, &flow),
        "Cust12345/ada@demo.example",
    )
    .await;
    assert!(consent.text().await.unwrap().contains("id=\"approve\""));
    let resp = post_authorize(&sim, &http, &[("pending", &pending), ("action", "approve")]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert_eq!(form_action(&html).as_deref(), Some(REDIRECT));
    assert!(!html.contains(evil));
    assert!(html.contains("&quot;&gt;&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt;"));
    assert_eq!(input_value(&html, "state").as_deref(), Some(evil));
    // The scripted user reads it back the same (the consent is remembered now).
    let out = sign_in(&sim, &flow).await;
    assert!(matches!(out, Delivery::FormPost { .. }));
    assert_eq!(out.param("state").as_deref(), Some(evil));
    sim.shutdown().await;
}

#[tokio::test]
async fn key_rotation_and_sign_jwt_helper() {
    let sim = demo().await;
    let http = client();
    let before = tokens(&sim, &http, &Flow::default()).await;
    let old_kid = sim.signing_kid();
    sim.rotate_signing_key(true);
    let jwks = sim.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[0], sim.signing_kid());
    assert_eq!(kids[1], old_kid);
    // Tokens from before the rotation still verify against the JWKS.
    verify_with_jwks(
        &sim,
        &http,
        before["id_token"].as_str().unwrap(),
        &sim.issuer(),
        CLIENT_ID,
    )
    .await;
    let after = tokens(&sim, &http, &Flow::default()).await;
    let data = verify_with_jwks(
        &sim,
        &http,
        after["id_token"].as_str().unwrap(),
        &sim.issuer(),
        CLIENT_ID,
    )
    .await;
    assert_eq!(data.header.kid.as_deref(), Some(kids[0]));

    sim.rotate_signing_key(false);
    assert_eq!(sim.jwks()["keys"].as_array().unwrap().len(), 1);
    assert_ne!(sim.signing_kid(), kids[0]);

    // sign_jwt: header used as given, alg added when absent.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = sim.sign_jwt(
        &serde_json::json!({"kid": sim.signing_kid(), "typ": "JWT"}),
        &serde_json::json!({"sub": "x", "iss": "custom", "aud": "a", "iat": now, "nbf": now, "exp": now + 60}),
    );
    let data = verify_with_jwks(&sim, &http, &token, "custom", "a").await;
    assert_eq!(data.header.alg, jsonwebtoken::Algorithm::RS256);
    let none = sim.sign_jwt(&serde_json::json!({"alg": "none"}), &serde_json::json!({}));
    assert!(none.starts_with(&base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"alg":"none"}"#
    )));
    sim.shutdown().await;
}
