//! Finding the signed-in session of a request.

use domain::signin::{Session, Sessions};
use domain::store::Items;
use domain::web::WebRequest;

use crate::Failure;

/// The live session named by the request's session cookie, with its id.
pub async fn current<I: Items>(
    sessions: &Sessions<I>,
    req: &WebRequest,
    now: i64,
) -> Result<Option<(String, Session)>, Failure> {
    sessions
        .current(req, now)
        .await
        .map_err(Failure::StoreUnavailable)
}
