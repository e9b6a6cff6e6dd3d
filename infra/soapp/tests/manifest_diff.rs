//! `soapp manifest diff OLD NEW`: what a release's manifest changes in every installed tenant.

use std::path::Path;
use std::process::Command;

const DEMO: &str = include_str!("../../../manifest/demo.toml");

fn soapp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_soapp"))
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// The demo manifest as release 2: a new field, the contact panel on another page, the
/// preference dropped.
fn v2() -> String {
    DEMO.replace(
        "prog_id_prefix = \"DemoPartnerApp\"",
        "prog_id_prefix = \"DemoPartnerApp\"\nversion = \"2\"",
    )
    .replace(
        "path = \"/panels/contact?ctx=<uctx>&user=<usid>\"",
        "path = \"/panels/home?ctx=<uctx>&user=<usid>\"",
    )
    .replace(
        "[[preferences]]\nsection = \"DemoPartnerApp\"\nkey = \"Enabled\"\nvalue = \"1\"\nlevel = \"SystemWide\"\n",
        "",
    )
    .replacen(
        "[[web_panels]]",
        "[[user_defined_fields]]\nprog_id = \"DemoPartnerApp.Segment\"\nentity = \"Contact\"\ntype = \"ShortText\"\nlabel = \"Segment\"\ntext_length = 40\n\n[[web_panels]]",
        1,
    )
}

#[test]
fn a_release_lists_each_creation_update_and_removal_once() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "v1.toml", DEMO);
    let new = write(dir.path(), "v2.toml", &v2());
    let out = soapp(&["manifest", "diff", &old, &new]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "From unversioned to 2: 3 change(s) in every installed tenant"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].starts_with("- remove preference:DemoPartnerApp/Enabled"),
        "{text}"
    );
    assert!(lines[2].starts_with("+ create user_defined_field:Contact:DemoPartnerApp.Segment"));
    assert!(lines[3].starts_with("~ update web_panel:DemoPartnerApp.ContactPanel"));
    assert!(lines[3].contains("https://app.example.com/panels/home"));

    let out = soapp(&["manifest", "diff", &old, &new, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["remove", "create", "update"]);
    assert_ne!(doc["from_fingerprint"], doc["to_fingerprint"]);
}

#[test]
fn the_same_manifest_changes_nothing_and_a_new_base_url_updates_every_url() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "a.toml", DEMO);
    let out = soapp(&["manifest", "diff", &old, &old]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "From unversioned to unversioned: no change in any tenant"
    );
    // Same manifest, another deployment URL: the plan is computed for that URL on both sides, so
    // nothing changes; a moved deployment is a new base URL for the tenants' recorded fingerprints,
    // which the engine's own tests cover.
    let out = soapp(&[
        "manifest",
        "diff",
        &old,
        &old,
        "--base-url",
        "https://other.example",
    ]);
    assert!(String::from_utf8(out.stdout).unwrap().contains("no change"));
}

#[test]
fn an_invalid_or_missing_manifest_says_so_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "a.toml", DEMO);
    let bad = write(
        dir.path(),
        "bad.toml",
        "[app]\nname = \"\"\nprog_id_prefix = \"x y\"\n",
    );
    let out = soapp(&["manifest", "diff", &old, &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("app.name"));
    let out = soapp(&["manifest", "diff", &old, "/nonexistent/m.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
