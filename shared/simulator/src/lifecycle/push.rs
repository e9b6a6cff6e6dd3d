//! Sending one state-change push: the body, the signed token (and the ways a test can spoil it),
//! the POST with a timeout, and the report of what came back.

use std::sync::Arc;
use std::time::SystemTime;

use aws_lc_rs::hmac;
use axum::http::{HeaderValue, header};
use serde::Serialize;
use serde_json::{Map, Value, json};
use url::Url;

use super::{LifecycleError, StateChange, TOKEN_LIFETIME};
use crate::CLAIM_PREFIX;
use crate::keys::SigningKey;
use crate::state::AppState;
use crate::util::{b64url, clip, unix_now, unix_seconds};
use crate::webapi::webhooks::new_guid;

/// How much of the app's answer a [`PushDelivery`] keeps, in characters.
const ANSWER_KEPT: usize = 2000;
/// How many bytes of the answer are read (enough for [`ANSWER_KEPT`] characters of UTF-8).
const ANSWER_READ: usize = 4 * ANSWER_KEPT;

/// How the pushed `Token` is made. The default is the token described in the module docs; each
/// option spoils it in one way, so an app's tests can check that it refuses such a push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenOptions {
    /// Leave `aud` out.
    pub omit_aud: bool,
    /// Leave the `http://schemes.superoffice.net/identity/ctx` claim out.
    pub omit_ctx: bool,
    /// `iss` other than the simulator's issuer.
    pub issuer: Option<String>,
    /// `aud` other than the app's client id (another app's token).
    pub audience: Option<String>,
    /// The ctx claim other than the body's `ContextIdentifier` (a token about another tenant).
    pub context_id: Option<String>,
    /// `iat` and `nbf` (default: now). Without [`Self::expires_at`], `exp` follows: 5 minutes later.
    pub issued_at: Option<SystemTime>,
    /// `exp` (default: `iat` + 5 minutes). In the past for an expired token.
    pub expires_at: Option<SystemTime>,
    /// `jti` (default: a new random GUID). Fix it to send a replay with a fresh signature.
    pub jti: Option<String>,
    /// The header's `alg` (default `RS256`). `none` (any case) sends an unsigned token (empty
    /// signature); `HS256` signs with HMAC-SHA256 keyed with the signing key's public key as PEM
    /// text (the "alg confusion" attack); anything else is written in the header but the token is
    /// still signed RS256.
    pub alg: Option<String>,
    /// The header's `kid` (default: the signing key's). With [`Self::signed_with`] set to the
    /// current key's kid, the token claims a known key but is signed by another.
    pub kid: Option<String>,
    /// PKCS#8 DER of an RSA key to sign with instead of the simulator's current key (a key not in
    /// the JWKS). The header's `kid` and `x5t` are then that key's, unless [`Self::kid`] is set.
    pub signed_with: Option<Vec<u8>>,
    /// Send this string as the `Token`, whatever it is (a token captured earlier for a replay, or
    /// rubbish); every other option is then unused.
    pub custom: Option<String>,
}

impl TokenOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn without_aud(mut self) -> Self {
        self.omit_aud = true;
        self
    }

    pub fn without_ctx(mut self) -> Self {
        self.omit_ctx = true;
        self
    }

    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    pub fn context_id(mut self, ctx: impl Into<String>) -> Self {
        self.context_id = Some(ctx.into());
        self
    }

    pub fn issued_at(mut self, t: SystemTime) -> Self {
        self.issued_at = Some(t);
        self
    }

    pub fn expires_at(mut self, t: SystemTime) -> Self {
        self.expires_at = Some(t);
        self
    }

    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    pub fn alg(mut self, alg: impl Into<String>) -> Self {
        self.alg = Some(alg.into());
        self
    }

    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    pub fn signed_with(mut self, pkcs8_der: Vec<u8>) -> Self {
        self.signed_with = Some(pkcs8_der);
        self
    }

    pub fn custom(mut self, token: impl Into<String>) -> Self {
        self.custom = Some(token.into());
        self
    }
}

/// How a push is sent: to which app, with which token, and what body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushOptions {
    /// The app to push to (its client id). Default: the only app with a state-change URL.
    pub client_id: Option<String>,
    pub token: TokenOptions,
    /// Leave `PublicEndpoint` out, as the older documented example does.
    pub omit_public_endpoint: bool,
    /// Send these bytes as the body instead of the documented JSON (malformed, oversized, another
    /// shape), still as `application/json`. [`Self::token`] is then unused.
    pub raw_body: Option<Vec<u8>>,
}

