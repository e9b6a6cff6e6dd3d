//! Scripted failures: latency, error statuses, hangs, 421s and dropped connections.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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
    /// Only requests whose path (without the query) contains this text, compared ignoring ASCII
    /// case, e.g. `"UdefLayout"` to throttle one WebAPI family.
    pub path_contains: Option<String>,
}

impl FaultRule {
    /// A rule that applies until cleared, to every tenant.
    pub fn new(route: Route, action: FaultAction) -> Self {
        Self {
            route,
            action,
            times: None,
            tenant: None,
            path_contains: None,
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

    /// Limits the rule to requests whose path contains `text` (ignoring ASCII case), e.g.
    /// `FaultRule::new(Route::WebApi, action).path_contains("UdefLayout")`.
    pub fn path_contains(mut self, text: impl Into<String>) -> Self {
        self.path_contains = Some(text.into());
        self
    }

    fn matches(&self, route: Route, tenant: Option<&str>, path: &str) -> bool {
        self.route == route
            && self.times != Some(0)
            && tenant_matches(self.tenant.as_deref(), tenant)
            && path_matches(self.path_contains.as_deref(), path)
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "route": self.route,
            "times": self.times,
            "tenant": self.tenant,
            "path_contains": self.path_contains,
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

fn tenant_matches(want: Option<&str>, got: Option<&str>) -> bool {
    match (want, got) {
        (None, _) => true,
        (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
        (Some(_), None) => false,
    }
}

fn path_matches(needle: Option<&str>, path: &str) -> bool {
    needle.is_none_or(|n| contains_ignore_ascii_case(path, n))
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// After a `Status` fault that carried a usable `Retry-After`, requests of the same scope (route,
/// the tenant of the faulted request, the rule's path filter) that arrive before that time are
/// flagged as early in the request log.
#[derive(Debug, Clone)]
struct RetryWindow {
    route: Route,
    tenant: Option<String>,
    path_contains: Option<String>,
    until: Instant,
}

/// The list of active fault rules. Rules are checked in the order they were pushed; the first
/// matching rule with uses left applies, and its count goes down by one.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<FaultRule>>>,
    windows: Arc<Mutex<Vec<RetryWindow>>>,
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

    /// Takes one use of the first rule matching this request; returns a copy of the rule as it
    /// was matched.
    pub(crate) fn take(&self, route: Route, tenant: Option<&str>, path: &str) -> Option<FaultRule> {
        let mut rules = self.lock();
        let idx = rules.iter().position(|r| r.matches(route, tenant, path))?;
        let matched = rules[idx].clone();
        if let Some(n) = rules[idx].times.as_mut() {
            *n -= 1;
            if *n == 0 {
                rules.remove(idx);
            }
        }
        Some(matched)
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, Vec<RetryWindow>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `rule` was just answered to a request about `tenant` with this raw
    /// `Retry-After` (delta-seconds or an HTTP date). Values that are unusable or already past open
    /// no window.
    pub(crate) fn open_retry_window(
        &self,
        rule: &FaultRule,
        tenant: Option<&str>,
        retry_after: &str,
    ) {
        let Some(wait) = parse_retry_after(retry_after, SystemTime::now()) else {
            return;
        };
        if wait.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut windows = self.windows();
        windows.retain(|w| w.until > now);
        windows.push(RetryWindow {
            route: rule.route,
            tenant: tenant.map(str::to_owned),
            path_contains: rule.path_contains.clone(),
            until: now + wait,
        });
    }

    /// Whether a request arriving now falls inside a Retry-After window it should have waited for.
    pub(crate) fn before_retry_after(
        &self,
        route: Route,
        tenant: Option<&str>,
        path: &str,
    ) -> bool {
        let now = Instant::now();
        self.windows().iter().any(|w| {
            w.until > now
                && w.route == route
                && tenant_matches(w.tenant.as_deref(), tenant)
                && path_matches(w.path_contains.as_deref(), path)
        })
    }
}

/// `Retry-After` as a wait from `now`: delta-seconds, or an HTTP date (a past date gives zero).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A fault rule as sent to `POST /__sim/faults`:
///
/// ```json
/// {"route": "Token", "action": "status", "status": 429, "retry_after": "3", "times": 2}
/// {"route": "Jwks", "action": "latency", "latency_ms": 500}
/// {"route": "WebApi", "action": "hang", "tenant": "Cust12345"}
/// {"route": "SystemUser", "action": "reset", "times": 1}
/// {"route": "WebApi", "action": "misdirected"}
/// {"route": "WebApi", "action": "status", "status": 429, "retry_after": "2", "tenant": "Cust12345", "path_contains": "UdefLayout"}
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
    #[serde(default)]
    path_contains: Option<String>,
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
            path_contains: self.path_contains.filter(|p| !p.is_empty()),
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
        let take = |route| f.take(route, None, "/").map(|r| r.action);
        assert_eq!(take(Route::Jwks), None);
        assert_eq!(take(Route::Token), Some(FaultAction::Hang));
        assert!(matches!(
            take(Route::Token),
            Some(FaultAction::Status { status: 503, .. })
        ));
        assert!(matches!(
            take(Route::Token),
            Some(FaultAction::Status { status: 503, .. })
        ));
        assert_eq!(take(Route::Token), None);
        assert!(f.rules().is_empty());
    }

    #[test]
    fn tenant_filter() {
        let f = Faults::default();
        f.push(FaultRule::new(Route::WebApi, FaultAction::Misdirected).for_tenant("Cust1"));
        let take = |tenant| f.take(Route::WebApi, tenant, "/").map(|r| r.action);
        assert_eq!(take(None), None);
        assert_eq!(take(Some("Cust2")), None);
        assert_eq!(take(Some("cust1")), Some(FaultAction::Misdirected));
    }

    #[test]
    fn path_filter() {
        let f = Faults::default();
        f.push(
            FaultRule::new(Route::WebApi, FaultAction::Misdirected)
                .for_tenant("Cust1")
                .path_contains("UdefLayout"),
        );
        let take = |path| f.take(Route::WebApi, Some("Cust1"), path).map(|r| r.action);
        assert_eq!(take("/sod2/Cust1/api/v1/List"), None);
        assert_eq!(
            take("/sod2/Cust1/api/v1/contact/udeflayout/Publish"),
            Some(FaultAction::Misdirected)
        );
        assert_eq!(
            f.take(
                Route::WebApi,
                Some("Cust2"),
                "/sod2/Cust2/api/v1/Contact/UdefLayout"
            ),
            None
        );
    }

    #[test]
    fn retry_after_windows() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let f = Faults::default();
        let rule = FaultRule::new(
            Route::WebApi,
            FaultAction::Status {
                status: 429,
                retry_after: Some("30".into()),
            },
        )
        .path_contains("UdefLayout");
        f.open_retry_window(&rule, Some("Cust1"), "30");
        assert!(f.before_retry_after(
            Route::WebApi,
            Some("cust1"),
            "/x/Cust1/api/v1/Contact/UdefLayout"
        ));
        assert!(!f.before_retry_after(Route::WebApi, Some("Cust1"), "/x/Cust1/api/v1/List"));
        assert!(!f.before_retry_after(
            Route::WebApi,
            Some("Cust2"),
            "/x/Cust2/api/v1/Contact/UdefLayout"
        ));
        assert!(!f.before_retry_after(Route::Token, None, "/login/common/oauth/tokens"));
        f.open_retry_window(&rule, Some("Cust2"), "0");
        assert!(!f.before_retry_after(
            Route::WebApi,
            Some("Cust2"),
            "/x/Cust2/api/v1/Contact/UdefLayout"
        ));
    }

    #[test]
    fn wire_format() {
        let w: FaultRuleWire = serde_json::from_str(
            r#"{"route":"token","action":"status","status":429,"retry_after":"3","times":2}"#,
        )
        .unwrap();
        let r = w.into_rule().unwrap();
        assert_eq!(r.route, Route::Token);
        assert_eq!(r.path_contains, None);
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
