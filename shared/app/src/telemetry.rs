//! Logs: one JSON object per line on stdout (CloudWatch reads them; the Lambda log format is JSON too),
//! or readable text for local runs. Fields carry reason codes, tenants and request ids; tokens and
//! secrets never reach a field (they are `Secret`s, which print as `[redacted]`).
//!
//! Every JSON line starts with `"version"`, the app's release (`telemetry::VERSION`), so a line
//! read months later (or during a canary deployment, when two releases answer at once) says which
//! code wrote it. tracing-subscriber's JSON format has no constant fields, so [`Versioned`] puts it
//! in front of each formatted line. The metric lines (the `telemetry` crate) carry it as well; they
//! go to stdout beside these lines in JSON mode, and nowhere with the local runner's text logs.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

use domain::config::LogFormat;

/// Installs the global subscriber once; later calls are ignored (tests start many apps).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .fmt_fields(format::JsonFields::new())
            .event_format(Versioned(
                format::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(false),
            ))
            .try_init(),
        LogFormat::Text => {
            // Metric lines are JSON: in a terminal of text lines they are noise, and the local
            // runner has no CloudWatch to read them. Off, unless a sink was chosen already.
            ::telemetry::sink::switch_off();
            let started = builder.with_target(false).try_init();
            tracing::info!(version = ::telemetry::VERSION, "logging started");
            started
        }
    };
}

/// A JSON event format with `"version":"…"` as the first member of every line.
pub struct Versioned<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for Versioned<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"version\":\"{}\",{rest}", ::telemetry::VERSION),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_json_line_carries_the_apps_version() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(format::JsonFields::new())
            .event_format(Versioned(
                format::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(false),
            ))
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(reason = "signed_in", tenant = "Cust1", "session started");
            tracing::warn!("no fields");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        for v in &lines {
            assert_eq!(v["version"], ::telemetry::VERSION);
            assert!(v["timestamp"].is_string() && v["level"].is_string(), "{v}");
        }
        assert_eq!(lines[0]["reason"], "signed_in");
        assert_eq!(lines[0]["message"], "session started");
    }
}
