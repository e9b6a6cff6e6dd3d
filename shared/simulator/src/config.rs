//! What the simulator knows before it starts: registered apps, tenants and their users.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::lifecycle::CrmVersion;

/// Everything [`crate::Simulator::start`] needs.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// Partner applications registered in the (simulated) Developer Portal.
    pub apps: Vec<AppRegistration>,
    /// Customer tenants (databases) with their users.
    pub tenants: Vec<TenantConfig>,
    /// PKCS#8 DER of the RSA key that signs id_tokens and system-user JWTs; a fresh 2048-bit key is
    /// generated when `None`.
    pub signing_key_pkcs8_der: Option<Vec<u8>>,
    /// The tenant state API answers `ValidUntil = now + state_valid_for` (default 10 minutes) unless a
    /// fixed time was set with [`crate::SimulatorHandle::set_tenant_state`].
    pub state_valid_for: Duration,
    /// How long an authorization code can be exchanged after it was issued. SuperOffice documents
    /// 10 minutes (the default); tests shorten it to check expiry.
    pub code_lifetime: Duration,
    /// How long a `POST {Entity}/UdefLayout/Publish` "runs": meanwhile `GET …/UdefLayout/Publish`
    /// answers `true` and another publish of that entity gets 409. Default 0 (publishes are
    /// instant). Can be changed later with [`crate::SimulatorHandle::set_udef_publish_duration`].
    pub udef_publish_duration: Duration,
    /// How long the simulator waits for a webhook target (the test POST at save time and
    /// [`crate::SimulatorHandle::deliver_webhook`]). Default 5 seconds.
    pub webhook_timeout: Duration,
    /// Where the simulator keeps its state across restarts (default `None`: nothing survives the
    /// process). When set, the state is loaded from this file at start if it exists, and written
    /// to it shortly after every change and at [`crate::SimulatorHandle::shutdown`]: the tenants'
    /// WebAPI data, tenant states, consents, system and refresh tokens. Codes, access tokens,
    /// tickets, sign-in sessions, the request log and fault rules are not kept. A file that cannot
    /// be loaded stops the start with [`crate::StateFileError`].
    pub state_file: Option<PathBuf>,
    /// Each app's registered "Customer state change" URL, by client id: where SuperOffice POSTs
    /// tenant lifecycle notifications (see [`crate::SimulatorHandle::tenant_lifecycle`] and
    /// [`crate::SimulatorHandle::push_state_change`]). https, or plain http to a loopback address.
    /// Can be changed while running with [`crate::SimulatorHandle::set_state_change_url`]. Default:
    /// none.
    ///
    /// It belongs to the app's registration, but it is kept here rather than as a field of
    /// [`AppRegistration`]: a new field there would break every `AppRegistration { … }` literal in
    /// the code that starts simulators.
    pub state_change_urls: BTreeMap<String, String>,
    /// How long a state-change push waits for the app (connecting, sending and the whole answer).
    /// Default 5 seconds; after that the push is reported as unanswered.
    pub state_change_timeout: Duration,
    /// The CRM version every tenant runs: the tenant state API's `Version`, the `Api` info page's
    /// `NetServerLabel` / `NetServerVersion`, and a push's `VersionName` / `FileVersion`. An
    /// upgrade ([`crate::Lifecycle::Upgrade`]) changes it. Default: [`crate::NETSERVER_LABEL`],
    /// file version `11.10.721.0`.
    pub crm_version: CrmVersion,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            tenants: Vec::new(),
            signing_key_pkcs8_der: None,
            state_valid_for: Duration::from_secs(600),
            code_lifetime: Duration::from_secs(600),
            udef_publish_duration: Duration::ZERO,
            webhook_timeout: Duration::from_secs(5),
            state_file: None,
            state_change_urls: BTreeMap::new(),
            state_change_timeout: Duration::from_secs(5),
            crm_version: CrmVersion::default(),
        }
    }
}

impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("apps", &self.apps)
            .field("tenants", &self.tenants)
            .field(
                "signing_key_pkcs8_der",
                &self.signing_key_pkcs8_der.as_ref().map(|_| "<redacted>"),
            )
            .field("state_valid_for", &self.state_valid_for)
            .field("code_lifetime", &self.code_lifetime)
            .field("udef_publish_duration", &self.udef_publish_duration)
            .field("webhook_timeout", &self.webhook_timeout)
            .field("state_file", &self.state_file)
            .field("state_change_urls", &self.state_change_urls)
            .field("state_change_timeout", &self.state_change_timeout)
            .field("crm_version", &self.crm_version)
            .finish()
    }
}

