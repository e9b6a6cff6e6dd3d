//! One run of the engine in one tenant: the tenant's WebAPI bound to the run's deadline, and what
//! the run learned so far (list ids, the tenant's user groups), so no kind reads the same collection
//! twice in a run. Kinds find their artifacts with targeted calls, never by reading a whole
//! collection of the customer's.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use superoffice::api::Tenant;
use superoffice::api::webpanels::UserGroup;
use superoffice::clock::Clock;
use superoffice::webapi::{TenantApi, WebApiError};
use superoffice::{Secret, TenantId};

use super::Halt;

/// Time a step needs left before the deadline to be started at all.
pub(crate) const STEP_MARGIN: Duration = Duration::from_secs(5);

pub(crate) struct TenantRun<'a, A> {
    pub api: Tenant<'a, A>,
    pub tenant: &'a TenantId,
    /// The deployment's public base URL, without a trailing slash.
    pub base_url: &'a str,
    pub clock: &'a dyn Clock,
    pub deadline: SystemTime,
    /// The tenant's webhook secret, when the manifest has webhooks.
    pub webhook_secret: Option<Secret>,
    /// Manifest list key → SuperOffice list id, for binding list fields.
    pub list_ids: HashMap<String, i64>,
    /// The tenant's user groups, read once per run (a new panel is shown to all of them).
    pub user_groups: Option<Vec<UserGroup>>,
    /// Panels were created or removed: the CRM's panel cache needs a flush at the end.
    pub panels_changed: bool,
}

impl<A: TenantApi> TenantRun<'_, A> {
    /// Stops the run (to be continued by the next one) when too little time is left for a step.
    pub fn check_time(&self) -> Result<(), Halt> {
        let now = self.clock.now();
        if now + STEP_MARGIN > self.deadline {
            return Err(Halt::Wait {
                until: now,
                reason: "continuing",
                detail: "the run used its time; the next one continues".into(),
            });
        }
        Ok(())
    }

    /// A failed call as the run's halt.
    pub fn halt(&self, e: WebApiError) -> Halt {
        Halt::from_api(e, self.clock.now())
    }

    /// An absolute URL on this deployment.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}
