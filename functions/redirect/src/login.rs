//! `GET /login[?intent=…&return=/path]`: start a sign-in at SuperOffice.
//!
//! Nothing is written on the server: the sign-in under way goes to the browser in a cookie of its
//! own (`__Host-signin-{state id}`, see `domain::signin::StartedSignIn`), so anybody may call this
//! page as often as they like without costing the app a table write, and the first request of a
//! cold start makes no store call. One cookie per sign-in: a second tab does not break the first.

use domain::Ports;
use domain::signin::{Intent, SIGN_IN_SECONDS, StartError, StartedSignIn};
use superoffice::oidc::{self, AuthorizeOptions, SignInValues};
use web::guard::RECENT_SIGN_IN;
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
            None => "/",
            Some(candidate) => web::return_to::check(candidate).unwrap_or_else(|why| {
                // Not an error for the person: an unsafe target is simply not followed.
                tracing::warn!(
                    reason = "unsafe_return_ignored",
                    why = why.code(),
                    "the return path is not one of the app's pages"
                );
                "/"
            }),
        };
    // Sign-ins for actions that change a tenant must rest on a recent authentication: SuperOffice
    // asks for the password again when its own sign-in is older (the callback checks auth_time).
    let max_age = (intent == Intent::Install).then(|| RECENT_SIGN_IN.as_secs());

    let started =
        StartedSignIn::new(intent, return_to, app.now_secs(), max_age).map_err(|e| match e {
            StartError::NoRandomness => Failure::SuperOfficeUnavailable {
                cause: "randomness",
            },
            // The web crate's return paths are shorter than a sign-in carries.
            StartError::ReturnTooLong => Failure::BadRequest {
                reason: "return_too_long",
            },
        })?;
    let state = started.state();
    let cookie_name = cookies::sign_in_name(&state).ok_or(Failure::SuperOfficeUnavailable {
        cause: "state_shape",
    })?;

    let discovery = app.so.discovery().await.map_err(|e| {
        tracing::warn!(error = %e, "discovery failed");
        Failure::SuperOfficeUnavailable { cause: "discovery" }
    })?;
    let nonce = started.nonce();
    let code_verifier = started.code_verifier();
    let url = oidc::authorization_url(
        discovery,
        &app.config.client_id,
        &app.config.redirect_uri(),
        SignInValues {
            state: &state,
            nonce: &nonce,
            code_verifier: &code_verifier,
        },
        &AuthorizeOptions {
            max_age,
            ..AuthorizeOptions::default()
        },
    );

    let mut resp = web::see_other(url.as_str());
    for old in sign_ins_to_forget(req, app.now_secs()) {
        web::set_cookie(&mut resp, &cookies::clear(old));
    }
    web::set_cookie(
        &mut resp,
        &cookies::sign_in(
            &cookie_name,
            &started.cookie_value(),
            SIGN_IN_SECONDS as u64,
        ),
    );
    Ok(resp)
}

/// The sign-in cookies the browser sent that go, so that with the new one it keeps at most
/// [`cookies::MAX_SIGN_INS`]: unreadable and finished ones first, then the oldest.
fn sign_ins_to_forget(req: &WebRequest, now: i64) -> Vec<&str> {
    let mut present: Vec<(&str, i64)> = cookies::sign_ins(req)
        .into_iter()
        .map(|(name, value)| {
            let started = StartedSignIn::from_cookie_value(value)
                .filter(|s| s.is_live(now))
                .map_or(i64::MIN, |s| s.started_at);
            (name, started)
        })
        .collect();
    // Newest first; keep room for the one being started.
    present.sort_by_key(|&(_, started)| std::cmp::Reverse(started));
    let keep = cookies::MAX_SIGN_INS.saturating_sub(1);
    present
        .into_iter()
        .enumerate()
        .filter(|&(i, (_, started))| i >= keep || started == i64::MIN)
        .map(|(_, (name, _))| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_browser_keeps_only_its_newest_sign_ins() {
        let cookie = |at: i64| StartedSignIn::new(Intent::SignIn, "/", at, None).unwrap();
        let mut header = vec!["__Host-signin-garbage=zzz".to_owned()];
        for (i, at) in [100, 500, 300, 400, 200].into_iter().enumerate() {
            header.push(format!("__Host-signin-{i}={}", cookie(at).cookie_value()));
        }
        let req = http::Request::builder()
            .header("cookie", header.join("; "))
            .body(Bytes::new())
            .unwrap();
        let mut gone = sign_ins_to_forget(&req, 550);
        gone.sort();
        // Kept: the three newest live ones (500, 400, 300), leaving room for the new one.
        assert_eq!(
            gone,
            [
                "__Host-signin-0",
                "__Host-signin-4",
                "__Host-signin-garbage"
            ]
        );
        let none = http::Request::builder().body(Bytes::new()).unwrap();
        assert!(sign_ins_to_forget(&none, 550).is_empty());
    }
}
