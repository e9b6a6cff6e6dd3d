//! `soapp manifest plan --tenant ID`: what the next reconcile would do in one tenant, without
//! doing it. `soapp rollout status`: where the rollout of a release stands, tenant by tenant.
//!
//! Both read a deployment's store: the table of a stack (`--env-file` with the worker's variables,
//! or the environment; AWS credentials from the usual places) or the local runner's data folder
//! (`--data-dir`, with `soapp serve` stopped: the embedded store has one writer). The manifest is
//! the deployment's (APP_MANIFEST) or `--manifest`; the base URL the deployment's or `--base-url`,
//! since both are part of what "the same release" means.
//!
//! Exit status: 0 answered; 1 the tenant is unknown; 2 a configuration, usage or reachability
//! problem.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use domain::config::{AppConfig, ManifestSource};
use domain::manifest::Manifest;
use domain::provisioning::plan::Action;
use domain::provisioning::{Planned, PreviewError, preview_from_ledger};
use domain::rollout::{Progress, TenantRollout};
use domain::store::Items;
use superoffice::TenantId;
use superoffice::clock::unix_seconds;

use crate::cli::{DeploymentSource, DiffFormat, ManifestPlanArgs, RolloutCommand};
use crate::output;

/// How long a look into the tenant may take in all.
const LOOK_BUDGET: Duration = Duration::from_secs(120);

fn now() -> i64 {
    unix_seconds(SystemTime::now())
}

fn aws_config(source: &DeploymentSource) -> Result<AppConfig, String> {
    let vars = crate::env_file::read_optional(source.env_file.as_deref())?;
    AppConfig::from_lookup(|name| crate::env_file::lookup(&vars, name)).map_err(|e| e.to_string())
}

fn manifest(
    given: Option<&std::path::PathBuf>,
    config: Option<&AppConfig>,
) -> Result<Manifest, String> {
    let source = match (given, config) {
        (Some(path), _) => ManifestSource::File(path.clone()),
        (None, Some(c)) => c.manifest.clone(),
        (None, None) => ManifestSource::Demo,
    };
    app::manifest(&source).map_err(|e| e.to_string())
}

fn open_local(
    dir: &std::path::Path,
) -> Result<Arc<adapters::local::embedded::EmbeddedItems>, String> {
    adapters::local::embedded::EmbeddedItems::open(&dir.join("store"))
        .map(Arc::new)
        .map_err(|e| {
            format!(
                "the data folder {} cannot be opened ({e}); is soapp serve running on it?",
                dir.display()
            )
        })
}

pub fn plan(args: ManifestPlanArgs) -> ExitCode {
    let Ok(tenant) = TenantId::parse(&args.tenant) else {
        output::stderr(&format!(
            "error: {:?} is not a tenant id (a context identifier such as Cust12345)\n",
            args.tenant
        ));
        return ExitCode::from(2);
    };
    crate::block_on(async move {
        let result: Result<Result<Vec<Planned>, PreviewError>, String> = async {
            if let Some(dir) = &args.source.data_dir {
                if args.look_in_tenant {
                    return Err("--look-in-tenant needs a deployment's variables (--env-file): the local runner's SuperOffice (its simulator) runs only inside soapp serve".into());
                }
                let items = open_local(dir)?;
                let m = manifest(args.manifest.as_ref(), None)?;
                let base = args.base_url.clone().unwrap_or_else(|| LOCAL_BASE.into());
                return Ok(preview_from_ledger(items, &m, &base, &tenant, now()).await);
            }
            let config = aws_config(&args.source)?;
            let m = manifest(args.manifest.as_ref(), Some(&config))?;
            let base = args
                .base_url
                .clone()
                .unwrap_or_else(|| config.base_url.as_str().to_owned());
            let started = app::Started {
                config: Arc::new(config),
                manifest: Arc::new(m),
            };
            let d = app::aws::deployment(started).await.map_err(|e| e.to_string())?;
            if args.look_in_tenant {
                let (mut engine, _) = app::worker::engine(&d).await?;
                engine.base_url = base.trim_end_matches('/').to_owned();
                return Ok(engine
                    .preview(&tenant, true, SystemTime::now() + LOOK_BUDGET)
                    .await);
            }
            Ok(preview_from_ledger(d.items.clone(), &d.manifest, &base, &tenant, now()).await)
        }
        .await;
        match result {
            Err(message) => {
                output::stderr(&format!("error: {message}\n"));
                ExitCode::from(2)
            }
            Ok(Err(PreviewError::UnknownTenant)) => {
                output::stderr(&format!(
                    "error: the app does not know the tenant {tenant}\n"
                ));
                ExitCode::from(1)
            }
            Ok(Err(e)) => {
                output::stderr(&format!("error: {e}\n"));
                ExitCode::from(2)
            }
            Ok(Ok(steps)) => print_plan(&tenant, &steps, args.format),
        }
    })
}

/// `soapp serve`'s default address, part of the local runner's fingerprint.
const LOCAL_BASE: &str = "http://127.0.0.1:8123";

