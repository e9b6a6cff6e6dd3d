//! A timing reverse proxy: the function's outbound calls go through it, and it records when each
//! request arrived and when its answer was ready. That is the time the function waited on the
//! other side of the network, as observed from that side.
//!
//! One proxy stands in front of the AWS API emulator (the function's `AWS_ENDPOINT_URL` points at
//! it) and one in front of the SuperOffice simulator (its `SO_ENVIRONMENT`). The simulator needs one
//! more step. A deployment pins its environment's issuer, and a custom environment's issuer is its
//! base URL; discovery endpoints and the `so:webapi_url`/`so:netserver_url` claims must lie on that
//! same host and port. So the proxy presents the simulator under the proxy's own address, as a
//! reverse proxy with its own public name would: it replaces the simulator's address by its own in
//! the discovery document, and in the id_token of a token response, which it signs again with the
//! simulator's key ([`SimulatorHandle::sign_jwt`], same header and `kid`). Nothing else changes. That
//! work happens inside the recorded span, so it counts as waiting time, never as the function's.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{self, HeaderName};
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use superoffice_simulator::SimulatorHandle;

/// Request and response bodies are small (JSON, forms); anything larger is refused.
const BODY_LIMIT: usize = 16 * 1024 * 1024;
const DISCOVERY_PATH: &str = "/login/.well-known/openid-configuration";
const TOKEN_PATH: &str = "/login/common/oauth/tokens";

/// Which service is behind a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Upstream {
    /// The SuperOffice simulator.
    SuperOffice,
    /// The AWS API emulator (DynamoDB, Secrets Manager).
    Aws,
}

impl Upstream {
    pub fn label(self) -> &'static str {
        match self {
            Upstream::SuperOffice => "SuperOffice simulator",
            Upstream::Aws => "AWS API emulator",
        }
    }
}

/// One request through a proxy.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub service: Upstream,
    /// `POST /login/common/oauth/tokens`, or the AWS operation (`DynamoDB DeleteItem`).
    pub what: String,
    /// The status answered; 502 when the upstream could not be reached or rewriting failed.
    pub status: u16,
    /// The request head had arrived (the handler started).
    pub received: Instant,
    /// The answer was ready to be written back.
    pub answered: Instant,
    /// How much of that the upstream took: from sending the request to having read the whole
    /// answer. The rest is the proxy's own work (reading, forwarding, rewriting, re-signing).
    pub upstream: Duration,
}

impl Exchange {
    pub fn duration(&self) -> Duration {
        self.answered.saturating_duration_since(self.received)
    }

    /// The proxy's own share of [`Exchange::duration`].
    pub fn proxy_overhead(&self) -> Duration {
        self.duration().saturating_sub(self.upstream)
    }
}

