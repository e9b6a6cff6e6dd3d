//! What the app tells its operators besides log lines: its version ([`VERSION`]) and its metrics,
//! written as CloudWatch embedded metric format (EMF) lines on stdout.
//!
//! # Why EMF lines, and why this small crate rather than a published one
//!
//! An EMF line is one JSON object on stdout whose `_aws` member tells CloudWatch Logs which of its
//! members are metrics and which are dimensions; the rest of the object stays searchable in Logs
//! Insights. No SDK, no `PutMetricData` permission, no network call on the request path, and a
//! line per event costs about a microsecond (BENCHMARKS.md, "Metrics on the warm path").
//!
//! Crates considered (December 2026):
//!
//! * `metrics_cloudwatch_embedded` 0.10 (Apache-2.0, maintained: releases in 2025 and 2026) is a
//!   recorder for the `metrics` facade. Counters are aggregated in a global recorder and flushed
//!   once per invocation by a tower layer around `lambda_runtime::run`. Its labels are dimensions,
//!   and its properties are set on the collector and *persist across flushes*: a tenant id set for
//!   one job would be written on the next job's line too. Per-tenant figures as properties of the
//!   line they belong to are exactly what we need (dimensions would multiply CloudWatch's per-metric
//!   cost by the number of tenants). It also brings `metrics`, `futures`, `pin-project` and `tower`,
//!   replaces our `lambda_http::run` with its own wrapper (the worker uses `lambda_runtime`
//!   directly, the local runner neither), and its global recorder makes lines of concurrent tests
//!   in one process indistinguishable.
//! * `aws-embedded-metrics` is AWS's library for Python, Node.js and Java; there is no Rust crate of
//!   that name on crates.io.
//!
//! So this crate writes the format itself: one line per event, its dimensions and properties
//! given with the event, no state between lines, `serde_json` its only dependency (for string
//! escaping and the tests' parser). The format's rules that matter are checked by [`emf::check`],
//! which the tests of every crate that writes a line run on what it wrote.
//!
//! # What is where
//!
//! * [`metrics`]: the catalogue (namespace, metric and dimension names, units, which dimensions
//!   each metric has) and one function per event the app counts. The template's dashboard and
//!   alarms are checked against the catalogue (`tests/tests/template.rs`).
//! * [`emf`]: the line format, and the checker.
//! * [`sink`]: where lines go (stdout in Lambda, nowhere when switched off, a test's memory).

pub mod emf;
pub mod metrics;
pub mod sink;

/// The app's release: the workspace's version (`[workspace.package] version`, which every crate
/// inherits). On every JSON log line (`app::telemetry`), every metric line, the management page,
/// and for backups to record which release wrote them.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
