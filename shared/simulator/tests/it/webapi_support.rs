//! Helpers for the WebAPI provisioning tests: an authenticated WebAPI client, Swagger shape checks
//! and a tiny webhook receiver.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::Value;
use superoffice_simulator::{AppRegistration, SimulatorHandle};

use crate::common::*;

/// A second registered app (same system-user key, its own id and secret).
pub const OTHER_CLIENT_ID: &str = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";
pub const OTHER_SECRET: &str = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";

pub fn other_app() -> AppRegistration {
    AppRegistration {
        name: "Other App".into(),
        client_id: OTHER_CLIENT_ID.into(),
        client_secret: OTHER_SECRET.into(),
        redirect_uris: vec!["http://127.0.0.1:9/other-callback".into()],
        system_user_public_key_der: Some(spki(partner_key())),
    }
}

/// A WebAPI client for one tenant with fixed credentials.
pub struct Api {
    pub http: reqwest::Client,
    /// `{base}/{shard}/{ctx}/api/v1/`
    pub root: String,
    pub authorization: String,
    pub app_token: Option<String>,
}

impl Api {
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.root))
            .header("Authorization", &self.authorization)
            .header("Accept", "application/json");
        if let Some(t) = &self.app_token {
            req = req.header("SO-AppToken", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("WebAPI request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> (u16, Value) {
        self.call(Method::POST, path, None).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }
}

/// The demo app's system user in `ctx`.
pub async fn system_api(sim: &SimulatorHandle, ctx: &str) -> Api {
    app_api(sim, ctx, CLIENT_ID, SECRET).await
}

/// Another app's system user in `ctx`.
pub async fn app_api(sim: &SimulatorHandle, ctx: &str, client_id: &str, secret: &str) -> Api {
    let http = client();
    let ticket = ticket_for(sim, &http, ctx, client_id, secret).await;
    Api {
        root: format!("{}v1/", sim.webapi_url(ctx).expect("tenant")),
        authorization: format!("SOTicket {ticket}"),
        app_token: Some(secret.to_owned()),
        http,
    }
}

/// Asserts the documented error JSON.
pub fn assert_error(status: u16, body: &Value, want_status: u16) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["Error"], true, "{body}");
    assert!(body["ErrorType"].is_string(), "{body}");
    assert!(
        body["ErrorMessage"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["ErrorSource"].is_string(), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Swagger shapes

fn swagger_definitions() -> &'static serde_json::Map<String, Value> {
    static DEFS: OnceLock<serde_json::Map<String, Value>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let mut all = serde_json::Map::new();
        for f in [
            "swagger-rest-provisioning.json",
            "swagger-agents-provisioning.json",
        ] {
            let doc = vendor_json(f);
            for (k, v) in doc["definitions"].as_object().expect("definitions") {
                all.insert(k.clone(), v.clone());
            }
        }
        all
    })
}

/// The vendored Swagger path entry (`/api/v1/...`, method lowercase).
pub fn swagger_operation(file: &str, path: &str, method: &str) -> Value {
    vendor_json(file)["paths"][path][method].clone()
}

fn definition(name: &str) -> &'static Value {
    let defs = swagger_definitions();
    defs.get(name)
        .or_else(|| {
            defs.iter()
                .find(|(k, _)| k.ends_with(&format!(".{name}")))
                .map(|(_, v)| v)
        })
        .unwrap_or_else(|| panic!("no Swagger definition {name}"))
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema["$ref"]
        .as_str()
        .map(|r| r.rsplit('/').next().unwrap_or(r))
}

/// `value` has exactly the definition's properties, each with the declared JSON type (`null`
/// allowed for strings, objects and references) and enum values from the declared list.
pub fn assert_shape(value: &Value, def_name: &str) {
    check_shape(value, def_name, def_name);
}

