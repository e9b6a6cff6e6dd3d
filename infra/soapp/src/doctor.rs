//! `soapp doctor`: checks a configuration end to end and says, per check, what to fix.
//!
//! It reads the same variables as the functions (from the environment, or an env file), then walks
//! the path a sign-in and an install take: discovery and issuer, signing keys, the client id and
//! secret (a probe at the token endpoint tells a wrong secret from a right one), the system-user key,
//! and the store.

use std::sync::Arc;
use std::time::Duration;

use adapters::secrets::SecretLoader;
use domain::config::{AppConfig, Storage};
use domain::secrets::{SecretRef, SecretSource};
use domain::store::Items;
use superoffice::Secret;
use superoffice::clock::unix_seconds;
use superoffice::discovery::Discovery;
use superoffice::jwks::{KeysUnavailable, fetch_jwks};
use superoffice::oidc::{CodeExchange, OidcError, exchange_code};
use superoffice::system_user::SystemUserKey;
use superoffice::transport::{ReqwestTransport, Transport};

/// Every variable `soapp doctor` reads (the functions' configuration, `domain::config`), and what
/// each is for: `soapp doctor --help` prints this list, and a test checks that the configuration
/// reads no variable missing from it.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "SO_ENVIRONMENT",
        "the SuperOffice environment: sod, qaonline (stage), online, or the base URL of an OpenID Connect provider (required)",
    ),
    (
        "SO_CLIENT_ID",
        "the app's client id for that environment, from the Developer Portal (required)",
    ),
    (
        "SO_CLIENT_SECRET_ARN",
        "the Secrets Manager secret holding the client secret (in Lambda; one of the three client secret variables is required)",
    ),
    (
        "SO_CLIENT_SECRET_FILE",
        "a file holding the client secret (outside Lambda)",
    ),
    (
        "SO_CLIENT_SECRET",
        "the client secret itself (outside Lambda only; prefer the file)",
    ),
    (
        "SO_SYSTEM_USER_KEY_ARN",
        "the Secrets Manager secret holding the system-user RSA private key (the job worker needs it)",
    ),
    (
        "SO_SYSTEM_USER_KEY_FILE",
        "a file holding the system-user private key, PEM or RSA XML (outside Lambda)",
    ),
    (
        "SO_SYSTEM_USER_KEY",
        "the system-user private key itself (outside Lambda only; prefer the file)",
    ),
    (
        "APP_BASE_URL",
        "the deployment's public https address; {APP_BASE_URL}/callback is the redirect URI (required)",
    ),
    (
        "APP_TABLE_NAME",
        "the DynamoDB table (in AWS; this or APP_DATA_DIR)",
    ),
    (
        "APP_DATA_DIR",
        "the folder of the embedded store (local runs; this or APP_TABLE_NAME)",
    ),
    (
        "APP_KMS_KEY_ARN",
        "the KMS key that seals tenants' system tokens and webhook secrets (in AWS)",
    ),
    (
        "APP_SEALING_KEY_FILE",
        "the local sealing key file (local runs; default {APP_DATA_DIR}/sealing.key)",
    ),
    (
        "APP_QUEUE_URL",
        "the SQS FIFO jobs queue (the install and worker functions)",
    ),
    (
        "APP_TENANT_RATE",
        "requests per second to one tenant's WebAPI, 1 to 100 (default 10)",
    ),
    (
        "APP_ROLLOUT_PER_MINUTE",
        "tenants per minute a release's upgrade is rolled out to, 1 to 1000 (default 10)",
    ),
    (
        "APP_MAX_INLINE_WAIT",
        "the longest Retry-After waited in place, in seconds up to 300 (default 30); longer re-queues the job",
    ),
    (
        "APP_SESSION_HOURS",
        "how long a sign-in session lasts, 1 to 24 hours (default 8)",
    ),
    ("APP_LOG_FORMAT", "json (default) or text"),
    (
        "APP_MANIFEST",
        "the provisioning manifest file (required in Lambda; the demo manifest elsewhere)",
    ),
    (
        "LAMBDA_TASK_ROOT",
        "set by Lambda: a relative APP_MANIFEST is read from this folder",
    ),
    (
        "AWS_LAMBDA_FUNCTION_NAME",
        "set by Lambda: when present, secret values must come from Secrets Manager, not variables or files",
    ),
];

/// The text after `soapp doctor --help`'s options: [`VARIABLES`], and the AWS SDK's own.
pub fn variables_help() -> String {
    let width = VARIABLES.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut text = String::from(
        "Variables read (from --env-file, then the environment; the same as the functions read):\n",
    );
    for (name, purpose) in VARIABLES {
        text.push_str(&format!("  {name:<width$}  {purpose}\n"));
    }
    text.push_str(
        "\nWhen a secret ARN, APP_TABLE_NAME or APP_KMS_KEY_ARN points at AWS, the AWS SDK also reads its\n\
         own variables for the region and credentials (AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID,\n\
         AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, ...); see the AWS SDK documentation.\n",
    );
    text
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    /// What to do about it (empty when all is well).
    pub fix: String,
}

