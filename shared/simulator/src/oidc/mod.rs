//! SuperID's OpenID Connect provider: discovery, JWKS, authorize (sign-in + consent), the sign-in
//! session (single sign-on), tokens, revocation and logout.

pub(crate) mod authorize;
pub(crate) mod discovery;
pub(crate) mod logout;
pub(crate) mod session;
pub(crate) mod token;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An RFC 6749 §5.2 error response (also used by the revocation endpoint).
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    no_store(&mut resp);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"SuperOffice simulator\""),
        );
    }
    resp
}

pub(crate) fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
