//! `POST /callback`: finish a sign-in exactly once and start a session.
//!
//! SuperOffice answers with `response_mode=form_post`: a cross-site POST that carries no
//! `SameSite=Lax` cookie, which is why the browser's sign-in cookie is `SameSite=None`. The order of
//! the checks is the point of this module:
//! 1. a `GET` is refused, with or without a code: we ask for `form_post`, so a code in a query
//!    string is either a downgrade or a copied link, and it would end up in histories and logs;
//! 2. the state must be this browser's ([`bound_sign_in`]): compared *before* anything is spent,
//!    cancelled or exchanged, so someone who learned a victim's state can neither finish nor
//!    cancel the victim's sign-in;
//! 3. the code is exchanged and the id_token validated (nonce, and `auth_time` when the sign-in
//!    asked for a recent authentication);
//! 4. only then is the state spent, with a conditional write exactly one caller wins: the first
//!    store write of a sign-in happens once SuperOffice has vouched for it.

use domain::Ports;
use domain::sealing::Sealer;
use domain::secrets::SecretSource;
use domain::signin::{Intent, Session, Spent, StartedSignIn};
use domain::tenant::Consent;
use http::Method;
use superoffice::jwt::{DEFAULT_LEEWAY, TokenError};
use superoffice::oidc::{self, CodeExchange, OidcError};
use superoffice::{Secret, TenantId};
use telemetry::metrics::SignInOutcome;
use web::{RequestContext, WebRequest, WebResponse, cookies};

use crate::{Failure, Redirect};

/// What a `/callback` learned on its way, for its metric line.
#[derive(Default)]
struct Seen {
    tenant: Option<TenantId>,
    intent: Option<&'static str>,
    /// SuperOffice sent the person back with an error (cancelled, consent refused).
    cancelled: bool,
}

/// Finishes the sign-in and writes its metric line (`SignIns` by outcome class; the reason code,
/// tenant and intent as properties).
pub async fn finish<P: Ports>(
    app: &Redirect<P>,
    req: &WebRequest,
    ctx: &RequestContext,
) -> Result<WebResponse, Failure> {
    let mut seen = Seen::default();
    let result = attempt(app, req, ctx, &mut seen).await;
    let (outcome, reason) = match &result {
        Ok(_) if seen.cancelled => (SignInOutcome::Cancelled, "signin_refused"),
        Ok(_) => (SignInOutcome::SignedIn, "signed_in"),
        Err(f) => (f.sign_in_outcome(), f.code()),
    };
    telemetry::metrics::sign_in(
        outcome,
        reason,
        seen.tenant.as_ref().map(TenantId::as_str),
        seen.intent,
        &ctx.request_id,
    );
    result
}

async fn attempt<P: Ports>(
    app: &Redirect<P>,
    req: &WebRequest,
    ctx: &RequestContext,
    seen: &mut Seen,
) -> Result<WebResponse, Failure> {
    if req.method() != Method::POST {
        let query = web::query_pairs(req);
        return Err(Failure::NotFormPost {
            code_in_query: query.iter().any(|(k, _)| k == "code"),
        });
    }
    let params = web::form_pairs(req).ok_or(Failure::BadRequest {
        reason: "callback_body_not_a_form",
    })?;
    let one = |name: &'static str| {
        web::single(&params, name).map_err(|_| Failure::ParameterRepeated(name))
    };
    let state = one("state")?;
    let code = one("code")?;
    let error = one("error")?;
    let now = app.now_secs();

    let Some(state) = state else {
        // Without a state nothing can be bound, spent or cancelled; say what SuperOffice said.
        return Err(match error {
            Some(error) => Failure::SignInRefused {
                error: error.chars().take(64).collect(),
            },
            None => Failure::StateMissing,
        });
    };
    let (cookie_name, pending) = bound_sign_in(req, state, now)?;
    seen.intent = Some(pending.intent.as_str());

    if let Some(error) = error {
        seen.cancelled = true;
        // The browser that started the sign-in hears that it ended: its sign-in cookie goes.
        let mut resp = Failure::SignInRefused {
            error: error.chars().take(64).collect(),
        }
        .problem()
        .respond(ctx);
        web::set_cookie(&mut resp, &cookies::clear(&cookie_name));
        return Ok(resp);
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
            code_verifier: &pending.code_verifier(),
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
        .validate(id_token.expose(), Some(&pending.nonce()))
        .await
        .map_err(|e| match e {
            TokenError::Invalid(reason) => Failure::TokenInvalid {
                reason: reason.code(),
            },
            TokenError::KeysUnavailable(k) => Failure::SuperOfficeUnavailable { cause: k.code() },
        })?;
    if let Some(max_age) = pending.max_age {
        match token.authenticated_within(
            std::time::Duration::from_secs(max_age),
            now,
            DEFAULT_LEEWAY,
        ) {
            Ok(true) => {}
            // SuperOffice does not document max_age: a provider that ignores it sends no
            // auth_time. The administrator claim is fresh all the same (this id_token was issued
            // now), which is what the install rests on; say so in the log.
            Ok(false) => tracing::warn!(
                request_id = %ctx.request_id,
                reason = "auth_time_absent",
                "the sign-in asked for max_age and the id_token has no auth_time"
            ),
            Err(reason) => {
                return Err(Failure::TokenInvalid {
                    reason: reason.code(),
                });
            }
        }
    }
    let so = &token.superoffice;
    let tenant = so.tenant.clone().ok_or(Failure::NoTenant)?;
    seen.tenant = Some(tenant.clone());

    // SuperOffice vouched for this sign-in: now it is spent, once.
    match app
        .spent
        .spend(&pending, now)
        .await
        .map_err(Failure::StoreUnavailable)?
    {
        Spent::Now => {}
        Spent::Before => return Err(Failure::StateUnknown),
    }

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
    // The return path was checked at /login and is bound by the state; checked again all the same.
    let return_to = web::safe_return_path(&pending.return_to).unwrap_or_else(|| "/".into());
    let mut resp = web::see_other(&return_to);
    web::set_cookie(&mut resp, &cookies::session(&session_id, ttl.as_secs()));
    web::set_cookie(&mut resp, &cookies::clear(&cookie_name));
    Ok(resp)
}

/// The sign-in this browser started with `state`, and its cookie's name. Refused when the browser
/// has no sign-in cookie at all or its cookie for the state does not match it (started elsewhere:
/// login CSRF, or a state someone learned), and when the browser has none for this state or it is
/// older than a sign-in may take (unknown or expired). Changes nothing either way.
fn bound_sign_in(
    req: &WebRequest,
    state: &str,
    now: i64,
) -> Result<(String, StartedSignIn), Failure> {
    let present = cookies::sign_ins(req);
    if present.is_empty() {
        return Err(Failure::BrowserMismatch);
    }
    let name = cookies::sign_in_name(state).ok_or(Failure::StateUnknown)?;
    let mut values = present.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v);
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(Failure::StateUnknown);
    };
    let pending = StartedSignIn::from_cookie_value(value)
        .filter(|p| p.is_for(state))
        .ok_or(Failure::BrowserMismatch)?;
    if !pending.is_live(now) {
        return Err(Failure::StateUnknown);
    }
    Ok((name, pending))
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
    // The database the system user may act in, for the worker to check its tickets against.
    if let Some(serial) = so.serial.as_deref().filter(|s| !s.is_empty()) {
        app.serials
            .record(tenant, serial)
            .await
            .map_err(Failure::StoreUnavailable)?;
    }
    tracing::info!(request_id = %ctx.request_id, reason = "install_consent_recorded", tenant = %tenant, "tenant recorded");
    Ok(())
}