impl PushOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn to_app(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn token(mut self, token: TokenOptions) -> Self {
        self.token = token;
        self
    }

    pub fn without_public_endpoint(mut self) -> Self {
        self.omit_public_endpoint = true;
        self
    }

    pub fn raw_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.raw_body = Some(body.into());
        self
    }
}

/// What the simulator sent and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushDelivery {
    /// The `ChangeType` sent (also for a raw body, which may say otherwise).
    #[serde(serialize_with = "change_name")]
    pub change: StateChange,
    pub context_id: String,
    /// The app pushed to.
    pub client_id: String,
    pub url: String,
    /// The app's HTTP status; `None` if it did not answer (connection refused, timeout).
    pub status: Option<u16>,
    /// Why there is no status (or, with one, why the answer broke off).
    pub error: Option<String>,
    /// The start of the app's answer (up to 2,000 characters, lossy UTF-8).
    pub response_body: String,
    /// The exact body sent (lossy UTF-8 for a raw body that is not UTF-8).
    pub request_body: String,
    /// The `Token` sent; `None` with a raw body.
    pub token: Option<String>,
}

fn change_name<S: serde::Serializer>(c: &StateChange, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

impl PushDelivery {
    /// The app answered with a 2xx status.
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The outcome in words, for people (the admin page).
    pub fn describe(&self) -> String {
        let sent = format!(
            "Sent ChangeType {} ({}) for {} to app {} at {}.",
            self.change.value(),
            self.change,
            self.context_id,
            self.client_id,
            self.url
        );
        let outcome = match (self.status, &self.error) {
            (Some(s), _) => {
                let reason = axum::http::StatusCode::from_u16(s)
                    .ok()
                    .and_then(|c| c.canonical_reason())
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default();
                let verdict = if self.accepted() {
                    "it accepted the notification"
                } else {
                    "it did not accept the notification"
                };
                let answer = if self.response_body.is_empty() {
                    " with an empty body".to_owned()
                } else {
                    format!(": {}", clip(&self.response_body, 300))
                };
                format!("The app answered HTTP {s}{reason} ({verdict}){answer}")
            }
            (None, Some(why)) => format!("The app did not answer: {why}."),
            (None, None) => "The app did not answer.".to_owned(),
        };
        format!("{sent} {outcome}")
    }
}

/// The documented body, `NotificationMessage`, in its documented order.
#[derive(Serialize)]
struct NotificationMessage<'a> {
    #[serde(rename = "ChangeType")]
    change_type: u8,
    #[serde(rename = "ContextIdentifier")]
    context_identifier: &'a str,
    #[serde(rename = "VersionName")]
    version_name: &'a str,
    #[serde(rename = "FileVersion")]
    file_version: &'a str,
    #[serde(rename = "Token")]
    token: &'a str,
    #[serde(rename = "PublicEndpoint", skip_serializing_if = "Option::is_none")]
    public_endpoint: Option<&'a str>,
}

/// A push whose target and options were checked; the body is made when it is sent, so that it
/// shows the tenant after the change (new host, new version).
pub(crate) struct Prepared {
    ctx: String,
    change: StateChange,
    client_id: String,
    url: Url,
    options: PushOptions,
    /// The key of [`TokenOptions::signed_with`], parsed.
    foreign_key: Option<Arc<SigningKey>>,
}

pub(crate) fn prepare(
    st: &AppState,
    ctx: &str,
    change: StateChange,
    options: &PushOptions,
) -> Result<Prepared, LifecycleError> {
    let (client_id, url) = st.push_target(options.client_id.as_deref())?;
    let foreign_key = match &options.token.signed_with {
        // Only parsing: no key generation here.
        Some(der) => {
            Some(Arc::new(SigningKey::from_pkcs8(der).map_err(|e| {
                LifecycleError::InvalidSigningKey(e.to_string())
            })?))
        }
        None => None,
    };
    Ok(Prepared {
        ctx: ctx.to_owned(),
        change,
        client_id,
        url,
        options: options.clone(),
        foreign_key,
    })
}

