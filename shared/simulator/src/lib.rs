//! An in-process simulator of SuperOffice CRM Online, for tests and the local runner.
//!
//! It serves, on one loopback HTTP port, the parts of SuperOffice that a partner app's backend talks to:
//!
//! - SuperID's OpenID Connect provider: discovery, JWKS, the authorize endpoint with a sign-in and a
//!   consent page and a sign-in session (single sign-on: [`SESSION_COOKIE`], `prompt`, `max_age`,
//!   `auth_time`), the token endpoint (authorization code with PKCE, refresh token), revocation and
//!   logout ([`Route::Discovery`], [`Route::Jwks`], [`Route::Authorize`], [`Route::Token`]);
//! - the partner system-user service `POST /Login/api/PartnerSystemUser/Authenticate`
//!   ([`Route::SystemUser`]);
//! - the tenant status API `GET /api/state/{ctx}` ([`Route::TenantState`]);
//! - the tenant WebAPI under `/{shard}/{ctx}/api/` with the wrong-subdomain (421) rule and the
//!   `SOTicket` + `SO-AppToken` check ([`Route::WebApi`]), and the endpoints a provisioning engine
//!   uses, with in-memory state per tenant: user-defined fields with publishing, lists, web panels
//!   owned by the calling app, preferences and webhooks (which the simulator calls, signed, like
//!   SuperOffice: [`SimulatorHandle::deliver_webhook_event`]); [`SimulatorHandle::webapi_snapshot`]
//!   shows what a tenant holds;
//! - SuperOffice's tenant lifecycle: a change to a tenant (upgrade, backup restored from a
//!   snapshot, suspend, resume, delete, move) and the signed "Customer state change" push to the
//!   app that goes with it ([`SimulatorHandle::tenant_lifecycle`], [`Lifecycle`],
//!   [`TokenOptions`] for forged pushes, [`SimulatorHandle::snapshot_tenant`]);
//! - a scripting API under `/__sim/` ([`Route::Admin`]) so another process (a browser test) can
//!   inject faults and change tenants the same way Rust code does through [`SimulatorHandle`], and
//!   a tenants page at `/__sim/tenants` where a person running the app locally presses buttons for
//!   the same.
//!
//! With [`SimulatorConfig::state_file`] the tenants' data, consents and system tokens survive a
//! restart (see `persist.rs` for what is kept, when it is written and why).
//!
//! The "shard" path segment stands for a tenant's API host: the real `https://sod2.superoffice.com/Cust12345/api/`
//! becomes `http://127.0.0.1:PORT/sod2/Cust12345/api/` here, because everything runs on one port.
//!
//! See `README.md` next to this crate for what is simulated and where it deliberately differs from
//! the real service.
//!
//! ```no_run
//! # async fn demo() -> Result<(), superoffice_simulator::SimulatorError> {
//! use superoffice_simulator::{AppRegistration, Simulator, SimulatorConfig};
//! let app = AppRegistration {
//!     name: "Acme Sync".into(),
//!     client_id: "0123456789abcdef0123456789abcdef".into(),
//!     client_secret: "s3cret".into(),
//!     redirect_uris: vec!["http://127.0.0.1:9000/callback".into()],
//!     system_user_public_key_der: None,
//! };
//! let sim = Simulator::start(SimulatorConfig::demo(app), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("discovery: {}login/.well-known/openid-configuration", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod config;
mod error;
mod faults;
mod handle;
mod html;
mod keys;
mod lifecycle;
mod oidc;
mod persist;
mod record;
mod routes;
mod server;
mod state;
mod system_user;
mod tenant_state;
pub mod user_agent;
mod util;
mod webapi;

pub use config::{AppRegistration, SimulatorConfig, TenantConfig, UserConfig};
pub use error::SimulatorError;
pub use faults::{FaultAction, FaultRule, Faults};
pub use handle::{Simulator, SimulatorHandle};
pub use lifecycle::{
    CrmVersion, Lifecycle, LifecycleError, PushDelivery, PushOptions, SnapshotContents, SnapshotId,
    SnapshotInfo, StateChange, TOKEN_LIFETIME, TokenOptions,
};
pub use persist::StateFileError;
pub use record::RecordedRequest;
pub use routes::Route;
pub use state::TenantStatus;
pub use webapi::seed::SiteSize;
pub use webapi::snapshot::{
    ListSnapshot, UdefLayoutSnapshot, WebApiSnapshot, WebPanelSnapshot, WebhookSnapshot,
};
pub use webapi::webhooks::{WebhookDelivery, WebhookError, WebhookEvent};

/// The namespace of every SuperOffice-specific claim, e.g. `{CLAIM_PREFIX}ctx`.
pub const CLAIM_PREFIX: &str = "http://schemes.superoffice.net/identity/";

/// The NetServer release the simulated tenants report (tenant state `Version`, the `Api` info page).
pub const NETSERVER_LABEL: &str = "Release_11.10_2026.02.24-02";

/// The name of SuperID's sign-in session cookie, set by the simulator's sign-in page on its own
/// origin (path `/login/`) and ended by `/login/logout`.
pub const SESSION_COOKIE: &str = "SuperIdSession";

/// The text SuperOffice answers with (HTTP 421) when a tenant is called on the wrong subdomain.
pub const WRONG_SUBDOMAIN_TEXT: &str = "Wrong subdomain used to access tenant";
