//! `soapp token verify`: the same validation as the redirect function, with the reason spelled out.
//!
//! The token goes through the platform's own validator, built as the functions build it
//! ([`superoffice::client::SuperOffice`]): discovery and the JWKS with the platform's timeouts, the
//! environment's compiled-in certificate serving while the JWKS cannot be fetched, one refresh for an
//! unknown `kid`. `--jwks` or `--cert` pin the keys instead (as a deployment's pinned key option
//! does); `--now` stops the clock at that time.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use superoffice::client::{KeysFrom, PlatformConfig, SuperOffice};
use superoffice::clock::{Clock, ManualClock, RandomJitter, SystemClock};
use superoffice::jwt::TokenError;
use superoffice::keys::KeySet;
use superoffice::transport::ReqwestTransport;
use superoffice::{Environment, Secret};

use crate::cli::VerifyArgs;

/// A configuration or usage problem: exit 2 with one line.
struct Fatal(String);

pub fn run(args: VerifyArgs) -> ExitCode {
    let check = match prepare(args) {
        Ok(c) => c,
        Err(fatal) => return report(Err(fatal)),
    };
    crate::block_on(async move { report(verify(check).await) })
}

fn report(outcome: Result<Verdict, Fatal>) -> ExitCode {
    match outcome {
        Ok(Ok(claims)) => {
            let json = serde_json::to_string_pretty(&claims).unwrap_or_else(|_| "{}".into());
            match crate::output::stdout(&format!("{json}\n")) {
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            }
        }
        Ok(Err(reason)) => {
            crate::output::stderr(&format!("invalid: {reason}\n"));
            ExitCode::from(1)
        }
        Err(Fatal(message)) => {
            crate::output::stderr(&format!("error: {message}\n"));
            ExitCode::from(2)
        }
    }
}

type Verdict = Result<serde_json::Map<String, serde_json::Value>, superoffice::jwt::Reason>;

/// Everything the command line says, checked before any I/O.
struct Check {
    env: Environment,
    client_id: String,
    /// `None`: the real clock.
    now: Option<SystemTime>,
    nonce: Option<String>,
    token: String,
    keys: KeysFrom,
}

fn prepare(args: VerifyArgs) -> Result<Check, Fatal> {
    let env: Environment = match (&args.env, &args.issuer) {
        (Some(e), None) => {
            let env: Environment = e.parse().map_err(|e| Fatal(format!("--env: {e}")))?;
            if env.is_custom() {
                return Err(Fatal(
                    "--env takes sod, qaonline or online; use --issuer for a URL".into(),
                ));
            }
            env
        }
        (None, Some(url)) => url.parse().map_err(|e| Fatal(format!("--issuer: {e}")))?,
        _ => return Err(Fatal("give either --env or --issuer".into())),
    };
    if args.client_id.trim().is_empty() {
        return Err(Fatal("--client-id is empty".into()));
    }
    let now = match &args.now {
        None => None,
        Some(s) => Some(
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(SystemTime::from)
                .map_err(|_| Fatal(format!("--now {s:?} is not an RFC 3339 time")))?,
        ),
    };
    let token = read_token(args.token.as_deref())?;
    let keys = load_keys(&args)?;
    Ok(Check {
        env,
        client_id: args.client_id.trim().to_owned(),
        now,
        nonce: args.nonce,
        token,
        keys,
    })
}

/// Validates with the platform's validator, exactly as the redirect function's callback does.
async fn verify(check: Check) -> Result<Verdict, Fatal> {
    let transport =
        Arc::new(ReqwestTransport::new().map_err(|e| Fatal(format!("HTTP client: {e}")))?);
    let clock: Arc<dyn Clock> = match check.now {
        // A clock that stands still at `--now` (nothing on this path sleeps).
        Some(now) => Arc::new(ManualClock::new(now)),
        None => Arc::new(SystemClock),
    };
    let from_discovery = matches!(check.keys, KeysFrom::Discovery);
    let mut config = PlatformConfig::new(
        check.env,
        check.client_id,
        // Validation needs no client secret.
        Secret::new(""),
    );
    config.keys = check.keys;
    let platform = SuperOffice::new(config, transport, clock, Arc::new(RandomJitter));
    let discovery_failed = |e: superoffice::discovery::DiscoveryError| {
        Fatal(format!("discovery: {}", soapp::error_chain(&e)))
    };
    let validator = platform
        .id_token_validator()
        .await
        .map_err(discovery_failed)?;
    let verdict = validator
        .validate(&check.token, check.nonce.as_deref())
        .await;
    let claims = match verdict {
        Ok(token) => Ok(token.redacted_claims()),
        Err(TokenError::Invalid(reason)) => Err(reason),
        Err(TokenError::KeysUnavailable(e)) => {
            return Err(Fatal(format!(
                "JWKS {}: {}",
                jwks_uri(&platform).await,
                soapp::error_chain(&e)
            )));
        }
    };
    if from_discovery && !validator.key_store().serves_fetched_keys() {
        crate::output::stderr(&format!(
            "note: the JWKS at {} could not be fetched; the token was checked against the \
             environment's compiled-in certificate, as the functions do until a fetch succeeds\n",
            jwks_uri(&platform).await
        ));
    }
    Ok(claims)
}

/// The JWKS URL, for messages. Only called once keys came through discovery, which is then cached.
async fn jwks_uri(platform: &SuperOffice) -> String {
    match platform.discovery().await {
        Ok(d) => d.jwks_uri.to_string(),
        Err(_) => "(unknown)".to_owned(),
    }
}

fn read_token(arg: Option<&str>) -> Result<String, Fatal> {
    let raw = match arg {
        Some(t) if t != "-" => t.to_owned(),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .take(1024 * 1024)
                .read_to_string(&mut s)
                .map_err(|e| Fatal(format!("could not read the token from standard input: {e}")))?;
            s
        }
    };
    let token = raw.trim().to_owned();
    if token.is_empty() {
        return Err(Fatal(
            "no token given (pass it as an argument or on standard input)".into(),
        ));
    }
    Ok(token)
}

/// `--jwks` or `--cert` pin the keys; otherwise they come through discovery.
fn load_keys(args: &VerifyArgs) -> Result<KeysFrom, Fatal> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| Fatal(format!("cannot read {}: {e}", path.display())))
    };
    if let Some(path) = &args.jwks {
        let bytes = read(path)?;
        return KeySet::from_jwks(&bytes)
            .map(|(set, _)| KeysFrom::Pinned(set))
            .map_err(|e| Fatal(format!("{}: {e}", path.display())));
    }
    if let Some(path) = &args.cert {
        let bytes = read(path)?;
        return KeySet::from_certificates(&bytes)
            .map(KeysFrom::Pinned)
            .map_err(|e| Fatal(format!("{}: {e}", path.display())));
    }
    Ok(KeysFrom::Discovery)
}
