//! id_token validation against a raw RSA-2048 verify of the same token, in one run.
//!
//! * `raw_rsa_verify`: split off the signature, base64url-decode it, and verify it over the signing
//!   input with an already-parsed aws-lc-rs key: the floor no validator can go below.
//! * `validate_id_token`: our full validation (shape, strict JSON, header policy, key lookup, the same
//!   RSA verify, claim checks, typed SuperOffice claims).
//! * `jsonwebtoken_decode`: jsonwebtoken 12 (aws-lc-rs backend) decoding the same token with the closest
//!   configuration, for reference.
//!
//! Run: `cargo bench -p superoffice --bench token_validation`. The figure that matters is the ratio
//! validate / raw (goal: at most 1.25).

use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use superoffice::Environment;
use superoffice::clock::from_unix_seconds;
use superoffice::jwt::{IdTokenRules, validate_id_token};
use superoffice::testing::TestSigner;

const CLIENT: &str = "6cf25376616343b38d14ddcd804f2891";
const NOW: i64 = 1_800_000_000;
const SO: &str = "http://schemes.superoffice.net/identity/";

fn bench(c: &mut Criterion) {
    let signer = TestSigner::generate("16B7FB8C3F9AB06885A800C64E64C97C4AB5E98C");
    // A token shaped like a real SuperOffice id_token (about 1.5 kB).
    let claims = json!({
        "sub": "tony@superoffice.com",
        format!("{SO}associateid"): "5",
        format!("{SO}identityprovider"): "central-superid",
        format!("{SO}email"): "tony@superoffice.com",
        format!("{SO}upn"): "tony@superoffice.com",
        format!("{SO}is_administrator"): "False",
        format!("{SO}ctx"): "Cust26759",
        format!("{SO}company_name"): "Tonys Developer Network",
        format!("{SO}serial"): "1801550193",
        format!("{SO}netserver_url"): "https://sod.superoffice.com/Cust26759/Remote/Services86/",
        format!("{SO}webapi_url"): "https://sod.superoffice.com/Cust26759/api/",
        format!("{SO}system_token"): "SuperOffice DevNet Node OIDC-8k8Q7DmBgo",
        "iat": NOW,
        format!("{SO}initials"): "TY",
        format!("{SO}so_primary_email_address"): "tony@superoffice.com",
        "nonce": "637172620046685267.NmU2ZmRjNTctYjU0ZS00ZDRlLThkNjgtOTBlZmY2N2QyYjc3",
        "nbf": NOW - 60,
        "exp": NOW + 300,
        "iss": "https://sod.superoffice.com",
        "aud": CLIENT,
    });
    let header = json!({"alg": "RS256", "kid": signer.kid, "x5t": "Frf7jD-asGiFqADGTmTJfEq16Yw", "typ": "JWT"});
    let token = signer.sign_raw(&header.to_string(), &claims.to_string());
    let keys = signer.key_set();
    let rules = IdTokenRules::new(Environment::Sod, CLIENT);
    let now = from_unix_seconds(NOW);
    let nonce = claims["nonce"].as_str().unwrap().to_owned();
    validate_id_token(&token, &keys, &rules, now, Some(&nonce)).expect("the bench token is valid");

    let key = keys.keys().next().unwrap().clone();

    let jwt_key = jsonwebtoken::DecodingKey::from_rsa_der(&{
        // jsonwebtoken wants PKCS#1 RSAPublicKey DER for from_rsa_der.
        use x509_parser::prelude::FromDer;
        let spki = signer.public_key_der();
        let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki).unwrap();
        info.subject_public_key.data.to_vec()
    });
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[CLIENT]);
    validation.set_issuer(&["https://sod.superoffice.com"]);
    validation.validate_exp = false; // fixed clock in the past; the work is the same
    validation.leeway = 60;

    let mut group = c.benchmark_group("id_token");
    // The least work that checks a token: find its signature, decode it, one RSA verify.
    group.bench_function("raw_rsa_verify", |b| {
        b.iter(|| {
            let (input, sig_b64) = black_box(&token).rsplit_once('.').unwrap();
            let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
            assert!(key.verify(input.as_bytes(), &sig))
        })
    });
    group.bench_function("validate_id_token", |b| {
        b.iter(|| validate_id_token(black_box(&token), &keys, &rules, now, Some(&nonce)).unwrap())
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &jwt_key, &validation)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
