//! Configuration: one typed struct, read from the same variable names in Lambda and locally, checked
//! at start with every problem reported at once in plain words.
//!
//! Secret values never travel in variables in Lambda: the template passes ARNs of AWS Secrets Manager
//! secrets (`SO_CLIENT_SECRET_ARN`, `SO_SYSTEM_USER_KEY_ARN`) and the function reads the values when it
//! first needs them. Locally they come from files (`*_FILE`) or, outside Lambda only, from the variable
//! itself.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use superoffice::{Environment, Secret};
use url::Url;

use crate::secrets::SecretRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    Dynamo { table: String },
    Embedded { dir: PathBuf },
}

/// Where the key that seals per-tenant secrets lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sealing {
    Kms { key_id: String },
    Local { key_file: PathBuf },
}

/// Which manifest the app provisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// A TOML file (in Lambda, packaged with the function by `sam build`; relative paths are
    /// relative to the function's directory, `LAMBDA_TASK_ROOT`).
    File(PathBuf),
    /// The demo manifest built into the program (local runs only).
    Demo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub environment: Environment,
    pub client_id: String,
    pub client_secret: SecretRef,
    pub system_user_key: Option<SecretRef>,
    pub base_url: Url,
    pub storage: Storage,
    pub sealing: Sealing,
    /// Only the functions that queue or run jobs need it; they check at start.
    pub queue_url: Option<String>,
    /// Requests per second to one tenant's WebAPI, at most.
    pub tenant_rate: u32,
    /// Tenants whose upgrade to a new release starts per minute, at most (see [`crate::rollout`]).
    pub rollout_per_minute: u32,
    /// A `Retry-After` up to this long is waited in place; a longer one re-queues the job.
    pub max_inline_wait: Duration,
    pub session_ttl: Duration,
    pub log_format: LogFormat,
    pub manifest: ManifestSource,
}

impl AppConfig {
    /// `{base}/callback`: the redirect URI registered with SuperOffice.
    pub fn redirect_uri(&self) -> Url {
        self.url("/callback")
    }

