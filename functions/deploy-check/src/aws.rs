//! The hook's ports on the AWS SDK: Lambda `Invoke` of a version, CodeDeploy's
//! `PutLifecycleEventHookExecutionStatus`.
//!
//! Both clients start from the app's shared SDK configuration (`adapters::aws::sdk_config`: Amazon's
//! roots only, bounded retries, timeouts). Invoking a function is slower than the app's own calls (a
//! cold start, then the function's work, up to its 10 s timeout), so the Lambda client gets longer
//! timeouts and no retries of its own: the hook decides when to ask again, within its budget.

use std::time::Duration;

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::hook::{HookStatus, Invoke, InvokeError, Invoked, ReportError, ReportStatus};

/// How long one invocation may take: the longest HTTP function's timeout (10 s) and a cold start.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(20);

pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
}

impl LambdaInvoker {
    pub fn new(sdk: &adapters::aws::SdkConfig) -> Self {
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .timeout_config(
                aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(INVOKE_TIMEOUT)
                    .operation_timeout(INVOKE_TIMEOUT + Duration::from_secs(2))
                    .build(),
            )
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_lambda::Client::from_conf(config),
        }
    }
}

/// Error codes after which a later attempt may succeed. `AccessDeniedException`: the hook's role
/// names the new versions, and the stack update that published them changed the role seconds ago.
const INVOKE_TRY_AGAIN: &[&str] = &[
    "AccessDeniedException",
    "TooManyRequestsException",
    "ServiceException",
    "ResourceNotReadyException",
    "ResourceConflictException",
    "EC2ThrottledException",
    "ThrottlingException",
];

impl Invoke for LambdaInvoker {
    async fn invoke(&self, version_arn: &str, payload: Vec<u8>) -> Result<Invoked, InvokeError> {
        let sent = self
            .client
            .invoke()
            .function_name(version_arn)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload))
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Invoked {
                function_error: out.function_error().map(str::to_owned),
                payload: out
                    .payload()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default(),
            }),
            Err(e) => {
                let code = e.code().map(str::to_owned);
                // The SDK's message names the ARN and the role at most, never the payload.
                let reason = format!(
                    "Invoke failed: {}",
                    code.as_deref().unwrap_or("no answer from Lambda")
                );
                match code.as_deref() {
                    None => Err(InvokeError::TryAgain(reason)),
                    Some(c) if INVOKE_TRY_AGAIN.contains(&c) => Err(InvokeError::TryAgain(reason)),
                    Some(_) => Err(InvokeError::GiveUp(reason)),
                }
            }
        }
    }
}

pub struct CodeDeployReporter {
    client: aws_sdk_codedeploy::Client,
}

impl CodeDeployReporter {
    pub fn new(sdk: &adapters::aws::SdkConfig) -> Self {
        Self {
            client: aws_sdk_codedeploy::Client::new(sdk),
        }
    }
}

/// Codes that mean the deployment no longer waits for this hook's answer.
const REPORT_REFUSED: &[&str] = &[
    "LifecycleEventAlreadyCompletedException",
    "InvalidLifecycleEventHookExecutionIdException",
    "InvalidLifecycleEventHookExecutionStatusException",
    "DeploymentDoesNotExistException",
    "InvalidDeploymentIdException",
    "DeploymentIdRequiredException",
    "UnsupportedActionForDeploymentTypeException",
];

impl ReportStatus for CodeDeployReporter {
    async fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: HookStatus,
    ) -> Result<(), ReportError> {
        let status = match status {
            HookStatus::Succeeded => LifecycleEventStatus::Succeeded,
            HookStatus::Failed => LifecycleEventStatus::Failed,
        };
        let sent = self
            .client
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(execution_id)
            .status(status)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let code =
                    aws_sdk_codedeploy::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
                let reason = format!(
                    "PutLifecycleEventHookExecutionStatus failed: {}",
                    code.as_deref().unwrap_or("no answer from CodeDeploy")
                );
                match code.as_deref() {
                    Some(c) if REPORT_REFUSED.contains(&c) => Err(ReportError::Refused(reason)),
                    _ => Err(ReportError::TryAgain(reason)),
                }
            }
        }
    }
}
