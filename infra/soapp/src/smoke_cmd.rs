//! `soapp smoke`: run the checks, one line each as they finish.

use std::process::ExitCode;
use std::time::Duration;

use soapp::doctor::Outcome;
use soapp::smoke::{self, Target, TestTenant};
use superoffice::Environment;

use crate::cli::{SmokeArgs, SmokeEnv};
use crate::output;

pub fn run(args: SmokeArgs) -> ExitCode {
    let environment = match (args.env, &args.issuer) {
        (Some(SmokeEnv::Sod), _) => Environment::Sod,
        (Some(SmokeEnv::Stage), _) => Environment::Stage,
        (Some(SmokeEnv::Online), _) => Environment::Online,
        (None, Some(issuer)) => match issuer.parse() {
            Ok(e) => e,
            Err(e) => {
                output::stderr(&format!("error: --issuer: {e}\n"));
                return ExitCode::from(2);
            }
        },
        // clap's argument group requires one of them; said plainly all the same.
        (None, None) => {
            output::stderr("error: give --env sod|stage|online or --issuer URL\n");
            return ExitCode::from(2);
        }
    };
    let timeout = Duration::from_secs(args.timeout.clamp(1, 120));
    let target = match Target::new(&args.url, environment, args.client_id, timeout) {
        Ok(t) => t,
        Err(e) => {
            output::stderr(&format!("error: {e}\n"));
            return ExitCode::from(2);
        }
    };
    let tenant = match (args.tenant, args.user) {
        (Some(tenant), Some(email)) => Some(TestTenant {
            tenant,
            email,
            wait: Duration::from_secs(args.tenant_wait.max(1)),
        }),
        _ => None,
    };
    crate::block_on(async move {
        let mut closed = None;
        let ran = smoke::run(&target, tenant.as_ref(), |check| {
            if closed.is_none()
                && let Err(code) = output::stdout(&format!("{}\n", check.line()))
            {
                closed = Some(code);
            }
        })
        .await;
        match ran {
            Err(e) => {
                output::stderr(&format!("error: {e}\n"));
                ExitCode::from(2)
            }
            Ok(checks) if checks.iter().any(|c| c.outcome == Outcome::Fail) => ExitCode::from(1),
            // A reader that went away asked for no more (exit 0); another write error is exit 2.
            Ok(_) => closed.unwrap_or(ExitCode::SUCCESS),
        }
    })
}
