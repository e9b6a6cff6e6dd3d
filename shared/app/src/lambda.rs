//! Serving a handler behind API Gateway: `lambda_http` events become plain `http` requests with
//! Lambda's request id, and plain responses go back as text or binary bodies.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Request, RequestExt, Response};
use web::{Handler, RequestContext};

/// Serves `handler` until the Lambda runtime stops the process.
pub async fn serve_http<H: Handler>(handler: Arc<H>) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let handler = handler.clone();
        async move {
            let ctx = RequestContext {
                request_id: req
                    .lambda_context_ref()
                    .map_or_else(web::new_request_id, |c| c.request_id.clone()),
            };
            let (parts, body) = req.into_parts();
            let bytes = match body {
                Body::Empty => Bytes::new(),
                Body::Text(t) => Bytes::from(t),
                Body::Binary(b) => Bytes::from(b),
                _ => Bytes::new(),
            };
            let response = handler
                .handle(http::Request::from_parts(parts, bytes), ctx)
                .await;
            let (parts, body) = response.into_parts();
            let body = if body.is_empty() {
                Body::Empty
            } else {
                match String::from_utf8(body.to_vec()) {
                    Ok(text) => Body::Text(text),
                    Err(e) => Body::Binary(e.into_bytes()),
                }
            };
            Ok::<_, std::convert::Infallible>(Response::from_parts(parts, body))
        }
    }))
    .await
}
