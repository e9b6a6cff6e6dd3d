//! Shared helpers: a demo simulator, an HTTP client, the code flow (page by page and through the
//! library's scripted user), token endpoint calls, system-user tickets and the `/__sim` API.

use std::sync::OnceLock;
use std::time::Duration;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use superoffice_simulator::user_agent::{self, Choice};
use superoffice_simulator::{
    AppRegistration, CLAIM_PREFIX, Simulator, SimulatorConfig, SimulatorHandle,
};

// The library's page scraping and delivery type, for the tests (`use crate::common::*`).
pub use superoffice_simulator::user_agent::{Delivery, form_action, input_value};

pub const CLIENT_ID: &str = "6cf25376616343b38d14ddcd804f2891";
pub const SECRET: &str = "83d0f3bcb9afbc7eb9d0682e9b86db52";
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const APP_NAME: &str = "Acme Sync";

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

/// Opens the sign-in page of `authorize_url` and chooses `user` (`"{ctx}/{email}"`) with
/// "Continue". Returns the pending sign-in's id and the answer: the consent page, the form_post page,
/// a redirect or an error page.
pub async fn choose_user(
    sim: &SimulatorHandle,
    http: &reqwest::Client,
    authorize_url: &str,
    user: &str,
) -> (String, reqwest::Response) {
    let page = http.get(authorize_url).send().await.expect("authorize");
    assert_eq!(page.status(), 200, "{authorize_url}");
    let html = page.text().await.expect("html");
    let pending = input_value(&html, "pending").expect("pending id");
    let resp = post_authorize(
        sim,
        http,
        &[
            ("pending", &pending),
            ("user", user),
            ("action", "continue"),
        ],
    )
    .await;
    (pending, resp)
}

/// Signs in as `f.user` of `f.ctx` with the library's scripted user ([`user_agent::sign_in`]),
/// approving consent when asked, and checks that the delivery goes to `f.redirect_uri`.
pub async fn sign_in(sim: &SimulatorHandle, f: &Flow<'_>) -> Delivery {
    let authorize = url::Url::parse(&authorize_url(sim, f)).expect("authorize URL");
    let choice = Choice {
        context_id: f.ctx,
        email: f.user,
        approve: true,
    };
    let delivery = user_agent::sign_in(&authorize, &choice)
        .await
        .unwrap_or_else(|e| panic!("sign-in: {e}"));
    match &delivery {
        Delivery::FormPost { action, .. } => assert_eq!(action, f.redirect_uri),
        Delivery::Redirect(to) => assert!(
            to.as_str().starts_with(&format!("{}?", f.redirect_uri)),
            "{to}"
        ),
    }
    delivery
}

pub fn token_url(sim: &SimulatorHandle) -> String {
    url(sim, "/login/common/oauth/tokens")
}

/// Posts a form to the token endpoint.
pub async fn post_token(
    sim: &SimulatorHandle,
    http: &reqwest::Client,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http.post(token_url(sim))
        .form(form)
        .send()
        .await
        .expect("token request")
}

/// A refresh_token grant with client_secret_post.
pub async fn refresh(
    sim: &SimulatorHandle,
    http: &reqwest::Client,
    refresh_token: &str,
    secret: &str,
) -> reqwest::Response {
    post_token(
        sim,
        http,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", secret),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// The status, `error` and `error_description` of an OAuth error answer.
pub async fn oauth_error(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("OAuth error JSON");
    let field = |k: &str| {
        body[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in {body}"))
            .to_owned()
    };
    (status, field("error"), field("error_description"))
}

/// Asserts an OAuth error answer: status, `error`, and a part of `error_description` that tells
/// this reason from the others.
pub async fn assert_oauth_error(
    resp: reqwest::Response,
    status: u16,
    error: &str,
    description: &str,
) {
    let (got_status, got_error, got_description) = oauth_error(resp).await;
    assert_eq!(
        (got_status, got_error.as_str()),
        (status, error),
        "{got_description}"
    );
    assert!(
        got_description.contains(description),
        "{got_description:?} does not contain {description:?}"
    );
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
    post_token(sim, http, &form).await
}

/// Signs in as `f.user` and exchanges the code; returns the token response JSON.
pub async fn tokens(sim: &SimulatorHandle, http: &reqwest::Client, f: &Flow<'_>) -> Value {
    let code = sign_in(sim, f).await.param("code").expect("code");
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

/// The claims of a JWT, decoded without verifying it.
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// A system-user ticket for (ctx, app); grants the app consent in the tenant first.
pub async fn ticket_for(
    sim: &SimulatorHandle,
    http: &reqwest::Client,
    ctx: &str,
    client_id: &str,
    secret: &str,
) -> String {
    assert!(sim.grant_consent(ctx, client_id));
    let st = sim.system_token(ctx, client_id).expect("system token");
    let signed = signed_system_token(&st, partner_key(), 0);
    let resp = system_user(sim, http, &signed, secret, ctx).await;
    assert_eq!(resp["IsSuccessful"], true, "{resp}");
    jwt_claims(resp["Token"].as_str().expect("token"))[format!("{CLAIM_PREFIX}ticket")]
        .as_str()
        .expect("ticket")
        .to_owned()
}

/// [`ticket_for`] the demo app.
pub async fn ticket(sim: &SimulatorHandle, http: &reqwest::Client, ctx: &str) -> String {
    ticket_for(sim, http, ctx, CLIENT_ID, SECRET).await
}

async fn status_and_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON answer"))
}

/// `GET /__sim/{path}` (the scripting API): status and JSON answer.
pub async fn admin_get(sim: &SimulatorHandle, path: &str) -> (u16, Value) {
    let resp = client()
        .get(url(sim, &format!("/__sim/{path}")))
        .send()
        .await
        .expect("GET /__sim");
    status_and_json(resp).await
}

/// `POST /__sim/{path}` with a JSON body: status and JSON answer.
pub async fn admin_post(sim: &SimulatorHandle, path: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(url(sim, &format!("/__sim/{path}")))
        .json(body)
        .send()
        .await
        .expect("POST /__sim");
    status_and_json(resp).await
}
