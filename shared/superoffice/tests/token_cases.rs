//! The malicious and invalid token cases 1–46 of the reliability catalogue, each asserting the specific
//! reason, plus the positive controls. Cases that involve fetching keys run against a `KeyStore` whose
//! transport counts every request, so "no outbound request" and "at most one JWKS refresh" are asserted,
//! not assumed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::hmac;
use serde_json::{Value, json};
use superoffice::Environment;
use superoffice::clock::{BoxFuture, Clock, ManualClock, from_unix_seconds};
use superoffice::jwks::{KeySource, KeyStore, KeyStoreSettings};
use superoffice::jwt::{IdTokenRules, IdTokenValidator, Reason, TokenError, validate_id_token};
use superoffice::keys::KeySet;
use superoffice::testing::{ScriptedTransport, TestSigner, b64url};
use superoffice::transport::{HttpRequest, HttpResponse, Transport, TransportError};

const CLIENT: &str = "6cf25376616343b38d14ddcd804f2891";
const NONCE: &str = "n-0S6_WzA2Mj";
const NOW: i64 = 1_800_000_000;
const SO: &str = "http://schemes.superoffice.net/identity/";

fn signer() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::generate("60B61583DBB2B7EEC46FD01EC0056E62451D61F3"))
}

fn attacker() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::generate("attacker-key"))
}

fn rules() -> IdTokenRules {
    IdTokenRules::new(Environment::Online, CLIENT)
}

fn claims() -> Value {
    json!({
        "sub": "ada@demo.example",
        "iss": "https://online.superoffice.com",
        "aud": CLIENT,
        "iat": NOW,
        "nbf": NOW - 60,
        "exp": NOW + 300,
        "nonce": NONCE,
        format!("{SO}ctx"): "Cust12345",
        format!("{SO}is_administrator"): "True",
        format!("{SO}serial"): "1801550193",
        format!("{SO}webapi_url"): "https://online2.superoffice.com/Cust12345/api/",
        format!("{SO}netserver_url"): "https://online2.superoffice.com/Cust12345/Remote/Services88/",
        format!("{SO}system_token"): "Demo App-8k8Q7DmBgo",
    })
}

/// The usual claims, issued at `now`.
fn fresh_claims(now: i64) -> Value {
    with(
        with(with(claims(), "iat", json!(now)), "nbf", json!(now - 60)),
        "exp",
        json!(now + 300),
    )
}

fn with(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

fn without(mut c: Value, key: &str) -> Value {
    c.as_object_mut().unwrap().remove(key);
    c
}

fn validate_at(token: &str, now: i64) -> Result<superoffice::jwt::IdToken, Reason> {
    validate_id_token(
        token,
        &signer().key_set(),
        &rules(),
        from_unix_seconds(now),
        Some(NONCE),
    )
}

fn validate(token: &str) -> Result<superoffice::jwt::IdToken, Reason> {
    validate_at(token, NOW)
}

#[track_caller]
fn rejected(token: &str, code: &str) -> Reason {
    match validate(token) {
        Ok(_) => panic!("accepted a token that must be refused with {code}"),
        Err(reason) => {
            assert_eq!(reason.code(), code, "{reason}");
            reason
        }
    }
}

fn good() -> String {
    signer().sign(&claims())
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn unsigned(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    )
}

fn hmac_token(alg: &str, secret: &[u8]) -> String {
    let algorithm = match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    let header = json!({"alg": alg, "typ": "JWT", "kid": signer().kid});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims().to_string().as_bytes())
    );
    let tag = hmac::sign(&hmac::Key::new(algorithm, secret), input.as_bytes());
    format!("{input}.{}", b64url(tag.as_ref()))
}

fn public_key_pem() -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(signer().public_key_der());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        lines.join("\n")
    )
}

// ---------------------------------------------------------------------------------------------
// 46. Positive controls first: the rest only mean something if a good token passes.

#[test]
fn case_46_a_well_formed_token_is_accepted_with_typed_claims() {
    let t = validate(&good()).expect("the good token");
    assert_eq!(t.subject, "ada@demo.example");
    assert_eq!(
        t.superoffice.tenant.as_ref().map(|t| t.as_str()),
        Some("Cust12345")
    );
    assert_eq!(t.superoffice.is_administrator, Some(true));
    assert_eq!(
        t.superoffice.system_token.as_ref().map(|s| s.expose()),
        Some("Demo App-8k8Q7DmBgo")
    );
    // The redacted view an operator sees hides the system token.
    let shown = serde_json::to_string(&t.redacted_claims()).unwrap();
    assert!(!shown.contains("8k8Q7DmBgo"));
}

