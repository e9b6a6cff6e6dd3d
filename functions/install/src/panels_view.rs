//! The panels' pages, in the words of whoever uses SuperOffice: no ids, no URL templates, no
//! internals. Every element the panel's script or the tests look for has an id; `data-panel` says
//! which page it is (`sign-in`, `other-company`, `other-user`, `state`) and `data-state` the app's
//! state (`words::AppState::as_str`).

use domain::ledger::{EntryState, LedgerEntry};
use domain::manifest::Manifest;
use domain::signin::Session;
use domain::tenant::Tenant;
use http::StatusCode;
use maud::{Markup, html};
use superoffice::tenant_state::TenantState;
use web::{WebResponse, pages};

use crate::panels::{PanelAddress, PanelPage, SIGN_IN, script_src};
use crate::words::{self, AppState, company};

fn body_class(page: PanelPage) -> &'static str {
    match page {
        PanelPage::Contact => "panel",
        PanelPage::Home => "panel home",
    }
}

fn respond(title: &str, page: PanelPage, body: Markup) -> WebResponse {
    web::html(
        StatusCode::OK,
        pages::scripted(title, body_class(page), script_src(), body),
    )
}

/// The sign-in button and what the script may say about it. The button is a plain link that opens
/// the sign-in in a new tab (with `window.opener`, so it can still hand back), which the script
/// turns into a pop-up; the messages stay hidden until the script shows one.
fn sign_in_controls(address: &PanelAddress, label: &str) -> Markup {
    html! {
        div #panel-sign-in data-ctx=(address.tenant.as_str()) data-sign-in=(SIGN_IN) {
            p { a.button #sign-in href=(SIGN_IN) target="_blank" rel="opener" { (label) } }
            p #waiting hidden { "Finish signing in in the window that opened. This panel then shows who you are." }
            p.notice #popup-blocked hidden {
                "Your browser blocked the sign-in window. "
                a #sign-in-tab href=(SIGN_IN) target="_blank" rel="opener" { "Sign in in a new tab" }
                " instead, or allow pop-ups for this page and press Sign in again."
            }
            p.notice #sign-in-failed hidden { "Signing in did not finish. Please sign in again." }
            p.notice #signed-in-elsewhere hidden {
                "You signed in to another company. Sign in with the account you use in this SuperOffice."
            }
        }
    }
}

/// Nobody signed in to the app in this browser (or its panel cookie is blocked or gone).
pub fn sign_in(manifest: &Manifest, address: &PanelAddress, page: PanelPage) -> WebResponse {
    let app = &manifest.app.name;
    respond(
        app,
        page,
        html! {
            div #panel data-panel="sign-in" {
                h1 { (app) }
                p #sign-in-needed { "Sign in to see " (app) " here." }
                (sign_in_controls(address, "Sign in"))
                p.muted { "Signing in opens a small window with your SuperOffice sign-in. If this panel asks you to sign in every time, your browser may be set to block cookies in panels like this one." }
            }
        },
    )
}

/// Signed in to the app for another tenant than the SuperOffice showing the panel.
pub fn other_company(
    manifest: &Manifest,
    address: &PanelAddress,
    page: PanelPage,
    session: &Session,
) -> WebResponse {
    let app = &manifest.app.name;
    respond(
        app,
        page,
        html! {
            div #panel data-panel="other-company" {
                h1 { (app) }
                p.notice #other-company {
                    strong { "You are signed in to another company" }
                    " (as " (session.person()) " of " (session.customer()) "). Sign in again with the account you use in this SuperOffice."
                }
                (sign_in_controls(address, "Sign in again"))
            }
        },
    )
}

/// Signed in to the app as another user of the same tenant.
pub fn other_user(
    manifest: &Manifest,
    address: &PanelAddress,
    page: PanelPage,
    session: &Session,
) -> WebResponse {
    let app = &manifest.app.name;
    respond(
        app,
        page,
        html! {
            div #panel data-panel="other-user" {
                h1 { (app) }
                p.notice #other-user {
                    strong { "You are signed in as someone else" }
                    " (" (session.person()) "). Sign in again as yourself to see " (app) " here."
                }
                (sign_in_controls(address, "Sign in again"))
            }
        },
    )
}

