//! Which SuperOffice we talk to, and which hosts we trust for it.
//!
//! SuperOffice runs three environments (Development = SOD, Stage = `qaonline`, Production = `online`);
//! each has its own issuer, keys, client ids and tenants, and a token from one must never be accepted
//! by a stack deployed for another. Tests and local runs use a [`Environment::Custom`] base URL (the
//! simulator, or any OIDC provider that serves SuperOffice's discovery path).
//!
//! Only the un-numbered root hosts (`sod`, `qaonline`, `online`) are used for authentication; tenant
//! API hosts come from the tenant state API at run time and must be one of *this* environment's
//! hosts (for a custom base URL: the base URL's own host), which is what
//! [`Environment::allows_service_url`] checks before we send a ticket anywhere. A production stack
//! never sends a ticket to a development host, nor the reverse.
//!
//! The hosts per environment ([`Environment::service_hosts`]) are those SuperOffice documents
//! (copied from the vendor's docs, `en/developer-portal/includes/app-envir-intro.mdx` and
//! `…/tenant-status/check-status.mdx`): SOD `sod`, `sodN`, `app-sod`; Stage `qaonline`,
//! `qaonlineN`, `stage`, `stageN`, `app-stage`; Production `online`, `onlineN`, `app`, and
//! `disasterrecovery` (named as a place tenants are moved to during incidents), each under
//! `superoffice.com`. `N` is a number of at most three digits (`sod2`, `online2` are documented;
//! the numbering is not, so any is accepted).

use std::fmt;
use std::str::FromStr;

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    /// Development: `https://sod.superoffice.com`.
    Sod,
    /// Stage: `https://qaonline.superoffice.com`.
    Stage,
    /// Production: `https://online.superoffice.com`.
    Online,
    /// Any other base URL (the simulator, a test provider). Its issuer is the URL itself.
    Custom(Url),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    #[error(
        "unknown environment {0:?}: use sod, qaonline (or stage), online, or an http(s) base URL"
    )]
    Unknown(String),
    #[error("base URL {0:?} must use https (http is allowed only for loopback addresses)")]
    InsecureUrl(String),
    #[error("base URL {0:?} must not carry a query, fragment or credentials")]
    UrlShape(String),
}

