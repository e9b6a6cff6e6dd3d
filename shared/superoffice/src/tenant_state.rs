//! Is the tenant there, and where is its API today?
//!
//! SuperOffice asks apps to check a tenant's state before acting on it and to cache the answer until
//! `ValidUntil`. The answer also says where the tenant's API lives now: tenants move between hosts
//! (a call to the old host answers 421), so the API base is never stored, always read from here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use url::Url;

use crate::clock::Clock;
use crate::retry::{Retrier, RetryError};
use crate::transport::{HttpRequest, Transport};
use crate::{Environment, TenantId};

/// The documented states (`State`), with anything new kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TenantStatus {
    Unknown,
    Provisioning,
    Running,
    Deleted,
    Suspended,
    OnlineMaintenance,
    OfflineMaintenance,
    ProvisioningFailed,
    Deleting,
    DeleteFailed,
    MigrationPending,
    Other(String),
}

impl TenantStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "Unknown" | "0" => Self::Unknown,
            "Provisioning" | "1" => Self::Provisioning,
            "Running" | "2" => Self::Running,
            "Deleted" | "3" => Self::Deleted,
            "Suspended" | "4" => Self::Suspended,
            "OnlineMaintenance" | "5" => Self::OnlineMaintenance,
            "OfflineMaintenance" | "6" => Self::OfflineMaintenance,
            "ProvisioningFailed" | "8" => Self::ProvisioningFailed,
            "Deleting" | "10" => Self::Deleting,
            "DeleteFailed" | "11" => Self::DeleteFailed,
            "MigrationPending" | "12" => Self::MigrationPending,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Unknown => "Unknown",
            Self::Provisioning => "Provisioning",
            Self::Running => "Running",
            Self::Deleted => "Deleted",
            Self::Suspended => "Suspended",
            Self::OnlineMaintenance => "OnlineMaintenance",
            Self::OfflineMaintenance => "OfflineMaintenance",
            Self::ProvisioningFailed => "ProvisioningFailed",
            Self::Deleting => "Deleting",
            Self::DeleteFailed => "DeleteFailed",
            Self::MigrationPending => "MigrationPending",
            Self::Other(s) => s,
        }
    }

    /// A state that will not come back by waiting: stop work for the tenant.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Deleted | Self::Deleting)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantState {
    pub tenant: TenantId,
    pub endpoint: Url,
    pub status: TenantStatus,
    pub is_running: bool,
    pub valid_until: SystemTime,
    pub api: Url,
    pub version: Option<String>,
}