/// A partner application as registered in the Developer Portal.
#[derive(Clone)]
pub struct AppRegistration {
    /// The application name, e.g. "Acme Sync". Shown on the consent page and used as the prefix of
    /// the system-user token (`"{name}-{random}"`).
    pub name: String,
    /// The client id (SuperOffice: 32 hex characters), the `aud` of id_tokens.
    pub client_id: String,
    /// The client secret, also called the application token (`ApplicationToken`, `SO-AppToken`).
    pub client_secret: String,
    /// Registered redirect URIs; `redirect_uri` must match one of them exactly.
    pub redirect_uris: Vec<String>,
    /// The public half of the app's system-user certificate, as SubjectPublicKeyInfo or PKCS#1
    /// `RSAPublicKey` DER. When present the app has the system-user ("server-to-server") feature: its
    /// id_tokens carry `system_token` and it may call `PartnerSystemUser/Authenticate`.
    pub system_user_public_key_der: Option<Vec<u8>>,
}

impl fmt::Debug for AppRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRegistration")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .field(
                "system_user_public_key_der",
                &self
                    .system_user_public_key_der
                    .as_ref()
                    .map(|k| format!("{} bytes", k.len())),
            )
            .finish()
    }
}

/// A customer tenant (one SuperOffice database).
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// The context identifier, e.g. "Cust12345".
    pub context_id: String,
    pub company_name: String,
    /// The database serial number (`serial` claim; the system-user JWT's `aud` is `spn:{serial}`).
    pub serial: String,
    /// The path segment standing for the tenant's API host, e.g. "sod2" for `sod2.superoffice.com`:
    /// ASCII letters, digits, `-` and `.` (not only dots), and not `login`, `api` or `__sim`. Moves
    /// ([`crate::SimulatorHandle::move_tenant`], `POST /__sim/tenants/{ctx}/move`) take the same.
    pub shard: String,
    pub users: Vec<UserConfig>,
}

/// A SuperID user with an associate in a tenant.
#[derive(Debug, Clone)]
pub struct UserConfig {
    /// The SuperID username; also `sub`, `upn` and `email` in the id_token.
    pub email: String,
    pub associate_id: u32,
    pub first_name: String,
    pub last_name: String,
    pub initials: String,
    /// Whether the user may approve apps (General/User Administrator function rights).
    pub is_administrator: bool,
}

impl UserConfig {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

impl SimulatorConfig {
    /// One app and two tenants:
    ///
    /// - `Cust12345` "Demo Company AS", serial "1801550193", shard "sod2", with the administrator
    ///   `ada@demo.example` (associate 5, "Ada Admin") and the ordinary user `ulf@demo.example`
    ///   (associate 6, "Ulf User");
    /// - `Cust67890` "Other Tenant AS", serial "1801550194", shard "sod3", with the administrator
    ///   `eve@other.example` (associate 5, "Eve Other").
    ///
    /// No tenant has consented to the app yet: sign in as an administrator and approve, or call
    /// [`crate::SimulatorHandle::grant_consent`].
    pub fn demo(app: AppRegistration) -> Self {
        Self {
            apps: vec![app],
            tenants: vec![
                TenantConfig {
                    context_id: "Cust12345".into(),
                    company_name: "Demo Company AS".into(),
                    serial: "1801550193".into(),
                    shard: "sod2".into(),
                    users: vec![
                        UserConfig {
                            email: "ada@demo.example".into(),
                            associate_id: 5,
                            first_name: "Ada".into(),
                            last_name: "Admin".into(),
                            initials: "AA".into(),
                            is_administrator: true,
                        },
                        UserConfig {
                            email: "ulf@demo.example".into(),
                            associate_id: 6,
                            first_name: "Ulf".into(),
                            last_name: "User".into(),
                            initials: "UU".into(),
                            is_administrator: false,
                        },
                    ],
                },
                TenantConfig {
                    context_id: "Cust67890".into(),
                    company_name: "Other Tenant AS".into(),
                    serial: "1801550194".into(),
                    shard: "sod3".into(),
                    users: vec![UserConfig {
                        email: "eve@other.example".into(),
                        associate_id: 5,
                        first_name: "Eve".into(),
                        last_name: "Other".into(),
                        initials: "EO".into(),
                        is_administrator: true,
                    }],
                },
            ],
            ..Self::default()
        }
    }
}
