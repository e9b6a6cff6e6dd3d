//! The app's domain: its model and rules, independent of where it runs.
//!
//! Nothing here knows AWS, Lambda, HTTP pages or a database: those are adapters (the `adapters`
//! crate), entry points (`functions/*`, `soapp`) and plumbing (`web`, `app`). The domain reaches the
//! world only through its ports, which [`ports::Ports`] names together, and through the SuperOffice
//! platform crate.
//!
//! * [`config`]: typed configuration, validated at start with every problem reported at once.
//! * [`manifest`]: what the app provisions into a tenant, declared in one file and validated.
//! * [`provisioning`]: the engine that creates the manifest's artifacts in a tenant, resumably.
//! * [`jobs`]: work off the request path (install), one job at a time per tenant, and the worker
//!   that runs a job.
//! * [`tenant`] and [`ledger`]: a tenant's install state and the artifacts created in it;
//!   [`tenant_serial`]: its database serial, to check system-user tokens against.
//! * [`signin`]: pending sign-ins and sessions, the records behind the redirect URL.
//! * [`usage`]: per-tenant daily WebAPI usage.
//! * [`webhook_events`]: webhook deliveries received, recorded once.
//! * [`rollout`]: a new release's manifest taken to every installed tenant, a few a minute.
//! * [`purge`] and [`audit`]: removing everything kept for a tenant, and the one record kept after.
//! * [`backup`]: encrypted backups (per-tenant keys, crypto-erase), their verification and restore.
//! * Ports: [`store`] (items), [`sealing`] (the app's key), [`secrets`] (secret values), the job
//!   queue in [`jobs`], the tenant API in [`provisioning`], and the clock from the platform crate.

pub mod audit;
pub mod backup;
pub mod config;
pub mod jobs;
pub mod ledger;
pub mod lifecycle;
pub mod manifest;
pub mod ports;
pub mod provisioning;
pub mod purge;
pub mod rollout;
pub mod sealing;
pub mod secrets;
pub mod signin;
pub mod store;
pub mod tenant;
pub mod tenant_serial;
pub mod usage;
pub mod webhook_events;

pub use ports::{Deployment, Ports};
pub use superoffice::TenantId;
