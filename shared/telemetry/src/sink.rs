//! Where metric lines go: chosen once per process.
//!
//! * By default, stdout, one `write` per line: in Lambda that is the function's log stream, where
//!   CloudWatch extracts the metrics. The tracing subscriber writes its lines to stdout too, each
//!   in one write of a whole line, so the two never interleave within a line.
//! * `APP_METRICS=off` switches them off: nothing is built or written. For the benchmark that
//!   measures what the lines cost (`infra/coldstart`), and for a developer who does not want them.
//! * [`install`]: a process that wants the lines elsewhere (the local runner's text logs, the test
//!   harness that scans every line for secrets) installs its own sink before the first line.
//!
//! A process-wide choice rather than a handle passed to every constructor: lines are written from
//! the HTTP plumbing, the functions, the domain's job worker and the platform crate, and none of
//! them should need a new parameter to count something.

use std::io::Write;
use std::sync::OnceLock;

/// A destination for lines (each without its newline).
pub type Sink = Box<dyn Fn(&str) + Send + Sync>;

enum Out {
    Stdout,
    Off,
    Custom(Sink),
}

static OUT: OnceLock<Out> = OnceLock::new();

fn out() -> &'static Out {
    OUT.get_or_init(|| match std::env::var("APP_METRICS").as_deref() {
        Ok("off") => Out::Off,
        _ => Out::Stdout,
    })
}

/// Sends every line of this process to `sink`. Only the first choice counts (a line may already
/// have gone to the default); returns whether this one did.
pub fn install(sink: Sink) -> bool {
    OUT.set(Out::Custom(sink)).is_ok()
}

/// Switches metric lines off for this process (if nothing was chosen yet); returns whether it did.
pub fn switch_off() -> bool {
    OUT.set(Out::Off).is_ok()
}

/// Whether lines are written at all: callers skip building a line when they are not.
pub fn enabled() -> bool {
    !matches!(out(), Out::Off)
}

/// Writes one line (a whole EMF line: [`crate::metrics`] builds the app's own; the backup function
/// builds its own lines and writes them here, so they follow the same switch and sink).
pub fn write(line: &str) {
    match out() {
        Out::Stdout => {
            let mut buf = Vec::with_capacity(line.len() + 1);
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            // A metric line that cannot be written is not worth failing a request for.
            let _ = std::io::stdout().lock().write_all(&buf);
        }
        Out::Off => {}
        Out::Custom(sink) => sink(line),
    }
}

/// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`, which embeds the stack's name), or
/// `local` outside Lambda: the `Function` dimension of every line. Read once.
pub fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "local".into())
    })
}
