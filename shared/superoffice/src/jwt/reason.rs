//! Why a token was refused: a stable code for logs and metrics, and a specific sentence for the
//! operator (`soapp token verify`). Values copied from a token are shortened and escaped.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    TooLarge {
        len: usize,
        max: usize,
    },
    Malformed(&'static str),
    BadEncoding(&'static str),
    BadJson(String),
    DuplicateKey(String),
    AlgNotAllowed(String),
    TypNotAllowed(String),
    CritNotAllowed,
    KeyInHeader(&'static str),
    InvalidKid(&'static str),
    UnknownKid(String),
    AmbiguousKey,
    MissingSignature,
    BadSignature,
    MissingClaim(&'static str),
    InvalidClaim {
        claim: &'static str,
        why: &'static str,
    },
    Expired {
        exp: i64,
        now: i64,
        leeway: u64,
    },
    NotYetValid {
        nbf: i64,
        now: i64,
        leeway: u64,
    },
    IssuedInFuture {
        iat: i64,
        now: i64,
        leeway: u64,
    },
    TooOld {
        iat: i64,
        now: i64,
        max_age: u64,
    },
    WrongIssuer {
        found: String,
        expected: String,
    },
    WrongAudience {
        found: Vec<String>,
        expected: String,
    },
    AzpRequired,
    AzpMismatch(String),
    NonceMissing,
    NonceMismatch,
    HostNotAllowed {
        claim: &'static str,
        url: String,
    },
    ContextMismatch {
        found: String,
        expected: String,
    },
    /// The sign-in asked for `max_age` and SuperOffice's authentication (`auth_time`) is older.
    AuthTooOld {
        auth_time: i64,
        now: i64,
        max_age: u64,
    },
    /// A system-user token for another database than the tenant's known one.
    SerialMismatch {
        found: String,
        expected: String,
    },
}

impl Reason {
    /// The reason code that goes into log lines and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::TooLarge { .. } => "too_large",
            Reason::Malformed(_) => "malformed",
            Reason::BadEncoding(_) => "bad_encoding",
            Reason::BadJson(_) => "bad_json",
            Reason::DuplicateKey(_) => "duplicate_key",
            Reason::AlgNotAllowed(_) => "alg_not_allowed",
            Reason::TypNotAllowed(_) => "typ_not_allowed",
            Reason::CritNotAllowed => "crit_not_allowed",
            Reason::KeyInHeader(_) => "key_in_header",
            Reason::InvalidKid(_) => "invalid_kid",
            Reason::UnknownKid(_) => "unknown_kid",
            Reason::AmbiguousKey => "ambiguous_key",
            Reason::MissingSignature => "missing_signature",
            Reason::BadSignature => "bad_signature",
            Reason::MissingClaim(_) => "missing_claim",
            Reason::InvalidClaim { .. } => "invalid_claim",
            Reason::Expired { .. } => "expired",
            Reason::NotYetValid { .. } => "not_yet_valid",
            Reason::IssuedInFuture { .. } => "iat_in_future",
            Reason::TooOld { .. } => "iat_too_old",
            Reason::WrongIssuer { .. } => "wrong_issuer",
            Reason::WrongAudience { .. } => "wrong_audience",
            Reason::AzpRequired => "azp_required",
            Reason::AzpMismatch(_) => "azp_mismatch",
            Reason::NonceMissing => "nonce_missing",
            Reason::NonceMismatch => "nonce_mismatch",
            Reason::HostNotAllowed { .. } => "host_not_allowed",
            Reason::ContextMismatch { .. } => "context_mismatch",
            Reason::AuthTooOld { .. } => "auth_time_too_old",
            Reason::SerialMismatch { .. } => "serial_mismatch",
        }
    }
}

/// At most 80 characters of a value taken from a token, with control characters escaped.
pub(crate) fn shown(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(80)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().count() > 80 {
        out.push('…');
    }
    out
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::TooLarge { len, max } => {
                write!(f, "too_large: the token is {len} bytes; the limit is {max}")
            }
            Reason::Malformed(why) => write!(f, "malformed: {why}"),
            Reason::BadEncoding(why) => write!(f, "bad_encoding: {why}"),
            Reason::BadJson(why) => write!(f, "bad_json: {why}"),
            Reason::DuplicateKey(k) => {
                write!(
                    f,
                    "duplicate_key: the JSON has the key \"{k}\" more than once"
                )
            }
            Reason::AlgNotAllowed(alg) => {
                write!(f, "alg_not_allowed: alg \"{alg}\"; only RS256 is accepted")
            }
            Reason::TypNotAllowed(typ) => {
                write!(f, "typ_not_allowed: typ \"{typ}\"; only JWT is accepted")
            }
            Reason::CritNotAllowed => write!(f, "crit_not_allowed: the header has a crit list"),
            Reason::KeyInHeader(h) => write!(
                f,
                "key_in_header: the header carries \"{h}\"; keys are only taken from the pinned key source"
            ),
            Reason::InvalidKid(why) => write!(f, "invalid_kid: {why}"),
            Reason::UnknownKid(kid) => write!(
                f,
                "unknown_kid: no trusted key has kid \"{kid}\" (after refreshing the key set if allowed)"
            ),
            Reason::AmbiguousKey => write!(
                f,
                "ambiguous_key: the token names no key and several keys are trusted"
            ),
            Reason::MissingSignature => write!(f, "missing_signature: the signature is empty"),
            Reason::BadSignature => write!(
                f,
                "bad_signature: the signature does not match the token and the trusted key"
            ),
            Reason::MissingClaim(c) => write!(f, "missing_claim: \"{c}\" is required"),
            Reason::InvalidClaim { claim, why } => write!(f, "invalid_claim: \"{claim}\" {why}"),
            Reason::Expired { exp, now, leeway } => write!(
                f,
                "expired: exp {} is {} s before now ({}); leeway {leeway} s",
                fmt_time(*exp),
                now.saturating_sub(*exp),
                fmt_time(*now)
            ),
            Reason::NotYetValid { nbf, now, leeway } => write!(
                f,
                "not_yet_valid: nbf {} is {} s after now ({}); leeway {leeway} s",
                fmt_time(*nbf),
                nbf.saturating_sub(*now),
                fmt_time(*now)
            ),
            Reason::IssuedInFuture { iat, now, leeway } => write!(
                f,
                "iat_in_future: iat {} is {} s after now ({}); leeway {leeway} s",
                fmt_time(*iat),
                iat.saturating_sub(*now),
                fmt_time(*now)
            ),
            Reason::TooOld { iat, now, max_age } => write!(
                f,
                "iat_too_old: issued {} s ago at {}; at most {max_age} s are accepted",
                now.saturating_sub(*iat),
                fmt_time(*iat)
            ),
            Reason::WrongIssuer { found, expected } => write!(
                f,
                "wrong_issuer: iss \"{found}\"; this stack accepts only \"{expected}\""
            ),
            Reason::WrongAudience { found, expected } => write!(
                f,
                "wrong_audience: aud {found:?} does not contain our client id \"{expected}\""
            ),
            Reason::AzpRequired => write!(
                f,
                "azp_required: the token has several audiences and no azp naming our client id"
            ),
            Reason::AzpMismatch(azp) => {
                write!(f, "azp_mismatch: azp \"{azp}\" is not our client id")
            }
            Reason::NonceMissing => {
                write!(
                    f,
                    "nonce_missing: this sign-in expects a nonce and the token has none"
                )
            }
            Reason::NonceMismatch => write!(
                f,
                "nonce_mismatch: the nonce is not the one this sign-in started with"
            ),
            Reason::HostNotAllowed { claim, url } => write!(
                f,
                "host_not_allowed: \"{claim}\" points to {url}, outside this environment's hosts"
            ),
            Reason::ContextMismatch { found, expected } => write!(
                f,
                "context_mismatch: the token is for tenant \"{found}\", not \"{expected}\""
            ),
            Reason::AuthTooOld {
                auth_time,
                now,
                max_age,
            } => write!(
                f,
                "auth_time_too_old: the user authenticated {} s ago at {}; this sign-in asked for at most {max_age} s",
                now.saturating_sub(*auth_time),
                fmt_time(*auth_time)
            ),
            Reason::SerialMismatch { found, expected } => write!(
                f,
                "serial_mismatch: the token is for database serial \"{found}\", the tenant's is \"{expected}\""
            ),
        }
    }
}

fn fmt_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}
