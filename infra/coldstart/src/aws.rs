//! The redirect function's AWS resources in the AWS API emulator (moto server), created with the
//! real SDK: a DynamoDB table shaped like the deployed one (`pk`/`sk`), a Secrets Manager secret
//! holding the client secret, and the app's KMS key (the function requires `APP_KMS_KEY_ARN` in
//! Lambda; an ordinary sign-in never calls KMS, only an install sign-in seals with it). The function
//! reaches them through `AWS_ENDPOINT_URL`.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// The emulator's address from `AWS_ENDPOINT_URL`, or a message that says how to get one.
pub fn endpoint_from_env() -> Result<String, String> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().trim_end_matches('/').to_owned()),
        _ => Err(
            "the redirect suite needs the AWS API emulator, and AWS_ENDPOINT_URL is not set. \
             Run infra/coldstart/run-redirect.sh (it starts moto through scripts/lib/tools.sh), or \
             run `. scripts/lib/tools.sh && start_moto` in this shell first (it exports \
             AWS_ENDPOINT_URL, dummy credentials and AWS_REGION)"
                .into(),
        ),
    }
}

/// Credentials and region as the process environment has them, with the dummy values moto
/// accepts where it has none.
#[derive(Debug, Clone)]
pub struct AwsEnv {
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl AwsEnv {
    pub fn from_env(endpoint: String) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            endpoint,
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "eu-west-1".into()),
            access_key_id: var("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "testing".into()),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "testing".into()),
            session_token: var("AWS_SESSION_TOKEN"),
        }
    }

    /// What Lambda puts in a function's environment (region, the role's credentials), plus
    /// `AWS_ENDPOINT_URL=endpoint` so the SDK talks to the emulator (or a proxy in front of it).
    pub fn child_env(&self, endpoint: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned()),
            ("AWS_REGION".to_owned(), self.region.clone()),
            ("AWS_DEFAULT_REGION".to_owned(), self.region.clone()),
            ("AWS_ACCESS_KEY_ID".to_owned(), self.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                self.secret_access_key.clone(),
            ),
        ];
        if let Some(token) = &self.session_token {
            env.push(("AWS_SESSION_TOKEN".to_owned(), token.clone()));
        }
        env
    }

    async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .credentials_provider(Credentials::new(
                self.access_key_id.clone(),
                self.secret_access_key.clone(),
                self.session_token.clone(),
                None,
                "coldstart-bench",
            ))
            .load()
            .await
    }
}

/// The table, the secret and the key, removed again by [`AwsResources::remove`].
pub struct AwsResources {
    pub table: String,
    pub secret_arn: String,
    pub key_arn: String,
    /// The key's id (moto 5.2.5 fails `ScheduleKeyDeletion` given the ARN).
    key_id: String,
    dynamo: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
    kms: aws_sdk_kms::Client,
}

impl AwsResources {
    /// Creates `{prefix}-table`, the secret `{prefix}/client-secret` holding `client_secret`, and a
    /// symmetric KMS key.
    pub async fn create(env: &AwsEnv, prefix: &str, client_secret: &str) -> Result<Self, String> {
        let config = env.sdk_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&config);
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        let kms = aws_sdk_kms::Client::new(&config);
        let table = format!("{prefix}-table");
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let unreachable = |what: &str, e: String| {
            format!(
                "cannot {what} in the AWS API emulator at {}: {e}",
                env.endpoint
            )
        };
        dynamo
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk").map_err(|e| e.to_string())?)
            .attribute_definitions(attr("sk").map_err(|e| e.to_string())?)
            .key_schema(key("pk", KeyType::Hash).map_err(|e| e.to_string())?)
            .key_schema(key("sk", KeyType::Range).map_err(|e| e.to_string())?)
            .send()
            .await
            .map_err(|e| unreachable("create the table", display_sdk(&e)))?;
        let created = secrets
            .create_secret()
            .name(format!("{prefix}/client-secret"))
            .secret_string(client_secret)
            .send()
            .await
            .map_err(|e| unreachable("create the secret", display_sdk(&e)))?;
        let secret_arn = created
            .arn()
            .ok_or("the emulator created the secret without an ARN")?
            .to_owned();
        let key = kms
            .create_key()
            .description(format!("{prefix} app key"))
            .send()
            .await
            .map_err(|e| unreachable("create the KMS key", display_sdk(&e)))?;
        let metadata = key
            .key_metadata()
            .ok_or("the emulator created the KMS key without metadata")?;
        let key_id = metadata.key_id().to_owned();
        let key_arn = metadata
            .arn()
            .ok_or("the emulator created the KMS key without an ARN")?
            .to_owned();
        Ok(Self {
            table,
            secret_arn,
            key_arn,
            key_id,
            dynamo,
            secrets,
            kms,
        })
    }

    /// Deletes the table and the secret and schedules the key's deletion; best effort (the
    /// emulator's state dies with it anyway).
    pub async fn remove(&self) {
        if let Err(e) = self
            .dynamo
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
        {
            eprintln!(
                "note: could not delete table {}: {}",
                self.table,
                display_sdk(&e)
            );
        }
        if let Err(e) = self
            .secrets
            .delete_secret()
            .secret_id(&self.secret_arn)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            eprintln!(
                "note: could not delete secret {}: {}",
                self.secret_arn,
                display_sdk(&e)
            );
        }
        if let Err(e) = self
            .kms
            .schedule_key_deletion()
            .key_id(&self.key_id)
            .pending_window_in_days(7)
            .send()
            .await
        {
            eprintln!(
                "note: could not schedule deletion of key {}: {}",
                self.key_arn,
                display_sdk(&e)
            );
        }
    }
}

/// An SDK error with its sources (the top level alone says only "dispatch failure").
fn display_sdk(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
