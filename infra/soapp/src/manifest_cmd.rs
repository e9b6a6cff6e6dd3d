//! `soapp manifest list`: the list of provisioned items, from the validated manifest.

use std::process::ExitCode;

use domain::config::ManifestSource;

use crate::cli::{ListFormat, ManifestListArgs};
use crate::output;

pub fn list(args: ManifestListArgs) -> ExitCode {
    let source = match &args.manifest {
        None => ManifestSource::Demo,
        Some(path) => ManifestSource::File(path.clone()),
    };
    let manifest = match app::manifest(&source) {
        Ok(m) => m,
        // Unreadable is a usage problem (2); readable but invalid is a negative answer (1).
        Err(app::StartError::ManifestInvalid { problems, .. }) => {
            output::stderr(&format!("error: {problems}"));
            return ExitCode::from(1);
        }
        Err(e) => {
            output::stderr(&format!("error: {e}\n"));
            return ExitCode::from(2);
        }
    };
    let artifacts = manifest.artifacts();
    let text = match args.format {
        ListFormat::Json => {
            let items: Vec<_> = artifacts
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "kind": a.kind(),
                        "identity": a.identity(),
                        "description": a.describe(&args.base_url),
                        "definition": a,
                    })
                })
                .collect();
            let doc = serde_json::json!({"app": manifest.app.name, "items": items});
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )
        }
        ListFormat::Md => {
            let mut md = format!(
                "# Items {} provisions into a SuperOffice tenant\n\n",
                manifest.app.name
            );
            md.push_str("| # | Kind | Identity | What |\n");
            md.push_str("|---|---|---|---|\n");
            for (i, a) in artifacts.iter().enumerate() {
                md.push_str(&format!(
                    "| {} | {} | `{}` | {} |\n",
                    i + 1,
                    a.kind().replace('_', " "),
                    a.identity(),
                    a.describe(&args.base_url).replace('|', "\\|")
                ));
            }
            md.push_str(
                "\nThe uninstall removes every item above (in reverse order) and all data the app keeps for the tenant.\n",
            );
            md
        }
    };
    // `soapp manifest list | head` closes the pipe early: end quietly (see `output`).
    match output::stdout(&text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
