//! Writing a command's answer where the reader may already have gone.
//!
//! `soapp manifest list | head -3` closes the pipe after three lines. Rust ignores SIGPIPE, so the
//! next write fails with `BrokenPipe`, and `println!` turns that into a panic with a stack trace.
//! Commands write through here instead: a reader that went away ends the command quietly (exit 0,
//! as `head` asked for no more), any other write error is a message and exit 2.

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

/// Writes `text` to stdout; `Err` holds the exit code the command should end with now.
pub fn stdout(text: &str) -> Result<(), ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) => Err(ended(&e)),
    }
}

/// Writes `text` to stderr, ignoring a closed stderr (nothing else could report it).
pub fn stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn ended(e: &std::io::Error) -> ExitCode {
    if e.kind() == ErrorKind::BrokenPipe {
        ExitCode::SUCCESS
    } else {
        stderr(&format!("error: cannot write the output: {e}\n"));
        ExitCode::from(2)
    }
}
