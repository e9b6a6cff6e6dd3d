//! Shared helpers: a demo simulator, an HTTP client, a scripted code flow and small HTML scraping.

use std::sync::OnceLock;
use std::time::Duration;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use superoffice_simulator::{AppRegistration, Simulator, SimulatorConfig, SimulatorHandle};

pub const CLIENT_ID: &str = "6cf25376616343b38d14ddcd804f2891";
pub const SECRET: &str = "83d0f3bcb9afbc7eb9d0682e9b86db52";
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const APP_NAME: &str = "Acme Sync";
pub const PREFIX: &str = "http://schemes.superoffice.net/identity/";

/// One simulator signing key per test binary (RSA key generation is slow in debug builds).
pub fn sim_key() -> Vec<u8> {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(generate_pkcs8).clone()
}

/// The partner's system-user key pair (PKCS#8), generated once per test binary.
pub fn partner_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).expect("keygen"))
}

pub fn generate_pkcs8() -> Vec<u8> {
    let kp = RsaKeyPair::generate(KeySize::Rsa2048).expect("keygen");
    kp.as_der().expect("pkcs8").as_ref().to_vec()
}

/// SubjectPublicKeyInfo DER of a key pair.
pub fn spki(kp: &RsaKeyPair) -> Vec<u8> {
    kp.public_key().as_der().expect("spki").as_ref().to_vec()
}

pub fn app() -> AppRegistration {
    AppRegistration {
        name: APP_NAME.into(),
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![REDIRECT.into(), "http://127.0.0.1:9/other".into()],
        system_user_public_key_der: Some(spki(partner_key())),
    }
}

pub fn config() -> SimulatorConfig {
    let mut c = SimulatorConfig::demo(app());
    c.signing_key_pkcs8_der = Some(sim_key());
    c
}

pub async fn start(config: SimulatorConfig) -> SimulatorHandle {
    Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts")
}

