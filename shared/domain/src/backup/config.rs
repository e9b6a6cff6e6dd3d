//! The backup's configuration, read like the app's ([`crate::config`]) from the same variable
//! names in Lambda, in the operator's command and locally, with every problem reported at once.
//!
//! | variable | meaning |
//! |---|---|
//! | `APP_NAME` | the app's name in every encryption context (default `superoffice-app`) |
//! | `APP_ENVIRONMENT` | `sod`, `stage`, `online` (required in Lambda), or `local` (the default elsewhere) |
//! | `APP_TABLE_NAME` / `APP_DATA_DIR` | the table, or the local data folder (its embedded store) |
//! | `APP_BACKUP_BUCKET` | the S3 bucket; without it, objects are files under `APP_BACKUP_DIR` (default `APP_DATA_DIR`, so `{APP_DATA_DIR}/backups/local/…`) |
//! | `APP_BACKUP_KEY_ARN` | the KMS key that wraps the per-tenant keys; without it (not in Lambda), the key file `APP_BACKUP_KEY_FILE` (default `{APP_DATA_DIR}/backup.key`) |
//! | `APP_BACKUP_MESSAGE_KIB` | plaintext per encrypted message, 64 to 16384 KiB (default 1024) |
//! | `APP_METRICS_NAMESPACE` | the CloudWatch namespace of the backup's metrics (default `soapp/backup`) |
//! | `APP_LOG_FORMAT` | `json` (default) or `text` |

use std::path::PathBuf;

use crate::config::{ConfigErrors, ConfigProblem, LogFormat, Storage};

/// Where backup objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    S3 { bucket: String },
    Folder { dir: PathBuf },
}

/// What wraps the per-tenant keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wrapping {
    Kms { key_id: String },
    Local { key_file: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    pub app: String,
    pub environment: String,
    pub storage: Storage,
    pub target: Target,
    pub wrapping: Wrapping,
    pub message_kib: usize,
    pub metrics_namespace: String,
    pub log_format: LogFormat,
}