/// The token for `ctx` and `client_id` as `opts` asks.
fn token(
    st: &AppState,
    ctx: &str,
    client_id: &str,
    opts: &TokenOptions,
    foreign_key: Option<&Arc<SigningKey>>,
) -> Result<String, LifecycleError> {
    if let Some(custom) = &opts.custom {
        return Ok(custom.clone());
    }
    let iat = opts.issued_at.map_or_else(unix_now, unix_seconds);
    let lifetime = i64::try_from(TOKEN_LIFETIME.as_secs()).unwrap_or(300);
    let exp = opts
        .expires_at
        .map_or_else(|| iat.saturating_add(lifetime), unix_seconds);
    let mut claims = Map::new();
    claims.insert(
        "iss".into(),
        json!(
            opts.issuer
                .clone()
                .unwrap_or_else(|| st.issuer().to_owned())
        ),
    );
    if !opts.omit_aud {
        claims.insert(
            "aud".into(),
            json!(opts.audience.as_deref().unwrap_or(client_id)),
        );
    }
    claims.insert("iat".into(), json!(iat));
    claims.insert("nbf".into(), json!(iat));
    claims.insert("exp".into(), json!(exp));
    claims.insert(
        "jti".into(),
        json!(opts.jti.clone().unwrap_or_else(new_guid)),
    );
    if !opts.omit_ctx {
        claims.insert(
            format!("{CLAIM_PREFIX}ctx"),
            json!(opts.context_id.as_deref().unwrap_or(ctx)),
        );
    }
    let claims = Value::Object(claims);
    let key = match foreign_key {
        Some(k) => Arc::clone(k),
        None => st.current_key(),
    };
    let mut header = key.header();
    let alg = opts.alg.as_deref().unwrap_or("RS256");
    header["alg"] = json!(alg);
    if let Some(kid) = &opts.kid {
        header["kid"] = json!(kid);
    }
    let encode = |v: &Value| b64url(&serde_json::to_vec(v).unwrap_or_default());
    if alg.eq_ignore_ascii_case("none") {
        return Ok(format!("{}.{}.", encode(&header), encode(&claims)));
    }
    if alg == "HS256" {
        let input = format!("{}.{}", encode(&header), encode(&claims));
        let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, key.public_key_pem().as_bytes());
        let tag = hmac::sign(&hmac_key, input.as_bytes());
        return Ok(format!("{input}.{}", b64url(tag.as_ref())));
    }
    key.sign_jwt(&header, &claims)
        .map_err(|_| LifecycleError::InvalidSigningKey("RSA signing failed".into()))
}

/// Makes the body and POSTs it; `Err` only when nothing could be sent.
pub(crate) async fn send(st: &AppState, p: Prepared) -> Result<PushDelivery, LifecycleError> {
    let (body, token) = match &p.options.raw_body {
        Some(raw) => (raw.clone(), None),
        None => {
            let token = token(
                st,
                &p.ctx,
                &p.client_id,
                &p.options.token,
                p.foreign_key.as_ref(),
            )?;
            let version = st.lifecycle.crm_version();
            let endpoint = if p.options.omit_public_endpoint {
                None
            } else {
                Some(st.public_endpoint(&p.ctx)?)
            };
            let message = NotificationMessage {
                change_type: p.change.value(),
                context_identifier: &p.ctx,
                version_name: &version.version_name,
                file_version: &version.file_version,
                token: &token,
                public_endpoint: endpoint.as_deref(),
            };
            // Serialising strings and a number cannot fail.
            (
                serde_json::to_vec(&message).unwrap_or_default(),
                Some(token),
            )
        }
    };
    let result = st
        .webapi
        .http
        .post(p.url.clone())
        .timeout(st.lifecycle.timeout)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )
        .body(body.clone())
        .send()
        .await;
    let (status, error, response_body) = match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            // Only the start of the answer is kept, so only that much is read (an app answering
            // with a flood is not held in memory); all within the same timeout.
            let mut kept = Vec::new();
            let mut failure = None;
            while kept.len() < ANSWER_READ {
                match resp.chunk().await {
                    Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) => {
                        failure = Some(why(&e, st));
                        break;
                    }
                }
            }
            kept.truncate(ANSWER_READ);
            let text = clip(&String::from_utf8_lossy(&kept), ANSWER_KEPT);
            (Some(status), failure, text)
        }
        Err(e) => (None, Some(why(&e, st)), String::new()),
    };
    let delivery = PushDelivery {
        change: p.change,
        context_id: p.ctx,
        client_id: p.client_id,
        url: p.url.to_string(),
        status,
        error,
        response_body,
        request_body: String::from_utf8_lossy(&body).into_owned(),
        token,
    };
    tracing::info!(
        ctx = %delivery.context_id,
        change = %delivery.change,
        url = %delivery.url,
        status = ?delivery.status,
        error = ?delivery.error,
        "simulated state-change push"
    );
    Ok(delivery)
}

/// Why a request failed, with the causes reqwest's own message leaves out.
fn why(e: &reqwest::Error, st: &AppState) -> String {
    if e.is_timeout() {
        return format!(
            "no answer within {} ms (SimulatorConfig::state_change_timeout)",
            st.lifecycle.timeout.as_millis()
        );
    }
    let mut text = format!("connection failed: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    clip(&text, 500)
}