#[test]
fn case_46_leeway_is_sixty_seconds_either_side_of_exp() {
    let token = good();
    let exp = NOW + 300;
    assert!(
        validate_at(&token, exp + 59).is_ok(),
        "59 s after exp: accepted"
    );
    assert!(
        validate_at(&token, exp + 60).is_ok(),
        "60 s after exp: accepted"
    );
    let r = validate_at(&token, exp + 61).unwrap_err();
    assert_eq!(r.code(), "expired");
    assert_eq!(rules().leeway, Duration::from_secs(60));
}

#[test]
fn iat_as_a_numeric_string_is_accepted_as_superoffice_documents_it() {
    let t = signer().sign(&with(claims(), "iat", json!(NOW.to_string())));
    assert_eq!(validate(&t).unwrap().issued_at, NOW);
}

#[test]
fn a_token_without_kid_but_with_the_x5t_thumbprint_is_accepted_by_certificate_keys() {
    // SuperOffice's documented header carries only typ/alg/x5t; with a certificate key the x5t is enough.
    let cert_keys =
        KeySet::from_certificates(include_bytes!("../certs/sod-federated-login.crt")).unwrap();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": "Frf7jD-asGiFqADGTmTJfEq16Yw"});
    let token = signer().sign_raw(&header.to_string(), &claims().to_string());
    // The key is found (so the refusal is the signature: our test key is not SuperOffice's).
    let r = validate_id_token(
        &token,
        &cert_keys,
        &rules(),
        from_unix_seconds(NOW),
        Some(NONCE),
    );
    assert_eq!(r.unwrap_err().code(), "bad_signature");
}

// ---------------------------------------------------------------------------------------------
// 1–4: algorithms

#[test]
fn case_01_alg_none_with_an_empty_signature_is_refused() {
    let t = unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims(), "");
    rejected(&t, "alg_not_allowed");
}

#[test]
fn case_02_alg_none_case_variants_are_refused() {
    for alg in ["None", "NONE", "nOnE"] {
        let t = unsigned(&json!({"alg": alg}), &claims(), "");
        rejected(&t, "alg_not_allowed");
    }
}

#[test]
fn case_03_hs256_signed_with_our_public_key_is_refused() {
    let pem = public_key_pem();
    let der = signer().public_key_der();
    for secret in [
        pem.as_bytes().to_vec(),
        format!("{pem}\n").into_bytes(),
        der.clone(),
    ] {
        rejected(&hmac_token("HS256", &secret), "alg_not_allowed");
    }
}

#[test]
fn case_04_hs384_and_hs512_variants_are_refused() {
    let pem = public_key_pem();
    for alg in ["HS384", "HS512"] {
        rejected(&hmac_token(alg, pem.as_bytes()), "alg_not_allowed");
        rejected(
            &hmac_token(alg, &signer().public_key_der()),
            "alg_not_allowed",
        );
    }
}

// 5–8: signature and shape

#[test]
fn case_05_a_stripped_signature_is_refused() {
    let s = segments(&good());
    rejected(&format!("{}.{}.", s[0], s[1]), "missing_signature");
}

#[test]
fn case_06_two_segments_are_malformed() {
    let s = segments(&good());
    rejected(&format!("{}.{}", s[0], s[1]), "malformed");
}

#[test]
fn case_07_a_flipped_payload_bit_breaks_the_signature() {
    let s = segments(&good());
    let mut payload = claims().to_string().into_bytes();
    payload[10] ^= 0x01;
    let t = format!("{}.{}.{}", s[0], b64url(&payload), s[2]);
    rejected(&t, "bad_signature");
}

#[test]
fn case_08_a_flipped_signature_bit_is_refused() {
    let s = segments(&good());
    use base64::Engine;
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&s[2])
        .unwrap();
    sig[100] ^= 0x80;
    rejected(
        &format!("{}.{}.{}", s[0], s[1], b64url(&sig)),
        "bad_signature",
    );
}

// 9–12: keys inside the token

