//! Validation with the live key store: one retry after a refresh when the `kid` is unknown.

use std::sync::Arc;

use super::{IdToken, IdTokenRules, Reason, validate_id_token};
use crate::clock::Clock;
use crate::jwks::{KeyStore, KeysUnavailable};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is not acceptable; show a generic message, log the reason code.
    #[error("invalid token: {0}")]
    Invalid(Reason),
    /// We could not load any signing keys; the user may try again shortly.
    #[error("signing keys are unavailable")]
    KeysUnavailable(#[source] KeysUnavailable),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Invalid(r) => r.code(),
            TokenError::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

/// Validates id_tokens for one deployment (issuer, client id and key source pinned).
pub struct IdTokenValidator {
    rules: IdTokenRules,
    keys: Arc<KeyStore>,
    clock: Arc<dyn Clock>,
}

impl IdTokenValidator {
    pub fn new(rules: IdTokenRules, keys: Arc<KeyStore>, clock: Arc<dyn Clock>) -> Self {
        Self { rules, keys, clock }
    }

    pub fn rules(&self) -> &IdTokenRules {
        &self.rules
    }

    pub fn key_store(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    pub async fn validate(
        &self,
        token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<IdToken, TokenError> {
        let snap = self
            .keys
            .current()
            .await
            .map_err(TokenError::KeysUnavailable)?;
        match validate_id_token(
            token,
            &snap.keys,
            &self.rules,
            self.clock.now(),
            expected_nonce,
        ) {
            Err(Reason::UnknownKid(kid)) => {
                match self.keys.refresh_for_unknown_kid(snap.generation).await {
                    Some(fresh) => validate_id_token(
                        token,
                        &fresh.keys,
                        &self.rules,
                        self.clock.now(),
                        expected_nonce,
                    )
                    .map_err(TokenError::Invalid),
                    None => Err(TokenError::Invalid(Reason::UnknownKid(kid))),
                }
            }
            other => other.map_err(TokenError::Invalid),
        }
    }
}
