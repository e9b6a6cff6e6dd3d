//! `GET|POST /login/logout` (the discovery document's `end_session_endpoint`).
//!
//! Ends the browser's sign-in session (the next authorization request shows the sign-in page again)
//! and tells the browser to forget the session cookie. A `post_logout_redirect_uri` that exactly
//! matches a redirect URI registered for some app (or for `client_id`, when given) is followed with
//! a 303 (plus `state`); anything else shows a "signed out" page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use super::session;
use crate::html::page;
use crate::state::AppState;
use crate::util::Params;

pub(crate) async fn logout(
    State(st): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let forget = session::end(&st, &headers);
    let mut resp = answer(&st, &method, query, &body);
    resp.headers_mut().append(header::SET_COOKIE, forget);
    resp
}

fn answer(st: &AppState, method: &Method, query: Option<String>, body: &[u8]) -> Response {
    let params = if *method == Method::POST {
        Params::parse(body)
    } else {
        Params::parse(query.unwrap_or_default().as_bytes())
    };
    if let Some(target) = params.get("post_logout_redirect_uri") {
        let registered = st
            .apps
            .iter()
            .filter(|a| {
                params
                    .get("client_id")
                    .is_none_or(|id| id == a.reg.client_id)
            })
            .any(|a| a.reg.redirect_uris.iter().any(|u| u == target));
        if registered && let Ok(mut url) = Url::parse(target) {
            if let Some(state) = params.get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            return Redirect::to(url.as_str()).into_response();
        }
    }
    page(
        StatusCode::OK,
        "Signed out",
        "<h1>Signed out</h1>\n<p id=\"signed-out\">You are signed out of SuperOffice.</p>",
        None,
    )
}
