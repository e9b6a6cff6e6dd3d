//! `GET /login[?intent=…&return=/path]`: start a sign-in at SuperOffice.

use domain::Ports;
use domain::signin::{Intent, PendingSignIn, SIGN_IN_SECONDS};
use domain::store::secret_key;
use superoffice::oidc::{self, AuthorizeOptions};
use web::{WebRequest, WebResponse, cookies};

use crate::{Failure, Redirect};

pub async fn start<P: Ports>(app: &Redirect<P>, req: &WebRequest) -> Result<WebResponse, Failure> {
    let query = web::query_pairs(req);
    let intent =
        match web::single(&query, "intent").map_err(|_| Failure::ParameterRepeated("intent"))? {
            None => Intent::SignIn,
            Some(s) => Intent::parse(s).ok_or(Failure::BadRequest {
                reason: "unknown_intent",
            })?,
        };
    let return_to =
        match web::single(&query, "return").map_err(|_| Failure::ParameterRepeated("return"))? {
            None => "/".to_owned(),
            Some(candidate) => web::safe_return_path(candidate).unwrap_or_else(|| {
                // Not an error for the person: an unsafe target is simply not followed.
                tracing::warn!(
                    reason = "unsafe_return_ignored",
                    "the return path is not a same-site path"
                );
                "/".to_owned()
            }),
        };

    let discovery = app.so.discovery().await.map_err(|e| {
        tracing::warn!(error = %e, "discovery failed");
        Failure::SuperOfficeUnavailable { cause: "discovery" }
    })?;
    let request = oidc::authorization_request(
        discovery,
        &app.config.client_id,
        &app.config.redirect_uri(),
        &AuthorizeOptions::default(),
    )
    .map_err(|_| Failure::SuperOfficeUnavailable {
        cause: "randomness",
    })?;
    let binding = oidc::random_token().map_err(|_| Failure::SuperOfficeUnavailable {
        cause: "randomness",
    })?;

    let now = app.now_secs();
    let pending = PendingSignIn {
        nonce: request.nonce.clone(),
        code_verifier: request.code_verifier.clone(),
        browser_binding: secret_key(&binding),
        return_to,
        intent,
        created_at: now,
        expires_at: now + SIGN_IN_SECONDS,
    };
    app.sign_ins
        .start(&request.state, &pending, now)
        .await
        .map_err(Failure::StoreUnavailable)?;

    let mut resp = web::see_other(request.url.as_str());
    web::set_cookie(
        &mut resp,
        &cookies::sign_in(&binding, SIGN_IN_SECONDS as u64),
    );
    Ok(resp)
}
