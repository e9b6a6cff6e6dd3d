//! SuperOffice, as the app's processes use it: the platform facade for sign-in (discovery, keys,
//! token validation), and the system-user WebAPI client for work in tenants.

use std::sync::Arc;

use domain::config::AppConfig;
use domain::secrets::SecretSource;
use domain::store::Items;
use domain::usage::DailyUsage;
use superoffice::client::{PlatformConfig, SuperOffice};
use superoffice::clock::{Clock, Jitter, RandomJitter, SystemClock};
use superoffice::transport::{ReqwestTransport, Transport, TransportError};
use superoffice::webapi::WebApi;

/// The SuperOffice platform for a configuration: real transport, clock and jitter. The client
/// secret is not part of it: the redirect loads it through the secret source when a sign-in needs
/// it.
pub fn superoffice(config: &AppConfig) -> Result<SuperOffice, TransportError> {
    Ok(SuperOffice::new(
        PlatformConfig::new(
            config.environment.clone(),
            config.client_id.clone(),
            superoffice::Secret::new(""),
        ),
        Arc::new(ReqwestTransport::new()?),
        Arc::new(SystemClock),
        Arc::new(RandomJitter),
    ))
}

/// What a process that works in tenants (the worker, the management page) needs from SuperOffice:
/// the WebAPI client acting as the system user, with the per-tenant rate cap and daily usage.
pub struct TenantAccess<I> {
    pub webapi: Arc<WebApi>,
    pub usage: Arc<DailyUsage<I>>,
}

/// The I/O a [`TenantAccess`] is built on: real in production, scripted in tests.
pub struct Io {
    pub transport: Arc<dyn Transport>,
    pub clock: Arc<dyn Clock>,
    pub jitter: Arc<dyn Jitter>,
}

impl Io {
    pub fn real() -> Result<Self, TransportError> {
        Ok(Self {
            transport: Arc::new(ReqwestTransport::new()?),
            clock: Arc::new(SystemClock),
            jitter: Arc::new(RandomJitter),
        })
    }
}

/// Loads the client secret and the system-user key and builds [`TenantAccess`] (reads SuperOffice's
/// discovery document once).
pub async fn tenant_access<I: Items, K: SecretSource>(
    config: &AppConfig,
    secrets: &K,
    items: Arc<I>,
    io: Io,
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
        io.transport,
        io.clock.clone(),
        io.jitter,
    ));
    // Each ticket's database serial is checked against the one recorded at consent.
    let serials = Arc::new(domain::tenant_serial::TenantSerials::new(
        items.clone(),
        io.clock.clone(),
    ));
    let tickets = Arc::new(
        platform
            .system_user_with_serials(Arc::new(key), serials)
            .await
            .map_err(|e| format!("SuperOffice discovery: {e}"))?,
    );
    let usage = Arc::new(DailyUsage::new(items, io.clock.clone()));
    let rate = Arc::new(superoffice::rate::TenantRateLimiter::new(
        config.tenant_rate,
        config.tenant_rate,
        io.clock,
    ));
    let webapi = Arc::new(platform.webapi(tickets, usage.clone(), Some(rate)));
    Ok(TenantAccess { webapi, usage })
}
