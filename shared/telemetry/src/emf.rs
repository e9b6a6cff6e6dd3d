//! The embedded metric format: one JSON object per line, `_aws` naming the metrics and dimensions
//! among its members.
//!
//! ```json
//! {"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[
//!    {"Namespace":"SuperOfficeApp","Dimensions":[["Function","Route","StatusClass"]],
//!     "Metrics":[{"Name":"Requests","Unit":"Count"}]},
//!    {"Namespace":"SuperOfficeApp","Dimensions":[["Function","Route"]],
//!     "Metrics":[{"Name":"Latency","Unit":"Milliseconds"}]}]},
//!  "Function":"superoffice-app-sod-redirect","Route":"POST /callback","StatusClass":"3xx",
//!  "Requests":1,"Latency":1.27,"requestId":"…","status":303,"version":"0.1.0"}
//! ```
//!
//! What a line may measure and by what is fixed at compile time: a [`Shape`] is a list of
//! [`Directive`]s, each naming its dimensions and metrics as `&'static str`, so a dimension can
//! never be named after a value that arrived in a request. What a dimension's *value* is stays
//! the caller's choice, which is why [`crate::metrics`] takes only bounded values for them (route
//! templates, enum names) and puts tenant ids, request ids and everything else unbounded in
//! properties: CloudWatch bills each distinct combination of dimension values as a metric of its
//! own, properties cost nothing but log bytes.
//!
//! Lines are written by hand into one buffer (no `serde_json::Value` tree: this runs once per
//! request); strings are escaped by `serde_json`. [`check`] parses a line back and checks the
//! format's rules, for the tests.

use std::time::SystemTime;

/// The units the app's metrics use (a subset of CloudWatch's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
        }
    }
}

/// One metric: its name (a member of the line holding a number) and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
}

/// Metrics and the one set of dimensions CloudWatch files them under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directive {
    pub dimensions: &'static [&'static str],
    pub metrics: &'static [Metric],
}

/// What one kind of line measures: a directive per set of dimensions.
pub type Shape = &'static [Directive];

/// A property's value.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Str(&'a str),
    U64(u64),
    F64(f64),
}

/// One line being built. Dimensions and metric values must cover the shape (checked in debug
/// builds and by the tests' [`check`]); properties are free.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    namespace: &'static str,
    shape: Shape,
    at: SystemTime,
    dimensions: Vec<(&'static str, &'a str)>,
    values: Vec<(&'static str, Value<'a>)>,
    properties: Vec<(&'static str, Value<'a>)>,
    level: Option<&'static str>,
}

impl<'a> Line<'a> {
    /// A line of `shape` in `namespace`, for the moment `at`.
    pub fn new(namespace: &'static str, shape: Shape, at: SystemTime) -> Self {
        Self {
            namespace,
            shape,
            at,
            dimensions: Vec::with_capacity(4),
            values: Vec::with_capacity(4),
            properties: Vec::with_capacity(6),
            level: None,
        }
    }

    /// Sets a dimension's value. An empty value becomes `none` (CloudWatch refuses empty ones).
    pub fn dimension(mut self, name: &'static str, value: &'a str) -> Self {
        let value = if value.is_empty() { "none" } else { value };
        self.dimensions.push((name, value));
        self
    }

    /// A whole-number metric value (a count, bytes).
    pub fn count(mut self, metric: Metric, n: u64) -> Self {
        self.values.push((metric.name, Value::U64(n)));
        self
    }

    /// A fractional metric value (milliseconds).
    pub fn value(mut self, metric: Metric, v: f64) -> Self {
        let v = if v.is_finite() { v } else { 0.0 };
        self.values.push((metric.name, Value::F64(v)));
        self
    }

    /// A property: searchable in Logs Insights, not a dimension.
    pub fn property(mut self, name: &'static str, value: &'a str) -> Self {
        self.properties.push((name, Value::Str(value)));
        self
    }

    pub fn property_u64(mut self, name: &'static str, value: u64) -> Self {
        self.properties.push((name, Value::U64(value)));
        self
    }

    /// The line's `level` for Lambda's log-level filtering. Metric lines carry none by default:
    /// Lambda files a line without a level as INFO, and a function whose application log level is
    /// raised above INFO would drop them (the template sets no such level; a test keeps it so).
    pub fn level(mut self, level: &'static str) -> Self {
        self.level = Some(level);
        self
    }

