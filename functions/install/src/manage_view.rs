//! The management pages, in the customer's words.

use domain::audit::AuditRecord;
use domain::backup::LastBackup;
use domain::ledger::{EntryState, LedgerEntry};
use domain::manifest::Manifest;
use domain::signin::Session;
use domain::tenant::{Goal, InstallStatus, Tenant};
use http::StatusCode;
use maud::{Markup, html};
use superoffice::tenant_state::TenantState;
use superoffice::usage::TenantUsage;
use web::{WebResponse, pages};

use crate::manage::still_there;
use crate::words::{self, company};

/// Everything the management page shows.
pub struct Overview<'a> {
    pub session: &'a Session,
    pub tenant: Option<&'a Tenant>,
    pub entries: &'a [LedgerEntry],
    pub manifest: &'a Manifest,
    pub state: Option<&'a TenantState>,
    /// Newest day first.
    pub usage: &'a [(String, TenantUsage)],
    /// The last uninstall, when the app is not installed.
    pub removed: Option<&'a AuditRecord>,
    /// The tenant's entry in the newest complete backup.
    pub last_backup: Option<&'a LastBackup>,
    pub now: i64,
}

fn app_store_steps(app: &str) -> Markup {
    html! {
        p #withdraw-access {
            "To finish, withdraw the app's access in SuperOffice too: open the App Store, go to "
            strong { "Installed apps" } ", choose " strong { (app) } " and press "
            strong { "Uninstall" } ". The App Store's Uninstall takes away the app's access; it does not "
            "remove the app's items, which is why this page does that first."
        }
    }
}

fn approve_again(o: &Overview<'_>) -> Markup {
    html! {
        div.notice #consent-revoked {
            p {
                "SuperOffice no longer gives " (o.manifest.app.name) " access to "
                (company(o.session, o.tenant)) "'s SuperOffice: its approval was withdrawn in the App Store."
            }
            p {
                "To go on, approve the app again: "
                a #approve-again href=(crate::sign_in_url("/manage")) { "sign in and approve" }
                " when SuperOffice asks. Removing the app's items from SuperOffice needs this approval too; "
                "without it they stay where they are."
            }
        }
    }
}