fn check_shape(value: &Value, def_name: &str, at: &str) {
    let def = definition(def_name);
    let props = def["properties"].as_object().expect("properties");
    let obj = value
        .as_object()
        .unwrap_or_else(|| panic!("{at}: expected an object, got {value}"));
    for k in obj.keys() {
        assert!(
            props.contains_key(k),
            "{at}: property {k:?} is not in {def_name}"
        );
    }
    for (k, schema) in props {
        let v = obj
            .get(k)
            .unwrap_or_else(|| panic!("{at}: missing {k:?} of {def_name} in {value}"));
        check_value(v, schema, &format!("{at}.{k}"));
    }
}

fn check_value(v: &Value, schema: &Value, at: &str) {
    if let Some(r) = ref_name(schema) {
        if !v.is_null() {
            check_shape(v, r, at);
        }
        return;
    }
    match schema["type"].as_str() {
        Some("integer") => assert!(v.is_i64(), "{at}: expected an integer, got {v}"),
        Some("number") => assert!(v.is_number(), "{at}: expected a number, got {v}"),
        Some("boolean") => assert!(v.is_boolean(), "{at}: expected a boolean, got {v}"),
        Some("string") => {
            assert!(
                v.is_string() || v.is_null(),
                "{at}: expected a string, got {v}"
            );
            if let (Some(allowed), Some(s)) = (schema["enum"].as_array(), v.as_str()) {
                assert!(
                    allowed.iter().any(|a| a == s),
                    "{at}: {s:?} is not one of {allowed:?}"
                );
            }
        }
        Some("array") => {
            let items = v
                .as_array()
                .unwrap_or_else(|| panic!("{at}: expected an array, got {v}"));
            for (i, item) in items.iter().enumerate() {
                check_value(item, &schema["items"], &format!("{at}[{i}]"));
            }
        }
        Some("object") => assert!(
            v.is_object() || v.is_null(),
            "{at}: expected an object, got {v}"
        ),
        other => panic!("{at}: unsupported schema type {other:?}"),
    }
}

/// The 200 response schema of a vendored operation, checked against `value`.
pub fn assert_response_shape(file: &str, path: &str, method: &str, value: &Value) {
    let op = swagger_operation(file, path, method);
    let schema = &op["responses"]["200"]["schema"];
    assert!(!schema.is_null(), "{method} {path} has no 200 schema");
    check_value(value, schema, &format!("{method} {path}"));
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A tiny HTTP server on 127.0.0.1 that records every request and answers a settable status (and
/// body, empty by default). Bodies over axum's default limit (2 MiB) get 413 and are not recorded.
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<AtomicU16>,
    answer: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(status: u16) -> Self {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(status));
        let answer: Arc<Mutex<String>> = Arc::default();
        let (h, s, a) = (Arc::clone(&hits), Arc::clone(&status), Arc::clone(&answer));
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method, headers: HeaderMap, body: Bytes| {
                let (h, s, a) = (Arc::clone(&h), Arc::clone(&s), Arc::clone(&a));
                async move {
                    h.lock().expect("hits").push(Hit {
                        method: method.to_string(),
                        headers,
                        body,
                    });
                    let status = StatusCode::from_u16(s.load(Ordering::SeqCst))
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    (status, a.lock().expect("answer").clone())
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/superoffice/webhook"),
            hits,
            status,
            answer,
            task,
        }
    }

    /// The body of every answer from now on.
    pub fn set_answer(&self, body: &str) {
        *self.answer.lock().expect("answer") = body.to_owned();
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// base64(HMAC-SHA256(secret, body)) verified with aws-lc-rs.
pub fn verify_signature(secret: &str, body: &[u8], signature_b64: &str) -> bool {
    use aws_lc_rs::hmac;
    let Ok(sig) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signature_b64)
    else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, body, &sig).is_ok()
}

/// Every JSON object or array embedded in a vendored `.http` / `.txt` example, in order (text
/// that does not parse, such as `{{env}}` or a `...` placeholder, is skipped).
pub fn example_json_blocks(name: &str) -> Vec<Value> {
    let text = vendor(name);
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(rel) = text[pos..].find(['{', '[']) {
        let start = pos + rel;
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) if v.is_object() || v.is_array() => {
                pos = start + stream.byte_offset();
                out.push(v);
            }
            _ => pos = start + 1,
        }
    }
    out
}
