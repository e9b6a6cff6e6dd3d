//! Cold-start benchmark: how long a Lambda binary takes from process start to its first handled
//! request, measured against a local stand-in for the Lambda Runtime API.
//!
//! * `coldstart-hello`: a bare `lambda_runtime` function, the baseline.
//! * `coldstart-superoffice`: builds the SuperOffice client at start the way our functions do, logs
//!   JSON, validates an id_token against pinned keys and makes a session id (the first use of
//!   randomness).
//! * `coldstart-bench`: the runner ([`runtime_api`] stand-in, [`bench`] spawning and timing,
//!   [`suite`] interleaving, [`stats`], [`report`], optional CPU quota through [`cgroup`]).
//!   `coldstart-bench redirect` runs the [`redirect`] suite: the real redirect function with API
//!   Gateway events ([`apigw`]) against the SuperOffice simulator and the AWS API emulator
//!   ([`aws`]), cold and warm ([`warm`]), with [`proxy`] timing its outbound calls.
//!
//! See `README.md` beside this crate for what the figures mean and how to reproduce them.

pub mod apigw;
pub mod aws;
pub mod bench;
pub mod cgroup;
pub mod cli;
pub mod fixture;
pub mod proxy;
pub mod redirect;
pub mod report;
pub mod runtime_api;
pub mod stats;
pub mod suite;
pub mod warm;

/// The client id the functions are configured with and the tokens are issued for.
pub const CLIENT_ID: &str = "c0157a47c0157a47c0157a47c0157a47";
/// The SuperOffice environment of the functions (`"sod"`), and its issuer.
pub const ENVIRONMENT: &str = "sod";
pub const ENVIRONMENT_ISSUER: &str = "https://sod.superoffice.com";
/// The `sub` of the test tokens, echoed by `coldstart-superoffice`.
pub const SUBJECT: &str = "coldstart-user";
/// Length of `superoffice::oidc::random_token()` (256 bits, base64url without padding).
pub const SESSION_TOKEN_LEN: usize = 43;