pub fn page(o: &Overview<'_>) -> WebResponse {
    let app = &o.manifest.app.name;
    let status = o.tenant.map(|t| t.status);
    let working = matches!(
        status,
        Some(InstallStatus::Queued | InstallStatus::Installing | InstallStatus::Uninstalling)
    ) || o
        .tenant
        .is_some_and(|t| t.reconciling.is_some() && !t.suspended);
    let body = html! {
        @if working {
            // Follows the work by itself; the page never waits on SuperOffice.
            meta http-equiv="refresh" content="3";
        }
        h1 { "Manage " (app) }
        p { "In " strong { (company(o.session, o.tenant)) } "'s SuperOffice." }

        h2 { "SuperOffice" }
        @match o.state {
            Some(state) => {
                @let (words, usable) = words::tenant_state(state);
                p #superoffice-state .notice[!usable] data-running=(usable) { (words) }
            }
            None => p #superoffice-state { "SuperOffice's status cannot be read right now; the page shows what the app knows." }
        }

        h2 { "The app" }
        @match o.tenant {
            None => {
                @if let Some(r) = o.removed {
                    p #install-status data-status="uninstalled" {
                        "The app was removed on " (words::date_time(r.at)) ". Everything it created in "
                        "SuperOffice and everything it kept for your company is gone."
                    }
                    (app_store_steps(app))
                    p { a.button #install-again href="/install" { "Install the app again" } }
                } @else {
                    p #install-status data-status="not_installed" { "The app is not installed." }
                    p { a.button #install href="/install" { "Install the app" } }
                }
            }
            Some(t) => {
                (status_section(o, t))
            }
        }

        @if o.tenant.is_some() {
            h2 { "What the app created in SuperOffice" }
            @let created: Vec<&LedgerEntry> = o.entries.iter().filter(|e| e.state == EntryState::Created).collect();
            @if created.is_empty() {
                p #items-none { "Nothing yet." }
            } @else {
                ul #items {
                    @for e in &created { li { (words::item(e, o.manifest)) } }
                }
            }
        }

        h2 { "The app's use of SuperOffice" }
        @if o.usage.is_empty() {
            p #usage-none { "No calls to SuperOffice recorded yet." }
        } @else {
            table #usage {
                thead { tr { th { "Day" } th.num { "Calls" } th.num { "Data received" } th.num { "Slowed down by SuperOffice" } } }
                tbody {
                    @for (day, u) in o.usage {
                        tr {
                            td { (day) }
                            td.num { (u.calls) }
                            td.num { (kib(u.bytes_received)) }
                            td.num { (u.throttles) }
                        }
                    }
                }
            }
        }

        @if o.tenant.is_some() {
            h2 { "Backups" }
            @match o.last_backup {
                Some(b) => p #last-backup data-completed=(b.completed_at) {
                    "What the app keeps for your company (" (b.items) " records: settings, what it created, usage) "
                    "was last backed up, encrypted, on " (words::date_time(b.completed_at)) ". "
                    @match b.verified_at {
                        Some(at) => { "That backup was read back and checked complete on " (words::date_time(at)) "." }
                        None => { "That backup has not been read back and checked yet; the app does so within hours." }
                    }
                    " Uninstalling makes every backup of your company's data unreadable at once."
                },
                None => p #last-backup { "Not backed up yet: the app backs up what it keeps once a day, encrypted." }
            }
        }

        @if let Some(t) = o.tenant {
            @if !t.status.is_uninstall() && !t.consent_revoked {
                h2 { "Uninstall" }
                p { "Removes everything the app created in SuperOffice and everything it keeps for your company. You will see exactly what before anything is removed." }
                p { a.button.danger #uninstall href="/manage/uninstall" { "Uninstall…" } }
            }
        }

        p { a href="/" { "Start page" } " · " a href="/install/status" { "Install status" } }
        // The release the customer's support conversation is about (also on every log line).
        footer.reference #app-version { (app) " · version " (telemetry::VERSION) }
    };
    web::html(
        StatusCode::OK,
        pages::signed_in(
            &format!("Manage {app}"),
            o.session.csrf_token.expose(),
            true,
            body,
        ),
    )
}