#[test]
fn case_09_an_embedded_jwk_is_refused_and_not_used() {
    let jwk: Value = serde_json::from_str(&attacker().jwks_json()).unwrap();
    let header = json!({"alg": "RS256", "kid": "attacker-key", "jwk": jwk["keys"][0]});
    let t = attacker().sign_raw(&header.to_string(), &claims().to_string());
    rejected(&t, "key_in_header");
    // Even with our kid, the embedded key does not make the attacker's signature pass.
    let header = json!({"alg": "RS256", "kid": signer().kid});
    let t = attacker().sign_raw(&header.to_string(), &claims().to_string());
    rejected(&t, "bad_signature");
}

fn live_validator(transport: Arc<dyn Transport>, clock: Arc<ManualClock>) -> IdTokenValidator {
    let store = KeyStore::new(
        KeySource::Jwks {
            url: "https://online.superoffice.com/login/.well-known/jwks"
                .parse()
                .unwrap(),
            seed: None,
        },
        KeyStoreSettings::default(),
        transport,
        clock.clone(),
    );
    IdTokenValidator::new(rules(), Arc::new(store), clock)
}

fn jwks_transport(signer: &TestSigner) -> Arc<ScriptedTransport> {
    ScriptedTransport::new().always(200, &signer.jwks_json())
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_unix(NOW))
}

#[tokio::test]
async fn case_10_and_11_jku_and_x5u_are_refused_without_any_request() {
    let transport = jwks_transport(signer());
    let validator = live_validator(transport.clone(), clock());
    // Warm the key store so the count below is about the tokens only.
    validator.validate(&good(), Some(NONCE)).await.unwrap();
    let before = transport.count();
    for header in ["jku", "x5u"] {
        let h =
            json!({"alg": "RS256", "kid": "attacker-key", header: "https://attacker.example/jwks"});
        let t = attacker().sign_raw(&h.to_string(), &claims().to_string());
        let err = validator.validate(&t, Some(NONCE)).await.unwrap_err();
        assert_eq!(err.code(), "key_in_header");
    }
    // Every request goes through the transport: none at all, so none to the attacker's URL. (That no
    // socket is opened with the real transport is tested against the simulator.)
    assert_eq!(transport.count(), before, "no request at all");
}

#[test]
fn case_12_an_x5c_self_signed_chain_is_refused() {
    let cert = include_str!("../certs/sod-federated-login.crt")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let h = json!({"alg": "RS256", "kid": "attacker-key", "x5c": [cert]});
    rejected(
        &attacker().sign_raw(&h.to_string(), &claims().to_string()),
        "key_in_header",
    );
}

// 13–16: kid abuse

#[tokio::test]
async fn case_13_and_14_kid_traversal_and_injection_are_unknown_kids_with_at_most_one_refresh() {
    let transport = jwks_transport(signer());
    let validator = live_validator(transport.clone(), clock());
    validator.validate(&good(), Some(NONCE)).await.unwrap();
    let before = transport.count();
    for kid in [
        "../../../../dev/null",
        "/proc/self/environ",
        "' OR '1'='1",
        "' OR 1=1--",
        "{\"$ne\":null}",
    ] {
        let h = json!({"alg": "RS256", "kid": kid});
        let t = signer().sign_raw(&h.to_string(), &claims().to_string());
        let err = validator.validate(&t, Some(NONCE)).await.unwrap_err();
        assert_eq!(err.code(), "unknown_kid", "{kid}");
    }
    assert!(transport.count() - before <= 1);
    assert!(
        transport
            .sent()
            .iter()
            .all(|r| r.url.as_str() == "https://online.superoffice.com/login/.well-known/jwks")
    );
}

#[tokio::test]
async fn case_15_kid_with_null_byte_overlong_or_not_a_string_is_refused_without_refresh() {
    let transport = jwks_transport(signer());
    let validator = live_validator(transport.clone(), clock());
    validator.validate(&good(), Some(NONCE)).await.unwrap();
    let before = transport.count();
    let long = "k".repeat(10_000);
    for kid in [
        json!("abc\u{0000}def"),
        json!(long),
        json!(12345),
        json!(["a"]),
        json!(""),
    ] {
        let h = json!({"alg": "RS256", "kid": kid});
        let t = signer().sign_raw(&h.to_string(), &claims().to_string());
        // The 10 kB kid makes the token exceed the size cap: refused even earlier.
        let err = validator.validate(&t, Some(NONCE)).await.unwrap_err();
        assert!(
            ["invalid_kid", "too_large"].contains(&err.code()),
            "{kid}: {err}"
        );
    }
    assert_eq!(
        transport.count(),
        before,
        "no JWKS refresh for an invalid kid"
    );
}

