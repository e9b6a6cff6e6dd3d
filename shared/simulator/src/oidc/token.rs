//! `POST /login/common/oauth/tokens` (authorization_code, refresh_token) and
//! `POST /login/common/oauth/Revoke`.

use std::sync::Arc;
use std::time::Instant;

use aws_lc_rs::digest;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::authorize::is_pkce_string;
use super::{no_store, oauth_error};
use crate::CLAIM_PREFIX;
use crate::state::{ACCESS_TOKEN_LIFETIME, AccessGrant, App, AppState, Grant, PkceMethod};
use crate::util::{Params, b64std, b64std_decode, b64url, random_alnum, random_bytes, unix_now};

/// The id_token lifetime seen in SuperOffice's examples and real tokens: `exp = iat + 300`.
const ID_TOKEN_LIFETIME_SECS: i64 = 300;
/// `nbf = iat - 60`, as in the examples.
const NOT_BEFORE_SKEW_SECS: i64 = 60;

struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl TokenError {
    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }

    fn client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }

    fn into_response(self) -> Response {
        oauth_error(self.status, self.error, &self.description)
    }
}

pub(crate) async fn token(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_inner(&st, &headers, &body) {
        Ok(v) => {
            let mut resp = (StatusCode::OK, Json(v)).into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => e.into_response(),
    }
}

fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, TokenError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(TokenError::bad(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body);
    if let Some(name) = &params.repeated {
        return Err(TokenError::bad(
            "invalid_request",
            format!("parameter {name} was given more than once"),
        ));
    }
    Ok(params)
}

/// Client authentication: `client_secret_basic` or `client_secret_post`, not both.
fn authenticate<'a>(
    st: &'a AppState,
    headers: &HeaderMap,
    p: &Params,
) -> Result<&'a App, TokenError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v.to_str().unwrap_or_default();
            match v.split_once(' ') {
                Some((scheme, cred)) if scheme.eq_ignore_ascii_case("basic") => {
                    let decoded = b64std_decode(cred.trim())
                        .and_then(|d| String::from_utf8(d).ok())
                        .ok_or_else(|| TokenError::client("malformed Basic credentials"))?;
                    let (id, secret) = decoded
                        .split_once(':')
                        .ok_or_else(|| TokenError::client("malformed Basic credentials"))?;
                    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
                    let unescape = |s: &str| {
                        url::form_urlencoded::parse(format!("x={s}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    Some((unescape(id), unescape(secret)))
                }
                _ => {
                    return Err(TokenError::client(
                        "unsupported Authorization scheme (use Basic or client_secret in the body)",
                    ));
                }
            }
        }
    };
    let (client_id, secret) = match (basic, p.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(TokenError::bad(
                "invalid_request",
                "use only one client authentication method",
            ));
        }
        (Some((id, secret)), None) => {
            if p.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(TokenError::bad(
                    "invalid_request",
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            (id, secret)
        }
        (None, Some(secret)) => (
            p.get("client_id").unwrap_or_default().to_owned(),
            secret.to_owned(),
        ),
        (None, None) => return Err(TokenError::client("client authentication is required")),
    };
    let app = st
        .app(&client_id)
        .ok_or_else(|| TokenError::client("unknown client"))?;
    if !crate::state::constant_time_eq(app.reg.client_secret.as_bytes(), secret.as_bytes()) {
        return Err(TokenError::client("wrong client secret"));
    }
    Ok(app)
}

fn token_inner(st: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, TokenError> {
    let p = form_params(headers, body)?;
    let grant_type = p
        .get("grant_type")
        .ok_or_else(|| TokenError::bad("invalid_request", "grant_type is required"))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(TokenError::bad(
            "unsupported_grant_type",
            "supported grant types: authorization_code, refresh_token",
        ));
    }
    let app = authenticate(st, headers, &p)?;
    match grant_type {
        "authorization_code" => authorization_code(st, app, &p),
        _ => refresh(st, app, &p),
    }
}

fn authorization_code(st: &AppState, app: &App, p: &Params) -> Result<Value, TokenError> {
    let code = p
        .get("code")
        .ok_or_else(|| TokenError::bad("invalid_request", "code is required"))?;
    let client_id = &app.reg.client_id;
    let issued = {
        let mut store = st.store();
        store.prune(st.code_lifetime);
        let Some(entry) = store.codes.get_mut(code) else {
            return Err(TokenError::bad("invalid_grant", "unknown or expired code"));
        };
        if &entry.client_id != client_id {
            return Err(TokenError::bad(
                "invalid_grant",
                "the code was issued to another client",
            ));
        }
        if entry.used {
            // A replayed code: refuse, and revoke what the first redemption produced.
            let rt = entry.refresh_token.take();
            if let Some(rt) = rt {
                store.refresh_tokens.remove(&rt);
                store
                    .access_tokens
                    .retain(|_, a| a.refresh_token.as_deref() != Some(rt.as_str()));
            }
            return Err(TokenError::bad(
                "invalid_grant",
                "the code has already been used",
            ));
        }
        // Single use: any redemption attempt by its client consumes it, successful or not.
        entry.used = true;
        entry.clone()
    };
    if issued.issued.elapsed() > st.code_lifetime {
        return Err(TokenError::bad("invalid_grant", "the code has expired"));
    }
    match p.get("redirect_uri") {
        Some(uri) if uri == issued.redirect_uri => {}
        Some(_) => {
            return Err(TokenError::bad(
                "invalid_grant",
                "redirect_uri differs from the authorization request",
            ));
        }
        None => {
            return Err(TokenError::bad(
                "invalid_grant",
                "redirect_uri is required and must equal the authorization request's",
            ));
        }
    }
    match (&issued.code_challenge, p.get("code_verifier")) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(TokenError::bad(
                "invalid_grant",
                "code_verifier sent, but the authorization request had no code_challenge",
            ));
        }
        (Some(_), None) => {
            return Err(TokenError::bad(
                "invalid_grant",
                "code_verifier is required",
            ));
        }
        (Some((challenge, method)), Some(verifier)) => {
            let ok = is_pkce_string(verifier)
                && match method {
                    PkceMethod::Plain => verifier == challenge,
                    PkceMethod::S256 => {
                        let d = digest::digest(&digest::SHA256, verifier.as_bytes());
                        b64url(d.as_ref()) == *challenge
                    }
                };
            if !ok {
                return Err(TokenError::bad(
                    "invalid_grant",
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
    }
    let grant = Grant {
        client_id: client_id.clone(),
        ctx: issued.ctx.clone(),
        email: issued.email.clone(),
    };
    if !st.store().has_consent(&grant.ctx, client_id) {
        return Err(TokenError::bad(
            "invalid_grant",
            "the tenant's approval of this application was revoked",
        ));
    }
    let refresh_token = random_alnum(64);
    let mut response = issue_tokens(
        st,
        app,
        &grant,
        IdTokenExtras {
            nonce: issued.nonce.as_deref(),
            auth_time: issued.auth_time,
        },
        Some(&refresh_token),
    )?;
    {
        let mut store = st.store();
        store.refresh_tokens.insert(refresh_token.clone(), grant);
        if let Some(c) = store.codes.get_mut(code) {
            c.refresh_token = Some(refresh_token.clone());
        }
    }
    if let Some(obj) = response.as_object_mut() {
        obj.insert("refresh_token".into(), Value::String(refresh_token));
    }
    Ok(response)
}

fn refresh(st: &AppState, app: &App, p: &Params) -> Result<Value, TokenError> {
    let rt = p
        .get("refresh_token")
        .ok_or_else(|| TokenError::bad("invalid_request", "refresh_token is required"))?;
    let grant = {
        let store = st.store();
        let grant = store
            .refresh_tokens
            .get(rt)
            .filter(|g| g.client_id == app.reg.client_id)
            .cloned()
            .ok_or_else(|| TokenError::bad("invalid_grant", "unknown or revoked refresh token"))?;
        if !store.has_consent(&grant.ctx, &grant.client_id) {
            return Err(TokenError::bad(
                "invalid_grant",
                "the tenant's approval of this application was revoked",
            ));
        }
        grant
    };
    // As documented: a new access token and id_token, no new refresh token.
    issue_tokens(st, app, &grant, IdTokenExtras::default(), Some(rt))
}

/// The id_token claims that come from the sign-in rather than the grant.
#[derive(Debug, Clone, Copy, Default)]
struct IdTokenExtras<'a> {
    nonce: Option<&'a str>,
    auth_time: Option<i64>,
}

/// Access token + id_token for a grant; records the access token for the WebAPI.
fn issue_tokens(
    st: &AppState,
    app: &App,
    grant: &Grant,
    extras: IdTokenExtras<'_>,
    refresh_token: Option<&str>,
) -> Result<Value, TokenError> {
    let id_token = id_token(st, app, grant, extras)?;
    let access_token = format!("8A:{}.{}", grant.ctx, b64std(&random_bytes(120)));
    st.store().access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            grant: grant.clone(),
            refresh_token: refresh_token.map(str::to_owned),
            expires: Instant::now() + ACCESS_TOKEN_LIFETIME,
        },
    );
    Ok(json!({
        "token_type": "Bearer",
        "access_token": access_token,
        "expires_in": ACCESS_TOKEN_LIFETIME.as_secs(),
        "id_token": id_token,
    }))
}

