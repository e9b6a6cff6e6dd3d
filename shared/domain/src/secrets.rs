//! Secret values: where they are ([`SecretRef`]) and the port that reads them ([`SecretSource`]).
//!
//! In Lambda a secret is an AWS Secrets Manager secret named by its ARN; locally a file, or (outside
//! Lambda only) a value given directly. The adapters crate's loader reads them when first needed and
//! caches them for an hour, so a rotated secret is picked up without a redeploy while ordinary
//! requests cost no Secrets Manager call. Values never reach a log: errors name the place only.

use std::future::Future;
use std::path::PathBuf;

use superoffice::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    AwsSecret { arn: String },
    File(PathBuf),
    Inline(Secret),
}

impl SecretRef {
    /// Where the secret is, for messages (never the value).
    pub fn describe(&self) -> String {
        match self {
            SecretRef::AwsSecret { arn } => format!("Secrets Manager secret {arn}"),
            SecretRef::File(p) => format!("file {}", p.display()),
            SecretRef::Inline(_) => "a value given directly".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The place could not be read (a missing file, Secrets Manager refused or unreachable).
    #[error("{0} could not be read")]
    Unreadable(String, #[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0} has no SecretString")]
    NotAString(String),
    #[error("{0} is empty")]
    Empty(String),
    /// The reference needs a source this process was not built with (an ARN in a local run without
    /// AWS credentials configured).
    #[error("{0} cannot be read by this process (no AWS client is configured)")]
    NoSource(String),
}

/// Reads secret values by reference.
pub trait SecretSource: Send + Sync + 'static {
    /// The secret's value, surrounding whitespace trimmed; empty values are refused.
    fn load(&self, r: &SecretRef) -> impl Future<Output = Result<Secret, SecretError>> + Send;
}
