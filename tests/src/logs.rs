//! The app's logs during the end-to-end tests: captured, and scanned for secrets (catalogue 91).
//!
//! Every test binary that starts the app ([`crate::install_app::App`], or the handlers directly)
//! calls [`capture`], which installs one global subscriber for the process: the local runner's
//! text format (the one where an unescaped value could forge a line), kept in memory for the
//! test's own assertions ([`captured`]; the metric lines, which go to the same place, parsed by
//! [`metric_lines`]) and, when `SOAPP_TEST_LOG_DIR` is set (`scripts/test` sets it), appended to
//! `{dir}/{binary}-{pid}.log`. After the whole suite, `scripts/test` runs the
//! `scan-test-logs` binary over that folder: any token, code, cookie value, key or random-looking
//! secret in any line fails the run ([`findings`]), and so does a folder with no lines in it (a
//! scan of nothing proves nothing).
//!
//! The simulator's own logs are left out: they are SuperOffice's side of the conversation and
//! print what SuperOffice would keep to itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The variable naming the folder the suite's logs go to.
pub const LOG_DIR_VARIABLE: &str = "SOAPP_TEST_LOG_DIR";

/// The app's crates at debug, everything else at info, the simulator not at all.
const FILTER: &str = "info,superoffice=debug,domain=debug,web=debug,app=debug,adapters=debug,\
                      redirect=debug,install=debug,webhooks=debug,worker=debug,soapp=debug,\
                      superoffice_simulator=off";