/// The union of the exchanges' spans clipped to `[from, to]`: how long at least one outbound call
/// was in flight during that window. Overlapping (concurrent) calls are counted once.
pub fn busy_within<'a>(
    exchanges: impl IntoIterator<Item = &'a Exchange>,
    from: Instant,
    to: Instant,
) -> Duration {
    let mut spans: Vec<(Instant, Instant)> = exchanges
        .into_iter()
        .map(|e| (e.received.max(from), e.answered.min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (a, b) in spans {
        current = match current {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((ca, cb)) = current {
        total += cb - ca;
    }
    total
}

/// Presents the simulator under the proxy's address (see the module documentation).
struct Rewrite {
    sim: SimulatorHandle,
    /// The simulator's base, `http://127.0.0.1:PORT` (its issuer).
    from: String,
    /// The proxy's base.
    to: String,
}

struct ProxyState {
    upstream: Upstream,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    target: String,
    client: reqwest::Client,
    rewrite: Option<Rewrite>,
    log: Mutex<Vec<Exchange>>,
}

impl ProxyState {
    fn record(&self, e: Exchange) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    }
}

/// A running proxy; it serves until the tokio runtime ends.
pub struct TimingProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
}

impl TimingProxy {
    /// A proxy on 127.0.0.1 in front of the AWS API emulator at `target`.
    pub async fn aws(target: &str) -> std::io::Result<Self> {
        Self::start(Upstream::Aws, target, None).await
    }

    /// A proxy on 127.0.0.1 that presents `sim` under its own address.
    pub async fn superoffice(sim: &SimulatorHandle) -> std::io::Result<Self> {
        Self::start(Upstream::SuperOffice, &sim.issuer(), Some(sim.clone())).await
    }

    async fn start(
        upstream: Upstream,
        target: &str,
        sim: Option<SimulatorHandle>,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let target = target.trim_end_matches('/').to_owned();
        let rewrite = sim.map(|sim| Rewrite {
            sim,
            from: target.clone(),
            to: format!("http://{addr}"),
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;
        let state = Arc::new(ProxyState {
            upstream,
            target,
            client,
            rewrite,
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(forward).with_state(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("timing proxy stopped: {e}");
            }
        });
        Ok(Self { addr, state })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn upstream(&self) -> Upstream {
        self.state.upstream
    }

    /// Every exchange so far, in the order they were answered.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Maps a URL the simulator's pages would show under the proxy's address back to the simulator
    /// (the runner's scripted user goes to the simulator directly).
    pub fn to_upstream(&self, url: &str) -> String {
        match &self.state.rewrite {
            Some(r) => url.replacen(&r.to, &r.from, 1),
            None => url.to_owned(),
        }
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn what(upstream: Upstream, method: &http::Method, path: &str, headers: &HeaderMap) -> String {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split_once('.'));
    match (upstream, target) {
        (Upstream::Aws, Some((service, op))) => {
            let service = if service.starts_with("DynamoDB") {
                "DynamoDB"
            } else if service.eq_ignore_ascii_case("secretsmanager") {
                "SecretsManager"
            } else {
                service
            };
            format!("{service} {op}")
        }
        _ => format!("{method} {path}"),
    }
}

async fn forward(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let received = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let what = what(st.upstream, &parts.method, &path, &parts.headers);
    let mut upstream = Duration::ZERO;
    let result = relay(&st, parts, body, &path, &mut upstream).await;
    let (response, status) = match result {
        Ok(r) => {
            let status = r.status().as_u16();
            (r, status)
        }
        Err(message) => {
            eprintln!("timing proxy ({}): {what}: {message}", st.upstream.label());
            let mut r = Response::new(Body::from(message));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            (r, 502)
        }
    };
    st.record(Exchange {
        service: st.upstream,
        what,
        status,
        received,
        answered: Instant::now(),
        upstream,
    });
    response
}

async fn relay(
    st: &ProxyState,
    parts: http::request::Parts,
    body: Body,
    path: &str,
    upstream: &mut Duration,
) -> Result<Response, String> {
    let body = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|e| format!("request body: {e}"))?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = st
        .client
        .request(parts.method, format!("{}{path_and_query}", st.target));
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) {
            request = request.header(name, value);
        }
    }
    let sent = Instant::now();
    let answer = request
        .body(body)
        .send()
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut bytes = answer
        .bytes()
        .await
        .map_err(|e| format!("upstream body: {e}"))?;
    *upstream = sent.elapsed();
    if let Some(rw) = &st.rewrite
        && status.is_success()
    {
        if path == DISCOVERY_PATH {
            let text = std::str::from_utf8(&bytes).map_err(|e| format!("discovery: {e}"))?;
            bytes = text.replace(&rw.from, &rw.to).into();
        } else if path == TOKEN_PATH {
            bytes = resign_token_response(rw, &bytes)?.into();
        }
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !is_hop_by_hop(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    if !response.headers().contains_key(header::CONTENT_TYPE) {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/octet-stream"),
        );
    }
    Ok(response)
}

/// The token response with its id_token's claims moved to the proxy's address and signed again.
fn resign_token_response(rw: &Rewrite, body: &[u8]) -> Result<Vec<u8>, String> {
    let mut doc: Value =
        serde_json::from_slice(body).map_err(|e| format!("token response: {e}"))?;
    let Some(token) = doc.get("id_token").and_then(Value::as_str) else {
        return Ok(body.to_vec());
    };
    let mut segments = token.split('.');
    let (Some(h), Some(c), Some(_sig), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err("the id_token is not a compact JWS".into());
    };
    let decode = |s: &str| -> Result<Value, String> {
        let raw = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| format!("id_token segment: {e}"))?;
        serde_json::from_slice(&raw).map_err(|e| format!("id_token segment: {e}"))
    };
    let header = decode(h)?;
    let mut claims = decode(c)?;
    replace_in_strings(&mut claims, &rw.from, &rw.to);
    let signed = rw.sim.sign_jwt(&header, &claims);
    doc["id_token"] = Value::String(signed);
    serde_json::to_vec(&doc).map_err(|e| format!("token response: {e}"))
}

fn replace_in_strings(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(a) => a.iter_mut().for_each(|x| replace_in_strings(x, from, to)),
        Value::Object(o) => o.values_mut().for_each(|x| replace_in_strings(x, from, to)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(from_ms: u64, to_ms: u64, base: Instant) -> Exchange {
        Exchange {
            service: Upstream::Aws,
            what: String::new(),
            status: 200,
            received: base + Duration::from_millis(from_ms),
            answered: base + Duration::from_millis(to_ms),
            upstream: Duration::ZERO,
        }
    }

    #[test]
    fn busy_time_is_the_union_clipped_to_the_window() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        // 10–20 and 15–25 overlap (15 ms), 30–40 is separate (10 ms), 50–60 is outside.
        let list = [ex(10, 20, t), ex(15, 25, t), ex(30, 40, t), ex(50, 60, t)];
        assert_eq!(busy_within(&list, t, t + ms(45)), ms(25));
        // Clipped at both ends: 12–20/25 → 13 ms, 30–35 → 5 ms.
        assert_eq!(busy_within(&list, t + ms(12), t + ms(35)), ms(18));
        assert_eq!(busy_within(&list, t + ms(41), t + ms(49)), Duration::ZERO);
        assert_eq!(busy_within(&[], t, t + ms(100)), Duration::ZERO);
    }

    #[test]
    fn aws_calls_are_named_by_their_operation() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-target",
            "DynamoDB_20120810.DeleteItem".parse().unwrap(),
        );
        assert_eq!(
            what(Upstream::Aws, &http::Method::POST, "/", &h),
            "DynamoDB DeleteItem"
        );
        h.insert(
            "x-amz-target",
            "secretsmanager.GetSecretValue".parse().unwrap(),
        );
        assert_eq!(
            what(Upstream::Aws, &http::Method::POST, "/", &h),
            "SecretsManager GetSecretValue"
        );
        assert_eq!(
            what(
                Upstream::SuperOffice,
                &http::Method::POST,
                TOKEN_PATH,
                &HeaderMap::new()
            ),
            "POST /login/common/oauth/tokens"
        );
    }

    #[test]
    fn addresses_are_replaced_in_every_string_of_the_claims() {
        let mut v = serde_json::json!({
            "iss": "http://127.0.0.1:1",
            "n": 5,
            "so": {"webapi_url": "http://127.0.0.1:1/sod2/Cust1/api/"},
            "list": ["http://127.0.0.1:1/x", "other"]
        });
        replace_in_strings(&mut v, "http://127.0.0.1:1", "http://127.0.0.1:2");
        assert_eq!(
            v,
            serde_json::json!({
                "iss": "http://127.0.0.1:2",
                "n": 5,
                "so": {"webapi_url": "http://127.0.0.1:2/sod2/Cust1/api/"},
                "list": ["http://127.0.0.1:2/x", "other"]
            })
        );
    }
}
