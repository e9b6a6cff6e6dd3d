//! OpenID Connect discovery: endpoints come from `{base}/login/.well-known/openid-configuration`.
//!
//! The document is trusted only as far as the environment allows: its `issuer` must be exactly the
//! pinned issuer, and every endpoint must lie on the environment's hosts (HTTPS under
//! `superoffice.com`, or the custom base URL's own host). A tampered or misrouted document therefore
//! cannot send our client secret or users elsewhere.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::Environment;
use crate::transport::{HttpRequest, Transport, TransportError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub end_session_endpoint: Option<Url>,
    pub code_challenge_methods: Vec<String>,
    pub response_modes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the discovery document could not be fetched from {url}")]
    Unreachable {
        url: Url,
        #[source]
        source: TransportError,
    },
    #[error("the discovery document at {url} answered HTTP {status}")]
    Status { url: Url, status: u16 },
    #[error("the discovery document is not valid: {0}")]
    Invalid(String),
    #[error("the discovery document names issuer {found:?}; this deployment pins {expected:?}")]
    IssuerMismatch { found: String, expected: String },
    #[error("the discovery document's {field} {url} is outside this environment's hosts")]
    EndpointNotAllowed { field: &'static str, url: String },
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    end_session_endpoint: Option<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    response_modes_supported: Vec<String>,
}

impl Discovery {
    /// Parses and checks a discovery document for `env`.
    pub fn from_json(env: &Environment, body: &[u8]) -> Result<Self, DiscoveryError> {
        let doc: Document =
            serde_json::from_slice(body).map_err(|e| DiscoveryError::Invalid(e.to_string()))?;
        let expected = env.issuer();
        if doc.issuer != expected {
            return Err(DiscoveryError::IssuerMismatch {
                found: doc.issuer,
                expected,
            });
        }
        let endpoint = |field: &'static str, value: &str| -> Result<Url, DiscoveryError> {
            let url = Url::parse(value)
                .map_err(|_| DiscoveryError::Invalid(format!("{field} is not a URL")))?;
            if !env.allows_service_url(&url) {
                return Err(DiscoveryError::EndpointNotAllowed {
                    field,
                    url: value.chars().take(200).collect(),
                });
            }
            Ok(url)
        };
        Ok(Self {
            authorization_endpoint: endpoint(
                "authorization_endpoint",
                &doc.authorization_endpoint,
            )?,
            token_endpoint: endpoint("token_endpoint", &doc.token_endpoint)?,
            jwks_uri: endpoint("jwks_uri", &doc.jwks_uri)?,
            end_session_endpoint: doc
                .end_session_endpoint
                .as_deref()
                .map(|u| endpoint("end_session_endpoint", u))
                .transpose()?,
            issuer: doc.issuer,
            code_challenge_methods: doc.code_challenge_methods_supported,
            response_modes: doc.response_modes_supported,
        })
    }

    /// Fetches and checks the discovery document of `env`.
    pub async fn fetch(
        transport: &dyn Transport,
        env: &Environment,
        timeout: Duration,
    ) -> Result<Self, DiscoveryError> {
        let url = env.discovery_url();
        let request = HttpRequest::get(url.clone(), timeout)
            .accept_json()
            .max_response_bytes(64 * 1024);
        let response =
            transport
                .send(request)
                .await
                .map_err(|source| DiscoveryError::Unreachable {
                    url: url.clone(),
                    source,
                })?;
        if !response.status.is_success() {
            return Err(DiscoveryError::Status {
                url,
                status: response.status.as_u16(),
            });
        }
        Self::from_json(env, &response.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SuperOffice's documented SOD excerpt, with its trailing comma removed (it is not valid JSON).
    fn sod_excerpt() -> String {
        let raw = include_str!("../tests/fixtures/openid-configuration-sod-excerpt.jsonc");
        let trimmed = raw
            .trim_end()
            .trim_end_matches('}')
            .trim_end()
            .trim_end_matches(',');
        format!("{trimmed}\n}}")
    }

    #[test]
    fn the_documented_sod_document_is_accepted_for_sod() {
        let d = Discovery::from_json(&Environment::Sod, sod_excerpt().as_bytes()).unwrap();
        assert_eq!(d.issuer, "https://sod.superoffice.com");
        assert_eq!(
            d.token_endpoint.as_str(),
            "https://sod.superoffice.com/login/common/oauth/tokens"
        );
        assert_eq!(
            d.jwks_uri.as_str(),
            "https://sod.superoffice.com/login/.well-known/jwks"
        );
        assert!(d.response_modes.contains(&"form_post".to_owned()));
    }

    #[test]
    fn another_environment_refuses_it() {
        assert!(matches!(
            Discovery::from_json(&Environment::Online, sod_excerpt().as_bytes()),
            Err(DiscoveryError::IssuerMismatch { .. })
        ));
    }

    #[test]
    fn endpoints_off_the_environment_are_refused() {
        let doc = sod_excerpt().replace(
            "https://sod.superoffice.com/login/.well-known/jwks",
            "https://attacker.example/jwks",
        );
        assert!(matches!(
            Discovery::from_json(&Environment::Sod, doc.as_bytes()),
            Err(DiscoveryError::EndpointNotAllowed {
                field: "jwks_uri",
                ..
            })
        ));
    }
}
