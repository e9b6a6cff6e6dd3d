//! The claims we read from SuperOffice tokens, typed.
//!
//! SuperOffice puts its own claims under `http://schemes.superoffice.net/identity/` and sends all of
//! them as strings (`"is_administrator": "True"`). Which ones appear depends on what the app enabled in
//! the Developer Portal, so every SuperOffice claim is optional here; the code that needs one (the
//! install flow needs `ctx` and `system_token`) asks for it and says what is missing.
//!
//! Times are JWT NumericDates and must be JSON numbers: a string `exp` or `nbf` is refused (the
//! CVE-2026-25537 class of bug is libraries *skipping* string-typed times). `iat` alone may be a numeric
//! string, because SuperOffice's own documented example sends it that way.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use super::Reason;
use super::strict_json::{Kind, Object, array, kind, number, string};
use crate::{Secret, TenantId};

pub const SO_CLAIM_PREFIX: &str = "http://schemes.superoffice.net/identity/";

/// Latest accepted NumericDate (9999-12-31T23:59:59Z); anything later is nonsense, not "far future".
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// SuperOffice's namespaced claims. Secrets (`system_token`, `ticket`) never serialize.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SuperOfficeClaims {
    pub associate_id: Option<String>,
    /// The `ctx` claim: the tenant, parsed (a malformed one fails validation).
    pub tenant: Option<TenantId>,
    pub company_name: Option<String>,
    pub email: Option<String>,
    pub identity_provider: Option<String>,
    pub initials: Option<String>,
    pub is_administrator: Option<bool>,
    pub netserver_url: Option<Url>,
    pub serial: Option<String>,
    pub primary_email: Option<String>,
    #[serde(skip)]
    pub system_token: Option<Secret>,
    #[serde(skip)]
    pub ticket: Option<Secret>,
    pub upn: Option<String>,
    pub webapi_url: Option<Url>,
}

/// A validated OpenID Connect id_token from SuperOffice.
#[derive(Debug, Clone, Serialize)]
pub struct IdToken {
    pub subject: String,
    pub issuer: String,
    pub audience: Vec<String>,
    pub authorized_party: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub not_before: Option<i64>,
    /// When SuperOffice authenticated the user (`auth_time`), if the token says; it must when the
    /// sign-in asked for `max_age`.
    pub auth_time: Option<i64>,
    #[serde(skip)]
    pub nonce: Option<String>,
    pub superoffice: SuperOfficeClaims,
    /// The decoded payload, kept (moved, not copied) for [`IdToken::redacted_claims`].
    #[serde(skip)]
    pub(crate) payload: Vec<u8>,
}

impl IdToken {
    /// Whether SuperOffice authenticated the user at most `max_age` before `now` (`leeway` for clock
    /// skew). `Ok(false)` when the token has no `auth_time`: the caller decides what a provider
    /// that ignores `max_age` means for it.
    pub fn authenticated_within(
        &self,
        max_age: std::time::Duration,
        now: i64,
        leeway: std::time::Duration,
    ) -> Result<bool, Reason> {
        let Some(auth_time) = self.auth_time else {
            return Ok(false);
        };
        let limit = max_age.as_secs().saturating_add(leeway.as_secs());
        if now.saturating_sub(auth_time) > i64::try_from(limit).unwrap_or(i64::MAX) {
            return Err(Reason::AuthTooOld {
                auth_time,
                now,
                max_age: max_age.as_secs(),
            });
        }
        Ok(true)
    }

    /// The claims as they were in the token, with `system_token` and `ticket` values replaced by a
    /// marker: what an operator sees from `soapp token verify`.
    pub fn redacted_claims(&self) -> Map<String, Value> {
        super::strict_json::parse_object(&self.payload, "payload")
            .map(|m| redact(&m))
            .unwrap_or_default()
    }
}

/// A validated token returned by PartnerSystemUser/Authenticate.
#[derive(Debug, Clone)]
pub struct SystemUserToken {
    pub ticket: Secret,
    pub serial: String,
    pub tenant: TenantId,
    pub expires_at: i64,
}

pub(crate) fn redact(raw: &Map<String, Value>) -> Map<String, Value> {
    let mut out = raw.clone();
    for name in ["system_token", "ticket"] {
        let key = format!("{SO_CLAIM_PREFIX}{name}");
        if let Some(v) = out.get_mut(&key) {
            let n = v.as_str().map(|s| s.chars().count()).unwrap_or(0);
            *v = Value::String(format!("[redacted, {n} characters]"));
        }
    }
    out
}

