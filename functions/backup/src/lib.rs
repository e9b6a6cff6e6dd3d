//! The backup function's events, as EventBridge schedules send them (each schedule's `Input`):
//!
//! * `{"action": "backup"}` (the backup schedule, daily by default): continues the run in progress,
//!   or starts one;
//! * `{"action": "continue"}` (every 15 minutes): continues a run that stopped at the previous
//!   invocation's time limit; nothing to do (a few milliseconds) otherwise;
//! * `{"action": "verify"}` (the restore drill): decrypts the newest backup, compares it with its
//!   manifest and publishes the result as metrics.
//!
//! A run never works past the invocation's deadline: it stops a minute before with a checkpoint
//! ([`domain::backup::Deadline`]). Errors fail the invocation (the function's Errors alarm); a failed
//! drill is a metric (`BackupVerified` 0) and the freshness alarm.

use std::sync::Arc;
use std::time::SystemTime;

use app::backup::metrics::{
    BACKUP_BYTES, BACKUP_COMPLETED, BACKUP_ITEMS, BACKUP_PARTITIONS, BACKUP_VERIFIED,
    NEWEST_VERIFIED_BACKUP_AGE, emf_line, publish,
};
use domain::backup::run::{BackupError, RunOutcome, Trigger};
use domain::backup::verify::ReadError;
use domain::backup::{BackupPorts, Backups, Deadline};
use serde::Deserialize;
use serde_json::{Value, json};
use superoffice::clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Backup,
    Continue,
    Verify,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    action: Action,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(
        "not a backup event (expected {{\"action\": \"backup\" | \"continue\" | \"verify\"}}): {0}"
    )]
    BadEvent(String),
    #[error("the backup failed: {0}")]
    Backup(#[from] BackupError),
    #[error("the restore drill could not read the backup: {0}")]
    Drill(#[from] ReadError),
}

/// The action an event asks for.
pub fn action(event: Value) -> Result<Action, HandlerError> {
    serde_json::from_value::<Event>(event)
        .map(|e| e.action)
        .map_err(|e| HandlerError::BadEvent(e.to_string()))
}

/// Handles one event; `deadline` is when the invocation ends.
pub async fn handle<P: BackupPorts>(
    backups: &Backups<P>,
    event: Value,
    deadline: SystemTime,
    clock: Arc<dyn Clock>,
    metrics_namespace: &str,
) -> Result<Value, HandlerError> {
    let action = action(event)?;
    match action {
        Action::Backup | Action::Continue => {
            let trigger = if action == Action::Backup {
                Trigger::Start
            } else {
                Trigger::Continue
            };
            let budget = Deadline::lambda(deadline, clock.clone());
            let outcome = backups.run(trigger, &budget).await?;
            Ok(run_summary(&outcome, clock.now(), metrics_namespace))
        }
        Action::Verify => {
            let drill = match backups.drill().await {
                Ok(d) => d,
                Err(e) => {
                    // No backup to verify, or its manifest is unusable: a failed drill.
                    publish(&emf_line(
                        metrics_namespace,
                        clock.now(),
                        &[(BACKUP_VERIFIED.0, BACKUP_VERIFIED.1, 0.0)],
                        &[("reason", json!(e.to_string()))],
                    ));
                    tracing::error!(reason = "backup_drill_failed", error = %e, "the restore drill could not read the newest backup");
                    return Err(e.into());
                }
            };
            let passed = drill.report.passed();
            let mut values = vec![(
                BACKUP_VERIFIED.0,
                BACKUP_VERIFIED.1,
                if passed { 1.0 } else { 0.0 },
            )];
            if let Some(age) = drill.newest_verified_age {
                values.push((
                    NEWEST_VERIFIED_BACKUP_AGE.0,
                    NEWEST_VERIFIED_BACKUP_AGE.1,
                    age as f64,
                ));
            }
            let failed: Vec<Value> = drill
                .report
                .checks
                .iter()
                .filter_map(|c| match &c.outcome {
                    Err(p) if !matches!(p, domain::backup::verify::PartitionProblem::Erased) => {
                        Some(json!({"scope": c.scope.name(), "problem": p.to_string()}))
                    }
                    _ => None,
                })
                .collect();
            let failed_text = Value::Array(failed.clone()).to_string();
            let summary = json!({
                "action": "verify",
                "backup_id": drill.report.manifest.backup_id.as_str(),
                "passed": passed,
                "partitions": drill.report.checks.len(),
                "erased": drill.report.erased(),
                "failed": failed,
                "newest_verified_age_seconds": drill.newest_verified_age,
            });
            publish(&emf_line(
                metrics_namespace,
                clock.now(),
                &values,
                &[("backup_id", summary["backup_id"].clone())],
            ));
            if passed {
                tracing::info!(backup_id = %drill.report.manifest.backup_id, "restore drill passed");
            } else {
                tracing::error!(reason = "backup_verify_failed", backup_id = %drill.report.manifest.backup_id, failed = %failed_text, "the newest backup does not match its manifest");
            }
            Ok(summary)
        }
    }
}

fn run_summary(outcome: &RunOutcome, now: SystemTime, namespace: &str) -> Value {
    match outcome {
        RunOutcome::Finished(m) => {
            publish(&emf_line(
                namespace,
                now,
                &[
                    (BACKUP_COMPLETED.0, BACKUP_COMPLETED.1, 1.0),
                    (
                        BACKUP_PARTITIONS.0,
                        BACKUP_PARTITIONS.1,
                        m.totals.partitions as f64,
                    ),
                    (BACKUP_ITEMS.0, BACKUP_ITEMS.1, m.totals.items as f64),
                    (BACKUP_BYTES.0, BACKUP_BYTES.1, m.totals.object_bytes as f64),
                ],
                &[("backup_id", json!(m.backup_id.as_str()))],
            ));
            json!({
                "outcome": "finished",
                "backup_id": m.backup_id.as_str(),
                "partitions": m.totals.partitions,
                "items": m.totals.items,
                "invocations": m.invocations,
            })
        }
        RunOutcome::Paused {
            backup_id,
            partitions_done,
        } => {
            json!({"outcome": "paused", "backup_id": backup_id.as_str(), "partitions_done": partitions_done})
        }
        RunOutcome::Busy { backup_id } => {
            json!({"outcome": "busy", "backup_id": backup_id.as_str()})
        }
        RunOutcome::Idle => json!({"outcome": "idle"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedules_inputs_are_the_three_actions_and_nothing_else_is() {
        assert_eq!(action(json!({"action": "backup"})).unwrap(), Action::Backup);
        assert_eq!(
            action(json!({"action": "continue"})).unwrap(),
            Action::Continue
        );
        assert_eq!(action(json!({"action": "verify"})).unwrap(), Action::Verify);
        for bad in [
            json!({"action": "restore"}),
            json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
            json!({"action": "backup", "tenant": "Cust1"}),
            json!("backup"),
        ] {
            assert!(matches!(action(bad), Err(HandlerError::BadEvent(_))));
        }
    }
}
