//! One object that holds a deployment's whole SuperOffice side, built once at start.
//!
//! Construction does no I/O (a Lambda's cold start pays nothing for it); discovery and the first JWKS
//! fetch happen on first use, once, and are shared by every later call. A failed discovery is not
//! cached: the next call tries again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::breaker::{BreakerSettings, BreakerTransport, CircuitBreakers};
use crate::clock::{Clock, Jitter};
use crate::discovery::{Discovery, DiscoveryError};
use crate::jwks::{KeySource, KeyStore, KeyStoreSettings};
use crate::jwt::{IdTokenRules, IdTokenValidator, StateChangeRules, StateChangeValidator};
use crate::keys::KeySet;
use crate::retry::{Retrier, RetryBudget, RetryPolicy};
use crate::system_user::{KnownSerials, SystemUserClient, SystemUserClientParts, SystemUserKey};
use crate::tenant_state::TenantStateClient;
use crate::transport::Transport;
use crate::usage::UsageHook;
use crate::webapi::{WebApi, WebApiParts};
use crate::{Environment, Secret};

/// Where token-signing keys come from.
#[derive(Debug, Clone, Default)]
pub enum KeysFrom {
    /// The JWKS named by the discovery document, seeded with the environment's pinned certificate
    /// (when it has one) until the first fetch succeeds.
    #[default]
    Discovery,
    /// A fixed set: certificates or a JWKS file given by the operator. Never refreshed.
    Pinned(KeySet),
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub discovery: Duration,
    pub jwks: Duration,
    pub token: Duration,
    pub system_user: Duration,
    pub tenant_state: Duration,
    pub webapi: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            discovery: Duration::from_secs(3),
            jwks: Duration::from_secs(3),
            token: Duration::from_secs(5),
            system_user: Duration::from_secs(5),
            tenant_state: Duration::from_secs(3),
            webapi: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub environment: Environment,
    pub client_id: String,
    pub client_secret: Secret,
    pub keys: KeysFrom,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    pub jwks: KeyStoreSettings,
    /// The circuit breaker per tenant endpoint in front of WebAPI calls.
    pub breaker: BreakerSettings,
}

impl PlatformConfig {
    pub fn new(
        environment: Environment,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        Self {
            environment,
            client_id: client_id.into(),
            client_secret,
            keys: KeysFrom::Discovery,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            jwks: KeyStoreSettings::default(),
            breaker: BreakerSettings::default(),
        }
    }
}

pub struct SuperOffice {
    config: PlatformConfig,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    retrier: Arc<Retrier>,
    discovery: OnceCell<Discovery>,
    keys: OnceCell<Arc<KeyStore>>,
    validator: OnceCell<IdTokenValidator>,
    state_change: OnceCell<StateChangeValidator>,
    tenant_states: Arc<TenantStateClient>,
}

impl SuperOffice {
    pub fn new(
        config: PlatformConfig,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Jitter>,
    ) -> Self {
        let retrier = Arc::new(Retrier::new(
            config.retry.clone(),
            Arc::new(RetryBudget::default()),
            clock.clone(),
            jitter,
        ));
        let tenant_states = Arc::new(TenantStateClient::new(
            config.environment.clone(),
            transport.clone(),
            retrier.clone(),
            clock.clone(),
            config.timeouts.tenant_state,
        ));
        Self {
            config,
            transport,
            clock,
            retrier,
            discovery: OnceCell::new(),
            keys: OnceCell::new(),
            validator: OnceCell::new(),
            state_change: OnceCell::new(),
            tenant_states,
        }
    }

    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    pub fn environment(&self) -> &Environment {
        &self.config.environment
    }

    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn retrier(&self) -> &Arc<Retrier> {
        &self.retrier
    }

    pub fn tenant_states(&self) -> &Arc<TenantStateClient> {
        &self.tenant_states
    }

    /// The environment's checked discovery document, fetched once.
    pub async fn discovery(&self) -> Result<&Discovery, DiscoveryError> {
        self.discovery
            .get_or_try_init(|| {
                Discovery::fetch(
                    &*self.transport,
                    &self.config.environment,
                    self.config.timeouts.discovery,
                )
            })
            .await
    }