fn print_plan(tenant: &TenantId, steps: &[Planned], format: DiffFormat) -> ExitCode {
    let changes: Vec<&Planned> = steps.iter().filter(|s| s.action != Action::Keep).collect();
    let text = match format {
        DiffFormat::Json => {
            let doc = serde_json::json!({
                "tenant": tenant.as_str(),
                "changes": changes.iter().map(|s| serde_json::json!({
                    "action": s.action.as_str(), "key": s.key, "description": s.description,
                })).collect::<Vec<_>>(),
                "unchanged": steps.len() - changes.len(),
            });
            serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
        }
        DiffFormat::Text => {
            let mut text = format!(
                "{tenant}: {} change(s), {} item(s) unchanged\n",
                changes.len(),
                steps.len() - changes.len()
            );
            for s in &changes {
                let sign = match s.action {
                    Action::Create => "+",
                    Action::Remove => "-",
                    _ => "~",
                };
                text.push_str(&format!(
                    "{sign} {:<6} {}: {}\n",
                    s.action.as_str(),
                    s.key,
                    s.description
                ));
            }
            text
        }
    };
    match output::stdout(&text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

pub fn run(command: RolloutCommand) -> ExitCode {
    let RolloutCommand::Status(args) = command;
    crate::block_on(async move {
        let result: Result<(String, String, Option<Progress>, Vec<TenantRollout>), String> =
            async {
                if let Some(dir) = &args.source.data_dir {
                    let items = open_local(dir)?;
                    let m = manifest(args.manifest.as_ref(), None)?;
                    let base = args.base_url.clone().unwrap_or_else(|| LOCAL_BASE.into());
                    return collect(items, &m, &base).await;
                }
                let config = aws_config(&args.source)?;
                let m = manifest(args.manifest.as_ref(), Some(&config))?;
                let base = args
                    .base_url
                    .clone()
                    .unwrap_or_else(|| config.base_url.as_str().to_owned());
                let started = app::Started {
                    config: Arc::new(config),
                    manifest: Arc::new(m),
                };
                let d = app::aws::deployment(started)
                    .await
                    .map_err(|e| e.to_string())?;
                collect(d.items.clone(), &d.manifest, &base).await
            }
            .await;
        match result {
            Err(message) => {
                output::stderr(&format!("error: {message}\n"));
                ExitCode::from(2)
            }
            Ok((version, fingerprint, progress, tenants)) => print_status(
                &version,
                &fingerprint,
                progress.as_ref(),
                &tenants,
                args.format,
            ),
        }
    })
}

async fn collect<I: Items>(
    items: Arc<I>,
    m: &Manifest,
    base: &str,
) -> Result<(String, String, Option<Progress>, Vec<TenantRollout>), String> {
    let fingerprint = m.fingerprint(base.trim_end_matches('/'));
    let (progress, tenants) = domain::rollout::status(items, &fingerprint, now())
        .await
        .map_err(|e| format!("the store cannot be read: {e}"))?;
    Ok((m.version_label().to_owned(), fingerprint, progress, tenants))
}

fn print_status(
    version: &str,
    fingerprint: &str,
    progress: Option<&Progress>,
    tenants: &[TenantRollout],
    format: DiffFormat,
) -> ExitCode {
    let installed: Vec<&TenantRollout> = tenants
        .iter()
        .filter(|t| t.status == domain::tenant::InstallStatus::Installed)
        .collect();
    let current = installed.iter().filter(|t| t.current).count();
    let text = match format {
        DiffFormat::Json => {
            let doc = serde_json::json!({
                "version": version,
                "fingerprint": fingerprint,
                "installed": installed.len(),
                "current": current,
                "progress": progress.map(|p| serde_json::json!({
                    "queued": p.queued, "passes": p.passes, "done": p.done,
                    "started_at": p.started_at, "last_tick": p.last_tick,
                })),
                "tenants": tenants,
            });
            serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
        }
        DiffFormat::Text => {
            let mut text = format!(
                "Release {version}: {current} of {} installed tenant(s) on it",
                installed.len()
            );
            match progress {
                Some(p) if p.done => text.push_str(&format!(
                    "; rollout complete ({} upgrade(s) queued, last checked {})\n",
                    p.queued,
                    ago(p.last_tick)
                )),
                Some(p) => text.push_str(&format!(
                    "; rollout under way ({} upgrade(s) queued, pass {}, last tick {})\n",
                    p.queued,
                    p.passes + 1,
                    ago(p.last_tick)
                )),
                None => text.push_str("; no rollout tick has run for this release yet\n"),
            }
            for t in tenants {
                let on = t.version.as_deref().unwrap_or("-");
                let state = if t.status != domain::tenant::InstallStatus::Installed {
                    t.status.as_str().to_owned()
                } else if t.current {
                    "current".to_owned()
                } else if t.suspended {
                    "suspended (waits for SuperOffice to resume it)".to_owned()
                } else if let Some(r) = &t.reconciling {
                    format!("{} since {}: {}", goal(r.goal), ago(r.asked_at), r.why)
                } else {
                    "not started".to_owned()
                };
                let problem = t
                    .problem
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "  {:<12} on {on:<8} {state}{problem}\n",
                    t.tenant.as_str()
                ));
            }
            text
        }
    };
    match output::stdout(&text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn goal(g: domain::tenant::Goal) -> &'static str {
    match g {
        domain::tenant::Goal::Upgrade => "upgrading",
        domain::tenant::Goal::Repair => "repairing",
    }
}

fn ago(at: i64) -> String {
    let s = (now() - at).max(0);
    match s {
        0..=89 => format!("{s} s ago"),
        90..=5399 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}