impl Check {
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Ok,
            detail: detail.into(),
            fix: String::new(),
        }
    }
    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Fail,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
    pub fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Warn,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    /// One line: `ok   name  detail` or `FAIL name  detail — fix: …`.
    pub fn line(&self) -> String {
        let tag = match self.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
        };
        if self.fix.is_empty() {
            format!("{tag} {:<18} {}", self.name, self.detail)
        } else {
            format!(
                "{tag} {:<18} {} — fix: {}",
                self.name, self.detail, self.fix
            )
        }
    }
}

/// Runs every check for the variables `lookup` provides.
pub async fn run(lookup: impl Fn(&str) -> Option<String>) -> Vec<Check> {
    let mut checks = Vec::new();
    let config = match AppConfig::from_lookup(lookup) {
        Ok(c) => {
            checks.push(Check::ok(
                "configuration",
                "all variables present and well-formed",
            ));
            c
        }
        Err(problems) => {
            for p in problems.0 {
                checks.push(Check::fail(
                    "configuration",
                    format!("{} {}", p.variable, p.text),
                    "set the variable as described (see `soapp doctor --help`)",
                ));
            }
            return checks;
        }
    };
    checks.push(Check::ok(
        "redirect uri",
        format!("register {} in the Developer Portal", config.redirect_uri()),
    ));
    let transport: Arc<dyn Transport> = match ReqwestTransport::new() {
        Ok(t) => Arc::new(t),
        Err(e) => {
            checks.push(Check::fail(
                "http client",
                e.to_string(),
                "report this as a bug",
            ));
            return checks;
        }
    };

    let discovery =
        match Discovery::fetch(&*transport, &config.environment, Duration::from_secs(10)).await {
            Ok(d) => {
                checks.push(Check::ok(
                    "discovery",
                    format!(
                        "{} answers; issuer {} as pinned",
                        config.environment.discovery_url(),
                        d.issuer
                    ),
                ));
                Some(d)
            }
            Err(e) => {
                checks.push(Check::fail(
                    "discovery",
                    crate::error_chain(&e),
                    "check SO_ENVIRONMENT and that this machine can reach SuperOffice over HTTPS",
                ));
                None
            }
        };

    if let Some(d) = &discovery {
        checks.push(
            match fetch_jwks(&*transport, &d.jwks_uri, Duration::from_secs(10)).await {
                Ok((set, skipped)) if skipped.is_empty() => Check::ok(
                    "signing keys",
                    format!("{} usable key(s): {}", set.len(), set.kids().join(", ")),
                ),
                Ok((set, skipped)) => Check::warn(
                    "signing keys",
                    format!(
                        "{} usable key(s), {} skipped by the key policy",
                        set.len(),
                        skipped.len()
                    ),
                    "nothing to do unless sign-in fails; skipped keys are not RS256 RSA-2048+",
                ),
                Err(KeysUnavailable::Keys(e)) => Check::fail(
                    "signing keys",
                    e.to_string(),
                    "the JWKS has no usable key; contact SuperOffice",
                ),
                Err(KeysUnavailable::Status(status)) => Check::fail(
                    "signing keys",
                    format!(
                        "the JWKS answered HTTP {}",
                        http::StatusCode::from_u16(status)
                            .map_or_else(|_| status.to_string(), |s| s.to_string())
                    ),
                    "retry later; check SuperOffice's status page",
                ),
                Err(e) => Check::fail(
                    "signing keys",
                    crate::error_chain(&e),
                    "check network access to SuperOffice",
                ),
            },
        );
    }

    // The AWS SDK configuration is loaded at most once, and only when a setting points at AWS.
    let sdk = tokio::sync::OnceCell::new();
    let sdk_config = || sdk.get_or_init(adapters::aws::sdk_config);
    let in_aws = |r: &SecretRef| matches!(r, SecretRef::AwsSecret { .. });
    let secrets =
        if in_aws(&config.client_secret) || config.system_user_key.as_ref().is_some_and(in_aws) {
            SecretLoader::with_aws(adapters::aws::secrets_client(sdk_config().await))
        } else {
            SecretLoader::local()
        };
    let secret = match secrets.load(&config.client_secret).await {
        Ok(s) => {
            checks.push(Check::ok(
                "client secret",
                format!(
                    "read from {} ({} characters)",
                    config.client_secret.describe(),
                    s.len()
                ),
            ));
            Some(s)
        }
        Err(e) => {
            checks.push(Check::fail(
                "client secret",
                crate::error_chain(&e),
                "create the secret or grant secretsmanager:GetSecretValue on it",
            ));
            None
        }
    };

    if let (Some(d), Some(secret)) = (&discovery, &secret) {
        checks.push(client_credentials(&*transport, &config, d, secret).await);
    }

    match &config.system_user_key {
        None => checks.push(Check::warn(
            "system-user key",
            "not configured",
            "set SO_SYSTEM_USER_KEY_ARN (or _FILE) before installing into tenants",
        )),
        Some(r) => {
            checks.push(match secrets.load(r).await {
                Ok(pem) => match SystemUserKey::from_bytes(pem.expose().as_bytes()) {
                    Ok(k) => Check::ok(
                        "system-user key",
                        format!("RSA {} bits, read from {}", k.bits(), r.describe()),
                    ),
                    Err(e) => Check::fail(
                        "system-user key",
                        e.to_string(),
                        "store the private key from the Developer Portal as PEM or RSA XML",
                    ),
                },
                Err(e) => Check::fail(
                    "system-user key",
                    crate::error_chain(&e),
                    "create the secret or grant access to it",
                ),
            });
        }
    }

    let now = unix_seconds(std::time::SystemTime::now());
    checks.push(match &config.storage {
        Storage::Embedded { dir } => match adapters::local::embedded::EmbeddedItems::open(dir) {
            Ok(items) => match items.get("DOCTOR#probe", "PROBE", now).await {
                Ok(_) => Check::ok(
                    "store",
                    format!("embedded store at {} is readable", dir.display()),
                ),
                Err(e) => Check::fail(
                    "store",
                    crate::error_chain(&e),
                    "check the folder's permissions",
                ),
            },
            Err(e) => Check::fail("store", crate::error_chain(&e), "check APP_DATA_DIR"),
        },
        Storage::Dynamo { table } => {
            let items = adapters::aws::dynamo::DynamoItems::new(
                adapters::aws::dynamo_client(sdk_config().await),
                table.clone(),
            );
            match items.get("DOCTOR#probe", "PROBE", now).await {
                Ok(_) => Check::ok("store", format!("DynamoDB table {table} answers")),
                Err(e) => Check::fail(
                    "store",
                    crate::error_chain(&e),
                    "check APP_TABLE_NAME, the region and dynamodb:GetItem permission",
                ),
            }
        }
    });
    checks
}

