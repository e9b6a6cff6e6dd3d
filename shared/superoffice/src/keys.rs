//! Signing keys we trust, and the policy for admitting them.
//!
//! A key enters a [`KeySet`] from the pinned JWKS URL or from a pinned certificate, never from a token.
//! Only RSA keys of 2048 to 8192 bits, meant for signatures and bound to RS256, are admitted; anything
//! else is skipped with a reason (a JWKS entry we do not understand must not stop the good ones).
//! Each admitted key is parsed once into an aws-lc-rs [`ParsedPublicKey`], so verifying a token costs one
//! RSA operation and no key decoding.
//!
//! Lookups are exact map lookups by `kid` (or by the `x5t` thumbprint): a `kid` such as
//! `../../dev/null` or `' OR 1=1--` is just a string that is not in the map.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_RSA_BITS: usize = 8192;
/// A `kid` longer than this is not looked up at all (SuperOffice's are 40 hex characters).
pub const MAX_KID_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not an RSA key ({0})")]
    NotRsa(String),
    #[error("the RSA key has {0} bits; at least {MIN_RSA_BITS} are required")]
    WeakKey(usize),
    #[error("the RSA key has {0} bits; at most {MAX_RSA_BITS} are supported")]
    OversizedKey(usize),
    #[error("the key is not meant for RS256 signatures ({0})")]
    WrongUse(String),
    #[error("the key material is malformed: {0}")]
    Malformed(String),
    #[error("no usable key: {}", .0.join("; "))]
    NoUsableKey(Vec<String>),
}

/// One trusted RSA public key, parsed once.
pub struct VerifyingKey {
    kid: Option<String>,
    thumbprint: Option<String>,
    bits: usize,
    key: ParsedPublicKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("thumbprint", &self.thumbprint)
            .field("bits", &self.bits)
            .finish()
    }
}

impl VerifyingKey {
    /// From big-endian modulus and exponent bytes.
    pub fn from_rsa_components(
        n: &[u8],
        e: &[u8],
        kid: Option<String>,
        thumbprint: Option<String>,
    ) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_length(n);
        if bits < MIN_RSA_BITS {
            return Err(KeyError::WeakKey(bits));
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyError::OversizedKey(bits));
        }
        if e.is_empty() || e.len() > 4 || e[e.len() - 1] & 1 == 0 || e == [1] {
            return Err(KeyError::Malformed("unusual RSA public exponent".into()));
        }
        let key = RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        Ok(Self {
            kid,
            thumbprint,
            bits,
            key,
        })
    }

    /// From a DER SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----` content).
    pub fn from_spki_der(der: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        use x509_parser::prelude::FromDer;
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| KeyError::Malformed(format!("public key: {e}")))?;
        match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                Self::from_rsa_components(rsa.modulus, rsa.exponent, kid, None)
            }
            Ok(_) => Err(KeyError::NotRsa("public key".into())),
            Err(e) => Err(KeyError::Malformed(format!("public key: {e}"))),
        }
    }

    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Uppercase hex SHA-1 thumbprint of the certificate, when the key came with one.
    pub fn thumbprint(&self) -> Option<&str> {
        self.thumbprint.as_deref()
    }

    pub fn bits(&self) -> usize {
        self.bits
    }
}

/// The result of looking a token's key up.
#[derive(Debug)]
pub enum Lookup<'a> {
    Found(&'a Arc<VerifyingKey>),
    /// The token names a key we do not have (a refresh may find it).
    Unknown,
    /// The token names no key and we have several: we will not guess.
    Ambiguous,
}

/// A set of trusted keys, indexed by `kid` and by certificate thumbprint.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
    by_kid: HashMap<String, usize>,
    by_thumbprint: HashMap<String, usize>,
}

/// A JWKS entry that was not admitted, and why (for logs and `soapp doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    pub kid: Option<String>,
    pub reason: KeyError,
}

impl KeySet {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Arc<VerifyingKey>> {
        self.keys.iter()
    }

