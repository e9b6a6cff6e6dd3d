//! The operator CLI where its output goes: a reader that stops early (`soapp manifest list | head`)
//! ends the command quietly, and `soapp doctor --help` names every variable the doctor reads.

use std::io::Read;
use std::process::{Command, Stdio};

fn soapp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_soapp"))
}

#[test]
fn commands_end_quietly_when_the_reader_goes_away() {
    for args in [
        &["manifest", "list"][..],
        &["manifest", "list", "--format", "json"][..],
    ] {
        // The read end is closed before the command writes (as `head` does once it has enough):
        // the write fails with a broken pipe.
        let mut child = soapp()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "{args:?}: exit {status:?}, stderr: {stderr}"
        );
        assert_eq!(stderr, "", "{args:?}: nothing on stderr, no panic");
    }
    // Through a real `head`, as an operator types it.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} manifest list | head -n 1",
            env!("CARGO_BIN_EXE_soapp")
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn doctor_help_names_every_variable_it_reads_and_what_it_is_for() {
    let out = soapp().args(["doctor", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (name, purpose) in soapp::doctor::VARIABLES {
        let line = help
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} is not listed in:\n{help}"));
        assert!(
            line.contains(&purpose[..20]),
            "{name}: its purpose is not on its line: {line}"
        );
    }
    assert!(help.contains("AWS_REGION"), "the AWS SDK's variables");
}
