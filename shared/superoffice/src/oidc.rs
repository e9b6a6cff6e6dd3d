//! Sending a user to SuperOffice to sign in, and turning the returned code into tokens.
//!
//! The authorization code flow with PKCE S256, `state` and `nonce`, and `response_mode=form_post`:
//! the code arrives in a POST body (not in a URL that lands in logs and `Referer` headers). The code
//! exchange is attempted exactly once: codes are single-use, so a "retry" after a lost answer would
//! only earn `invalid_grant` and hide the real failure.

use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use url::Url;

use crate::discovery::Discovery;
use crate::transport::{HttpRequest, Transport, TransportError};
use crate::{Secret, TenantId};

/// A prepared redirect to the authorize endpoint and the values to remember for the callback.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub code_verifier: Secret,
}

#[derive(Debug, Clone, Default)]
pub struct AuthorizeOptions<'a> {
    /// SuperID user name to prefill.
    pub login_hint: Option<&'a str>,
    /// Skip tenant selection (`acr_values=tenant:Cust12345`).
    pub tenant: Option<&'a TenantId>,
    /// OIDC `max_age` in seconds: SuperOffice must authenticate the user again when its own sign-in
    /// is older, and the id_token then carries `auth_time` (OpenID Connect Core §3.1.2.1).
    pub max_age: Option<u64>,
}

/// The values one sign-in is bound by, made by the caller (the redirect function derives them from
/// the browser's sign-in cookie).
#[derive(Debug, Clone, Copy)]
pub struct SignInValues<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_verifier: &'a Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The token endpoint refused the code (expired, reused, wrong PKCE verifier…): start a new sign-in.
    #[error("the token endpoint refused the request: {error}")]
    Rejected {
        error: String,
        description: Option<String>,
    },
    /// The token endpoint refused our client credentials: the deployment's client id or secret is wrong.
    #[error("the token endpoint refused our client credentials")]
    ClientRejected,
    /// SuperOffice could not be reached or failed; try again later.
    #[error("the token endpoint is unavailable")]
    Unavailable(#[source] TransportError),
    #[error("the token endpoint answered HTTP {0}")]
    UnavailableStatus(u16),
    /// The answer was not a token response we understand.
    #[error("the token response is not valid: {0}")]
    InvalidResponse(String),
    #[error("no randomness available for state, nonce and PKCE")]
    Randomness,
}

impl OidcError {
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Rejected { .. } => "code_rejected",
            OidcError::ClientRejected => "client_rejected",
            OidcError::Unavailable(_) | OidcError::UnavailableStatus(_) => {
                "token_endpoint_unavailable"
            }
            OidcError::InvalidResponse(_) => "token_response_invalid",
            OidcError::Randomness => "no_randomness",
        }
    }
}

/// 256 random bits, base64url: for `state`, `nonce`, PKCE verifiers and session ids.
pub fn random_token() -> Result<String, OidcError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| OidcError::Randomness)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// `base64url(SHA-256(verifier))` (RFC 7636 S256).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Builds the authorize URL with fresh `state`, `nonce` and PKCE verifier.
pub fn authorization_request(
    discovery: &Discovery,
    client_id: &str,
    redirect_uri: &Url,
    options: &AuthorizeOptions<'_>,
) -> Result<AuthorizationRequest, OidcError> {
    let state = random_token()?;
    let nonce = random_token()?;
    let code_verifier = Secret::new(random_token()?);
    let url = authorization_url(
        discovery,
        client_id,
        redirect_uri,
        SignInValues {
            state: &state,
            nonce: &nonce,
            code_verifier: &code_verifier,
        },
        options,
    );
    Ok(AuthorizationRequest {
        url,
        state,
        nonce,
        code_verifier,
    })
}

/// The authorize URL for a sign-in whose `state`, `nonce` and PKCE verifier the caller made.
pub fn authorization_url(
    discovery: &Discovery,
    client_id: &str,
    redirect_uri: &Url,
    values: SignInValues<'_>,
    options: &AuthorizeOptions<'_>,
) -> Url {
    let mut url = discovery.authorization_endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", client_id)
            .append_pair("scope", "openid")
            .append_pair("response_type", "code")
            .append_pair("response_mode", "form_post")
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("state", values.state)
            .append_pair("nonce", values.nonce)
            .append_pair(
                "code_challenge",
                &pkce_challenge(values.code_verifier.expose()),
            )
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = options.login_hint {
            q.append_pair("login_hint", hint);
        }
        if let Some(tenant) = options.tenant {
            q.append_pair("acr_values", &format!("tenant:{tenant}"));
        }
        if let Some(max_age) = options.max_age {
            q.append_pair("max_age", &max_age.to_string());
        }
    }
    url
}

