//! A start-up self-test of the crypto backend.
//!
//! Every signature, digest, MAC and random value of the app comes from aws-lc-rs, a C library
//! built into the binary. A build that links it wrongly (a missing feature, a broken cross-compile
//! for arm64, a JWT crate without its backend, which compiles and then panics at the first decode)
//! must fail at start with a message, not at the first customer's sign-in. So every process runs
//! these known-answer tests once before it serves anything:
//! * RS256: a fixed token (`self-test/token.txt`) verifies against its fixed key through the very
//!   code that verifies SuperOffice's tokens, and the same token with one signature bit flipped
//!   does not;
//! * SHA-256 and HMAC-SHA-256 against the published vectors (FIPS 180-2, RFC 4231 test case 2);
//! * the random source answers, and two draws differ.
//!
//! It takes well under a millisecond (one RSA-2048 verification is about 30 µs).

use aws_lc_rs::{digest, hmac};

use crate::jwt::verify_signature_for_self_test;
use crate::keys::KeySet;

const TOKEN: &str = include_str!("../self-test/token.txt");
const JWKS: &str = include_str!("../self-test/jwks.json");
const PAYLOAD: &str = r#"{"iss":"soapp-self-test","sub":"the crypto backend verifies RS256"}"#;

/// Which known answer came out wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SelfTestFailure {
    #[error("RS256 verification of the known token failed")]
    Rs256Verify,
    #[error("RS256 accepted a token with a corrupted signature")]
    Rs256AcceptsForgery,
    #[error("SHA-256 gave a wrong digest")]
    Sha256,
    #[error("HMAC-SHA-256 gave a wrong tag")]
    HmacSha256,
    #[error("the random source failed or repeated itself")]
    Random,
}

/// Runs the known-answer tests (see the module docs). An error means this binary cannot be trusted
/// with a token: stop and say so.
pub fn crypto() -> Result<(), SelfTestFailure> {
    rs256(TOKEN.trim())?;
    let abc = digest::digest(&digest::SHA256, b"abc");
    if hex(abc.as_ref()) != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
        return Err(SelfTestFailure::Sha256);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
    let tag = hmac::sign(&key, b"what do ya want for nothing?");
    if hex(tag.as_ref()) != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
        return Err(SelfTestFailure::HmacSha256);
    }
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    aws_lc_rs::rand::fill(&mut a).map_err(|_| SelfTestFailure::Random)?;
    aws_lc_rs::rand::fill(&mut b).map_err(|_| SelfTestFailure::Random)?;
    if a == b {
        return Err(SelfTestFailure::Random);
    }
    Ok(())
}

fn rs256(token: &str) -> Result<(), SelfTestFailure> {
    let (keys, _) = KeySet::from_jwks(JWKS.as_bytes()).map_err(|_| SelfTestFailure::Rs256Verify)?;
    let payload =
        verify_signature_for_self_test(token, &keys).map_err(|_| SelfTestFailure::Rs256Verify)?;
    if payload != PAYLOAD.as_bytes() {
        return Err(SelfTestFailure::Rs256Verify);
    }
    if verify_signature_for_self_test(&corrupted(token), &keys).is_ok() {
        return Err(SelfTestFailure::Rs256AcceptsForgery);
    }
    Ok(())
}

/// The token with one bit of its signature's first character flipped (`A` ↔ `B` in base64url).
fn corrupted(token: &str) -> String {
    let Some((input, signature)) = token.rsplit_once('.') else {
        return String::new();
    };
    let mut sig = signature.to_owned();
    let first = sig.remove(0);
    let flipped = if first == 'A' { 'B' } else { 'A' };
    format!("{input}.{flipped}{sig}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_96_the_crypto_backend_passes_its_known_answers() {
        assert_eq!(crypto(), Ok(()));
    }

    #[test]
    fn the_rs256_check_fails_when_verification_is_wrong_either_way() {
        // A token whose payload was changed no longer verifies: the check would report it.
        let (input, sig) = TOKEN.trim().rsplit_once('.').unwrap();
        let (header, _) = input.split_once('.').unwrap();
        let other = format!("{header}.eyJpc3MiOiJ4In0.{sig}");
        assert_eq!(rs256(&other), Err(SelfTestFailure::Rs256Verify));
        assert_ne!(corrupted(TOKEN.trim()), TOKEN.trim());
        assert_eq!(rs256("not a token"), Err(SelfTestFailure::Rs256Verify));
    }
}
