//! Start-up wiring shared by every function: the AWS SDK with timeouts, the SuperOffice platform, the
//! store, the secret loader; and the Lambda adapter that turns API Gateway events into plain `http`
//! requests for the handlers.
//!
//! Nothing here does network I/O at start: a cold start pays for building clients, not for calls.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use bytes::Bytes;
use lambda_http::{Body, Request, RequestExt, Response};
use superoffice::client::{PlatformConfig, SuperOffice};
use superoffice::clock::{RandomJitter, SystemClock};
use superoffice::transport::ReqwestTransport;

use crate::config::{AppConfig, Storage};
use crate::sealing::AppSealer;
use crate::secrets::SecretLoader;
use crate::store::dynamo::DynamoItems;
use crate::web::{RequestContext, WebRequest, WebResponse};

/// The AWS SDK configuration: every call has a connect, attempt and operation timeout, and the SDK's
/// standard bounded retries.
///
/// In Lambda the region and the role's credentials are environment variables; naming those
/// providers directly skips the default chain's probing of profile files and instance metadata,
/// which costs 3 to 5 ms of every cold start (measured; see BENCHMARKS.md). Elsewhere (an operator
/// running `soapp doctor`) the default chain applies.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if env("AWS_LAMBDA_FUNCTION_NAME").is_some()
        && env("AWS_ACCESS_KEY_ID").is_some()
        && let Some(region) = env("AWS_REGION")
    {
        loader = loader
            .region(aws_config::Region::new(region))
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
    }
    with_amazon_roots(loader)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// Whether a DER certificate is one of Amazon Trust Services' roots, which every AWS endpoint chains to.
fn is_amazon_root(der: &[u8]) -> bool {
    let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
    has(b"Amazon Root CA") || has(b"Starfield Services Root Certificate Authority")
}

/// The AWS SDK's HTTPS client, trusting only Amazon Trust Services' roots (Amazon Root CA 1 to 4 and
/// the Starfield Services G2 root they are cross-signed by), taken from Mozilla's set compiled into
/// the binary. The SDK's default reads and parses the whole operating-system store (about 300
/// files) when the first client is created: 3 ms of every cold start, measured. The SDK only ever
/// talks to AWS endpoints (or, in tests, to the emulator over plain HTTP).
fn with_amazon_roots(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    use base64::Engine;
    let mut store = TrustStore::empty().with_native_roots(false);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter(|c| is_amazon_root(c))
    {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        store = store.with_pem_certificate(format!(
            "-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"
        ));
    }
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => loader.http_client(builder.tls_context(context).build_https()),
        // Not reachable with the certificates above; the SDK's default trust is the safe fallback.
        Err(_) => loader,
    }
}

/// The SuperOffice platform for a configuration: real transport, clock and jitter.
pub fn superoffice(
    config: &AppConfig,
) -> Result<SuperOffice, superoffice::transport::TransportError> {
    let platform = PlatformConfig::new(
        config.environment.clone(),
        config.client_id.clone(),
        // The client secret is loaded when first needed, through the secret loader.
        superoffice::Secret::new(""),
    );
    Ok(SuperOffice::new(
        platform,
        Arc::new(ReqwestTransport::new()?),
        Arc::new(SystemClock),
        Arc::new(RandomJitter),
    ))
}

/// The production adapters for a Lambda function: DynamoDB items and Secrets Manager secrets.
pub struct AwsAdapters {
    pub sdk: aws_config::SdkConfig,
    pub items: Arc<DynamoItems>,
    pub secrets: Arc<SecretLoader>,
}

impl AwsAdapters {
    /// The job queue named by `APP_QUEUE_URL`.
    pub fn job_queue(&self, config: &AppConfig) -> Result<crate::jobs::sqs::SqsQueue, String> {
        let url = config.queue_url.clone().ok_or("APP_QUEUE_URL is not set")?;
        Ok(crate::jobs::sqs::SqsQueue::new(
            aws_sdk_sqs::Client::new(&self.sdk),
            url,
        ))
    }

    /// The app's sealer: KMS under `APP_KMS_KEY_ARN` (or the local key file when configured).
    pub async fn sealer(&self, config: &AppConfig) -> Result<AppSealer, crate::sealing::SealError> {
        AppSealer::from_config(&config.sealing, Some(&self.sdk)).await
    }
}

