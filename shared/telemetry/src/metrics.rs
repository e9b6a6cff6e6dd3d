//! The app's metrics: one namespace, a handful of metric names, and dimensions whose values are
//! bounded by the code (a function's name, a route template, an enum's name), never by what a
//! caller sends. Tenant ids, request ids, reason codes and days are properties.
//!
//! | line | metrics | dimensions | properties | written by |
//! |---|---|---|---|---|
//! | [`http_request`] | `Requests` (Count), `Latency` (ms) | `Function`, `Route`, `StatusClass` (`Latency`: `Function`, `Route`) | `requestId`, `status` | the HTTP plumbing (`app`), once per request |
//! | [`sign_in`] | `SignIns` | `Function`, `Outcome` ([`SignInOutcome`]) | `reason`, `tenant`, `intent`, `requestId` | the redirect function's `/callback` |
//! | [`job`] | `Jobs` | `Function`, `Kind` (install, uninstall, upgrade, repair, purge), `Outcome` ([`JobOutcome`]) | `tenant`, `reason` | queued: the install and lifecycle functions and the worker's rollout tick (`reason` `rollout`); the rest: the job worker |
//! | [`superoffice_usage`] | `SuperOfficeCalls`, `SuperOfficeBytesSent`, `SuperOfficeBytesReceived` (Bytes), `SuperOfficeThrottled`, `SuperOfficeFailures` | `Function` | `tenant`, `day` | the job worker, per tenant each time its usage is stored |
//! | [`jwks_last_known_good`] | `JwksLastKnownGoodInUse` | `Function` | `reason` | the platform crate, per failed key refresh |
//!
//! The backup function writes its own lines (`app::backup::metrics`: `BackupCompleted`,
//! `BackupVerified`, `NewestVerifiedBackupAgeSeconds`, … in the namespace `{stack}/backup`, without
//! dimensions), which its freshness and drill alarms read; they go through this crate's [`sink`]
//! too (`APP_METRICS=off`, the tests' capture) and carry `version`.
//!
//! [`sink`]: crate::sink
//!
//! Every line also carries `version` ([`crate::VERSION`]). The `Function` dimension is the Lambda
//! function's name, which holds the stack's name, so one namespace serves every stack in an
//! account and a stack's dashboard picks its own by `Function`. `tests/tests/template.rs` checks
//! that every metric the dashboard shows is in [`ALL`] with exactly those dimensions.
//!
//! What this costs in CloudWatch: every distinct combination of dimension values is a metric.
//! Requests and latency: about 20 routes × 4 status classes; jobs: 5 kinds × 4 outcomes over 3
//! functions; the others a few each. A new tenant adds none.

use std::time::{Duration, SystemTime};

use crate::emf::{Directive, Line, Metric, Shape, Unit};
use crate::sink::{enabled, function_name};

/// The namespace of every metric the app writes.
pub const NAMESPACE: &str = "SuperOfficeApp";

/// Dimension: the Lambda function's name (`local` outside Lambda).
pub const FUNCTION: &str = "Function";
/// Dimension: the route template as API Gateway names it (`POST /webhooks/superoffice/{tenant}`).
pub const ROUTE: &str = "Route";
/// Dimension: `2xx`, `3xx`, `4xx`, `5xx`.
pub const STATUS_CLASS: &str = "StatusClass";
/// Dimension: how something ended (the enums below).
pub const OUTCOME: &str = "Outcome";
/// Dimension: a job's kind.
pub const KIND: &str = "Kind";

pub const REQUESTS: Metric = Metric {
    name: "Requests",
    unit: Unit::Count,
};
pub const LATENCY: Metric = Metric {
    name: "Latency",
    unit: Unit::Milliseconds,
};
pub const SIGN_INS: Metric = Metric {
    name: "SignIns",
    unit: Unit::Count,
};
pub const JOBS: Metric = Metric {
    name: "Jobs",
    unit: Unit::Count,
};
/// Attempts sent to tenants' WebAPI (retries included).
pub const SUPEROFFICE_CALLS: Metric = Metric {
    name: "SuperOfficeCalls",
    unit: Unit::Count,
};
pub const SUPEROFFICE_BYTES_SENT: Metric = Metric {
    name: "SuperOfficeBytesSent",
    unit: Unit::Bytes,
};
pub const SUPEROFFICE_BYTES_RECEIVED: Metric = Metric {
    name: "SuperOfficeBytesReceived",
    unit: Unit::Bytes,
};
/// Attempts SuperOffice answered with 429.
pub const SUPEROFFICE_THROTTLED: Metric = Metric {
    name: "SuperOfficeThrottled",
    unit: Unit::Count,
};
/// Attempts that got no answer or a 5xx.
pub const SUPEROFFICE_FAILURES: Metric = Metric {
    name: "SuperOfficeFailures",
    unit: Unit::Count,
};
/// A JWKS refresh failed and the last known good keys stay in use.
pub const JWKS_LAST_KNOWN_GOOD: Metric = Metric {
    name: "JwksLastKnownGoodInUse",
    unit: Unit::Count,
};

