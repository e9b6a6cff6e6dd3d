//! The runner: `coldstart-bench --help`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    coldstart::cli::Cli::parse().run().await
}
