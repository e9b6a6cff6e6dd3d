//! `GET /api/v1/User/currentPrincipal`: a small `SoPrincipalCarrier` for the caller.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

use super::{Caller, Identity, error};
use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/User/currentPrincipal", get(current_principal))
}

async fn current_principal(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let store = st.store();
    match &caller.identity {
        Identity::SystemUser { associate_id } => Json(json!({
            "UserType": "SystemAssociate",
            "Associate": "SystemUser",
            "AssociateId": associate_id,
            "IsPerson": false,
            "PersonId": 0,
            "ContactId": 0,
            "GroupId": 0,
            "RoleType": "System",
            "FullName": "System User",
            "EMailAddress": "",
            "FunctionRights": [],
            "Licenses": [],
            "SecondaryGroups": [],
            "DatabaseContextIdentifier": caller.ctx,
            "UserName": format!("system.user@{}", caller.ctx),
        }))
        .into_response(),
        Identity::User { email } => {
            let Some((_, user)) = store.user(&caller.ctx, email) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "The signed-in user no longer exists",
                    "/api/v1/User/currentPrincipal",
                );
            };
            Json(json!({
                "UserType": "InternalAssociate",
                "Associate": user.initials,
                "AssociateId": user.associate_id,
                "IsPerson": true,
                "PersonId": user.associate_id,
                "ContactId": 1,
                "GroupId": 1,
                "RoleType": "Employee",
                "FullName": user.full_name(),
                "EMailAddress": user.email,
                "FunctionRights": [],
                "Licenses": [],
                "SecondaryGroups": [],
                "DatabaseContextIdentifier": caller.ctx,
                "UserName": user.email,
            }))
            .into_response()
        }
    }
}