pub const HTTP_REQUEST: Shape = &[
    Directive {
        dimensions: &[FUNCTION, ROUTE, STATUS_CLASS],
        metrics: &[REQUESTS],
    },
    // Latency by route over every status class (a percentile cannot be summed afterwards).
    Directive {
        dimensions: &[FUNCTION, ROUTE],
        metrics: &[LATENCY],
    },
];
pub const SIGN_IN: Shape = &[Directive {
    dimensions: &[FUNCTION, OUTCOME],
    metrics: &[SIGN_INS],
}];
pub const JOB: Shape = &[Directive {
    dimensions: &[FUNCTION, KIND, OUTCOME],
    metrics: &[JOBS],
}];
pub const SUPEROFFICE_USAGE: Shape = &[Directive {
    dimensions: &[FUNCTION],
    metrics: &[
        SUPEROFFICE_CALLS,
        SUPEROFFICE_BYTES_SENT,
        SUPEROFFICE_BYTES_RECEIVED,
        SUPEROFFICE_THROTTLED,
        SUPEROFFICE_FAILURES,
    ],
}];
pub const JWKS: Shape = &[Directive {
    dimensions: &[FUNCTION],
    metrics: &[JWKS_LAST_KNOWN_GOOD],
}];

/// Every kind of line the app writes.
pub const ALL: &[(&str, Shape)] = &[
    ("http_request", HTTP_REQUEST),
    ("sign_in", SIGN_IN),
    ("job", JOB),
    ("superoffice_usage", SUPEROFFICE_USAGE),
    ("jwks_last_known_good", JWKS),
];

fn line(shape: Shape) -> Line<'static> {
    Line::new(NAMESPACE, shape, SystemTime::now()).dimension(FUNCTION, function_name())
}

/// `2xx` … `5xx` (`other` for anything else).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// One HTTP request: `route` is the route template (API Gateway's route key), never a raw path.
pub fn http_request(route: &str, status: u16, elapsed: Duration, request_id: &str) {
    if !enabled() {
        return;
    }
    line(HTTP_REQUEST)
        .dimension(ROUTE, route)
        .dimension(STATUS_CLASS, status_class(status))
        .count(REQUESTS, 1)
        .value(LATENCY, elapsed.as_secs_f64() * 1000.0)
        .property("requestId", request_id)
        .property_u64("status", u64::from(status))
        .emit();
}

/// How a sign-in at `/callback` ended, by what an operator would do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// A session started.
    SignedIn,
    /// The person cancelled or refused consent at SuperOffice: nothing to do.
    Cancelled,
    /// The request could not finish a sign-in (unknown or spent state, another browser, a code
    /// SuperOffice refused, malformed): many at once is a broken link or probing.
    Refused,
    /// SuperOffice's id_token did not validate: many at once is a key or clock problem.
    TokenInvalid,
    /// SuperOffice, the store or the key service could not be reached: the sign-in can be retried.
    Unavailable,
    /// SuperOffice refused our client credentials, or a secret cannot be read: an operator must fix
    /// the configuration.
    Misconfigured,
}

impl SignInOutcome {
    pub const ALL: [SignInOutcome; 6] = [
        SignInOutcome::SignedIn,
        SignInOutcome::Cancelled,
        SignInOutcome::Refused,
        SignInOutcome::TokenInvalid,
        SignInOutcome::Unavailable,
        SignInOutcome::Misconfigured,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignInOutcome::SignedIn => "signed_in",
            SignInOutcome::Cancelled => "cancelled",
            SignInOutcome::Refused => "refused",
            SignInOutcome::TokenInvalid => "token_invalid",
            SignInOutcome::Unavailable => "unavailable",
            SignInOutcome::Misconfigured => "misconfigured",
        }
    }
}