/// A release's version label, if the manifest has one ("unversioned" is its word for none).
fn release(version: &str) -> Option<&str> {
    (version != "unversioned").then_some(version)
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn kib(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

fn status_section(o: &Overview<'_>, t: &Tenant) -> Markup {
    let left = still_there(o.entries);
    let waiting = t.waiting.as_ref().filter(|w| w.until >= o.now - 60);
    html! {
        @match t.status {
            InstallStatus::Consented => p #install-status data-status="consented" { "You approved the app; it is not installed yet. " a href="/install" { "Install it" } },
            InstallStatus::Queued | InstallStatus::Installing => p #install-status data-status=(t.status.as_str()) { "The app is being installed. " a href="/install/status" { "Follow the install" } },
            InstallStatus::Installed => p #install-status data-status="installed" { "The app is installed and ready." },
            InstallStatus::Failed => p #install-status data-status="failed" { "The install stopped. " a href="/install" { "See why and try again" } },
            InstallStatus::Uninstalling => p #install-status data-status="uninstalling" {
                "The app is being removed: " span #left { (left) } " of its items are still in SuperOffice."
            },
            InstallStatus::UninstallStopped => p #install-status data-status="uninstall_stopped" {
                "Removing the app stopped: " (left) " of its items are still in SuperOffice."
            },
        }
        @if let Some(w) = waiting {
            p.notice #waiting data-reason=(w.reason) {
                @match w.reason.as_str() {
                    "throttled" => { "SuperOffice asked the app to slow down. " }
                    "maintenance" => { "SuperOffice is in maintenance. " }
                    "continuing" | "publishing" => { "The work is taking a short break. " }
                    _ => { "SuperOffice did not answer. " }
                }
                "It continues at " span #continue-at { (words::time_of_day(w.until)) } "."
            }
        }
        @if t.status == InstallStatus::Installed {
            @if let Some(m) = &t.manifest {
                p #app-version data-version=(m.version) {
                    "Its items are those of the app's "
                    @if let Some(v) = release(&m.version) { "release " strong { (v) } } @else { "current release" }
                    ", set up on " (words::date_time(m.at)) "."
                }
            }
        }
        @if let Some(r) = &t.reconciling {
            p.notice #updating data-goal=(r.goal.as_str()) {
                @match r.goal {
                    Goal::Upgrade => {
                        "The app's items are being brought up to its new release"
                        @if let Some(v) = release(o.manifest.version_label()) { " " strong { (v) } }
                        " (asked for on "
                        (words::date_time(r.asked_at)) "). Nothing is needed from you."
                    }
                    Goal::Repair => {
                        "The app is checking its items in your SuperOffice and putting back what is "
                        "missing or changed, because " (lowercase_first(&r.why)) " (on "
                        (words::date_time(r.asked_at)) "). Nothing is needed from you."
                    }
                }
            }
        }
        @if t.suspended {
            p.notice #suspended {
                "SuperOffice has suspended your company's SuperOffice. The app's work waits and "
                "continues when SuperOffice makes it available again."
            }
        }
        @if t.consent_revoked {
            (approve_again(o))
        }
        @if let Some(problem) = &t.problem {
            @if !t.consent_revoked {
                p.notice #problem { (problem) }
            }
        }
        @if t.status == InstallStatus::UninstallStopped && !t.consent_revoked {
            (uninstall_form(o.session, "Try again"))
        }
    }
}

/// The form that queues the uninstall (it comes only from a page that said what will be removed).
fn uninstall_form(session: &Session, label: &str) -> Markup {
    html! {
        form method="post" action="/manage/uninstall" {
            input type="hidden" name="csrf" value=(session.csrf_token.expose());
            input type="hidden" name="confirm" value="yes";
            button.danger #confirm-uninstall type="submit" { (label) }
        }
    }
}

pub fn confirm_uninstall(
    session: &Session,
    tenant: &Tenant,
    entries: &[LedgerEntry],
    manifest: &Manifest,
) -> WebResponse {
    let app = &manifest.app.name;
    let in_superoffice: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| matches!(e.state, EntryState::Created | EntryState::Intent))
        .collect();
    let body = html! {
        h1 { "Uninstall " (app) "?" }
        p { "From " strong { (company(session, Some(tenant))) } "'s SuperOffice." }
        h2 { "Removed from SuperOffice" }
        @if in_superoffice.is_empty() {
            p #remove-none { "Nothing: the app has not created anything yet." }
        } @else {
            ul #remove-items {
                @for e in &in_superoffice { li { (words::item(e, manifest)) } }
            }
            p { "What your users entered in the app's fields is removed with the fields." }
        }
        h2 { "Deleted from the app" }
        ul #remove-data {
            li { "The app's record of your company, including its access to your SuperOffice" }
            li { "The list of what it created, and its use of SuperOffice by day" }
            li { "The notifications it received from SuperOffice" }
            li { "Everyone's sign-ins to the app (you will be signed out)" }
        }
        p { "The app keeps one note that it was removed, when, and that an administrator asked for it (no name or e-mail), for 13 months. Installing again later starts from scratch." }
        (uninstall_form(session, "Uninstall"))
        p { a #cancel href="/manage" { "Cancel" } }
    };
    web::html(
        StatusCode::OK,
        pages::signed_in(
            &format!("Uninstall {app}"),
            session.csrf_token.expose(),
            true,
            body,
        ),
    )
}
