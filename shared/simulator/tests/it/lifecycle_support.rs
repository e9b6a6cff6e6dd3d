//! Helpers for the tenant lifecycle tests: a receiver registered as the demo app's state-change
//! URL, and checking a pushed token the way an app should (against the JWKS, over HTTP).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use superoffice_simulator::SimulatorHandle;

use crate::common::*;
use crate::webapi_support::*;

/// The ctx claim's name.
pub fn ctx_claim() -> String {
    format!("{}ctx", superoffice_simulator::CLAIM_PREFIX)
}

/// A receiver answering 200, registered as the demo app's state-change URL.
pub async fn registered_receiver(sim: &SimulatorHandle) -> Receiver {
    let rx = Receiver::start(200).await;
    sim.set_state_change_url(CLIENT_ID, Some(&rx.url))
        .expect("a loopback URL is accepted");
    rx
}

/// The body of the receiver's last request, as JSON.
pub fn last_push(rx: &Receiver) -> Value {
    rx.hits().last().expect("a push arrived").json()
}

/// A JWT's header, decoded without verifying it.
pub fn jwt_header(jwt: &str) -> Value {
    let header = jwt.split('.').next().expect("JWT header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON")
}

/// Verifies a pushed token as an app should: RS256 only, the key found by `kid` in the simulator's
/// JWKS (fetched over HTTP), `iss` the simulator's issuer, `aud` the app's client id, and `exp`,
/// `nbf`, `iat` present and in range (jsonwebtoken's default 60 s leeway). The claims, or why not.
pub async fn verify_push_token(
    sim: &SimulatorHandle,
    token: &str,
    aud: &str,
) -> Result<Value, String> {
    let jwks: Value = client()
        .get(url(sim, "/login/.well-known/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
    let kid = header.kid.ok_or("no kid")?;
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not in the JWKS")?;
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("decoding key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[sim.issuer()]);
    v.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud"]);
    v.validate_nbf = true;
    jsonwebtoken::decode::<Value>(token, &dk, &v)
        .map(|d| d.claims)
        .map_err(|e| format!("{:?}", e.kind()))
}