fn is_name(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

impl BackupConfig {
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

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

        let app = get("APP_NAME").unwrap_or_else(|| "superoffice-app".to_owned());
        if !is_name(&app, 40) {
            problem(
                "APP_NAME",
                format!("{app:?} must be 1 to 40 lowercase letters, digits and hyphens"),
            );
        }
        let environment = match get("APP_ENVIRONMENT") {
            Some(e) if is_name(&e, 20) => e,
            Some(e) => {
                problem(
                    "APP_ENVIRONMENT",
                    format!("{e:?} must be a short lowercase name such as sod, stage or online"),
                );
                e
            }
            None if in_lambda => {
                problem(
                    "APP_ENVIRONMENT",
                    "is not set: sod, stage or online (the stack's EnvironmentName)".into(),
                );
                String::new()
            }
            None => "local".to_owned(),
        };

        let data_dir = get("APP_DATA_DIR").map(PathBuf::from);
        let storage = match (get("APP_TABLE_NAME"), &data_dir) {
            (Some(table), None) => Some(Storage::Dynamo { table }),
            (None, Some(dir)) => Some(Storage::Embedded { dir: dir.clone() }),
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

        let target = match (get("APP_BACKUP_BUCKET"), get("APP_BACKUP_DIR"), &data_dir) {
            (Some(bucket), None, _) => Some(Target::S3 { bucket }),
            (Some(_), Some(_), _) => {
                problem(
                    "APP_BACKUP_BUCKET",
                    "and APP_BACKUP_DIR are both set: use one of them".into(),
                );
                None
            }
            (None, Some(dir), _) if !in_lambda => Some(Target::Folder { dir: dir.into() }),
            // Object keys start with `backups/`: the data folder itself is the root.
            (None, None, Some(dir)) if !in_lambda => Some(Target::Folder { dir: dir.clone() }),
            _ => {
                problem(
                    "APP_BACKUP_BUCKET",
                    "is not set: the S3 bucket backups are written to (or, locally, APP_DATA_DIR)"
                        .into(),
                );
                None
            }
        };

        let wrapping = match (
            get("APP_BACKUP_KEY_ARN"),
            get("APP_BACKUP_KEY_FILE"),
            &data_dir,
        ) {
            (Some(key_id), None, _) => Some(Wrapping::Kms { key_id }),
            (Some(_), Some(_), _) => {
                problem(
                    "APP_BACKUP_KEY_ARN",
                    "and APP_BACKUP_KEY_FILE are both set: use one of them".into(),
                );
                None
            }
            (None, Some(file), _) if !in_lambda => Some(Wrapping::Local {
                key_file: file.into(),
            }),
            (None, None, Some(dir)) if !in_lambda => Some(Wrapping::Local {
                key_file: dir.join("backup.key"),
            }),
            _ => {
                problem(
                    "APP_BACKUP_KEY_ARN",
                    "is not set: the KMS key that wraps each tenant's backup key".into(),
                );
                None
            }
        };

        let message_kib = match get("APP_BACKUP_MESSAGE_KIB") {
            None => 1024,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (64..=16384).contains(&n) => n,
                _ => {
                    problem(
                        "APP_BACKUP_MESSAGE_KIB",
                        format!("{v:?} must be a whole number of KiB from 64 to 16384"),
                    );
                    1024
                }
            },
        };
        let metrics_namespace =
            get("APP_METRICS_NAMESPACE").unwrap_or_else(|| "soapp/backup".to_owned());
        if metrics_namespace.len() > 255 || metrics_namespace.starts_with(':') {
            problem(
                "APP_METRICS_NAMESPACE",
                "must be a CloudWatch namespace (up to 255 characters)".into(),
            );
        }
        let log_format = match get("APP_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                problem("APP_LOG_FORMAT", format!("{other:?} must be json or text"));
                LogFormat::Json
            }
        };

        match (storage, target, wrapping) {
            (Some(storage), Some(target), Some(wrapping)) if problems.is_empty() => Ok(Self {
                app,
                environment,
                storage,
                target,
                wrapping,
                message_kib,
                metrics_namespace,
                log_format,
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }

    /// The settings a backup runs with.
    pub fn settings(&self) -> super::Settings {
        let mut s = super::Settings::new(&self.app, &self.environment);
        s.message_bytes = self.message_kib * 1024;
        s
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<BackupConfig, ConfigErrors> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BackupConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn lambda_needs_the_environment_the_bucket_and_the_kms_key() {
        let err = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "backup"),
            ("APP_TABLE_NAME", "t"),
        ])
        .unwrap_err();
        let vars: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            vars,
            ["APP_ENVIRONMENT", "APP_BACKUP_BUCKET", "APP_BACKUP_KEY_ARN"]
        );
        let ok = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "backup"),
            ("APP_TABLE_NAME", "t"),
            ("APP_ENVIRONMENT", "sod"),
            ("APP_BACKUP_BUCKET", "b"),
            (
                "APP_BACKUP_KEY_ARN",
                "arn:aws:kms:eu-west-1:123456789012:key/k",
            ),
        ])
        .unwrap();
        assert_eq!(ok.app, "superoffice-app");
        assert_eq!(ok.target, Target::S3 { bucket: "b".into() });
        assert_eq!(ok.settings().message_bytes, 1024 * 1024);
    }

    #[test]
    fn locally_everything_lives_in_the_data_folder() {
        let c = config(&[("APP_DATA_DIR", ".data")]).unwrap();
        assert_eq!(c.environment, "local");
        assert_eq!(
            c.target,
            Target::Folder {
                dir: ".data".into()
            }
        );
        assert_eq!(
            c.wrapping,
            Wrapping::Local {
                key_file: ".data/backup.key".into()
            }
        );
        let err = config(&[
            ("APP_DATA_DIR", ".data"),
            ("APP_NAME", "Bad Name"),
            ("APP_BACKUP_MESSAGE_KIB", "1"),
        ])
        .unwrap_err();
        let vars: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(vars, ["APP_NAME", "APP_BACKUP_MESSAGE_KIB"]);
    }
}