#[tokio::test]
async fn case_16_a_thousand_unknown_kids_cost_at_most_one_jwks_fetch_per_interval() {
    let transport = jwks_transport(signer());
    let clock = clock();
    let validator = live_validator(transport.clone(), clock.clone());
    validator.validate(&good(), Some(NONCE)).await.unwrap();
    assert_eq!(transport.count(), 1);
    clock.advance(Duration::from_secs(61));
    for i in 0..1000 {
        let h = json!({"alg": "RS256", "kid": format!("random-kid-{i}")});
        let t = signer().sign_raw(&h.to_string(), &claims().to_string());
        let err = validator.validate(&t, Some(NONCE)).await.unwrap_err();
        assert_eq!(err.code(), "unknown_kid");
    }
    assert_eq!(transport.count(), 2, "exactly one refresh in the interval");
    clock.advance(Duration::from_secs(61));
    let h = json!({"alg": "RS256", "kid": "random-kid-x"});
    let t = signer().sign_raw(&h.to_string(), &claims().to_string());
    let _ = validator.validate(&t, Some(NONCE)).await;
    assert_eq!(transport.count(), 3, "one more after the interval");
}

/// Answers every request with a JWKS, but holds each answer until the gate is opened, so that a fetch
/// is still in flight while other callers arrive. Records how many requests were sent and the most
/// that were in flight at once.
struct GatedJwks {
    body: Mutex<String>,
    open: tokio::sync::watch::Sender<bool>,
    sent: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

impl GatedJwks {
    fn new(body: String) -> Arc<Self> {
        Arc::new(Self {
            body: Mutex::new(body),
            open: tokio::sync::watch::channel(true).0,
            sent: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        })
    }

    fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

impl Transport for GatedJwks {
    fn send(&self, _request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let mut gate = self.open.subscribe();
        Box::pin(async move {
            let _ = gate.wait_for(|open| *open).await;
            let body = self.body.lock().unwrap().clone();
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(HttpResponse::new(http::StatusCode::OK, body))
        })
    }
}

fn rotated() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::generate("rotated-in-key"))
}

/// A JWKS with the keys of all `signers`.
fn jwks_of(signers: &[&TestSigner]) -> String {
    let keys: Vec<Value> = signers
        .iter()
        .flat_map(|s| {
            let set: Value = serde_json::from_str(&s.jwks_json()).unwrap();
            set["keys"].as_array().unwrap().clone()
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// Callers that meet an unknown kid while a refresh is in flight wait for that one fetch and use its
/// keys. The fetch is held open until all callers are waiting, on several threads:
/// * without the single-flight lock every caller would fetch (count > 2);
/// * with only the rate limit (callers that find a fetch running give up at once) the tokens signed
///   with the key the fetch brings in would fail as `unknown_kid` instead of passing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn case_16_concurrent_unknown_kids_share_one_fetch() {
    let transport = GatedJwks::new(signer().jwks_json());
    let clock = clock();
    let validator = Arc::new(live_validator(transport.clone(), clock.clone()));
    validator.validate(&good(), Some(NONCE)).await.unwrap();
    assert_eq!(transport.sent.load(Ordering::SeqCst), 1);

    // A key rotation: the next JWKS also has a new key. Tokens arrive signed with it (unknown until
    // the refresh) and with random kids (unknown after it too).
    *transport.body.lock().unwrap() = jwks_of(&[signer(), rotated()]);
    transport.set_open(false);
    clock.advance(Duration::from_secs(61));
    let tokens: Vec<(bool, String)> = (0..100)
        .map(|i| {
            if i % 2 == 0 {
                (true, rotated().sign(&claims()))
            } else {
                let h = json!({"alg": "RS256", "kid": format!("flood-{i}")});
                (
                    false,
                    signer().sign_raw(&h.to_string(), &claims().to_string()),
                )
            }
        })
        .collect();
    let started = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (rotated_in, token) in tokens {
        let (v, started) = (validator.clone(), started.clone());
        tasks.push(tokio::spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            (rotated_in, v.validate(&token, Some(NONCE)).await)
        }));
    }
    // Hold the fetch until every caller has started and had time to reach the refresh.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while started.load(Ordering::SeqCst) < 100 || transport.in_flight.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the callers never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "every caller is waiting for the fetch in flight"
    );
    transport.set_open(true);

    for t in tasks {
        let (rotated_in, result) = t.await.unwrap();
        if rotated_in {
            let token = result.expect("the rotated-in key, from the shared fetch");
            assert_eq!(token.subject, "ada@demo.example");
        } else {
            assert_eq!(result.unwrap_err().code(), "unknown_kid");
        }
    }
    assert_eq!(
        transport.sent.load(Ordering::SeqCst),
        2,
        "one fetch for 100 concurrent callers"
    );
    assert_eq!(transport.most_in_flight.load(Ordering::SeqCst), 1);
}

