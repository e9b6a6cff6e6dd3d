//! `GET /`: the start page: who is signed in, and for administrators the way to the app's install
//! and management pages.

use domain::Ports;
use http::StatusCode;
use maud::html;
use web::{WebRequest, WebResponse, pages};

use crate::{Failure, Redirect};

pub async fn show<P: Ports>(app: &Redirect<P>, req: &WebRequest) -> Result<WebResponse, Failure> {
    let now = app.now_secs();
    let Some((_, s)) = app
        .guard
        .current(req, now)
        .await
        .map_err(Failure::StoreUnavailable)?
    else {
        return Ok(web::html(
            StatusCode::OK,
            pages::layout(
                "Sign in",
                html! {
                    h1 { "Sign in" }
                    p { "Sign in with your SuperOffice account to continue." }
                    p { a.button #sign-in href="/login" { "Sign in with SuperOffice" } }
                },
            ),
        ));
    };
    let who = s.email.clone().unwrap_or_else(|| s.subject.clone());
    Ok(web::html(
        StatusCode::OK,
        pages::signed_in(
            "Signed in",
            s.csrf_token.expose(),
            s.is_administrator,
            html! {
                h1 { "Signed in" }
                dl #session {
                    dt { "User" } dd #user { (who) }
                    dt { "SuperOffice customer" } dd #tenant { (s.tenant) }
                    @if let Some(company) = &s.company {
                        dt { "Company" } dd #company { (company) }
                    }
                    dt { "Administrator" } dd #administrator { @if s.is_administrator { "yes" } @else { "no" } }
                }
                @if s.is_administrator {
                    p {
                        a.button #install href="/install" { "Install the app or see its install" }
                        " "
                        a.button #manage href="/manage" { "Manage the app" }
                    }
                } @else {
                    p { "An administrator of your SuperOffice installs and manages this app." }
                }
            },
        ),
    ))
}
