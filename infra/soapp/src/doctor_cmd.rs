//! `soapp doctor`: print the checks.

use std::process::ExitCode;

use soapp::doctor::{self, Outcome};

use crate::cli::DoctorArgs;
use crate::output;

pub fn run(args: DoctorArgs) -> ExitCode {
    let file_vars = match crate::env_file::read_optional(args.env_file.as_deref()) {
        Ok(vars) => vars,
        Err(message) => {
            output::stderr(&format!("error: {message}\n"));
            return ExitCode::from(2);
        }
    };
    crate::block_on(async move {
        let checks = doctor::run(|name| crate::env_file::lookup(&file_vars, name)).await;
        let lines: String = checks.iter().map(|c| format!("{}\n", c.line())).collect();
        if let Err(code) = output::stdout(&lines) {
            return code;
        }
        if checks.iter().any(|c| c.outcome == Outcome::Fail) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    })
}
