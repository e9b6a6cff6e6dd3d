//! The `Token` of SuperOffice's tenant state-change push ("Customer state change" URL).
//!
//! SuperOffice documents only that the token is a JWT "to verify the sender", and its sample
//! validates it against the Federated Login certificate with the environment's issuer. Its claims
//! are not documented, so this checks what the documentation and the JWT rules make certain, and
//! binds what the token may carry:
//!
//! * the signature, by the same strict path as id_tokens (RS256 only, no keys or key URLs in the
//!   header, exact `kid` lookup in the environment's keys);
//! * `iss` exactly the environment's issuer: a push signed for another environment is refused;
//! * `exp` required and not passed (with the usual leeway), `nbf`/`iat` not in the future; a
//!   lifetime (`exp` from now) beyond [`MAX_LIFETIME`] is refused, so the replay cache that holds
//!   a token until it expires stays bounded;
//! * `aud`, when present, must name our client id (a push meant for another app is refused);
//!   absent is accepted, as the documentation does not promise one;
//! * the tenant claim (`…/identity/ctx`), when present, must be the push's `ContextIdentifier`
//!   (a token for one tenant cannot move, suspend or delete another).
//!
//! A replay (the same token twice) is the caller's to refuse: it keeps the token's digest until
//! [`StateChangeToken::expires_at`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::claims::ClaimReader;
use super::reason::shown;
use super::strict_json::Object;
use super::validate::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, check_times, verify_signature};
use super::{Reason, TokenError};
use crate::clock::{Clock, unix_seconds};
use crate::jwks::KeyStore;
use crate::keys::KeySet;
use crate::{Environment, TenantId};

/// The longest lifetime accepted for a push's token.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a state-change push's token must satisfy for one deployment.
#[derive(Debug, Clone)]
pub struct StateChangeRules {
    pub issuer: String,
    pub client_id: String,
    pub leeway: Duration,
    pub max_token_bytes: usize,
    pub max_lifetime: Duration,
}

impl StateChangeRules {
    pub fn new(environment: &Environment, client_id: impl Into<String>) -> Self {
        Self {
            issuer: environment.issuer(),
            client_id: client_id.into(),
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            max_lifetime: MAX_LIFETIME,
        }
    }
}

/// A push token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChangeToken {
    /// Unix seconds; the replay cache keeps the token until then (plus the leeway).
    pub expires_at: i64,
    /// Whether the token named the tenant (`ctx`), for the log.
    pub names_tenant: bool,
    /// Whether the token named an audience, for the log.
    pub has_audience: bool,
}

/// Validates a push's token for `tenant` (the push's `ContextIdentifier`).
pub fn validate_state_change_token(
    token: &str,
    keys: &KeySet,
    rules: &StateChangeRules,
    now: SystemTime,
    tenant: &TenantId,
) -> Result<StateChangeToken, Reason> {
    let payload = verify_signature(token, keys, rules.max_token_bytes)?;
    let claims = Object::parse(&payload, "payload")?;
    let r = ClaimReader(&claims);
    let now = unix_seconds(now);
    let issuer = r.required_string("iss")?;
    if issuer != rules.issuer {
        return Err(Reason::WrongIssuer {
            found: shown(&issuer),
            expected: rules.issuer.clone(),
        });
    }
    let (_, expires_at, _) = check_times(&r, now, rules.leeway.as_secs())?;
    if expires_at.saturating_sub(now) > rules.max_lifetime.as_secs() as i64 {
        return Err(Reason::InvalidClaim {
            claim: "exp",
            why: "is further away than any push token needs",
        });
    }
    let has_audience = !matches!(r.audience(), Err(Reason::MissingClaim("aud")));
    if has_audience {
        let audience = r.audience()?;
        if !audience.iter().any(|a| a == &rules.client_id) {
            return Err(Reason::WrongAudience {
                found: audience.iter().map(|a| shown(a)).collect(),
                expected: rules.client_id.clone(),
            });
        }
    }
    let so = r.superoffice()?;
    if let Some(found) = &so.tenant
        && found != tenant
    {
        return Err(Reason::ContextMismatch {
            found: shown(found.as_str()),
            expected: tenant.to_string(),
        });
    }
    Ok(StateChangeToken {
        expires_at,
        names_tenant: so.tenant.is_some(),
        has_audience,
    })
}

/// Validates push tokens with the live key store (one retry after a refresh for an unknown `kid`).
pub struct StateChangeValidator {
    rules: StateChangeRules,
    keys: Arc<KeyStore>,
    clock: Arc<dyn Clock>,
}

impl StateChangeValidator {
    pub fn new(rules: StateChangeRules, keys: Arc<KeyStore>, clock: Arc<dyn Clock>) -> Self {
        Self { rules, keys, clock }
    }

    pub fn rules(&self) -> &StateChangeRules {
        &self.rules
    }

    pub async fn validate(
        &self,
        token: &str,
        tenant: &TenantId,
    ) -> Result<StateChangeToken, TokenError> {
        let snap = self
            .keys
            .current()
            .await
            .map_err(TokenError::KeysUnavailable)?;
        let check = |keys: &KeySet| {
            validate_state_change_token(token, keys, &self.rules, self.clock.now(), tenant)
        };
        match check(&snap.keys) {
            Err(Reason::UnknownKid(kid)) => {
                match self.keys.refresh_for_unknown_kid(snap.generation).await {
                    Some(fresh) => check(&fresh.keys).map_err(TokenError::Invalid),
                    None => Err(TokenError::Invalid(Reason::UnknownKid(kid))),
                }
            }
            other => other.map_err(TokenError::Invalid),
        }
    }
}