    /// Adds a key unless one with the same `kid` (or thumbprint) is already present.
    pub fn insert(&mut self, key: VerifyingKey) -> bool {
        if key
            .kid
            .as_ref()
            .is_some_and(|k| self.by_kid.contains_key(k))
            || key
                .thumbprint
                .as_ref()
                .is_some_and(|t| self.by_thumbprint.contains_key(t))
        {
            return false;
        }
        let idx = self.keys.len();
        if let Some(kid) = &key.kid {
            self.by_kid.insert(kid.clone(), idx);
        }
        if let Some(t) = &key.thumbprint {
            self.by_thumbprint.insert(t.clone(), idx);
        }
        self.keys.push(Arc::new(key));
        true
    }

    /// Finds the key for a token header. `kid` wins; without it the `x5t` thumbprint is used; without
    /// either, a set of exactly one key answers (SuperOffice's documented header example carries only
    /// `x5t`, and its samples use the single published key).
    pub fn lookup(&self, kid: Option<&str>, x5t: Option<&str>) -> Lookup<'_> {
        if let Some(kid) = kid {
            if kid.len() > MAX_KID_LEN {
                return Lookup::Unknown;
            }
            return match self
                .by_kid
                .get(kid)
                .or_else(|| self.by_thumbprint.get(&kid.to_ascii_uppercase()))
            {
                Some(&i) => Lookup::Found(&self.keys[i]),
                None => Lookup::Unknown,
            };
        }
        if let Some(x5t) = x5t {
            return match thumbprint_from_x5t(x5t).and_then(|t| self.by_thumbprint.get(&t)) {
                Some(&i) => Lookup::Found(&self.keys[i]),
                None => Lookup::Unknown,
            };
        }
        match self.keys.as_slice() {
            [only] => Lookup::Found(only),
            [] => Lookup::Unknown,
            _ => Lookup::Ambiguous,
        }
    }

    /// Parses a JWKS document. Keys that fail the policy are skipped and reported; a document with no
    /// usable key at all is an error.
    pub fn from_jwks(json: &[u8]) -> Result<(KeySet, Vec<SkippedKey>), KeyError> {
        let doc: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| KeyError::Malformed(format!("JWKS is not JSON: {e}")))?;
        let entries = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| KeyError::Malformed("JWKS has no \"keys\" array".into()))?;
        let mut set = KeySet::default();
        let mut skipped = Vec::new();
        for entry in entries {
            let kid = entry.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
            match jwk_to_key(entry) {
                Ok(key) => {
                    if !set.insert(key) {
                        skipped.push(SkippedKey {
                            kid,
                            reason: KeyError::Malformed("duplicate kid".into()),
                        });
                    }
                }
                Err(reason) => skipped.push(SkippedKey { kid, reason }),
            }
        }
        if set.is_empty() {
            return Err(KeyError::NoUsableKey(
                skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.kid.as_deref().unwrap_or("(no kid)"), s.reason))
                    .collect(),
            ));
        }
        Ok((set, skipped))
    }

    /// Reads X.509 certificates (PEM, or a single DER certificate) and PEM public keys. A
    /// certificate's key gets its uppercase hex SHA-1 thumbprint as `kid`, which is how SuperOffice
    /// names its keys; a bare public key has no `kid` and answers tokens that name none.
    pub fn from_certificates(bytes: &[u8]) -> Result<KeySet, KeyError> {
        let mut public_keys = Vec::new();
        let ders: Vec<Vec<u8>> = if looks_like_pem(bytes) {
            let mut out = Vec::new();
            for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
                let pem = pem.map_err(|e| KeyError::Malformed(format!("PEM: {e}")))?;
                match pem.label.as_str() {
                    "CERTIFICATE" => out.push(pem.contents),
                    "PUBLIC KEY" => public_keys.push(pem.contents),
                    _ => {}
                }
            }
            out
        } else {
            vec![bytes.to_vec()]
        };
        if ders.is_empty() && public_keys.is_empty() {
            return Err(KeyError::Malformed(
                "no CERTIFICATE or PUBLIC KEY block found".into(),
            ));
        }
        let mut set = KeySet::default();
        for der in ders {
            set.insert(certificate_key(&der)?);
        }
        for der in public_keys {
            set.insert(VerifyingKey::from_spki_der(&der, None)?);
        }
        Ok(set)
    }

    /// A key file as an operator hands it over: a JWKS document or certificate(s).
    pub fn from_key_file(bytes: &[u8]) -> Result<KeySet, KeyError> {
        let trimmed = bytes.trim_ascii_start();
        if trimmed.starts_with(b"{") {
            Self::from_jwks(bytes).map(|(set, _)| set)
        } else {
            Self::from_certificates(bytes)
        }
    }

    /// The `kid`s in this set, for diagnostics.
    pub fn kids(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.kid.clone().unwrap_or_else(|| "(no kid)".into()))
            .collect()
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fn certificate_key(der: &[u8]) -> Result<VerifyingKey, KeyError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| KeyError::Malformed(format!("certificate: {e}")))?;
    let thumbprint = hex_upper(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref());
    match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => VerifyingKey::from_rsa_components(
            rsa.modulus,
            rsa.exponent,
            Some(thumbprint.clone()),
            Some(thumbprint),
        ),
        Ok(_) => Err(KeyError::NotRsa("certificate key".into())),
        Err(e) => Err(KeyError::Malformed(format!("certificate key: {e}"))),
    }
}

