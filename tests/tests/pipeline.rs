//! The release pipeline as written (`.github/workflows/`, `scripts/release`): the order of its jobs,
//! what each may do, and what the deploy step refuses before it asks AWS anything.
//!
//! scripts/lint-workflows checks the workflows with actionlint and zizmor; these tests check the
//! promises of issue 15 that no linter knows: CI first, one build, the same artifact to SOD, Stage and
//! Online in that order, a post-deploy check after every deploy, AWS by OIDC in the deploy jobs only,
//! and every environment's settings taken from its samconfig.toml section.

use std::path::{Path, PathBuf};
use std::process::Command;

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value};

const ENVIRONMENTS: &[&str] = &["sod", "stage", "online"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn workflow(name: &str) -> Value {
    let path = root().join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let docs = Yaml::load_from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{name} holds one document");
    to_json(&docs[0])
}

fn to_json(node: &Yaml) -> Value {
    match node {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        Yaml::Value(Scalar::Integer(i)) => Value::from(*i),
        Yaml::Value(Scalar::FloatingPoint(f)) => Value::from(f.into_inner()),
        Yaml::Value(Scalar::String(s)) => Value::String(s.to_string()),
        Yaml::Representation(text, _, _) => Value::String(text.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match to_json(k) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        other => panic!("unexpected YAML in a workflow: {other:?}"),
    }
}

fn jobs(w: &Value) -> &Map<String, Value> {
    w["jobs"].as_object().expect("jobs")
}

/// A job's `needs`, as a list.
fn needs(job: &Value) -> Vec<&str> {
    match &job["needs"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The `run:` scripts of a job's steps, in order.
fn runs(job: &Value) -> Vec<&str> {
    job["steps"]
        .as_array()
        .map(|steps| steps.iter().filter_map(|s| s["run"].as_str()).collect())
        .unwrap_or_default()
}

fn grants_id_token(permissions: &Value) -> bool {
    permissions["id-token"] == "write" || permissions == "write-all"
}

#[test]
fn ci_runs_first_then_one_build_whose_artifact_goes_to_sod_then_stage_then_online() {
    let w = workflow("pipeline.yaml");
    let jobs = jobs(&w);
    assert_eq!(
        w["permissions"],
        Value::Object(Map::new()),
        "no permission by default"
    );

    // CI: the project's own command, on pull requests and on main.
    let ci = &jobs["ci"];
    assert!(needs(ci).is_empty());
    assert!(ci["if"].is_null(), "CI runs on every event");
    assert!(runs(ci).contains(&".ci/run"), "{:?}", runs(ci));

    // One build, after CI, on pushes to main only; it uploads the artifact the deploys use.
    let builders: Vec<&String> = jobs
        .iter()
        .filter(|(_, j)| runs(j).iter().any(|r| r.contains("scripts/release build")))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(builders, vec!["build"], "sam build runs once, in one job");
    let build = &jobs["build"];
    assert_eq!(needs(build), vec!["ci"]);
    let only_main = build["if"].as_str().unwrap_or_default();
    assert!(
        only_main.contains("github.event_name == 'push'")
            && only_main.contains("github.ref == 'refs/heads/main'"),
        "{only_main}"
    );
    let upload = build["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("the build uploads its artifact");
    assert_eq!(upload["with"]["name"], "release");
    assert_eq!(upload["with"]["path"], "release.tar");

    // Each environment through the one deploy workflow, each after the one before.
    let mut before = "build";
    for env in ENVIRONMENTS {
        let job = &jobs[*env];
        assert_eq!(job["uses"], "./.github/workflows/deploy.yaml", "{env}");
        assert_eq!(job["with"]["environment"], *env, "{env}");
        assert_eq!(needs(job), vec![before], "{env} waits for {before}");
        assert!(grants_id_token(&job["permissions"]), "{env}: OIDC token");
        before = env;
    }
    // Only the deploy jobs may ask for an OIDC token.
    for name in ["ci", "build"] {
        assert!(!grants_id_token(&jobs[name]["permissions"]), "{name}");
    }
}

#[test]
fn a_deploy_assumes_the_environments_role_by_oidc_then_deploys_then_checks_the_deployment() {
    let w = workflow("deploy.yaml");
    assert_eq!(w["permissions"], Value::Object(Map::new()));
    let input = &w["on"]["workflow_call"]["inputs"]["environment"];
    assert_eq!(input["required"], true);
    let jobs = jobs(&w);
    assert_eq!(jobs.len(), 1);
    let job = &jobs["deploy"];
    // The GitHub environment of the same name: its protection rules and variables apply.
    assert_eq!(job["environment"], "${{ inputs.environment }}");
    assert!(grants_id_token(&job["permissions"]));
    assert_eq!(job["concurrency"]["cancel-in-progress"], false);

    let steps = job["steps"].as_array().expect("steps");
    let position = |what: &dyn Fn(&Value) -> bool| steps.iter().position(what);
    let uses = |prefix: &'static str| {
        move |s: &Value| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix))
    };
    let runs_script = |script: &'static str| {
        move |s: &Value| s["run"].as_str().is_some_and(|r| r.contains(script))
    };
    let download = position(&uses("actions/download-artifact@")).expect("the artifact");
    let credentials =
        position(&uses("aws-actions/configure-aws-credentials@")).expect("AWS credentials");
    let deploy = position(&runs_script("scripts/release deploy")).expect("the deploy");
    let smoke = position(&runs_script("scripts/release smoke")).expect("the post-deploy check");
    assert!(download < deploy && credentials < deploy && deploy < smoke);
    assert_eq!(
        steps[download]["with"]["name"], "release",
        "the build's artifact"
    );

    let with = steps[credentials]["with"].as_object().expect("with");
    assert_eq!(
        with["role-to-assume"],
        "${{ vars.PIPELINE_EXECUTION_ROLE }}"
    );
    assert_eq!(with["aws-region"], "${{ vars.AWS_REGION }}");
    for key in [
        "aws-access-key-id",
        "aws-secret-access-key",
        "aws-session-token",
    ] {
        assert!(!with.contains_key(key), "{key}: OIDC only");
    }
    let env = &steps[deploy]["env"];
    assert_eq!(
        env["CLOUDFORMATION_EXECUTION_ROLE"],
        "${{ vars.CLOUDFORMATION_EXECUTION_ROLE }}"
    );
    assert_eq!(env["ARTIFACTS_BUCKET"], "${{ vars.ARTIFACTS_BUCKET }}");
    // The environment reaches the scripts through the environment, never expanded into a script.
    for step in [deploy, smoke] {
        let run = steps[step]["run"].as_str().unwrap();
        assert!(!run.contains("${{"), "{run}");
        assert!(run.ends_with("\"${DEPLOY_ENV}\""), "{run}");
    }
    assert_eq!(job["env"]["DEPLOY_ENV"], "${{ inputs.environment }}");
}

#[test]
fn every_action_is_pinned_to_a_full_commit() {
    for name in ["pipeline.yaml", "deploy.yaml"] {
        let text = std::fs::read_to_string(root().join(".github/workflows").join(name)).unwrap();
        let mut count = 0;
        for line in text.lines() {
            let Some(target) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
                continue;
            };
            if target.starts_with("./") {
                continue;
            }
            count += 1;
            let reference = target
                .split_whitespace()
                .next()
                .and_then(|t| t.split_once('@'))
                .map(|(_, r)| r)
                .unwrap_or_default();
            assert!(
                reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit()),
                "{name}: {target} is not pinned to a commit"
            );
        }
        assert!(count > 0, "{name} uses no action");
    }
}

