//! The metrics the platform layer owns, written as CloudWatch embedded metric format (EMF) lines
//! by the app's one line writer (the `telemetry` crate, which says why EMF and why its own).
//!
//! One metric: [`JWKS_LAST_KNOWN_GOOD`], counted each time a JWKS refresh failed and the keys
//! we already had stay in use. Sign-in keeps working then (that is the point of last-known-good
//! keys), so nothing else would tell an operator that SuperOffice's key endpoint is failing, or
//! that a key rotation is about to lock every user out.
//!
//! The template also turns the same lines into a metric with a log metric filter on the metric's
//! field and raises an alarm on it (`JwksLastKnownGoodAlarm`), so the alarm does not rest on EMF
//! extraction alone.

use std::sync::Mutex;
use std::time::SystemTime;

/// The EMF namespace of the app's own metrics.
pub const NAMESPACE: &str = telemetry::metrics::NAMESPACE;
/// A JWKS refresh failed and the last known good keys stay in use.
pub const JWKS_LAST_KNOWN_GOOD: &str = telemetry::metrics::JWKS_LAST_KNOWN_GOOD.name;

/// Where counts go: EMF on stdout in production, a recorder in tests.
pub trait Metrics: Send + Sync + 'static {
    /// Counts one occurrence of `metric`; `reason` is the reason code of the log line that goes
    /// with it.
    fn count(&self, metric: &'static str, reason: &'static str);
}

/// EMF lines where the process's metric lines go (stdout in Lambda), dimensioned by the Lambda
/// function's name (`local` elsewhere).
#[derive(Debug, Default)]
pub struct EmfStdout;

impl Metrics for EmfStdout {
    fn count(&self, metric: &'static str, reason: &'static str) {
        // The platform counts one metric; a new one needs its shape in telemetry::metrics.
        debug_assert_eq!(metric, JWKS_LAST_KNOWN_GOOD);
        if metric == JWKS_LAST_KNOWN_GOOD {
            telemetry::metrics::jwks_last_known_good(reason);
        }
    }
}

/// One EMF line counting the JWKS metric once (`metric` must be [`JWKS_LAST_KNOWN_GOOD`]).
pub fn emf_line(metric: &str, reason: &str, function: &str, at: SystemTime) -> String {
    debug_assert_eq!(metric, JWKS_LAST_KNOWN_GOOD);
    telemetry::metrics::jwks_line(reason, function, at)
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
        let v = telemetry::emf::check(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Metrics"][0]["Name"], JWKS_LAST_KNOWN_GOOD);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
        // The field the template's metric filters read: `{ $.JwksLastKnownGoodInUse = 1 }`.
        assert_eq!(v[JWKS_LAST_KNOWN_GOOD], 1);
        assert_eq!(v["Function"], "app-redirect");
        assert_eq!(v["reason"], "jwks_refresh_failed");
        assert_eq!(v["level"], "WARN");
    }
}