/// The full name of a SuperOffice claim, built at compile time.
macro_rules! so_claim {
    ($name:literal) => {
        concat!("http://schemes.superoffice.net/identity/", $name)
    };
}

/// Typed access to a claims object with the reason codes the validator reports.
pub(crate) struct ClaimReader<'o, 'a>(pub &'o Object<'a>);

fn not_a(claim: &'static str, why: &'static str) -> Reason {
    Reason::InvalidClaim { claim, why }
}

impl<'a> ClaimReader<'_, 'a> {
    /// A string claim, named `name` in the token and `label` in reasons.
    fn string_as(&self, name: &str, label: &'static str) -> Result<Option<Cow<'a, str>>, Reason> {
        match self.0.get(name) {
            None => Ok(None),
            Some(raw) => match kind(raw) {
                Kind::Null => Ok(None),
                Kind::String => string(raw)
                    .map(Some)
                    .ok_or(not_a(label, "is not a valid string")),
                _ => Err(not_a(label, "must be a string")),
            },
        }
    }

    pub fn string(&self, name: &'static str) -> Result<Option<Cow<'a, str>>, Reason> {
        self.string_as(name, name)
    }

    pub fn required_string(&self, name: &'static str) -> Result<Cow<'a, str>, Reason> {
        match self.string(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(not_a(name, "must not be empty")),
            None => Err(Reason::MissingClaim(name)),
        }
    }

    /// A NumericDate that must be a JSON number.
    pub fn numeric_date(&self, name: &'static str) -> Result<Option<i64>, Reason> {
        let Some(raw) = self.0.get(name) else {
            return Ok(None);
        };
        match kind(raw) {
            Kind::Null => Ok(None),
            Kind::Number => numeric_date_value(name, number(raw)).map(Some),
            Kind::String => Err(not_a(name, "must be a number, not a string")),
            _ => Err(not_a(name, "must be a number")),
        }
    }

    /// `iat`: a number, or (SuperOffice's documented quirk) a string of digits.
    pub fn lenient_numeric_date(&self, name: &'static str) -> Result<Option<i64>, Reason> {
        match self.0.get(name) {
            Some(raw) if kind(raw) == Kind::String => {
                let s = string(raw).unwrap_or_default();
                if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(not_a(
                        name,
                        "is a string that is not a plain number of seconds",
                    ));
                }
                numeric_date_value(name, s.parse::<f64>().ok()).map(Some)
            }
            _ => self.numeric_date(name),
        }
    }

    /// `aud`: one string or a non-empty array of strings.
    pub fn audience(&self) -> Result<Vec<String>, Reason> {
        let Some(raw) = self.0.get("aud") else {
            return Err(Reason::MissingClaim("aud"));
        };
        match kind(raw) {
            Kind::Null => Err(Reason::MissingClaim("aud")),
            Kind::String => Ok(vec![string(raw).unwrap_or_default().into_owned()]),
            Kind::Array => {
                let items = array(raw).unwrap_or_default();
                if items.is_empty() {
                    return Err(not_a("aud", "must not be an empty array"));
                }
                items
                    .into_iter()
                    .map(|v| {
                        string(v)
                            .map(Cow::into_owned)
                            .ok_or(not_a("aud", "must hold only strings"))
                    })
                    .collect()
            }
            _ => Err(not_a(
                "aud",
                "must be a string or a non-empty array of strings",
            )),
        }
    }

    pub fn superoffice(&self) -> Result<SuperOfficeClaims, Reason> {
        let so = |name: &str, label: &'static str| -> Result<Option<String>, Reason> {
            Ok(self.string_as(name, label)?.map(Cow::into_owned))
        };
        let url = |name: &str, label: &'static str| -> Result<Option<Url>, Reason> {
            match self.string_as(name, label)? {
                None => Ok(None),
                Some(s) => Url::parse(&s)
                    .map(Some)
                    .map_err(|_| not_a(label, "is not a URL")),
            }
        };
        let is_administrator =
            match self.string_as(so_claim!("is_administrator"), "so:is_administrator")? {
                None => None,
                Some(s) if s.eq_ignore_ascii_case("true") => Some(true),
                Some(s) if s.eq_ignore_ascii_case("false") => Some(false),
                Some(_) => {
                    return Err(not_a(
                        "so:is_administrator",
                        "must be \"True\" or \"False\"",
                    ));
                }
            };
        Ok(SuperOfficeClaims {
            associate_id: so(so_claim!("associateid"), "so:associateid")?,
            tenant: match so(so_claim!("ctx"), "so:ctx")? {
                None => None,
                Some(s) => Some(TenantId::parse(&s).map_err(|_| Reason::InvalidClaim {
                    claim: "so:ctx",
                    why: "is not a context identifier like Cust12345",
                })?),
            },
            company_name: so(so_claim!("company_name"), "so:company_name")?,
            email: so(so_claim!("email"), "so:email")?,
            identity_provider: so(so_claim!("identityprovider"), "so:identityprovider")?,
            initials: so(so_claim!("initials"), "so:initials")?,
            is_administrator,
            netserver_url: url(so_claim!("netserver_url"), "so:netserver_url")?,
            serial: so(so_claim!("serial"), "so:serial")?,
            primary_email: so(
                so_claim!("so_primary_email_address"),
                "so:so_primary_email_address",
            )?,
            system_token: so(so_claim!("system_token"), "so:system_token")?.map(Secret::new),
            ticket: so(so_claim!("ticket"), "so:ticket")?.map(Secret::new),
            upn: so(so_claim!("upn"), "so:upn")?,
            webapi_url: url(so_claim!("webapi_url"), "so:webapi_url")?,
        })
    }
}