impl TenantState {
    /// `{Api}/v1/`: the base every REST path is joined to.
    pub fn api_v1(&self) -> String {
        format!("{}/v1/", self.api.as_str().trim_end_matches('/'))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
    context_identifier: String,
    endpoint: String,
    state: serde_json::Value,
    is_running: bool,
    valid_until: String,
    api: String,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantStateError {
    /// SuperOffice does not know this tenant (404).
    #[error("SuperOffice does not know tenant {0}")]
    UnknownTenant(TenantId),
    /// The state API failed or throttled; try again after `retry_after` when known.
    #[error("the tenant state API is unavailable")]
    Unavailable(#[source] RetryError),
    #[error("the tenant state API answered HTTP {0}")]
    UnexpectedStatus(u16),
    #[error("the tenant state answer is not valid: {0}")]
    Invalid(String),
    /// The answer points the tenant's API outside the environment's hosts: never call it.
    #[error("the tenant state points to {0}, outside this environment's hosts")]
    HostNotAllowed(String),
}

impl TenantState {
    pub fn from_json(
        env: &Environment,
        ctx: &TenantId,
        body: &[u8],
    ) -> Result<Self, TenantStateError> {
        let w: Wire =
            serde_json::from_slice(body).map_err(|e| TenantStateError::Invalid(e.to_string()))?;
        if !w.context_identifier.eq_ignore_ascii_case(ctx.as_str()) {
            return Err(TenantStateError::Invalid(format!(
                "the answer is for {:?}, not {ctx}",
                w.context_identifier.chars().take(32).collect::<String>()
            )));
        }
        let status = match &w.state {
            serde_json::Value::String(s) => TenantStatus::parse(s),
            serde_json::Value::Number(n) => TenantStatus::parse(&n.to_string()),
            _ => return Err(TenantStateError::Invalid("State is not a string".into())),
        };
        let url = |field: &str, value: &str| -> Result<Url, TenantStateError> {
            let u = Url::parse(value)
                .map_err(|_| TenantStateError::Invalid(format!("{field} is not a URL")))?;
            if !env.allows_service_url(&u) {
                return Err(TenantStateError::HostNotAllowed(
                    value.chars().take(200).collect(),
                ));
            }
            Ok(u)
        };
        let valid_until = time::OffsetDateTime::parse(
            &w.valid_until,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| TenantStateError::Invalid("ValidUntil is not an RFC 3339 time".into()))?;
        Ok(Self {
            endpoint: url("Endpoint", &w.endpoint)?,
            api: url("Api", &w.api)?,
            tenant: ctx.clone(),
            status,
            is_running: w.is_running,
            valid_until: valid_until.into(),
            version: w.version,
        })
    }
}

pub struct TenantStateClient {
    env: Environment,
    transport: Arc<dyn Transport>,
    retrier: Arc<Retrier>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    /// State, kept until, fetched at.
    cache: Mutex<HashMap<TenantId, (TenantState, SystemTime, SystemTime)>>,
}

/// However `ValidUntil` reads, an answer is kept at least this long (no hammering when it is in the
/// past) and at most this long (a moved tenant is noticed within the hour even without a 421).
const MIN_CACHE: Duration = Duration::from_secs(5);
const MAX_CACHE: Duration = Duration::from_secs(3600);

impl TenantStateClient {
    pub fn new(
        env: Environment,
        transport: Arc<dyn Transport>,
        retrier: Arc<Retrier>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> Self {
        Self {
            env,
            transport,
            retrier,
            clock,
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's state, from the cache while it is valid.
    pub async fn get(
        &self,
        ctx: &TenantId,
        deadline: Option<SystemTime>,
    ) -> Result<TenantState, TenantStateError> {
        let now = self.clock.now();
        if let Some((state, until, _)) = self.lock().get(ctx)
            && now < *until
        {
            return Ok(state.clone());
        }
        let url = self.env.tenant_state_url(ctx);
        let response = self
            .retrier
            .run(deadline, |attempt| {
                let req = HttpRequest::get(url.clone(), attempt.timeout(self.timeout))
                    .accept_json()
                    .max_response_bytes(64 * 1024);
                self.transport.send(req)
            })
            .await
            .map_err(TenantStateError::Unavailable)?;
        match response.status.as_u16() {
            200 => {}
            404 => return Err(TenantStateError::UnknownTenant(ctx.clone())),
            s => return Err(TenantStateError::UnexpectedStatus(s)),
        }
        let state = TenantState::from_json(&self.env, ctx, &response.body)?;
        let now = self.clock.now();
        let keep = state
            .valid_until
            .duration_since(now)
            .unwrap_or_default()
            .clamp(MIN_CACHE, MAX_CACHE);
        self.lock()
            .insert(ctx.clone(), (state.clone(), now + keep, now));
        Ok(state)
    }

    /// Forget the cached state (after a 421: the tenant moved).
    pub fn invalidate(&self, ctx: &TenantId) {
        self.lock().remove(ctx);
    }

    /// Forget the cached state if it was read before `at` (SuperOffice said the tenant moved then:
    /// the next call reads where its API lives now, without a 421 first).
    pub fn invalidate_if_older(&self, ctx: &TenantId, at: SystemTime) {
        let mut cache = self.lock();
        if cache.get(ctx).is_some_and(|(_, _, fetched)| *fetched < at) {
            cache.remove(ctx);
        }
    }

    #[allow(clippy::type_complexity)]
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<TenantId, (TenantState, SystemTime, SystemTime)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_answers_parse() {
        let ctx = TenantId::parse("Cust12345").unwrap();
        let s = TenantState::from_json(
            &Environment::Online,
            &ctx,
            include_bytes!("../tests/fixtures/tenant-state-response-example.json"),
        )
        .unwrap();
        assert_eq!(s.status, TenantStatus::Running);
        assert!(s.is_running);
        assert_eq!(
            s.api_v1(),
            "https://online2.superoffice.com/Cust12345/api/v1/"
        );
        assert_eq!(s.version.as_deref(), Some("Release_11.10_2026.02.24-02"));
        assert_eq!(
            time::OffsetDateTime::from(s.valid_until).unix_timestamp(),
            time::macros::datetime!(2026-02-23 09:52:01 UTC).unix_timestamp()
        );

        let ctx = TenantId::parse("Cust37911").unwrap();
        let old = TenantState::from_json(
            &Environment::Sod,
            &ctx,
            include_bytes!("../tests/fixtures/tenant-state-response-example-2020-sod.json"),
        )
        .unwrap();
        assert_eq!(old.version, None);
    }

    #[test]
    fn an_api_host_outside_the_environment_is_refused() {
        let ctx = TenantId::parse("Cust12345").unwrap();
        let body = include_str!("../tests/fixtures/tenant-state-response-example.json")
            .replace("online2.superoffice.com/Cust12345/api", "evil.example/api");
        assert!(matches!(
            TenantState::from_json(&Environment::Online, &ctx, body.as_bytes()),
            Err(TenantStateError::HostNotAllowed(_))
        ));
    }

    #[test]
    fn states_parse_by_name_and_number() {
        assert_eq!(
            TenantStatus::parse("OfflineMaintenance"),
            TenantStatus::OfflineMaintenance
        );
        assert_eq!(TenantStatus::parse("6"), TenantStatus::OfflineMaintenance);
        assert_eq!(
            TenantStatus::parse("Brand New"),
            TenantStatus::Other("Brand New".into())
        );
    }
}
