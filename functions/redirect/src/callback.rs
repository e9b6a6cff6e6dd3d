//! `GET|POST /callback`: finish a sign-in exactly once and start a session.
//!
//! SuperOffice answers with `response_mode=form_post`: a cross-site POST that carries no
//! `SameSite=Lax` cookie, which is why the sign-in state lives on the server (taken once here) and
//! the browser binding is a `SameSite=None` cookie.

use domain::Ports;
use domain::sealing::Sealer;
use domain::secrets::SecretSource;
use domain::signin::{Intent, Session};
use domain::store::secret_key;
use domain::tenant::Consent;
use http::Method;
use superoffice::jwt::TokenError;
use superoffice::oidc::{self, CodeExchange, OidcError};
use superoffice::{Secret, TenantId};
use web::{RequestContext, WebRequest, WebResponse, cookies};

use crate::{Failure, Redirect};

pub async fn finish<P: Ports>(
    app: &Redirect<P>,
    req: &WebRequest,
    ctx: &RequestContext,
) -> Result<WebResponse, Failure> {
    let params = if req.method() == Method::POST {
        web::form_pairs(req).ok_or(Failure::BadRequest {
            reason: "callback_body_not_a_form",
        })?
    } else {
        web::query_pairs(req)
    };
    let one = |name: &'static str| {
        web::single(&params, name).map_err(|_| Failure::ParameterRepeated(name))
    };
    let state = one("state")?;
    let code = one("code")?;
    let error = one("error")?;
    let now = app.now_secs();

    if let Some(error) = error {
        // Spend the state so the same answer cannot be replayed, then say what happened.
        if let Some(state) = state {
            app.sign_ins
                .finish(state, now)
                .await
                .map_err(Failure::StoreUnavailable)?;
        }
        return Err(Failure::SignInRefused {
            error: error.chars().take(64).collect(),
        });
    }
    let state = state.ok_or(Failure::StateMissing)?;
    let pending = app
        .sign_ins
        .finish(state, now)
        .await
        .map_err(Failure::StoreUnavailable)?
        .ok_or(Failure::StateUnknown)?;
    let binding = cookies::get(req, cookies::SIGN_IN)
        .map(secret_key)
        .unwrap_or_default();
    if aws_lc_rs::constant_time::verify_slices_are_equal(
        binding.as_bytes(),
        pending.browser_binding.as_bytes(),
    )
    .is_err()
    {
        return Err(Failure::BrowserMismatch);
    }
    let code = code.ok_or(Failure::CodeMissing)?;

    let discovery = app
        .so
        .discovery()
        .await
        .map_err(|_| Failure::SuperOfficeUnavailable { cause: "discovery" })?;
    let client_secret = app
        .secrets
        .load(&app.config.client_secret)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the client secret cannot be read");
            Failure::SecretUnavailable
        })?;
    let tokens = oidc::exchange_code(
        &**app.so.transport(),
        CodeExchange {
            token_endpoint: &discovery.token_endpoint,
            client_id: &app.config.client_id,
            client_secret: &client_secret,
            code,
            redirect_uri: &app.config.redirect_uri(),
            code_verifier: &pending.code_verifier,
            timeout: app.so.config().timeouts.token,
        },
    )
    .await
    .map_err(|e| match e {
        OidcError::Rejected { error, .. } => Failure::CodeRejected { error },
        OidcError::ClientRejected => Failure::ClientRejected,
        other => Failure::SuperOfficeUnavailable {
            cause: other.code(),
        },
    })?;
    let id_token = tokens.id_token.ok_or(Failure::TokenInvalid {
        reason: "no_id_token",
    })?;

    let validator = app
        .so
        .id_token_validator()
        .await
        .map_err(|_| Failure::SuperOfficeUnavailable { cause: "discovery" })?;
    let token = validator
        .validate(id_token.expose(), Some(&pending.nonce))
        .await
        .map_err(|e| match e {
            TokenError::Invalid(reason) => Failure::TokenInvalid {
                reason: reason.code(),
            },
            TokenError::KeysUnavailable(k) => Failure::SuperOfficeUnavailable { cause: k.code() },
        })?;
    let so = &token.superoffice;
    let tenant = so.tenant.clone().ok_or(Failure::NoTenant)?;

    if pending.intent == Intent::Install {
        record_consent(app, &token, &tenant, now, ctx).await?;
    }

    let session_id = oidc::random_token().map_err(|_| Failure::SuperOfficeUnavailable {
        cause: "randomness",
    })?;
    let csrf = oidc::random_token().map_err(|_| Failure::SuperOfficeUnavailable {
        cause: "randomness",
    })?;
    let ttl = app.config.session_ttl;
    let session = Session {
        subject: token.subject.clone(),
        email: so.email.clone().or_else(|| so.primary_email.clone()),
        tenant: tenant.clone(),
        company: so.company_name.clone(),
        associate_id: so.associate_id.clone(),
        is_administrator: so.is_administrator.unwrap_or(false),
        intent: pending.intent,
        csrf_token: Secret::new(csrf),
        created_at: now,
        expires_at: now + ttl.as_secs() as i64,
    };
    app.sessions
        .create(&session_id, &session, now)
        .await
        .map_err(Failure::StoreUnavailable)?;

    tracing::info!(
        request_id = %ctx.request_id,
        reason = "signed_in",
        tenant = %tenant,
        administrator = session.is_administrator,
        intent = pending.intent.as_str(),
        "session started"
    );
    let mut resp = web::see_other(&pending.return_to);
    web::set_cookie(&mut resp, &cookies::session(&session_id, ttl.as_secs()));
    web::set_cookie(&mut resp, &cookies::clear(cookies::SIGN_IN));
    Ok(resp)
}

/// An administrator signing in to install: keep the tenant's system token, sealed under the app's
/// key, for the install worker. Ordinary users, and tokens without the claim, record nothing (the
/// install page explains what is missing).
async fn record_consent<P: Ports>(
    app: &Redirect<P>,
    token: &superoffice::jwt::IdToken,
    tenant: &TenantId,
    now: i64,
    ctx: &RequestContext,
) -> Result<(), Failure> {
    let so = &token.superoffice;
    let (Some(true), Some(system_token)) = (so.is_administrator, &so.system_token) else {
        tracing::info!(
            request_id = %ctx.request_id,
            reason = "install_consent_not_recorded",
            tenant = %tenant,
            administrator = so.is_administrator.unwrap_or(false),
            has_system_token = so.system_token.is_some(),
            "install sign-in without an administrator's system token"
        );
        return Ok(());
    };
    let sealed = app
        .sealer
        .seal(
            system_token,
            &domain::sealing::context(tenant, "system_token"),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the system token cannot be sealed");
            Failure::SealingUnavailable
        })?;
    app.tenants
        .record_consent(
            &Consent {
                tenant: tenant.clone(),
                company: so.company_name.clone(),
                sealed_system_token: sealed,
                approved_by: token.subject.clone(),
            },
            now,
        )
        .await
        .map_err(Failure::StoreUnavailable)?;
    tracing::info!(request_id = %ctx.request_id, reason = "install_consent_recorded", tenant = %tenant, "tenant recorded");
    Ok(())
}
