//! Test support: forge tokens with a generated RSA key, and a transport that answers from a script
//! and counts what was sent. Compiled only with the `testing` feature.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::BoxFuture;
use crate::keys::{KeySet, VerifyingKey};
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA-2048 key pair that signs tokens the way SuperOffice does (RS256).
pub struct TestSigner {
    pub pair: RsaKeyPair,
    pub kid: String,
}

impl TestSigner {
    pub fn generate(kid: &str) -> Self {
        Self {
            pair: RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("RSA key generation"),
            kid: kid.to_owned(),
        }
    }

    /// SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair
            .public_key()
            .as_der()
            .expect("public key DER")
            .as_ref()
            .to_vec()
    }

    pub fn pkcs8_der(&self) -> Vec<u8> {
        self.pair.as_der().expect("PKCS#8").as_ref().to_vec()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_spki_der(&self.public_key_der(), Some(self.kid.clone()))
            .expect("own key")
    }

    pub fn key_set(&self) -> KeySet {
        let mut set = KeySet::default();
        set.insert(self.verifying_key());
        set
    }

    /// `{"keys":[…]}` with this key (`kty`, `use`, `alg`, `kid`, `n`, `e`).
    pub fn jwks_json(&self) -> String {
        use x509_parser::prelude::FromDer;
        let der = self.public_key_der();
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).expect("spki");
        let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = spki.parsed() else {
            panic!("not RSA")
        };
        let strip = |b: &[u8]| {
            b.iter()
                .skip_while(|x| **x == 0)
                .copied()
                .collect::<Vec<_>>()
        };
        serde_json::json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": b64url(&strip(rsa.modulus)), "e": b64url(&strip(rsa.exponent)),
        }]})
        .to_string()
    }

    pub fn sign_input(&self, input: &str) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
            .expect("sign");
        sig
    }

    /// Signs raw header and payload JSON text (so tests can send duplicate keys, odd types…).
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.as_bytes()),
            b64url(payload.as_bytes())
        );
        let sig = self.sign_input(&input);
        format!("{input}.{}", b64url(&sig))
    }

    /// The usual header: `{"alg":"RS256","kid":…,"typ":"JWT"}`.
    pub fn header(&self) -> String {
        serde_json::json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"}).to_string()
    }

    pub fn sign(&self, payload: &serde_json::Value) -> String {
        self.sign_raw(&self.header(), &payload.to_string())
    }
}

/// A transport that answers from a queue (or a fixed answer) and records every request.
#[derive(Default)]
pub struct ScriptedTransport {
    answers: Mutex<VecDeque<Result<HttpResponse, TransportError>>>,
    fallback: Mutex<Option<(u16, String)>>,
    sent: Mutex<Vec<HttpRequest>>,
}

impl ScriptedTransport {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Every request without a queued answer gets this.
    pub fn always(self: &Arc<Self>, status: u16, body: &str) -> Arc<Self> {
        *self.fallback.lock().unwrap() = Some((status, body.to_owned()));
        self.clone()
    }

    pub fn push(&self, answer: Result<HttpResponse, TransportError>) {
        self.answers.lock().unwrap().push_back(answer);
    }

    pub fn push_status(&self, status: u16, body: &str) {
        self.push(Ok(HttpResponse::new(
            http::StatusCode::from_u16(status).expect("status"),
            body.to_owned(),
        )));
    }

    pub fn sent(&self) -> Vec<HttpRequest> {
        self.sent.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

impl Transport for ScriptedTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.sent.lock().unwrap().push(request);
        let answer = self.answers.lock().unwrap().pop_front().unwrap_or_else(|| {
            match self.fallback.lock().unwrap().clone() {
                Some((status, body)) => Ok(HttpResponse::new(
                    http::StatusCode::from_u16(status).expect("status"),
                    body,
                )),
                None => Err(TransportError::Connect("no scripted answer".into())),
            }
        });
        Box::pin(std::future::ready(answer))
    }
}
