//! Which simulated endpoint a request is for, decided once per request from method-less path
//! matching. The same classification drives the request log, fault matching and dispatch.

use std::fmt;
use std::str::FromStr;

/// The simulated endpoints, as recorded in the request log and matched by fault rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `GET /login/.well-known/openid-configuration`
    Discovery,
    /// `GET /login/.well-known/jwks`
    Jwks,
    /// `GET|POST /login/common/oauth/authorize` (sign-in and consent pages included)
    Authorize,
    /// `POST /login/common/oauth/tokens`
    Token,
    /// `POST /Login/api/PartnerSystemUser/Authenticate`
    SystemUser,
    /// `GET /api/state/{ctx}`
    TenantState,
    /// Anything under `/{shard}/{ctx}/api`
    WebApi,
    /// The simulator's own scripting API under `/__sim/`
    Admin,
    /// Anything else (answered 404)
    Other,
    /// `POST /login/common/oauth/Revoke`
    Revoke,
    /// `GET|POST /login/logout`
    Logout,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Discovery => "Discovery",
            Route::Jwks => "Jwks",
            Route::Authorize => "Authorize",
            Route::Token => "Token",
            Route::SystemUser => "SystemUser",
            Route::TenantState => "TenantState",
            Route::WebApi => "WebApi",
            Route::Admin => "Admin",
            Route::Other => "Other",
            Route::Revoke => "Revoke",
            Route::Logout => "Logout",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a route name case-insensitively, ignoring `_` and `-`: `"Token"`, `"token"`,
/// `"system_user"`, `"tenant-state"`, `"webapi"`.
impl FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '_' && *c != '-' && *c != ' ')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Ok(match norm.as_str() {
            "discovery" => Route::Discovery,
            "jwks" => Route::Jwks,
            "authorize" => Route::Authorize,
            "token" | "tokens" => Route::Token,
            "systemuser" => Route::SystemUser,
            "tenantstate" | "state" => Route::TenantState,
            "webapi" => Route::WebApi,
            "admin" => Route::Admin,
            "other" => Route::Other,
            "revoke" => Route::Revoke,
            "logout" => Route::Logout,
            _ => return Err(format!("unknown route {s:?}")),
        })
    }
}

impl serde::Serialize for Route {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Route {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) const DISCOVERY_PATH: &str = "/login/.well-known/openid-configuration";
pub(crate) const JWKS_PATH: &str = "/login/.well-known/jwks";
pub(crate) const AUTHORIZE_PATH: &str = "/login/common/oauth/authorize";
pub(crate) const TOKEN_PATH: &str = "/login/common/oauth/tokens";
pub(crate) const REVOKE_PATH: &str = "/login/common/oauth/Revoke";
pub(crate) const LOGOUT_PATH: &str = "/login/logout";
pub(crate) const SYSTEM_USER_PATH: &str = "/Login/api/PartnerSystemUser/Authenticate";

/// The fixed endpoints. SuperOffice runs on IIS, whose paths are case-insensitive, so these are
/// matched ignoring ASCII case and rewritten to the spelling our router uses.
const FIXED: &[(&str, Route)] = &[
    (DISCOVERY_PATH, Route::Discovery),
    (JWKS_PATH, Route::Jwks),
    (AUTHORIZE_PATH, Route::Authorize),
    (TOKEN_PATH, Route::Token),
    (REVOKE_PATH, Route::Revoke),
    (LOGOUT_PATH, Route::Logout),
    (SYSTEM_USER_PATH, Route::SystemUser),
];

/// Where a request goes after classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The main router, with the path rewritten to this canonical spelling if `Some`.
    Main(Option<&'static str>),
    /// The tenant WebAPI: `/{shard}/{ctx}/api{rest}`; `rest` is "" or starts with '/'.
    WebApi {
        shard: String,
        ctx: String,
        rest: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Classified {
    pub(crate) route: Route,
    /// The tenant named in the path, if any.
    pub(crate) tenant: Option<String>,
    pub(crate) target: Target,
}

pub(crate) fn classify(path: &str) -> Classified {
    for (fixed, route) in FIXED {
        if path.eq_ignore_ascii_case(fixed) {
            return Classified {
                route: *route,
                tenant: None,
                target: Target::Main(Some(fixed)),
            };
        }
    }
    if path == "/__sim" || path.starts_with("/__sim/") {
        return main(Route::Admin, None);
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["api", "state", ctx] = segments.as_slice()
        && !ctx.is_empty()
    {
        return main(Route::TenantState, Some((*ctx).to_owned()));
    }
    if segments.len() >= 3
        && segments[2].eq_ignore_ascii_case("api")
        && !segments[0].is_empty()
        && !segments[1].is_empty()
    {
        let rest = segments[3..]
            .iter()
            .fold(String::new(), |acc, s| acc + "/" + s);
        return Classified {
            route: Route::WebApi,
            tenant: Some(segments[1].to_owned()),
            target: Target::WebApi {
                shard: segments[0].to_owned(),
                ctx: segments[1].to_owned(),
                rest,
            },
        };
    }
    main(Route::Other, None)
}

fn main(route: Route, tenant: Option<String>) -> Classified {
    Classified {
        route,
        tenant,
        target: Target::Main(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_paths_ignore_case() {
        let c = classify("/login/api/partnersystemuser/authenticate");
        assert_eq!(c.route, Route::SystemUser);
        assert_eq!(c.target, Target::Main(Some(SYSTEM_USER_PATH)));
        assert_eq!(classify("/login/common/oauth/revoke").route, Route::Revoke);
    }

    #[test]
    fn tenant_paths() {
        let c = classify("/api/state/Cust12345");
        assert_eq!(c.route, Route::TenantState);
        assert_eq!(c.tenant.as_deref(), Some("Cust12345"));

        let c = classify("/sod2/Cust12345/api/v1/User/currentPrincipal");
        assert_eq!(c.route, Route::WebApi);
        assert_eq!(
            c.target,
            Target::WebApi {
                shard: "sod2".into(),
                ctx: "Cust12345".into(),
                rest: "/v1/User/currentPrincipal".into()
            }
        );
        let c = classify("/sod2/Cust12345/api");
        assert_eq!(
            c.target,
            Target::WebApi {
                shard: "sod2".into(),
                ctx: "Cust12345".into(),
                rest: String::new()
            }
        );
        assert_eq!(
            classify("/sod2/Cust12345/Remote/Services88/").route,
            Route::Other
        );
        assert_eq!(classify("/").route, Route::Other);
        assert_eq!(classify("/__sim/faults").route, Route::Admin);
    }

    #[test]
    fn route_names_parse_leniently() {
        assert_eq!("system_user".parse::<Route>(), Ok(Route::SystemUser));
        assert_eq!("Tenant-State".parse::<Route>(), Ok(Route::TenantState));
        assert_eq!("WebApi".parse::<Route>(), Ok(Route::WebApi));
        assert!("nope".parse::<Route>().is_err());
    }
}