    /// The signing-key store, created after discovery (which names the JWKS URL).
    pub async fn key_store(&self) -> Result<&Arc<KeyStore>, DiscoveryError> {
        self.keys
            .get_or_try_init(|| async {
                let source = match &self.config.keys {
                    KeysFrom::Pinned(set) => KeySource::Pinned(set.clone()),
                    KeysFrom::Discovery => {
                        let discovery = self.discovery().await?;
                        let seed = self
                            .config
                            .environment
                            .federated_login_certificate()
                            .and_then(|pem| KeySet::from_certificates(pem).ok());
                        KeySource::Jwks {
                            url: discovery.jwks_uri.clone(),
                            seed,
                        }
                    }
                };
                let mut settings = self.config.jwks.clone();
                settings.fetch_timeout = self.config.timeouts.jwks;
                Ok(Arc::new(KeyStore::new(
                    source,
                    settings,
                    self.transport.clone(),
                    self.clock.clone(),
                )))
            })
            .await
    }

    /// The id_token validator for this deployment (issuer, client id and keys pinned).
    pub async fn id_token_validator(&self) -> Result<&IdTokenValidator, DiscoveryError> {
        self.validator
            .get_or_try_init(|| async {
                let keys = self.key_store().await?.clone();
                Ok(IdTokenValidator::new(
                    IdTokenRules::new(self.config.environment.clone(), &self.config.client_id),
                    keys,
                    self.clock.clone(),
                ))
            })
            .await
    }

    /// The validator for SuperOffice's tenant state-change pushes (issuer, client id and keys
    /// pinned as for id_tokens).
    pub async fn state_change_validator(&self) -> Result<&StateChangeValidator, DiscoveryError> {
        self.state_change
            .get_or_try_init(|| async {
                let keys = self.key_store().await?.clone();
                Ok(StateChangeValidator::new(
                    StateChangeRules::new(&self.config.environment, &self.config.client_id),
                    keys,
                    self.clock.clone(),
                ))
            })
            .await
    }

    /// A system-user client signing with `private_key` (checks `ctx` but knows no tenant's serial:
    /// for tools and tests; the worker uses [`Self::system_user_with_serials`]).
    pub async fn system_user(
        &self,
        private_key: Arc<SystemUserKey>,
    ) -> Result<SystemUserClient, DiscoveryError> {
        self.system_user_inner(private_key, None).await
    }

    /// A system-user client that also checks each ticket's database serial against `serials`.
    pub async fn system_user_with_serials(
        &self,
        private_key: Arc<SystemUserKey>,
        serials: Arc<dyn KnownSerials>,
    ) -> Result<SystemUserClient, DiscoveryError> {
        self.system_user_inner(private_key, Some(serials)).await
    }

    async fn system_user_inner(
        &self,
        private_key: Arc<SystemUserKey>,
        serials: Option<Arc<dyn KnownSerials>>,
    ) -> Result<SystemUserClient, DiscoveryError> {
        Ok(SystemUserClient::new(SystemUserClientParts {
            env: self.config.environment.clone(),
            transport: self.transport.clone(),
            retrier: self.retrier.clone(),
            keys: self.key_store().await?.clone(),
            clock: self.clock.clone(),
            app_token: self.config.client_secret.clone(),
            private_key,
            timeout: self.config.timeouts.system_user,
            serials,
        }))
    }

    /// A WebAPI client acting through `tickets`, reporting usage to `usage`. Its calls go through
    /// a circuit breaker per tenant endpoint (see [`crate::breaker`]).
    pub fn webapi(
        &self,
        tickets: Arc<SystemUserClient>,
        usage: Arc<dyn UsageHook>,
        rate: Option<Arc<crate::rate::TenantRateLimiter>>,
    ) -> WebApi {
        let breakers = Arc::new(CircuitBreakers::new(
            self.config.breaker.clone(),
            self.clock.clone(),
        ));
        WebApi::new(WebApiParts {
            rate,
            env: self.config.environment.clone(),
            transport: Arc::new(BreakerTransport::new(self.transport.clone(), breakers)),
            states: self.tenant_states.clone(),
            tickets,
            retrier: self.retrier.clone(),
            usage,
            app_token: self.config.client_secret.clone(),
            timeout: self.config.timeouts.webapi,
        })
    }
}
