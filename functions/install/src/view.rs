//! The install pages.

use domain::ledger::{EntryState, LedgerEntry};
use domain::manifest::Manifest;
use domain::signin::Session;
use domain::tenant::{InstallStatus, Tenant};
use http::StatusCode;
use maud::{Markup, html};
use web::{WebResponse, pages};

use crate::words::{self, company};

pub fn confirm(session: &Session, tenant: &Tenant, manifest: &Manifest) -> WebResponse {
    let failed = tenant.status == InstallStatus::Failed;
    web::html(
        StatusCode::OK,
        pages::signed_in(
            "Install",
            session.csrf_token.expose(),
            true,
            html! {
                h1 { "Install " (manifest.app.name) }
                p { "Into " strong { (company(session, Some(tenant))) } "'s SuperOffice. The app will create:" }
                ul #plan {
                    @for a in manifest.artifacts() { li { (a.describe_for_customer()) } }
                }
                p { "You can see and remove all of it later on the app's management page." }
                @if failed {
                    p.notice #problem { (tenant.problem.clone().unwrap_or_default()) }
                }
                form method="post" action="/install" {
                    input type="hidden" name="csrf" value=(session.csrf_token.expose());
                    button #install type="submit" { @if failed { "Try again" } @else { "Install" } }
                }
            },
        ),
    )
}

pub fn no_system_token(session: &Session) -> WebResponse {
    web::html(
        StatusCode::OK,
        pages::signed_in(
            "Install",
            session.csrf_token.expose(),
            true,
            html! {
                h1 { "The app needs your approval" }
                p { "SuperOffice did not give this app access to " (session.customer()) " yet. Sign in again and approve the app when SuperOffice asks." }
                p { a.button #sign-in href=(crate::sign_in_url("/install")) { "Sign in and approve" } }
            },
        ),
    )
}

fn created(entries: &[LedgerEntry]) -> impl Iterator<Item = &LedgerEntry> {
    entries.iter().filter(|e| e.state == EntryState::Created)
}

/// What the app created, in the customer's words.
pub fn items(entries: &[LedgerEntry], manifest: &Manifest) -> Markup {
    html! {
        ul #items {
            @for e in created(entries) {
                li { (words::item(e, manifest)) }
            }
        }
    }
}

pub fn status(
    session: &Session,
    tenant: &Tenant,
    entries: &[LedgerEntry],
    manifest: &Manifest,
    total: usize,
    now: i64,
) -> WebResponse {
    let finished = matches!(
        tenant.status,
        InstallStatus::Installed | InstallStatus::Failed
    );
    let headline = match tenant.status {
        InstallStatus::Consented => "Not installed yet",
        InstallStatus::Queued => "The install is about to start",
        InstallStatus::Installing => "Installing",
        InstallStatus::Installed => "Installed",
        InstallStatus::Failed => "The install stopped",
        InstallStatus::Uninstalling | InstallStatus::UninstallStopped => "The app is being removed",
    };
    let waiting = tenant
        .waiting
        .as_ref()
        .filter(|w| w.until >= now - 60 && !finished);
    let body = html! {
        @if !finished {
            // Refreshes itself while work is going on; the page never waits on SuperOffice.
            meta http-equiv="refresh" content="3";
        }
        h1 #status data-status=(tenant.status.as_str()) { (headline) }
        p { "In " (company(session, Some(tenant))) "'s SuperOffice." }
        @if tenant.status != InstallStatus::Consented {
            p #progress { (created(entries).count()) " of " (total) " items created" }
        }
        @if let Some(w) = waiting {
            p.notice #waiting data-reason=(w.reason) {
                @match w.reason.as_str() {
                    "throttled" => { "SuperOffice asked the app to slow down. " }
                    "maintenance" => { "SuperOffice is in maintenance. " }
                    "continuing" | "publishing" => { "The install is taking a short break. " }
                    _ => { "SuperOffice did not answer. " }
                }
                "The install continues at " span #continue-at { (words::time_of_day(w.until)) } "."
            }
        }
        @if let Some(problem) = &tenant.problem {
            p.notice #problem { (problem) }
            p { a.button href="/install" { "Try again" } " " a href=(crate::sign_in_url("/install")) { "Sign in again" } }
        }
        @if tenant.status == InstallStatus::Installed {
            p { "The app is ready. These items were created in SuperOffice:" }
        }
        @if !entries.is_empty() { (items(entries, manifest)) }
        p { a #to-manage href="/manage" { "Manage the app" } " · " a href="/" { "Start page" } }
    };
    web::html(
        StatusCode::OK,
        pages::signed_in("Install status", session.csrf_token.expose(), true, body),
    )
}
