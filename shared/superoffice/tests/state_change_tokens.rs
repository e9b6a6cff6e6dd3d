//! The tenant state-change push's token: every way a push can be forged or misdirected is refused
//! with its reason, and the tokens SuperOffice may plausibly send (with or without an audience,
//! with or without the tenant claim) are accepted. The claims are undocumented: see the module
//! docs of `superoffice::jwt::state_change` for what is checked and why.

use std::sync::OnceLock;

use aws_lc_rs::hmac;
use serde_json::{Value, json};
use superoffice::clock::from_unix_seconds;
use superoffice::jwt::{Reason, StateChangeRules, validate_state_change_token};
use superoffice::testing::{TestSigner, b64url};
use superoffice::{Environment, TenantId};

const CLIENT: &str = "6cf25376616343b38d14ddcd804f2891";
const NOW: i64 = 1_800_000_000;
const CTX: &str = "http://schemes.superoffice.net/identity/ctx";

fn signer() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::generate("60B61583DBB2B7EEC46FD01EC0056E62451D61F3"))
}

fn attacker() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::generate("60B61583DBB2B7EEC46FD01EC0056E62451D61F3"))
}

fn claims() -> Value {
    json!({
        "iss": "https://online.superoffice.com",
        "aud": CLIENT,
        "iat": NOW,
        "nbf": NOW - 5,
        "exp": NOW + 300,
        "jti": "a1b2c3",
        CTX: "Cust12345",
    })
}

fn with(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

fn without(mut c: Value, key: &str) -> Value {
    c.as_object_mut().unwrap().remove(key);
    c
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn check(token: &str, for_tenant: &str) -> Result<superoffice::jwt::StateChangeToken, Reason> {
    validate_state_change_token(
        token,
        &signer().key_set(),
        &StateChangeRules::new(&Environment::Online, CLIENT),
        from_unix_seconds(NOW),
        &tenant(for_tenant),
    )
}

fn refused(token: &str, code: &str) {
    match check(token, "Cust12345") {
        Err(r) => assert_eq!(r.code(), code, "{r}"),
        Ok(t) => panic!("accepted {t:?}, expected {code}"),
    }
}

fn unsigned(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    )
}

#[test]
fn the_tokens_superoffice_may_send_are_accepted() {
    let t = check(&signer().sign(&claims()), "Cust12345").unwrap();
    assert_eq!(t.expires_at, NOW + 300);
    assert!(t.names_tenant && t.has_audience);
    // Neither audience nor tenant claim (undocumented): the signature and issuer still bind it.
    let bare = without(without(claims(), "aud"), CTX);
    let t = check(&signer().sign(&bare), "Cust12345").unwrap();
    assert!(!t.names_tenant && !t.has_audience);
    // An audience list that names us.
    let listed = with(claims(), "aud", json!(["other", CLIENT]));
    assert!(check(&signer().sign(&listed), "Cust12345").is_ok());
}

#[test]
fn a_forged_signature_or_key_is_refused() {
    // Same kid, another key (an attacker who read our kid from the JWKS).
    refused(&attacker().sign(&claims()), "bad_signature");
    // A flipped payload under the real signature.
    let good = signer().sign(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = b64url(
        with(claims(), CTX, json!("Cust99999"))
            .to_string()
            .as_bytes(),
    );
    refused(
        &format!("{}.{forged_payload}.{}", parts[0], parts[2]),
        "bad_signature",
    );
    // No signature at all, and a truncated one.
    refused(&format!("{}.{}.", parts[0], parts[1]), "missing_signature");
    refused(
        &format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]),
        "bad_signature",
    );
    // An unknown kid.
    let other = TestSigner::generate("unknown-kid");
    refused(&other.sign(&claims()), "unknown_kid");
}

