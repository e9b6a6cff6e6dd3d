//! The backup's metrics, as CloudWatch embedded metric format (EMF) lines on standard output:
//! CloudWatch Logs turns them into metrics in the function's namespace without any API call or
//! permission (`PutMetricData` would need a role statement on `Resource: "*"`).
//!
//! * after a run: `BackupPartitions`, `BackupItems`, `BackupBytes` and `KeyServiceCalls` (per
//!   invocation), and `BackupCompleted` (1 when the run finished in this invocation);
//! * after the restore drill: `BackupVerified` (1 or 0) and `NewestVerifiedBackupAgeSeconds`, the
//!   age of the newest backup the drill found whole, which the freshness alarm watches (absent
//!   until one has been verified: the alarm treats missing data as breaching).

use std::time::SystemTime;

use serde_json::{Map, Value, json};

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
    Value::Object(line).to_string()
}

/// Writes an EMF line to standard output (where Lambda's log agent picks it up).
pub fn publish(line: &str) {
    println!("{line}");
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
    }
}
