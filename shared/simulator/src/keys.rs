//! The simulator's token-signing key(s) and the JWKS built from them.
//!
//! Real SuperOffice signs with the environment's "Federated Login" certificate and uses the
//! certificate's SHA-1 thumbprint as `kid` (uppercase hex) and `x5t` (base64url). The simulator has a
//! bare RSA key and no certificate, so it applies the same encodings to the SHA-1 of the key's
//! SubjectPublicKeyInfo DER instead, and its JWKS has no `x5c`.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};

use crate::error::SimulatorError;
use crate::util::{b64url, hex_upper};

pub(crate) struct SigningKey {
    key_pair: RsaKeyPair,
    pkcs8: Vec<u8>,
    /// SubjectPublicKeyInfo DER of the public half.
    spki: Vec<u8>,
    kid: String,
    x5t: String,
    n: String,
    e: String,
}

impl SigningKey {
    pub(crate) fn generate() -> Result<Self, SimulatorError> {
        let key_pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| SimulatorError::SigningKey("RSA key generation failed".into()))?;
        let pkcs8 = key_pair
            .as_der()
            .map_err(|_| SimulatorError::SigningKey("cannot encode the key as PKCS#8".into()))?
            .as_ref()
            .to_vec();
        Self::from_parts(key_pair, pkcs8)
    }

    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, SimulatorError> {
        let key_pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|e| SimulatorError::SigningKey(format!("not an RSA PKCS#8 key: {e}")))?;
        Self::from_parts(key_pair, der.to_vec())
    }

    fn from_parts(key_pair: RsaKeyPair, pkcs8: Vec<u8>) -> Result<Self, SimulatorError> {
        let public = key_pair.public_key();
        let spki = public
            .as_der()
            .map_err(|_| SimulatorError::SigningKey("cannot encode the public key".into()))?;
        let thumb = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, spki.as_ref());
        let n = b64url(public.modulus().big_endian_without_leading_zero());
        let e = b64url(public.exponent().big_endian_without_leading_zero());
        Ok(Self {
            kid: hex_upper(thumb.as_ref()),
            x5t: b64url(thumb.as_ref()),
            spki: spki.as_ref().to_vec(),
            key_pair,
            pkcs8,
            n,
            e,
        })
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo, 64-column
    /// base64, a newline at the end): the text an "alg confusion" attacker uses as an HMAC secret.
    pub(crate) fn public_key_pem(&self) -> String {
        let b64 = crate::util::b64std(&self.spki);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            // Base64 is ASCII, so every chunk is valid UTF-8.
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// The JWK as SuperOffice publishes it (minus `x5c`, see the module docs).
    pub(crate) fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "x5t": self.x5t,
            "n": self.n,
            "e": self.e,
        })
    }

    /// The JOSE header of the tokens the simulator issues; same fields as a real SOD id_token.
    pub(crate) fn header(&self) -> Value {
        json!({ "alg": "RS256", "kid": self.kid, "x5t": self.x5t, "typ": "JWT" })
    }

    /// Signs `header.claims` with RS256. The header is used as given.
    pub(crate) fn sign_jwt(&self, header: &Value, claims: &Value) -> Result<String, SignError> {
        let header = serde_json::to_vec(header).map_err(|_| SignError)?;
        let claims = serde_json::to_vec(claims).map_err(|_| SignError)?;
        let signing_input = format!("{}.{}", b64url(&header), b64url(&claims));
        let mut sig = vec![0u8; self.key_pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key_pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| SignError)?;
        Ok(format!("{signing_input}.{}", b64url(&sig)))
    }

    /// Signs with this key's standard header.
    pub(crate) fn issue(&self, claims: &Value) -> Result<String, SignError> {
        self.sign_jwt(&self.header(), claims)
    }
}

/// Signing failed (it does not, with a key that parsed; kept as an error rather than a panic).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignError;

/// A partner's system-user public key, accepted as SubjectPublicKeyInfo or PKCS#1 DER.
pub(crate) fn parse_system_user_key(der: &[u8]) -> Result<signature::ParsedPublicKey, String> {
    let public = aws_lc_rs::rsa::PublicKey::from_der(der)
        .map_err(|e| format!("not an RSA public key (SubjectPublicKeyInfo or PKCS#1): {e}"))?;
    let spki = public
        .as_der()
        .map_err(|_| "cannot re-encode the public key".to_owned())?;
    signature::ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, spki.as_ref())
        .map_err(|e| format!("unusable for RS256 (needs 2048..8192 bits): {e}"))
}