// 17–24: times

#[test]
fn case_17_an_expired_token_is_refused() {
    let t = signer().sign(&with(claims(), "exp", json!(NOW - 120)));
    rejected(&t, "expired");
}

#[test]
fn case_18_a_missing_exp_is_refused() {
    let r = rejected(&signer().sign(&without(claims(), "exp")), "missing_claim");
    assert_eq!(r, Reason::MissingClaim("exp"));
}

#[test]
fn case_19_exp_as_a_string_is_refused() {
    let r = rejected(
        &signer().sign(&with(claims(), "exp", json!("9999999999"))),
        "invalid_claim",
    );
    assert!(matches!(r, Reason::InvalidClaim { claim: "exp", .. }));
}

#[test]
fn case_20_nbf_in_the_future_is_refused() {
    rejected(
        &signer().sign(&with(claims(), "nbf", json!(NOW + 3600))),
        "not_yet_valid",
    );
}

#[test]
fn case_21_nbf_as_a_far_future_string_is_refused() {
    let r = rejected(
        &signer().sign(&with(claims(), "nbf", json!("99999999999"))),
        "invalid_claim",
    );
    assert!(matches!(r, Reason::InvalidClaim { claim: "nbf", .. }));
}

#[test]
fn case_22_iat_in_the_future_is_refused() {
    rejected(
        &signer().sign(&with(claims(), "iat", json!(NOW + 600))),
        "iat_in_future",
    );
}

#[test]
fn case_23_iat_older_than_ten_minutes_is_refused() {
    let c = with(
        with(claims(), "iat", json!(NOW - 3600)),
        "nbf",
        json!(NOW - 3660),
    );
    rejected(&signer().sign(&c), "iat_too_old");
    let c = with(claims(), "iat", json!(NOW - 601));
    rejected(&signer().sign(&c), "iat_too_old");
}

#[test]
fn case_24_numeric_abuse_is_refused() {
    for (claim, value) in [
        ("exp", json!(-1)),
        ("iat", json!(-1)),
        ("exp", json!(1e300)),
        ("iat", json!(1e300)),
        ("nbf", json!(-5)),
    ] {
        rejected(
            &signer().sign(&with(claims(), claim, value)),
            "invalid_claim",
        );
    }
    // 1e400 overflows a double: refused as an invalid time. NaN is not JSON at all.
    let base = claims().to_string();
    for (raw, code) in [
        (
            base.replace(&format!("\"exp\":{}", NOW + 300), "\"exp\":1e400"),
            "invalid_claim",
        ),
        (
            base.replace(&format!("\"iat\":{NOW}"), "\"iat\":-1e400"),
            "invalid_claim",
        ),
        (
            base.replace(&format!("\"exp\":{}", NOW + 300), "\"exp\":NaN"),
            "bad_json",
        ),
        (
            base.replace(&format!("\"exp\":{}", NOW + 300), "\"exp\":Infinity"),
            "bad_json",
        ),
    ] {
        assert_ne!(raw, base);
        rejected(&signer().sign_raw(&signer().header(), &raw), code);
    }
}

// 25–34: issuer, audience, nonce, subject

#[test]
fn case_25_a_sod_token_at_the_production_stack_is_refused() {
    let t = signer().sign(&with(claims(), "iss", json!("https://sod.superoffice.com")));
    rejected(&t, "wrong_issuer");
}

#[test]
fn case_26_issuer_near_misses_are_refused() {
    for iss in [
        "https://online.superoffice.com/",
        "https://ONLINE.superoffice.com",
        "http://online.superoffice.com",
        "https://online.superoffice.com.evil.tld",
        " https://online.superoffice.com",
    ] {
        rejected(
            &signer().sign(&with(claims(), "iss", json!(iss))),
            "wrong_issuer",
        );
    }
}

