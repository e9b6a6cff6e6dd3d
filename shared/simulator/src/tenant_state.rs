//! `GET /api/state/{ctx}`: the tenant status API (no authentication, as documented).

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;
use crate::util::{clip, dotnet_utc};

pub(crate) async fn tenant_state(
    State(st): State<Arc<AppState>>,
    Path(ctx): Path<String>,
) -> Response {
    let store = st.store();
    let Some(tenant) = store.tenant(&ctx) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({
                "Error": true,
                "ErrorType": "NotFound",
                "ErrorMessage": format!("Unknown context identifier {}", clip(&ctx, 40)),
                "ErrorSource": "TenantStatus",
            })),
        )
            .into_response();
    };
    let root = st.tenant_root(tenant);
    let valid_until = tenant
        .valid_until
        .unwrap_or_else(|| SystemTime::now() + st.state_valid_for);
    Json(json!({
        "ContextIdentifier": tenant.cfg.context_id,
        "Endpoint": root,
        "State": tenant.status.as_str(),
        "IsRunning": tenant.status.is_running(),
        "ValidUntil": dotnet_utc(valid_until),
        "Api": format!("{root}/api"),
        "Version": st.lifecycle.crm_version().version_name,
    }))
    .into_response()
}
