//! `soapp serve` as a person runs it: it prints where to open the app, a whole sign-in works against
//! the built-in simulator, and nothing it logs (at debug level) contains a token, a code or a secret.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use superoffice_simulator::user_agent::{self, Choice, Delivery};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_its_url_signs_a_person_in_and_logs_no_secrets() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_soapp"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("RUST_LOG", "debug")
        .env_remove("SO_ENVIRONMENT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let err_log = log.clone();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        err_log.lock().unwrap().push_str(&s);
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = None;
    for _ in 0..20 {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        log.lock().unwrap().push_str(&line);
        if let Some(rest) = line.strip_prefix("The app is running. Open ") {
            url = Some(rest.trim().trim_end_matches('/').to_owned());
            break;
        }
    }
    let url = url.expect("soapp serve prints the URL to open");
    let out_log = log.clone();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        out_log.lock().unwrap().push_str(&s);
    });

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let login = http.get(format!("{url}/login")).send().await.unwrap();
    let authorize = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let binding = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let Delivery::FormPost { fields, .. } = user_agent::sign_in(
        &authorize,
        &Choice {
            context_id: "Cust12345",
            email: "ada@demo.example",
            approve: true,
        },
    )
    .await
    .unwrap() else {
        panic!("form_post expected")
    };
    let code = fields.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let done = http
        .post(format!("{url}/callback"))
        .header("cookie", &binding)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    // And a refused replay, so failure paths are logged too.
    let replay = http
        .post(format!("{url}/callback"))
        .header("cookie", &binding)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = out_thread.join();
    let _ = err_thread.join();
    let text = log.lock().unwrap().clone();
    assert!(
        text.contains("session started"),
        "the sign-in is logged: {text}"
    );
    assert!(
        text.contains("state_unknown"),
        "the refusal is logged with its reason code"
    );
    let secret = std::fs::read_to_string(data.path().join("simulator/client-secret")).unwrap();
    for (what, needle) in [
        ("a JWT", "eyJ"),
        ("the authorization code", code.as_str()),
        ("the client secret", secret.trim()),
        ("the PKCE verifier parameter", "code_verifier="),
    ] {
        assert!(!text.contains(needle), "the log contains {what}");
    }
}
