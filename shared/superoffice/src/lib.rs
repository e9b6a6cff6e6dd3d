//! The SuperOffice CRM Online platform layer. It knows SuperOffice and nothing of our app.
//!
//! Everything our app does with SuperOffice goes through this crate: which environment we talk to
//! ([`environment`]), how its OpenID Connect endpoints are discovered ([`discovery`]), how security
//! tokens are validated ([`jwt`], [`keys`]), how a user is sent to sign in ([`oidc`]), how the app gets
//! a system-user ticket for back-channel work ([`system_user`]), whether a tenant can be called at all
//! ([`tenant_state`]), how WebAPI calls are made without overloading the vendor or retrying a broken
//! tenant ([`webapi`], [`retry`], [`breaker`]), and the typed calls for what an app provisions into a
//! tenant ([`api`]). [`metrics`] writes the few metrics the platform layer owns, and [`self_test`]
//! proves at start that the crypto backend works.
//!
//! The crate does I/O only through narrow ports ([`transport::Transport`], [`clock::Clock`],
//! [`clock::Jitter`]) so the same code runs in Lambda, in the local runner and in tests with exact,
//! repeatable timings.

pub mod api;
pub mod breaker;
pub mod client;
pub mod clock;
pub mod discovery;
pub mod environment;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod metrics;
pub mod oidc;
pub mod rate;
pub mod retry;
pub mod secret;
pub mod self_test;
pub mod system_user;
pub mod tenant_state;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;
pub mod usage;
pub mod webapi;

pub use environment::{Environment, TenantId};
pub use secret::Secret;