/// Everything a panel page shows a signed-in person.
pub struct Facts<'a> {
    pub page: PanelPage,
    pub session: &'a Session,
    pub tenant: Option<&'a Tenant>,
    pub state: Option<&'a TenantState>,
    pub entries: &'a [LedgerEntry],
    pub manifest: &'a Manifest,
    pub now: i64,
}

/// The panel for a signed-in person of its tenant: who, which company, the app's state there, and
/// the way on to the app's own pages in a new tab.
pub fn page(f: &Facts<'_>) -> WebResponse {
    let app = &f.manifest.app.name;
    let company = company(f.session, f.tenant);
    let app_state = words::app_state(f.tenant, f.state, f.now);
    let admin = f.session.is_administrator;
    let working = matches!(
        app_state,
        AppState::Installing | AppState::Updating | AppState::Removing
    );
    let (onward, onward_label) = if admin {
        ("/manage", format!("Manage {app}"))
    } else {
        ("/", format!("Open {app}"))
    };
    let body = html! {
        @if working {
            // Follows the work by itself, as the app's own pages do.
            meta http-equiv="refresh" content="10";
        }
        div #panel data-panel="state" data-state=(app_state.as_str()) {
            h1 { (app) }
            p #who {
                "Signed in as " strong #signed-in-as { (f.session.person()) }
                " · " span #company { (company) }
            }
            p #app-state .notice[app_state != AppState::Installed] {
                (words::app_state_sentence(app_state, app, company, f.state))
            }
            (who_can_act(app_state, admin, app))
            @if f.page == PanelPage::Home {
                (home_details(f, app_state))
            }
            p {
                a #open-app href=(onward) target="_blank" rel="noopener" { (onward_label) }
                " "
                span.muted { "(opens in a new tab)" }
            }
        }
    };
    respond(app, f.page, body)
}

/// What the person can do about a state that needs an administrator.
fn who_can_act(state: AppState, admin: bool, app: &str) -> Markup {
    html! {
        @match (state, admin) {
            (AppState::NotInstalled, true) => p #who-can-install {
                "As an administrator, you can install it: "
                a #install href="/install" target="_blank" rel="noopener" { "Install " (app) }
                " (opens in a new tab)."
            },
            (AppState::NotInstalled, false) => p #who-can-install {
                "To use it, ask " (words::ADMINISTRATORS) " to install " (app) " from the SuperOffice App Store."
            },
            (AppState::InstallStopped, true) => p #who-can-install {
                a #install href="/install" target="_blank" rel="noopener" { "See why and try again" }
                " (opens in a new tab)."
            },
            (AppState::InstallStopped, false) => p #who-can-install {
                "Ask " (words::ADMINISTRATORS) " to finish the install."
            },
            _ => {}
        }
    }
}

/// The navigator button's fuller page: SuperOffice's state and what the app added.
fn home_details(f: &Facts<'_>, state: AppState) -> Markup {
    let created: Vec<&LedgerEntry> = f
        .entries
        .iter()
        .filter(|e| e.state == EntryState::Created)
        .collect();
    html! {
        h2 { "SuperOffice" }
        @match f.state {
            Some(s) => p #superoffice-state { (words::tenant_state(s).0) },
            None => p #superoffice-state { "SuperOffice's status cannot be read right now." },
        }
        @if matches!(state, AppState::Installed | AppState::Updating | AppState::Maintenance | AppState::Installing) {
            h2 { "What " (f.manifest.app.name) " added to your SuperOffice" }
            @if created.is_empty() {
                p #items-none { "Nothing yet." }
            } @else {
                ul #items {
                    @for e in &created { li { (words::item(e, f.manifest)) } }
                }
            }
        }
    }
}

/// The sign-in pop-up's last page: hands `code` to the panel that opened it (through the script)
/// and closes. Without a code (`HEAD`) it is the same page with nothing to hand.
pub fn hand_off(manifest: &Manifest, session: &Session, code: Option<&str>) -> WebResponse {
    let app = &manifest.app.name;
    web::html(
        StatusCode::OK,
        pages::scripted(
            &format!("Signed in to {app}"),
            "hand-off",
            script_src(),
            html! {
                div #handoff data-code=[code] {
                    h1 { "Signed in" }
                    p { "Signed in to " (app) " as " strong { (session.person()) } ". This window closes by itself." }
                    p.notice #no-opener hidden {
                        "This window cannot reach the panel that asked for the sign-in any more. Close it, go back to SuperOffice and press Sign in on the panel again."
                    }
                }
            },
        ),
    )
}
