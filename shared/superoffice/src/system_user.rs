//! The system user: back-channel access to a tenant without a signed-in person.
//!
//! After a tenant's administrator approves the app, every id_token for that tenant carries a
//! `system_token` claim. To act as the system user we sign `"{system_token}.{yyyyMMddHHmm}"` (UTC) with
//! the app's RSA private key (PKCS#1 v1.5, SHA-256, standard base64), post it to
//! `PartnerSystemUser/Authenticate`, validate the JWT that comes back (issuer `SuperOffice AS`,
//! audience `spn:{serial}`) and take its `ticket` claim.
//!
//! Tickets live 6 hours with a sliding expiry, so they are cached per tenant and refreshed only when
//! unused for too long or when the WebAPI answers 401, never fetched per call. Concurrent callers for
//! one tenant share one fetch.
//!
//! The returned JWT must be for the tenant we asked for (`ctx`, required) and for its database: the
//! serial is compared with the one the tenant's administrator's id_token carried at consent, which
//! the app keeps ([`KnownSerials`]), not with the token's own `serial` claim (a token that names its
//! own audience proves nothing about whose it is).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair, RsaSubjectPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::clock::{BoxFuture, Clock};
use crate::jwks::KeyStore;
use crate::jwt::{Reason, SystemUserRules, validate_system_user_token};
use crate::retry::{GiveUp, Retrier, RetryError};
use crate::transport::{HttpRequest, Transport};
use crate::{Environment, Secret, TenantId};

/// Tickets unused for this long are fetched anew (SuperOffice's sliding limit is 6 h).
pub const TICKET_IDLE_LIMIT: Duration = Duration::from_secs(6 * 3600 - 10 * 60);

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("the private key is not PEM (PKCS#1 or PKCS#8) or an RSA XML key: {0}")]
    Unreadable(String),
    #[error("the private key was refused: {0}")]
    Rejected(String),
    #[error("the private key has {0} bits; at least 2048 are required")]
    Weak(usize),
}

/// The app's RSA private key for signing system-user tokens.
pub struct SystemUserKey {
    pair: RsaKeyPair,
}

impl std::fmt::Debug for SystemUserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SystemUserKey({} bits)", self.bits())
    }
}

impl SystemUserKey {
    /// Reads a key as partners hold it: PEM `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8), or
    /// the `<RSAKeyValue>` XML the SuperOffice Developer Portal hands out.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyFileError> {
        let text = std::str::from_utf8(bytes).unwrap_or("");
        let pair = if text.contains("<RSAKeyValue>") {
            from_rsa_xml(text)?
        } else if text.contains("-----BEGIN") {
            let (_, pem) = x509_parser::pem::parse_x509_pem(bytes)
                .map_err(|e| KeyFileError::Unreadable(e.to_string()))?;
            match pem.label.as_str() {
                "RSA PRIVATE KEY" => RsaKeyPair::from_der(&pem.contents),
                "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&pem.contents),
                other => {
                    return Err(KeyFileError::Unreadable(format!(
                        "a PEM block labelled {other:?}"
                    )));
                }
            }
            .map_err(|e| KeyFileError::Rejected(e.to_string()))?
        } else {
            RsaKeyPair::from_pkcs8(bytes)
                .or_else(|_| RsaKeyPair::from_der(bytes))
                .map_err(|e| KeyFileError::Unreadable(e.to_string()))?
        };
        let key = Self { pair };
        if key.bits() < 2048 {
            return Err(KeyFileError::Weak(key.bits()));
        }
        Ok(key)
    }

    pub fn bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }

    /// The public key as SubjectPublicKeyInfo DER (what the Developer Portal registers).
    pub fn public_key_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer;
        let public: &RsaSubjectPublicKey = self.pair.public_key();
        public
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default()
    }

    /// PKCS#1 v1.5 with SHA-256 over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyFileError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
            .map_err(|e| KeyFileError::Rejected(e.to_string()))?;
        Ok(sig)
    }
}