fn jwk_to_key(entry: &serde_json::Value) -> Result<VerifyingKey, KeyError> {
    let field = |name: &str| entry.get(name);
    let string = |name: &str| -> Result<Option<&str>, KeyError> {
        match field(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(KeyError::Malformed(format!("\"{name}\" is not a string"))),
        }
    };
    match string("kty")? {
        Some("RSA") => {}
        other => return Err(KeyError::NotRsa(format!("kty {other:?}"))),
    }
    if let Some(u) = string("use")?
        && u != "sig"
    {
        return Err(KeyError::WrongUse(format!("use {u:?}")));
    }
    if let Some(a) = string("alg")?
        && a != "RS256"
    {
        return Err(KeyError::WrongUse(format!("alg {a:?}")));
    }
    if let Some(ops) = field("key_ops").and_then(|v| v.as_array())
        && !ops.is_empty()
        && !ops.iter().any(|o| o.as_str() == Some("verify"))
    {
        return Err(KeyError::WrongUse("key_ops without verify".into()));
    }
    let kid = match string("kid")? {
        Some(k) if k.is_empty() || k.len() > MAX_KID_LEN => {
            return Err(KeyError::Malformed("kid is empty or too long".into()));
        }
        k => k.map(str::to_owned),
    };
    let thumbprint = string("x5t")?.and_then(thumbprint_from_x5t);
    let n = b64url_field(string("n")?, "n")?;
    let e = b64url_field(string("e")?, "e")?;
    VerifyingKey::from_rsa_components(&n, &e, kid, thumbprint)
}

fn b64url_field(value: Option<&str>, name: &str) -> Result<Vec<u8>, KeyError> {
    let value = value.ok_or_else(|| KeyError::Malformed(format!("\"{name}\" is missing")))?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| KeyError::Malformed(format!("\"{name}\" is not base64url")))
}

