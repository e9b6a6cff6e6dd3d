//! `soapp doctor`: print the checks.

use std::collections::HashMap;
use std::process::ExitCode;

use soapp::doctor::{self, Outcome};

use crate::cli::DoctorArgs;
use crate::output;

pub fn run(args: DoctorArgs) -> ExitCode {
    let mut file_vars = HashMap::new();
    if let Some(path) = &args.env_file {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                output::stderr(&format!("error: cannot read {}: {e}\n", path.display()));
                return ExitCode::from(2);
            }
        };
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
                file_vars.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
            }
        }
    }
    crate::block_on(async move {
        let checks = doctor::run(|name| {
            file_vars
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
        })
        .await;
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