/// `{system_token}.{yyyyMMddHHmm}.{base64(signature)}`, the timestamp in UTC.
pub fn sign_system_token(
    key: &SystemUserKey,
    system_token: &Secret,
    now: SystemTime,
) -> Result<Secret, KeyFileError> {
    let stamp = time::OffsetDateTime::from(now)
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute]"
        ))
        .map_err(|e| KeyFileError::Rejected(e.to_string()))?;
    let data = format!("{}.{stamp}", system_token.expose());
    let sig = key.sign(data.as_bytes())?;
    Ok(Secret::new(format!("{data}.{}", STANDARD.encode(sig))))
}

fn from_rsa_xml(xml: &str) -> Result<RsaKeyPair, KeyFileError> {
    let field = |name: &str| -> Result<Vec<u8>, KeyFileError> {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = xml
            .find(&open)
            .ok_or_else(|| KeyFileError::Unreadable(format!("RSA XML has no <{name}>")))?
            + open.len();
        let end = xml[start..]
            .find(&close)
            .ok_or_else(|| KeyFileError::Unreadable(format!("RSA XML has no </{name}>")))?;
        let b64: String = xml[start..start + end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        STANDARD
            .decode(b64)
            .map_err(|_| KeyFileError::Unreadable(format!("RSA XML <{name}> is not base64")))
    };
    let components = aws_lc_rs::rsa::KeyPairComponents {
        public_key: aws_lc_rs::rsa::PublicKeyComponents {
            n: field("Modulus")?,
            e: field("Exponent")?,
        },
        d: field("D")?,
        p: field("P")?,
        q: field("Q")?,
        dP: field("DP")?,
        dQ: field("DQ")?,
        qInv: field("InverseQ")?,
    };
    RsaKeyPair::from_components(&components).map_err(|e| KeyFileError::Rejected(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum SystemUserError {
    /// SuperOffice refused: consent revoked, wrong app token, bad signature or clock. The message is
    /// SuperOffice's own; an administrator may have to approve the app again.
    #[error("SuperOffice refused the system user: {message}")]
    Refused { message: String },
    /// The tenant's id_token carried no `system_token`: the app lacks the claim or consent.
    #[error("no system token is known for this tenant")]
    NoSystemToken,
    #[error("SuperOffice's system-user service is unavailable")]
    Unavailable(#[source] RetryError),
    #[error("the system-user service answered HTTP {0}")]
    UnexpectedStatus(u16),
    #[error("the system-user answer is not valid: {0}")]
    InvalidResponse(String),
    #[error("the returned token is not valid: {0}")]
    InvalidToken(Reason),
    #[error("signing keys are unavailable")]
    KeysUnavailable(#[source] crate::jwks::KeysUnavailable),
    #[error("the system-user token could not be signed")]
    Signing(#[source] KeyFileError),
}

impl SystemUserError {
    pub fn code(&self) -> &'static str {
        match self {
            SystemUserError::Refused { .. } => "system_user_refused",
            SystemUserError::NoSystemToken => "no_system_token",
            SystemUserError::Unavailable(RetryError::Throttled { .. }) => "throttled",
            SystemUserError::Unavailable(_) | SystemUserError::UnexpectedStatus(_) => {
                "system_user_unavailable"
            }
            SystemUserError::InvalidResponse(_) => "system_user_response_invalid",
            SystemUserError::InvalidToken(_) => "system_user_token_invalid",
            SystemUserError::KeysUnavailable(_) => "keys_unavailable",
            SystemUserError::Signing(_) => "signing_failed",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AuthenticateRequest<'a> {
    signed_system_token: &'a str,
    application_token: &'a str,
    context_identifier: &'a str,
    return_token_type: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AuthenticateResponse {
    is_successful: bool,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

/// Where the client learns each tenant's database serial (the app's store: the serial of the
/// administrator's id_token at consent).
pub trait KnownSerials: Send + Sync + 'static {
    /// The tenant's serial, `Ok(None)` when none is recorded, `Err` (a reason code) when the store
    /// cannot say.
    fn serial<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<String>, &'static str>>;
}

#[derive(Clone)]
struct CachedTicket {
    ticket: Secret,
    last_used: SystemTime,
}

pub struct SystemUserClient {
    env: Environment,
    transport: Arc<dyn Transport>,
    retrier: Arc<Retrier>,
    keys: Arc<KeyStore>,
    clock: Arc<dyn Clock>,
    app_token: Secret,
    private_key: Arc<SystemUserKey>,
    timeout: Duration,
    serials: Option<Arc<dyn KnownSerials>>,
    tickets: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<Option<CachedTicket>>>>>,
}

pub struct SystemUserClientParts {
    pub env: Environment,
    pub transport: Arc<dyn Transport>,
    pub retrier: Arc<Retrier>,
    pub keys: Arc<KeyStore>,
    pub clock: Arc<dyn Clock>,
    /// The client secret ("application token").
    pub app_token: Secret,
    pub private_key: Arc<SystemUserKey>,
    pub timeout: Duration,
    /// Each tenant's known serial; without it (tools, tests) only `ctx` and the token's
    /// consistency are checked.
    pub serials: Option<Arc<dyn KnownSerials>>,
}

impl SystemUserClient {
    pub fn new(p: SystemUserClientParts) -> Self {
        Self {
            env: p.env,
            transport: p.transport,
            retrier: p.retrier,
            keys: p.keys,
            clock: p.clock,
            app_token: p.app_token,
            private_key: p.private_key,
            timeout: p.timeout,
            serials: p.serials,
            tickets: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, ctx: &TenantId) -> Arc<tokio::sync::Mutex<Option<CachedTicket>>> {
        self.tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(ctx.clone())
            .or_default()
            .clone()
    }

    /// A ticket for the tenant: cached while in use, fetched when missing or idle too long.
    pub async fn ticket(
        &self,
        ctx: &TenantId,
        system_token: &Secret,
        deadline: Option<SystemTime>,
    ) -> Result<Secret, SystemUserError> {
        let slot = self.slot(ctx);
        let mut cached = slot.lock().await;
        let now = self.clock.now();
        if let Some(c) = cached.as_mut()
            && now.duration_since(c.last_used).unwrap_or_default() < TICKET_IDLE_LIMIT
        {
            c.last_used = now;
            return Ok(c.ticket.clone());
        }
        let ticket = self.authenticate(ctx, system_token, deadline).await?;
        *cached = Some(CachedTicket {
            ticket: ticket.clone(),
            last_used: self.clock.now(),
        });
        Ok(ticket)
    }

    /// Drops the cached ticket (the WebAPI answered 401 with it).
    pub async fn invalidate(&self, ctx: &TenantId) {
        *self.slot(ctx).lock().await = None;
    }

    /// One PartnerSystemUser/Authenticate exchange, uncached.
    pub async fn authenticate(
        &self,
        ctx: &TenantId,
        system_token: &Secret,
        deadline: Option<SystemTime>,
    ) -> Result<Secret, SystemUserError> {
        if system_token.is_empty() {
            return Err(SystemUserError::NoSystemToken);
        }
        let url = self.env.system_user_url();
        let response = self
            .retrier
            .run(deadline, |attempt| {
                // Signed per attempt: the timestamp must be current when SuperOffice checks it.
                let request = sign_system_token(&self.private_key, system_token, self.clock.now())
                    .map(|signed| {
                        HttpRequest::new(
                            http::Method::POST,
                            url.clone(),
                            attempt.timeout(self.timeout),
                        )
                        .accept_json()
                        .max_response_bytes(64 * 1024)
                        .json_body(&AuthenticateRequest {
                            signed_system_token: signed.expose(),
                            application_token: self.app_token.expose(),
                            context_identifier: ctx.as_str(),
                            return_token_type: "JWT",
                        })
                    });
                match request {
                    Ok(request) => self.transport.send(request),
                    // Signing cannot fail for a key that loaded; answer as a local failure.
                    Err(e) => Box::pin(async move {
                        Err(crate::transport::TransportError::Connect(Box::new(e)))
                    }),
                }
            })
            .await
            .map_err(SystemUserError::Unavailable)?;
        if !response.status.is_success() {
            return Err(SystemUserError::UnexpectedStatus(response.status.as_u16()));
        }
        let answer: AuthenticateResponse = serde_json::from_slice(&response.body)
            .map_err(|e| SystemUserError::InvalidResponse(e.to_string()))?;
        if !answer.is_successful {
            return Err(SystemUserError::Refused {
                message: answer
                    .error_message
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect(),
            });
        }
        let token = answer
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SystemUserError::InvalidResponse("no Token".into()))?;
        let rules = SystemUserRules::new(ctx.clone(), self.known_serial(ctx).await?);
        let snap = self
            .keys
            .current()
            .await
            .map_err(SystemUserError::KeysUnavailable)?;
        let validated =
            match validate_system_user_token(&token, &snap.keys, &rules, self.clock.now()) {
                Err(Reason::UnknownKid(kid)) => {
                    match self.keys.refresh_for_unknown_kid(snap.generation).await {
                        Some(fresh) => validate_system_user_token(
                            &token,
                            &fresh.keys,
                            &rules,
                            self.clock.now(),
                        ),
                        None => Err(Reason::UnknownKid(kid)),
                    }
                }
                other => other,
            }
            .map_err(SystemUserError::InvalidToken)?;
        Ok(validated.ticket)
    }

    async fn known_serial(&self, ctx: &TenantId) -> Result<Option<String>, SystemUserError> {
        let Some(serials) = &self.serials else {
            return Ok(None);
        };
        match serials.serial(ctx).await {
            Ok(Some(serial)) => Ok(Some(serial)),
            Ok(None) => {
                // Tenants that consented before serials were recorded: their next administrator
                // sign-in records it. Until then the token's `ctx` is still checked.
                tracing::warn!(reason = "serial_unknown", tenant = %ctx, "no database serial is recorded for the tenant");
                Ok(None)
            }
            // The store cannot say now: a wait, like SuperOffice being unavailable.
            Err(code) => Err(SystemUserError::Unavailable(RetryError::Unavailable {
                retry_after: None,
                last: code.to_owned(),
                why: GiveUp::AttemptsExhausted,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_token_has_the_documented_shape() {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        use aws_lc_rs::encoding::AsDer;
        let pkcs8 = pair.as_der().unwrap();
        let key = SystemUserKey::from_bytes(pkcs8.as_ref()).unwrap();
        let at = crate::clock::from_unix_seconds(1_581_665_207); // 2020-02-14 07:26:47 UTC
        let signed = sign_system_token(&key, &Secret::new("Demo App-8k8Q7DmBgo"), at).unwrap();
        let (data, sig) = signed.expose().rsplit_once('.').unwrap();
        assert_eq!(data, "Demo App-8k8Q7DmBgo.202002140726");
        let sig = STANDARD.decode(sig).unwrap();
        assert_eq!(sig.len(), 256);
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            key.public_key_der(),
        );
        public.verify(data.as_bytes(), &sig).unwrap();
    }

    #[test]
    fn unreadable_keys_say_why() {
        assert!(matches!(
            SystemUserKey::from_bytes(b"nonsense"),
            Err(KeyFileError::Unreadable(_))
        ));
        assert!(matches!(
            SystemUserKey::from_bytes(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            ),
            Err(KeyFileError::Unreadable(_))
        ));
        assert!(
            SystemUserKey::from_bytes(b"<RSAKeyValue><Modulus>AQAB</Modulus></RSAKeyValue>")
                .is_err()
        );
    }
}
