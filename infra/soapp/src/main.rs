//! `soapp`: the operator's command line for the SuperOffice app backend.

mod cli;
mod doctor_cmd;
mod manifest_cmd;
mod serve;
mod token_verify;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::Cli::parse().run()
}