    /// An absolute URL on this deployment.
    pub fn url(&self, path: &str) -> Url {
        let base = self.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).unwrap_or_else(|_| self.base_url.clone())
    }

    /// The deployment's origin (`scheme://host[:port]`), for same-origin checks.
    pub fn origin(&self) -> String {
        self.base_url.origin().ascii_serialization()
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (the environment, or a map in tests and `soapp serve`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let in_lambda = get("AWS_LAMBDA_FUNCTION_NAME").is_some();
        let mut problems = Vec::new();
        let mut problem =
            |variable: &'static str, text: String| problems.push(ConfigProblem { variable, text });

        let environment = match get("SO_ENVIRONMENT") {
            None => {
                problem(
                    "SO_ENVIRONMENT",
                    "is not set: use sod, qaonline or online (or a provider's base URL)".into(),
                );
                None
            }
            Some(v) => match v.parse::<Environment>() {
                Ok(e) => Some(e),
                Err(e) => {
                    problem("SO_ENVIRONMENT", format!("is not usable: {e}"));
                    None
                }
            },
        };

        let client_id = get("SO_CLIENT_ID");
        match (&client_id, &environment) {
            (None, _) => problem(
                "SO_CLIENT_ID",
                "is not set: copy the client id of this environment from the SuperOffice Developer Portal".into(),
            ),
            (Some(id), Some(env)) if !env.is_custom() && !is_superoffice_client_id(id) => problem(
                "SO_CLIENT_ID",
                format!("{id:?} does not look like a SuperOffice client id (32 hexadecimal characters)"),
            ),
            (Some(id), _) if id.chars().any(char::is_whitespace) || id.len() > 200 => {
                problem("SO_CLIENT_ID", "contains spaces or is far too long".into())
            }
            _ => {}
        }

        let client_secret = secret_ref(
            &get,
            in_lambda,
            (
                "SO_CLIENT_SECRET_ARN",
                "SO_CLIENT_SECRET_FILE",
                "SO_CLIENT_SECRET",
            ),
            true,
            &mut problem,
        );
        let system_user_key = secret_ref(
            &get,
            in_lambda,
            (
                "SO_SYSTEM_USER_KEY_ARN",
                "SO_SYSTEM_USER_KEY_FILE",
                "SO_SYSTEM_USER_KEY",
            ),
            false,
            &mut problem,
        );

        let base_url = match get("APP_BASE_URL") {
            None => {
                problem("APP_BASE_URL", "is not set: the public https address of this deployment, e.g. https://app.example.com".into());
                None
            }
            Some(v) => match Url::parse(&v) {
                Ok(u)
                    if u.query().is_some()
                        || u.fragment().is_some()
                        || !u.username().is_empty() =>
                {
                    problem(
                        "APP_BASE_URL",
                        "must not carry a query, fragment or user name".into(),
                    );
                    None
                }
                Ok(u) if u.scheme() == "https" => Some(u),
                Ok(u) if u.scheme() == "http" && is_loopback(&u) && !in_lambda => Some(u),
                Ok(_) => {
                    problem(
                        "APP_BASE_URL",
                        format!(
                            "{v:?} must use https (plain http only for loopback addresses in local runs)"
                        ),
                    );
                    None
                }
                Err(_) => {
                    problem("APP_BASE_URL", format!("{v:?} is not a URL"));
                    None
                }
            },
        };

        let storage = match (get("APP_TABLE_NAME"), get("APP_DATA_DIR")) {
            (Some(table), None) => Some(Storage::Dynamo { table }),
            (None, Some(dir)) => Some(Storage::Embedded { dir: dir.into() }),
            (None, None) => {
                problem(
                    "APP_TABLE_NAME",
                    "is not set (nor APP_DATA_DIR): say where the app keeps its data".into(),
                );
                None
            }
            (Some(_), Some(_)) => {
                problem(
                    "APP_TABLE_NAME",
                    "and APP_DATA_DIR are both set: use one of them".into(),
                );
                None
            }
        };

        let sealing = match (
            get("APP_KMS_KEY_ARN"),
            get("APP_SEALING_KEY_FILE"),
            &storage,
        ) {
            (Some(key_id), None, _) => Some(Sealing::Kms { key_id }),
            (None, Some(file), _) if !in_lambda => Some(Sealing::Local {
                key_file: file.into(),
            }),
            (None, None, Some(Storage::Embedded { dir })) if !in_lambda => Some(Sealing::Local {
                key_file: dir.join("sealing.key"),
            }),
            (Some(_), Some(_), _) => {
                problem(
                    "APP_KMS_KEY_ARN",
                    "and APP_SEALING_KEY_FILE are both set: use one of them".into(),
                );
                None
            }
            _ => {
                problem(
                    "APP_KMS_KEY_ARN",
                    "is not set: the KMS key that seals tenants' system tokens".into(),
                );
                None
            }
        };

        let queue_url = get("APP_QUEUE_URL");
        let tenant_rate = match get("APP_TENANT_RATE") {
            None => 10,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    problem(
                        "APP_TENANT_RATE",
                        format!(
                            "{v:?} must be a whole number of requests per second from 1 to 100"
                        ),
                    );
                    10
                }
            },
        };

        let rollout_per_minute = match get("APP_ROLLOUT_PER_MINUTE") {
            None => 10,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    problem(
                        "APP_ROLLOUT_PER_MINUTE",
                        format!(
                            "{v:?} must be a whole number of tenants per minute from 1 to 1000"
                        ),
                    );
                    10
                }
            },
        };

        let max_inline_wait = match get("APP_MAX_INLINE_WAIT") {
            None => Duration::from_secs(30),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= 300 => Duration::from_secs(n),
                _ => {
                    problem(
                        "APP_MAX_INLINE_WAIT",
                        format!("{v:?} must be a whole number of seconds up to 300"),
                    );
                    Duration::from_secs(30)
                }
            },
        };

        let session_ttl = match get("APP_SESSION_HOURS") {
            None => Duration::from_secs(8 * 3600),
            Some(v) => match v.parse::<u64>() {
                Ok(h) if (1..=24).contains(&h) => Duration::from_secs(h * 3600),
                _ => {
                    problem(
                        "APP_SESSION_HOURS",
                        format!("{v:?} must be a whole number of hours from 1 to 24"),
                    );
                    Duration::from_secs(8 * 3600)
                }
            },
        };

        let log_format = match get("APP_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                problem("APP_LOG_FORMAT", format!("{other:?} must be json or text"));
                LogFormat::Json
            }
        };

        let manifest = match get("APP_MANIFEST") {
            // Lambda starts the function in its package folder, but say so rather than rely on it.
            Some(path) => ManifestSource::File(match get("LAMBDA_TASK_ROOT") {
                Some(root) if PathBuf::from(&path).is_relative() => PathBuf::from(root).join(path),
                _ => path.into(),
            }),
            None if in_lambda => {
                problem(
                    "APP_MANIFEST",
                    "is not set: the manifest file packaged with the function (manifest.toml)"
                        .into(),
                );
                ManifestSource::Demo
            }
            None => ManifestSource::Demo,
        };

        match (
            environment,
            client_id,
            client_secret,
            base_url,
            storage,
            sealing,
        ) {
            (
                Some(environment),
                Some(client_id),
                Some(client_secret),
                Some(base_url),
                Some(storage),
                Some(sealing),
            ) if problems.is_empty() => Ok(Self {
                environment,
                client_id,
                client_secret,
                system_user_key,
                base_url,
                storage,
                sealing,
                queue_url,
                tenant_rate,
                rollout_per_minute,
                max_inline_wait,
                session_ttl,
                log_format,
                manifest,
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }
}

fn secret_ref(
    get: &impl Fn(&str) -> Option<String>,
    in_lambda: bool,
    (arn, file, value): (&'static str, &'static str, &'static str),
    required: bool,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<SecretRef> {
    let given = [get(arn), get(file), get(value)];
    if given.iter().filter(|g| g.is_some()).count() > 1 {
        problem(arn, format!("set only one of {arn}, {file} and {value}"));
        return None;
    }
    match given {
        [Some(a), _, _] if a.starts_with("arn:aws") && a.contains(":secretsmanager:") => {
            Some(SecretRef::AwsSecret { arn: a })
        }
        [Some(a), _, _] => {
            problem(
                arn,
                // The value is not echoed: a secret pasted here by mistake must not reach a log.
                format!(
                    "is not the ARN of a Secrets Manager secret (arn:aws:secretsmanager:…; {} characters given)",
                    a.chars().count()
                ),
            );
            None
        }
        [_, Some(f), _] => Some(SecretRef::File(f.into())),
        [_, _, Some(_)] if in_lambda => {
            problem(
                value,
                format!("holds a secret value in an environment variable; in Lambda use {arn}"),
            );
            None
        }
        [_, _, Some(v)] => Some(SecretRef::Inline(Secret::new(v))),
        _ if required => {
            problem(
                arn,
                format!("is not set (nor {file}): say where the secret is kept"),
            );
            None
        }
        _ => None,
    }
}

fn is_superoffice_client_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub text: String,
}

/// Every problem found, so an operator fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "  - {} {}", p.variable, p.text)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<AppConfig, ConfigErrors> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AppConfig::from_lookup(|k| map.get(k).cloned())
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_LAMBDA_FUNCTION_NAME", "redirect"),
        ("SO_ENVIRONMENT", "sod"),
        ("SO_CLIENT_ID", "6cf25376616343b38d14ddcd804f2891"),
        (
            "SO_CLIENT_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:so-client-AbCdEf",
        ),
        ("APP_BASE_URL", "https://app.example.com"),
        ("APP_TABLE_NAME", "app-sod"),
        (
            "APP_KMS_KEY_ARN",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("APP_MANIFEST", "manifest.toml"),
    ];

    #[test]
    fn a_lambda_configuration_reads_references_not_values() {
        let c = config(LAMBDA).unwrap();
        assert_eq!(c.environment, Environment::Sod);
        assert!(matches!(c.client_secret, SecretRef::AwsSecret { .. }));
        assert_eq!(
            c.redirect_uri().as_str(),
            "https://app.example.com/callback"
        );
        assert_eq!(
            c.storage,
            Storage::Dynamo {
                table: "app-sod".into()
            }
        );
        assert_eq!(c.session_ttl, Duration::from_secs(8 * 3600));
    }

    #[test]
    fn the_manifest_is_found_in_the_function_package_in_lambda_and_the_demo_is_the_local_default() {
        let mut vars = LAMBDA.to_vec();
        vars.push(("LAMBDA_TASK_ROOT", "/var/task"));
        assert_eq!(
            config(&vars).unwrap().manifest,
            ManifestSource::File("/var/task/manifest.toml".into())
        );
        let local = config(&[
            ("SO_ENVIRONMENT", "sod"),
            ("SO_CLIENT_ID", "6cf25376616343b38d14ddcd804f2891"),
            ("SO_CLIENT_SECRET_FILE", "/run/secret"),
            ("APP_BASE_URL", "http://127.0.0.1:8123"),
            ("APP_DATA_DIR", "/tmp/data"),
        ])
        .unwrap();
        assert_eq!(local.manifest, ManifestSource::Demo);
    }

    #[test]
    fn every_problem_is_reported_at_once_in_plain_words() {
        let err = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "redirect"),
            ("SO_ENVIRONMENT", "qastage"),
            ("SO_CLIENT_SECRET", "hunter2"),
            ("APP_BASE_URL", "http://app.example.com"),
            ("APP_SESSION_HOURS", "100"),
        ])
        .unwrap_err();
        let vars: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            vars,
            [
                "SO_ENVIRONMENT",
                "SO_CLIENT_ID",
                "SO_CLIENT_SECRET",
                "APP_BASE_URL",
                "APP_TABLE_NAME",
                "APP_KMS_KEY_ARN",
                "APP_SESSION_HOURS",
                "APP_MANIFEST"
            ]
        );
        let text = err.to_string();
        assert!(text.starts_with("the configuration has 8 problems:"));
        assert!(
            !text.contains("hunter2"),
            "a secret value never appears in a message"
        );
    }

    #[test]
    fn a_secret_pasted_where_an_arn_belongs_is_not_echoed() {
        let pasted = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0B";
        let err = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "redirect"),
            ("SO_ENVIRONMENT", "sod"),
            ("SO_CLIENT_ID", "6cf25376616343b38d14ddcd804f2891"),
            ("SO_CLIENT_SECRET_ARN", "hunter2-the-client-secret"),
            ("SO_SYSTEM_USER_KEY_ARN", pasted),
            ("APP_BASE_URL", "https://app.example.com"),
            ("APP_TABLE_NAME", "t"),
            (
                "APP_KMS_KEY_ARN",
                "arn:aws:kms:eu-west-1:123456789012:key/k",
            ),
            ("APP_MANIFEST", "manifest.toml"),
        ])
        .unwrap_err();
        let vars: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(vars, ["SO_CLIENT_SECRET_ARN", "SO_SYSTEM_USER_KEY_ARN"]);
        let text = err.to_string();
        assert!(
            text.contains("is not the ARN of a Secrets Manager secret"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("MIIEvQ"), "{text}");
    }

    #[test]
    fn local_runs_may_use_files_the_variable_and_plain_http_on_loopback() {
        let c = config(&[
            ("SO_ENVIRONMENT", "http://127.0.0.1:8124"),
            ("SO_CLIENT_ID", "demo-client"),
            ("SO_CLIENT_SECRET", "local-secret"),
            ("SO_SYSTEM_USER_KEY_FILE", "/tmp/key.pem"),
            ("APP_BASE_URL", "http://127.0.0.1:8123"),
            ("APP_DATA_DIR", ".data"),
            ("APP_LOG_FORMAT", "text"),
        ])
        .unwrap();
        assert!(matches!(c.client_secret, SecretRef::Inline(_)));
        assert!(matches!(c.system_user_key, Some(SecretRef::File(_))));
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(
            c.sealing,
            Sealing::Local {
                key_file: ".data/sealing.key".into()
            }
        );
        assert_eq!(c.origin(), "http://127.0.0.1:8123");
    }

    #[test]
    fn real_environments_check_the_client_id_shape_and_arns() {
        let mut vars = LAMBDA.to_vec();
        vars[2] = ("SO_CLIENT_ID", "not-a-client-id");
        vars[3] = ("SO_CLIENT_SECRET_ARN", "my-secret");
        let err = config(&vars).unwrap_err();
        let vars: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(vars, ["SO_CLIENT_ID", "SO_CLIENT_SECRET_ARN"]);
    }
}
