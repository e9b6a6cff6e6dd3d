//! The app's domain: what a deployment knows and keeps, independent of where it runs.
//!
//! * [`config`]: typed configuration, validated at start with every problem reported at once.
//! * [`jobs`]: the job queue (SQS FIFO in AWS, in-process locally) for work off the request path.
//! * [`manifest`]: what the app provisions into a tenant, declared in one file and validated.
//! * [`provisioning`]: the engine that creates the manifest's artifacts in a tenant, resumably.
//! * [`sealing`]: encrypting values the app must keep (system tokens) under the app's key.
//! * [`secrets`]: where secret values come from (AWS Secrets Manager by reference, or files locally).
//! * [`store`]: storage ports and their adapters (DynamoDB in AWS, an embedded database locally).
//! * [`signin`]: pending sign-ins and sessions, the records behind the redirect URL.
//! * [`tenant`] and [`ledger`]: a tenant's install state and the artifacts created in it.
//! * [`web`]: the HTTP plumbing the functions share: cookies, pages, errors, request ids.
//! * [`telemetry`]: JSON logs through `tracing`.
//! * [`runtime`]: building the production adapters once at start, and serving a handler in Lambda.

pub mod config;
pub mod jobs;
pub mod ledger;
pub mod manifest;
pub mod provisioning;
pub mod runtime;
pub mod sealing;
pub mod secrets;
pub mod signin;
pub mod store;
pub mod telemetry;
pub mod tenant;
pub mod usage;
pub mod web;
