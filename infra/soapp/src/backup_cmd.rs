//! `soapp backup run | list | verify | restore`: the operator's side of the backups, with the same
//! code the backup function runs, against AWS (the variables the function has: a table, the
//! bucket, the backup KMS key; AWS credentials from the usual places) or against a local data
//! folder (the embedded store, the key file and the folder `backups/` in it).
//!
//! Exit status: 0 done; 1 a negative answer (a backup that does not verify, a restore refused);
//! 2 a configuration or usage problem, or a service that cannot be reached.

use std::process::ExitCode;

use domain::backup::config::{BackupConfig, Target};
use domain::backup::manifest::BackupId;
use domain::backup::restore::{
    RestoreError, RestoreOptions, RestoreReport, Target as RestoreTarget,
};
use domain::backup::run::{RunOutcome, Trigger};
use domain::backup::verify::{PartitionProblem, Which};
use domain::backup::{BackupPorts, Backups, Unlimited};
use soapp::error_chain;
use superoffice::TenantId;

use crate::cli::{BackupArgs, BackupCommand, BackupSource};

pub fn run(args: BackupArgs) -> ExitCode {
    let config = match config(&args.source) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let command = args.command;
    crate::block_on(async move {
        match &config.target {
            Target::Folder { .. } => match app::backup::local(&config) {
                Ok(b) => execute(&b, command).await,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            },
            Target::S3 { .. } => match app::backup::aws(&config).await {
                Ok(b) => execute(&b, command).await,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            },
        }
    })
}

/// The configuration from `--data-dir` (laid out as `soapp serve` keeps it), or `--env-file` and
/// the environment, in that order.
fn config(source: &BackupSource) -> Result<BackupConfig, String> {
    if let Some(dir) = &source.data_dir {
        return soapp::local::backup_config(dir);
    }
    let vars = crate::env_file::read_optional(source.env_file.as_deref())?;
    BackupConfig::from_lookup(|name| crate::env_file::lookup(&vars, name))
        .map_err(|e| e.to_string())
}

async fn execute<P: BackupPorts>(backups: &Backups<P>, command: BackupCommand) -> ExitCode {
    match command {
        BackupCommand::Run => run_backup(backups).await,
        BackupCommand::List { limit } => list(backups, limit).await,
        BackupCommand::Verify { backup } => match which(backup.as_deref()) {
            Ok(w) => verify(backups, &w).await,
            Err(code) => code,
        },
        BackupCommand::Restore {
            backup,
            tenant,
            all,
            overwrite,
            dry_run,
        } => {
            let Ok(w) = which(backup.as_deref()) else {
                return ExitCode::from(2);
            };
            let target = match (tenant, all) {
                (Some(t), false) => match TenantId::parse(&t) {
                    Ok(t) => RestoreTarget::Tenant(t),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                },
                (None, true) => RestoreTarget::All,
                _ => {
                    eprintln!("error: give --tenant ID or --all");
                    return ExitCode::from(2);
                }
            };
            restore(
                backups,
                RestoreOptions {
                    backup: w,
                    target,
                    overwrite,
                    dry_run,
                },
            )
            .await
        }
    }
}

fn which(backup: Option<&str>) -> Result<Which, ExitCode> {
    match backup {
        None | Some("newest") => Ok(Which::Newest),
        Some(id) => BackupId::parse(id).map(Which::Id).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }),
    }
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

async fn run_backup<P: BackupPorts>(backups: &Backups<P>) -> ExitCode {
    match backups.run(Trigger::Start, &Unlimited).await {
        Ok(RunOutcome::Finished(m)) => {
            println!(
                "backup {} complete: {} partitions ({} tenants), {} items, {} of plaintext in {} encrypted, {} invocation(s)",
                m.backup_id,
                m.totals.partitions,
                m.totals.tenants,
                m.totals.items,
                kib(m.totals.plaintext_bytes),
                kib(m.totals.object_bytes),
                m.invocations
            );
            ExitCode::SUCCESS
        }
        Ok(RunOutcome::Busy { backup_id }) => {
            eprintln!(
                "backup {backup_id} is running elsewhere (the backup function?); try again when it is done"
            );
            ExitCode::from(1)
        }
        Ok(other) => {
            eprintln!("the backup stopped early: {other:?}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}

async fn list<P: BackupPorts>(backups: &Backups<P>, limit: usize) -> ExitCode {
    let ids = match backups.list(limit).await {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(2);
        }
    };
    if ids.is_empty() {
        println!("no complete backup of this environment yet");
    }
    for id in ids {
        match backups.manifest(&Which::Id(id.clone())).await {
            Ok(m) => println!(
                "{}  {} tenants  {} items  {} encrypted",
                m.backup_id,
                m.totals.tenants,
                m.totals.items,
                kib(m.totals.object_bytes)
            ),
            Err(e) => println!("{id}  unreadable manifest: {e}"),
        }
    }
    ExitCode::SUCCESS
}

async fn verify<P: BackupPorts>(backups: &Backups<P>, which: &Which) -> ExitCode {
    let report = match backups.verify(which).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("refused: {}", error_chain(&e));
            return ExitCode::from(1);
        }
    };
    let mut failed = 0;
    for c in &report.checks {
        match &c.outcome {
            Ok(()) => println!("ok      {:<16} {} items", c.scope.name(), c.items),
            Err(PartitionProblem::Erased) => {
                println!(
                    "erased  {:<16} key erased: unreadable by design",
                    c.scope.name()
                )
            }
            Err(p) => {
                failed += 1;
                println!("FAIL    {:<16} {p}", c.scope.name());
            }
        }
    }
    let m = &report.manifest;
    println!(
        "backup {}: {} of {} partitions decrypt and match the manifest ({} items), {} erased, {} failed",
        m.backup_id,
        report.checks.iter().filter(|c| c.outcome.is_ok()).count(),
        report.checks.len(),
        m.totals.items,
        report.erased(),
        failed
    );
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_report(report: &RestoreReport) {
    for p in &report.partitions {
        let c = &p.counts;
        println!(
            "{:<16} created {}, unchanged {}, overwritten {}, newer (left alone) {}, expired {}",
            p.scope.name(),
            c.created,
            c.unchanged,
            c.overwritten,
            c.newer,
            c.expired
        );
        if !p.newer_keys.is_empty() {
            println!("{:<16} newer items: {}", "", p.newer_keys.join(", "));
        }
    }
    for s in &report.erased {
        println!("{:<16} left out: its key was erased", s.name());
    }
}

async fn restore<P: BackupPorts>(backups: &Backups<P>, options: RestoreOptions) -> ExitCode {
    match backups.restore(&options).await {
        Ok(report) => {
            print_report(&report);
            let t = report.total();
            println!(
                "{} backup {}: {} created, {} overwritten, {} unchanged",
                if report.applied {
                    "restored from"
                } else {
                    "dry run of"
                },
                report.backup_id,
                t.created,
                t.overwritten,
                t.unchanged
            );
            ExitCode::SUCCESS
        }
        Err(RestoreError::Newer(report)) => {
            print_report(&report);
            eprintln!(
                "refused: {}",
                error_chain(&RestoreError::Newer(report.clone()))
            );
            ExitCode::from(1)
        }
        Err(e @ RestoreError::Store(_)) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("refused: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}
