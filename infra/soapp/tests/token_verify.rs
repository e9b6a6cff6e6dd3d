//! `soapp token verify` as an operator runs it: exit codes, the claims on stdout, one specific reason
//! on stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use superoffice::testing::TestSigner;

const CLIENT: &str = "6cf25376616343b38d14ddcd804f2891";
const NOW: i64 = 1_800_000_000;
const NOW_RFC3339: &str = "2027-01-15T08:00:00Z";
const SO: &str = "http://schemes.superoffice.net/identity/";

fn signer() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::generate("16B7FB8C3F9AB06885A800C64E64C97C4AB5E98C"))
}

struct Keys {
    _dir: tempfile::TempDir,
    jwks: std::path::PathBuf,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, signer().jwks_json()).unwrap();
        Keys { _dir: dir, jwks }
    })
}

fn claims() -> Value {
    assert_eq!(
        time::OffsetDateTime::parse(NOW_RFC3339, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp(),
        NOW
    );
    json!({
        "sub": "ada@demo.example", "iss": "https://sod.superoffice.com", "aud": CLIENT,
        "iat": NOW, "nbf": NOW - 60, "exp": NOW + 300, "nonce": "abc",
        format!("{SO}ctx"): "Cust12345",
        format!("{SO}system_token"): "Demo App-8k8Q7DmBgo",
        format!("{SO}webapi_url"): "https://sod2.superoffice.com/Cust12345/api/",
    })
}

fn soapp(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_soapp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn verify(token: &str, extra: &[&str]) -> Output {
    let jwks = keys().jwks.to_str().unwrap().to_owned();
    let mut args = vec![
        "token",
        "verify",
        "--client-id",
        CLIENT,
        "--env",
        "sod",
        "--jwks",
        &jwks,
        "--now",
        NOW_RFC3339,
    ];
    args.extend_from_slice(extra);
    args.push(token);
    soapp(&args, None)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_valid_token_exits_0_and_prints_redacted_claims() {
    let out = verify(&signer().sign(&claims()), &["--nonce", "abc"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["sub"], "ada@demo.example");
    assert_eq!(printed[format!("{SO}ctx")], "Cust12345");
    assert_eq!(
        printed[format!("{SO}system_token")],
        "[redacted, 19 characters]"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("8k8Q7DmBgo"));
}

#[test]
fn the_token_can_come_on_standard_input() {
    let jwks = keys().jwks.to_str().unwrap();
    let token = format!("{}\n", signer().sign(&claims()));
    let out = soapp(
        &[
            "token",
            "verify",
            "--client-id",
            CLIENT,
            "--env",
            "sod",
            "--jwks",
            jwks,
            "--now",
            NOW_RFC3339,
            "-",
        ],
        Some(&token),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn invalid_tokens_exit_1_with_one_specific_reason() {
    let mut expired = claims();
    expired["exp"] = json!(NOW - 120);
    let mut wrong_aud = claims();
    wrong_aud["aud"] = json!("c789b7d98f3c496fb5aaa4b1a81ca11b");
    let mut prod = claims();
    prod["iss"] = json!("https://online.superoffice.com");
    let unknown = signer().sign_raw(
        &json!({"alg": "RS256", "kid": "rotated-away"}).to_string(),
        &claims().to_string(),
    );
    let cases = [
        (
            signer().sign(&expired),
            "invalid: expired: exp 2027-01-15T07:58:00Z is 120 s before now (2027-01-15T08:00:00Z); leeway 60 s",
        ),
        (signer().sign(&wrong_aud), "invalid: wrong_audience"),
        (
            signer().sign(&prod),
            "invalid: wrong_issuer: iss \"https://online.superoffice.com\"",
        ),
        (
            unknown,
            "invalid: unknown_kid: no trusted key has kid \"rotated-away\"",
        ),
        ("not.a.jwt!".to_owned(), "invalid: malformed"),
    ];
    for (token, expected) in cases {
        let out = verify(&token, &[]);
        assert_eq!(out.status.code(), Some(1), "{expected}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(expected),
            "{err} should start with {expected}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = verify(&signer().sign(&claims()), &["--nonce", "other"]);
    assert!(stderr(&out).starts_with("invalid: nonce_mismatch"));
}

#[test]
fn the_sod_certificate_is_a_key_source() {
    // The same certificate the platform crate compiles in, written out as an operator would pass it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sod-federated-login.crt");
    std::fs::write(
        &path,
        superoffice::Environment::Sod
            .federated_login_certificate()
            .expect("SOD has a compiled-in certificate"),
    )
    .unwrap();
    let cert = path.to_str().unwrap();
    let out = soapp(
        &[
            "token",
            "verify",
            "--client-id",
            CLIENT,
            "--env",
            "sod",
            "--cert",
            cert,
            "--now",
            NOW_RFC3339,
            &signer().sign(&claims()),
        ],
        None,
    );
    // The kid matches the certificate's thumbprint but our test key is not SuperOffice's.
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("invalid: bad_signature"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let token = signer().sign(&claims());
    let jwks = keys().jwks.to_str().unwrap();
    for args in [
        vec!["token", "verify", "--client-id", CLIENT, &token],
        vec![
            "token",
            "verify",
            "--client-id",
            CLIENT,
            "--env",
            "qastage",
            "--jwks",
            jwks,
            &token,
        ],
        vec![
            "token",
            "verify",
            "--client-id",
            CLIENT,
            "--env",
            "sod",
            "--jwks",
            "/nonexistent/jwks.json",
            &token,
        ],
        vec![
            "token",
            "verify",
            "--client-id",
            CLIENT,
            "--env",
            "sod",
            "--jwks",
            jwks,
            "--now",
            "yesterday",
            &token,
        ],
        vec![
            "token",
            "verify",
            "--client-id",
            CLIENT,
            "--env",
            "sod",
            "--jwks",
            jwks,
            "--cert",
            jwks,
            &token,
        ],
        vec![
            "token",
            "verify",
            "--client-id",
            CLIENT,
            "--issuer",
            "http://idp.example.com",
            &token,
        ],
    ] {
        let out = soapp(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

/// With `--issuer` and no key file, keys come from the issuer's discovery document and JWKS, as in a
/// deployed stack: here the simulator over HTTP.
#[tokio::test]
async fn keys_are_fetched_through_discovery_when_no_key_file_is_given() {
    use superoffice_simulator::{AppRegistration, Route, Simulator, SimulatorConfig};
    let app = AppRegistration {
        name: "Acme Sync".into(),
        client_id: CLIENT.into(),
        client_secret: "s3cret".into(),
        redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
        system_user_public_key_der: None,
    };
    let sim = Simulator::start(SimulatorConfig::demo(app), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = sim.sign_jwt(
        &json!({"alg": "RS256", "kid": sim.signing_kid(), "typ": "JWT"}),
        &json!({"sub": "ada@demo.example", "iss": sim.issuer(), "aud": CLIENT, "iat": now, "exp": now + 300}),
    );
    let issuer = sim.issuer();
    let out = tokio::task::spawn_blocking(move || {
        soapp(
            &[
                "token",
                "verify",
                "--client-id",
                CLIENT,
                "--issuer",
                &issuer,
                &token,
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sim.count(Route::Discovery), 1);
    assert_eq!(sim.count(Route::Jwks), 1);

    // The same token presented to a stack that pins another client id.
    let issuer = sim.issuer();
    let token = sim.sign_jwt(
        &json!({"alg": "RS256", "kid": sim.signing_kid()}),
        &json!({"sub": "x", "iss": sim.issuer(), "aud": "someone-else", "iat": now, "exp": now + 300}),
    );
    let out = tokio::task::spawn_blocking(move || {
        soapp(
            &[
                "token",
                "verify",
                "--client-id",
                CLIENT,
                "--issuer",
                &issuer,
                &token,
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("invalid: wrong_audience"));
    sim.shutdown().await;
}
