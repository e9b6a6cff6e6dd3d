//! Pure validation: a token, a key set, the rules and "now" in; typed claims or a [`Reason`] out.

use std::time::{Duration, SystemTime};

use super::claims::{ClaimReader, IdToken, SystemUserToken};
use super::reason::shown;
use super::strict_json::{Kind, Object, kind, string};
use super::{Reason, compact};
use crate::Environment;
use crate::clock::unix_seconds;
use crate::keys::{KeySet, Lookup, MAX_KID_LEN};

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// How old an id_token may be at the redirect (`iat` window). SuperOffice issues them for 5 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
/// Tokens above this are refused before decoding. Real SuperOffice id_tokens are about 2 kB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What an id_token must satisfy for one deployment.
#[derive(Debug, Clone)]
pub struct IdTokenRules {
    /// Exact `iss`; comes from configuration, never from a token.
    pub issuer: String,
    /// Our client id: `aud` must contain it (and `azp` name it when there are several audiences).
    pub client_id: String,
    pub leeway: Duration,
    pub max_age: Duration,
    pub max_token_bytes: usize,
    /// Decides which hosts `webapi_url` and `netserver_url` may point to.
    pub environment: Environment,
}

impl IdTokenRules {
    pub fn new(environment: Environment, client_id: impl Into<String>) -> Self {
        Self {
            issuer: environment.issuer(),
            client_id: client_id.into(),
            leeway: DEFAULT_LEEWAY,
            max_age: DEFAULT_MAX_AGE,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            environment,
        }
    }
}

/// What a PartnerSystemUser/Authenticate token must satisfy.
#[derive(Debug, Clone)]
pub struct SystemUserRules {
    pub leeway: Duration,
    pub max_token_bytes: usize,
    /// The tenant the ticket was asked for: the token's `ctx` claim must be present and name it.
    pub expected_context: crate::TenantId,
    /// The tenant's database serial as we know it (from the administrator's id_token at consent).
    /// When known, the token's `serial` must be it and `aud` must be `spn:{it}`; when not, `aud` is
    /// checked against the token's own `serial`, which proves only that the token is consistent.
    pub expected_serial: Option<String>,
}

impl SystemUserRules {
    pub fn new(expected_context: crate::TenantId, expected_serial: Option<String>) -> Self {
        Self {
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            expected_context,
            expected_serial,
        }
    }
}

pub const SYSTEM_USER_ISSUER: &str = "SuperOffice AS";

/// Header fields that would let a token choose its own key. Never trusted.
const KEY_HEADERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

/// Steps 1 to 4 of the module docs: shape, header policy, key, signature. Returns the decoded payload
/// (still to be parsed: a forged payload never reaches the JSON parser).
pub(crate) fn verify_signature(
    token: &str,
    keys: &KeySet,
    max_bytes: usize,
) -> Result<Vec<u8>, Reason> {
    verify_signature_inner(token, keys, max_bytes).map_err(|reason| match reason {
        Reason::Malformed(_)
        | Reason::BadSignature
        | Reason::BadEncoding(_)
        | Reason::BadJson(_) => compact::explain_characters(token).unwrap_or(reason),
        other => other,
    })
}

