//! The secret source: reads secrets by reference when first needed, caches them, never logs them.
//!
//! In Lambda a secret is an AWS Secrets Manager secret named by its ARN; locally a file, or (outside
//! Lambda only) a value given directly. Values are cached for an hour so a rotated secret is picked up
//! without a redeploy while ordinary requests cost no Secrets Manager call.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use domain::secrets::{SecretError, SecretRef, SecretSource};
use superoffice::Secret;
use tokio::sync::Mutex;

const CACHE_FOR: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct SecretLoader {
    #[cfg(feature = "aws")]
    aws: Option<aws_sdk_secretsmanager::Client>,
    cache: Mutex<HashMap<String, (Secret, Instant)>>,
}

impl SecretLoader {
    /// Files and values given directly only.
    pub fn local() -> Self {
        Self::default()
    }

    /// Also Secrets Manager secrets, through `client`.
    #[cfg(feature = "aws")]
    pub fn with_aws(client: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            aws: Some(client),
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl SecretSource for SecretLoader {
    async fn load(&self, r: &SecretRef) -> Result<Secret, SecretError> {
        let key = match r {
            SecretRef::Inline(s) => return non_empty(s.expose(), r),
            SecretRef::AwsSecret { arn } => format!("aws:{arn}"),
            SecretRef::File(p) => format!("file:{}", p.display()),
        };
        // Held across the fetch: concurrent first requests share one Secrets Manager call.
        let mut cache = self.cache.lock().await;
        if let Some((value, at)) = cache.get(&key)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(value.clone());
        }
        let value = match r {
            SecretRef::File(p) => {
                let text = tokio::fs::read_to_string(p)
                    .await
                    .map_err(|e| SecretError::Unreadable(r.describe(), Box::new(e)))?;
                non_empty(&text, r)?
            }
            SecretRef::AwsSecret { arn } => self.read_aws_secret(arn, r).await?,
            SecretRef::Inline(_) => unreachable_inline(r)?,
        };
        cache.insert(key, (value.clone(), Instant::now()));
        Ok(value)
    }
}

fn non_empty(text: &str, r: &SecretRef) -> Result<Secret, SecretError> {
    let t = text.trim();
    if t.is_empty() {
        Err(SecretError::Empty(r.describe()))
    } else {
        Ok(Secret::new(t))
    }
}

impl SecretLoader {
    #[cfg(feature = "aws")]
    async fn read_aws_secret(&self, arn: &str, r: &SecretRef) -> Result<Secret, SecretError> {
        let client = self
            .aws
            .as_ref()
            .ok_or_else(|| SecretError::NoSource(r.describe()))?;
        let out = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| SecretError::Unreadable(r.describe(), Box::new(e)))?;
        let text = out
            .secret_string()
            .ok_or_else(|| SecretError::NotAString(r.describe()))?;
        non_empty(text, r)
    }

    #[cfg(not(feature = "aws"))]
    async fn read_aws_secret(&self, _arn: &str, r: &SecretRef) -> Result<Secret, SecretError> {
        Err(SecretError::NoSource(r.describe()))
    }
}

/// Inline secrets return before the cache; this arm exists only to keep the match total.
fn unreachable_inline(r: &SecretRef) -> Result<Secret, SecretError> {
    match r {
        SecretRef::Inline(s) => non_empty(s.expose(), r),
        _ => Err(SecretError::Empty(r.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_read_trimmed_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "  s3cret\n").unwrap();
        let loader = SecretLoader::local();
        let r = SecretRef::File(path.clone());
        assert_eq!(loader.load(&r).await.unwrap().expose(), "s3cret");
        std::fs::write(&path, "changed").unwrap();
        assert_eq!(loader.load(&r).await.unwrap().expose(), "s3cret", "cached");
    }

    #[tokio::test]
    async fn failures_name_the_place_never_the_value() {
        let loader = SecretLoader::local();
        let e = loader
            .load(&SecretRef::File("/nonexistent/secret".into()))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "file /nonexistent/secret could not be read");
        let e = loader
            .load(&SecretRef::AwsSecret {
                arn: "arn:aws:secretsmanager:eu-west-1:1:secret:x".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(e, SecretError::NoSource(_)));
        assert!(
            loader
                .load(&SecretRef::Inline(Secret::new(" ")))
                .await
                .is_err()
        );
    }
}