/// Runs `scripts/release ARGS` in `dir` (a copy of the scripts and a samconfig.toml, or the
/// workspace) with only the variables given; returns the exit code, stdout and stderr.
fn release(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let tools = tempfile::tempdir().unwrap();
    let mut command = Command::new(dir.join("scripts/release"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", tools.path())
        .env("SOAPP_TOOLS_DIR", tools.path());
    for (k, v) in vars {
        command.env(k, v);
    }
    let out = command.output().expect("scripts/release runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `key = "value"` of `[section]` in samconfig.toml's text.
fn samconfig_value(text: &str, section: &str, key: &str) -> Option<String> {
    let header = format!("[{section}]");
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == header;
        } else if inside
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            let v = v.trim();
            let v = v.split(" #").next().unwrap_or(v).trim();
            return Some(v.trim_matches('"').to_owned());
        }
    }
    None
}

#[test]
fn the_release_script_takes_each_environments_stack_region_and_client_from_samconfig() {
    let text = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    for env in ENVIRONMENTS {
        let section = format!("{env}.deploy.parameters");
        let (code, out, err) = release(&root(), &["settings", env], &[]);
        assert_eq!(code, Some(0), "{env}: {err}");
        let stack = samconfig_value(&text, &section, "stack_name").unwrap();
        let region = samconfig_value(&text, &section, "region").unwrap();
        let overrides = samconfig_value(&text, &section, "parameter_overrides").unwrap();
        let param = |name: &str| {
            overrides
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .map(str::to_owned)
                .unwrap()
        };
        assert_eq!(
            out,
            format!(
                "stack_name={stack}\nregion={region}\nclient_id={}\nsuperoffice={}\n",
                param("ClientId"),
                param("SuperOfficeEnvironment")
            ),
            "{env}"
        );
        // The pipeline passes the bootstrap's bucket: SAM refuses --s3-bucket beside resolve_s3.
        assert_eq!(
            samconfig_value(&text, &section, "resolve_s3"),
            None,
            "{env}: resolve_s3 in samconfig.toml would make the pipeline's deploy fail"
        );
    }
    let (code, _, err) = release(&root(), &["settings", "qa"], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("sod, stage or online"), "{err}");
}

/// The scripts and a samconfig.toml whose sod section is filled in, in a folder of their own.
fn filled_in() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts/lib")).unwrap();
    for file in ["scripts/release", "scripts/lib/tools.sh"] {
        std::fs::copy(root().join(file), dir.path().join(file)).unwrap();
    }
    let text = std::fs::read_to_string(root().join("samconfig.toml"))
        .unwrap()
        .replace("REPLACE_WITH_SOD_CLIENT_ID", "0123456789abcdef0123456789abcdef")
        .replace(
            "REPLACE_WITH_SOD_CLIENT_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:superoffice-app/sod/client-secret-AbCdEf",
        )
        .replace(
            "REPLACE_WITH_SOD_SYSTEM_USER_KEY_ARN",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:superoffice-app/sod/system-user-key-AbCdEf",
        );
    std::fs::write(dir.path().join("samconfig.toml"), text).unwrap();
    dir
}

