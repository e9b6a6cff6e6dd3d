//! `GET|POST /login/logout` (the discovery document's `end_session_endpoint`).
//!
//! The simulator keeps no sign-in session, so there is nothing to end. A `post_logout_redirect_uri`
//! that exactly matches a redirect URI registered for some app (or for `client_id`, when given) is
//! followed with a 303 (plus `state`); anything else shows a "signed out" page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use crate::html::page;
use crate::state::AppState;
use crate::util::Params;

pub(crate) async fn logout(
    State(st): State<Arc<AppState>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = if method == Method::POST {
        Params::parse(&body)
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
