//! `soapp doctor` against the simulator: every check passes for a good configuration, and each
//! broken piece is named with a fix.

use std::process::Command;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use superoffice_simulator::{
    AppRegistration, FaultAction, FaultRule, Route, Simulator, SimulatorConfig,
};

const CLIENT: &str = "6cf25376616343b38d14ddcd804f2891";
const SECRET: &str = "83d0f3bcb9afbc7eb9d0682e9b86db52";

fn doctor(env_file: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_soapp"))
        .args(["doctor", "--env-file"])
        .arg(env_file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_configuration_and_names_each_broken_piece() {
    let dir = tempfile::tempdir().unwrap();
    let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            key.as_der().unwrap().as_ref()
        )
    );
    std::fs::write(dir.path().join("key.pem"), pem).unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    std::fs::write(dir.path().join("wrong-secret"), "not-the-secret").unwrap();
    std::fs::write(dir.path().join("bad-key.pem"), "not a key").unwrap();

    let sim = Simulator::start(
        SimulatorConfig::demo(AppRegistration {
            name: "Acme".into(),
            client_id: CLIENT.into(),
            client_secret: SECRET.into(),
            redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
            system_user_public_key_der: Some(key.public_key().as_der().unwrap().as_ref().to_vec()),
        }),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let env = |secret: &str, key: &str| {
        format!(
            "SO_ENVIRONMENT={}\nSO_CLIENT_ID={CLIENT}\nSO_CLIENT_SECRET_FILE={}\nSO_SYSTEM_USER_KEY_FILE={}\n\
             APP_BASE_URL=http://127.0.0.1:9\nAPP_DATA_DIR={}\n",
            sim.issuer(),
            dir.path().join(secret).display(),
            dir.path().join(key).display(),
            dir.path().join("store").display()
        )
    };
    let file = dir.path().join("env");

    std::fs::write(&file, env("secret", "key.pem")).unwrap();
    let (code, out) = tokio::task::spawn_blocking({
        let file = file.clone();
        move || doctor(&file)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    for name in [
        "configuration",
        "discovery",
        "signing keys",
        "client secret",
        "client credentials",
        "system-user key",
        "store",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with("ok") && l.contains(name)),
            "{name}: {out}"
        );
    }
    assert!(out.contains("register http://127.0.0.1:9/callback"));

    std::fs::write(&file, env("wrong-secret", "bad-key.pem")).unwrap();
    sim.faults().push(FaultRule::new(
        Route::Jwks,
        FaultAction::Status {
            status: 503,
            retry_after: None,
        },
    ));
    let (code, out) = tokio::task::spawn_blocking({
        let file = file.clone();
        move || doctor(&file)
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    let failed: Vec<_> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(failed.len(), 3, "{out}");
    assert!(failed[0].contains("signing keys") && failed[0].contains("fix:"));
    assert!(failed[1].contains("client credentials") && failed[1].contains("Developer Portal"));
    assert!(failed[2].contains("system-user key"));

    std::fs::write(&file, "SO_ENVIRONMENT=qastage\n").unwrap();
    let (code, out) = tokio::task::spawn_blocking(move || doctor(&file))
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        out.lines()
            .filter(|l| l.starts_with("FAIL configuration"))
            .count()
            >= 4,
        "{out}"
    );
    sim.shutdown().await;
}
