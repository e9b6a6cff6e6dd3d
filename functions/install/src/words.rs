//! The customer's words for what the pages show: times, the company, what an item is, what
//! SuperOffice says about the tenant. No internal ids, ProgIds, URL templates or list syntax.

use domain::ledger::LedgerEntry;
use domain::manifest::Manifest;
use domain::signin::Session;
use domain::tenant::Tenant;
use superoffice::tenant_state::{TenantState, TenantStatus};

/// `14:03:07 UTC`.
pub fn time_of_day(unix: i64) -> String {
    format(
        unix,
        time::macros::format_description!("[hour]:[minute]:[second] UTC"),
    )
}

/// `4 December 2026, 14:03 UTC`.
pub fn date_time(unix: i64) -> String {
    format(
        unix,
        time::macros::format_description!(
            "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
        ),
    )
}

fn format(unix: i64, f: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(f).ok())
        .unwrap_or_default()
}

/// The customer in words: the company recorded at consent, else what the session knows.
pub fn company<'a>(session: &'a Session, tenant: Option<&'a Tenant>) -> &'a str {
    tenant
        .and_then(|t| t.company.as_deref())
        .unwrap_or(session.customer())
}

/// What a ledger entry is, in the customer's words: as recorded, else as the manifest describes
/// the artifact with that identity, else its kind.
pub fn item(entry: &LedgerEntry, manifest: &Manifest) -> String {
    if !entry.shown_as.is_empty() {
        return entry.shown_as.clone();
    }
    manifest
        .artifacts()
        .iter()
        .find(|a| a.key() == entry.key)
        .map(|a| a.describe_for_customer())
        .unwrap_or_else(|| match entry.kind.as_str() {
            "list" => "A list of the app's".into(),
            "user_defined_field" => "A field of the app's".into(),
            "web_panel" => "A panel of the app's".into(),
            "button" => "A button of the app's".into(),
            "preference" => "A setting of the app's".into(),
            "webhook" => "The app's notifications".into(),
            _ => "An item of the app's".into(),
        })
}

/// What SuperOffice says about the tenant, for a person: (headline, is it usable now).
pub fn tenant_state(state: &TenantState) -> (String, bool) {
    let until = || {
        let at = superoffice::clock::unix_seconds(state.valid_until);
        format!(" SuperOffice expects to say more at {}.", date_time(at))
    };
    match &state.status {
        TenantStatus::Running => ("SuperOffice is running normally.".into(), true),
        TenantStatus::OnlineMaintenance => (
            format!("SuperOffice is in maintenance but usable.{}", until()),
            true,
        ),
        TenantStatus::OfflineMaintenance => (
            format!(
                "SuperOffice is in maintenance and cannot be used right now; the app waits for it.{}",
                until()
            ),
            false,
        ),
        TenantStatus::Suspended => (
            "SuperOffice reports this customer as suspended; the app waits until it is resumed."
                .into(),
            false,
        ),
        TenantStatus::Deleted | TenantStatus::Deleting => (
            "SuperOffice reports this customer as being deleted.".into(),
            false,
        ),
        TenantStatus::MigrationPending => (
            format!(
                "SuperOffice is moving this customer's data; this can take a while.{}",
                until()
            ),
            false,
        ),
        other => (
            format!(
                "SuperOffice reports this customer's state as {}.{}",
                other.as_str(),
                until()
            ),
            state.is_running,
        ),
    }
}
