//! Logs: one JSON object per line on stdout (CloudWatch reads them; the Lambda log format is JSON too),
//! or readable text for local runs. Fields carry reason codes, tenants and request ids; tokens and
//! secrets never reach a field (they are `Secret`s, which print as `[redacted]`).

use tracing_subscriber::EnvFilter;

use domain::config::LogFormat;

/// Installs the global subscriber once; later calls are ignored (tests start many apps).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
