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

/// The app's state in a tenant, as the web panels say it to anyone who uses SuperOffice there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    Installed,
    /// Queued or installing.
    Installing,
    /// Installed, and an upgrade or repair is changing its items.
    Updating,
    /// Installed, and SuperOffice is in maintenance or suspended (the app waits for it).
    Maintenance,
    /// Never installed, only approved, removed, or deleted at SuperOffice.
    NotInstalled,
    /// The install stopped and needs an administrator.
    InstallStopped,
    /// An uninstall is running or stopped.
    Removing,
}

impl AppState {
    /// For `data-state` (tests and support), never shown.
    pub fn as_str(self) -> &'static str {
        match self {
            AppState::Installed => "installed",
            AppState::Installing => "installing",
            AppState::Updating => "updating",
            AppState::Maintenance => "maintenance",
            AppState::NotInstalled => "not_installed",
            AppState::InstallStopped => "install_stopped",
            AppState::Removing => "removing",
        }
    }
}

/// The app's state from the app's record of the tenant and, when it could be read, SuperOffice's
/// state of the tenant. Maintenance wins over an upgrade under way: while SuperOffice is in
/// maintenance the upgrade waits for it too.
pub fn app_state(tenant: Option<&Tenant>, state: Option<&TenantState>, now: i64) -> AppState {
    use domain::tenant::InstallStatus as S;
    let Some(t) = tenant.filter(|t| !t.deleted) else {
        return AppState::NotInstalled;
    };
    match t.status {
        S::Consented => AppState::NotInstalled,
        S::Queued | S::Installing => AppState::Installing,
        S::Failed => AppState::InstallStopped,
        S::Uninstalling | S::UninstallStopped => AppState::Removing,
        S::Installed
            if state.is_some_and(|s| {
                matches!(s.status, TenantStatus::Deleted | TenantStatus::Deleting)
            }) =>
        {
            AppState::NotInstalled
        }
        S::Installed => {
            let superoffice_in_maintenance = state.is_some_and(is_unavailable);
            let waiting_for_maintenance = t
                .waiting
                .as_ref()
                .is_some_and(|w| w.reason == "maintenance" && w.until >= now);
            if superoffice_in_maintenance || waiting_for_maintenance || t.suspended {
                AppState::Maintenance
            } else if t.reconciling.is_some() {
                AppState::Updating
            } else {
                AppState::Installed
            }
        }
    }
}

/// Whether SuperOffice's state of the tenant is maintenance (even usable maintenance) or anything
/// else it cannot be used in.
fn is_unavailable(state: &TenantState) -> bool {
    matches!(
        state.status,
        TenantStatus::OnlineMaintenance | TenantStatus::OfflineMaintenance
    ) || !tenant_state(state).1
}

/// What the panel says about the app's state: one sentence, in the customer's words.
pub fn app_state_sentence(
    app_state: AppState,
    app: &str,
    company: &str,
    state: Option<&TenantState>,
) -> String {
    match app_state {
        AppState::Installed => format!("{app} is installed and ready in {company}'s SuperOffice."),
        AppState::Installing => format!(
            "{app} is being installed in {company}'s SuperOffice. This page shows more once it is ready."
        ),
        AppState::Updating => format!(
            "{app} is being updated in {company}'s SuperOffice. This takes a few minutes; the app continues by itself."
        ),
        // SuperOffice's own words when its state is the cause; else (the app's work found
        // SuperOffice in maintenance, or it was suspended) the plain fact.
        AppState::Maintenance => match state.filter(|s| is_unavailable(s)).map(tenant_state) {
            Some((words, _)) => format!("{words} {app} continues when SuperOffice is back."),
            None => {
                format!("SuperOffice is in maintenance. {app} continues when SuperOffice is back.")
            }
        },
        AppState::NotInstalled => format!("{app} is not installed in {company}'s SuperOffice."),
        AppState::InstallStopped => {
            format!("Installing {app} in {company}'s SuperOffice stopped before it finished.")
        }
        AppState::Removing => format!("{app} is being removed from {company}'s SuperOffice."),
    }
}

/// Who can act on a state that needs an administrator, for someone who is not one.
pub const ADMINISTRATORS: &str = "an administrator of your SuperOffice (a user with the General Administrator or User Administrator right)";

#[cfg(test)]
mod tests {
    use super::*;
    use domain::tenant::{Goal, InstallStatus, PlatformNotes, Reconciling, Waiting};

    fn tenant(status: InstallStatus) -> Tenant {
        Tenant {
            id: superoffice::TenantId::parse("Cust12345").unwrap(),
            company: Some("Demo Company AS".into()),
            status,
            sealed_system_token: String::new(),
            sealed_webhook_secret: None,
            installed_by: "ada".into(),
            consented_at: 0,
            job_run: None,
            consent_revoked: false,
            uninstall_requested_by: None,
            waiting: None,
            problem: None,
            manifest: None,
            reconciling: None,
            suspended: false,
            deleted: false,
            platform: PlatformNotes::default(),
            updated_at: 0,
        }
    }

    #[test]
    fn the_panels_name_every_state_of_the_app() {
        use InstallStatus as S;
        let state = |t: Option<&Tenant>| app_state(t, None, 1_000);
        assert_eq!(state(None), AppState::NotInstalled);
        for (status, expected) in [
            (S::Consented, AppState::NotInstalled),
            (S::Queued, AppState::Installing),
            (S::Installing, AppState::Installing),
            (S::Installed, AppState::Installed),
            (S::Failed, AppState::InstallStopped),
            (S::Uninstalling, AppState::Removing),
            (S::UninstallStopped, AppState::Removing),
        ] {
            assert_eq!(state(Some(&tenant(status))), expected, "{status:?}");
        }
        let mut t = tenant(S::Installed);
        t.reconciling = Some(Reconciling {
            goal: Goal::Upgrade,
            asked_at: 900,
            why: "a new release".into(),
            target: None,
        });
        assert_eq!(state(Some(&t)), AppState::Updating);
        t.waiting = Some(Waiting {
            until: 1_100,
            reason: "maintenance".into(),
            detail: "OfflineMaintenance".into(),
        });
        assert_eq!(state(Some(&t)), AppState::Maintenance, "maintenance first");
        t.waiting.as_mut().unwrap().until = 900;
        assert_eq!(state(Some(&t)), AppState::Updating, "a wait that is over");
        t.suspended = true;
        assert_eq!(state(Some(&t)), AppState::Maintenance);
        t.deleted = true;
        assert_eq!(state(Some(&t)), AppState::NotInstalled);
    }

    #[test]
    fn the_panels_words_carry_no_internals() {
        for s in [
            AppState::Installed,
            AppState::Installing,
            AppState::Updating,
            AppState::Maintenance,
            AppState::NotInstalled,
            AppState::InstallStopped,
            AppState::Removing,
        ] {
            let words = app_state_sentence(s, "Demo Partner App", "Demo Company AS", None);
            assert!(words.contains("Demo Partner App"), "{words}");
            assert!(!words.contains('_') && !words.contains("Cust"), "{words}");
        }
    }
}
