//! PartnerSystemUser/Authenticate and the ticket on the WebAPI.

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use serde_json::Value;
use superoffice_simulator::{AppRegistration, CLAIM_PREFIX, Route};

use crate::common::*;

fn message(resp: &Value) -> &str {
    assert_eq!(resp["IsSuccessful"], false, "{resp}");
    assert!(resp["Token"].is_null());
    resp["ErrorMessage"].as_str().unwrap()
}

#[tokio::test]
async fn a_correctly_signed_token_yields_a_jwt_with_a_ticket() {
    let sim = demo().await;
    let http = client();
    sim.grant_consent("Cust12345", CLIENT_ID);
    let st = sim.system_token("Cust12345", CLIENT_ID).unwrap();
    assert!(st.starts_with("Acme Sync-"));
    let signed = signed_system_token(&st, partner_key(), 0);
    let resp = system_user(&sim, &http, &signed, SECRET, "Cust12345").await;
    assert_eq!(resp["IsSuccessful"], true, "{resp}");
    assert_eq!(resp["ErrorMessage"], "");
    let jwt = resp["Token"].as_str().unwrap();

    let data = verify_with_jwks(&sim, &http, jwt, "SuperOffice AS", "spn:1801550193").await;
    assert_eq!(data.header.kid.as_deref(), Some(sim.signing_kid().as_str()));
    let c = &data.claims;
    assert_eq!(c["sub"], "system.user@Cust12345");
    assert_eq!(c["exp"].as_i64().unwrap(), c["iat"].as_i64().unwrap() + 300);
    let ticket = c[format!("{CLAIM_PREFIX}ticket")].as_str().unwrap();
    assert!(
        ticket.starts_with("7T:") && ticket.ends_with("=="),
        "{ticket}"
    );
    assert_eq!(c[format!("{CLAIM_PREFIX}ctx")], "Cust12345");
    assert_eq!(c[format!("{CLAIM_PREFIX}serial")], "1801550193");
    assert_eq!(c[format!("{CLAIM_PREFIX}associateid")], "1");
    // aud is spn: + the token's own serial claim.
    assert_eq!(
        c["aud"],
        format!(
            "spn:{}",
            c[format!("{CLAIM_PREFIX}serial")].as_str().unwrap()
        )
        .as_str()
    );

    // The ticket works on the WebAPI with the app token, and only there.
    let principal_url = format!(
        "{}v1/User/currentPrincipal",
        sim.webapi_url("Cust12345").unwrap()
    );
    let resp = http
        .get(&principal_url)
        .header("Authorization", format!("SOTicket {ticket}"))
        .header("SO-AppToken", SECRET)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let principal: Value = resp.json().await.unwrap();
    assert_eq!(principal["UserType"], "SystemAssociate");
    assert_eq!(principal["AssociateId"], 1);

    for (auth, app_token) in [
        (Some(format!("SOTicket {ticket}")), None),
        (Some(format!("SOTicket {ticket}")), Some("wrong")),
        (Some("SOTicket 7T:bogus==".to_owned()), Some(SECRET)),
        (None, Some(SECRET)),
        (Some("Basic dXNlcjpwYXNz".to_owned()), Some(SECRET)),
    ] {
        let mut req = http.get(&principal_url);
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        if let Some(t) = app_token {
            req = req.header("SO-AppToken", t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?} {app_token:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["Error"], true);
        assert_eq!(body["ErrorType"], "Unauthorized");
    }
    // A ticket for Cust12345 is not valid for another tenant.
    sim.grant_consent("Cust67890", CLIENT_ID);
    let resp = http
        .get(format!(
            "{}v1/User/currentPrincipal",
            sim.webapi_url("Cust67890").unwrap()
        ))
        .header("Authorization", format!("SOTicket {ticket}"))
        .header("SO-AppToken", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(sim.count(Route::SystemUser), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn failures_carry_the_documented_error_names() {
    let sim = demo().await;
    let http = client();
    sim.grant_consent("Cust12345", CLIENT_ID);
    let st = sim.system_token("Cust12345", CLIENT_ID).unwrap();

    // Signed by another key.
    let other = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let resp = system_user(
        &sim,
        &http,
        &signed_system_token(&st, &other, 0),
        SECRET,
        "Cust12345",
    )
    .await;
    assert!(message(&resp).starts_with("InvalidSignature"), "{resp}");

    // A tampered signature (not base64) and a truncated token.
    let good = signed_system_token(&st, partner_key(), 0);
    let resp = system_user(&sim, &http, &format!("{good}!"), SECRET, "Cust12345").await;
    assert!(message(&resp).starts_with("InvalidSignature"), "{resp}");

    // Stale and future timestamps, correctly signed.
    for offset in [-10 * 60, 10 * 60] {
        let resp = system_user(
            &sim,
            &http,
            &signed_system_token(&st, partner_key(), offset),
            SECRET,
            "Cust12345",
        )
        .await;
        assert!(message(&resp).starts_with("InvalidTimestamp"), "{resp}");
    }
    // Within the tolerance.
    let resp = system_user(
        &sim,
        &http,
        &signed_system_token(&st, partner_key(), -180),
        SECRET,
        "Cust12345",
    )
    .await;
    assert_eq!(resp["IsSuccessful"], true, "{resp}");

    // Wrong application token.
    let resp = system_user(&sim, &http, &good, "not-the-secret", "Cust12345").await;
    assert!(message(&resp).starts_with("Denied"), "{resp}");
    // The client id is not the application token.
    let resp = system_user(&sim, &http, &good, CLIENT_ID, "Cust12345").await;
    assert!(message(&resp).starts_with("Denied"), "{resp}");

    // Another tenant's system token, or an unknown tenant.
    sim.grant_consent("Cust67890", CLIENT_ID);
    let resp = system_user(&sim, &http, &good, SECRET, "Cust67890").await;
    assert!(message(&resp).starts_with("Denied"), "{resp}");
    let resp = system_user(&sim, &http, &good, SECRET, "Cust99999").await;
    assert!(message(&resp).starts_with("Denied"), "{resp}");

    // Revoked consent; an earlier ticket stops working, and the system token changes.
    let ticket = ticket(&sim, &http, "Cust12345").await;
    assert!(sim.revoke_consent("Cust12345", CLIENT_ID));
    let resp = system_user(&sim, &http, &good, SECRET, "Cust12345").await;
    assert!(message(&resp).starts_with("Revoked: "), "{resp}");
    let resp = http
        .get(format!(
            "{}v1/User/currentPrincipal",
            sim.webapi_url("Cust12345").unwrap()
        ))
        .header("Authorization", format!("SOTicket {ticket}"))
        .header("SO-AppToken", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let new_st = sim.system_token("Cust12345", CLIENT_ID).unwrap();
    assert_ne!(new_st, st);
    sim.grant_consent("Cust12345", CLIENT_ID);
    let resp = system_user(&sim, &http, &good, SECRET, "Cust12345").await;
    assert!(
        message(&resp).starts_with("Denied"),
        "old system token: {resp}"
    );
    let resp = system_user(
        &sim,
        &http,
        &signed_system_token(&new_st, partner_key(), 0),
        SECRET,
        "Cust12345",
    )
    .await;
    assert_eq!(resp["IsSuccessful"], true, "{resp}");
    sim.shutdown().await;
}

#[tokio::test]
async fn request_format_edge_cases() {
    let sim = demo().await;
    let http = client();
    sim.grant_consent("Cust12345", CLIENT_ID);
    let st = sim.system_token("Cust12345", CLIENT_ID).unwrap();
    let endpoint = url(&sim, "/Login/api/PartnerSystemUser/Authenticate");

    // Malformed JSON → 400.
    for body in ["{", "[]", "\"x\"", ""] {
        let resp = http
            .post(&endpoint)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body:?}");
    }

    // ReturnTokenType is case-insensitive; SAML is not offered.
    let signed = signed_system_token(&st, partner_key(), 0);
    for (rtt, ok) in [
        ("jwt", true),
        ("Jwt", true),
        ("Saml", false),
        ("xml", false),
    ] {
        let resp: Value = http
            .post(&endpoint)
            .json(&serde_json::json!({
                "SignedSystemToken": signed,
                "ApplicationToken": SECRET,
                "ContextIdentifier": "Cust12345",
                "ReturnTokenType": rtt,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(resp["IsSuccessful"], ok, "{rtt}: {resp}");
    }

    // Missing fields are failures, not crashes.
    let resp: Value = http
        .post(&endpoint)
        .json(&serde_json::json!({"ApplicationToken": SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["IsSuccessful"], false);

    // The path is case-insensitive, as on IIS.
    let lower = url(&sim, "/login/api/partnersystemuser/authenticate");
    let resp: Value = http
        .post(&lower)
        .json(&serde_json::json!({
            "SignedSystemToken": signed,
            "ApplicationToken": SECRET,
            "ContextIdentifier": "Cust12345",
            "ReturnTokenType": "JWT",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["IsSuccessful"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn system_tokens_with_dots_and_spaces_and_pkcs1_keys() {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let mut config = config();
    config.apps.push(AppRegistration {
        name: "Acme Sync v2.1 - Beta".into(),
        client_id: "ffffffffffffffffffffffffffffffff".into(),
        client_secret: "second-secret".into(),
        redirect_uris: vec![REDIRECT.into()],
        // PKCS#1 RSAPublicKey DER this time.
        system_user_public_key_der: Some(key.public_key().as_ref().to_vec()),
    });
    let sim = start(config).await;
    let http = client();
    sim.grant_consent("Cust67890", "ffffffffffffffffffffffffffffffff");
    let st = sim
        .system_token("Cust67890", "ffffffffffffffffffffffffffffffff")
        .unwrap();
    assert!(st.starts_with("Acme Sync v2.1 - Beta-"));
    let signed = signed_system_token(&st, &key, 0);
    let resp = system_user(&sim, &http, &signed, "second-secret", "Cust67890").await;
    assert_eq!(resp["IsSuccessful"], true, "{resp}");
    let data = verify_with_jwks(
        &sim,
        &http,
        resp["Token"].as_str().unwrap(),
        "SuperOffice AS",
        "spn:1801550194",
    )
    .await;
    assert_eq!(data.claims[format!("{CLAIM_PREFIX}ctx")], "Cust67890");
    // The first app's key does not sign for the second app.
    let resp = system_user(
        &sim,
        &http,
        &signed_system_token(&st, partner_key(), 0),
        "second-secret",
        "Cust67890",
    )
    .await;
    assert!(message(&resp).starts_with("InvalidSignature"), "{resp}");
    sim.shutdown().await;
}

#[tokio::test]
async fn apps_without_a_system_user_key_get_no_system_token() {
    let mut app = app();
    app.system_user_public_key_der = None;
    let mut config = superoffice_simulator::SimulatorConfig::demo(app);
    config.signing_key_pkcs8_der = Some(sim_key());
    let sim = start(config).await;
    let http = client();
    assert!(sim.system_token("Cust12345", CLIENT_ID).is_none());
    let tokens = tokens(&sim, &http, &Flow::default()).await;
    let data = verify_with_jwks(
        &sim,
        &http,
        tokens["id_token"].as_str().unwrap(),
        &sim.issuer(),
        CLIENT_ID,
    )
    .await;
    assert!(
        data.claims
            .get(format!("{CLAIM_PREFIX}system_token"))
            .is_none()
    );
    let resp = system_user(&sim, &http, "x.202601010000.AAAA", SECRET, "Cust12345").await;
    assert!(message(&resp).starts_with("Denied"), "{resp}");
    sim.shutdown().await;
}