pub async fn demo() -> SimulatorHandle {
    start(config()).await
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub fn url(sim: &SimulatorHandle, path: &str) -> String {
    format!("{}{}", sim.issuer(), path)
}

pub fn vendor(name: &str) -> String {
    let path = format!("{}/vendor/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

pub fn vendor_json(name: &str) -> Value {
    serde_json::from_str(&vendor(name)).unwrap_or_else(|e| panic!("parse {name}: {e}"))
}

pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub fn unescape_html(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `<input ... name="{name}" value="...">`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(unescape_html(&html[start..end]))
}

/// The `action` of the first form.
pub fn form_action(html: &str) -> Option<String> {
    let needle = "<form method=\"post\" action=\"";
    let start = html.find(needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(unescape_html(&html[start..end]))
}

pub fn query_param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789".to_owned();
    let challenge =
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
    Pkce {
        verifier,
        challenge,
    }
}

/// Options for [`sign_in`].
pub struct Flow<'a> {
    pub user: &'a str,
    pub ctx: &'a str,
    pub form_post: bool,
    pub pkce: Option<&'a Pkce>,
    pub state: &'a str,
    pub nonce: Option<&'a str>,
    pub redirect_uri: &'a str,
}

impl Default for Flow<'_> {
    fn default() -> Self {
        Self {
            user: "ada@demo.example",
            ctx: "Cust12345",
            form_post: true,
            pkce: None,
            state: "st-123",
            nonce: Some("n-0S6_WzA2Mj"),
            redirect_uri: REDIRECT,
        }
    }
}

/// The final answer of the sign-in: either a form_post page or a redirect.
pub enum Outcome {
    FormPost { action: String, html: String },
    Redirect(String),
}

impl Outcome {
    pub fn param(&self, name: &str) -> Option<String> {
        match self {
            Outcome::FormPost { action, html } => {
                assert_eq!(action, REDIRECT);
                input_value(html, name)
            }
            Outcome::Redirect(loc) => query_param(loc, name),
        }
    }
}

pub fn authorize_url(sim: &SimulatorHandle, f: &Flow<'_>) -> String {
    let mut u = url::Url::parse(&url(sim, "/login/common/oauth/authorize")).expect("url");
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("client_id", CLIENT_ID)
            .append_pair("scope", "openid")
            .append_pair("redirect_uri", f.redirect_uri)
            .append_pair("state", f.state)
            .append_pair("response_type", "code")
            .append_pair("login_hint", f.user);
        if f.form_post {
            q.append_pair("response_mode", "form_post");
        }
        if let Some(n) = f.nonce {
            q.append_pair("nonce", n);
        }
        if let Some(p) = f.pkce {
            q.append_pair("code_challenge", &p.challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    u.to_string()
}

/// Posts a form to the authorize endpoint.
pub async fn post_authorize(
    sim: &SimulatorHandle,
    http: &reqwest::Client,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http.post(url(sim, "/login/common/oauth/authorize"))
        .form(form)
        .send()
        .await
        .expect("post authorize")
}

async fn outcome(resp: reqwest::Response) -> Outcome {
    if resp.status() == reqwest::StatusCode::SEE_OTHER {
        let loc = resp
            .headers()
            .get("location")
            .expect("location")
            .to_str()
            .expect("ascii")
            .to_owned();
        return Outcome::Redirect(loc);
    }
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("body");
    let action = form_action(&html).expect("form");
    Outcome::FormPost { action, html }
}

/// Runs the browser part of the code flow with plain HTTP: authorize page → user → (consent → approve).
pub async fn sign_in(sim: &SimulatorHandle, http: &reqwest::Client, f: &Flow<'_>) -> Outcome {
    let page = http
        .get(authorize_url(sim, f))
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let pending = input_value(&html, "pending").expect("pending id");
    let choice = format!("{}/{}", f.ctx, f.user);
    let resp = post_authorize(
        sim,
        http,
        &[
            ("pending", &pending),
            ("user", &choice),
            ("action", "continue"),
        ],
    )
    .await;
    if resp.status() == 200 {
        let html = resp.text().await.expect("html");
        if html.contains("id=\"approve\"") {
            let pending = input_value(&html, "pending").expect("pending id");
            let resp =
                post_authorize(sim, http, &[("pending", &pending), ("action", "approve")]).await;
            return outcome(resp).await;
        }
        let action = form_action(&html).expect("form");
        return Outcome::FormPost { action, html };
    }
    outcome(resp).await
}

/// Exchanges a code at the token endpoint with client_secret_post.
pub async fn exchange(
    sim: &SimulatorHandle,
    http: &reqwest::Client,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    http.post(url(sim, "/login/common/oauth/tokens"))
        .form(&form)
        .send()
        .await
        .expect("token request")
}

/// Signs in as `f.user` and exchanges the code; returns the token response JSON.
pub async fn tokens(sim: &SimulatorHandle, http: &reqwest::Client, f: &Flow<'_>) -> Value {
    let out = sign_in(sim, http, f).await;
    let code = out.param("code").expect("code");
    let resp = exchange(
        sim,
        http,
        &code,
        f.redirect_uri,
        f.pkce.map(|p| p.verifier.as_str()),
    )
    .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

/// Verifies an RS256 JWT against the simulator's JWKS (fetched over HTTP) with jsonwebtoken.
pub async fn verify_with_jwks(
    sim: &SimulatorHandle,
    http: &reqwest::Client,
    token: &str,
    iss: &str,
    aud: &str,
) -> jsonwebtoken::TokenData<Value> {
    let jwks: Value = http
        .get(url(sim, "/login/.well-known/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.expect("kid");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in jwks");
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("decoding key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[iss]);
    v.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    jsonwebtoken::decode::<Value>(token, &dk, &v).expect("token verifies")
}

/// `{system_token}.{yyyyMMddHHmm}.{base64 signature}` signed with `key`, at `offset_secs` from now.
pub fn signed_system_token(system_token: &str, key: &RsaKeyPair, offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    let stamp = format!(
        "{:04}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    );
    let data = format!("{system_token}.{stamp}");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &rng,
        data.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    format!("{data}.{}", STANDARD.encode(sig))
}

/// Calls PartnerSystemUser/Authenticate.
pub async fn system_user(
    sim: &SimulatorHandle,
    http: &reqwest::Client,
    signed: &str,
    app_token: &str,
    ctx: &str,
) -> Value {
    let resp = http
        .post(url(sim, "/Login/api/PartnerSystemUser/Authenticate"))
        .json(&serde_json::json!({
            "SignedSystemToken": signed,
            "ApplicationToken": app_token,
            "ContextIdentifier": ctx,
            "ReturnTokenType": "JWT",
        }))
        .send()
        .await
        .expect("system user");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

/// Gets a system-user ticket for (ctx, demo app); consent must exist.
pub async fn ticket(sim: &SimulatorHandle, http: &reqwest::Client, ctx: &str) -> String {
    let st = sim.system_token(ctx, CLIENT_ID).expect("system token");
    let signed = signed_system_token(&st, partner_key(), 0);
    let resp = system_user(sim, http, &signed, SECRET, ctx).await;
    assert_eq!(resp["IsSuccessful"], true, "{resp}");
    let jwt = resp["Token"].as_str().expect("token");
    let payload = jwt.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    claims[format!("{PREFIX}ticket")]
        .as_str()
        .expect("ticket")
        .to_owned()
}