/// The token endpoint's answer. Every token is a [`Secret`].
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token_type: Option<String>,
    pub access_token: Option<Secret>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    pub id_token: Option<Secret>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

pub struct CodeExchange<'a> {
    pub token_endpoint: &'a Url,
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
    pub code: &'a str,
    pub redirect_uri: &'a Url,
    pub code_verifier: &'a Secret,
    pub timeout: Duration,
}

/// Exchanges an authorization code (client_secret_post, as SuperOffice documents it). One attempt.
pub async fn exchange_code(
    transport: &dyn Transport,
    x: CodeExchange<'_>,
) -> Result<TokenResponse, OidcError> {
    let request = HttpRequest::new(http::Method::POST, x.token_endpoint.clone(), x.timeout)
        .accept_json()
        .max_response_bytes(64 * 1024)
        .form_body(&[
            ("grant_type", "authorization_code"),
            ("client_id", x.client_id),
            ("client_secret", x.client_secret.expose()),
            ("code", x.code),
            ("redirect_uri", x.redirect_uri.as_str()),
            ("code_verifier", x.code_verifier.expose()),
        ]);
    let response = transport
        .send(request)
        .await
        .map_err(OidcError::Unavailable)?;
    let status = response.status.as_u16();
    match status {
        200 => {
            let tokens: TokenResponse = serde_json::from_slice(&response.body)
                .map_err(|e| OidcError::InvalidResponse(e.to_string()))?;
            if tokens.id_token.as_ref().is_none_or(Secret::is_empty) {
                return Err(OidcError::InvalidResponse("no id_token".into()));
            }
            Ok(tokens)
        }
        400..=499 => {
            let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
            match body {
                Some(b) if b.error == "invalid_client" => Err(OidcError::ClientRejected),
                Some(b) => Err(OidcError::Rejected {
                    error: b.error.chars().take(64).collect(),
                    description: b.error_description.map(|d| d.chars().take(200).collect()),
                }),
                None if status == 401 => Err(OidcError::ClientRejected),
                None => Err(OidcError::Rejected {
                    error: format!("http_{status}"),
                    description: None,
                }),
            }
        }
        _ => Err(OidcError::UnavailableStatus(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery() -> Discovery {
        Discovery {
            issuer: "https://sod.superoffice.com".into(),
            authorization_endpoint: Url::parse(
                "https://sod.superoffice.com/login/common/oauth/authorize",
            )
            .unwrap(),
            token_endpoint: Url::parse("https://sod.superoffice.com/login/common/oauth/tokens")
                .unwrap(),
            jwks_uri: Url::parse("https://sod.superoffice.com/login/.well-known/jwks").unwrap(),
            end_session_endpoint: None,
            code_challenge_methods: vec![],
            response_modes: vec![],
        }
    }

    #[test]
    fn pkce_matches_the_rfc_7636_example() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_authorize_url_carries_everything_the_flow_needs() {
        let redirect = Url::parse("https://app.example/callback").unwrap();
        let ctx = TenantId::parse("Cust12345").unwrap();
        let req = authorization_request(
            &discovery(),
            "c789b7d98f3c496fb5aaa4b1a81ca11b",
            &redirect,
            &AuthorizeOptions {
                login_hint: None,
                tenant: Some(&ctx),
                max_age: Some(300),
            },
        )
        .unwrap();
        let q: std::collections::HashMap<_, _> = req.url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["response_mode"], "form_post");
        assert_eq!(q["scope"], "openid");
        assert_eq!(q["redirect_uri"], "https://app.example/callback");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["code_challenge"],
            pkce_challenge(req.code_verifier.expose())
        );
        assert_eq!(q["state"], req.state);
        assert_eq!(q["nonce"], req.nonce);
        assert_eq!(q["acr_values"], "tenant:Cust12345");
        assert_eq!(q["max_age"], "300");
        assert_eq!(req.state.len(), 43);
        assert_ne!(req.state, req.nonce);
    }
}