fn verify_signature_inner(token: &str, keys: &KeySet, max_bytes: usize) -> Result<Vec<u8>, Reason> {
    let parts = compact::split(token, max_bytes)?;
    let header_bytes = compact::decode_segment(parts.header, "the header is not base64url")?;
    let header = Object::parse_with_capacity(&header_bytes, "header", 8)?;
    let header_string = |name: &str| header.get(name).map(|raw| (kind(raw), string(raw)));

    match header_string("alg") {
        Some((_, Some(alg))) if alg == "RS256" => {}
        Some((_, Some(alg))) => return Err(Reason::AlgNotAllowed(shown(&alg))),
        Some(_) => return Err(Reason::AlgNotAllowed("(not a string)".into())),
        None => return Err(Reason::AlgNotAllowed("(missing)".into())),
    }
    if header.contains_key("crit") {
        return Err(Reason::CritNotAllowed);
    }
    if let Some(h) = KEY_HEADERS.iter().find(|h| header.contains_key(h)) {
        return Err(Reason::KeyInHeader(h));
    }
    match header_string("typ") {
        None | Some((Kind::Null, _)) => {}
        Some((_, Some(t))) if t.eq_ignore_ascii_case("JWT") => {}
        Some((_, Some(t))) => return Err(Reason::TypNotAllowed(shown(&t))),
        Some(_) => return Err(Reason::TypNotAllowed("(not a string)".into())),
    }
    let kid = match header_string("kid") {
        None | Some((Kind::Null, _)) => None,
        Some((_, Some(k))) if k.is_empty() => return Err(Reason::InvalidKid("kid is empty")),
        Some((_, Some(k))) if k.len() > MAX_KID_LEN => {
            return Err(Reason::InvalidKid("kid is longer than any key id we issue"));
        }
        Some((_, Some(k))) if k.chars().any(char::is_control) => {
            return Err(Reason::InvalidKid("kid contains control characters"));
        }
        Some((_, Some(k))) => Some(k),
        Some(_) => return Err(Reason::InvalidKid("kid is not a string")),
    };
    let x5t = match header_string("x5t") {
        None | Some((Kind::Null, _)) => None,
        Some((_, Some(t))) => Some(t),
        Some(_) => return Err(Reason::Malformed("x5t is not a string")),
    };
    if parts.signature.is_empty() {
        return Err(Reason::MissingSignature);
    }
    let key = match keys.lookup(kid.as_deref(), x5t.as_deref()) {
        Lookup::Found(k) => k,
        Lookup::Unknown => {
            return Err(Reason::UnknownKid(shown(
                kid.as_deref().or(x5t.as_deref()).unwrap_or("(none)"),
            )));
        }
        Lookup::Ambiguous => return Err(Reason::AmbiguousKey),
    };
    let signature = compact::decode_segment(parts.signature, "the signature is not base64url")?;
    if !key.verify(parts.signing_input.as_bytes(), &signature) {
        return Err(Reason::BadSignature);
    }
    compact::decode_segment(parts.payload, "the payload is not base64url")
}

/// Validates an id_token presented at our redirect URL.
pub fn validate_id_token(
    token: &str,
    keys: &KeySet,
    rules: &IdTokenRules,
    now: SystemTime,
    expected_nonce: Option<&str>,
) -> Result<IdToken, Reason> {
    let payload = verify_signature(token, keys, rules.max_token_bytes)?;
    let claims = Object::parse(&payload, "payload")?;
    let r = ClaimReader(&claims);
    let now = unix_seconds(now);
    let leeway = rules.leeway.as_secs();

    let issuer = r.required_string("iss")?;
    if issuer != rules.issuer {
        return Err(Reason::WrongIssuer {
            found: shown(&issuer),
            expected: rules.issuer.clone(),
        });
    }
    let audience = r.audience()?;
    let azp = r.string("azp")?;
    if !audience.iter().any(|a| a == &rules.client_id) {
        return Err(Reason::WrongAudience {
            found: audience.iter().map(|a| shown(a)).collect(),
            expected: rules.client_id.clone(),
        });
    }
    match azp {
        Some(azp) if azp != rules.client_id.as_str() => {
            return Err(Reason::AzpMismatch(shown(&azp)));
        }
        None if audience.len() > 1 => return Err(Reason::AzpRequired),
        _ => {}
    }

    let (issued_at, expires_at, not_before) = check_times(&r, now, leeway)?;
    let iat = issued_at.ok_or(Reason::MissingClaim("iat"))?;
    if now.saturating_sub(iat) > rules.max_age.as_secs() as i64 {
        return Err(Reason::TooOld {
            iat,
            now,
            max_age: rules.max_age.as_secs(),
        });
    }

    let auth_time = r.numeric_date("auth_time")?;
    if let Some(at) = auth_time
        && at > now.saturating_add(leeway as i64)
    {
        return Err(Reason::InvalidClaim {
            claim: "auth_time",
            why: "lies in the future",
        });
    }
    let subject = r.required_string("sub")?;
    let nonce = r.string("nonce")?;
    if let Some(expected) = expected_nonce {
        let found = nonce.as_deref().ok_or(Reason::NonceMissing)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(found.as_bytes(), expected.as_bytes())
            .is_err()
        {
            return Err(Reason::NonceMismatch);
        }
    }

    let superoffice = r.superoffice()?;
    for (claim, url) in [
        ("so:webapi_url", &superoffice.webapi_url),
        ("so:netserver_url", &superoffice.netserver_url),
    ] {
        if let Some(url) = url
            && !rules.environment.allows_service_url(url)
        {
            return Err(Reason::HostNotAllowed {
                claim,
                url: shown(url.as_str()),
            });
        }
    }

    let token = IdToken {
        subject: subject.into_owned(),
        issuer: issuer.into_owned(),
        audience,
        authorized_party: azp.map(|a| a.into_owned()),
        issued_at: iat,
        expires_at,
        not_before,
        auth_time,
        nonce: nonce.map(|n| n.into_owned()),
        superoffice,
        payload: Vec::new(),
    };
    drop(claims);
    Ok(IdToken { payload, ..token })
}