fn server_error(what: &str) -> TokenError {
    TokenError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: what.to_owned(),
    }
}

/// The id_token claims as SuperOffice issues them (see `vendor/id-token-claims-example.json`);
/// every SuperOffice claim is a string, `iat` is a number as in real tokens.
fn id_token(
    st: &AppState,
    app: &App,
    grant: &Grant,
    extras: IdTokenExtras<'_>,
) -> Result<String, TokenError> {
    let mut claims = Map::new();
    {
        let store = st.store();
        let (tenant, user) = store
            .user(&grant.ctx, &grant.email)
            .ok_or_else(|| TokenError::bad("invalid_grant", "the user no longer exists"))?;
        let ctx = &tenant.cfg.context_id;
        let tenant_base = st.tenant_root(tenant);
        let now = unix_now();
        let mut put = |k: &str, v: Value| {
            claims.insert(k.to_owned(), v);
        };
        put("sub", json!(user.email));
        put("iss", json!(st.issuer()));
        put("aud", json!(app.reg.client_id));
        put("iat", json!(now));
        put("nbf", json!(now - NOT_BEFORE_SKEW_SECS));
        put("exp", json!(now + ID_TOKEN_LIFETIME_SECS));
        if let Some(nonce) = extras.nonce {
            put("nonce", json!(nonce));
        }
        if let Some(auth_time) = extras.auth_time {
            put("auth_time", json!(auth_time));
        }
        let mut so = |k: &str, v: String| {
            claims.insert(format!("{CLAIM_PREFIX}{k}"), Value::String(v));
        };
        so("associateid", user.associate_id.to_string());
        so("identityprovider", "central-superid".into());
        so("email", user.email.clone());
        so("upn", user.email.clone());
        so(
            "is_administrator",
            if user.is_administrator {
                "True"
            } else {
                "False"
            }
            .into(),
        );
        so("ctx", ctx.clone());
        so("company_name", tenant.cfg.company_name.clone());
        so("serial", tenant.cfg.serial.clone());
        so("initials", user.initials.clone());
        so("so_primary_email_address", user.email.clone());
        so("netserver_url", format!("{tenant_base}/Remote/Services88/"));
        so("webapi_url", format!("{tenant_base}/api/"));
        if app.system_user_key.is_some()
            && let Some(t) = store
                .system_tokens
                .get(&(ctx.clone(), app.reg.client_id.clone()))
        {
            so("system_token", t.clone());
        }
    }
    st.current_key()
        .issue(&Value::Object(claims))
        .map_err(|_| server_error("signing failed"))
}

/// RFC 7009 token revocation. Revoking a refresh token also revokes the access tokens issued from
/// it; unknown tokens are answered 200 as the RFC says.
pub(crate) async fn revoke(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let p = form_params(&headers, &body)?;
        let app = authenticate(&st, &headers, &p)?;
        let token = p
            .get("token")
            .ok_or_else(|| TokenError::bad("invalid_request", "token is required"))?;
        let mut store = st.store();
        let owned_refresh = store
            .refresh_tokens
            .get(token)
            .is_some_and(|g| g.client_id == app.reg.client_id);
        if owned_refresh {
            store.refresh_tokens.remove(token);
            store
                .access_tokens
                .retain(|_, a| a.refresh_token.as_deref() != Some(token));
        }
        let owned_access = store
            .access_tokens
            .get(token)
            .is_some_and(|a| a.grant.client_id == app.reg.client_id);
        if owned_access {
            store.access_tokens.remove(token);
        }
        Ok::<(), TokenError>(())
    })();
    match result {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => e.into_response(),
    }
}