#[test]
fn a_deploy_is_refused_before_any_aws_call_when_settings_or_the_build_are_missing() {
    let bootstrap = [
        (
            "ARTIFACTS_BUCKET",
            "aws-sam-cli-managed-sod-pipeline-artifactsbucket-1",
        ),
        (
            "CLOUDFORMATION_EXECUTION_ROLE",
            "arn:aws:iam::111122223333:role/sod-CloudFormationExecutionRole",
        ),
    ];
    // The committed samconfig.toml: placeholders, named.
    let (code, _, err) = release(&root(), &["deploy", "sod"], &bootstrap);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("placeholders for ClientId, ClientSecretArn, SystemUserKeyArn"),
        "{err}"
    );
    let (code, _, err) = release(&root(), &["smoke", "stage"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("placeholders"), "{err}");

    let dir = filled_in();
    // Without what sam pipeline bootstrap made for the environment.
    let (code, _, err) = release(dir.path(), &["deploy", "sod"], &bootstrap[..1]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("CLOUDFORMATION_EXECUTION_ROLE is not set"),
        "{err}"
    );
    // The GitHub environment's region is not the one samconfig.toml deploys to.
    let mut vars = bootstrap.to_vec();
    vars.push(("AWS_REGION", "us-east-1"));
    let (code, _, err) = release(dir.path(), &["deploy", "sod"], &vars);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("AWS_REGION is us-east-1, but samconfig.toml deploys sod to eu-west-1"),
        "{err}"
    );
    // Everything set, but nothing built: no deploy of something else.
    vars.pop();
    vars.push(("AWS_REGION", "eu-west-1"));
    let (code, out, err) = release(dir.path(), &["deploy", "sod"], &vars);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("no build here"), "{err}");
    let (code, _, err) = release(dir.path(), &["smoke", "sod"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no build here"), "{err}");
}

#[test]
fn the_changelog_starts_with_unreleased_changes_or_the_workspace_version() {
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let version = cargo
        .lines()
        .skip_while(|l| l.trim() != "[workspace.package]")
        .find_map(|l| l.trim().strip_prefix("version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("[workspace.package] version");
    let changelog = std::fs::read_to_string(root().join("CHANGELOG.md")).expect("CHANGELOG.md");
    let newest = changelog
        .lines()
        .find(|l| l.starts_with("## "))
        .expect("a release heading");
    assert!(
        newest == "## [Unreleased]" || newest.starts_with(&format!("## [{version}]")),
        "the newest CHANGELOG heading is {newest:?}: [Unreleased] or [{version}] expected"
    );
}