#[test]
fn case_27_another_apps_audience_is_refused() {
    let t = signer().sign(&with(
        claims(),
        "aud",
        json!("c789b7d98f3c496fb5aaa4b1a81ca11b"),
    ));
    rejected(&t, "wrong_audience");
}

#[test]
fn case_28_several_audiences_without_azp_are_refused() {
    let t = signer().sign(&with(claims(), "aud", json!([CLIENT, "untrusted"])));
    rejected(&t, "azp_required");
    // With azp naming us it is fine (OIDC core 3.1.3.7 #4/#5).
    let c = with(
        with(claims(), "aud", json!([CLIENT, "untrusted"])),
        "azp",
        json!(CLIENT),
    );
    assert!(validate(&signer().sign(&c)).is_ok());
}

#[test]
fn case_29_an_azp_that_is_not_us_is_refused() {
    let t = signer().sign(&with(claims(), "azp", json!("someone-else")));
    rejected(&t, "azp_mismatch");
}

#[test]
fn case_30_a_missing_audience_is_refused() {
    rejected(&signer().sign(&without(claims(), "aud")), "missing_claim");
}

#[test]
fn case_31_a_missing_or_different_nonce_is_refused() {
    rejected(&signer().sign(&without(claims(), "nonce")), "nonce_missing");
    rejected(
        &signer().sign(&with(claims(), "nonce", json!("other"))),
        "nonce_mismatch",
    );
}

#[test]
fn case_32_the_nonce_check_binds_the_token_to_one_sign_in() {
    // Replay of a whole callback is stopped by the single-use sign-in state (the redirect function's
    // tests); here: a token minted for one sign-in does not pass for the next one.
    let t = good();
    let r = validate_id_token(
        &t,
        &signer().key_set(),
        &rules(),
        from_unix_seconds(NOW),
        Some("next-sign-in"),
    );
    assert_eq!(r.unwrap_err().code(), "nonce_mismatch");
}

#[test]
fn case_33_a_missing_or_empty_subject_is_refused() {
    rejected(&signer().sign(&without(claims(), "sub")), "missing_claim");
    rejected(
        &signer().sign(&with(claims(), "sub", json!(""))),
        "invalid_claim",
    );
}

#[test]
fn case_34_a_system_user_token_at_the_redirect_is_refused() {
    let c = json!({
        "sub": "system", "iss": "SuperOffice AS", "aud": "spn:1801550193",
        "iat": NOW, "exp": NOW + 300,
        format!("{SO}ticket"): "7T:abc123==", format!("{SO}serial"): "1801550193",
    });
    rejected(&signer().sign(&c), "wrong_issuer");
}

// 35–42: header and encoding tricks

#[test]
fn case_35_other_types_and_json_serialization_are_refused() {
    for typ in ["at+jwt", "JOSE+JSON", "JWE"] {
        let h = json!({"alg": "RS256", "kid": signer().kid, "typ": typ});
        rejected(
            &signer().sign_raw(&h.to_string(), &claims().to_string()),
            "typ_not_allowed",
        );
    }
    let s = segments(&good());
    let json_serialized =
        json!({"protected": s[0], "payload": s[1], "signature": s[2]}).to_string();
    rejected(&json_serialized, "malformed");
}

#[test]
fn case_36_any_crit_header_is_refused() {
    for crit in [json!(["exp"]), json!(["x"]), json!([])] {
        let h = json!({"alg": "RS256", "kid": signer().kid, "crit": crit});
        rejected(
            &signer().sign_raw(&h.to_string(), &claims().to_string()),
            "crit_not_allowed",
        );
    }
}

#[test]
fn case_37_duplicate_json_keys_are_refused_in_header_and_payload() {
    let payload = claims().to_string();
    let dup = payload.replacen('{', &format!("{{\"aud\":\"{CLIENT}\","), 1);
    let r = rejected(
        &signer().sign_raw(&signer().header(), &dup),
        "duplicate_key",
    );
    assert_eq!(r, Reason::DuplicateKey("aud".into()));
    let header = format!(
        "{{\"alg\":\"RS256\",\"alg\":\"RS256\",\"kid\":\"{}\"}}",
        signer().kid
    );
    rejected(&signer().sign_raw(&header, &payload), "duplicate_key");
}

