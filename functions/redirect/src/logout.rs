//! `POST /logout`: end the session. A state-changing form: the anti-forgery token must match the
//! session's, and a browser-supplied `Origin` must be ours.

use domain::sealing::Sealer;
use domain::store::Items;
use domain::web::{self, WebRequest, WebResponse, cookies};

use crate::{Failure, Redirect, session};

pub async fn end<I: Items, S: Sealer>(
    app: &Redirect<I, S>,
    req: &WebRequest,
) -> Result<WebResponse, Failure> {
    if !web::same_origin(req, &app.config.origin()) {
        return Err(Failure::Forbidden {
            reason: "cross_origin_form",
        });
    }
    let now = app.now_secs();
    if let Some((id, s)) = session::current(&app.sessions, req, now).await? {
        if !s.sent_by_our_form(req) {
            return Err(Failure::Forbidden {
                reason: "csrf_mismatch",
            });
        }
        app.sessions
            .end(&id)
            .await
            .map_err(Failure::StoreUnavailable)?;
        tracing::info!(reason = "signed_out", tenant = %s.tenant, "session ended");
    }
    let mut resp = web::see_other("/");
    web::set_cookie(&mut resp, &cookies::clear(cookies::SESSION));
    Ok(resp)
}
