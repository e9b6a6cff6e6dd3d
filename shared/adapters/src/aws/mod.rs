//! The AWS side: the SDK configuration every client shares, and one adapter per service.
//!
//! Every call has a connect, attempt and operation timeout, and the SDK's standard bounded retries.
//! The HTTPS client trusts only Amazon's roots, compiled in. Nothing here does network I/O at
//! start: a cold start pays for building clients, not for calls.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

#[cfg(feature = "backup")]
pub mod backup_keys;
pub mod dynamo;
pub mod kms;
#[cfg(feature = "backup")]
pub mod s3;
pub mod sqs;

pub use aws_config::SdkConfig;
pub use aws_sdk_kms::Client as KmsClient;
pub use aws_sdk_sqs::Client as SqsClient;

/// The KMS client for the shared configuration.
pub fn kms_client(sdk: &SdkConfig) -> KmsClient {
    KmsClient::new(sdk)
}

/// The DynamoDB client for the shared configuration.
pub fn dynamo_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// The SQS client for the shared configuration.
pub fn sqs_client(sdk: &SdkConfig) -> SqsClient {
    SqsClient::new(sdk)
}

/// The Secrets Manager client for the shared configuration.
pub fn secrets_client(sdk: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(sdk)
}

/// The AWS SDK configuration: every call has a connect, attempt and operation timeout, and the SDK's
/// standard bounded retries.
///
/// In Lambda the region and the role's credentials are environment variables; naming those
/// providers directly skips the default chain's probing of profile files and instance metadata,
/// which costs 3 to 5 ms of every cold start (measured; see BENCHMARKS.md). Elsewhere (an operator
/// running `soapp doctor`) the default chain applies.
pub async fn sdk_config() -> aws_config::SdkConfig {
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