#[test]
fn case_38_non_base64url_characters_are_refused() {
    let t = good();
    let s = segments(&t);
    for bad in [
        format!("{}=.{}.{}", s[0], s[1], s[2]),
        format!("{}.{}.{}==", s[0], s[1], s[2]),
        format!("{}.{}+.{}", s[0], s[1], s[2]),
        format!("{}/.{}.{}", s[0], s[1], s[2]),
        format!("{} .{}.{}", s[0], s[1], s[2]),
        format!("{}.{}\n.{}", s[0], s[1], s[2]),
        format!("{}\r\n.{}.{}", s[0], s[1], s[2]),
    ] {
        rejected(&bad, "malformed");
    }
}

#[test]
fn case_39_invalid_utf8_or_a_bom_is_refused() {
    let h = signer().header();
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(claims().to_string().as_bytes());
    let input = format!("{}.{}", b64url(h.as_bytes()), b64url(&bom));
    let t = format!("{input}.{}", b64url(&signer().sign_input(&input)));
    rejected(&t, "bad_encoding");

    let mut latin1 = claims().to_string().into_bytes();
    let pos = latin1.iter().position(|b| *b == b'@').unwrap();
    latin1[pos] = 0xE9;
    let input = format!("{}.{}", b64url(h.as_bytes()), b64url(&latin1));
    let t = format!("{input}.{}", b64url(&signer().sign_input(&input)));
    rejected(&t, "bad_encoding");

    let mut header_bom = vec![0xEF, 0xBB, 0xBF];
    header_bom.extend_from_slice(h.as_bytes());
    let input = format!(
        "{}.{}",
        b64url(&header_bom),
        b64url(claims().to_string().as_bytes())
    );
    let t = format!("{input}.{}", b64url(&signer().sign_input(&input)));
    rejected(&t, "bad_encoding");
}

#[test]
fn case_40_oversize_and_wrong_segment_counts_are_refused_before_decoding() {
    let huge_header = format!("{{\"alg\":\"RS256\",\"x\":\"{}\"}}", "a".repeat(64 * 1024));
    let t = signer().sign_raw(&huge_header, &claims().to_string());
    let r = rejected(&t, "too_large");
    assert!(matches!(r, Reason::TooLarge { max: 8192, .. }));
    // Garbage that could not even be decoded is refused for its size and shape alone.
    rejected(&"%".repeat(9000), "too_large");
    let s = segments(&good());
    rejected(&format!("{}.{}.{}.{}", s[0], s[1], s[2], s[2]), "malformed");
    rejected(&s[0], "malformed");
    rejected("", "malformed");
}

#[test]
fn case_41_deeply_nested_json_is_refused_without_stack_exhaustion() {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let payload = claims()
        .to_string()
        .replacen('{', &format!("{{\"deep\":{nested},"), 1);
    // Over the size cap as a whole; with a larger cap the parser itself refuses it.
    let t = signer().sign_raw(&signer().header(), &payload);
    let big = IdTokenRules {
        max_token_bytes: 1 << 20,
        ..rules()
    };
    let r = validate_id_token(
        &t,
        &signer().key_set(),
        &big,
        from_unix_seconds(NOW),
        Some(NONCE),
    );
    assert_eq!(r.unwrap_err().code(), "bad_json");
    rejected(&t, "too_large");
}

#[test]
fn case_42_es256_psychic_signature_is_refused() {
    // r = s = 0: the CVE-2022-21449 "psychic signature"; DER MAYCAQACAQA and raw 64 zero bytes.
    for sig in ["MAYCAQACAQA".to_owned(), b64url(&[0u8; 64])] {
        let t = unsigned(
            &json!({"alg": "ES256", "kid": signer().kid}),
            &claims(),
            &sig,
        );
        rejected(&t, "alg_not_allowed");
    }
}

#[test]
fn case_43_a_1024_bit_key_in_a_forged_jwks_is_never_trusted() {
    // An RSA-1024 key as an attacker would publish it (modulus of 1024 bits).
    let n = {
        let mut n = vec![0xC3u8; 128];
        n[127] |= 1;
        n
    };
    let forged = json!({"keys": [{"kty": "RSA", "kid": "weak-1024", "alg": "RS256", "n": b64url(&n), "e": "AQAB"}]});
    let err = KeySet::from_jwks(forged.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("1024 bits"), "{err}");
    // And a token naming that kid finds no key in our pinned set.
    let h = json!({"alg": "RS256", "kid": "weak-1024"});
    rejected(
        &signer().sign_raw(&h.to_string(), &claims().to_string()),
        "unknown_kid",
    );
}

