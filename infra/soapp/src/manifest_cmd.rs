//! `soapp manifest list`: the list of provisioned items, from the validated manifest.

use std::process::ExitCode;

use domain::manifest::Manifest;

use crate::cli::{ListFormat, ManifestListArgs};

pub fn list(args: ManifestListArgs) -> ExitCode {
    let text = match &args.manifest {
        None => domain::manifest::DEMO.to_owned(),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let manifest = match Manifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            eprint!("error: {e}");
            return ExitCode::from(1);
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
