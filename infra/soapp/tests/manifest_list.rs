//! `soapp manifest list`: the provisioned-items list SuperOffice asks for.

use std::process::Command;

fn soapp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_soapp"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_list_names_every_artifact_of_the_demo_manifest() {
    let out = soapp(&[
        "manifest",
        "list",
        "--format",
        "md",
        "--base-url",
        "https://app.example.com",
    ]);
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "| list | `Demo Partner App regions` |",
        "NO:\"Nord\";US:\"North\"",
        "`Contact:DemoPartnerApp.CustomerNumber`",
        "bound to list regions",
        "https://app.example.com/panels/contact?ctx=<uctx>&user=<usid>",
        "| button |",
        "Preference DemoPartnerApp/Enabled = 1 (SystemWide)",
        "contact.created, contact.changed, contact.deleted",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    let json = soapp(&["manifest", "list", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["items"].as_array().unwrap().len(), 8);
    assert_eq!(doc["items"][0]["kind"], "list");
}

#[test]
fn an_invalid_manifest_is_refused_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, "[app]\nname = \"\"\nprog_id_prefix = \"a b\"\n").unwrap();
    let out = soapp(&["manifest", "list", "--manifest", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the manifest has 2 problems"), "{err}");
}