fn numeric_date_value(name: &'static str, v: Option<f64>) -> Result<i64, Reason> {
    match v {
        Some(v) if v.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&v) => Ok(v.floor() as i64),
        Some(v) if v.is_finite() && v < 0.0 => Err(Reason::InvalidClaim {
            claim: name,
            why: "is negative",
        }),
        _ => Err(Reason::InvalidClaim {
            claim: name,
            why: "is out of range",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: serde_json::Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn the_documented_example_claims_read_as_typed_values() {
        let doc = include_bytes!("../../tests/fixtures/id-token-claims-example.json");
        let obj = Object::parse(doc, "payload").unwrap();
        let r = ClaimReader(&obj);
        assert_eq!(r.lenient_numeric_date("iat").unwrap(), Some(1_581_665_207));
        assert_eq!(r.numeric_date("exp").unwrap(), Some(1_581_665_507));
        let so = r.superoffice().unwrap();
        assert_eq!(so.tenant.as_ref().map(TenantId::as_str), Some("Cust26759"));
        assert_eq!(so.is_administrator, Some(false));
        assert_eq!(
            so.webapi_url.unwrap().as_str(),
            "https://sod.superoffice.com/Cust26759/api/"
        );
        assert_eq!(
            so.system_token.unwrap().expose(),
            "SuperOffice DevNet Node OIDC-8k8Q7DmBgo"
        );
    }

    #[test]
    fn string_times_are_refused_except_iat() {
        let m = text(serde_json::json!({"exp": "9999999999", "nbf": "99999999999", "iat": "12"}));
        let o = Object::parse(&m, "payload").unwrap();
        let r = ClaimReader(&o);
        assert!(matches!(
            r.numeric_date("exp"),
            Err(Reason::InvalidClaim { claim: "exp", .. })
        ));
        assert!(matches!(
            r.numeric_date("nbf"),
            Err(Reason::InvalidClaim { claim: "nbf", .. })
        ));
        assert_eq!(r.lenient_numeric_date("iat").unwrap(), Some(12));
        let m = text(serde_json::json!({"iat": "12.5", "exp": -1, "nbf": 1e300}));
        let o = Object::parse(&m, "payload").unwrap();
        let r = ClaimReader(&o);
        assert!(r.lenient_numeric_date("iat").is_err());
        assert!(matches!(
            r.numeric_date("exp"),
            Err(Reason::InvalidClaim {
                why: "is negative",
                ..
            })
        ));
        assert!(matches!(
            r.numeric_date("nbf"),
            Err(Reason::InvalidClaim {
                why: "is out of range",
                ..
            })
        ));
    }

    #[test]
    fn redaction_hides_secrets() {
        let m = serde_json::json!({
            "http://schemes.superoffice.net/identity/system_token": "App-secret123",
            "sub": "x"
        });
        let red = redact(m.as_object().unwrap());
        assert_eq!(
            red["http://schemes.superoffice.net/identity/system_token"],
            "[redacted, 13 characters]"
        );
        assert_eq!(red["sub"], "x");
    }
}