pub async fn aws_adapters(config: &AppConfig) -> Result<AwsAdapters, String> {
    let sdk = aws_sdk_config().await;
    let table = match &config.storage {
        Storage::Dynamo { table } => table.clone(),
        Storage::Embedded { .. } => {
            return Err("a Lambda function needs APP_TABLE_NAME, not APP_DATA_DIR".into());
        }
    };
    Ok(AwsAdapters {
        items: Arc::new(DynamoItems::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        secrets: Arc::new(SecretLoader::new(Some(
            aws_sdk_secretsmanager::Client::new(&sdk),
        ))),
        sdk,
    })
}

/// Serves `handler` as a Lambda function behind API Gateway.
pub async fn serve_lambda<H, F>(handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(WebRequest, RequestContext) -> F + Send + Sync + 'static,
    F: Future<Output = WebResponse> + Send,
{
    let handler = Arc::new(handler);
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let handler = handler.clone();
        async move {
            let ctx = RequestContext {
                request_id: req
                    .lambda_context_ref()
                    .map_or_else(crate::web::new_request_id, |c| c.request_id.clone()),
            };
            let (parts, body) = req.into_parts();
            let bytes = match body {
                Body::Empty => Bytes::new(),
                Body::Text(t) => Bytes::from(t),
                Body::Binary(b) => Bytes::from(b),
                _ => Bytes::new(),
            };
            let response = handler(http::Request::from_parts(parts, bytes), ctx).await;
            let (parts, body) = response.into_parts();
            let body = if body.is_empty() {
                Body::Empty
            } else {
                match String::from_utf8(body.to_vec()) {
                    Ok(text) => Body::Text(text),
                    Err(e) => Body::Binary(e.into_bytes()),
                }
            };
            Ok::<_, std::convert::Infallible>(Response::from_parts(parts, body))
        }
    }))
    .await
}

/// Reads the configuration or prints every problem and exits: a function that cannot work must say
/// why in its first log lines, not fail later at a customer.
pub fn config_or_exit() -> AppConfig {
    match AppConfig::from_env() {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("{problems}");
            std::process::exit(2);
        }
    }
}

/// What a function that works in tenants (the worker, the management page) needs from SuperOffice:
/// the WebAPI client acting as the system user, with the per-tenant rate cap and daily usage.
pub struct TenantAccess<I> {
    pub webapi: Arc<superoffice::webapi::WebApi>,
    pub usage: Arc<crate::usage::DailyUsage<I>>,
}

/// Loads the client secret and the system-user key and builds [`TenantAccess`].
pub async fn tenant_access<I: crate::store::Items>(
    config: &AppConfig,
    secrets: &SecretLoader,
    items: Arc<I>,
    transport: Arc<dyn superoffice::transport::Transport>,
    clock: Arc<dyn superoffice::clock::Clock>,
    jitter: Arc<dyn superoffice::clock::Jitter>,
) -> Result<TenantAccess<I>, String> {
    let client_secret = secrets
        .load(&config.client_secret)
        .await
        .map_err(|e| format!("the client secret: {e}"))?;
    let key_ref = config.system_user_key.as_ref().ok_or(
        "SO_SYSTEM_USER_KEY_ARN (or _FILE) is not set: the system user needs the app's private key",
    )?;
    let key_text = secrets
        .load(key_ref)
        .await
        .map_err(|e| format!("the system-user key: {e}"))?;
    let key = superoffice::system_user::SystemUserKey::from_bytes(key_text.expose().as_bytes())
        .map_err(|e| format!("the system-user key ({}): {e}", key_ref.describe()))?;
    let mut platform_config = PlatformConfig::new(
        config.environment.clone(),
        config.client_id.clone(),
        client_secret,
    );
    platform_config.retry.max_retry_after = config.max_inline_wait;
    let platform = Arc::new(SuperOffice::new(
        platform_config,
        transport,
        clock.clone(),
        jitter,
    ));
    let tickets = Arc::new(
        platform
            .system_user(Arc::new(key))
            .await
            .map_err(|e| format!("SuperOffice discovery: {e}"))?,
    );
    let usage = Arc::new(crate::usage::DailyUsage::new(items, clock.clone()));
    let rate = Arc::new(superoffice::rate::TenantRateLimiter::new(
        config.tenant_rate,
        config.tenant_rate,
        clock,
    ));
    let webapi = Arc::new(platform.webapi(tickets, usage.clone(), Some(rate)));
    Ok(TenantAccess { webapi, usage })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_aws_client_trusts_exactly_amazons_five_roots() {
        let amazon = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|c| super::is_amazon_root(c))
            .count();
        assert_eq!(
            amazon, 5,
            "Amazon Root CA 1-4 and Starfield Services Root G2"
        );
    }
}