#[test]
fn alg_tricks_are_refused_before_any_key_is_used() {
    let kid = signer().kid.clone();
    let payload = claims();
    for alg in [
        "none", "None", "NONE", "HS256", "RS512", "PS256", "ES256", "rs256", "",
    ] {
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        refused(&unsigned(&header, &payload, "c2ln"), "alg_not_allowed");
    }
    refused(
        &unsigned(&json!({"kid": kid}), &payload, "c2ln"),
        "alg_not_allowed",
    );
    // HS256 signed with the public key as the HMAC secret (key confusion).
    let header = json!({"alg": "HS256", "kid": kid, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &signer().public_key_der());
    let sig = b64url(hmac::sign(&key, input.as_bytes()).as_ref());
    refused(&format!("{input}.{sig}"), "alg_not_allowed");
    // Keys and key URLs in the header are never trusted.
    for h in ["jku", "x5u", "jwk", "x5c"] {
        let header = json!({"alg": "RS256", "kid": kid, h: "https://evil.example/keys"});
        let token = signer().sign_raw(&header.to_string(), &payload.to_string());
        refused(&token, "key_in_header");
    }
    let crit = json!({"alg": "RS256", "kid": kid, "crit": ["exp"]});
    refused(
        &signer().sign_raw(&crit.to_string(), &payload.to_string()),
        "crit_not_allowed",
    );
}

#[test]
fn another_environment_or_issuer_is_refused() {
    for iss in [
        "https://sod.superoffice.com",
        "https://qaonline.superoffice.com",
        "https://online.superoffice.com/",
        "https://ONLINE.superoffice.com",
        "http://online.superoffice.com",
        "https://online.superoffice.com.evil.example",
        "https://online.superoffice.com\u{0}",
        " https://online.superoffice.com",
    ] {
        refused(
            &signer().sign(&with(claims(), "iss", json!(iss))),
            "wrong_issuer",
        );
    }
    refused(&signer().sign(&without(claims(), "iss")), "missing_claim");
    refused(
        &signer().sign(&with(claims(), "iss", json!(""))),
        "invalid_claim",
    );
    refused(
        &signer().sign(&with(claims(), "iss", json!(1))),
        "invalid_claim",
    );
}

#[test]
fn expired_early_or_overlong_tokens_are_refused() {
    refused(
        &signer().sign(&with(claims(), "exp", json!(NOW - 61))),
        "expired",
    );
    // Within the leeway.
    assert!(
        check(
            &signer().sign(&with(claims(), "exp", json!(NOW - 59))),
            "Cust12345"
        )
        .is_ok()
    );
    refused(&signer().sign(&without(claims(), "exp")), "missing_claim");
    refused(
        &signer().sign(&with(claims(), "exp", json!("soon"))),
        "invalid_claim",
    );
    refused(
        &signer().sign(&with(claims(), "nbf", json!(NOW + 120))),
        "not_yet_valid",
    );
    refused(
        &signer().sign(&with(claims(), "iat", json!(NOW + 120))),
        "iat_in_future",
    );
    // A lifetime beyond a day would make the replay cache hold it for ever.
    refused(
        &signer().sign(&with(claims(), "exp", json!(NOW + 2 * 24 * 3600))),
        "invalid_claim",
    );
}

#[test]
fn a_token_for_another_app_or_tenant_is_refused() {
    refused(
        &signer().sign(&with(claims(), "aud", json!("another-app"))),
        "wrong_audience",
    );
    refused(
        &signer().sign(&with(claims(), "aud", json!([]))),
        "invalid_claim",
    );
    // The token names Cust12345; the push says another tenant.
    // Tenant ids are compared as SuperOffice spells them: another spelling is another tenant.
    for other in ["Cust67890", "cust12345", "CUST12345", "Cust123450"] {
        let r = check(&signer().sign(&claims()), other).unwrap_err();
        assert_eq!(r.code(), "context_mismatch", "{other}");
    }
    refused(
        &signer().sign(&with(claims(), CTX, json!("not a tenant"))),
        "invalid_claim",
    );
}

#[test]
fn malformed_or_oversized_tokens_are_refused_before_decoding() {
    refused("", "malformed");
    refused("a.b", "malformed");
    refused("a.b.c.d", "malformed");
    refused("eyJ234ASD...1234#", "malformed");
    let huge = format!("{}.{}.{}", "a".repeat(5000), "b".repeat(5000), "c");
    refused(&huge, "too_large");
    let dup = r#"{"iss":"https://online.superoffice.com","exp":1800000300,"exp":1900000000}"#;
    let header = json!({"alg": "RS256", "kid": signer().kid, "typ": "JWT"}).to_string();
    refused(&signer().sign_raw(&header, dup), "duplicate_key");
}
