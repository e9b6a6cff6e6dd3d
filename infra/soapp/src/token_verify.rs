//! `soapp token verify`: the same validation as the redirect function, with the reason spelled out.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use superoffice::Environment;
use superoffice::discovery::Discovery;
use superoffice::jwt::{IdTokenRules, validate_id_token};
use superoffice::keys::KeySet;
use superoffice::transport::{HttpRequest, ReqwestTransport, Transport};

use crate::cli::VerifyArgs;

/// A configuration or usage problem: exit 2 with one line.
struct Fatal(String);

pub fn run(args: VerifyArgs) -> ExitCode {
    match verify(args) {
        Ok(Ok(claims)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&claims).unwrap_or_else(|_| "{}".into())
            );
            ExitCode::SUCCESS
        }
        Ok(Err(reason)) => {
            eprintln!("invalid: {reason}");
            ExitCode::from(1)
        }
        Err(Fatal(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

type Verdict = Result<serde_json::Map<String, serde_json::Value>, superoffice::jwt::Reason>;

fn verify(args: VerifyArgs) -> Result<Verdict, Fatal> {
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
        None => SystemTime::now(),
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(SystemTime::from)
            .map_err(|_| Fatal(format!("--now {s:?} is not an RFC 3339 time")))?,
    };
    let token = read_token(args.token.as_deref())?;
    let keys = load_keys(&args, &env)?;
    let rules = IdTokenRules::new(env, args.client_id.trim());
    Ok(
        validate_id_token(&token, &keys, &rules, now, args.nonce.as_deref())
            .map(|t| t.redacted_claims()),
    )
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

fn load_keys(args: &VerifyArgs, env: &Environment) -> Result<KeySet, Fatal> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| Fatal(format!("cannot read {}: {e}", path.display())))
    };
    if let Some(path) = &args.jwks {
        let bytes = read(path)?;
        return KeySet::from_jwks(&bytes)
            .map(|(set, _)| set)
            .map_err(|e| Fatal(format!("{}: {e}", path.display())));
    }
    if let Some(path) = &args.cert {
        let bytes = read(path)?;
        return KeySet::from_certificates(&bytes)
            .map_err(|e| Fatal(format!("{}: {e}", path.display())));
    }
    fetch_keys(env)
}

/// Discovery, then the JWKS it names: the same pinned path the deployed functions take.
fn fetch_keys(env: &Environment) -> Result<KeySet, Fatal> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let transport: Arc<dyn Transport> =
            Arc::new(ReqwestTransport::new().map_err(|e| Fatal(format!("HTTP client: {e}")))?);
        let discovery = Discovery::fetch(&*transport, env, Duration::from_secs(10))
            .await
            .map_err(|e| Fatal(format!("discovery: {}", soapp::error_chain(&e))))?;
        let request = HttpRequest::get(discovery.jwks_uri.clone(), Duration::from_secs(10))
            .accept_json()
            .max_response_bytes(256 * 1024);
        let response = transport.send(request).await.map_err(|e| {
            Fatal(format!(
                "JWKS {}: {}",
                discovery.jwks_uri,
                soapp::error_chain(&e)
            ))
        })?;
        if !response.status.is_success() {
            return Err(Fatal(format!(
                "JWKS {} answered HTTP {}",
                discovery.jwks_uri, response.status
            )));
        }
        KeySet::from_jwks(&response.body)
            .map(|(set, _)| set)
            .map_err(|e| Fatal(format!("JWKS {}: {e}", discovery.jwks_uri)))
    })
}