struct Sink {
    memory: Mutex<String>,
    file: Option<Mutex<std::fs::File>>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

struct SinkWriter(&'static Sink);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_str(&text);
        if let Some(file) = &self.0.file {
            file.lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct MakeSinkWriter(&'static Sink);

impl<'a> MakeWriter<'a> for MakeSinkWriter {
    type Writer = SinkWriter;
    fn make_writer(&'a self) -> SinkWriter {
        SinkWriter(self.0)
    }
}

fn log_file() -> Option<std::fs::File> {
    let dir = PathBuf::from(std::env::var_os(LOG_DIR_VARIABLE)?);
    std::fs::create_dir_all(&dir).ok()?;
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "tests".into());
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{binary}-{}.log", std::process::id())))
        .ok()
}

/// Installs the capturing subscriber (once per process; later calls do nothing).
pub fn capture() {
    let mut installed_now = false;
    let sink = SINK.get_or_init(|| {
        installed_now = true;
        Sink {
            memory: Mutex::new(String::new()),
            file: log_file().map(Mutex::new),
        }
    });
    if installed_now {
        // The metric lines too: they are scanned like every log line, and tests read them back.
        telemetry::sink::install(Box::new(move |line: &str| {
            let mut w = SinkWriter(sink);
            let _ = w.write_all(format!("{line}\n").as_bytes());
        }));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(FILTER))
            .with_ansi(false)
            .with_target(false)
            .with_writer(MakeSinkWriter(sink))
            .try_init();
    }
}

/// The metric lines (CloudWatch embedded metric format) written in this process so far, each
/// checked against the format's rules and parsed.
pub fn metric_lines() -> Vec<serde_json::Value> {
    captured()
        .lines()
        // The app's own lines start with `_aws`; the backup's (serde_json, keys in order) have it
        // further on. A text log line starts with its time, never `{`.
        .filter(|l| l.starts_with('{') && l.contains("\"_aws\":{"))
        .map(|l| telemetry::emf::check(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Everything logged in this process so far.
pub fn captured() -> String {
    SINK.get()
        .map(|s| s.memory.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .unwrap_or_default()
}

/// One thing in a log line that must not be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it looks like (a rule's name).
    pub rule: &'static str,
    /// The line, cut around the finding and with the finding itself masked.
    pub excerpt: String,
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The secrets in one line of text (see the module docs and the tests for the classes).
pub fn findings(line: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut flag = |rule: &'static str, at: usize, len: usize| {
        let start = at.saturating_sub(40);
        let end = (at + len + 20).min(line.len());
        let (start, end) = (floor(line, start), floor(line, end));
        let masked = format!(
            "{}[{} chars]{}",
            &line[start..floor(line, at)],
            len,
            &line[floor(line, (at + len).min(line.len()))..end]
        );
        out.push(Finding {
            rule,
            excerpt: masked,
        });
    };
    let bytes = line.as_bytes();

    // A JWT (header or payload segment: base64url of `{"`).
    for (at, _) in line.match_indices("eyJ") {
        let run = bytes[at..]
            .iter()
            .take_while(|b| is_token_char(**b))
            .count();
        if run >= 10 {
            flag("jwt", at, run);
        }
    }
    // Credentials by their markers.
    for marker in [
        "PRIVATE KEY",
        "SOTicket ",
        "Bearer ",
        "8A:Cust",
        "SO-AppToken",
    ] {
        for (at, _) in line.match_indices(marker) {
            flag("credential_marker", at, marker.len());
        }
    }
    // Cookie values of ours.
    for name in ["__Host-session=", "__Host-signin-"] {
        for (at, _) in line.match_indices(name) {
            let rest = &line[at + name.len()..];
            let value = if name.ends_with('=') {
                rest
            } else {
                rest.split_once('=').map_or("", |(_, v)| v)
            };
            let value_len = value
                .bytes()
                .take_while(|b| is_token_char(*b) || *b == b'.')
                .count();
            if value_len > 0 {
                flag("cookie_value", at, name.len() + value_len);
            }
        }
    }
    // OAuth and OIDC values in URLs or forms.
    for param in [
        "code=",
        "state=",
        "nonce=",
        "code_verifier=",
        "client_secret=",
        "refresh_token=",
        "access_token=",
        "id_token=",
        "ticket=",
    ] {
        for (at, _) in line.match_indices(param) {
            let preceded_by_word = at > 0 && is_token_char(bytes[at - 1]);
            let value = &bytes[at + param.len()..];
            let run = value
                .iter()
                .take_while(|b| !matches!(b, b'&' | b' ' | b'"' | b'\'' | b';'))
                .count();
            if !preceded_by_word && run >= 8 {
                flag("oauth_parameter", at, param.len() + run);
            }
        }
    }
    // Random-looking runs: 32 or more base64url characters with upper case, lower case and digits
    // (state, nonce, codes, session ids, secrets). Hex digests (lower case only) and UUIDs pass.
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| is_token_char(**b)).count();
        if run >= 32 {
            let s = &bytes[i..i + run];
            let upper = s.iter().any(u8::is_ascii_uppercase);
            let lower = s.iter().any(u8::is_ascii_lowercase);
            let digit = s.iter().any(u8::is_ascii_digit);
            if upper && lower && digit {
                flag("random_secret", i, run);
            }
        }
        i += run.max(1);
    }
    out
}

fn floor(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// What a scan of a folder of logs found.
#[derive(Debug, Default)]
pub struct Scan {
    pub files: usize,
    pub lines: usize,
    /// (file, line number, finding)
    pub findings: Vec<(PathBuf, usize, Finding)>,
}

/// Scans every `*.log` file in `dir`.
pub fn scan_dir(dir: &Path) -> std::io::Result<Scan> {
    let mut scan = Scan::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    for path in files {
        let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        scan.files += 1;
        for (n, line) in text.lines().enumerate() {
            scan.lines += 1;
            for f in findings(line) {
                scan.findings.push((path.clone(), n + 1, f));
            }
        }
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(line: &str) -> Vec<&'static str> {
        findings(line).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn every_class_of_secret_is_found() {
        for (line, rule) in [
            ("token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "jwt"),
            ("-----BEGIN PRIVATE KEY-----", "credential_marker"),
            ("authorization: SOTicket 7T:abc", "credential_marker"),
            ("access 8A:Cust12345.AbCdEf", "credential_marker"),
            ("cookie: __Host-session=abcdef", "cookie_value"),
            (
                "set __Host-signin-AAAAAAAAAAAAAAAA=v1.x.1.sign_in.0.Lw",
                "cookie_value",
            ),
            ("GET /callback?code=Zm9vYmFyYmF6cXV4&x=1", "oauth_parameter"),
            ("form state=abcdefghij", "oauth_parameter"),
            (
                "client_secret=83d0f3bcb9afbc7eb9d0682e9b86db52",
                "oauth_parameter",
            ),
            (
                "detail=k2Jf9xQz_Lm3Np7Rt5Vw8Yb1Cd4Eg6Hj0KaZs",
                "random_secret",
            ),
        ] {
            assert!(rules(line).contains(&rule), "{line:?}: {:?}", rules(line));
        }
    }

    #[test]
    fn ordinary_log_lines_pass() {
        for line in [
            "2026-01-01T00:00:00Z  INFO request request_id=3f2a9c1d0b4e5f6a method=GET path=/ status=200",
            "WARN request refused request_id=x reason=state_unknown detail=",
            "INFO session started reason=\"signed_in\" tenant=Cust12345 administrator=true",
            "INFO webhook delivery event=contact.changed event_id=8337ae4a-1dd6-40fd-8dc7-a050664a0af7",
            "key SIGNIN#9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "WARN reason=\"unsafe_return_ignored\" why=\"return_not_local\"",
            "INFO reason=\"sign_in_again\" __Host-session= cleared",
        ] {
            assert!(findings(line).is_empty(), "{line:?}: {:?}", findings(line));
        }
    }

    #[test]
    fn a_finding_never_repeats_the_secret() {
        let secret = "k2Jf9xQz_Lm3Np7Rt5Vw8Yb1Cd4Eg6Hj0KaZs";
        let f = findings(&format!("detail={secret} end"));
        assert_eq!(f.len(), 1);
        assert!(!f[0].excerpt.contains(secret), "{:?}", f[0].excerpt);
    }
}
