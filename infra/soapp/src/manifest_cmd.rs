//! `soapp manifest list`: the list of provisioned items, from the validated manifest.
//! `soapp manifest diff`: what an upgrade from one manifest to another does in a tenant.

use std::process::ExitCode;

use domain::config::ManifestSource;

use domain::ledger::{EntryState, LedgerEntry};
use domain::manifest::Manifest;
use domain::provisioning::plan::{self, Action, Desired};

use crate::cli::{DiffFormat, ListFormat, ManifestDiffArgs, ManifestListArgs};
use crate::output;

/// The manifest at `source`, or the exit code for why not: unreadable is a usage problem (2);
/// readable but invalid is a negative answer (1).
fn load(source: &ManifestSource) -> Result<Manifest, ExitCode> {
    match app::manifest(source) {
        Ok(m) => Ok(m),
        Err(app::StartError::ManifestInvalid { problems, .. }) => {
            output::stderr(&format!("error: {problems}"));
            Err(ExitCode::from(1))
        }
        Err(e) => {
            output::stderr(&format!("error: {e}\n"));
            Err(ExitCode::from(2))
        }
    }
}

pub fn list(args: ManifestListArgs) -> ExitCode {
    let source = match &args.manifest {
        None => ManifestSource::Demo,
        Some(path) => ManifestSource::File(path.clone()),
    };
    let manifest = match load(&source) {
        Ok(m) => m,
        Err(code) => return code,
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

pub fn diff(args: ManifestDiffArgs) -> ExitCode {
    let (old, new) = match (
        load(&ManifestSource::File(args.old.clone())),
        load(&ManifestSource::File(args.new.clone())),
    ) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let base = args.base_url.trim_end_matches('/');
    // A tenant that holds OLD in full: its ledger as the install left it.
    let ledger: Vec<LedgerEntry> = old
        .artifacts()
        .iter()
        .enumerate()
        .map(|(i, a)| LedgerEntry {
            seq: i as u32,
            key: a.key(),
            kind: a.kind().to_owned(),
            description: a.describe(base),
            shown_as: a.describe_for_customer(),
            state: EntryState::Created,
            superoffice_id: None,
            fingerprint: Some(a.fingerprint(base)),
            updated_at: 0,
        })
        .collect();
    let artifacts = new.artifacts();
    let plan = plan::plan(Desired::Manifest(&artifacts), &ledger, None, |a| {
        a.fingerprint(base)
    });
    let changes: Vec<(Action, &str, String)> = plan
        .changes()
        .map(|s| {
            let what = match (s.artifact, s.entry) {
                (Some(a), _) => a.describe(base),
                (None, Some(e)) => e.description.clone(),
                (None, None) => String::new(),
            };
            (s.action, s.key.as_str(), what)
        })
        .collect();
    let mut text = String::new();
    match args.format {
        DiffFormat::Json => {
            let doc = serde_json::json!({
                "from": old.version_label(),
                "to": new.version_label(),
                "from_fingerprint": old.fingerprint(base),
                "to_fingerprint": new.fingerprint(base),
                "changes": changes.iter().map(|(a, k, w)| serde_json::json!({
                    "action": a.as_str(), "key": k, "description": w,
                })).collect::<Vec<_>>(),
            });
            text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        }
        DiffFormat::Text => {
            text.push_str(&format!(
                "From {} to {}: {}\n",
                old.version_label(),
                new.version_label(),
                if changes.is_empty() {
                    "no change in any tenant".to_owned()
                } else {
                    format!("{} change(s) in every installed tenant", changes.len())
                }
            ));
            for (action, key, what) in &changes {
                let sign = match action {
                    Action::Create => "+",
                    Action::Remove => "-",
                    _ => "~",
                };
                text.push_str(&format!("{sign} {:<6} {key}: {what}\n", action.as_str()));
            }
        }
    }
    match output::stdout(&text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
