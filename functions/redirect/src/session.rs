//! Finding the signed-in session of a request.

use domain::signin::{Session, Sessions};
use domain::store::Items;
use domain::web::{WebRequest, cookies};

use crate::Failure;

/// The live session named by the request's session cookie, with its id.
pub async fn current<I: Items>(
    sessions: &Sessions<I>,
    req: &WebRequest,
    now: i64,
) -> Result<Option<(String, Session)>, Failure> {
    let Some(id) = cookies::get(req, cookies::SESSION) else {
        return Ok(None);
    };
    // A session id is 43 base64url characters; anything else is not worth a store lookup.
    if id.len() != 43
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    match sessions.find(id, now).await {
        Ok(Some(s)) => Ok(Some((id.to_owned(), s))),
        Ok(None) => Ok(None),
        Err(e) => Err(Failure::StoreUnavailable(e)),
    }
}
