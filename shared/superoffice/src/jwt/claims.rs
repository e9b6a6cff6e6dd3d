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

use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use super::Reason;
use crate::Secret;

pub const SO_CLAIM_PREFIX: &str = "http://schemes.superoffice.net/identity/";

/// Latest accepted NumericDate (9999-12-31T23:59:59Z); anything later is nonsense, not "far future".
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// SuperOffice's namespaced claims. Secrets (`system_token`, `ticket`) never serialize.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SuperOfficeClaims {
    pub associate_id: Option<String>,
    pub context_id: Option<String>,
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
    #[serde(skip)]
    pub nonce: Option<String>,
    pub superoffice: SuperOfficeClaims,
    #[serde(skip)]
    pub(crate) raw: Map<String, Value>,
}

impl IdToken {
    /// The claims as they were in the token, with `system_token` and `ticket` values replaced by a
    /// marker: what an operator sees from `soapp token verify`.
    pub fn redacted_claims(&self) -> Map<String, Value> {
        redact(&self.raw)
    }
}

/// A validated token returned by PartnerSystemUser/Authenticate.
#[derive(Debug, Clone)]
pub struct SystemUserToken {
    pub ticket: Secret,
    pub serial: String,
    pub context_id: Option<String>,
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

/// Typed access to a claims object with the reason codes the validator reports.
pub(crate) struct ClaimReader<'a>(pub &'a Map<String, Value>);

impl<'a> ClaimReader<'a> {
    pub fn string(&self, name: &'static str) -> Result<Option<&'a str>, Reason> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Reason::InvalidClaim {
                claim: name,
                why: "must be a string",
            }),
        }
    }

    pub fn required_string(&self, name: &'static str) -> Result<&'a str, Reason> {
        match self.string(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(Reason::InvalidClaim {
                claim: name,
                why: "must not be empty",
            }),
            None => Err(Reason::MissingClaim(name)),
        }
    }

    /// A NumericDate that must be a JSON number.
    pub fn numeric_date(&self, name: &'static str) -> Result<Option<i64>, Reason> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => numeric_date_value(name, n.as_f64()).map(Some),
            Some(Value::String(_)) => Err(Reason::InvalidClaim {
                claim: name,
                why: "must be a number, not a string",
            }),
            Some(_) => Err(Reason::InvalidClaim {
                claim: name,
                why: "must be a number",
            }),
        }
    }

    /// `iat`: a number, or (SuperOffice's documented quirk) a string of digits.
    pub fn lenient_numeric_date(&self, name: &'static str) -> Result<Option<i64>, Reason> {
        match self.0.get(name) {
            Some(Value::String(s)) => {
                if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Reason::InvalidClaim {
                        claim: name,
                        why: "is a string that is not a plain number of seconds",
                    });
                }
                numeric_date_value(name, s.parse::<f64>().ok()).map(Some)
            }
            _ => self.numeric_date(name),
        }
    }

    /// `aud`: one string or a non-empty array of strings.
    pub fn audience(&self) -> Result<Vec<String>, Reason> {
        match self.0.get("aud") {
            None | Some(Value::Null) => Err(Reason::MissingClaim("aud")),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or(Reason::InvalidClaim {
                        claim: "aud",
                        why: "must hold only strings",
                    })
                })
                .collect(),
            Some(_) => Err(Reason::InvalidClaim {
                claim: "aud",
                why: "must be a string or a non-empty array of strings",
            }),
        }
    }

    pub fn superoffice(&self) -> Result<SuperOfficeClaims, Reason> {
        let so = |name: &'static str| -> Result<Option<String>, Reason> {
            match self.0.get(&format!("{SO_CLAIM_PREFIX}{name}")) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Reason::InvalidClaim {
                    claim: so_name(name),
                    why: "must be a string",
                }),
            }
        };
        let url = |name: &'static str| -> Result<Option<Url>, Reason> {
            match so(name)? {
                None => Ok(None),
                Some(s) => Url::parse(&s).map(Some).map_err(|_| Reason::InvalidClaim {
                    claim: so_name(name),
                    why: "is not a URL",
                }),
            }
        };
        let is_administrator = match so("is_administrator")? {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Some(false),
            Some(_) => {
                return Err(Reason::InvalidClaim {
                    claim: so_name("is_administrator"),
                    why: "must be \"True\" or \"False\"",
                });
            }
        };
        Ok(SuperOfficeClaims {
            associate_id: so("associateid")?,
            context_id: so("ctx")?,
            company_name: so("company_name")?,
            email: so("email")?,
            identity_provider: so("identityprovider")?,
            initials: so("initials")?,
            is_administrator,
            netserver_url: url("netserver_url")?,
            serial: so("serial")?,
            primary_email: so("so_primary_email_address")?,
            system_token: so("system_token")?.map(Secret::new),
            ticket: so("ticket")?.map(Secret::new),
            upn: so("upn")?,
            webapi_url: url("webapi_url")?,
        })
    }
}

/// Claim names for reason messages: the short name with a marker of the namespace.
fn so_name(name: &'static str) -> &'static str {
    match name {
        "associateid" => "so:associateid",
        "ctx" => "so:ctx",
        "company_name" => "so:company_name",
        "email" => "so:email",
        "identityprovider" => "so:identityprovider",
        "initials" => "so:initials",
        "is_administrator" => "so:is_administrator",
        "netserver_url" => "so:netserver_url",
        "serial" => "so:serial",
        "so_primary_email_address" => "so:so_primary_email_address",
        "system_token" => "so:system_token",
        "ticket" => "so:ticket",
        "upn" => "so:upn",
        "webapi_url" => "so:webapi_url",
        _ => "so:claim",
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

    fn reader(v: serde_json::Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn the_documented_example_claims_read_as_typed_values() {
        let doc = include_bytes!("../../tests/fixtures/id-token-claims-example.json");
        let map: Map<String, Value> = serde_json::from_slice(doc).unwrap();
        let r = ClaimReader(&map);
        assert_eq!(r.lenient_numeric_date("iat").unwrap(), Some(1_581_665_207));
        assert_eq!(r.numeric_date("exp").unwrap(), Some(1_581_665_507));
        let so = r.superoffice().unwrap();
        assert_eq!(so.context_id.as_deref(), Some("Cust26759"));
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
        let m = reader(serde_json::json!({"exp": "9999999999", "nbf": "99999999999", "iat": "12"}));
        let r = ClaimReader(&m);
        assert!(matches!(
            r.numeric_date("exp"),
            Err(Reason::InvalidClaim { claim: "exp", .. })
        ));
        assert!(matches!(
            r.numeric_date("nbf"),
            Err(Reason::InvalidClaim { claim: "nbf", .. })
        ));
        assert_eq!(r.lenient_numeric_date("iat").unwrap(), Some(12));
        let m = reader(serde_json::json!({"iat": "12.5", "exp": -1, "nbf": 1e300}));
        let r = ClaimReader(&m);
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
        let m = reader(serde_json::json!({
            "http://schemes.superoffice.net/identity/system_token": "App-secret123",
            "sub": "x"
        }));
        let red = redact(&m);
        assert_eq!(
            red["http://schemes.superoffice.net/identity/system_token"],
            "[redacted, 13 characters]"
        );
        assert_eq!(red["sub"], "x");
    }
}
