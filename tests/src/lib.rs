//! The harness the end-to-end tests share: a simulator with our app registered, and the platform crate
//! pointed at it exactly as production points it at SuperOffice (real HTTP transport, discovery, JWKS).

use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use superoffice::Secret;
use superoffice::client::{PlatformConfig, SuperOffice};
use superoffice::clock::{Clock, Jitter, RandomJitter, SystemClock};
use superoffice::system_user::SystemUserKey;
use superoffice::transport::ReqwestTransport;
use superoffice_simulator::{AppRegistration, Simulator, SimulatorConfig, SimulatorHandle};

pub const CLIENT_ID: &str = "6cf25376616343b38d14ddcd804f2891";
pub const CLIENT_SECRET: &str = "83d0f3bcb9afbc7eb9d0682e9b86db52";
pub const APP_NAME: &str = "Acme Sync";
pub const TENANT: &str = "Cust12345";
pub const ADMIN: &str = "ada@demo.example";
pub const USER: &str = "ulf@demo.example";

/// The app's system-user key pair (PKCS#8 DER), generated once per test binary.
pub fn partner_key_pkcs8() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("keygen")
            .as_der()
            .expect("pkcs8")
            .as_ref()
            .to_vec()
    })
}

pub fn partner_key() -> Arc<SystemUserKey> {
    Arc::new(SystemUserKey::from_bytes(partner_key_pkcs8()).expect("partner key"))
}

/// The simulator's signing key, generated once per test binary (key generation is slow in debug).
fn simulator_key() -> Vec<u8> {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("keygen")
            .as_der()
            .expect("pkcs8")
            .as_ref()
            .to_vec()
    })
    .clone()
}

pub fn app_registration(redirect_uris: Vec<String>) -> AppRegistration {
    let public = RsaKeyPair::from_pkcs8(partner_key_pkcs8())
        .expect("key")
        .public_key()
        .as_der()
        .expect("spki")
        .as_ref()
        .to_vec();
    AppRegistration {
        name: APP_NAME.into(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris,
        system_user_public_key_der: Some(public),
    }
}

/// The demo simulator (tenants Cust12345 and Cust67890) with our app registered.
pub async fn simulator(redirect_uris: Vec<String>) -> SimulatorHandle {
    let mut config = SimulatorConfig::demo(app_registration(redirect_uris));
    config.signing_key_pkcs8_der = Some(simulator_key());
    Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("the simulator starts on loopback")
}

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The platform crate configured for the simulator, with the given clock and jitter.
pub fn platform_with(
    sim: &SimulatorHandle,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
) -> SuperOffice {
    let env = sim.base_url().as_str().parse().expect("simulator URL");
    let config = PlatformConfig::new(env, CLIENT_ID, Secret::new(CLIENT_SECRET));
    SuperOffice::new(
        config,
        Arc::new(ReqwestTransport::new().expect("transport")),
        clock,
        jitter,
    )
}

pub fn platform(sim: &SimulatorHandle) -> SuperOffice {
    platform_with(sim, Arc::new(SystemClock), Arc::new(RandomJitter))
}
