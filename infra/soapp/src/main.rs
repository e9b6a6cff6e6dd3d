//! `soapp`: the operator's command line for the SuperOffice app backend.

mod backup_cmd;
mod cli;
mod doctor_cmd;
mod env_file;
mod manifest_cmd;
mod output;
mod rollout_cmd;
mod serve;
mod smoke_cmd;
mod token_verify;
mod usage_cmd;

use std::future::Future;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::Cli::parse().run()
}

/// Runs a command's async part on a tokio runtime; exit 2 (a configuration problem) when none can be
/// started.
fn block_on(command: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            output::stderr(&format!("error: cannot start the async runtime: {e}\n"));
            ExitCode::from(2)
        }
    }
}
