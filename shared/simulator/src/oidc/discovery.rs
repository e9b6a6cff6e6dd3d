//! `GET /login/.well-known/openid-configuration` and `GET /login/.well-known/jwks`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::routes::{AUTHORIZE_PATH, JWKS_PATH, LOGOUT_PATH, REVOKE_PATH, TOKEN_PATH};
use crate::state::AppState;

/// The discovery document, shaped like SOD's. The `*_supported` lists name what the simulator
/// implements; real SuperID also lists `fragment`, `implicit` and the `id_token`/`token` response
/// types of the deprecated implicit and hybrid flows.
pub(crate) async fn openid_configuration(State(st): State<Arc<AppState>>) -> Json<Value> {
    let base = &st.base;
    Json(json!({
        "issuer": st.issuer(),
        "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "end_session_endpoint": format!("{base}{LOGOUT_PATH}"),
        "revocation_endpoint": format!("{base}{REVOKE_PATH}"),
        "scopes_supported": ["openid"],
        "response_modes_supported": ["form_post", "query"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["plain", "S256"],
    }))
}

pub(crate) async fn jwks(State(st): State<Arc<AppState>>) -> Json<Value> {
    let keys: Vec<Value> = st.published_keys().iter().map(|k| k.jwk()).collect();
    Json(json!({ "keys": keys }))
}
