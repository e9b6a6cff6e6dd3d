//! A function that starts like ours will: JSON logs, the SuperOffice client built once at start with
//! the production transport, clock and jitter, signing keys pinned from a JWKS file
//! (`COLDSTART_JWKS`). Each invocation `{"token": …, "nonce": …}` validates the id_token (no network:
//! the keys are pinned) and makes a fresh session id, the first use of randomness in the process.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};
use superoffice::client::{KeysFrom, PlatformConfig, SuperOffice};
use superoffice::clock::{RandomJitter, SystemClock};
use superoffice::keys::KeySet;
use superoffice::transport::ReqwestTransport;
use superoffice::{Environment, Secret};
use tracing_subscriber::EnvFilter;

#[derive(Deserialize)]
struct Event {
    token: String,
    nonce: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
                .unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_ansi(false)
        .init();
    let so = build()?;
    tracing::info!(environment = %so.environment(), "initialized");
    let so = &so;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        handle(so, event.payload).await
    }))
    .await
}

fn build() -> Result<SuperOffice, Error> {
    let jwks_path = std::env::var("COLDSTART_JWKS").map_err(|e| format!("COLDSTART_JWKS: {e}"))?;
    let jwks = std::fs::read(&jwks_path).map_err(|e| format!("{jwks_path}: {e}"))?;
    let (keys, _skipped) = KeySet::from_jwks(&jwks)?;
    let environment: Environment = coldstart::ENVIRONMENT.parse()?;
    let transport = ReqwestTransport::new()?;
    Ok(SuperOffice::new(
        PlatformConfig {
            keys: KeysFrom::Pinned(keys),
            ..PlatformConfig::new(
                environment,
                coldstart::CLIENT_ID,
                Secret::new("coldstart-client-secret"),
            )
        },
        Arc::new(transport),
        Arc::new(SystemClock),
        Arc::new(RandomJitter),
    ))
}

async fn handle(so: &SuperOffice, event: Event) -> Result<Value, Error> {
    let token = so
        .id_token_validator()
        .await?
        .validate(&event.token, Some(&event.nonce))
        .await?;
    let session = superoffice::oidc::random_token()?;
    tracing::info!(sub = %token.subject, "session created");
    Ok(json!({"sub": token.subject, "session_len": session.len()}))
}