/// The client id and secret, probed at the token endpoint with a made-up code through the same code
/// exchange a sign-in makes: refusing the code (`invalid_grant`) means the client was accepted; the
/// exchange's own sorting tells a refused client (`invalid_client`, or a bare 401).
async fn client_credentials(
    transport: &dyn Transport,
    config: &AppConfig,
    discovery: &Discovery,
    secret: &Secret,
) -> Check {
    const NAME: &str = "client credentials";
    let redirect_uri = config.redirect_uri();
    let exchange = CodeExchange {
        token_endpoint: &discovery.token_endpoint,
        client_id: &config.client_id,
        client_secret: secret,
        code: "soapp-doctor-probe",
        redirect_uri: &redirect_uri,
        // Well-formed (RFC 7636: 43 to 128 characters) so only the code itself is wrong.
        code_verifier: &Secret::new("soapp-doctor-probe-code-verifier-0123456789abcdef"),
        timeout: Duration::from_secs(10),
    };
    match exchange_code(transport, exchange).await {
        Err(OidcError::Rejected { error, .. }) if error == "invalid_grant" => Check::ok(
            NAME,
            "accepted by the token endpoint (a probe code was refused as expected)",
        ),
        Err(OidcError::ClientRejected) => Check::fail(
            NAME,
            "the token endpoint refused the client id or secret",
            "copy the client id and secret of THIS environment from the Developer Portal",
        ),
        Err(OidcError::Unavailable(e)) => Check::fail(
            NAME,
            crate::error_chain(&e),
            "check network access to SuperOffice",
        ),
        Err(OidcError::Rejected { error, description }) => Check::warn(
            NAME,
            format!(
                "inconclusive: the probe code was refused with {error}{}",
                description.map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            "try a real sign-in",
        ),
        Err(e) => Check::warn(NAME, format!("inconclusive: {e}"), "try a real sign-in"),
        Ok(_) => Check::warn(
            NAME,
            "inconclusive: the token endpoint accepted a made-up code",
            "try a real sign-in",
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use super::*;

    /// Every name the configuration asks for, with nothing set and with everything set (some
    /// variables are read only when another one is).
    fn names_read() -> BTreeSet<String> {
        let asked = RefCell::new(BTreeSet::new());
        for all_set in [false, true] {
            let _ = AppConfig::from_lookup(|name| {
                asked.borrow_mut().insert(name.to_owned());
                all_set.then(|| "1".to_owned())
            });
        }
        asked.into_inner()
    }

    #[test]
    fn the_help_lists_every_variable_the_configuration_reads_and_no_other() {
        let listed: BTreeSet<String> = VARIABLES.iter().map(|(n, _)| (*n).to_owned()).collect();
        let read = names_read();
        assert!(read.len() > 10, "the lookup was not consulted: {read:?}");
        let missing: Vec<_> = read.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "read but not in `soapp doctor --help`: {missing:?}"
        );
        let stale: Vec<_> = listed.difference(&read).collect();
        assert!(stale.is_empty(), "listed but never read: {stale:?}");
        let help = variables_help();
        for (name, purpose) in VARIABLES {
            assert!(help.contains(name) && help.contains(purpose), "{name}");
            assert!(purpose.len() > 10, "{name}: say what it is for");
        }
    }
}
