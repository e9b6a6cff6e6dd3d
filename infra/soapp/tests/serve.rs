//! `soapp serve` as a person runs it: it prints where to open the app, a whole sign-in works against
//! the built-in simulator, and nothing it logs (at debug level) contains a token, a code, a cookie value,
//! an anti-forgery token or a secret, through a sign-in, a sign-out, and an administrator's install
//! (the system token's path).

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
    let (mut url, mut sim_url) = (None, None);
    for _ in 0..20 {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        log.lock().unwrap().push_str(&line);
        if let Some(rest) = line.strip_prefix("The app is running. Open ") {
            url = Some(rest.trim().trim_end_matches('/').to_owned());
        }
        if let Some(rest) = line.strip_prefix("SuperOffice is the built-in simulator at ") {
            sim_url = Some(rest.trim().trim_end_matches('/').to_owned());
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    let url = url.expect("soapp serve prints the URL to open");
    let sim_url = sim_url.expect("soapp serve prints where the simulator is");
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
    let mut secrets: Vec<(&str, String)> = Vec::new();

    // A sign-in, then the home page (with its anti-forgery token) and a sign-out.
    let signed_in = sign_in(&http, &url, "/login").await;
    assert_eq!(signed_in.response.status(), 303);
    let session = cookie(&signed_in.response, "__Host-session").expect("a session cookie");
    let home = http
        .get(format!("{url}/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let csrf = user_agent::input_value(&home.text().await.unwrap(), "csrf")
        .expect("the sign-out form's csrf field");
    let logout = http
        .post(format!("{url}/logout"))
        .header("cookie", &session)
        .header("origin", &url)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    // And a refused replay, so failure paths are logged too.
    let replay = http
        .post(format!("{url}/callback"))
        .header("cookie", &signed_in.binding)
        .form(&signed_in.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    secrets.extend([
        ("the authorization code", signed_in.code.clone()),
        ("the sign-in binding cookie", value(&signed_in.binding)),
        ("the session cookie", value(&session)),
        ("the CSRF token", csrf),
    ]);

    // An administrator's install sign-in: the id_token carries the tenant's system token, which the
    // callback seals and the worker then uses for a whole install.
    let install = sign_in(&http, &url, "/login?intent=install&return=/install").await;
    assert_eq!(install.response.status(), 303);
    assert_eq!(install.response.headers()["location"], "/install");
    let install_session = cookie(&install.response, "__Host-session").expect("a session cookie");
    let page = http
        .get(format!("{url}/install"))
        .header("cookie", &install_session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let install_csrf = user_agent::input_value(&page.text().await.unwrap(), "csrf")
        .expect("the install confirmation form");
    let pressed = http
        .post(format!("{url}/install"))
        .header("cookie", &install_session)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", install_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        pressed.status().is_success() || pressed.status().is_redirection(),
        "{}",
        pressed.status()
    );
    let mut status = String::new();
    for _ in 0..300 {
        status = http
            .get(format!("{url}/install/status"))
            .header("cookie", &install_session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if status.contains("data-status=\"installed\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        status.contains("data-status=\"installed\""),
        "the install never finished: {status}"
    );
    let system_token: serde_json::Value = http
        .get(format!(
            "{sim_url}/__sim/tenants/Cust12345/system-tokens/{}",
            soapp::local::DEMO_CLIENT_ID
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let system_token = system_token["SystemToken"]
        .as_str()
        .expect("the simulator issued a system token")
        .to_owned();
    // "{App name}-{10 random characters}": the random part alone is secret too.
    let (_, random_part) = system_token.rsplit_once('-').unwrap();
    assert!(random_part.len() >= 10, "{system_token}");
    secrets.extend([
        ("the install authorization code", install.code.clone()),
        (
            "the install sign-in binding cookie",
            value(&install.binding),
        ),
        ("the install session cookie", value(&install_session)),
        ("the install CSRF token", install_csrf),
        ("the system token's random part", random_part.to_owned()),
        ("the system token", system_token.clone()),
    ]);

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
    // The replay carries the browser's own cookie, so it reaches the token endpoint, which
    // refuses the spent code.
    assert!(
        text.contains("code_rejected"),
        "the refusal is logged with its reason code"
    );
    assert!(
        text.contains("signed_out"),
        "the sign-out is logged: {text}"
    );
    assert!(
        text.contains("install_consent_recorded"),
        "the install sign-in recorded the system token: {text}"
    );
    let secret = std::fs::read_to_string(data.path().join("simulator/client-secret")).unwrap();
    secrets.extend([
        ("a JWT", "eyJ".to_owned()),
        ("the client secret", secret.trim().to_owned()),
        ("the PKCE verifier parameter", "code_verifier=".to_owned()),
    ]);
    for (what, needle) in &secrets {
        assert!(needle.len() >= 3, "{what} is too short to search for");
        assert!(!text.contains(needle.as_str()), "the log contains {what}");
    }
}

/// A sign-in as Ada through `login_path`, up to the app's answer at `/callback`.
struct SignedIn {
    /// `__Host-signin-{state id}=…` as the browser sends it back.
    binding: String,
    fields: Vec<(String, String)>,
    code: String,
    response: reqwest::Response,
}

async fn sign_in(http: &reqwest::Client, url: &str, login_path: &str) -> SignedIn {
    let login = http.get(format!("{url}{login_path}")).send().await.unwrap();
    assert_eq!(login.status(), 303, "{login_path}");
    let authorize = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let binding = cookie(&login, "__Host-signin-").expect("a sign-in binding cookie");
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
    let response = http
        .post(format!("{url}/callback"))
        .header("cookie", &binding)
        .form(&fields)
        .send()
        .await
        .unwrap();
    SignedIn {
        binding,
        fields,
        code,
        response,
    }
}

/// `name=value` of the response's Set-Cookie for `name`.
fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        // A name ending in `-` is a prefix (`__Host-signin-`: one sign-in cookie per state).
        .find(|c| {
            c.starts_with(&format!("{name}=")) || (name.ends_with('-') && c.starts_with(name))
        })
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
}

/// The value of a `name=value` pair.
fn value(pair: &str) -> String {
    let (_, v) = pair.split_once('=').unwrap();
    assert!(!v.is_empty(), "{pair}");
    v.to_owned()
}
