//! The metrics the platform layer owns, written as CloudWatch embedded metric format (EMF) lines.
//!
//! One metric today: [`JWKS_LAST_KNOWN_GOOD`], counted each time a JWKS refresh failed and the keys
//! we already had stay in use. Sign-in keeps working then (that is the point of last-known-good
//! keys), so nothing else would tell an operator that SuperOffice's key endpoint is failing, or
//! that a key rotation is about to lock every user out.
//!
//! An EMF line is one JSON object on stdout whose `_aws` member tells CloudWatch which of its
//! fields are metrics; no SDK, no `PutMetricData` permission and no network call on the request
//! path. The template also turns the same lines into a metric with a log metric filter on the
//! metric's field and raises an alarm on it (`JwksLastKnownGoodAlarm`), so the alarm does not rest
//! on EMF extraction alone.

use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

/// The EMF namespace of the app's own metrics.
pub const NAMESPACE: &str = "SuperOfficeApp";
/// A JWKS refresh failed and the last known good keys stay in use.
pub const JWKS_LAST_KNOWN_GOOD: &str = "JwksLastKnownGoodInUse";

/// Where counts go: EMF on stdout in production, a recorder in tests.
pub trait Metrics: Send + Sync + 'static {
    /// Counts one occurrence of `metric`; `reason` is the reason code of the log line that goes
    /// with it.
    fn count(&self, metric: &'static str, reason: &'static str);
}

/// EMF lines on stdout, dimensioned by the Lambda function's name (`local` elsewhere).
#[derive(Debug, Default)]
pub struct EmfStdout;

impl Metrics for EmfStdout {
    fn count(&self, metric: &'static str, reason: &'static str) {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
        let line = emf_line(metric, reason, &function, SystemTime::now());
        // A log line that cannot be written is not worth failing a sign-in for.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// One EMF line counting `metric` once.
pub fn emf_line(metric: &str, reason: &str, function: &str, at: SystemTime) -> String {
    let millis = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{ "Name": metric, "Unit": "Count" }],
            }],
        },
        "Function": function,
        "reason": reason,
        "level": "WARN",
    });
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(metric.to_owned(), serde_json::json!(1));
    }
    doc.to_string()
}

/// Counts kept in memory, for tests.
#[derive(Debug, Default)]
pub struct MetricsRecorder {
    counted: Mutex<Vec<(&'static str, &'static str)>>,
}

impl MetricsRecorder {
    /// Every (metric, reason) counted so far.
    pub fn counted(&self) -> Vec<(&'static str, &'static str)> {
        self.counted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Metrics for MetricsRecorder {
    fn count(&self, metric: &'static str, reason: &'static str) {
        self.counted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((metric, reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_is_one_json_object_that_declares_its_metric() {
        let at = crate::clock::from_unix_seconds(1_700_000_000);
        let line = emf_line(
            JWKS_LAST_KNOWN_GOOD,
            "jwks_refresh_failed",
            "app-redirect",
            at,
        );
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Metrics"][0]["Name"], JWKS_LAST_KNOWN_GOOD);
        // Every dimension and metric the directive names is a member of the line.
        for d in directive["Dimensions"][0].as_array().unwrap() {
            assert!(v[d.as_str().unwrap()].is_string(), "{d}");
        }
        assert_eq!(v[JWKS_LAST_KNOWN_GOOD], 1);
        assert_eq!(v["Function"], "app-redirect");
        assert_eq!(v["reason"], "jwks_refresh_failed");
    }
}