/// `exp` (required), `nbf` and `iat` (optional here) against now and the leeway.
pub(crate) fn check_times(
    r: &ClaimReader<'_, '_>,
    now: i64,
    leeway: u64,
) -> Result<(Option<i64>, i64, Option<i64>), Reason> {
    let exp = r.numeric_date("exp")?.ok_or(Reason::MissingClaim("exp"))?;
    let nbf = r.numeric_date("nbf")?;
    let iat = r.lenient_numeric_date("iat")?;
    let l = leeway as i64;
    if now > exp.saturating_add(l) {
        return Err(Reason::Expired { exp, now, leeway });
    }
    if let Some(nbf) = nbf
        && nbf > now.saturating_add(l)
    {
        return Err(Reason::NotYetValid { nbf, now, leeway });
    }
    if let Some(iat) = iat
        && iat > now.saturating_add(l)
    {
        return Err(Reason::IssuedInFuture { iat, now, leeway });
    }
    Ok((iat, exp, nbf))
}

/// Validates the JWT returned by PartnerSystemUser/Authenticate: `iss` "SuperOffice AS", `ctx` the
/// tenant we asked for, `serial` the tenant's known one and `aud` `spn:{serial}`, times, and the
/// `ticket` claim.
pub fn validate_system_user_token(
    token: &str,
    keys: &KeySet,
    rules: &SystemUserRules,
    now: SystemTime,
) -> Result<SystemUserToken, Reason> {
    let payload = verify_signature(token, keys, rules.max_token_bytes)?;
    let claims = Object::parse(&payload, "payload")?;
    let r = ClaimReader(&claims);
    let now = unix_seconds(now);
    let issuer = r.required_string("iss")?;
    if issuer != SYSTEM_USER_ISSUER {
        return Err(Reason::WrongIssuer {
            found: shown(&issuer),
            expected: SYSTEM_USER_ISSUER.into(),
        });
    }
    let so = r.superoffice()?;
    let tenant = so.tenant.clone().ok_or(Reason::MissingClaim("so:ctx"))?;
    if tenant != rules.expected_context {
        return Err(Reason::ContextMismatch {
            found: shown(tenant.as_str()),
            expected: rules.expected_context.to_string(),
        });
    }
    let serial = so
        .serial
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or(Reason::MissingClaim("so:serial"))?;
    if let Some(expected) = &rules.expected_serial
        && *expected != serial
    {
        return Err(Reason::SerialMismatch {
            found: shown(&serial),
            expected: expected.clone(),
        });
    }
    let expected_aud = format!("spn:{serial}");
    let audience = r.audience()?;
    if !audience.iter().any(|a| a == &expected_aud) {
        return Err(Reason::WrongAudience {
            found: audience.iter().map(|a| shown(a)).collect(),
            expected: expected_aud,
        });
    }
    let (_, expires_at, _) = check_times(&r, now, rules.leeway.as_secs())?;
    let ticket = so
        .ticket
        .filter(|t| !t.is_empty())
        .ok_or(Reason::MissingClaim("so:ticket"))?;
    Ok(SystemUserToken {
        ticket,
        serial,
        tenant,
        expires_at,
    })
}