/// `x5t` is base64url(SHA-1(cert DER)); we index keys by the uppercase hex of the same digest.
fn thumbprint_from_x5t(x5t: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(x5t.trim_end_matches('=')).ok()?;
    (raw.len() == 20).then(|| hex_upper(&raw))
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

fn bit_length(b: &[u8]) -> usize {
    match b.first() {
        None => 0,
        Some(&top) => (b.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOD_CERT: &[u8] = include_bytes!("../certs/sod-federated-login.crt");
    const SOD_JWKS_AS_LOGGED: &[u8] =
        include_bytes!("../tests/fixtures/sod-jwks-key-as-logged.json");

    #[test]
    fn embedded_certificates_give_the_documented_thumbprints() {
        for (bytes, kid) in [
            (SOD_CERT, "16B7FB8C3F9AB06885A800C64E64C97C4AB5E98C"),
            (
                include_bytes!("../certs/qaonline-federated-login.crt").as_slice(),
                "484903A7732B928C7980A39D38E947EA119F1089",
            ),
            (
                include_bytes!("../certs/online-federated-login.crt").as_slice(),
                "60B61583DBB2B7EEC46FD01EC0056E62451D61F3",
            ),
        ] {
            let set = KeySet::from_certificates(bytes).unwrap();
            assert_eq!(set.kids(), vec![kid.to_owned()]);
            assert_eq!(set.keys().next().unwrap().bits(), 2048);
        }
    }

    #[test]
    fn the_logged_sod_jwks_key_is_the_sod_certificate_key() {
        // The logged object uses "Keys" (IdentityModel's casing); rewrite it to a standard JWKS.
        let logged: serde_json::Value = serde_json::from_slice(SOD_JWKS_AS_LOGGED).unwrap();
        let jwks = serde_json::json!({ "keys": logged["Keys"] });
        let (set, skipped) = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
        assert!(skipped.is_empty());
        let from_jwks = set.keys().next().unwrap();
        assert_eq!(
            from_jwks.kid(),
            Some("16B7FB8C3F9AB06885A800C64E64C97C4AB5E98C")
        );
        // x5t "Frf7jD-asGiFqADGTmTJfEq16Yw" is the same thumbprint in base64url.
        assert_eq!(
            from_jwks.thumbprint(),
            Some("16B7FB8C3F9AB06885A800C64E64C97C4AB5E98C")
        );
        let from_cert = KeySet::from_certificates(SOD_CERT).unwrap();
        assert_eq!(
            from_cert.keys().next().unwrap().key.as_ref(),
            from_jwks.key.as_ref()
        );
    }

    #[test]
    fn der_certificates_are_accepted_too() {
        let pem = x509_parser::pem::parse_x509_pem(SOD_CERT).unwrap().1;
        let set = KeySet::from_certificates(&pem.contents).unwrap();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn policy_skips_keys_that_are_not_rs256_rsa_2048_plus() {
        let logged: serde_json::Value = serde_json::from_slice(SOD_JWKS_AS_LOGGED).unwrap();
        let good = &logged["Keys"][0];
        let n = good["n"].as_str().unwrap();
        let short_n = &n[..n.len() / 2];
        let jwks = serde_json::json!({"keys": [
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "hs", "alg": "HS256", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "weak", "n": short_n, "e": "AQAB"},
            {"kty": "RSA", "kid": "even-e", "n": n, "e": "AAI"},
            {"kty": "RSA", "kid": 7, "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "good", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "good", "n": n, "e": "AQAB"},
        ]});
        let (set, skipped) = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
        assert_eq!(set.kids(), vec!["good".to_owned()]);
        let reasons: Vec<_> = skipped.iter().map(|s| &s.reason).collect();
        assert!(matches!(reasons[0], KeyError::NotRsa(_)));
        assert!(matches!(reasons[1], KeyError::WrongUse(_)));
        assert!(matches!(reasons[2], KeyError::WrongUse(_)));
        assert!(matches!(reasons[3], KeyError::WeakKey(1024)));
        assert!(matches!(reasons[4], KeyError::Malformed(_)));
        assert!(matches!(reasons[5], KeyError::Malformed(_)));
        assert!(matches!(reasons[6], KeyError::Malformed(_)));
    }

    #[test]
    fn a_jwks_without_usable_keys_is_an_error() {
        assert!(matches!(
            KeySet::from_jwks(br#"{"keys":[]}"#),
            Err(KeyError::NoUsableKey(_))
        ));
        assert!(matches!(
            KeySet::from_jwks(b"not json"),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn lookups_are_exact() {
        let set = KeySet::from_certificates(SOD_CERT).unwrap();
        assert!(matches!(
            set.lookup(Some("16B7FB8C3F9AB06885A800C64E64C97C4AB5E98C"), None),
            Lookup::Found(_)
        ));
        for kid in [
            "../../../../dev/null",
            "/proc/self/environ",
            "' OR '1'='1",
            "{\"$ne\":null}",
            "abc\0def",
            "16B7FB8C3F9AB06885A800C64E64C97C4AB5E98",
        ] {
            assert!(
                matches!(set.lookup(Some(kid), None), Lookup::Unknown),
                "{kid}"
            );
        }
        let long = "A".repeat(10_000);
        assert!(matches!(set.lookup(Some(&long), None), Lookup::Unknown));
        assert!(matches!(
            set.lookup(None, Some("Frf7jD-asGiFqADGTmTJfEq16Yw")),
            Lookup::Found(_)
        ));
        assert!(matches!(set.lookup(None, None), Lookup::Found(_)));
    }
}
