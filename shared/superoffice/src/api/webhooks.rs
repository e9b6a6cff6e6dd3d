//! Webhooks: `GET Webhook?nameFilter=` finds the app's by name, `POST Webhook` creates one (SuperOffice
//! POSTs a test event to the target at save time and refuses the webhook with 400 if the target does
//! not answer 200), `DELETE Webhook/{id}` removes one. There is no "delete my app's webhooks" call:
//! the app keeps the ids it created.

use serde::Deserialize;
use serde_json::json;

use super::{Removed, Tenant, delete, post, put};
use crate::Secret;
use crate::webapi::{ApiRequest, TenantApi, WebApiError};

/// A webhook as the app declares it.
#[derive(Debug, Clone)]
pub struct WebhookSpec<'a> {
    pub name: &'a str,
    pub events: &'a [String],
    pub target_url: &'a str,
    /// The HMAC key SuperOffice signs deliveries with.
    pub secret: &'a Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookEntity {
    #[serde(default)]
    pub webhook_id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub target_url: String,
    /// `Active`, `Stopped`, `TooManyErrors`, …
    #[serde(default)]
    pub state: String,
}

impl WebhookEntity {
    /// Whether the webhook is active and sends the declared events to the declared target (the
    /// secret cannot be read back).
    pub fn matches(&self, spec: &WebhookSpec<'_>) -> bool {
        let mut have: Vec<&str> = self.events.iter().map(String::as_str).collect();
        let mut want: Vec<&str> = spec.events.iter().map(String::as_str).collect();
        have.sort_unstable();
        want.sort_unstable();
        self.state.eq_ignore_ascii_case("active")
            && have == want
            && self.target_url == spec.target_url
    }
}

/// The id of the webhook named exactly `name`, if any.
pub async fn find_by_name<A: TenantApi>(
    t: &Tenant<'_, A>,
    name: &str,
) -> Result<Option<i64>, WebApiError> {
    Ok(find(t, name).await?.map(|w| w.webhook_id))
}

/// The webhook named exactly `name`, if any.
pub async fn find<A: TenantApi>(
    t: &Tenant<'_, A>,
    name: &str,
) -> Result<Option<WebhookEntity>, WebApiError> {
    let found: Vec<WebhookEntity> = t
        .json::<Option<Vec<WebhookEntity>>>(&ApiRequest::get("Webhook").query("nameFilter", name))
        .await?
        .unwrap_or_default();
    Ok(found
        .into_iter()
        .find(|w| w.name == name && w.webhook_id > 0))
}

/// Creates an active webhook; its id. A [`WebApiError::Rejected`] with status 400 usually means
/// SuperOffice could not reach the target.
pub async fn create<A: TenantApi>(
    t: &Tenant<'_, A>,
    w: &WebhookSpec<'_>,
) -> Result<i64, WebApiError> {
    let created: WebhookEntity = t
        .json(&post("Webhook").json(json!({
            "Name": w.name,
            "Events": w.events,
            "TargetUrl": w.target_url,
            "Secret": w.secret.expose(),
            "State": "Active",
            "Type": "webhook",
        })))
        .await?;
    if created.webhook_id <= 0 {
        return Err(WebApiError::InvalidResponse(
            "the created webhook has no WebhookId".into(),
        ));
    }
    Ok(created.webhook_id)
}

/// Changes an existing webhook to what `w` declares (`PUT Webhook/{id}`), active again, with the
/// tenant's secret.
pub async fn update<A: TenantApi>(
    t: &Tenant<'_, A>,
    id: i64,
    w: &WebhookSpec<'_>,
) -> Result<(), WebApiError> {
    t.send(&put(format!("Webhook/{id}")).json(json!({
        "WebhookId": id,
        "Name": w.name,
        "Events": w.events,
        "TargetUrl": w.target_url,
        "Secret": w.secret.expose(),
        "State": "Active",
        "Type": "webhook",
    })))
    .await
    .map(|_| ())
}

/// Deletes the webhook with this id.
pub async fn remove<A: TenantApi>(t: &Tenant<'_, A>, id: i64) -> Result<Removed, WebApiError> {
    t.delete(&delete(format!("Webhook/{id}"))).await
}
