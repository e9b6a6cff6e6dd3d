//! The synthetic requests the hook sends to each new function version, and the answer each must
//! give. Which function gets a request follows the API's routes (`template.yaml`).
//!
//! Every probe is harmless to run against production: it reads nothing and writes nothing of any
//! tenant. `GET /` and `GET /login` write nothing (the sign-in under way lives in a cookie); `GET
//! /install` without a session only redirects; a state change with a forged token and a webhook
//! without a signature are refused before anything is stored; the worker gets an empty batch.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::apigw::{self, Request};
use crate::expect::{self, Answer, Expected, Verdict};

/// The functions of the stack the hook calls: one variable each names its new version
/// (`template.yaml` sets it to `!Ref <Function>.Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    Redirect,
    Install,
    Webhooks,
    Lifecycle,
    Worker,
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::Redirect,
        Function::Install,
        Function::Webhooks,
        Function::Lifecycle,
        Function::Worker,
    ];

    /// The variable that holds the ARN of the function's version to check.
    pub fn variable(self) -> &'static str {
        match self {
            Function::Redirect => "REDIRECT_VERSION_ARN",
            Function::Install => "INSTALL_VERSION_ARN",
            Function::Webhooks => "WEBHOOKS_VERSION_ARN",
            Function::Lifecycle => "LIFECYCLE_VERSION_ARN",
            Function::Worker => "WORKER_VERSION_ARN",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Function::Redirect => "redirect",
            Function::Install => "install",
            Function::Webhooks => "webhooks",
            Function::Lifecycle => "lifecycle",
            Function::Worker => "worker",
        }
    }
}

/// What a probe sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Send {
    /// An HTTP request, as API Gateway delivers it.
    Http(Request),
    /// An SQS batch without records: the worker starts (configuration, manifest, crypto self-test)
    /// and answers that nothing failed.
    EmptyJobBatch,
}

/// One synthetic request and the check of its answer.
pub struct Probe {
    pub name: &'static str,
    pub function: Function,
    pub send: Send,
    check: fn(&[u8], &Expected) -> Verdict,
}

impl Probe {
    /// The payload for `Invoke`.
    pub fn payload(&self, host: &str, request_id: &str, now_ms: i64) -> Vec<u8> {
        let event = match &self.send {
            Send::Http(request) => request.event(host, request_id, now_ms),
            Send::EmptyJobBatch => json!({ "Records": [] }),
        };
        event.to_string().into_bytes()
    }

    /// Judges the function's answer (the `Invoke` payload of a successful invocation).
    pub fn check(&self, payload: &[u8], expected: &Expected) -> Verdict {
        (self.check)(payload, expected)
    }
}

fn http(payload: &[u8], judge: impl Fn(&Answer) -> Verdict) -> Verdict {
    let answer = apigw::read_answer(payload).map_err(|e| e.to_string())?;
    let seen = judge(&answer)?;
    expect::no_internals(&answer)?;
    Ok(seen)
}

/// The tenant the probes name: a well-formed context identifier no SuperOffice customer has.
pub const PROBE_TENANT: &str = "Cust0";

/// The probes, in the order they are reported.
pub fn probes() -> Vec<Probe> {
    vec![
        Probe {
            name: "front page",
            function: Function::Redirect,
            send: Send::Http(Request::get("/")),
            check: |p, _| {
                http(p, |a| {
                    let seen = expect::front_page(a)?;
                    expect::security_headers(a)?;
                    Ok(seen)
                })
            },
        },
        Probe {
            name: "sign-in redirect",
            function: Function::Redirect,
            send: Send::Http(Request::get("/login")),
            check: |p, e| http(p, |a| expect::sign_in_redirect(a, e)),
        },
        Probe {
            name: "install needs sign-in",
            function: Function::Install,
            send: Send::Http(Request::get("/install")),
            check: |p, _| http(p, |a| expect::needs_sign_in(a, "/install")),
        },
        Probe {
            name: "forged state change",
            function: Function::Lifecycle,
            send: Send::Http(Request::post_json(
                "/state-change",
                forged_state_change(PROBE_TENANT),
            )),
            check: |p, _| http(p, expect::refused),
        },
        Probe {
            name: "unsigned webhook",
            function: Function::Webhooks,
            send: Send::Http(Request::post_json(
                &format!("/webhooks/superoffice/{PROBE_TENANT}"),
                unsigned_webhook(PROBE_TENANT),
            )),
            check: |p, _| http(p, expect::refused),
        },
        Probe {
            name: "worker starts",
            function: Function::Worker,
            send: Send::EmptyJobBatch,
            check: |p, _| {
                let v: Value = serde_json::from_slice(p)
                    .map_err(|_| "the worker's answer is not JSON".to_owned())?;
                match v.get("batchItemFailures").and_then(Value::as_array) {
                    Some(failures) if failures.is_empty() => {
                        Ok("answered an empty batch with no failures".into())
                    }
                    Some(failures) => Err(format!(
                        "reported {} failures for an empty batch",
                        failures.len()
                    )),
                    None => Err("the answer has no batchItemFailures".into()),
                }
            },
        },
    ]
}

/// A state-change push for `tenant` whose token has the shape of SuperOffice's (an RS256 JWT with
/// plausible claims) and a signature no key made: the receiver must refuse it with 401.
pub fn forged_state_change(tenant: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.{}",
        part(json!({"alg": "RS256", "typ": "JWT", "kid": "deploy-check-forged"})),
        part(json!({
            "iss": "https://sod.superoffice.com",
            "ctx": tenant,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        })),
        URL_SAFE_NO_PAD.encode([0x5a_u8; 256]),
    );
    json!({
        "ChangeType": "Upgrade",
        "ContextIdentifier": tenant,
        "VersionName": "deploy-check",
        "Token": token,
        "PublicEndpoint": "sod.superoffice.com",
    })
    .to_string()
}

/// A webhook delivery for `tenant` without `X-SuperOffice-Signature`: the receiver must refuse it
/// with 401.
pub fn unsigned_webhook(tenant: &str) -> String {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json!({
        "EventId": "00000000-0000-0000-0000-00000000dc01",
        "Timestamp": now,
        "Changes": ["name"],
        "Event": "contact.changed",
        "PrimaryKey": 1,
        "Entity": "contact",
        "ContextIdentifier": tenant,
        "ChangedByAssociateId": 0,
        "WebhookName": "deploy-check",
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_the_api_serves_or_the_queue_feeds_gets_a_probe() {
        let probed: std::collections::BTreeSet<Function> =
            probes().iter().map(|p| p.function).collect();
        assert_eq!(probed.len(), Function::ALL.len());
        let names: Vec<&str> = probes().iter().map(|p| p.name).collect();
        let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn the_forged_token_looks_like_a_jwt_and_the_webhook_carries_no_signature() {
        let push: Value = serde_json::from_str(&forged_state_change("Cust1")).unwrap();
        let token = push["Token"].as_str().unwrap();
        assert_eq!(token.split('.').count(), 3);
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(push["ContextIdentifier"], "Cust1");
        for p in probes() {
            if let Send::Http(r) = &p.send {
                assert!(
                    r.headers
                        .iter()
                        .all(|(n, _)| !n.contains("signature") && *n != "cookie"),
                    "{}",
                    p.name
                );
            }
        }
    }
}
