//! The deploy check: CodeDeploy's PreTraffic hook for every function of the stack.
//!
//! With `AutoPublishAlias` and `DeploymentPreference` (`template.yaml`), a deploy publishes a new
//! version of each changed function and asks CodeDeploy to move the `live` alias to it, all at once
//! (SOD) or as a canary (Stage, Online). Before the first request moves, CodeDeploy invokes this hook.
//! Alarms only learn from traffic that already reached the new version; the hook asks first: it
//! calls each function's new version directly with synthetic API Gateway requests (the front page,
//! the sign-in redirect with the right issuer and client, the install link without a session, a
//! forged state change and an unsigned webhook, both refused) and the worker with an empty batch,
//! judges the answers ([`expect`], shared with `soapp smoke`), and reports `Succeeded` or `Failed`.
//! A `Failed` stops the deployment and CodeDeploy leaves the alias on the old version.
//!
//! The logic ([`hook`]) is generic over two narrow ports (invoke a version, report a status), so it
//! is tested with fakes; [`aws`] makes them real with the Lambda and CodeDeploy SDKs.

pub mod apigw;
pub mod expect;
pub mod hook;
pub mod probes;

#[cfg(feature = "aws")]
pub mod aws;
