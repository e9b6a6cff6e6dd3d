//! `soapp manifest list`: the list of provisioned items, from the validated manifest.

use std::process::ExitCode;

use domain::config::ManifestSource;

use crate::cli::{ListFormat, ManifestListArgs};

pub fn list(args: ManifestListArgs) -> ExitCode {
    let source = match &args.manifest {
        None => ManifestSource::Demo,
        Some(path) => ManifestSource::File(path.clone()),
    };
    let manifest = match app::manifest(&source) {
        Ok(m) => m,
        // Unreadable is a usage problem (2); readable but invalid is a negative answer (1).
        Err(app::StartError::ManifestInvalid { problems, .. }) => {
            eprint!("error: {problems}");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let artifacts = manifest.artifacts();
    match args.format {
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
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        ListFormat::Md => {
            println!(
                "# Items {} provisions into a SuperOffice tenant\n",
                manifest.app.name
            );
            println!("| # | Kind | Identity | What |");
            println!("|---|---|---|---|");
            for (i, a) in artifacts.iter().enumerate() {
                println!(
                    "| {} | {} | `{}` | {} |",
                    i + 1,
                    a.kind().replace('_', " "),
                    a.identity(),
                    a.describe(&args.base_url).replace('|', "\\|")
                );
            }
            println!(
                "\nThe uninstall removes every item above (in reverse order) and all data the app keeps for the tenant."
            );
        }
    }
    ExitCode::SUCCESS
}