#[test]
fn case_44_an_edited_tenant_claim_breaks_the_signature_and_foreign_hosts_are_refused() {
    let s = segments(&good());
    let edited = claims().to_string().replace("Cust12345", "Cust99999");
    rejected(
        &format!("{}.{}.{}", s[0], b64url(edited.as_bytes()), s[2]),
        "bad_signature",
    );
    for (claim, url) in [
        ("webapi_url", "https://evil.example/Cust12345/api/"),
        (
            "webapi_url",
            "https://online2.superoffice.com.evil.tld/api/",
        ),
        (
            "webapi_url",
            "http://online2.superoffice.com/Cust12345/api/",
        ),
        ("netserver_url", "https://attacker.example/Remote/"),
    ] {
        let c = with(claims(), &format!("{SO}{claim}"), json!(url));
        let r = rejected(&signer().sign(&c), "host_not_allowed");
        assert!(r.to_string().contains(claim), "{r}");
    }
}

#[tokio::test]
async fn case_45_a_rotated_out_kid_is_refused_and_the_new_kid_accepted_after_one_refresh() {
    let old = signer();
    let new = TestSigner::generate("new-key-after-rotation");
    let transport = ScriptedTransport::new();
    transport.push_status(200, &old.jwks_json());
    transport.push_status(200, &new.jwks_json());
    let clock = clock();
    let validator = live_validator(transport.clone(), clock.clone());
    validator
        .validate(&old.sign(&claims()), Some(NONCE))
        .await
        .unwrap();
    assert_eq!(transport.count(), 1);

    clock.advance(Duration::from_secs(61));
    let fresh = new.sign(&claims());
    validator
        .validate(&fresh, Some(NONCE))
        .await
        .expect("new kid after one refresh");
    assert_eq!(transport.count(), 2, "exactly one refresh");
    let err = validator
        .validate(&old.sign(&claims()), Some(NONCE))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "unknown_kid",
        "the removed key is no longer trusted"
    );
}

#[tokio::test]
async fn a_jwks_outage_keeps_the_last_good_keys() {
    let transport = ScriptedTransport::new();
    transport.push_status(200, &signer().jwks_json());
    let transport = transport.always(503, "unavailable");
    let clock = clock();
    let validator = live_validator(transport.clone(), clock.clone());
    validator.validate(&good(), Some(NONCE)).await.unwrap();
    // Ten minutes of JWKS outage, keys older than their max age: tokens with a known kid still pass.
    for _ in 0..10 {
        clock.advance(Duration::from_secs(3700));
        let now = superoffice::clock::unix_seconds(clock.now());
        let t = signer().sign(&fresh_claims(now));
        validator
            .validate(&t, Some(NONCE))
            .await
            .expect("last known good keys");
    }
    assert!(transport.count() > 1, "refreshes were attempted");
    assert!(transport.count() <= 11, "at most one per use after max age");
}

#[tokio::test]
async fn no_keys_at_all_is_reported_as_unavailable_not_invalid() {
    let transport = ScriptedTransport::new().always(503, "");
    let validator = live_validator(transport, clock());
    let err = validator.validate(&good(), Some(NONCE)).await.unwrap_err();
    assert!(matches!(err, TokenError::KeysUnavailable(_)), "{err}");
}

#[tokio::test]
async fn the_embedded_certificate_seeds_the_store_when_the_jwks_is_down_at_cold_start() {
    let cert_keys =
        KeySet::from_certificates(include_bytes!("../certs/online-federated-login.crt")).unwrap();
    let transport = ScriptedTransport::new().always(503, "");
    let clock = clock();
    let store = KeyStore::new(
        KeySource::Jwks {
            url: "https://online.superoffice.com/login/.well-known/jwks"
                .parse()
                .unwrap(),
            seed: Some(cert_keys),
        },
        KeyStoreSettings::default(),
        transport.clone(),
        clock.clone(),
    );
    let snap = store.current().await.unwrap();
    assert_eq!(
        snap.keys.kids(),
        vec!["60B61583DBB2B7EEC46FD01EC0056E62451D61F3".to_owned()]
    );
    assert_eq!(transport.count(), 1);
    // Within the refresh interval the seed is served without another fetch.
    store.current().await.unwrap();
    assert_eq!(transport.count(), 1);
    // After the interval it tries again, still serving the seed while the JWKS is down.
    clock.advance(Duration::from_secs(61));
    store.current().await.unwrap();
    assert_eq!(transport.count(), 2);
}