impl Environment {
    /// The short name used in configuration and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Environment::Sod => "sod",
            Environment::Stage => "qaonline",
            Environment::Online => "online",
            Environment::Custom(_) => "custom",
        }
    }

    /// The base URL without a trailing slash, e.g. `https://sod.superoffice.com`.
    pub fn base(&self) -> String {
        match self {
            Environment::Sod => "https://sod.superoffice.com".to_owned(),
            Environment::Stage => "https://qaonline.superoffice.com".to_owned(),
            Environment::Online => "https://online.superoffice.com".to_owned(),
            Environment::Custom(url) => url.as_str().trim_end_matches('/').to_owned(),
        }
    }

    /// The exact `iss` of this environment's id_tokens. Pinned here, never read from a token.
    pub fn issuer(&self) -> String {
        self.base()
    }

    fn join(&self, path: &str) -> Url {
        // `base()` is a valid absolute URL by construction and `path` is one of our constants.
        Url::parse(&format!("{}{}", self.base(), path))
            .unwrap_or_else(|_| Url::parse("https://invalid.invalid/").expect("static URL parses"))
    }

    /// `{base}/login/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> Url {
        self.join("/login/.well-known/openid-configuration")
    }

    /// `{base}/Login/api/PartnerSystemUser/Authenticate`. Not in the discovery document.
    pub fn system_user_url(&self) -> Url {
        self.join("/Login/api/PartnerSystemUser/Authenticate")
    }

    /// `{base}/api/state/{ctx}`. Not in the discovery document.
    pub fn tenant_state_url(&self, ctx: &TenantId) -> Url {
        self.join(&format!("/api/state/{}", ctx.as_str()))
    }

    /// Whether a URL taken from a token claim, the discovery document or the tenant state API may be
    /// called with our credentials: HTTPS on port 443 on one of this environment's hosts
    /// ([`Self::service_hosts`]) for the real environments; the base URL's own scheme, host and port
    /// for a custom one.
    pub fn allows_service_url(&self, url: &Url) -> bool {
        if url.username() != "" || url.password().is_some() {
            return false;
        }
        match self {
            Environment::Custom(base) => {
                url.scheme() == base.scheme()
                    && url.host_str() == base.host_str()
                    && url.port_or_known_default() == base.port_or_known_default()
            }
            _ => {
                url.scheme() == "https"
                    && url.port_or_known_default() == Some(443)
                    && matches!(url.host(), Some(url::Host::Domain(host)) if self.is_service_host(host))
            }
        }
    }

    /// The first labels of this environment's hosts under `superoffice.com`: (label, numbered),
    /// where numbered also admits the label followed by up to three digits (`online2`). Empty for a
    /// custom environment (its own host is the only one).
    pub fn service_hosts(&self) -> &'static [(&'static str, bool)] {
        match self {
            Environment::Sod => &[("sod", true), ("app-sod", false)],
            Environment::Stage => &[("qaonline", true), ("stage", true), ("app-stage", false)],
            Environment::Online => &[
                ("online", true),
                ("app", false),
                ("disasterrecovery", false),
            ],
            Environment::Custom(_) => &[],
        }
    }

    fn is_service_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let Some(label) = host.strip_suffix(".superoffice.com") else {
            return false;
        };
        self.service_hosts()
            .iter()
            .any(|(name, numbered)| match label.strip_prefix(name) {
                Some("") => true,
                Some(n) if *numbered => n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()),
                _ => false,
            })
    }

    /// The environment's public Federated Login certificate (PEM), a pinned key source.
    pub fn federated_login_certificate(&self) -> Option<&'static [u8]> {
        match self {
            Environment::Sod => Some(include_bytes!("../certs/sod-federated-login.crt")),
            Environment::Stage => Some(include_bytes!("../certs/qaonline-federated-login.crt")),
            Environment::Online => Some(include_bytes!("../certs/online-federated-login.crt")),
            Environment::Custom(_) => None,
        }
    }

    pub fn is_custom(&self) -> bool {
        matches!(self, Environment::Custom(_))
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl FromStr for Environment {
    type Err = EnvironmentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sod" | "dev" | "development" => return Ok(Environment::Sod),
            "qaonline" | "stage" => return Ok(Environment::Stage),
            "online" | "production" | "prod" => return Ok(Environment::Online),
            _ => {}
        }
        let url = Url::parse(s.trim()).map_err(|_| EnvironmentError::Unknown(s.to_owned()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(EnvironmentError::InsecureUrl(s.to_owned())),
            _ => return Err(EnvironmentError::Unknown(s.to_owned())),
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.host_str().is_none()
        {
            return Err(EnvironmentError::UrlShape(s.to_owned()));
        }
        // The three real environments are always spelled by name so their pins apply.
        match url.host_str() {
            Some("sod.superoffice.com") if url.path() == "/" => Ok(Environment::Sod),
            Some("qaonline.superoffice.com") if url.path() == "/" => Ok(Environment::Stage),
            Some("online.superoffice.com") if url.path() == "/" => Ok(Environment::Online),
            _ => Ok(Environment::Custom(url)),
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Environment::Custom(url) => write!(f, "{}", url.as_str().trim_end_matches('/')),
            other => f.write_str(other.name()),
        }
    }
}

/// A tenant's context identifier (`Cust12345`). Validated before it is put into a URL path or a
/// storage key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SuperOffice context identifier (letters then digits, like Cust12345)")]
pub struct InvalidTenantId(pub String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, InvalidTenantId> {
        if Self::is_valid(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTenantId(s.chars().take(64).collect()))
        }
    }

    /// Letters then digits (`Cust12345`), without allocating.
    pub fn is_valid(s: &str) -> bool {
        let letters = s.bytes().take_while(u8::is_ascii_alphabetic).count();
        let digits = &s.as_bytes()[letters..];
        (1..=16).contains(&letters)
            && (1..=12).contains(&digits.len())
            && digits.iter().all(u8::is_ascii_digit)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TenantId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_issuers_are_pinned() {
        let sod: Environment = "sod".parse().unwrap();
        assert_eq!(sod.issuer(), "https://sod.superoffice.com");
        let stage: Environment = "stage".parse().unwrap();
        assert_eq!(stage.issuer(), "https://qaonline.superoffice.com");
        assert_eq!(
            "online"
                .parse::<Environment>()
                .unwrap()
                .discovery_url()
                .as_str(),
            "https://online.superoffice.com/login/.well-known/openid-configuration"
        );
        assert_eq!(
            "https://sod.superoffice.com/"
                .parse::<Environment>()
                .unwrap(),
            Environment::Sod
        );
    }

    #[test]
    fn custom_base_url_is_its_own_issuer() {
        let env: Environment = "http://127.0.0.1:8123".parse().unwrap();
        assert_eq!(env.issuer(), "http://127.0.0.1:8123");
        assert_eq!(
            env.system_user_url().as_str(),
            "http://127.0.0.1:8123/Login/api/PartnerSystemUser/Authenticate"
        );
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        assert!(matches!(
            "http://idp.example.com".parse::<Environment>(),
            Err(EnvironmentError::InsecureUrl(_))
        ));
        assert!("ftp://x".parse::<Environment>().is_err());
        assert!("https://x.example/?a=b".parse::<Environment>().is_err());
        assert!("qastage".parse::<Environment>().is_err());
    }

    #[test]
    fn service_urls_must_be_https_on_the_environments_own_hosts() {
        let env = Environment::Online;
        let ok = |s: &str| env.allows_service_url(&Url::parse(s).unwrap());
        assert!(ok("https://online2.superoffice.com/Cust12345/api/"));
        assert!(ok("https://ONLINE10.superoffice.com/Cust12345/api/"));
        assert!(ok("https://app.superoffice.com/Cust12345/api/"));
        assert!(ok(
            "https://online.superoffice.com/login/common/oauth/tokens"
        ));
        assert!(ok(
            "https://disasterrecovery.superoffice.com/Cust12345/api/"
        ));
        assert!(!ok("http://online2.superoffice.com/Cust12345/api/"));
        assert!(!ok("https://online.superoffice.com.evil.tld/api/"));
        assert!(!ok("https://evilsuperoffice.com/api/"));
        assert!(!ok("https://online2.superoffice.com:8443/api/"));
        assert!(!ok("https://user:pw@online2.superoffice.com/api/"));
        assert!(!ok("https://www.superoffice.com/api/"), "not a tenant host");
        assert!(!ok("https://superoffice.com/api/"));
        assert!(!ok("https://online2x.superoffice.com/api/"));
        assert!(!ok("https://online2222.superoffice.com/api/"));
        assert!(!ok("https://evil.online.superoffice.com/api/"));
        assert!(!ok("https://app.evil.superoffice.com/api/"));
    }

    #[test]
    fn each_environment_trusts_only_its_own_hosts() {
        // (environment, hosts of its own, hosts of the others that it must refuse)
        let cases: [(Environment, &[&str], &[&str]); 3] = [
            (
                Environment::Sod,
                &["sod", "sod2", "sod3", "app-sod"],
                &["online", "online2", "app", "qaonline", "stage", "app-stage"],
            ),
            (
                Environment::Stage,
                &["qaonline", "qaonline2", "stage", "stage2", "app-stage"],
                &["sod", "sod2", "app-sod", "online", "online2", "app"],
            ),
            (
                Environment::Online,
                &["online", "online2", "app", "disasterrecovery"],
                &["sod", "sod2", "app-sod", "qaonline", "stage", "app-stage"],
            ),
        ];
        for (env, own, others) in cases {
            let url =
                |h: &str| Url::parse(&format!("https://{h}.superoffice.com/Cust1/api/")).unwrap();
            for h in own {
                assert!(env.allows_service_url(&url(h)), "{env}: {h}");
            }
            for h in others {
                assert!(!env.allows_service_url(&url(h)), "{env} must refuse {h}");
            }
        }
    }

    #[test]
    fn custom_environment_trusts_only_its_own_host() {
        let env: Environment = "http://127.0.0.1:8123".parse().unwrap();
        let ok = |s: &str| env.allows_service_url(&Url::parse(s).unwrap());
        assert!(ok("http://127.0.0.1:8123/sod2/Cust1/api/"));
        assert!(!ok("http://127.0.0.1:9999/Cust1/api/"));
        assert!(!ok("https://online2.superoffice.com/Cust1/api/"));
    }

    #[test]
    fn context_ids_are_validated() {
        assert!(TenantId::parse("Cust12345").is_ok());
        for bad in [
            "", "Cust", "12345", "Cust12a", "../Cust1", "Cust1/..", "Cust 1",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }
}
