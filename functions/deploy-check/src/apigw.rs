//! API Gateway HTTP API events (payload format 2.0), as the hook sends them to a function version,
//! and the answers the functions give back.
//!
//! The event carries what API Gateway sends for a request to the deployment's own host (so a handler
//! sees the same `Host` as in production), and nothing that names a person: no cookie, a documentation
//! address (RFC 5737) as the source IP.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::expect::Answer;

/// A request the hook makes: method, path, query (without `?`), headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub query: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Request {
    pub fn get(path: &str) -> Self {
        Self {
            method: "GET",
            path: path.to_owned(),
            query: String::new(),
            headers: vec![("accept", "text/html".to_owned())],
            body: None,
        }
    }

    pub fn post_json(path: &str, body: String) -> Self {
        Self {
            method: "POST",
            path: path.to_owned(),
            query: String::new(),
            headers: vec![("content-type", "application/json".to_owned())],
            body: Some(body),
        }
    }

    /// The route key API Gateway matched (`POST /webhooks/superoffice/{tenant}` for a tenant's
    /// webhook path).
    fn route_key(&self) -> String {
        let route = match self.path.strip_prefix("/webhooks/superoffice/") {
            Some(_) => "/webhooks/superoffice/{tenant}",
            None => self.path.as_str(),
        };
        format!("{} {route}", self.method)
    }

    /// The event API Gateway would send for this request to `host` (the deployment's host name).
    pub fn event(&self, host: &str, request_id: &str, now_ms: i64) -> Value {
        const USER_AGENT: &str = "superoffice-app-deploy-check";
        const SOURCE_IP: &str = "192.0.2.1";
        let mut headers = Map::new();
        headers.insert("host".into(), json!(host));
        headers.insert("user-agent".into(), json!(USER_AGENT));
        headers.insert("x-forwarded-for".into(), json!(SOURCE_IP));
        headers.insert("x-forwarded-port".into(), json!("443"));
        headers.insert("x-forwarded-proto".into(), json!("https"));
        for (name, value) in &self.headers {
            headers.insert((*name).into(), json!(value));
        }
        if let Some(body) = &self.body {
            headers.insert("content-length".into(), json!(body.len().to_string()));
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": self.route_key(),
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "deploy-check",
                "domainName": host,
                "domainPrefix": host.split('.').next().unwrap_or(host),
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": SOURCE_IP,
                    "userAgent": USER_AGENT,
                },
                "requestId": request_id,
                "routeKey": self.route_key(),
                "stage": "$default",
                "time": "01/Jan/1970:00:00:00 +0000",
                "timeEpoch": now_ms,
            },
            "isBase64Encoded": false,
        });
        if let Some(body) = &self.body {
            event["body"] = json!(body);
        }
        if let Some(tenant) = self.path.strip_prefix("/webhooks/superoffice/") {
            event["pathParameters"] = json!({ "tenant": tenant });
        }
        event
    }
}

/// Why a function's answer is not an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnAnswer {
    #[error("the function's answer is not JSON")]
    NotJson,
    #[error("the function's answer has no statusCode")]
    NoStatus,
    #[error("the function's answer has a body that is not valid base64")]
    BadBase64,
}

/// Reads a function's answer to an API Gateway event: `statusCode`, `headers` and
/// `multiValueHeaders`, `cookies` (each a `Set-Cookie` line), `body` (base64 when
/// `isBase64Encoded`).
pub fn read_answer(payload: &[u8]) -> Result<Answer, NotAnAnswer> {
    let v: Value = serde_json::from_slice(payload).map_err(|_| NotAnAnswer::NotJson)?;
    let status = v["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or(NotAnAnswer::NoStatus)?;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, value: &Value| {
        if let Some(s) = value.as_str() {
            let pair = (name.to_ascii_lowercase(), s.to_owned());
            if !headers.contains(&pair) {
                headers.push(pair);
            }
        }
    };
    for (name, value) in v["headers"].as_object().into_iter().flatten() {
        push(name, value);
    }
    for (name, values) in v["multiValueHeaders"].as_object().into_iter().flatten() {
        for value in values.as_array().into_iter().flatten() {
            push(name, value);
        }
    }
    for cookie in v["cookies"].as_array().into_iter().flatten() {
        push("set-cookie", cookie);
    }
    let body = match v["body"].as_str() {
        None => Vec::new(),
        Some(b) if v["isBase64Encoded"] == json!(true) => {
            STANDARD.decode(b).map_err(|_| NotAnAnswer::BadBase64)?
        }
        Some(b) => b.as_bytes().to_vec(),
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_are_what_the_functions_runtime_reads_as_http_requests() {
        let get = Request::get("/login").event("abc.execute-api.eu-west-1.amazonaws.com", "r1", 1);
        let req: lambda_http::request::LambdaRequest = serde_json::from_value(get).unwrap();
        let req: lambda_http::Request = req.into();
        assert_eq!(req.method(), "GET");
        assert_eq!(req.uri().path(), "/login");
        assert_eq!(
            req.uri().host(),
            Some("abc.execute-api.eu-west-1.amazonaws.com")
        );

        let post = Request::post_json("/webhooks/superoffice/Cust1", "{\"a\":1}".into()).event(
            "app.example.com",
            "r2",
            1,
        );
        assert_eq!(post["routeKey"], "POST /webhooks/superoffice/{tenant}");
        let req: lambda_http::request::LambdaRequest = serde_json::from_value(post).unwrap();
        let req: lambda_http::Request = req.into();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/webhooks/superoffice/Cust1");
        assert_eq!(req.headers()["content-type"], "application/json");
        match req.body() {
            lambda_http::Body::Text(t) => assert_eq!(t, "{\"a\":1}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_are_read_with_their_headers_cookies_and_body() {
        let payload = json!({
            "statusCode": 303,
            "headers": {"Location": "https://x/", "content-type": "text/html"},
            "multiValueHeaders": {"location": ["https://x/"], "vary": ["a", "b"]},
            "cookies": ["__Host-signin-1=v; Secure", "__Host-signin-0=; Max-Age=0"],
            "body": STANDARD.encode("<p>hi</p>"),
            "isBase64Encoded": true,
        });
        let a = read_answer(payload.to_string().as_bytes()).unwrap();
        assert_eq!(a.status, 303);
        assert_eq!(a.all("location").count(), 1, "{:?}", a.headers);
        assert_eq!(a.all("vary").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(a.all("set-cookie").count(), 2);
        assert_eq!(a.text(), "<p>hi</p>");
        assert_eq!(read_answer(b"nope"), Err(NotAnAnswer::NotJson));
        assert_eq!(read_answer(b"{\"body\":\"x\"}"), Err(NotAnAnswer::NoStatus));
    }
}
