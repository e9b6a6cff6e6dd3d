//! Response shapes compared with SuperOffice's own examples in `vendor/`.

use std::collections::BTreeSet;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use superoffice_simulator::CLAIM_PREFIX;

use crate::common::*;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

/// Every key of `example` is in `ours` with the same JSON type, except the listed ones.
fn assert_same_shape(example: &Value, ours: &Value, type_exceptions: &[&str]) {
    for (k, v) in example.as_object().expect("example object") {
        let Some(o) = ours.get(k) else {
            panic!("missing key {k:?} in {ours:#}");
        };
        if !type_exceptions.contains(&k.as_str()) {
            assert_eq!(json_type(v), json_type(o), "type of {k:?}");
        }
    }
}

#[tokio::test]
async fn discovery_matches_the_sod_excerpt() {
    let sim = demo().await;
    let http = client();
    let ours: Value = http
        .get(url(&sim, "/login/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The excerpt ends with a trailing comma; drop it to parse.
    let raw = vendor("openid-configuration-sod-excerpt.jsonc");
    let fixed = raw
        .trim_end()
        .trim_end_matches('}')
        .trim_end()
        .trim_end_matches(',');
    let example: Value = serde_json::from_str(&format!("{fixed}\n}}")).unwrap();
    assert_same_shape(&example, &ours, &[]);

    let base = sim.issuer();
    assert_eq!(ours["issuer"], base.as_str());
    assert!(!base.ends_with('/'));
    assert_eq!(sim.base_url().as_str(), format!("{base}/"));
    for (k, path) in [
        ("authorization_endpoint", "/login/common/oauth/authorize"),
        ("token_endpoint", "/login/common/oauth/tokens"),
        ("jwks_uri", "/login/.well-known/jwks"),
        ("end_session_endpoint", "/login/logout"),
        ("revocation_endpoint", "/login/common/oauth/Revoke"),
    ] {
        assert_eq!(ours[k], format!("{base}{path}"), "{k}");
    }
    assert_eq!(ours["scopes_supported"], serde_json::json!(["openid"]));
    assert_eq!(
        ours["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(
        ours["token_endpoint_auth_methods_supported"],
        example["token_endpoint_auth_methods_supported"]
    );
    assert_eq!(
        ours["code_challenge_methods_supported"],
        serde_json::json!(["plain", "S256"])
    );
    // Deliberate difference: we list only what we implement, a subset of SOD's lists.
    for k in [
        "response_modes_supported",
        "response_types_supported",
        "grant_types_supported",
    ] {
        for v in ours[k].as_array().unwrap() {
            assert!(example[k].as_array().unwrap().contains(v), "{k}: {v}");
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn jwks_matches_the_logged_sod_key_and_kid_rule() {
    // The real kid/x5t rule, checked on the logged SOD key: SHA-1 of its certificate DER.
    let logged = vendor_json("sod-jwks-key-as-logged.json");
    let real = &logged["Keys"][0];
    let cert = STANDARD.decode(real["x5c"][0].as_str().unwrap()).unwrap();
    let thumb = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &cert);
    let hex: String = thumb.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(real["kid"], hex.as_str());
    assert_eq!(real["x5t"], URL_SAFE_NO_PAD.encode(thumb.as_ref()).as_str());

    let sim = demo().await;
    let http = client();
    let jwks: Value = http
        .get(url(&sim, "/login/.well-known/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ours = &jwks["keys"][0];
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    // Same members as the real key, except x5c (we have no certificate) and IdentityModel's
    // serialization artefacts.
    let mut expected = keys(real);
    for k in ["x5c", "key_ops", "KeySize", "HasPrivateKey"] {
        expected.remove(k);
    }
    assert_eq!(keys(ours), expected);
    assert_same_shape(
        &serde_json::json!({"alg":"","e":"","kid":"","kty":"","n":"","use":"","x5t":""}),
        ours,
        &[],
    );
    assert_eq!(ours["kty"], "RSA");
    assert_eq!(ours["use"], "sig");
    assert_eq!(ours["alg"], "RS256");
    assert_eq!(ours["e"], real["e"]);

    // Our kid/x5t: the same encodings of the SHA-1 of the key's SubjectPublicKeyInfo.
    let kp = RsaKeyPair::from_pkcs8(&sim.signing_key_pkcs8_der()).unwrap();
    let spki = kp.public_key().as_der().unwrap();
    let thumb = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, spki.as_ref());
    let hex: String = thumb.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(ours["kid"], hex.as_str());
    assert_eq!(ours["x5t"], URL_SAFE_NO_PAD.encode(thumb.as_ref()).as_str());
    assert_eq!(sim.signing_kid(), hex);
    assert_eq!(jwks, sim.jwks());
    sim.shutdown().await;
}

#[tokio::test]
async fn token_and_refresh_responses_match_the_examples() {
    let sim = demo().await;
    let http = client();
    let example_raw = vendor("auth-code-token-response-example.txt");
    let start = example_raw.find('{').unwrap();
    let example: Value = serde_json::from_str(&example_raw[start..]).unwrap();
    let ours = tokens(&sim, &http, &Flow::default()).await;
    assert_eq!(keys(&ours), keys(&example));
    assert_same_shape(&example, &ours, &[]);
    assert_eq!(ours["token_type"], "Bearer");
    assert_eq!(ours["expires_in"], 3600);
    let at = ours["access_token"].as_str().unwrap();
    let b64 = at.strip_prefix("8A:Cust12345.").expect("8A:{ctx}. prefix");
    assert!(STANDARD.decode(b64).is_ok());

    let refresh_example = vendor_json("refresh-token-response-example.txt");
    let refreshed: Value = refresh(&sim, &http, ours["refresh_token"].as_str().unwrap(), SECRET)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&refreshed), keys(&refresh_example));
    assert_same_shape(&refresh_example, &refreshed, &[]);
    sim.shutdown().await;
}

#[tokio::test]
async fn id_token_matches_the_documented_claims() {
    let sim = demo().await;
    let http = client();
    let resp = tokens(&sim, &http, &Flow::default()).await;
    let id_token = resp["id_token"].as_str().unwrap();
    let mut parts = id_token.split('.');
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();

    // Header like the real SOD token: alg, kid, x5t, typ.
    assert_eq!(
        keys(&header),
        ["alg", "kid", "typ", "x5t"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");

    let example = vendor_json("id-token-claims-example.json");
    // The claim names of the documented example, plus the standard `auth_time` (when the user last
    // signed in interactively), which apps checking for a recent sign-in (`max_age`) read.
    let mut documented = keys(&example);
    assert!(!documented.contains("auth_time"));
    documented.insert("auth_time".to_owned());
    assert_eq!(keys(&claims), documented);
    // Same types, except `iat`: a string in the doc example, a number in real tokens and ours.
    assert_same_shape(&example, &claims, &["iat"]);
    assert!(example["iat"].is_string());
    assert!(claims["iat"].is_i64());
    for (k, v) in claims.as_object().unwrap() {
        if k.starts_with(CLAIM_PREFIX) {
            assert!(v.is_string(), "{k} must be a string");
        }
    }
    let iat = claims["iat"].as_i64().unwrap();
    let auth_time = claims["auth_time"].as_i64().expect("auth_time is a number");
    assert!(
        auth_time <= iat && iat - auth_time < 60,
        "{auth_time} vs {iat}"
    );
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat - 60);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 300);
    sim.shutdown().await;
}

#[tokio::test]
async fn system_user_request_and_response_use_the_documented_names() {
    // Field names of the documented REST request body.
    let http_file = vendor("system-user-authenticate-rest-request.http");
    let body_start = http_file.find("\n{").unwrap();
    let request: Value = serde_json::from_str(&http_file[body_start..]).unwrap();
    let request_keys = keys(&request);
    assert_eq!(
        request_keys,
        [
            "ApplicationToken",
            "ContextIdentifier",
            "ReturnTokenType",
            "SignedSystemToken"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    // The WSDL's names for the same things.
    let wsdl = vendor("PartnerSystemUserService.wsdl.xml");
    for name in [
        "SignedSystemToken",
        "ReturnTokenType",
        "ApplicationToken",
        "ContextIdentifier",
        "IsSuccessful",
        "Token",
        "ErrorMessage",
    ] {
        assert!(
            wsdl.contains(&format!("name=\"{name}\"")),
            "{name} in the WSDL"
        );
    }

    let sim = demo().await;
    let http = client();
    sim.grant_consent("Cust12345", CLIENT_ID);
    let st = sim.system_token("Cust12345", CLIENT_ID).unwrap();
    // Build the request from the documented body, filling in its placeholders.
    let mut body = request.clone();
    body["SignedSystemToken"] = signed_system_token(&st, partner_key(), 0).into();
    body["ApplicationToken"] = SECRET.into();
    body["ContextIdentifier"] = "Cust12345".into();
    assert_eq!(body["ReturnTokenType"], "JWT");
    let resp: Value = http
        .post(url(&sim, "/Login/api/PartnerSystemUser/Authenticate"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected: BTreeSet<String> = ["ErrorMessage", "IsSuccessful", "Token"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(keys(&resp), expected);
    assert_eq!(resp["IsSuccessful"], true);
    assert!(resp["Token"].is_string());
    assert!(resp["ErrorMessage"].is_string());

    let failed = system_user(&sim, &http, "x.202001010000.AAAA", SECRET, "Cust12345").await;
    assert_eq!(keys(&failed), expected);
    assert_eq!(failed["IsSuccessful"], false);
    assert!(failed["Token"].is_null());
    sim.shutdown().await;
}

#[tokio::test]
async fn tenant_state_matches_the_examples() {
    let sim = demo().await;
    let http = client();
    let ours: Value = http
        .get(url(&sim, "/api/state/Cust12345"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let example = vendor_json("tenant-state-response-example.json");
    assert_eq!(keys(&ours), keys(&example));
    assert_same_shape(&example, &ours, &[]);
    let older = vendor_json("tenant-state-response-example-2020-sod.json");
    assert_same_shape(&older, &ours, &[]);
    assert_eq!(ours["Version"], example["Version"]);

    // "2026-02-23T09:52:01.9342965Z": same length and punctuation.
    let vu = ours["ValidUntil"].as_str().unwrap();
    let ex = example["ValidUntil"].as_str().unwrap();
    assert_eq!(vu.len(), ex.len(), "{vu}");
    for (a, b) in vu.chars().zip(ex.chars()) {
        assert_eq!(a.is_ascii_digit(), b.is_ascii_digit(), "{vu} vs {ex}");
        if !b.is_ascii_digit() {
            assert_eq!(a, b);
        }
    }

    let info_example = vendor_json("tenant-state-api-info-example.json");
    let info: Value = http
        .get(ours["Api"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&info), keys(&info_example));
    assert_same_shape(&info_example, &info, &[]);
    assert_eq!(info["v1"], format!("{}/v1/", ours["Api"].as_str().unwrap()));
    sim.shutdown().await;
}

#[tokio::test]
async fn current_principal_uses_swagger_property_names() {
    let swagger = vendor_json("swagger-current-principal.json");
    let props =
        &swagger["definitions"]["SuperOffice.CRM.Services.SoPrincipalCarrier"]["properties"];
    let sim = demo().await;
    let http = client();
    let ticket = ticket(&sim, &http, "Cust12345").await;
    let user_tokens = tokens(&sim, &http, &Flow::default()).await;
    let principal_url = format!(
        "{}v1/User/currentPrincipal",
        sim.webapi_url("Cust12345").unwrap()
    );
    let as_system: Value = http
        .get(&principal_url)
        .header("Authorization", format!("SOTicket {ticket}"))
        .header("SO-AppToken", SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let as_user: Value = http
        .get(&principal_url)
        .bearer_auth(user_tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for principal in [&as_system, &as_user] {
        for (k, v) in principal.as_object().unwrap() {
            let prop = props
                .get(k)
                .unwrap_or_else(|| panic!("{k} is not in SoPrincipalCarrier"));
            let want = match prop["type"].as_str().unwrap() {
                "integer" => "number",
                other => other,
            };
            assert_eq!(json_type(v), want, "{k}");
            if let Some(allowed) = prop["enum"].as_array() {
                assert!(allowed.contains(v), "{k}: {v}");
            }
        }
    }
    assert_eq!(as_system["UserType"], "SystemAssociate");
    assert_eq!(as_user["AssociateId"], 5);
    assert_eq!(as_user["EMailAddress"], "ada@demo.example");
    sim.shutdown().await;
}
