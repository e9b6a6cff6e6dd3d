//! The one door to the network.
//!
//! Every call to SuperOffice (discovery, JWKS, token endpoint, system user, tenant state, WebAPI) is an
//! [`HttpRequest`] handed to a [`Transport`]. The request carries its own timeout, so no call can hang;
//! redirects are never followed (a token or ticket must not be replayed to another host); response
//! bodies are capped so a hostile or broken peer cannot exhaust a 128 MB Lambda.
//!
//! Tests replace the transport with a fake that counts and scripts responses.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use url::Url;

use crate::clock::BoxFuture;

/// Bodies above this size are refused unless a request asks for more.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The whole exchange (connect, send, receive the body) must finish within this.
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

impl HttpRequest {
    pub fn new(method: Method, url: Url, timeout: Duration) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    pub fn get(url: Url, timeout: Duration) -> Self {
        Self::new(Method::GET, url, timeout)
    }

    pub fn header(mut self, name: http::header::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn json_body(mut self, body: &impl serde::Serialize) -> Self {
        // Serializing our own plain structs cannot fail; an empty body would be refused upstream.
        self.body = serde_json::to_vec(body)
            .map(Bytes::from)
            .unwrap_or_default();
        self.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self
    }

    pub fn form_body(mut self, fields: &[(&str, &str)]) -> Self {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        self.body = Bytes::from(ser.finish());
        self.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self
    }

    pub fn accept_json(self) -> Self {
        self.header(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        )
    }

    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No complete answer within the request's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The peer could not be reached or the connection broke.
    #[error("connection failed")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The peer sent more than the request allows.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
}

impl TransportError {
    /// A short code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            TransportError::Timeout(_) => "timeout",
            TransportError::Connect(_) => "connect_failed",
            TransportError::TooLarge(_) => "response_too_large",
        }
    }
}

pub trait Transport: Send + Sync {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        (**self).send(request)
    }
}

/// The production transport: reqwest with rustls (aws-lc-rs) and Mozilla's roots compiled in, no
/// redirects, no proxies from the environment, a connect timeout, and the per-request timeout
/// applied to the whole exchange. TLS 1.2 and 1.3 only (rustls has nothing older).
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    pub fn new() -> Result<Self, TransportError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Connect(Box::new(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!(
                "superoffice-app-backend/",
                env!("CARGO_PKG_VERSION")
            ))
            .https_only(false)
            .build()
            .map_err(|e| TransportError::Connect(Box::new(e)))?;
        Ok(Self { client })
    }

    async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let max = request.max_response_bytes;
        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(request.headers);
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        let mut response = builder.send().await.map_err(map_reqwest)?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(TransportError::TooLarge(max));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_reqwest)? {
            if body.len() + chunk.len() > max {
                return Err(TransportError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body: Bytes::from(body),
        })
    }
}

fn map_reqwest(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout(Duration::ZERO)
    } else {
        TransportError::Connect(Box::new(e))
    }
}

impl Transport for ReqwestTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let timeout = request.timeout;
            // One deadline for the whole exchange, body included: reqwest's own timeout does not
            // cover a peer that trickles the body forever.
            match tokio::time::timeout(timeout, self.exchange(request)).await {
                Ok(result) => result.map_err(|e| match e {
                    TransportError::Timeout(_) => TransportError::Timeout(timeout),
                    other => other,
                }),
                Err(_) => Err(TransportError::Timeout(timeout)),
            }
        })
    }
}