/// One sign-in's end. `reason` is the log line's reason code; `tenant` and `intent` once known.
pub fn sign_in(
    outcome: SignInOutcome,
    reason: &str,
    tenant: Option<&str>,
    intent: Option<&str>,
    request_id: &str,
) {
    if !enabled() {
        return;
    }
    let mut l = line(SIGN_IN)
        .dimension(OUTCOME, outcome.as_str())
        .count(SIGN_INS, 1)
        .property("reason", reason)
        .property("requestId", request_id);
    if let Some(t) = tenant {
        l = l.property("tenant", t);
    }
    if let Some(i) = intent {
        l = l.property("intent", i);
    }
    l.emit();
}

/// What became of a job at one step of its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Sent to the tenant's queue (an install or uninstall started, a push's work asked for).
    Queued,
    /// Ran to its end.
    Finished,
    /// Stopped for good until a person acts (the problem is on the tenant's record).
    Failed,
    /// Not finished this time: put back to be delivered again (throttled, maintenance, suspended,
    /// out of time, the store or the worker unavailable).
    PutBack,
}

impl JobOutcome {
    pub const ALL: [JobOutcome; 4] = [
        JobOutcome::Queued,
        JobOutcome::Finished,
        JobOutcome::Failed,
        JobOutcome::PutBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Queued => "queued",
            JobOutcome::Finished => "finished",
            JobOutcome::Failed => "failed",
            JobOutcome::PutBack => "put_back",
        }
    }
}

/// One step of a job's life; `kind` is the job kind's name (`domain::jobs::JobKind::as_str`). The
/// job's id is left out: it ends in a random run id, which the test suite's log scan takes for a
/// secret (and a reader needs the tenant and the kind, which the logs carry too).
pub fn job(kind: &'static str, outcome: JobOutcome, tenant: &str, reason: &str) {
    if !enabled() {
        return;
    }
    line(JOB)
        .dimension(KIND, kind)
        .dimension(OUTCOME, outcome.as_str())
        .count(JOBS, 1)
        .property("tenant", tenant)
        .property("reason", reason)
        .emit();
}

/// What the app sent one tenant's WebAPI (every attempt, retries included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub calls: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub throttled: u64,
    pub failures: u64,
}

/// One tenant's usage since its last line, for the day it was counted on: the tenant is a
/// property (summed over tenants by the metric, per tenant in Logs Insights).
pub fn superoffice_usage(tenant: &str, day: &str, usage: Usage) {
    if !enabled() {
        return;
    }
    crate::sink::write(&superoffice_usage_line(
        tenant,
        day,
        usage,
        function_name(),
        SystemTime::now(),
    ));
}

/// The usage line for `function` at `at` (the template's throttling filter reads its
/// `SuperOfficeThrottled` member).
pub fn superoffice_usage_line(
    tenant: &str,
    day: &str,
    usage: Usage,
    function: &str,
    at: SystemTime,
) -> String {
    Line::new(NAMESPACE, SUPEROFFICE_USAGE, at)
        .dimension(FUNCTION, function)
        .count(SUPEROFFICE_CALLS, usage.calls)
        .count(SUPEROFFICE_BYTES_SENT, usage.bytes_sent)
        .count(SUPEROFFICE_BYTES_RECEIVED, usage.bytes_received)
        .count(SUPEROFFICE_THROTTLED, usage.throttled)
        .count(SUPEROFFICE_FAILURES, usage.failures)
        .property("tenant", tenant)
        .property("day", day)
        .render()
}

/// The JWKS line for `function` at `at` (its `level` is WARN: the keys are stale).
pub fn jwks_line(reason: &str, function: &str, at: SystemTime) -> String {
    Line::new(NAMESPACE, JWKS, at)
        .dimension(FUNCTION, function)
        .count(JWKS_LAST_KNOWN_GOOD, 1)
        .property("reason", reason)
        .level("WARN")
        .render()
}