    /// The JSON text of the line (without a newline).
    pub fn render(&self) -> String {
        debug_assert!(self.covers_its_shape(), "{:?}", self);
        let millis = self
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"_aws\":{\"Timestamp\":");
        out.extend_from_slice(millis.to_string().as_bytes());
        out.extend_from_slice(b",\"CloudWatchMetrics\":[");
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"Namespace\":");
            string(&mut out, self.namespace);
            out.extend_from_slice(b",\"Dimensions\":[[");
            for (j, name) in d.dimensions.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                string(&mut out, name);
            }
            out.extend_from_slice(b"]],\"Metrics\":[");
            for (j, m) in d.metrics.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"Name\":");
                string(&mut out, m.name);
                out.extend_from_slice(b",\"Unit\":\"");
                out.extend_from_slice(m.unit.as_str().as_bytes());
                out.extend_from_slice(b"\"}");
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
        for (name, value) in &self.dimensions {
            member(&mut out, name, Value::Str(value));
        }
        for (name, value) in self.values.iter().chain(&self.properties) {
            member(&mut out, name, *value);
        }
        if let Some(level) = self.level {
            member(&mut out, "level", Value::Str(level));
        }
        member(&mut out, "version", Value::Str(crate::VERSION));
        out.push(b'}');
        // Only valid UTF-8 went in (str and serde_json's output).
        String::from_utf8(out).unwrap_or_default()
    }

    /// Writes the line where this process's lines go ([`crate::sink`]).
    pub fn emit(self) {
        if crate::sink::enabled() {
            crate::sink::write(&self.render());
        }
    }

    fn covers_its_shape(&self) -> bool {
        let has_dim = |n: &str| self.dimensions.iter().any(|(d, _)| *d == n);
        let has_value = |n: &str| self.values.iter().any(|(m, _)| *m == n);
        self.shape.iter().all(|d| {
            d.dimensions.iter().all(|n| has_dim(n)) && d.metrics.iter().all(|m| has_value(m.name))
        })
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn member(out: &mut Vec<u8>, name: &str, value: Value<'_>) {
    out.push(b',');
    string(out, name);
    out.push(b':');
    match value {
        Value::Str(s) => string(out, s),
        Value::U64(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::F64(v) => {
            let _ = serde_json::to_writer(&mut *out, &v);
        }
    }
}

/// Dimensions a dimension set may have (CloudWatch's limit).
pub const MAX_DIMENSIONS: usize = 30;
/// Metrics a directive may name (CloudWatch's limit).
pub const MAX_METRICS: usize = 100;
/// Longest dimension value CloudWatch accepts.
pub const MAX_DIMENSION_VALUE: usize = 1024;

/// Parses `line` and checks it against the format's rules: one JSON object; `_aws.Timestamp` a
/// number of milliseconds; every directive with a namespace, at most [`MAX_DIMENSIONS`] dimensions
/// per set and [`MAX_METRICS`] metrics; every dimension a member holding a non-empty string of at
/// most [`MAX_DIMENSION_VALUE`] characters; every metric a member holding a number, with a unit
/// CloudWatch knows. Returns the parsed line.
pub fn check(line: &str) -> Result<serde_json::Value, String> {
    if line.contains('\n') {
        return Err("a line holds a newline".into());
    }
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not one JSON value: {e}"))?;
    let root = v.as_object().ok_or("not a JSON object")?;
    let aws = root
        .get("_aws")
        .and_then(|a| a.as_object())
        .ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(|t| t.as_u64())
        .ok_or("_aws.Timestamp is not a whole number of milliseconds")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(|c| c.as_array())
        .filter(|c| !c.is_empty())
        .ok_or("_aws.CloudWatchMetrics is not a non-empty array")?;
    for d in directives {
        let ns = d["Namespace"].as_str().unwrap_or_default();
        if ns.is_empty() || ns.len() > 255 {
            return Err(format!("namespace {ns:?}"));
        }
        let sets = d["Dimensions"]
            .as_array()
            .ok_or("Dimensions is not an array")?;
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > MAX_DIMENSIONS {
                return Err(format!("{} dimensions in one set", set.len()));
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                match root.get(name).and_then(|v| v.as_str()) {
                    Some(value) if !value.is_empty() && value.len() <= MAX_DIMENSION_VALUE => {}
                    other => return Err(format!("dimension {name}: {other:?}")),
                }
            }
        }
        let metrics = d["Metrics"].as_array().ok_or("Metrics is not an array")?;
        if metrics.is_empty() || metrics.len() > MAX_METRICS {
            return Err(format!("{} metrics in one directive", metrics.len()));
        }
        for m in metrics {
            let name = m["Name"].as_str().ok_or("a metric without a name")?;
            if !root.get(name).is_some_and(|v| v.is_number()) {
                return Err(format!("metric {name} is not a number member"));
            }
            if let Some(unit) = m.get("Unit") {
                const UNITS: &[&str] = &["Count", "Milliseconds", "Bytes", "Seconds", "None"];
                if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    return Err(format!("metric {name}: unit {unit}"));
                }
            }
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Metric = Metric {
        name: "A",
        unit: Unit::Count,
    };
    const B: Metric = Metric {
        name: "B",
        unit: Unit::Milliseconds,
    };
    const SHAPE: Shape = &[
        Directive {
            dimensions: &["Function", "Route"],
            metrics: &[A],
        },
        Directive {
            dimensions: &["Function"],
            metrics: &[B],
        },
    ];

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123)
    }

    #[test]
    fn a_line_declares_its_metrics_and_dimensions_and_holds_them_as_members() {
        let line = Line::new("NS", SHAPE, at())
            .dimension("Function", "app-redirect")
            .dimension("Route", "POST /callback")
            .count(A, 1)
            .value(B, 1.25)
            .property("tenant", "Cust1")
            .property_u64("status", 303)
            .render();
        let v = check(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_123u64);
        let d = &v["_aws"]["CloudWatchMetrics"];
        assert_eq!(d[0]["Namespace"], "NS");
        assert_eq!(
            d[0]["Dimensions"],
            serde_json::json!([["Function", "Route"]])
        );
        assert_eq!(
            d[0]["Metrics"],
            serde_json::json!([{"Name": "A", "Unit": "Count"}])
        );
        assert_eq!(
            d[1]["Metrics"],
            serde_json::json!([{"Name": "B", "Unit": "Milliseconds"}])
        );
        assert_eq!(v["Route"], "POST /callback");
        assert_eq!(v["A"], 1);
        assert_eq!(v["B"], 1.25);
        assert_eq!(v["tenant"], "Cust1");
        assert_eq!(v["status"], 303);
        assert_eq!(v["version"], crate::VERSION);
        assert!(v.get("level").is_none(), "no level unless asked for");
    }

    #[test]
    fn values_are_escaped_and_empty_dimensions_are_named() {
        let hostile = "x\"}\n{\"_aws\":1,\u{202e}\\";
        let line = Line::new("NS", SHAPE, at())
            .dimension("Function", "")
            .dimension("Route", hostile)
            .count(A, 0)
            .value(B, f64::NAN)
            .property("p", hostile)
            .level("WARN")
            .render();
        let v = check(&line).unwrap();
        assert_eq!(v["Route"], hostile);
        assert_eq!(v["p"], hostile);
        assert_eq!(v["Function"], "none");
        assert_eq!(v["B"], 0.0);
        assert_eq!(v["level"], "WARN");
    }

    #[test]
    fn the_checker_refuses_lines_that_break_the_format() {
        let good = Line::new("NS", SHAPE, at())
            .dimension("Function", "f")
            .dimension("Route", "r")
            .count(A, 1)
            .value(B, 1.0)
            .render();
        assert!(check(&good).is_ok());
        for (bad, why) in [
            (good.replace("\"A\":1", "\"A\":\"1\""), "metric as a string"),
            (
                good.replace("\"Route\":\"r\"", "\"Route\":1"),
                "dimension as a number",
            ),
            (
                good.replace("\"Route\":\"r\"", "\"Route\":\"\""),
                "empty dimension",
            ),
            (good.replace("\"Timestamp\":", "\"Time\":"), "no timestamp"),
            (good.replace("Milliseconds", "Parsecs"), "unknown unit"),
            (format!("{good}\n{good}"), "two lines"),
            ("[]".to_owned(), "not an object"),
        ] {
            assert!(check(&bad).is_err(), "{why}: {bad}");
        }
    }
}
