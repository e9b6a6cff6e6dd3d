//! Scripted failures: latency, error statuses, hangs, 421s and dropped connections.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::routes::Route;

/// What happens to a request that matches a [`FaultRule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Wait this long (without blocking other requests), then answer normally.
    Latency(Duration),
    /// Answer with this status instead, with an optional raw `Retry-After` value ("3" or an HTTP date).
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Never answer; the client has to time out.
    Hang,
    /// Answer 421 "Wrong subdomain used to access tenant".
    Misdirected,
    /// Close the connection without an answer (with a TCP reset where the platform allows).
    Reset,
}

impl FaultAction {
    pub(crate) fn describe(&self) -> String {
        match self {
            FaultAction::Latency(d) => format!("latency {}ms", d.as_millis()),
            FaultAction::Status { status, .. } => format!("status {status}"),
            FaultAction::Hang => "hang".into(),
            FaultAction::Misdirected => "misdirected".into(),
            FaultAction::Reset => "reset".into(),
        }
    }
}

/// A fault applied to requests for one [`Route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub route: Route,
    pub action: FaultAction,
    /// How many requests it applies to; `None` = until cleared.
    pub times: Option<u32>,
    /// Only requests about this tenant (context id, compared ignoring case). Requests whose tenant
    /// cannot be told never match a rule with a tenant.
    pub tenant: Option<String>,
}

impl FaultRule {
    /// A rule that applies until cleared, to every tenant.
    pub fn new(route: Route, action: FaultAction) -> Self {
        Self {
            route,
            action,
            times: None,
            tenant: None,
        }
    }

    /// Limits the rule to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Limits the rule to requests about `ctx`.
    pub fn for_tenant(mut self, ctx: impl Into<String>) -> Self {
        self.tenant = Some(ctx.into());
        self
    }

    fn matches(&self, route: Route, tenant: Option<&str>) -> bool {
        self.route == route
            && self.times != Some(0)
            && match (&self.tenant, tenant) {
                (None, _) => true,
                (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                (Some(_), None) => false,
            }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "route": self.route,
            "times": self.times,
            "tenant": self.tenant,
        });
        let extra = match &self.action {
            FaultAction::Latency(d) => {
                json!({"action": "latency", "latency_ms": u64::try_from(d.as_millis()).unwrap_or(u64::MAX)})
            }
            FaultAction::Status {
                status,
                retry_after,
            } => json!({"action": "status", "status": status, "retry_after": retry_after}),
            FaultAction::Hang => json!({"action": "hang"}),
            FaultAction::Misdirected => json!({"action": "misdirected"}),
            FaultAction::Reset => json!({"action": "reset"}),
        };
        if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
            obj.extend(extra);
        }
        v
    }
}

/// The list of active fault rules. Rules are checked in the order they were pushed; the first
/// matching rule with uses left applies, and its count goes down by one.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<FaultRule>>>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, rule: FaultRule) {
        if rule.times == Some(0) {
            return;
        }
        self.lock().push(rule);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The rules still active, with their remaining counts.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// Takes one use of the first rule matching this request.
    pub(crate) fn take(&self, route: Route, tenant: Option<&str>) -> Option<FaultAction> {
        let mut rules = self.lock();
        let idx = rules.iter().position(|r| r.matches(route, tenant))?;
        let action = rules[idx].action.clone();
        if let Some(n) = rules[idx].times.as_mut() {
            *n -= 1;
            if *n == 0 {
                rules.remove(idx);
            }
        }
        Some(action)
    }
}

/// A fault rule as sent to `POST /__sim/faults`:
///
/// ```json
/// {"route": "Token", "action": "status", "status": 429, "retry_after": "3", "times": 2}
/// {"route": "Jwks", "action": "latency", "latency_ms": 500}
/// {"route": "WebApi", "action": "hang", "tenant": "Cust12345"}
/// {"route": "SystemUser", "action": "reset", "times": 1}
/// {"route": "WebApi", "action": "misdirected"}
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRuleWire {
    route: Route,
    action: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    retry_after: Option<String>,
    #[serde(default)]
    latency_ms: Option<u64>,
    #[serde(default)]
    times: Option<u32>,
    #[serde(default)]
    tenant: Option<String>,
}

impl FaultRuleWire {
    pub(crate) fn into_rule(self) -> Result<FaultRule, String> {
        let action = match self.action.to_ascii_lowercase().as_str() {
            "latency" => FaultAction::Latency(Duration::from_millis(
                self.latency_ms
                    .ok_or("action \"latency\" needs \"latency_ms\"")?,
            )),
            "status" => {
                let status = self.status.ok_or("action \"status\" needs \"status\"")?;
                if !(200..=599).contains(&status) {
                    return Err(format!(
                        "status {status} is not a final HTTP status (200..=599)"
                    ));
                }
                if let Some(ra) = &self.retry_after
                    && http::HeaderValue::from_str(ra).is_err()
                {
                    return Err("retry_after is not a valid header value".into());
                }
                FaultAction::Status {
                    status,
                    retry_after: self.retry_after,
                }
            }
            "hang" => FaultAction::Hang,
            "misdirected" => FaultAction::Misdirected,
            "reset" => FaultAction::Reset,
            other => {
                return Err(format!(
                    "unknown action {other:?} (latency, status, hang, misdirected, reset)"
                ));
            }
        };
        Ok(FaultRule {
            route: self.route,
            action,
            times: self.times,
            tenant: self.tenant,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_with_uses_left_applies() {
        let f = Faults::default();
        f.push(FaultRule::new(Route::Token, FaultAction::Hang).times(1));
        f.push(
            FaultRule::new(
                Route::Token,
                FaultAction::Status {
                    status: 503,
                    retry_after: None,
                },
            )
            .times(2),
        );
        assert_eq!(f.take(Route::Jwks, None), None);
        assert_eq!(f.take(Route::Token, None), Some(FaultAction::Hang));
        assert!(matches!(
            f.take(Route::Token, None),
            Some(FaultAction::Status { status: 503, .. })
        ));
        assert!(matches!(
            f.take(Route::Token, None),
            Some(FaultAction::Status { status: 503, .. })
        ));
        assert_eq!(f.take(Route::Token, None), None);
        assert!(f.rules().is_empty());
    }

    #[test]
    fn tenant_filter() {
        let f = Faults::default();
        f.push(FaultRule::new(Route::WebApi, FaultAction::Misdirected).for_tenant("Cust1"));
        assert_eq!(f.take(Route::WebApi, None), None);
        assert_eq!(f.take(Route::WebApi, Some("Cust2")), None);
        assert_eq!(
            f.take(Route::WebApi, Some("cust1")),
            Some(FaultAction::Misdirected)
        );
    }

    #[test]
    fn wire_format() {
        let w: FaultRuleWire = serde_json::from_str(
            r#"{"route":"token","action":"status","status":429,"retry_after":"3","times":2}"#,
        )
        .unwrap();
        let r = w.into_rule().unwrap();
        assert_eq!(r.route, Route::Token);
        assert_eq!(r.times, Some(2));
        assert_eq!(
            r.action,
            FaultAction::Status {
                status: 429,
                retry_after: Some("3".into())
            }
        );
        let w: FaultRuleWire =
            serde_json::from_str(r#"{"route":"Jwks","action":"latency"}"#).unwrap();
        assert!(w.into_rule().is_err());
        assert!(
            serde_json::from_str::<FaultRuleWire>(r#"{"route":"Jwks","action":"hang","x":1}"#)
                .is_err()
        );
    }
}
