//! `POST /logout`: end the session. A state-changing form: it must come from our own origin and
//! carry the session's anti-forgery token.

use domain::Ports;
use web::{WebRequest, WebResponse, cookies};

use crate::{Failure, Redirect};

pub async fn end<P: Ports>(app: &Redirect<P>, req: &WebRequest) -> Result<WebResponse, Failure> {
    if !app.guard.same_origin(req) {
        return Err(Failure::Forbidden {
            reason: "cross_origin_form",
        });
    }
    let now = app.now_secs();
    if let Some((id, s)) = app
        .guard
        .current(req, now)
        .await
        .map_err(Failure::StoreUnavailable)?
    {
        app.guard.form(req, &s)?;
        app.sessions
            .end(&id, &s.tenant)
            .await
            .map_err(Failure::StoreUnavailable)?;
        tracing::info!(reason = "signed_out", tenant = %s.tenant, "session ended");
    }
    let mut resp = web::see_other("/");
    web::set_cookie(&mut resp, &cookies::clear(cookies::SESSION));
    Ok(resp)
}
