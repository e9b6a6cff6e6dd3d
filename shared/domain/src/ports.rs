//! The ports a deployment plugs in, and the parts every entry point is built from.
//!
//! A function's handler is generic over one type, `P: Ports`, that names the adapter for each port
//! (store, sealer, job queue, secret source). Production (`adapters`' AWS side), the local runner
//! (the embedded side) and tests (fakes) each have one such type, so a handler is written once and
//! runs everywhere unchanged. [`Deployment`] carries one instance of each, plus the configuration,
//! the manifest and the SuperOffice platform, built once per process by the composition root.

use std::sync::Arc;

use superoffice::client::SuperOffice;
use superoffice::clock::Clock;

use crate::config::AppConfig;
use crate::jobs::JobQueue;
use crate::manifest::Manifest;
use crate::sealing::Sealer;
use crate::secrets::SecretSource;
use crate::store::Items;

/// Which adapter serves each port.
pub trait Ports: Send + Sync + 'static {
    type Items: Items;
    type Sealer: Sealer;
    type Queue: JobQueue;
    type Secrets: SecretSource;
}

/// Everything an entry point is built from, built once per process.
pub struct Deployment<P: Ports> {
    pub config: Arc<AppConfig>,
    /// What the app provisions into every tenant, validated at start.
    pub manifest: Arc<Manifest>,
    pub items: Arc<P::Items>,
    pub sealer: Arc<P::Sealer>,
    pub queue: Arc<P::Queue>,
    pub secrets: Arc<P::Secrets>,
    /// SuperOffice as seen by a user's sign-in (discovery, keys, token validation). The system-user
    /// WebAPI client, which needs the client secret and private key, is built by those who call
    /// tenants.
    pub superoffice: Arc<SuperOffice>,
    pub clock: Arc<dyn Clock>,
}

impl<P: Ports> Clone for Deployment<P> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            manifest: self.manifest.clone(),
            items: self.items.clone(),
            sealer: self.sealer.clone(),
            queue: self.queue.clone(),
            secrets: self.secrets.clone(),
            superoffice: self.superoffice.clone(),
            clock: self.clock.clone(),
        }
    }
}
