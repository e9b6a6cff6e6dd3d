//! `scan-test-logs DIR [--allow-empty]`: fails (exit 1) when any log line the test suite wrote to
//! DIR holds a token, code, cookie value, key or random-looking secret (catalogue 91), or when DIR
//! holds no log line at all (unless `--allow-empty`, for a filtered test run). Findings are shown
//! with the secret itself masked.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let allow_empty = args.iter().any(|a| a == "--allow-empty");
    let Some(dir) = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
    else {
        eprintln!("usage: scan-test-logs DIR [--allow-empty]");
        return ExitCode::from(2);
    };
    let scan = match integration_tests::logs::scan_dir(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "FAILED: cannot read the test logs in {}: {e}",
                dir.display()
            );
            return ExitCode::from(2);
        }
    };
    for (file, line, f) in &scan.findings {
        eprintln!("{}:{line}: {}: {}", file.display(), f.rule, f.excerpt);
    }
    if !scan.findings.is_empty() {
        eprintln!(
            "FAILED: {} secret(s) in the test suite's logs ({} lines in {} files)",
            scan.findings.len(),
            scan.lines,
            scan.files
        );
        return ExitCode::from(1);
    }
    if scan.lines == 0 && !allow_empty {
        eprintln!(
            "FAILED: no log line in {}: the end-to-end tests did not log (a scan of nothing proves nothing)",
            dir.display()
        );
        return ExitCode::from(1);
    }
    println!(
        "test logs: {} lines in {} files, no token, code, cookie or secret",
        scan.lines, scan.files
    );
    ExitCode::SUCCESS
}
