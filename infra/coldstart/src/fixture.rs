//! The signing key, JWKS file and id_tokens the runner hands to the functions.
//!
//! Generated fresh for every run with [`superoffice::testing::TestSigner`]; a token is signed just
//! before each spawn, so it is valid whatever the length of the run (the validator refuses id_tokens
//! older than ten minutes).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use superoffice::clock::unix_seconds;
use superoffice::testing::TestSigner;

use crate::{CLIENT_ID, ENVIRONMENT_ISSUER, SUBJECT};

pub struct Fixture {
    signer: TestSigner,
    /// The nonce in the tokens.
    pub nonce: String,
    /// The nonce sent beside the token in the event; the same as `nonce` unless a test changes it.
    pub event_nonce: String,
    pub jwks_path: PathBuf,
}

impl Fixture {
    /// Generates an RSA-2048 key and writes its JWKS to `dir/jwks.json`.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let signer = TestSigner::generate("coldstart-bench");
        let jwks_path = dir.join("jwks.json");
        std::fs::write(&jwks_path, signer.jwks_json())?;
        let nonce = superoffice::oidc::random_token()
            .map_err(|e| std::io::Error::other(format!("nonce: {e}")))?;
        Ok(Self {
            signer,
            event_nonce: nonce.clone(),
            nonce,
            jwks_path,
        })
    }

    /// An id_token as SuperOffice's SOD environment would issue it for our client, valid from now.
    pub fn id_token(&self) -> String {
        let now = unix_seconds(SystemTime::now());
        self.signer.sign(&serde_json::json!({
            "iss": ENVIRONMENT_ISSUER,
            "aud": CLIENT_ID,
            "sub": SUBJECT,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "nonce": self.nonce,
        }))
    }

    /// The invocation event: `{"token": …, "nonce": …}` with a freshly signed token.
    pub fn event(&self) -> serde_json::Value {
        serde_json::json!({ "token": self.id_token(), "nonce": self.event_nonce })
    }
}