/// A JWKS refresh failed and the last known good keys stay in use.
pub fn jwks_last_known_good(reason: &str) {
    if !enabled() {
        return;
    }
    crate::sink::write(&jwks_line(reason, function_name(), SystemTime::now()));
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, OnceLock};

    use super::*;
    use crate::emf::check;

    /// Every line this test binary writes.
    fn captured() -> &'static Mutex<Vec<String>> {
        static LINES: OnceLock<&'static Mutex<Vec<String>>> = OnceLock::new();
        LINES.get_or_init(|| {
            let lines: &'static Mutex<Vec<String>> = Box::leak(Box::default());
            assert!(
                crate::sink::install(Box::new(|l| lines.lock().unwrap().push(l.to_owned()))),
                "the sink is installed before any line"
            );
            lines
        })
    }

    /// The lines with a property `key` of `value`, parsed and checked.
    fn lines_with(key: &str, value: &str) -> Vec<serde_json::Value> {
        captured()
            .lock()
            .unwrap()
            .iter()
            .map(|l| check(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .filter(|v| v[key] == value)
            .collect()
    }

    /// The line declares exactly the dimension sets and metrics of `shape`, in `NAMESPACE`.
    fn assert_shape(v: &serde_json::Value, shape: Shape) {
        let directives = v["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), shape.len());
        for (d, want) in directives.iter().zip(shape) {
            assert_eq!(d["Namespace"], NAMESPACE);
            assert_eq!(d["Dimensions"], serde_json::json!([want.dimensions]));
            let names: Vec<&str> = d["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["Name"].as_str().unwrap())
                .collect();
            let want: Vec<&str> = want.metrics.iter().map(|m| m.name).collect();
            assert_eq!(names, want);
        }
        assert_eq!(v[FUNCTION], "local");
        assert_eq!(v["version"], crate::VERSION);
    }

    #[test]
    fn a_request_is_counted_by_route_and_status_class_and_timed_by_route() {
        captured();
        http_request(
            "POST /webhooks/superoffice/{tenant}",
            503,
            Duration::from_micros(1500),
            "req-http-1",
        );
        let lines = lines_with("requestId", "req-http-1");
        assert_eq!(lines.len(), 1);
        let v = &lines[0];
        assert_shape(v, HTTP_REQUEST);
        assert_eq!(v[ROUTE], "POST /webhooks/superoffice/{tenant}");
        assert_eq!(v[STATUS_CLASS], "5xx");
        assert_eq!(v["status"], 503);
        assert_eq!(v["Requests"], 1);
        assert_eq!(v["Latency"], 1.5);
    }

    #[test]
    fn sign_ins_jobs_and_usage_keep_tenants_in_properties() {
        captured();
        sign_in(
            SignInOutcome::SignedIn,
            "signed_in",
            Some("Cust777"),
            Some("install"),
            "req-sign-in-1",
        );
        let v = &lines_with("requestId", "req-sign-in-1")[0];
        assert_shape(v, SIGN_IN);
        assert_eq!(v[OUTCOME], "signed_in");
        assert_eq!(
            (v["tenant"].as_str(), v["intent"].as_str()),
            (Some("Cust777"), Some("install"))
        );

        job("uninstall", JobOutcome::PutBack, "Cust778", "throttled");
        let v = &lines_with("tenant", "Cust778")[0];
        assert_shape(v, JOB);
        assert_eq!(
            (v[KIND].as_str(), v[OUTCOME].as_str()),
            (Some("uninstall"), Some("put_back"))
        );
        assert_eq!(v["tenant"], "Cust778");

        let usage = Usage {
            calls: 36,
            bytes_sent: 1000,
            bytes_received: 20_000,
            throttled: 2,
            failures: 1,
        };
        superoffice_usage("Cust779", "2026-12-01", usage);
        let v = &lines_with("tenant", "Cust779")[0];
        assert_shape(v, SUPEROFFICE_USAGE);
        assert_eq!(v["SuperOfficeCalls"], 36);
        assert_eq!(v["SuperOfficeBytesReceived"], 20_000);
        assert_eq!(v["SuperOfficeThrottled"], 2);
        assert_eq!(v["day"], "2026-12-01");

        jwks_last_known_good("jwks_refresh_failed_for_test");
        let v = &lines_with("reason", "jwks_refresh_failed_for_test")[0];
        assert_shape(v, JWKS);
        assert_eq!(v["JwksLastKnownGoodInUse"], 1);
        assert_eq!(v["level"], "WARN");
    }

    #[test]
    fn every_shape_is_within_cloudwatchs_limits_and_dimension_names_are_not_metric_names() {
        let metrics: Vec<&str> = ALL
            .iter()
            .flat_map(|(_, s)| s.iter().flat_map(|d| d.metrics.iter().map(|m| m.name)))
            .collect();
        for (name, shape) in ALL {
            for d in *shape {
                assert!(d.dimensions.len() <= crate::emf::MAX_DIMENSIONS, "{name}");
                assert!(d.metrics.len() <= crate::emf::MAX_METRICS, "{name}");
                assert_eq!(
                    d.dimensions.first(),
                    Some(&FUNCTION),
                    "{name}: by function first"
                );
                for dim in d.dimensions {
                    assert!(!metrics.contains(dim), "{name}: {dim}");
                }
            }
        }
        let mut unique = metrics.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), metrics.len(), "a metric belongs to one line");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(303), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(504), "5xx");
        assert_eq!(status_class(42), "other");
    }
}
