//! The backup's metrics, as CloudWatch embedded metric format (EMF) lines in the function's log:
//! CloudWatch Logs turns them into metrics in the namespace `APP_METRICS_NAMESPACE` (the template
//! sets `{stack}/backup`) without any API call or permission (`PutMetricData` would need a role
//! statement on `Resource: "*"`). No dimensions: one stack, one backup function.
//!
//! * when a run finishes (in the invocation that writes its manifest): [`BACKUP_COMPLETED`] (1),
//!   [`BACKUP_PARTITIONS`], [`BACKUP_ITEMS`] and [`BACKUP_BYTES`], with the backup's id;
//! * after the restore drill: [`BACKUP_VERIFIED`] (1 or 0) and [`NEWEST_VERIFIED_BACKUP_AGE`],
//!   the age of the newest backup the drill found whole, which the freshness alarm watches (absent
//!   until one has been verified: the alarm treats missing data as breaching).
//!
//! [`METRICS`] lists them all; the template's tests check the dashboard and the alarms against it.
//! Lines go where the process's other metric lines go (`telemetry::sink`: stdout in Lambda,
//! nowhere with `APP_METRICS=off`, a test's capture), and carry the release (`version`).

use std::time::SystemTime;

use serde_json::{Map, Value, json};

/// A finished run (1 per run).
pub const BACKUP_COMPLETED: (&str, &str) = ("BackupCompleted", "Count");
/// Partitions (the app's records and each tenant) in a finished run.
pub const BACKUP_PARTITIONS: (&str, &str) = ("BackupPartitions", "Count");
/// Items in a finished run.
pub const BACKUP_ITEMS: (&str, &str) = ("BackupItems", "Count");
/// Bytes of the encrypted objects of a finished run.
pub const BACKUP_BYTES: (&str, &str) = ("BackupBytes", "Bytes");
/// The restore drill's result: 1 when the newest backup decrypted and matched its manifest.
pub const BACKUP_VERIFIED: (&str, &str) = ("BackupVerified", "Count");
/// The age of the newest backup the drill verified.
pub const NEWEST_VERIFIED_BACKUP_AGE: (&str, &str) = ("NewestVerifiedBackupAgeSeconds", "Seconds");

/// Every metric the backup writes: (name, unit).
pub const METRICS: &[(&str, &str)] = &[
    BACKUP_COMPLETED,
    BACKUP_PARTITIONS,
    BACKUP_ITEMS,
    BACKUP_BYTES,
    BACKUP_VERIFIED,
    NEWEST_VERIFIED_BACKUP_AGE,
];

/// One EMF line with `metrics` (name, unit, value) and plain `fields`.
pub fn emf_line(
    namespace: &str,
    at: SystemTime,
    metrics: &[(&str, &str, f64)],
    fields: &[(&str, Value)],
) -> String {
    let timestamp = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": definitions,
            }]
        }),
    );
    for (name, _, value) in metrics {
        line.insert((*name).into(), json!(value));
    }
    for (name, value) in fields {
        line.insert((*name).into(), value.clone());
    }
    line.insert("version".into(), json!(::telemetry::VERSION));
    Value::Object(line).to_string()
}

/// Writes an EMF line where the process's metric lines go (standard output in Lambda, where
/// CloudWatch Logs picks it up); nothing with `APP_METRICS=off`.
pub fn publish(line: &str) {
    if ::telemetry::sink::enabled() {
        ::telemetry::sink::write(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_names_its_metrics_in_the_namespace_with_their_values() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let line = emf_line(
            "superoffice-app-sod/backup",
            at,
            &[
                ("BackupVerified", "Count", 1.0),
                ("NewestVerifiedBackupAgeSeconds", "Seconds", 3600.0),
            ],
            &[("backup_id", json!("20270115T080000Z-k3j9xa"))],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_800_000_000_000u64);
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "superoffice-app-sod/backup");
        assert_eq!(cw["Dimensions"], json!([[]]));
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "NewestVerifiedBackupAgeSeconds", "Unit": "Seconds"})
        );
        assert_eq!(v["BackupVerified"], 1.0);
        assert_eq!(v["NewestVerifiedBackupAgeSeconds"], 3600.0);
        assert_eq!(v["backup_id"], "20270115T080000Z-k3j9xa");
        assert_eq!(v["version"], ::telemetry::VERSION);
        // The format's rules, as the app's other lines are checked.
        ::telemetry::emf::check(&line).unwrap();
    }

    #[test]
    fn every_metric_has_a_unit_cloudwatch_knows_and_a_name_of_its_own() {
        let mut names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
        for (name, unit) in METRICS {
            assert!(
                ["Count", "Bytes", "Seconds"].contains(unit),
                "{name}: {unit}"
            );
            assert!(
                !::telemetry::metrics::ALL.iter().any(|(_, shape)| shape
                    .iter()
                    .any(|d| d.metrics.iter().any(|m| m.name == *name))),
                "{name} is also one of the app's own metrics"
            );
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
    }
}
